//! The whole chain, simulated: four bonded validators with the real runtime (this chain's
//! modules included), storage and BFT consensus on one seeded executor. One run has lossy
//! links, a partition and a crash; the other a validator that signs conflicting votes, which
//! the others must report and slash while the chain goes on.

#![allow(clippy::unwrap_used)]

use attendance::{Attendance, AttendanceCall, MONIKERS, PROPOSED};
use lamina_agreement::{Runtime, RuntimeBuilder, SignedTx, UnsignedTx};
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::SecretKey;
use lamina_interop::module::{Module as _, StateView};
use lamina_interop::Address;
use lamina_simulation::{run_with, validator_key, Scenario, Workload};

/// Every client names itself; the attendance hook counts each block for its proposer.
struct Monikers;

impl Workload for Monikers {
    fn modules(&self, runtime: RuntimeBuilder) -> RuntimeBuilder {
        runtime.module(Attendance)
    }

    fn transaction(
        &self,
        runtime: &Runtime,
        n: u64,
        from: &SecretKey,
        _other: Address,
    ) -> SignedTx {
        let call = codec::encode(&AttendanceCall::SetMoniker {
            moniker: format!("client {n}"),
        });
        let gas_limit = 50_000;
        UnsignedTx {
            chain_id: runtime.config().chain_id,
            sender: from.public_key(),
            nonce: 0,
            max_fee: runtime.required_fee(gas_limit, 0).unwrap(),
            tip: 0,
            gas_limit,
            module: runtime.module_index(Attendance::NAME).unwrap(),
            call: BoundedBytes::try_from_vec(call).unwrap(),
        }
        .sign(from)
    }

    /// Blocks were counted for the validators, and monikers were set.
    fn check(&self, _runtime: &Runtime, state: &dyn StateView) -> Result<(), String> {
        let proposed: u64 = (0..4)
            .map(|i| {
                let operator = Address::of(&validator_key(i).public_key());
                PROPOSED
                    .get_committed(state, &operator)
                    .map(|n| n.unwrap_or(0))
            })
            .sum::<Result<u64, _>>()
            .map_err(|e| e.to_string())?;
        if proposed < 30 {
            return Err(format!("only {proposed} blocks counted for the validators"));
        }
        let first = Address::of(&lamina_agreement::testing::key(0).public_key());
        match MONIKERS
            .get_committed(state, &first)
            .map_err(|e| e.to_string())?
        {
            Some(moniker) if moniker == "client 0" => Ok(()),
            other => Err(format!("the first client's moniker is {other:?}")),
        }
    }
}

#[test]
fn four_validators_agree_through_faults() {
    let outcome = run_with(&Scenario::with_faults(1), Monikers);
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    assert!(outcome.included > 0);
}

#[test]
fn a_double_signer_is_slashed_and_the_chain_goes_on() {
    // The simulation checks that every honest validator reported the equivocator and that
    // its bond was cut and it was jailed in their committed state.
    let outcome = run_with(&Scenario::with_equivocator(2), Monikers);
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
}
