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
//! [`AgreementService::run`] drives the four loops on one task. Everything that costs CPU in
//! proportion to the transactions (admission, signature checks, execution) runs on the rayon
//! pool and is awaited, so the task never blocks the async executor it runs on.
//!
//! Blocks this node built or verified are remembered (with their already verified
//! transactions) until executed, bounded by [`AgreementConfig::max_known_blocks`]; a finalized
//! block this node never saw is verified when it is executed. A transaction's signature is
//! thus checked once per node.

use std::collections::HashMap;
use std::sync::Arc;

use std::collections::VecDeque;

use futures::channel::oneshot;
use futures::future::Either;
use futures::stream::{FuturesOrdered, StreamExt as _};
use lamina_interop::block::{Block, Header, RawTx, MAX_BLOCK_LEN, MAX_BLOCK_TXS};
use lamina_interop::bus::{
    Bus, Inbox, Overflow, Publisher, RecvError, Request, RequestError, Requester, Subscription,
    WiringError,
};
use lamina_interop::codec::BoundedVec;
use lamina_interop::messages::{
    Admission, BlockFinalized, BuildProposal, CommitBlock, Committed, ProposalError, Rejection,
    StoreError, SubmitTxs, TxOrigin, TxsAdmitted, ValidatorSetChanged, VerifyProposal,
};
use lamina_interop::module::StateView;
use lamina_interop::profile::{span, Stage};
use lamina_interop::{Address, Hash, Height};
use parking_lot::Mutex;

use crate::admission::{admit, SignatureBatches};
use crate::execute::{execute_block, Mode};
use crate::modules::accounts;
use crate::pool::{BlockLimits, Mempool, PoolConfig};
use crate::runtime::Runtime;
use crate::tx::VerifiedTx;

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

/// A block built or verified here, not yet executed.
struct Known {
    height: Height,
    parent: Hash,
    txs: Arc<Vec<VerifiedTx>>,
}

/// What the service knows of the chain.
struct Chain {
    /// Last executed and committed block: height, id, state root.
    height: Height,
    block: Hash,
    root: Hash,
    /// State roots of recent heights, for checking proposals' headers.
    roots: HashMap<Height, Hash>,
    known: HashMap<Hash, Known>,
}

impl Chain {
    /// Each sender's next nonce after the not-yet-executed ancestors of `parent`, and
    /// whether `parent` is a block this node can build on at `height`.
    fn pending(
        &self,
        parent: &Hash,
        height: Height,
    ) -> Result<HashMap<Address, u64>, ProposalError> {
        let mut pending = HashMap::new();
        let mut cursor = *parent;
        let mut expected = Height(height.0.saturating_sub(1));
        loop {
            if cursor == self.block && expected == self.height {
                return Ok(pending);
            }
            let Some(known) = self.known.get(&cursor).filter(|k| k.height == expected) else {
                return Err(ProposalError::UnknownParent { parent: *parent });
            };
            for tx in known.txs.iter() {
                let next = pending.entry(tx.sender).or_insert(0);
                *next = (*next).max(tx.tx.body.nonce + 1);
            }
            cursor = known.parent;
            expected = Height(expected.0.saturating_sub(1));
        }
    }

    fn remember(&mut self, id: Hash, known: Known, limit: usize) {
        self.known.insert(id, known);
        while self.known.len() > limit {
            let Some(oldest) = self
                .known
                .iter()
                .min_by_key(|(_, k)| k.height)
                .map(|(id, _)| *id)
            else {
                break;
            };
            self.known.remove(&oldest);
        }
    }
}

/// The agreement layer's handlers; see the module docs.
pub struct AgreementService {
    inner: Inner,
    finalized: Subscription<BlockFinalized>,
}

struct Inner {
    runtime: Arc<Runtime>,
    /// Hashes keys for the overlay of blocks not yet durable; seeded per process.
    hasher: hashbrown::DefaultHashBuilder,
    pool: Arc<Mutex<Mempool>>,
    batches: Arc<SignatureBatches>,
    chain: Mutex<Chain>,
    config: AgreementConfig,
    submit: Inbox<SubmitTxs>,
    build: Inbox<BuildProposal>,
    verify: Inbox<VerifyProposal>,
    /// The committed state; it follows each commit.
    state: Arc<dyn StateView + Send + Sync>,
    commit: Requester<CommitBlock>,
    admitted: Publisher<TxsAdmitted>,
    validator_sets: Publisher<ValidatorSetChanged>,
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
        let (height, block, root) = executed;
        let inner = Inner {
            runtime,
            hasher: hashbrown::DefaultHashBuilder::default(),
            pool: Arc::new(Mutex::new(Mempool::new(config.pool))),
            batches: Arc::new(SignatureBatches::new()),
            chain: Mutex::new(Chain {
                height,
                block,
                root,
                roots: HashMap::from([(height, root)]),
                known: HashMap::new(),
            }),
            config,
            submit: bus.handle::<SubmitTxs>()?,
            build: bus.handle::<BuildProposal>()?,
            verify: bus.handle::<VerifyProposal>()?,
            state,
            commit: bus.requester::<CommitBlock>(),
            admitted: bus.publisher::<TxsAdmitted>(),
            validator_sets: bus.publisher::<ValidatorSetChanged>(),
        };
        Ok(AgreementService {
            inner,
            finalized: bus
                .subscribe_with::<BlockFinalized>(config.finalized_queue, Overflow::Backpressure)?,
        })
    }

    /// The mempool, shared: for RPC's pool queries and metrics.
    pub fn pool(&self) -> Arc<Mutex<Mempool>> {
        self.inner.pool.clone()
    }

    /// Serves until the bus closes. Returns an error when a finalized block could not be
    /// executed and committed: the node must stop rather than go on without it.
    ///
    /// Cancel safety: not cancel safe; dropping the future may leave one request unanswered
    /// and a block executed but not committed, which the next start executes again.
    pub async fn run(self) -> Result<(), ServiceError> {
        let AgreementService {
            inner,
            mut finalized,
        } = self;
        let (_, _, _, executed) = futures::join!(
            inner.admission_loop(),
            inner.build_loop(),
            inner.verify_loop(),
            inner.execute_loop(&mut finalized),
        );
        executed
    }
}

impl Inner {
    async fn admission_loop(&self) {
        while let Some(Request {
            command, responder, ..
        }) = self.submit.recv().await
        {
            let txs = Arc::new(command.txs);
            // The committed state is at least as new as the height last committed.
            let height = self.chain.lock().height;
            let state = self.state.clone();
            let runtime = self.runtime.clone();
            let pool = self.pool.clone();
            let batches = self.batches.clone();
            let submitted = txs.clone();
            let verdicts = on_rayon(self.config.offload, move || {
                span(Stage::Admission, || {
                    admit(
                        &runtime,
                        &pool,
                        &batches,
                        &ViewRef(state),
                        height,
                        &submitted,
                    )
                })
            })
            .await
            .unwrap_or_else(|| unavailable_for(&txs, "admission stopped"));
            let accepted: Vec<bool> = verdicts
                .iter()
                .map(|v| matches!(v, Admission::Accepted { .. }))
                .collect();
            let _ = responder.send(verdicts);
            // A peer's transactions reached the peers from their own client's node already.
            if command.origin == TxOrigin::Client && accepted.contains(&true) {
                let event = TxsAdmitted {
                    submitted: txs,
                    accepted: Arc::new(accepted),
                };
                if self.admitted.publish(event).await.is_err() {
                    break;
                }
            }
        }
    }

    async fn build_loop(&self) {
        while let Some(Request {
            command, responder, ..
        }) = self.build.recv().await
        {
            let _ = responder.send(span(Stage::Build, || self.build_block(command)));
        }
    }

    fn build_block(&self, command: BuildProposal) -> Result<Arc<Block>, ProposalError> {
        let mut chain = self.chain.lock();
        let pending = chain.pending(&command.parent, command.height)?;
        let limits = BlockLimits {
            max_gas: command.max_gas,
            // Room for the header and the length prefixes of the body.
            max_bytes: command.max_bytes.min(MAX_BLOCK_LEN).saturating_sub(1024),
            max_txs: MAX_BLOCK_TXS,
        };
        let selected = self.pool.lock().select_after(limits, &pending);
        let txs: Vec<VerifiedTx> = selected.iter().map(|tx| (**tx).clone()).collect();
        let raw: Vec<RawTx> = txs.iter().map(|tx| tx.tx.to_raw()).collect();
        let body = BoundedVec::try_from_vec(raw).map_err(|_| ProposalError::OverLimit)?;
        let header = Header {
            chain_id: self.runtime.config().chain_id,
            height: command.height,
            parent: command.parent,
            timestamp: command.timestamp,
            proposer: command.proposer,
            // The ids admission computed are the hashes of these encodings.
            tx_root: lamina_interop::block::merkle_root(
                &txs.iter().map(|tx| tx.id).collect::<Vec<_>>(),
            ),
            tx_count: body.len() as u32,
            state_height: chain.height,
            state_root: chain.root,
        };
        let block = Arc::new(Block { header, txs: body });
        let known = Known {
            height: command.height,
            parent: command.parent,
            txs: Arc::new(txs),
        };
        chain.remember(block.id(), known, self.config.max_known_blocks);
        Ok(block)
    }

    async fn verify_loop(&self) {
        while let Some(Request {
            command, responder, ..
        }) = self.verify.recv().await
        {
            let reply = self.verify_block(command.block).await;
            let _ = responder.send(reply);
        }
    }

    async fn verify_block(&self, block: Arc<Block>) -> Result<(), ProposalError> {
        let header = &block.header;
        let chain_id = self.runtime.config().chain_id;
        if header.chain_id != chain_id {
            return Err(ProposalError::InvalidTx {
                index: 0,
                reason: Rejection::WrongChain {
                    expected: chain_id.0,
                    got: header.chain_id.0,
                },
            });
        }
        if !block.body_matches_header() {
            return Err(ProposalError::BodyMismatch);
        }
        {
            let chain = self.chain.lock();
            chain.pending(&header.parent, header.height)?;
            match chain.roots.get(&header.state_height) {
                Some(root) if *root == header.state_root => {}
                Some(root) => {
                    return Err(ProposalError::StateRootMismatch {
                        height: header.state_height,
                        expected: *root,
                        got: header.state_root,
                    })
                }
                None => {
                    return Err(ProposalError::Unavailable {
                        detail: format!("no state root known at height {}", header.state_height),
                    })
                }
            }
        }
        let runtime = self.runtime.clone();
        let checked = block.clone();
        let txs = on_rayon(self.config.offload, move || {
            verify_txs(&runtime, &checked.txs)
        })
        .await
        .ok_or_else(|| ProposalError::Unavailable {
            detail: "verification stopped".into(),
        })??;
        let known = Known {
            height: header.height,
            parent: header.parent,
            txs: Arc::new(txs),
        };
        self.chain
            .lock()
            .remember(block.id(), known, self.config.max_known_blocks);
        Ok(())
    }

    /// Executes finalized blocks in order. Up to [`AgreementConfig::commit_depth`] executed
    /// blocks may be on their way to durability: the next block executes over the committed
    /// state plus their deltas, while the data layer merkleizes and persists them.
    async fn execute_loop(
        &self,
        finalized: &mut Subscription<BlockFinalized>,
    ) -> Result<(), ServiceError> {
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut replies = FuturesOrdered::new();
        let mut closed = false;
        loop {
            if closed && in_flight.is_empty() {
                return Ok(());
            }
            let can_execute = !closed && in_flight.len() < self.config.commit_depth.max(1);
            let next = {
                let reply = async {
                    match replies.next().await {
                        Some(reply) => Next::Committed(reply),
                        None => futures::future::pending().await,
                    }
                };
                let block = async {
                    if can_execute {
                        Next::Finalized(finalized.recv().await)
                    } else {
                        futures::future::pending().await
                    }
                };
                futures::pin_mut!(reply, block);
                // Commits first: they free room for the next block.
                match futures::future::select(reply, block).await {
                    Either::Left((next, _)) | Either::Right((next, _)) => next,
                }
            };
            match next {
                Next::Committed(reply) => {
                    let committed = reply.map_err(|_| ServiceError::Closed)??;
                    let Some(flight) = in_flight.pop_front() else {
                        return Err(ServiceError::Closed);
                    };
                    self.committed(flight, committed).await?;
                }
                Next::Finalized(Ok(event)) => {
                    if let Some((flight, command)) = self.execute(event.block, &in_flight).await? {
                        // Queued now, so the data layer receives blocks in height order.
                        let reply = self
                            .commit
                            .send(command)
                            .await
                            .map_err(|_| ServiceError::Closed)?;
                        replies.push_back(reply);
                        in_flight.push_back(flight);
                    }
                }
                Next::Finalized(Err(RecvError::Closed)) => closed = true,
                Next::Finalized(Err(RecvError::Lagged { missed })) => {
                    return Err(ServiceError::Missed(missed))
                }
            }
        }
    }

    /// Executes `block` over the committed state and the deltas of `in_flight`; returns the
    /// block's `CommitBlock`, or nothing for a block already executed.
    async fn execute(
        &self,
        block: Arc<Block>,
        in_flight: &VecDeque<InFlight>,
    ) -> Result<Option<(InFlight, CommitBlock)>, ServiceError> {
        let height = block.header.height;
        let id = block.id();
        let known = {
            let chain = self.chain.lock();
            let executed = in_flight.back().map_or(chain.height, |f| f.height);
            if height <= executed {
                // Already executed (a replay after restart).
                return Ok(None);
            }
            if height.0 != executed.0 + 1 {
                return Err(ServiceError::OutOfOrder {
                    executed,
                    got: height,
                });
            }
            chain.known.get(&id).map(|k| k.txs.clone())
        };
        let txs = match known {
            Some(txs) => txs,
            None => {
                let runtime = self.runtime.clone();
                let unseen = block.clone();
                let verified = on_rayon(self.config.offload, move || {
                    verify_txs(&runtime, &unseen.txs)
                })
                .await
                .ok_or(ServiceError::Closed)?;
                Arc::new(verified.map_err(|e| ServiceError::Execution {
                    height,
                    detail: e.to_string(),
                })?)
            }
        };
        span(Stage::Pool, || {
            self.pool
                .lock()
                .remove_included(height, txs.iter().map(|tx| (tx.sender, tx.tx.body.nonce)))
        });

        let view = Overlay {
            base: self.state.clone(),
            hasher: self.hasher.clone(),
            deltas: in_flight.iter().rev().map(|f| f.delta.clone()).collect(),
        };
        let env = lamina_interop::module::Env {
            chain_id: block.header.chain_id,
            height,
            timestamp: block.header.timestamp,
            proposer: block.header.proposer,
        };
        let runtime = self.runtime.clone();
        let mode = self.config.mode;
        let executing = txs.clone();
        let output = on_rayon(self.config.offload, move || {
            span(Stage::Execution, || {
                execute_block(&runtime, &env, &executing, &view, mode)
            })
        })
        .await
        .ok_or(ServiceError::Closed)?
        .map_err(|e| ServiceError::Execution {
            height,
            detail: e.to_string(),
        })?;

        if let Some(set) = output.validators {
            let event = ValidatorSetChanged {
                epoch: set.epoch,
                from_height: Height(height.0 + 1),
                validators: Arc::new(set.validators),
            };
            if self.validator_sets.publish(event).await.is_err() {
                return Err(ServiceError::Closed);
            }
        }
        let delta = Arc::new(output.delta);
        let flight = InFlight {
            height,
            id,
            touched: touched_accounts(&delta),
            delta: Arc::new(DeltaIndex::new(delta.clone(), &self.hasher)),
        };
        let command = CommitBlock {
            block,
            receipts: Arc::new(output.receipts),
            delta,
        };
        Ok(Some((flight, command)))
    }

    /// Records that `flight` is durable, and re-validates the pool against it.
    async fn committed(&self, flight: InFlight, committed: Committed) -> Result<(), ServiceError> {
        let height = flight.height;
        if committed.height != height {
            return Err(ServiceError::OutOfOrder {
                executed: committed.height,
                got: height,
            });
        }
        {
            let mut chain = self.chain.lock();
            chain.height = committed.height;
            chain.block = flight.id;
            chain.root = committed.root;
            chain.roots.insert(committed.height, committed.root);
            let keep_from = Height(
                committed
                    .height
                    .0
                    .saturating_sub(self.config.max_known_blocks as u64),
            );
            chain.roots.retain(|h, _| *h >= keep_from);
            chain.known.retain(|_, k| k.height > committed.height);
        }
        let view = &self.state;
        span(Stage::Pool, || {
            self.pool
                .lock()
                .revalidate(committed.height, flight.touched, |account| {
                    let record = accounts::committed(&**view, account)?;
                    Ok::<_, lamina_interop::module::StateError>((record.nonce, record.native))
                })
        })
        .map_err(|e| ServiceError::Execution {
            height,
            detail: e.to_string(),
        })?;
        Ok(())
    }
}

/// What the execution loop waits for next.
enum Next {
    Committed(Result<Result<Committed, StoreError>, RequestError<CommitBlock>>),
    Finalized(Result<BlockFinalized, RecvError>),
}

/// A block executed and sent to the data layer, not yet durable.
struct InFlight {
    height: Height,
    id: Hash,
    delta: Arc<DeltaIndex>,
    /// Accounts to re-validate in the pool once it is durable.
    touched: Vec<Address>,
}

/// Accounts whose record (nonce or native balance) a block changed: the ones to re-validate.
fn touched_accounts(delta: &lamina_interop::block::StateDelta) -> Vec<Address> {
    let prefix = accounts::account_key(&Address([0; 32]));
    let prefix = &prefix[..prefix.len() - 32];
    delta
        .changes()
        .iter()
        .filter_map(|change| Some(Address(change.key.strip_prefix(prefix)?.try_into().ok()?)))
        .collect()
}

fn unavailable_for(txs: &[RawTx], detail: &str) -> Vec<Admission> {
    txs.iter()
        .map(|tx| Admission::Rejected {
            id: Hash::of(tx.as_ref()),
            reason: Rejection::Unavailable {
                detail: detail.to_string(),
            },
        })
        .collect()
}

mod overlay;
#[cfg(test)]
mod tests;
mod verify;

use overlay::{DeltaIndex, Overlay, ViewRef};
use verify::verify_txs;
