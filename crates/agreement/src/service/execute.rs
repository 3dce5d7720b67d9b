//! The execution loop: finalized blocks executed in order over the committed state and the
//! blocks still on their way to durability, sent to the data layer, and the pool
//! re-validated as each becomes durable. It owns the blocks in flight.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::future::Either;
use futures::stream::{FuturesOrdered, StreamExt as _};
use lamina_interop::block::{Block, StateDelta};
use lamina_interop::bus::{Publisher, RecvError, RequestError, Requester, Subscription};
use lamina_interop::finality::FinalityCertificate;
use lamina_interop::messages::{
    BlockFinalized, CommitBlock, Committed, StoreError, ValidatorSetChanged,
};
use lamina_interop::module::StateView;
use lamina_interop::profile::{span, Stage};
use lamina_interop::timeline::{self, Step};
use lamina_interop::{Address, Hash, Height};
use parking_lot::Mutex;

use super::chain::Mailbox;
use super::overlay::{DeltaIndex, Overlay};
use super::verify::verify_txs;
use super::{on_rayon, AgreementConfig, ServiceError};
use crate::execute::execute_block;
use crate::modules::accounts;
use crate::pool::Mempool;
use crate::runtime::Runtime;

/// The execution loop; see the module docs.
pub(super) struct Executor {
    pub(super) runtime: Arc<Runtime>,
    pub(super) config: AgreementConfig,
    /// Hashes keys for the overlay of blocks not yet durable; seeded per process.
    pub(super) hasher: hashbrown::DefaultHashBuilder,
    pub(super) pool: Arc<Mutex<Mempool>>,
    /// The committed state; it follows each commit.
    pub(super) state: Arc<dyn StateView + Send + Sync>,
    /// The last committed block's height, for admission too.
    pub(super) committed: Arc<AtomicU64>,
    pub(super) finalized: Subscription<BlockFinalized>,
    pub(super) commit: Requester<CommitBlock>,
    pub(super) validator_sets: Publisher<ValidatorSetChanged>,
    pub(super) chain: Mailbox,
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

impl Executor {
    /// Executes finalized blocks in order. Up to [`AgreementConfig::commit_depth`] executed
    /// blocks may be on their way to durability: the next block executes over the committed
    /// state plus their deltas, while the data layer merkleizes and persists them.
    pub(super) async fn run(mut self) -> Result<(), ServiceError> {
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
                let finalized = &mut self.finalized;
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
                    if let Some((flight, command)) = self
                        .execute(event.block, event.certificate, &in_flight)
                        .await?
                    {
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
        &mut self,
        block: Arc<Block>,
        certificate: Option<Arc<FinalityCertificate>>,
        in_flight: &VecDeque<InFlight>,
    ) -> Result<Option<(InFlight, CommitBlock)>, ServiceError> {
        let height = block.header.height;
        let id = block.id();
        let committed = Height(self.committed.load(Ordering::Acquire));
        let executed = in_flight.back().map_or(committed, |f| f.height);
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
        let txs = match self.chain.take(id).await {
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
        timeline::mark(id, Step::Executed);
        let command = CommitBlock {
            block,
            receipts: Arc::new(output.receipts),
            delta,
            certificate,
        };
        Ok(Some((flight, command)))
    }

    /// Records that `flight` is durable, tells the chain actor, and re-validates the pool
    /// against it.
    async fn committed(
        &mut self,
        flight: InFlight,
        committed: Committed,
    ) -> Result<(), ServiceError> {
        let height = flight.height;
        if committed.height != height {
            return Err(ServiceError::OutOfOrder {
                executed: committed.height,
                got: height,
            });
        }
        self.committed.store(height.0, Ordering::Release);
        self.chain
            .committed(height, flight.id, committed.root)
            .await;
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

/// Accounts whose record (nonce or native balance) a block changed: the ones to re-validate.
fn touched_accounts(delta: &StateDelta) -> Vec<Address> {
    let prefix = accounts::account_key(&Address([0; 32]));
    let prefix = &prefix[..prefix.len() - 32];
    delta
        .changes()
        .iter()
        .filter_map(|change| Some(Address(change.key.strip_prefix(prefix)?.try_into().ok()?)))
        .collect()
}
