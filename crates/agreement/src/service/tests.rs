//! The service end to end on a bus, with an in-memory stand-in for the data layer:
//! submit, build, verify, finalize, execute, commit, re-validate.

use std::sync::Arc;

use futures::channel::mpsc;
use futures::StreamExt as _;
use lamina_interop::block::RawTx;
use lamina_interop::bus::{Bus, Inbox, Request};
use lamina_interop::codec::BoundedVec;
use lamina_interop::messages::{
    Admission, BuildProposal, CommitBlock, Committed, ProposalError, Rejection, StoreError,
    SubmitTxs, TxsAdmitted, VerifyProposal,
};
use lamina_interop::{Address, ChainId, Timestamp};

use super::*;
use crate::memory_state::MemoryState;
use crate::modules::accounts;
use crate::modules::bank::NATIVE;
use crate::runtime::RuntimeConfig;
use crate::testing::{funded_state, key, transfer};
use crate::tx::SignedTx;

const CHAIN: ChainId = ChainId(7);

/// The committed state as the data layer hands it over: one view that follows each commit.
struct CommittedState(Arc<Mutex<MemoryState>>);

impl StateView for CommittedState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, lamina_interop::module::StateError> {
        self.0.lock().get(key)
    }
}

/// The data layer's part: commits that apply deltas to an in-memory state and report each
/// committed height.
async fn fake_store(
    bus: Bus,
    state: Arc<Mutex<MemoryState>>,
    commits: Inbox<CommitBlock>,
    announce: mpsc::UnboundedSender<Height>,
) {
    let height = Arc::new(Mutex::new(Height(0)));
    let serve_commits = async {
        while let Some(Request {
            command, responder, ..
        }) = commits.recv().await
        {
            let at = command.block.header.height;
            let expected = Height(height.lock().0 + 1);
            if at != expected {
                let _ = responder.send(Err(StoreError::OutOfOrder { expected, got: at }));
                continue;
            }
            state.lock().apply(&command.delta);
            *height.lock() = at;
            let _ = responder.send(Ok(Committed {
                height: at,
                root: Hash::of(&at.0.to_be_bytes()),
            }));
            let _ = announce.unbounded_send(at);
        }
    };
    serve_commits.await;
    drop(bus);
}

fn build(parent: Hash, height: u64) -> BuildProposal {
    BuildProposal {
        parent,
        height: Height(height),
        timestamp: Timestamp(height * 1000),
        proposer: Address([0xee; 32]),
        max_gas: 10_000_000,
        max_bytes: 1 << 20,
    }
}

#[test]
fn submit_build_finalize_execute_commit() {
    let runtime = Arc::new(Runtime::builder(RuntimeConfig::new(CHAIN)).build().unwrap());
    let accounts: Vec<Address> = (0..3).map(|i| Address::of(&key(i).public_key())).collect();
    let genesis: MemoryState = funded_state(&runtime, &accounts, 1_000_000, &[])
        .unwrap()
        .into_iter()
        .collect();
    let state = Arc::new(Mutex::new(genesis));
    let genesis_root = Hash::of(&0u64.to_be_bytes());

    let bus = Bus::new(Default::default()).unwrap();
    let service = AgreementService::new(
        &bus,
        runtime.clone(),
        AgreementConfig::default(),
        (Height(0), Hash::ZERO, genesis_root),
        Arc::new(CommittedState(state.clone())),
    )
    .unwrap();
    let pool = service.pool();
    let (announce, mut committed) = mpsc::unbounded();
    let store = fake_store(
        bus.clone(),
        state.clone(),
        bus.handle::<CommitBlock>().unwrap(),
        announce,
    );
    bus.check_wiring().unwrap();
    let submit = bus.requester::<SubmitTxs>();
    let mut admitted = bus.subscribe::<TxsAdmitted>();
    let build_proposal = bus.requester::<BuildProposal>();
    let verify = bus.requester::<VerifyProposal>();
    let finalize = bus.publisher::<BlockFinalized>();

    let driver = async {
        // Two transfers of account 0 in nonce order, one of account 1, one forged.
        let txs = [
            transfer(&runtime, &key(0), 0, accounts[2], NATIVE, 100, 3),
            transfer(&runtime, &key(0), 1, accounts[2], NATIVE, 50, 3),
            transfer(&runtime, &key(1), 0, accounts[0], NATIVE, 7, 1),
        ];
        let mut forged = transfer(&runtime, &key(2), 0, accounts[0], NATIVE, 1, 1);
        forged.signature.0[1] ^= 1;
        let mut raw: Vec<RawTx> = txs.iter().map(SignedTx::to_raw).collect();
        raw.push(forged.to_raw());
        let verdicts = submit.request(SubmitTxs::from_client(raw)).await.unwrap();
        assert!(matches!(verdicts[0], Admission::Accepted { .. }));
        assert!(matches!(verdicts[2], Admission::Accepted { .. }));
        assert!(matches!(
            verdicts[3],
            Admission::Rejected {
                reason: Rejection::BadSignature,
                ..
            }
        ));
        // The client's accepted transactions are announced for gossip, the forged one not.
        let announced = admitted.recv().await.unwrap();
        assert_eq!(*announced.accepted, vec![true, true, true, false]);
        assert_eq!(announced.txs().count(), 3);

        let block = build_proposal
            .request(build(Hash::ZERO, 1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(block.txs.len(), 3);
        assert!(block.body_matches_header());
        assert_eq!(
            (block.header.state_height, block.header.state_root),
            (Height(0), genesis_root)
        );
        // Built on block 1 before it executes: nothing of block 1 again.
        let next = build_proposal
            .request(build(block.id(), 2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.txs.len(), 0);
        assert_eq!(
            build_proposal
                .request(build(Hash([9; 32]), 1))
                .await
                .unwrap(),
            Err(ProposalError::UnknownParent {
                parent: Hash([9; 32])
            })
        );

        // A peer's proposal: a bad signature, a wrong parent, then a good one.
        let mut peer = (*block).clone();
        let mut bad = txs[2].clone();
        bad.signature.0[0] ^= 1;
        peer.txs = BoundedVec::try_from_vec(vec![bad.to_raw()]).unwrap();
        peer.header.tx_root = lamina_interop::block::tx_root(peer.txs.iter());
        peer.header.tx_count = 1;
        assert!(matches!(
            verify
                .request(VerifyProposal {
                    block: Arc::new(peer.clone())
                })
                .await
                .unwrap(),
            Err(ProposalError::InvalidTx {
                index: 0,
                reason: Rejection::BadSignature
            })
        ));
        peer.header.parent = Hash([1; 32]);
        assert!(matches!(
            verify
                .request(VerifyProposal {
                    block: Arc::new(peer)
                })
                .await
                .unwrap(),
            Err(ProposalError::UnknownParent { .. })
        ));
        assert_eq!(
            verify
                .request(VerifyProposal {
                    block: block.clone()
                })
                .await
                .unwrap(),
            Ok(())
        );

        finalize
            .publish(BlockFinalized {
                block: block.clone(),
                certificate: None,
            })
            .await
            .unwrap();
        assert_eq!(committed.next().await, Some(Height(1)));
        let after = state.lock().clone();
        assert_eq!(
            crate::modules::bank::committed_balance(&after, NATIVE, &accounts[2]).unwrap(),
            1_000_000 + 150
        );
        assert_eq!(accounts::committed_nonce(&after, &accounts[0]).unwrap(), 2);
        assert_eq!(pool.lock().len(), 0, "executed transactions left the pool");

        // The next block builds on the executed one and names its state.
        let third = transfer(&runtime, &key(0), 2, accounts[1], NATIVE, 1, 1);
        let verdicts = submit
            .request(SubmitTxs::from_client(vec![third.to_raw()]))
            .await
            .unwrap();
        assert!(matches!(verdicts[0], Admission::Accepted { .. }));
        let block2 = build_proposal
            .request(build(block.id(), 2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(block2.txs.len(), 1);
        assert_eq!(block2.header.state_height, Height(1));
        assert_eq!(admitted.recv().await.unwrap().txs().count(), 1);
        // A peer's transactions are admitted but not announced again.
        let relayed = transfer(&runtime, &key(1), 1, accounts[0], NATIVE, 7, 1);
        let verdicts = submit
            .request(SubmitTxs::from_peer(vec![relayed.to_raw()]))
            .await
            .unwrap();
        assert!(matches!(verdicts[0], Admission::Accepted { .. }));
        assert!(matches!(admitted.try_recv(), Ok(None)));
        bus.close();
    };
    let (_, _, result) =
        futures::executor::block_on(async { futures::join!(driver, store, service.run()) });
    assert_eq!(result, Ok(()));
}
