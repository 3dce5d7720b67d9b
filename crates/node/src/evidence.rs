//! Turning misbehaviour the engine saw into a slashing transaction: on a proof-of-stake
//! chain, a validator that receives `MisbehaviourDetected` signs a staking
//! `ReportEquivocation` with its own key and submits it as any client would (so gossip takes
//! it to the others). The staking module checks the evidence again, on every validator, and
//! slashes each offence once; a report that loses the race is refused there and costs its fee.

use std::collections::VecDeque;
use std::sync::Arc;

use lamina_agreement::modules::accounts;
use lamina_agreement::{Runtime, UnsignedTx};
use lamina_incentive::staking::{Staking, StakingCall};
use lamina_interop::bus::{Bus, RecvError, Requester, Subscription};
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::SecretKey;
use lamina_interop::messages::{Admission, MisbehaviourDetected, OpenSnapshot, SubmitTxs};
use lamina_interop::module::Module as _;
use lamina_interop::{Address, Hash};

/// Offences remembered as reported, so one seen twice is reported once.
const REMEMBERED: usize = 1024;
/// Gas a report may use: checking two signatures and a few state writes.
const REPORT_GAS: u64 = 1_000_000;

/// Reports misbehaviour to the staking module.
pub struct EvidenceReporter {
    faults: Subscription<MisbehaviourDetected>,
    submit: Requester<SubmitTxs>,
    snapshots: Requester<OpenSnapshot>,
    runtime: Arc<Runtime>,
    key: SecretKey,
}

impl EvidenceReporter {
    /// Reports on `bus`, signing with `key`.
    pub fn new(bus: &Bus, runtime: Arc<Runtime>, key: SecretKey) -> EvidenceReporter {
        EvidenceReporter {
            faults: bus.subscribe::<MisbehaviourDetected>(),
            submit: bus.requester(),
            snapshots: bus.requester(),
            runtime,
            key,
        }
    }

    /// Reports until the bus closes.
    pub async fn run(mut self) {
        let mut reported: VecDeque<Hash> = VecDeque::new();
        loop {
            let fault = match self.faults.recv().await {
                Ok(fault) => fault,
                Err(RecvError::Lagged { missed }) => {
                    tracing::warn!(missed, "missed misbehaviour reports");
                    continue;
                }
                Err(_) => return,
            };
            let id = Hash::of(&fault.evidence);
            if reported.contains(&id) {
                continue;
            }
            if reported.len() == REMEMBERED {
                reported.pop_front();
            }
            reported.push_back(id);
            match self.report(&fault).await {
                Ok(tx) => {
                    tracing::info!(offender = %fault.offender, %tx, "reported equivocation")
                }
                Err(reason) => {
                    tracing::warn!(offender = %fault.offender, %reason, "could not report equivocation")
                }
            }
        }
    }

    async fn report(&self, fault: &MisbehaviourDetected) -> Result<Hash, String> {
        let module = self
            .runtime
            .module_index(Staking::<lamina_agreement::modules::bank::Bank>::NAME)
            .ok_or("the runtime has no staking module")?;
        let me = Address::of(&self.key.public_key());
        let snapshot = self
            .snapshots
            .request(OpenSnapshot { height: None })
            .await
            .map_err(|_| "the node is stopping".to_string())?
            .map_err(|e| e.to_string())?;
        let nonce =
            accounts::committed_nonce(snapshot.view.as_ref(), &me).map_err(|e| e.to_string())?;
        let call = StakingCall::ReportEquivocation {
            evidence: fault.evidence.to_vec(),
        };
        let config = self.runtime.config();
        let tx = UnsignedTx {
            chain_id: config.chain_id,
            sender: self.key.public_key(),
            nonce,
            max_fee: (REPORT_GAS as u128).saturating_mul(config.gas_price),
            tip: 0,
            gas_limit: REPORT_GAS,
            module,
            call: BoundedBytes::try_from_vec(codec::encode(&call))
                .map_err(|_| "evidence too large".to_string())?,
        }
        .sign(&self.key);
        let verdicts = self
            .submit
            .request(SubmitTxs::from_client(vec![tx.to_raw()]))
            .await
            .map_err(|_| "the node is stopping".to_string())?;
        match verdicts.into_iter().next() {
            Some(Admission::Accepted { id }) => Ok(id),
            Some(Admission::Rejected { reason, .. }) => Err(reason.to_string()),
            None => Err("no verdict".into()),
        }
    }
}
