//! `simplex`: Byzantine fault tolerant consensus, wrapping `commonware-consensus`' simplex
//! engine over an authenticated network.
//!
//! ```text
//!             votes, certificates, resolver channels          blocks channel
//!  peers <======================================> simplex   <=============> app side
//!                                                  |  propose/verify/report     |
//!                                                  +----------------------------+
//!                        BuildProposal, VerifyProposal --> agreement (bus)
//!                        ==BlockFinalized==, ==MisbehaviourDetected==> (bus)
//! ```
//!
//! Simplex orders block ids; the blocks themselves travel on a fourth channel (see
//! [`wire`]). A block is final when simplex reports a finalization certificate for it or a
//! descendant; the engine then publishes every block from the last delivered one up to it,
//! oldest first, fetching from peers what it lacks. A validator that starts late or
//! restarts catches up the same way.
//!
//! Each part owns its state, in a file of its own:
//!
//! ```text
//! app.rs        what simplex calls (propose, verify, broadcast, report); no state, a task
//!               per call over the handles of the others
//! blocks/       the block cache's actor (actor.rs) and its mailbox and the blocks channel's
//!               reader (ingress.rs)
//! finalizer.rs  certificates to BlockFinalized, misbehaviour to MisbehaviourDetected; the
//!               epochs' schemes and closing certificates, the finalized tip; run one epoch
//!               at a time by the loop below, which starts each epoch's simplex instance
//! ```
//!
//! Votes are journalled by simplex under [`SimplexConfig::partition`] (one partition per
//! epoch) before they leave the process, so a restarted validator never signs two
//! conflicting votes for one view: keep that storage with the node's data.
//!
//! # Epochs
//!
//! With [`SimplexConfig::epoch_blocks`] set (proof of stake), the validator set may change
//! every `epoch_blocks` blocks. Each epoch runs its own simplex instance, with its own set,
//! journal and sub-channel of the three consensus channels (multiplexed by epoch):
//!
//! ```text
//! epoch e orders heights e*L+1 ..= (e+1)*L; its last block is proposed again until final
//!   --> BlockFinalized(last block) --> agreement executes it; staking's end-block hook
//!       announces the next set --> ValidatorSetChanged{epoch: e+1}
//!   --> this engine stops instance e and starts instance e+1 from that block
//! ```
//!
//! A validator outside an epoch's set follows it without voting. A node that fell behind
//! by whole epochs asks peers for the certificate that closed its epoch, and steps through
//! the epochs one by one.

mod app;
mod blocks;
pub mod evidence;
mod finalizer;
pub mod wire;

use std::collections::BTreeMap;
use std::num::{NonZeroU16, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use commonware_codec::DecodeExt as _;
use commonware_consensus::simplex::elector::RoundRobin;
use commonware_consensus::simplex::scheme::ed25519::Scheme;
use commonware_consensus::simplex::scheme::reporter::AttributableReporter;
use commonware_consensus::simplex::{
    Config, Engine as SimplexEngine, Floor, ForwardPolicy, SkipPolicy,
};
use commonware_consensus::types::{Epoch, ViewDelta};
use commonware_cryptography::certificate::Scheme as _;
use commonware_cryptography::ed25519;
use commonware_p2p::utils::mux::Muxer;
use commonware_p2p::{Blocker, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use commonware_utils::ordered::Set;
use commonware_utils::NonZeroDuration;
use futures::channel::mpsc;
use lamina_interop::bus::Bus;
use lamina_interop::bus::Subscription;
use lamina_interop::chain::ChainReader;
use lamina_interop::crypto::{PublicKey, SecretKey};
use lamina_interop::messages::ValidatorSetChanged;
use lamina_interop::{ChainId, Hash};
use rand_core_010::CryptoRng;

use self::app::{address_of, digest, App, AppConfig, Key, Mailbox};
use self::blocks::BlocksActor;
use self::finalizer::{EpochEnd, Finalizer, NOTES};
use crate::engine::{ChainTip, Engine, EngineError};

/// Channel of consensus votes.
pub const VOTES: u64 = 0;
/// Channel of consensus certificates.
pub const CERTIFICATES: u64 = 1;
/// Channel on which simplex fetches missing certificates.
pub const RESOLVER: u64 = 2;
/// Channel of blocks and block requests.
pub const BLOCKS: u64 = 3;

/// Messages per second each peer may send on each consensus channel, in nodes and in the
/// simulation alike. The network sizes each channel's queues by it (peers times this burst),
/// and the engine's per-epoch queues take that size again, so it is a memory bound as well as
/// a rate: at 100,000 a ten-validator simulation spent most of its time allocating queues.
pub const CONSENSUS_RATE: std::num::NonZeroU32 = std::num::NonZeroU32::new(2_000).unwrap();

/// Shortest epoch, in blocks. A restarted node resumes in the epoch of its committed state,
/// which trails the finalized chain by a few blocks; with epochs at least this long, that is
/// never more than [`KEPT_JOURNALS`] epochs back.
pub const MIN_EPOCH_BLOCKS: u64 = 8;

/// Epochs whose vote journals are kept (the current one and those before it), so a restart
/// that resumes in an earlier epoch finds what it signed there.
pub const KEPT_JOURNALS: u64 = 4;

/// Settings of the simplex engine.
#[derive(Debug, Clone)]
pub struct SimplexConfig {
    /// The chain; its id separates this chain's signatures from any other's.
    pub chain_id: ChainId,
    /// The validators' consensus keys in [`SimplexConfig::epoch`] (any order; simplex sorts
    /// them).
    pub validators: Vec<PublicKey>,
    /// The epoch the node starts in: the chain's current one.
    pub epoch: u64,
    /// Blocks per epoch, after each of which the set may change (announced by
    /// `ValidatorSetChanged`); `None`: the set is fixed (proof of authority).
    pub epoch_blocks: Option<u64>,
    /// How long a view waits for its leader's proposal.
    pub leader_timeout: Duration,
    /// How long a view waits for a notarization before voting to skip it.
    pub notarization_timeout: Duration,
    /// How often a validator stuck in a view repeats its vote to skip it.
    pub nullify_retry: Duration,
    /// How long to wait for a peer's block before asking again.
    pub fetch_timeout: Duration,
    /// Gas limit of a block.
    pub max_gas: u64,
    /// Size limit of a block, in bytes; the blocks channel must carry this much.
    pub max_bytes: usize,
    /// Where simplex journals its votes (a storage partition name).
    pub partition: String,
    /// Blocks kept in memory above the finalized tip and for peers.
    pub cached_blocks: usize,
    /// How long a leader waits before building its proposal, so the pool gathers
    /// transactions and an idle chain does not spin (zero: build at once). Keep it well
    /// below `leader_timeout`.
    pub block_time: Duration,
}

impl SimplexConfig {
    /// Defaults for `validators` on chain `chain_id`.
    pub fn new(chain_id: ChainId, validators: Vec<PublicKey>) -> SimplexConfig {
        SimplexConfig {
            chain_id,
            validators,
            epoch: 0,
            epoch_blocks: None,
            leader_timeout: Duration::from_secs(1),
            notarization_timeout: Duration::from_secs(2),
            nullify_retry: Duration::from_secs(5),
            fetch_timeout: Duration::from_millis(500),
            max_gas: 2_000_000_000,
            max_bytes: 8 * 1024 * 1024,
            partition: "simplex".into(),
            cached_blocks: 1024,
            block_time: Duration::ZERO,
        }
    }

    /// The largest message on any channel: a block with its tag.
    pub fn max_message(&self) -> u32 {
        u32::try_from(self.max_bytes.saturating_add(1024)).unwrap_or(u32::MAX)
    }
}

/// Why a simplex engine cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimplexError {
    /// A validator key is not a valid Ed25519 point.
    #[error("validator key {0} is not a valid Ed25519 key")]
    BadKey(PublicKey),
    /// This node's key is not one of the validators.
    #[error("this node's key {0} is not in the validator set")]
    NotAValidator(PublicKey),
    /// The validator set is empty.
    #[error("the validator set is empty")]
    NoValidators,
    /// An epoch shorter than [`MIN_EPOCH_BLOCKS`].
    #[error("an epoch of {0} blocks is shorter than the minimum of {MIN_EPOCH_BLOCKS}")]
    EpochTooShort(u64),
}

/// One network channel: its sender and receiver.
pub type Channel<S, R> = (S, R);

/// The four channels simplex runs on, registered by the caller on its network
/// ([`VOTES`], [`CERTIFICATES`], [`RESOLVER`], [`BLOCKS`]).
pub struct Channels<S, R> {
    /// Votes.
    pub votes: Channel<S, R>,
    /// Certificates.
    pub certificates: Channel<S, R>,
    /// Certificate fetching.
    pub resolver: Channel<S, R>,
    /// Blocks and block requests.
    pub blocks: Channel<S, R>,
}

/// The simplex engine; see the module docs.
pub struct Simplex<E, B, S, R> {
    context: E,
    config: SimplexConfig,
    key: SecretKey,
    me: Key,
    sets: Subscription<ValidatorSetChanged>,
    tip: ChainTip,
    bus: Bus,
    chain: Arc<dyn ChainReader>,
    blocker: B,
    channels: Channels<S, R>,
}

/// The Ed25519 key of simplex for one of ours.
fn key_of(key: &PublicKey) -> Result<Key, SimplexError> {
    ed25519::PublicKey::decode(key.0.to_vec()).map_err(|_| SimplexError::BadKey(*key))
}

impl<E, B, S, R> Simplex<E, B, S, R>
where
    E: Clock + CryptoRng + Spawner + Storage + Metrics + Send + Sync + 'static,
    B: Blocker<PublicKey = Key>,
    S: Sender<PublicKey = Key>,
    R: Receiver<PublicKey = Key>,
{
    /// An engine for the validator holding `key`, continuing from `tip`. `chain` serves
    /// finalized blocks to peers that lag behind.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        context: E,
        bus: &Bus,
        config: SimplexConfig,
        key: &SecretKey,
        tip: ChainTip,
        chain: Arc<dyn ChainReader>,
        blocker: B,
        channels: Channels<S, R>,
    ) -> Result<Self, SimplexError> {
        if config.validators.is_empty() {
            return Err(SimplexError::NoValidators);
        }
        if let Some(blocks) = config.epoch_blocks.filter(|b| *b < MIN_EPOCH_BLOCKS) {
            return Err(SimplexError::EpochTooShort(blocks));
        }
        epoch_scheme(config.chain_id, &config.validators, key)?;
        let me = key_of(&key.public_key())?;
        Ok(Simplex {
            context,
            config,
            key: SecretKey::from_seed(key.seed()),
            me,
            sets: bus.subscribe::<ValidatorSetChanged>(),
            tip,
            bus: bus.clone(),
            chain,
            blocker,
            channels,
        })
    }
}

/// The consensus signing scheme of the validator holding `key` on the chain of `config`:
/// what it signs votes with, and checks its peers' votes and certificates against.
pub fn signing_scheme(config: &SimplexConfig, key: &SecretKey) -> Result<Scheme, SimplexError> {
    let participants = participants(&config.validators)?;
    let signer = ed25519::PrivateKey::decode(key.seed().to_vec())
        .map_err(|_| SimplexError::BadKey(key.public_key()))?;
    Scheme::signer(&namespace(config.chain_id), participants, signer)
        .ok_or(SimplexError::NotAValidator(key.public_key()))
}

/// The scheme of an epoch with `validators`: the signing one for a member, else one that
/// only checks (the node follows the epoch without voting).
fn epoch_scheme(
    chain_id: ChainId,
    validators: &[PublicKey],
    key: &SecretKey,
) -> Result<Scheme, SimplexError> {
    let set = participants(validators)?;
    if set.is_empty() {
        return Err(SimplexError::NoValidators);
    }
    let signer = ed25519::PrivateKey::decode(key.seed().to_vec())
        .map_err(|_| SimplexError::BadKey(key.public_key()))?;
    Ok(Scheme::signer(&namespace(chain_id), set.clone(), signer)
        .unwrap_or_else(|| Scheme::verifier(&namespace(chain_id), set)))
}

fn participants(validators: &[PublicKey]) -> Result<Set<Key>, SimplexError> {
    let keys = validators
        .iter()
        .map(key_of)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Set::from_iter_dedup(keys))
}

/// The journal partition of `epoch` (epoch 0 keeps the plain name).
fn partition_of(config: &SimplexConfig, epoch: u64) -> String {
    match epoch {
        0 => config.partition.clone(),
        e => format!("{}-epoch-{e}", config.partition),
    }
}

/// The namespace of this chain's consensus signatures.
pub fn namespace(chain_id: ChainId) -> Vec<u8> {
    let mut out = b"lamina-simplex-".to_vec();
    out.extend_from_slice(&chain_id.0.to_be_bytes());
    out
}

fn nz(value: usize) -> NonZeroUsize {
    NonZeroUsize::new(value).unwrap_or(NonZeroUsize::MIN)
}

impl<E, B, S, R> Engine for Simplex<E, B, S, R>
where
    E: Clock + CryptoRng + Spawner + Storage + Metrics + Send + Sync + 'static,
    B: Blocker<PublicKey = Key>,
    S: Sender<PublicKey = Key>,
    R: Receiver<PublicKey = Key>,
{
    fn name(&self) -> &'static str {
        "simplex"
    }

    async fn run(self) -> Result<(), EngineError> {
        let Simplex {
            context,
            config,
            key,
            me,
            mut sets,
            tip,
            bus,
            chain,
            blocker,
            channels,
        } = self;
        let app_config = AppConfig {
            max_gas: config.max_gas,
            max_bytes: config.max_bytes,
            block_wait: config.fetch_timeout / 4,
            fetch_timeout: config.fetch_timeout,
            retry: Duration::from_millis(20),
            cached_blocks: config.cached_blocks,
            max_ancestors: 256,
            block_time: config.block_time,
            epoch_blocks: config.epoch_blocks,
        };
        let (blocks_sender, blocks_receiver) = channels.blocks;
        let (reports, reported) = mpsc::channel(1024);
        let (notes, noted) = mpsc::channel(NOTES);
        let (blocks, blocks_mailbox) = BlocksActor::new(
            app_config.cached_blocks,
            config.max_bytes.saturating_add(1024),
            chain.clone(),
            blocks_sender.clone(),
            tip,
        );
        let app = Arc::new(App::new(
            context.child("app"),
            app_config.clone(),
            address_of(&me),
            &bus,
            chain.clone(),
            blocks_mailbox.clone(),
            notes.clone(),
        ));
        let quiet = config.leader_timeout.max(config.fetch_timeout) * 2;
        let mut finalizer = Finalizer::new(
            context.child("finalizer"),
            app_config,
            blocks_sender,
            blocks_mailbox.clone(),
            &bus,
            chain.clone(),
            tip,
            quiet,
            (reported, noted),
        );
        let cache = context.child("blocks").spawn(move |_| blocks.run());
        let router = context
            .child("blocks_channel")
            .spawn(move |_| blocks::route(blocks_receiver, blocks_mailbox, notes));
        // Each consensus channel carries one sub-channel per epoch.
        let mut muxes = Vec::new();
        let mut handles = Vec::new();
        for (name, (sender, receiver)) in [
            ("votes", channels.votes),
            ("certificates", channels.certificates),
            ("resolver", channels.resolver),
        ] {
            let (mux, handle) = Muxer::new(context.child(name), sender, receiver);
            muxes.push(mux.start());
            handles.push(handle);
        }
        let fetch_timeout =
            NonZeroDuration::new(config.fetch_timeout.max(Duration::from_millis(1)))
                .ok_or(EngineError::Config("zero fetch timeout".into()))?;

        let mut epoch = config.epoch;
        let mut validators = config.validators.clone();
        // Sets announced for epochs this node has not reached yet.
        let mut announced: BTreeMap<u64, Vec<PublicKey>> = BTreeMap::new();
        let result = 'epochs: loop {
            let scheme = epoch_scheme(config.chain_id, &validators, &key)
                .map_err(|e| EngineError::Config(e.to_string()))?;
            let participants: Vec<Key> = scheme.participants().iter().cloned().collect();
            let member = participants.contains(&me);
            tracing::info!(
                epoch,
                validators = participants.len(),
                member,
                "starting consensus epoch"
            );
            finalizer.enter_epoch(epoch, scheme.clone());
            // The epoch starts from the block that ended the previous one.
            let genesis = match (epoch, config.epoch_blocks) {
                (0, _) | (_, None) => Hash::ZERO,
                (e, Some(blocks)) => {
                    let height = lamina_interop::Height(e.saturating_mul(blocks));
                    match chain.header(height) {
                        Ok(Some(header)) => header.id(),
                        _ if finalizer.delivered().height == height => finalizer.delivered().block,
                        _ => {
                            break Err(EngineError::Config(format!(
                                "the block {height} that starts epoch {e} is not in the store"
                            )))
                        }
                    }
                }
            };
            let mut subchannels = Vec::new();
            for handle in &mut handles {
                match handle.register(epoch).await {
                    Ok(pair) => subchannels.push(pair),
                    Err(err) => break 'epochs Err(EngineError::Config(err.to_string())),
                }
            }
            let (Some(resolver), Some(certificates), Some(votes)) =
                (subchannels.pop(), subchannels.pop(), subchannels.pop())
            else {
                break Err(EngineError::Config("consensus channels missing".into()));
            };
            let mailbox = Mailbox::new(app.clone(), reports.clone(), participants);
            let reporter = AttributableReporter::new(
                context.child("evidence"),
                scheme.clone(),
                mailbox.clone(),
                Sequential,
                true,
            );
            let engine = SimplexEngine::new(
                context.child("simplex"),
                Config {
                    scheme,
                    elector: RoundRobin::<commonware_cryptography::Sha256>::default(),
                    blocker: blocker.clone(),
                    automaton: mailbox.clone(),
                    relay: mailbox,
                    reporter,
                    track_historical_votes: true,
                    strategy: Sequential,
                    partition: partition_of(&config, epoch),
                    mailbox_size: nz(1024),
                    epoch: Epoch::new(epoch),
                    floor: Floor::Genesis(digest(genesis)),
                    replay_buffer: nz(1 << 20),
                    write_buffer: nz(1 << 20),
                    page_cache: CacheRef::new(
                        NonZeroU16::new(4096).unwrap_or(NonZeroU16::MIN),
                        nz(64),
                    ),
                    leader_timeout: config.leader_timeout,
                    certification_timeout: config.notarization_timeout,
                    timeout_retry: config.nullify_retry,
                    view_retention: ViewDelta::new(256),
                    skip: SkipPolicy::Disabled,
                    fetch_timeout,
                    fetch_retry_delay: Duration::from_millis(100),
                    forward: ForwardPolicy::SilentVoters,
                },
            );
            let consensus = engine.start(votes, certificates, resolver);
            // Older journals are never needed again: a restart resumes at most a few blocks
            // behind the finalized chain (see MIN_EPOCH_BLOCKS).
            if let Some(old) = epoch.checked_sub(KEPT_JOURNALS) {
                let _ = context.remove(&partition_of(&config, old), None).await;
            }

            let outcome = finalizer.run_epoch(epoch, &mut sets, &mut announced).await;
            consensus.abort();
            match outcome {
                Ok(EpochEnd::Next(next)) => {
                    epoch += 1;
                    validators = next;
                }
                Ok(EpochEnd::Stopped) => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        for mux in muxes {
            mux.abort();
        }
        router.abort();
        cache.abort();
        result
    }
}
