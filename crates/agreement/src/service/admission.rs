//! The admission loop: `SubmitTxs` from the bus, admitted on rayon against the committed
//! state; it owns the signature batches' sizing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lamina_interop::block::RawTx;
use lamina_interop::bus::{Inbox, Publisher, Request};
use lamina_interop::messages::{Admission, Rejection, SubmitTxs, TxOrigin, TxsAdmitted};
use lamina_interop::module::StateView;
use lamina_interop::profile::{span, Stage};
use lamina_interop::{Hash, Height};
use parking_lot::Mutex;

use super::on_rayon;
use super::overlay::ViewRef;
use crate::admission::{admit, SignatureBatches};
use crate::pool::Mempool;
use crate::runtime::Runtime;

/// The admission loop; see the module docs.
pub(super) struct Admitter {
    pub(super) runtime: Arc<Runtime>,
    pub(super) pool: Arc<Mutex<Mempool>>,
    pub(super) batches: Arc<SignatureBatches>,
    /// The committed state; it follows each commit.
    pub(super) state: Arc<dyn StateView + Send + Sync>,
    /// The height last committed, which the execution loop moves.
    pub(super) committed: Arc<AtomicU64>,
    pub(super) offload: bool,
    pub(super) submit: Inbox<SubmitTxs>,
    pub(super) admitted: Publisher<TxsAdmitted>,
}

impl Admitter {
    /// Serves until the bus closes.
    pub(super) async fn run(self) {
        while let Some(Request {
            command, responder, ..
        }) = self.submit.recv().await
        {
            let txs = Arc::new(command.txs);
            // The committed state is at least as new as the height last committed.
            let height = Height(self.committed.load(Ordering::Acquire));
            let state = self.state.clone();
            let runtime = self.runtime.clone();
            let pool = self.pool.clone();
            let batches = self.batches.clone();
            let submitted = txs.clone();
            let verdicts = on_rayon(self.offload, move || {
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
