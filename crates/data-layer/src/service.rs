//! The data layer on the bus: the handler of [`CommitBlock`], which publishes
//! [`StateCommitted`] once a block is durable, and of [`ProveState`], which proves keys
//! against the latest root (the store that commits is the one that proves, so a proof never
//! races a commit).
//!
//! ```text
//! agreement --CommitBlock{block, receipts, delta}--> CommitService --> ChainStore::commit
//!           <--------- Ok(Committed{height, root}) | Err(StoreError) ---+
//!                                                   ==StateCommitted==> app, agreement, engine
//! ```
//!
//! After each commit, [`SetChanges`] captures the proof of a pending validator-set change
//! (see [`crate::set_changes`]).
//!
//! Commands are served one at a time, in arrival order: blocks are committed in height order
//! and a block out of order is refused with [`StoreError::OutOfOrder`] without touching either
//! store.

use futures::channel::mpsc;
use futures::{FutureExt as _, SinkExt as _, StreamExt as _};

use lamina_interop::bus::{Bus, Inbox, Publisher, Request, WiringError};
use lamina_interop::messages::{
    CommitBlock, ProveState, StateCommitted, StateValueProof, StoreError,
};
use lamina_interop::module::MAX_KEY_LEN;
use lamina_interop::timeline::{self, Step};

use crate::commit::{ChainStore, Persister};
use crate::kv::KvStore;
use crate::set_changes::SetChanges;
use crate::state::AuthenticatedState;
use crate::Error;

/// Serves [`CommitBlock`] from the bus.
pub struct CommitService<S: KvStore + ?Sized, A: AuthenticatedState> {
    store: ChainStore<S, A>,
    inbox: Inbox<CommitBlock>,
    proofs: Inbox<ProveState>,
    committed: Publisher<StateCommitted>,
    offload: bool,
}

/// A block whose step 1 is done, waiting for the state.
type Persisted = Request<CommitBlock>;

impl<S: KvStore + ?Sized, A: AuthenticatedState> CommitService<S, A> {
    /// Registers as the handler of [`CommitBlock`] and [`ProveState`] on `bus`.
    pub fn new(bus: &Bus, store: ChainStore<S, A>) -> Result<Self, WiringError> {
        Ok(CommitService {
            store,
            inbox: bus.handle::<CommitBlock>()?,
            proofs: bus.handle::<ProveState>()?,
            committed: bus.publisher::<StateCommitted>(),
            offload: true,
        })
    }

    /// Whether the key-value writes run on a thread of their own (`true`, the default), so
    /// that block N + 1 is persisted while block N is merkleized, or inline on the calling
    /// task (`false`): a deterministic simulation must not wait on threads its executor does
    /// not know of. Either way, blocks are acknowledged in order, each once both stores hold
    /// it.
    pub fn offload(mut self, offload: bool) -> Self {
        self.offload = offload;
        self
    }

    /// Serves commands until the bus closes, then returns the store.
    ///
    /// Two stages, each in height order: persist (the key-value batch), then merkleize (the
    /// state) and acknowledge. At most one persisted block waits between them, so the state
    /// lags the key-value store by at most [`MAX_STATE_LAG`](crate::commit::MAX_STATE_LAG)
    /// blocks.
    ///
    /// Cancel safety: not cancel safe; dropping the future in the middle of a commit leaves
    /// the stores as [`ChainStore::open`] repairs them, and that command unanswered.
    pub async fn run(self) -> ChainStore<S, A> {
        let CommitService {
            mut store,
            inbox,
            proofs,
            committed,
            offload,
        } = self;
        let persister = store.persister();
        let (to_state, mut persisted) = mpsc::channel::<Persisted>(0);
        let persist = persist_loop(inbox, persister, to_state);
        // On a thread of its own, the persist stage needs nothing of this task: block N + 1
        // is written while this task merkleizes block N.
        let (thread, inline) = if offload {
            let spawned = std::thread::Builder::new()
                .name("lamina-persist".into())
                .spawn(move || futures::executor::block_on(persist));
            // Without the thread, the inbox is gone with it: requesters see the service
            // closed, and the node stops rather than stalls.
            (spawned.ok(), None)
        } else {
            (None, Some(persist))
        };
        let merkleize = async {
            let mut set_changes = SetChanges::default();
            loop {
                let request = futures::select_biased! {
                    request = persisted.next() => match request {
                        Some(request) => request,
                        None => break,
                    },
                    request = proofs.recv().fuse() => {
                        if let Some(Request { command, responder, .. }) = request {
                            let _ = responder.send(prove(&store, command.key).await);
                        }
                        continue;
                    }
                };
                let Request {
                    command, responder, ..
                } = request;
                let height = command.block.header.height;
                tracing::debug!(%height, "merkleize start");
                let reply = store
                    .merkleize(height, &command.delta)
                    .await
                    .map_err(to_store_error);
                tracing::debug!(%height, "merkleize end");
                if reply.is_ok() {
                    let header = &command.block.header;
                    match set_changes.committed(&store, header, &command.delta).await {
                        Ok(Some(epoch)) => {
                            tracing::info!(%height, epoch, "validator set change proven")
                        }
                        Ok(None) => {}
                        Err(err) => {
                            tracing::warn!(%height, %err, "validator set change not captured")
                        }
                    }
                }
                let announce = reply.as_ref().ok().map(|done| StateCommitted {
                    height: done.height,
                    block: command.block.id(),
                    root: done.root,
                    tx_count: command.block.header.tx_count,
                });
                // The requester may have stopped waiting; the block is committed all the same.
                let _ = responder.send(reply);
                if let Some(event) = announce {
                    timeline::mark(event.block, Step::Durable);
                    if committed.publish(event).await.is_err() {
                        break;
                    }
                }
            }
        };
        match inline {
            Some(persist) => {
                futures::join!(persist, merkleize);
            }
            None => {
                merkleize.await;
                // A persist thread blocked handing on a block sees the stage gone and ends.
                drop(persisted);
                if let Some(thread) = thread {
                    let _ = thread.join();
                }
            }
        }
        store
    }
}

/// The persist stage: each block's key-value batch, in arrival order, then on to the state.
/// A refused block is answered here and goes no further.
async fn persist_loop<S: KvStore + ?Sized>(
    inbox: Inbox<CommitBlock>,
    persister: Persister<S>,
    mut to_state: mpsc::Sender<Persisted>,
) {
    while let Some(request) = inbox.recv().await {
        let command = &request.command;
        let height = command.block.header.height;
        tracing::debug!(%height, "persist start");
        let persisted = persister.persist_certified(
            &command.block,
            &command.receipts,
            &command.delta,
            command.certificate.as_deref(),
        );
        tracing::debug!(%height, "persist end");
        match persisted {
            Ok(()) => {
                if to_state.send(request).await.is_err() {
                    return;
                }
            }
            Err(err) => {
                let _ = request.responder.send(Err(to_store_error(err)));
            }
        }
    }
}

async fn prove<S: KvStore + ?Sized, A: AuthenticatedState>(
    store: &ChainStore<S, A>,
    key: Vec<u8>,
) -> Result<StateValueProof, StoreError> {
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::Backend {
            detail: format!("key of {} bytes exceeds {MAX_KEY_LEN}", key.len()),
        });
    }
    let state = store.state();
    let proof = state.prove(&key).await.map_err(to_store_error)?;
    Ok(StateValueProof {
        height: state.height(),
        root: state.root(),
        proof,
    })
}

fn to_store_error(err: Error) -> StoreError {
    match err {
        Error::OutOfOrder { expected, got } => StoreError::OutOfOrder { expected, got },
        other => StoreError::Backend {
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use commonware_runtime::{deterministic, Runner as _, Spawner as _, Supervisor as _};
    use lamina_interop::block::{tx_root, Block, Header, StateChange, StateDelta};
    use lamina_interop::codec::BoundedVec;
    use lamina_interop::{Address, ChainId, Hash, Height, Timestamp};

    use super::*;
    use crate::blocks::Pruning;
    use crate::kv::MemoryStore;
    use crate::state::{QmdbState, StateConfig};

    fn command(height: u64) -> CommitBlock {
        let txs = BoundedVec::new();
        let header = Header {
            chain_id: ChainId(1),
            height: Height(height),
            parent: Hash::ZERO,
            timestamp: Timestamp(height),
            proposer: Address([0; 32]),
            tx_root: tx_root(txs.iter()),
            tx_count: 0,
            state_height: Height(height - 1),
            state_root: Hash::ZERO,
        };
        let delta = StateDelta::from_changes(vec![StateChange {
            key: b"counter".to_vec(),
            value: Some(height.to_be_bytes().to_vec()),
        }]);
        CommitBlock {
            block: Arc::new(Block { header, txs }),
            receipts: Arc::new(vec![]),
            delta: Arc::new(delta),
            certificate: None,
        }
    }

    #[test]
    fn commits_replies_and_announces_in_order() {
        deterministic::Runner::seeded(1).start(|ctx| async move {
            let kv = Arc::new(MemoryStore::new(&crate::commit::columns()));
            let config = StateConfig {
                cache_pages: 64,
                ..StateConfig::default()
            };
            let state = QmdbState::open(ctx.child("state"), &config).await.unwrap();
            let (store, _) = ChainStore::open(kv, Pruning::Archive, state).await.unwrap();
            let bus = Bus::new(Default::default()).unwrap();
            let mut announcements = bus.subscribe::<StateCommitted>();
            let service = CommitService::new(&bus, store).unwrap().offload(false);
            let requester = bus.requester::<CommitBlock>();
            bus.check_wiring().unwrap();
            let served = ctx.child("service").spawn(|_| service.run());

            let mut roots = Vec::new();
            for h in 1..=3 {
                let committed = requester.request(command(h)).await.unwrap().unwrap();
                assert_eq!(committed.height, Height(h));
                roots.push(committed.root);
            }
            let refused = requester.request(command(5)).await.unwrap();
            assert_eq!(
                refused,
                Err(StoreError::OutOfOrder {
                    expected: Height(4),
                    got: Height(5)
                })
            );
            for (h, root) in (1..=3).zip(&roots) {
                let event = announcements.recv().await.unwrap();
                assert_eq!(
                    (event.height, event.root, event.block),
                    (Height(h), *root, command(h).block.id())
                );
            }
            bus.close();
            let store = served.await.unwrap();
            assert_eq!(store.height(), Height(3));
            assert_eq!(
                store.state().get(b"counter").await.unwrap(),
                Some(3u64.to_be_bytes().to_vec())
            );
        });
    }

    #[test]
    fn snapshots_read_the_latest_committed_state() {
        use lamina_interop::messages::OpenSnapshot;

        use crate::snapshot::SnapshotService;

        deterministic::Runner::seeded(2).start(|ctx| async move {
            let kv = Arc::new(MemoryStore::new(&crate::commit::columns()));
            let config = StateConfig {
                cache_pages: 64,
                ..StateConfig::default()
            };
            let state = QmdbState::open(ctx.child("state"), &config).await.unwrap();
            let (store, _) = ChainStore::open(kv.clone(), Pruning::Archive, state)
                .await
                .unwrap();
            let bus = Bus::new(Default::default()).unwrap();
            let hot = store.hot_state();
            let commits = CommitService::new(&bus, store).unwrap().offload(false);
            let snapshots = SnapshotService::new(&bus, kv, hot).unwrap();
            bus.check_wiring().unwrap();
            ctx.child("commits").spawn(|_| commits.run());
            ctx.child("snapshots").spawn(|_| snapshots.run());
            let open = bus.requester::<OpenSnapshot>();

            let empty = open
                .request(OpenSnapshot { height: None })
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (empty.height, empty.view.get(b"counter")),
                (Height(0), Ok(None))
            );
            let commit = bus.requester::<CommitBlock>();
            let mut last = None;
            for h in 1..=3 {
                last = Some(commit.request(command(h)).await.unwrap().unwrap());
            }
            let last = last.unwrap();
            let snapshot = open
                .request(OpenSnapshot { height: None })
                .await
                .unwrap()
                .unwrap();
            assert_eq!((snapshot.height, snapshot.root), (last.height, last.root));
            assert_eq!(
                snapshot.view.get(b"counter"),
                Ok(Some(3u64.to_be_bytes().to_vec()))
            );
            assert_eq!(snapshot.view.get(b"other"), Ok(None));
            // Proofs against the same root, for a present and an absent key.
            let prove = bus.requester::<lamina_interop::messages::ProveState>();
            for (key, expected) in [
                (b"counter".to_vec(), Some(3u64.to_be_bytes().to_vec())),
                (b"other".to_vec(), None),
            ] {
                let proof = prove
                    .request(lamina_interop::messages::ProveState { key: key.clone() })
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!((proof.height, proof.root), (last.height, last.root));
                assert_eq!(
                    crate::state::verify(&proof.root, &key, &proof.proof),
                    Ok(expected)
                );
            }
            let too_long = prove
                .request(lamina_interop::messages::ProveState { key: vec![0; 300] })
                .await
                .unwrap();
            assert!(matches!(too_long, Err(StoreError::Backend { .. })));
            let old = open
                .request(OpenSnapshot {
                    height: Some(Height(2)),
                })
                .await
                .unwrap();
            assert_eq!(
                old.map(|s| s.height),
                Err(StoreError::Unavailable { height: Height(2) })
            );
            bus.close();
        });
    }
}
