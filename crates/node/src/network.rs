//! A validator's peer-to-peer network: `commonware-p2p`'s authenticated `discovery` network,
//! with the validator's consensus key as its network identity.
//!
//! ```text
//! listen 0.0.0.0:30333 + 10 * instance     dial boot nodes (spec + config), learn the rest
//! handshake: the peer proves its key; only keys of the validator set may connect
//! channels (each with a per-peer rate limit, in and out):
//!   0 votes  1 certificates  2 resolver  3 blocks   (simplex)
//!   4 transactions                                   (gossip)
//! ```

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use commonware_codec::DecodeExt as _;
use commonware_cryptography::{ed25519, ChaCha20Poly1305};
use commonware_p2p::authenticated::discovery::{self, Network, Oracle};
use commonware_p2p::Manager as _;
use commonware_runtime::{Quota, Supervisor as _};
use commonware_stream::cups::{self, Cups};
use commonware_stream::sake::{self, Sake};
use commonware_utils::ordered::Set;
use lamina_incentive::gossip::TXS;
use lamina_incentive::simplex::{self, Channels};
use lamina_interop::crypto::{PublicKey, SecretKey};

use crate::spec::Bootnode;

type Context = commonware_runtime::tokio::Context;
/// One channel's sending half.
pub(crate) type P2pSender = discovery::Sender<ed25519::PublicKey, Context>;
/// One channel's receiving half.
pub(crate) type P2pReceiver = discovery::Receiver<ed25519::PublicKey>;

/// Where a validator listens and whom it dials first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkSettings {
    /// The address to listen on.
    pub(crate) listen: SocketAddr,
    /// The address peers dial (what this node tells them).
    pub(crate) public: SocketAddr,
    /// Nodes to dial at start.
    pub(crate) bootnodes: Vec<Bootnode>,
    /// Messages per second each peer may send on each consensus channel.
    pub(crate) consensus_rate: NonZeroU32,
    /// Transaction batches per second each peer may send.
    pub(crate) gossip_rate: NonZeroU32,
}

/// The running network's channels and its peer manager.
pub(crate) struct Started {
    /// The four simplex channels.
    pub(crate) consensus: Channels<P2pSender, P2pReceiver>,
    /// The transaction gossip channel.
    pub(crate) txs: (P2pSender, P2pReceiver),
    /// Blocks misbehaving peers.
    pub(crate) oracle: Oracle<ed25519::PublicKey>,
}

/// The network key of a Lamina key: the same Ed25519 key.
pub(crate) fn network_key(key: &PublicKey) -> anyhow::Result<ed25519::PublicKey> {
    ed25519::PublicKey::decode(key.0.to_vec())
        .map_err(|e| anyhow::anyhow!("{key} is not a valid Ed25519 key: {e}"))
}

/// Whether peers reach `address` over the internet (not loopback, private or link-local).
fn is_public(address: SocketAddr) -> bool {
    match address.ip() {
        std::net::IpAddr::V4(ip) => {
            !(ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified())
        }
        std::net::IpAddr::V6(ip) => !(ip.is_loopback() || ip.is_unspecified()),
    }
}

/// Most peers in one set: the largest validator set the network admits (channel buffers
/// grow with it).
const MAX_PEER_SET: usize = 64;

/// The peer set of `validators`, as the network tracks it.
pub(crate) fn peer_set(validators: &[PublicKey]) -> anyhow::Result<Set<ed25519::PublicKey>> {
    let peers = validators
        .iter()
        .map(network_key)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Set::try_from(peers).map_err(|_| anyhow::anyhow!("a validator is listed twice"))
}

/// Starts the network of the validator `key` among `validators`, the set of consensus epoch
/// `epoch` (the peer set's id; later epochs' sets are tracked as they are announced), on
/// `namespace` (the chain's, so that two chains' nodes never talk), with messages of at
/// most `max_message` bytes.
pub(crate) fn start(
    ctx: &Context,
    key: &SecretKey,
    (epoch, validators): (u64, &[PublicKey]),
    namespace: &[u8],
    settings: &NetworkSettings,
    max_message: u32,
) -> anyhow::Result<Started> {
    let signer = ed25519::PrivateKey::decode(key.seed().to_vec())
        .map_err(|e| anyhow::anyhow!("the validator key is not an Ed25519 key: {e}"))?;
    let me = key.public_key();
    let bootstrappers = settings
        .bootnodes
        .iter()
        .filter(|node| node.key != me)
        .map(|node| Ok((network_key(&node.key)?, node.address.into())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let peers = peer_set(validators)?;
    if peers.is_empty() {
        anyhow::bail!("the validator set is empty");
    }
    let peer_count = NonZeroUsize::new(MAX_PEER_SET.max(peers.len())).unwrap_or(NonZeroUsize::MIN);
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer,
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let mut config = discovery::Config::recommended(
        handshake,
        namespace,
        settings.listen,
        settings.public,
        bootstrappers,
        peer_count,
        max_message,
        NonZeroUsize::new(4096).unwrap_or(NonZeroUsize::MIN),
    );
    // Loopback and private addresses are how a local testnet or a private cluster runs.
    config.allow_private_ips = true;
    if !is_public(settings.public) {
        // Several validators behind one address: the per-address handshake limit meant to
        // slow an attacker down would keep them apart.
        config.allowed_handshake_rate_per_ip =
            Quota::per_second(NonZeroU32::new(16).unwrap_or(NonZeroU32::MIN));
        config.allowed_handshake_rate_per_subnet =
            Quota::per_second(NonZeroU32::new(128).unwrap_or(NonZeroU32::MIN));
    }
    config.peer_connection_cooldown = Duration::from_secs(1);
    config.dial_frequency = Duration::from_millis(500);
    config.gossip_bit_vec_frequency = Duration::from_secs(5);
    let (mut network, mut oracle) = Network::new(ctx.child("p2p"), config);
    let _ = oracle.track(epoch, peers);
    let consensus_quota = Quota::per_second(settings.consensus_rate);
    let mut register = |channel| network.register(channel, consensus_quota);
    let consensus = Channels {
        votes: register(simplex::VOTES),
        certificates: register(simplex::CERTIFICATES),
        resolver: register(simplex::RESOLVER),
        blocks: register(simplex::BLOCKS),
    };
    let txs = network.register(TXS, Quota::per_second(settings.gossip_rate));
    network.start();
    Ok(Started {
        consensus,
        txs,
        oracle,
    })
}
