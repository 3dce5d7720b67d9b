//! `interchain`: packets between chains, verified by light clients, in the manner of IBC v2;
//! and token transfer, the first application on them.
//!
//! ```text
//! create_client(checkpoint, set)        trusted axiomatically; anyone; ids "client-0", ...
//! update_client(FinalityProof, set?)    headers verified by the interop light client against
//!                                       the stored set; each header's id, time and state
//!                                       root kept; a second block at a kept height freezes
//! register_counterparty(client, ...)    once, by the client's creator (no handshakes)
//! transfer -> send_packet               escrow (or burn a voucher coming home), then the
//!                                       commitment at interchain/p/ | client | 0x01 | seq
//! recv_packet(packet, proof, height)    client active; counterparty matches; not timed out;
//!                                       receipt absent; commitment proven -> receipt
//!                                       written, then the ports; ack written
//! acknowledge(packet, ack, proof, h)    commitment stored and equal; ack proven ->
//!                                       commitment deleted, then the port (refund on error)
//! timeout(packet, proof, h)             commitment stored and equal; receipt proven absent
//!                                       at a state whose block time >= timeout ->
//!                                       commitment deleted, then the port (refund)
//! recover_client(subject, substitute)   the authority, for an expired or frozen client
//! ```
//!
//! **Invariants.** A packet is delivered at most once (the receipt is checked, then written,
//! before any application runs); a commitment is acted on at most once (deleted before the
//! port runs), so each packet ends acknowledged or timed out, never both; a timeout needs the
//! receipt's absence at a state no later block can add it to (its block's time is at or past
//! the timeout, and block times never decrease); a proof is checked only against a root that
//! a quorum of the counterparty's validators certified, never a zero root; a frozen or
//! expired client proves nothing. For token transfer: what is escrowed for a client, per
//! asset, equals the vouchers of that asset outstanding on the counterparty plus what is in
//! flight, and only what was escrowed for a client is released through it (a counterparty
//! that lies can drain only its own escrow).
//!
//! **Proof heights.** A proof height is a state height of the counterparty: a header names
//! the state root at its `state_height`. Timeouts use the time of the block at the state's
//! height, so the relayer's finality proof must include that header (a proof's headers run
//! from the proven block up to the certified one).
//!
//! State:
//!
//! ```text
//! interchain/params                         -> Params { authority, max_timeout_s }
//! interchain/next_client                    -> u64
//! interchain/client/ | id                   -> ClientState
//! interchain/header/ | (id, height)         -> HeaderRecord { block, time, state height, root }
//! interchain/root/ | (id, state height)     -> Hash (the state root a verified header names)
//! interchain/counterparty/ | id             -> Counterparty { client, prefix }
//! interchain/next_sequence/ | id            -> u64 (the next packet's sequence)
//! interchain/p/ | path                      -> commitment, receipt, ack (interop::interchain)
//! interchain/sent/ | (id, seq)              -> Packet, while pending (for relayers)
//! interchain/ack/ | (id, seq)               -> Acknowledgement written (for relayers)
//! interchain/escrow/ | (id, asset)          -> u128 escrowed for transfers through the client
//! interchain/voucher/ | denom               -> asset id of the voucher
//! interchain/denom/ | asset                 -> the voucher's denom
//! interchain/next_voucher                   -> u32 (from VOUCHER_BASE)
//! interchain/limit/ | asset                 -> RateLimit
//! ```
//!
//! Every message declares the whole state (it runs alone, in block order): a relayed packet
//! writes keys that depend on what it carries (a voucher's asset is known only after reading
//! the denom table), and a transfer's commitment key depends on the sequence it reads.

mod call;
mod client;
mod event;
mod genesis;
pub mod packet;
mod query;
mod transfer;

use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::finality::ValidatorSet;
use lamina_interop::interchain::{InterchainMsg, Port, PortMap, TRANSFER_PORT};
use lamina_interop::module::{
    AccessSet, Context, Ledger, Module, ModuleError, StateError, StateMap, StateValue, StateView,
};
use lamina_interop::{Address, ChainId, Hash, Height, Timestamp};
use serde::{Deserialize, Serialize};

pub(crate) use call::SIGNATURE_GAS;
pub use event::InterchainEvent;
pub use genesis::InterchainGenesis;
pub use packet::send_packet;
pub use query::{ClientInfo, InterchainQuery, InterchainResponse};
pub use transfer::{escrow_account, native_denom, TransferPort};

/// The module's name, and the minter of vouchers.
pub const NAME: &str = "interchain";
/// The first asset id of vouchers; native assets stay below it.
pub const VOUCHER_BASE: u32 = 1 << 31;
/// Most headers one update takes in (each is written to state).
pub const MAX_UPDATE_HEADERS: usize = 16;

/// The rules.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The account that may recover clients and set rate limits (none: nobody).
    pub authority: Option<Address>,
    /// The latest timeout a packet may have, in seconds after its block's time.
    pub max_timeout_s: u64,
}

/// A client of another chain, as stored between blocks.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ClientState {
    /// The chain followed.
    pub chain_id: ChainId,
    /// Its blocks per epoch.
    pub epoch_blocks: Option<u64>,
    /// The trusting period, in milliseconds.
    pub trusting_period_ms: u64,
    /// The newest verified block: height, id, time.
    pub latest: (Height, Hash, Timestamp),
    /// The set of the epoch after `latest`, then any later set proven.
    pub sets: Vec<ValidatorSet>,
    /// The height of the misbehaviour that froze the client.
    pub frozen: Option<Height>,
    /// Proofs at state heights below this are refused (set by a recovery).
    pub floor: Height,
    /// Who created it.
    pub creator: Address,
}

/// A kept header of a client's chain.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct HeaderRecord {
    /// The block's id.
    pub block: Hash,
    /// Its time.
    pub time: Timestamp,
    /// The state height it names.
    pub state_height: Height,
    /// That state's root.
    pub state_root: Hash,
}

/// The counterparty of a client.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Counterparty {
    /// The counterparty's client of this chain.
    pub client: String,
    /// Where it keeps its packets' commitments, receipts and acks, hex in JSON.
    #[serde(with = "hex_bytes")]
    pub prefix: Vec<u8>,
}

/// A per-asset limit on transfers out.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RateLimit {
    /// The most per window.
    #[serde(with = "lamina_interop::module::amount")]
    pub max_per_window: u128,
    /// The window's length in blocks.
    pub window_blocks: u64,
    /// The height the current window started.
    pub window_start: Height,
    /// Sent in the current window.
    #[serde(with = "lamina_interop::module::amount")]
    pub sent: u128,
}

/// The rules.
pub const PARAMS: StateValue<Params> = StateValue::new(b"interchain/params");
/// The next client's number.
pub const NEXT_CLIENT: StateValue<u64> = StateValue::new(b"interchain/next_client");
/// Clients by id.
pub const CLIENTS: StateMap<String, ClientState> = StateMap::new(b"interchain/client/");
/// Kept headers.
pub const HEADERS: StateMap<(String, u64), HeaderRecord> = StateMap::new(b"interchain/header/");
/// Verified state roots by the counterparty's state height.
pub const ROOTS: StateMap<(String, u64), Hash> = StateMap::new(b"interchain/root/");
/// Counterparties by our client.
pub const COUNTERPARTIES: StateMap<String, Counterparty> =
    StateMap::new(b"interchain/counterparty/");
/// The next sequence per client.
pub const NEXT_SEQUENCE: StateMap<String, u64> = StateMap::new(b"interchain/next_sequence/");
/// Packets sent and not yet settled, by source client and sequence: what a relayer reads to
/// relay them (not provable; deleted with the commitment).
pub const SENT: StateMap<(String, u64), lamina_interop::interchain::Packet> =
    StateMap::new(b"interchain/sent/");
/// Acknowledgements written, by destination client and sequence: what a relayer carries
/// back (the provable ack path holds only their commitment).
pub const ACKS: StateMap<(String, u64), lamina_interop::interchain::Acknowledgement> =
    StateMap::new(b"interchain/ack/");
/// Escrowed per client and asset.
pub const ESCROW: StateMap<(String, u32), u128> = StateMap::new(b"interchain/escrow/");
/// Voucher assets by denom.
pub const VOUCHERS: StateMap<String, u32> = StateMap::new(b"interchain/voucher/");
/// Voucher denoms by asset.
pub const DENOMS: StateMap<u32, String> = StateMap::new(b"interchain/denom/");
/// The next voucher's asset id.
pub const NEXT_VOUCHER: StateValue<u32> = StateValue::new(b"interchain/next_voucher");
/// Rate limits by asset.
pub const LIMITS: StateMap<u32, RateLimit> = StateMap::new(b"interchain/limit/");

/// The module over ledger `L`, with its ports (token transfer on `transfer`).
#[derive(Clone)]
pub struct Interchain<L> {
    ledger: L,
    ports: PortMap,
}

impl<L: Ledger + Clone> Interchain<L> {
    /// The module with token transfer over `ledger`.
    pub fn new(ledger: L) -> Self {
        let transfer: Arc<dyn Port> = Arc::new(TransferPort::new(ledger.clone()));
        Interchain {
            ledger,
            ports: PortMap::default().with(TRANSFER_PORT, transfer),
        }
    }

    /// The applications, by port.
    pub fn ports(&self) -> &PortMap {
        &self.ports
    }

    /// Adds the application `port` on port `name` (replacing one there).
    pub fn port(mut self, name: &str, port: Arc<dyn Port>) -> Self {
        self.ports = self.ports.with(name, port);
        self
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum InterchainError {
    /// No client with this id.
    #[error("no client {0}")]
    UnknownClient(String),
    /// The client is frozen by misbehaviour.
    #[error("client {client} is frozen by misbehaviour at height {height}")]
    Frozen {
        /// The client.
        client: String,
        /// Where.
        height: Height,
    },
    /// The client's latest header is older than its trusting period.
    #[error("client {0} has expired: recover it through the chain's authority")]
    Expired(String),
    /// The light client refused a proof.
    #[error("light client: {0}")]
    Light(String),
    /// Undecodable bytes.
    #[error("decode: {0}")]
    Decode(String),
    /// A packet that breaks the protocol's rules.
    #[error(transparent)]
    Packet(#[from] lamina_interop::interchain::PacketError),
    /// A client without a registered counterparty, or a packet naming another.
    #[error("client {client} has no counterparty {counterparty}")]
    UnknownCounterparty {
        /// Our client.
        client: String,
        /// What the packet named.
        counterparty: String,
    },
    /// A counterparty registered already.
    #[error("client {0} has its counterparty")]
    CounterpartyExists(String),
    /// Only the creator (registration) or the authority (recovery, limits) may.
    #[error("{0} may not do this")]
    Unauthorized(Address),
    /// No verified root at this height.
    #[error("client {client} has no verified root at state height {height}")]
    NoRoot {
        /// The client.
        client: String,
        /// The state height.
        height: Height,
    },
    /// A zero root: never proof of anything (Nomad).
    #[error("a zero state root proves nothing")]
    ZeroRoot,
    /// A proof height below the client's floor, set by a recovery.
    #[error("proof height {height} is below the client's floor {floor}")]
    BelowFloor {
        /// The height.
        height: Height,
        /// The floor.
        floor: Height,
    },
    /// A proof that does not verify, or proves another value.
    #[error("the proof does not show {0}")]
    BadProof(&'static str),
    /// The packet's receipt exists: delivered before.
    #[error("packet {sequence} from {client} was received already")]
    AlreadyReceived {
        /// The destination client.
        client: String,
        /// The sequence.
        sequence: u64,
    },
    /// The packet's time is up on the destination.
    #[error("packet timed out at {timeout} s (block time {now} s)")]
    TimedOut {
        /// Its timeout.
        timeout: u64,
        /// The block's time.
        now: u64,
    },
    /// A timeout asked for before the counterparty's time reached it.
    #[error("the proven state's time {time} s is before the timeout {timeout} s")]
    NotTimedOut {
        /// The packet's timeout.
        timeout: u64,
        /// The proven state's block time.
        time: u64,
    },
    /// No commitment for this packet: never sent, or acknowledged or timed out already.
    #[error("no pending packet {sequence} on client {client}")]
    NotPending {
        /// The source client.
        client: String,
        /// The sequence.
        sequence: u64,
    },
    /// A packet that differs from the one committed.
    #[error("packet {0} differs from its commitment")]
    CommitmentMismatch(u64),
    /// A timeout outside `(now, now + max_timeout_s]`.
    #[error("a timeout must be after this block and at most {max} s later")]
    BadTimeout {
        /// The most.
        max: u64,
    },
    /// An application refused.
    #[error("port {port}: {reason}")]
    Port {
        /// The port.
        port: String,
        /// Why.
        reason: String,
    },
    /// No application on this port.
    #[error("no application on port {0}")]
    UnknownPort(String),
    /// A recovery of a client that is neither frozen nor expired.
    #[error("client {0} is active: only a frozen or expired client is recovered")]
    SubjectActive(String),
    /// A recovery whose substitute follows another chain or is not active.
    #[error("substitute {0} is not an active client of the same chain")]
    BadSubstitute(String),
    /// A transfer over the asset's rate limit.
    #[error("asset {asset}: {amount} more would pass the limit of {limit} per window")]
    RateLimited {
        /// The asset.
        asset: u32,
        /// Asked.
        amount: u128,
        /// The limit.
        limit: u128,
    },
    /// The ledger refused.
    #[error("ledger: {0}")]
    Ledger(#[from] lamina_interop::module::LedgerError),
    /// An amount of zero, or one that overflows.
    #[error("bad amount")]
    BadAmount,
    /// The genesis section is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ModuleError for InterchainError {
    fn code(&self) -> u32 {
        use InterchainError::*;
        match self {
            UnknownClient(_) => 1,
            Frozen { .. } => 2,
            Expired(_) => 3,
            Light(_) => 4,
            Decode(_) => 5,
            Packet(_) => 6,
            UnknownCounterparty { .. } => 7,
            CounterpartyExists(_) => 8,
            Unauthorized(_) => 9,
            NoRoot { .. } => 10,
            ZeroRoot => 11,
            BelowFloor { .. } => 12,
            BadProof(_) => 13,
            AlreadyReceived { .. } => 14,
            TimedOut { .. } => 15,
            NotTimedOut { .. } => 16,
            NotPending { .. } => 17,
            CommitmentMismatch(_) => 18,
            BadTimeout { .. } => 19,
            Port { .. } => 20,
            UnknownPort(_) => 21,
            BadSubstitute(_) => 22,
            RateLimited { .. } => 23,
            Ledger(_) => 24,
            BadAmount => 25,
            Genesis(_) => 26,
            SubjectActive(_) => 27,
            State(_) => 100,
        }
    }
}

impl<L: Ledger + Clone> Module for Interchain<L> {
    const NAME: &'static str = NAME;
    const MAX_CALL_LEN: usize = 16 * 1024;

    type Call = InterchainMsg;
    type Event = InterchainEvent;
    type Genesis = InterchainGenesis;
    type Query = InterchainQuery;
    type QueryResponse = InterchainResponse;
    type Error = InterchainError;

    fn init_genesis(
        &self,
        genesis: &InterchainGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), InterchainError> {
        genesis::init(genesis, ctx)
    }

    fn access(&self, call: &InterchainMsg, _sender: &Address) -> AccessSet {
        call::access(call)
    }

    fn call(
        &self,
        call: InterchainMsg,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), InterchainError> {
        call::execute(self, call, ctx)
    }

    fn weight(&self, call: &InterchainMsg) -> u64 {
        call::weight(call)
    }

    fn query(
        &self,
        query: InterchainQuery,
        state: &dyn StateView,
    ) -> Result<InterchainResponse, InterchainError> {
        query::answer(query, state)
    }
}

/// Hex in JSON for byte fields.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("0x{}", hex::encode(bytes)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text.strip_prefix("0x").unwrap_or(&text)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
