//! The agreement layer on the bus.
//!
//! ```text
//! SubmitTxs ------> admission: admit on rayon against the committed state  --> verdicts
//! BuildProposal --> select from the pool above blocks not yet executed    --> Arc<Block>
//! VerifyProposal -> header, body, signatures (rayon), fees, nonce order  --> Ok | error
//! ==BlockFinalized==> drop its txs from the pool
//!                     execute on rayon, --CommitBlock-->, re-validate the pool
//!                     ==ValidatorSetChanged==> when an end-block hook announced a new set
//! ```
//!
//! The committed state is a handle given once, at wiring time (the data layer's flat state,
//! which follows each commit), so no loop asks the bus for a snapshot per batch or block.
//!
//! Four loops, each owning its state in a file of its own, joined on one task by
//! [`AgreementService::run`]:
//!
//! ```text
//! admission.rs   Admitter    SubmitTxs; the signature batches' sizing
//! chain/         ChainActor  BuildProposal, and its mailbox (ingress.rs): what this node
//!                            knows above the committed state (tip, recent roots, blocks
//!                            built or verified and not yet executed)
//! verify.rs      Verifier    VerifyProposal: the header checked by the chain actor, the
//!                            transactions on rayon, the block then remembered by the actor
//! execute.rs     Executor    BlockFinalized: the blocks in flight to durability; tells the
//!                            chain actor and admission (the committed height) of each commit
//! ```
//!
//! The mempool is shared (admission inserts, the chain actor selects, execution removes and
//! re-validates, RPC reads). Everything that costs CPU in proportion to the transactions
//! (admission, signature checks, execution) runs on the rayon pool and is awaited, so no loop
//! blocks the async executor it runs on.
//!
//! Blocks this node built or verified are remembered (with their already verified
//! transactions) until executed, bounded by [`AgreementConfig::max_known_blocks`]; a finalized
//! block this node never saw is verified when it is executed. A transaction's signature is
//! thus checked once per node.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use futures::channel::oneshot;
use lamina_interop::bus::{Bus, Overflow, WiringError};
use lamina_interop::messages::{BlockFinalized, StoreError};
use lamina_interop::module::StateView;
use lamina_interop::{Hash, Height};
use parking_lot::Mutex;

use crate::admission::SignatureBatches;
use crate::execute::Mode;
use crate::pool::{Mempool, PoolConfig};
use crate::runtime::Runtime;

/// Settings of the agreement service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgreementConfig {
    /// Mempool limits.
    pub pool: PoolConfig,
    /// How finalized blocks are executed.
    pub mode: Mode,
    /// Blocks built or verified and not yet executed that are remembered.
    pub max_known_blocks: usize,
    /// Queue of finalized blocks waiting for execution.
    pub finalized_queue: usize,
    /// Blocks executed ahead of the last durable one: the next block executes while the data
    /// layer merkleizes and persists these.
    pub commit_depth: usize,
    /// Whether signature checks and execution run on the rayon pool while the task awaits
    /// them (`true`, production), or inline on the calling task (`false`): a deterministic
    /// simulation must not wait on threads its executor does not know of.
    pub offload: bool,
}

impl Default for AgreementConfig {
    fn default() -> Self {
        AgreementConfig {
            pool: PoolConfig::default(),
            mode: Mode::Parallel,
            max_known_blocks: 64,
            finalized_queue: 16,
            commit_depth: 3,
            offload: true,
        }
    }
}

/// Why the execution loop stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The data layer could not open a snapshot or commit.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A finalized block could not be executed (a block hook failed, state unreadable).
    #[error("block {height} cannot be executed: {detail}")]
    Execution {
        /// The block.
        height: Height,
        /// Why.
        detail: String,
    },
    /// A finalized block does not follow the last executed one.
    #[error("finalized block {got} does not follow the executed block {executed}")]
    OutOfOrder {
        /// The last executed height.
        executed: Height,
        /// The finalized block's height.
        got: Height,
    },
    /// The bus closed while a request was in flight.
    #[error("bus closed")]
    Closed,
    /// The finalized stream skipped blocks: this node can no longer execute in order.
    #[error("missed {0} finalized blocks")]
    Missed(u64),
}

/// The agreement layer's handlers; see the module docs.
pub struct AgreementService {
    pool: Arc<Mutex<Mempool>>,
    admitter: admission::Admitter,
    chain: chain::ChainActor,
    verifier: verify::Verifier,
    executor: execute::Executor,
}

/// Runs `work` on the rayon pool and waits for it without blocking the task, or inline
/// when `offload` is off.
async fn on_rayon<T: Send + 'static>(
    offload: bool,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    if !offload {
        return Some(work());
    }
    let (send, receive) = oneshot::channel();
    rayon::spawn(move || {
        let _ = send.send(work());
    });
    receive.await.ok()
}

impl AgreementService {
    /// Registers the handlers of `SubmitTxs`, `BuildProposal` and `VerifyProposal` and a
    /// backpressured subscription to `BlockFinalized` on `bus`. `executed` is the last
    /// block the store holds: height, block id (`Hash::ZERO` at genesis) and state root;
    /// `state` is the committed state, a view that follows each commit (the data layer's
    /// `FlatState`).
    pub fn new(
        bus: &Bus,
        runtime: Arc<Runtime>,
        config: AgreementConfig,
        executed: (Height, Hash, Hash),
        state: Arc<dyn StateView + Send + Sync>,
    ) -> Result<Self, WiringError> {
        let pool = Arc::new(Mutex::new(Mempool::new(config.pool)));
        let committed = Arc::new(AtomicU64::new(executed.0 .0));
        let (chain, mailbox) = chain::ChainActor::new(
            runtime.clone(),
            pool.clone(),
            bus.handle()?,
            executed,
            config.max_known_blocks,
        );
        let admitter = admission::Admitter {
            runtime: runtime.clone(),
            pool: pool.clone(),
            batches: Arc::new(SignatureBatches::new()),
            state: state.clone(),
            committed: committed.clone(),
            offload: config.offload,
            submit: bus.handle()?,
            admitted: bus.publisher(),
        };
        let verifier = verify::Verifier {
            runtime: runtime.clone(),
            offload: config.offload,
            verify: bus.handle()?,
            chain: mailbox.clone(),
        };
        let executor = execute::Executor {
            runtime,
            config,
            hasher: hashbrown::DefaultHashBuilder::default(),
            pool: pool.clone(),
            state,
            committed,
            finalized: bus
                .subscribe_with::<BlockFinalized>(config.finalized_queue, Overflow::Backpressure)?,
            commit: bus.requester(),
            validator_sets: bus.publisher(),
            chain: mailbox,
        };
        Ok(AgreementService {
            pool,
            admitter,
            chain,
            verifier,
            executor,
        })
    }

    /// The mempool, shared: for RPC's pool queries and metrics.
    pub fn pool(&self) -> Arc<Mutex<Mempool>> {
        self.pool.clone()
    }

    /// Serves until the bus closes. Returns an error when a finalized block could not be
    /// executed and committed: the node must stop rather than go on without it.
    ///
    /// Cancel safety: not cancel safe; dropping the future may leave one request unanswered
    /// and a block executed but not committed, which the next start executes again.
    pub async fn run(self) -> Result<(), ServiceError> {
        let (_, _, _, executed) = futures::join!(
            self.admitter.run(),
            self.chain.run(),
            self.verifier.run(),
            self.executor.run(),
        );
        executed
    }
}

mod admission;
mod chain;
mod execute;
mod overlay;
#[cfg(test)]
mod tests;
mod verify;
