//! The message catalogue: every message of the block pipeline, who sends it, who handles
//! it, and what its reply means.
//!
//! ```text
//! app (RPC), network --SubmitTxs------->  agreement   decode, batch-verify, admit to mempool
//! agreement         ==TxsAdmitted==>      (event)     network gossip (clients' transactions)
//! incentive engine  --BuildProposal---->  agreement   select txs, build a block
//! incentive engine  --VerifyProposal--->  agreement   check a peer's block
//! incentive engine  ==BlockFinalized==>   (event)     agreement executes it, app streams it
//! agreement         --OpenSnapshot----->  data-layer  a read-only state view to execute on
//! app (RPC)         --ProveState------->  data-layer  a key's value with its proof
//! agreement         --CommitBlock------>  data-layer  persist block, receipts, state delta
//! data-layer        ==StateCommitted==>   (event)     app, agreement, incentive engine
//! agreement         ==ValidatorSetChanged==> (event)  incentive engine, node network
//! incentive engine  ==MisbehaviourDetected==> (event) incentive modules (slashing)
//! ```
//!
//! `--X-->` is a command (one handler, typed reply), `==X==>` an event (every subscriber).
//! Messages carry whole batches and blocks, behind `Arc` where they fan out; the bus is never
//! crossed once per transaction. [`CATALOGUE`] lists the same in data, for the CLI and the
//! book.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::block::{Block, RawTx, Receipt, StateDelta};
use crate::bus::{Command, Event, Kind, Message};
use crate::crypto::PublicKey;
use crate::finality::FinalityCertificate;
use crate::hash::Hash;
use crate::module::StateView;
use crate::types::{Address, Height, Timestamp};

/// Transactions to admit to the mempool.
///
/// From: the application layer (RPC) or the network. Handler: the agreement layer, which
/// decodes each transaction under limits, verifies the signatures in batches, checks chain
/// id, nonce, fee and balance, and admits or rejects each one.
#[derive(Debug, Clone)]
pub struct SubmitTxs {
    /// Canonical transaction encodings, as received.
    pub txs: Vec<RawTx>,
    /// Who handed them to this node.
    pub origin: TxOrigin,
}

impl SubmitTxs {
    /// Transactions from a client of this node (RPC, a benchmark, a test).
    pub fn from_client(txs: Vec<RawTx>) -> SubmitTxs {
        SubmitTxs {
            txs,
            origin: TxOrigin::Client,
        }
    }

    /// Transactions a peer relayed.
    pub fn from_peer(txs: Vec<RawTx>) -> SubmitTxs {
        SubmitTxs {
            txs,
            origin: TxOrigin::Peer,
        }
    }
}

/// Where submitted transactions come from: a client's are announced with [`TxsAdmitted`]
/// so the network relays them; a peer's are not relayed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxOrigin {
    /// A client of this node.
    Client,
    /// Another node.
    Peer,
}

impl Message for SubmitTxs {
    const NAME: &'static str = "SubmitTxs";
    fn items(&self) -> usize {
        self.txs.len()
    }
}

impl Command for SubmitTxs {
    /// One verdict per submitted transaction, in submission order.
    type Reply = Vec<Admission>;
}

/// The verdict on one submitted transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Admission {
    /// In the mempool, waiting to be proposed.
    Accepted {
        /// The transaction id.
        id: Hash,
    },
    /// Refused; nothing was kept.
    Rejected {
        /// The transaction id (the hash of the submitted bytes).
        id: Hash,
        /// Why.
        reason: Rejection,
    },
}

/// Why a transaction was refused at admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Rejection {
    /// The bytes are not a valid transaction encoding.
    #[error("malformed transaction: {detail}")]
    Malformed {
        /// What the decoder objected to.
        detail: String,
    },
    /// The call is for a module the chain does not have: refused rather than charged for a
    /// call that cannot run.
    #[error("no module at index {module}; the chain's modules are 0 to {last}")]
    UnknownModule {
        /// The transaction's module index.
        module: u16,
        /// The chain's last module index.
        last: u16,
    },
    /// Larger than the maximum transaction size.
    #[error("transaction of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Signed for another chain.
    #[error("signed for chain {got}, this chain is {expected}")]
    WrongChain {
        /// This chain.
        expected: u64,
        /// The transaction's chain.
        got: u64,
    },
    /// The nonce was already used.
    #[error("nonce {got} is below the account's next nonce {expected}")]
    NonceTooLow {
        /// The account's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The nonce is too far ahead of the account's next nonce.
    #[error("nonce {got} is more than {max_gap} ahead of the next nonce {expected}")]
    NonceGap {
        /// The account's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
        /// The largest gap the pool accepts.
        max_gap: u64,
    },
    /// The offered fee is below the minimum.
    #[error("fee {offered} is below the minimum {min}")]
    FeeTooLow {
        /// The minimum fee.
        #[serde(with = "crate::module::amount")]
        min: u128,
        /// The offered fee.
        #[serde(with = "crate::module::amount")]
        offered: u128,
    },
    /// The account cannot pay the maximum fee.
    #[error("balance {balance} cannot pay {needed}")]
    InsufficientBalance {
        /// What the account holds.
        #[serde(with = "crate::module::amount")]
        balance: u128,
        /// What the transaction may cost.
        #[serde(with = "crate::module::amount")]
        needed: u128,
    },
    /// The pool is full of transactions that tip at least as much.
    #[error("mempool full")]
    PoolFull,
    /// The sender already holds its share of the pool; it may send more as its pooled
    /// transactions are included.
    #[error("the sender holds its share of the pool: at most {max_txs} transactions and {max_bytes} bytes")]
    SenderFull {
        /// Most transactions one sender may hold.
        max_txs: u64,
        /// Most bytes one sender may hold.
        max_bytes: u64,
    },
    /// Already in the pool.
    #[error("duplicate transaction")]
    Duplicate,
    /// The node could not check the transaction (its state could not be read); the
    /// transaction may be fine, and can be submitted again.
    #[error("cannot check the transaction now: {detail}")]
    Unavailable {
        /// What failed.
        detail: String,
    },
}

/// Build a block on `parent` from the mempool.
///
/// From: the incentive layer's consensus engine, when this validator leads. Handler: the
/// agreement layer, which selects transactions up to the limits and assembles the block.
#[derive(Debug, Clone)]
pub struct BuildProposal {
    /// Id of the parent block.
    pub parent: Hash,
    /// Height of the block to build.
    pub height: Height,
    /// The timestamp to put in the header.
    pub timestamp: Timestamp,
    /// This validator's address, for the header.
    pub proposer: Address,
    /// Gas limit of the block.
    pub max_gas: u64,
    /// Size limit of the block's encoding, in bytes.
    pub max_bytes: usize,
}

impl Message for BuildProposal {
    const NAME: &'static str = "BuildProposal";
}

impl Command for BuildProposal {
    /// The block, or why none could be built. An empty mempool gives an empty block, not an
    /// error.
    type Reply = Result<Arc<Block>, ProposalError>;
}

/// Check a block proposed by another validator before voting for it.
///
/// From: the consensus engine. Handler: the agreement layer, which checks the header against
/// its chain, the body against the header, and every transaction's signature, nonce and fee.
#[derive(Debug, Clone)]
pub struct VerifyProposal {
    /// The proposed block.
    pub block: Arc<Block>,
}

impl Message for VerifyProposal {
    const NAME: &'static str = "VerifyProposal";
    fn items(&self) -> usize {
        self.block.txs.len()
    }
}

impl Command for VerifyProposal {
    /// `Ok` when the validator may vote for the block; the first problem found otherwise.
    type Reply = Result<(), ProposalError>;
}

/// Why a block could not be built, or why a proposed block is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ProposalError {
    /// The parent is not the block this node has at `height - 1`.
    #[error("unknown parent {parent}")]
    UnknownParent {
        /// The parent named.
        parent: Hash,
    },
    /// The height does not follow the parent's.
    #[error("height {got} does not follow the parent (expected {expected})")]
    WrongHeight {
        /// The height expected.
        expected: Height,
        /// The height given.
        got: Height,
    },
    /// The header's transaction root or count does not match the body.
    #[error("transactions do not match the header")]
    BodyMismatch,
    /// The header names a state root this node did not commit.
    #[error("state root at height {height} is {got}, this node committed {expected}")]
    StateRootMismatch {
        /// The height of the named state.
        height: Height,
        /// The root this node committed.
        expected: Hash,
        /// The root in the header.
        got: Hash,
    },
    /// A transaction would not be admitted.
    #[error("transaction {index} is invalid: {reason}")]
    InvalidTx {
        /// Its position in the block.
        index: usize,
        /// Why.
        reason: Rejection,
    },
    /// Over the block's gas or size limit.
    #[error("block exceeds its limits")]
    OverLimit,
    /// The handler could not do its work (storage failure, shutting down).
    #[error("unavailable: {detail}")]
    Unavailable {
        /// What failed.
        detail: String,
    },
}

/// A block is final: it will never be reverted.
///
/// From: the consensus engine. Subscribers: the agreement layer (executes it and commits the
/// result), the application layer (head subscriptions), the mempool (drops its
/// transactions). The agreement layer subscribes with backpressure: it must see every block.
#[derive(Debug, Clone)]
pub struct BlockFinalized {
    /// The block.
    pub block: Arc<Block>,
    /// The certificate that finalized this block, when it has its own: `None` for a block
    /// finalized as the ancestor of a certified one (its proof is that block's certificate
    /// and the headers between), and for engines that make none.
    pub certificate: Option<Arc<FinalityCertificate>>,
}

impl Message for BlockFinalized {
    const NAME: &'static str = "BlockFinalized";
    fn items(&self) -> usize {
        self.block.txs.len()
    }
}

impl Event for BlockFinalized {}

/// A read-only view of the committed state at a height.
#[derive(Clone)]
pub struct Snapshot {
    /// The height whose state this is.
    pub height: Height,
    /// The state root at that height.
    pub root: Hash,
    /// The state.
    pub view: Arc<dyn StateView + Send + Sync>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("height", &self.height)
            .field("root", &self.root)
            .finish()
    }
}

/// Open a read-only view of committed state, so that per-transaction reads are method calls
/// rather than bus round trips.
///
/// From: the agreement layer (execution, admission) and the application layer (queries).
/// Handler: the data layer.
#[derive(Debug, Clone)]
pub struct OpenSnapshot {
    /// The height wanted; `None` for the latest committed.
    pub height: Option<Height>,
}

impl Message for OpenSnapshot {
    const NAME: &'static str = "OpenSnapshot";
}

impl Command for OpenSnapshot {
    /// The view, or why it cannot be had.
    type Reply = Result<Snapshot, StoreError>;
}

/// Prove a state key's value, or its absence, against the latest committed root.
///
/// From: the application layer (RPC `state_getValue`, light-client servers). Handler: the
/// data layer. The key is at most [`MAX_KEY_LEN`](crate::module::MAX_KEY_LEN) bytes.
#[derive(Debug, Clone)]
pub struct ProveState {
    /// The state key.
    pub key: Vec<u8>,
}

impl Message for ProveState {
    const NAME: &'static str = "ProveState";
}

impl Command for ProveState {
    /// The proof with the root and height it holds for, or why none can be given.
    type Reply = Result<StateValueProof, StoreError>;
}

/// A state proof and what it is a proof against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateValueProof {
    /// The committed height.
    pub height: Height,
    /// The state root at that height.
    pub root: Hash,
    /// The value or its absence, with the proof; check with
    /// [`state_proof::verify`](crate::state_proof::verify).
    pub proof: crate::state_proof::StateProof,
}

/// Persist a finalized block with its execution results.
///
/// From: the agreement layer, after executing a finalized block. Handler: the data layer,
/// which applies the delta, computes the state root, and writes block, receipts and state in
/// one durable commit. Blocks are committed in height order.
#[derive(Debug, Clone)]
pub struct CommitBlock {
    /// The block.
    pub block: Arc<Block>,
    /// One receipt per transaction, in block order.
    pub receipts: Arc<Vec<Receipt>>,
    /// The block's state changes.
    pub delta: Arc<StateDelta>,
    /// The certificate that finalized the block, stored with it (see [`BlockFinalized`]).
    pub certificate: Option<Arc<FinalityCertificate>>,
}

impl Message for CommitBlock {
    const NAME: &'static str = "CommitBlock";
    fn items(&self) -> usize {
        self.block.txs.len()
    }
}

impl Command for CommitBlock {
    /// The new state root once the commit is durable; an error means nothing of the block
    /// was made visible.
    type Reply = Result<Committed, StoreError>;
}

/// A durable commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Committed {
    /// The committed block's height.
    pub height: Height,
    /// The state root after the block.
    pub root: Hash,
}

/// Why the data layer could not serve a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum StoreError {
    /// A block was committed out of height order.
    #[error("expected block {expected}, got {got}")]
    OutOfOrder {
        /// The next height the store expects.
        expected: Height,
        /// The height given.
        got: Height,
    },
    /// The height is not (or no longer) stored.
    #[error("height {height} is not available")]
    Unavailable {
        /// The height asked for.
        height: Height,
    },
    /// The storage backend failed.
    #[error("storage failure: {detail}")]
    Backend {
        /// The backend's error.
        detail: String,
    },
    /// A lookup by transaction id on a node that keeps no transaction index.
    #[error("this node keeps no transaction index (tx_index = false)")]
    NoTxIndex,
}

/// Transactions from this node's clients that the mempool accepted: the network relays
/// them to the other validators so that whichever proposes next can include them.
///
/// From: the agreement layer, once per [`SubmitTxs`] batch of [`TxOrigin::Client`] with at
/// least one transaction accepted. Subscribers: the network's transaction gossip, and the
/// solo engine, which builds the next block once a full block's worth has come in.
#[derive(Debug, Clone)]
pub struct TxsAdmitted {
    /// The batch as submitted.
    pub submitted: Arc<Vec<RawTx>>,
    /// Whether each transaction of `submitted` was accepted, in order.
    pub accepted: Arc<Vec<bool>>,
}

impl TxsAdmitted {
    /// The accepted transactions.
    pub fn txs(&self) -> impl Iterator<Item = &RawTx> {
        self.submitted
            .iter()
            .zip(self.accepted.iter())
            .filter_map(|(tx, ok)| ok.then_some(tx))
    }
}

impl Message for TxsAdmitted {
    const NAME: &'static str = "TxsAdmitted";
    fn items(&self) -> usize {
        self.submitted.len()
    }
}

impl Event for TxsAdmitted {}

/// State after a block is durable: the block, its receipts and its root can be read.
///
/// From: the data layer. Subscribers: the application layer (subscriptions, indexer), the
/// agreement layer (mempool re-validation), the consensus engine (state roots for headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StateCommitted {
    /// The block's height.
    pub height: Height,
    /// The block id.
    pub block: Hash,
    /// The state root after the block.
    pub root: Hash,
    /// Transactions in the block.
    pub tx_count: u32,
}

impl Message for StateCommitted {
    const NAME: &'static str = "StateCommitted";
}

impl Event for StateCommitted {}

/// One member of a validator set (defined with [`crate::module::ValidatorSet`], which a
/// module's end-block hook returns; named here too, where the bus announces the set).
pub use crate::module::Validator;

/// A new validator set takes effect at `epoch`.
///
/// From: the agreement layer, after executing a block whose end-block hooks announced a set
/// (the staking module, at each epoch boundary). Subscribers: the consensus engine (it moves
/// to the epoch) and the node's network (it tracks the set as a peer set).
#[derive(Debug, Clone)]
pub struct ValidatorSetChanged {
    /// The epoch from which the set applies.
    pub epoch: u64,
    /// The first height of that epoch.
    pub from_height: Height,
    /// The validators, sorted by key.
    pub validators: Arc<Vec<Validator>>,
}

impl Message for ValidatorSetChanged {
    const NAME: &'static str = "ValidatorSetChanged";
    fn items(&self) -> usize {
        self.validators.len()
    }
}

impl Event for ValidatorSetChanged {}

/// What a validator did wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Misbehaviour {
    /// Two conflicting votes in one round.
    ConflictingVotes,
    /// Two conflicting proposals in one round.
    ConflictingProposals,
}

/// The engine saw a validator misbehave and holds proof of it.
///
/// From: the consensus engine. Subscribers: the slashing module, which turns the evidence
/// into a penalty.
#[derive(Debug, Clone)]
pub struct MisbehaviourDetected {
    /// The offender's consensus key.
    pub offender: PublicKey,
    /// Height at which it happened.
    pub height: Height,
    /// What it did.
    pub kind: Misbehaviour,
    /// The signed messages that prove it, in the engine's encoding.
    pub evidence: Arc<Vec<u8>>,
}

impl Message for MisbehaviourDetected {
    const NAME: &'static str = "MisbehaviourDetected";
}

impl Event for MisbehaviourDetected {}

/// One row of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CatalogueEntry {
    /// The message's name.
    pub name: &'static str,
    /// Command or event.
    pub kind: Kind,
    /// Who sends it.
    pub from: &'static str,
    /// Who handles (command) or subscribes (event).
    pub to: &'static str,
    /// What it asks or announces, and what the reply means.
    pub meaning: &'static str,
}

/// The catalogue as data, in pipeline order.
pub const CATALOGUE: &[CatalogueEntry] = &[
    CatalogueEntry {
        name: SubmitTxs::NAME,
        kind: Kind::Command,
        from: "app (RPC), network",
        to: "agreement (mempool)",
        meaning: "admit a batch of transactions; reply: one Admission per transaction",
    },
    CatalogueEntry {
        name: TxsAdmitted::NAME,
        kind: Kind::Event,
        from: "agreement (admission)",
        to: "network (transaction gossip)",
        meaning: "clients' transactions entered the mempool; relay them to the validators",
    },
    CatalogueEntry {
        name: BuildProposal::NAME,
        kind: Kind::Command,
        from: "incentive (consensus engine)",
        to: "agreement (block builder)",
        meaning: "build a block on a parent; reply: the block or a ProposalError",
    },
    CatalogueEntry {
        name: VerifyProposal::NAME,
        kind: Kind::Command,
        from: "incentive (consensus engine)",
        to: "agreement (block builder)",
        meaning: "check a peer's block before voting; reply: Ok or the first problem",
    },
    CatalogueEntry {
        name: BlockFinalized::NAME,
        kind: Kind::Event,
        from: "incentive (consensus engine)",
        to: "agreement (executor), app, mempool",
        meaning: "a block is final and will never be reverted",
    },
    CatalogueEntry {
        name: OpenSnapshot::NAME,
        kind: Kind::Command,
        from: "agreement, app",
        to: "data-layer",
        meaning: "open a read-only state view; reply: the Snapshot or a StoreError",
    },
    CatalogueEntry {
        name: ProveState::NAME,
        kind: Kind::Command,
        from: "app (RPC)",
        to: "data-layer",
        meaning: "prove a key's value or absence; reply: the proof, root and height",
    },
    CatalogueEntry {
        name: CommitBlock::NAME,
        kind: Kind::Command,
        from: "agreement (executor)",
        to: "data-layer",
        meaning: "persist block, receipts and state delta durably; reply: the new root",
    },
    CatalogueEntry {
        name: StateCommitted::NAME,
        kind: Kind::Event,
        from: "data-layer",
        to: "app, agreement, incentive",
        meaning: "a block's state is durable and readable",
    },
    CatalogueEntry {
        name: ValidatorSetChanged::NAME,
        kind: Kind::Event,
        from: "incentive (staking module)",
        to: "incentive (consensus engine)",
        meaning: "a new validator set applies from an epoch",
    },
    CatalogueEntry {
        name: MisbehaviourDetected::NAME,
        kind: Kind::Event,
        from: "incentive (consensus engine)",
        to: "incentive (slashing module)",
        meaning: "a validator equivocated; the evidence is attached",
    },
];
