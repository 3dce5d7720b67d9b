//! The whole chain, simulated: four validators with the real runtime (this chain's modules
//! included), storage and BFT consensus on one seeded executor, over links with loss, a
//! partition that heals, and a crash and restart. Every client claims a name.

#![allow(clippy::unwrap_used)]

use lamina_agreement::{Runtime, RuntimeBuilder, SignedTx, UnsignedTx};
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::SecretKey;
use lamina_interop::module::{Module as _, StateView};
use lamina_interop::Address;
use lamina_simulation::{run_with, Scenario, Workload};
use names::{Names, NamesCall, OWNERS};

// ANCHOR: workload
/// Client `n` claims the name `client-n`.
struct Claims;

fn name(n: u64) -> String {
    format!("client-{n}")
}

impl Workload for Claims {
    fn modules(&self, runtime: RuntimeBuilder) -> RuntimeBuilder {
        runtime.module(Names)
    }

    fn transaction(
        &self,
        runtime: &Runtime,
        n: u64,
        from: &SecretKey,
        _other: Address,
    ) -> SignedTx {
        let call = codec::encode(&NamesCall::Claim { name: name(n) });
        let gas_limit = 50_000;
        UnsignedTx {
            chain_id: runtime.config().chain_id,
            sender: from.public_key(),
            nonce: 0,
            max_fee: runtime.required_fee(gas_limit, 0).unwrap(),
            tip: 0,
            gas_limit,
            module: runtime.module_index(Names::NAME).unwrap(),
            call: BoundedBytes::try_from_vec(call).unwrap(),
        }
        .sign(from)
    }

    /// The first clients' claims went through (each validator finalized them).
    fn check(&self, _runtime: &Runtime, state: &dyn StateView) -> Result<(), String> {
        for n in 0..10 {
            if OWNERS
                .get_committed(state, &name(n))
                .map_err(|e| e.to_string())?
                .is_none()
            {
                return Err(format!("{} was not claimed", name(n)));
            }
        }
        Ok(())
    }
}
// ANCHOR_END: workload

#[test]
fn four_validators_agree_through_faults() {
    for seed in 0..2 {
        let outcome = run_with(&Scenario::with_faults(seed), Claims);
        assert!(
            outcome.violations.is_empty(),
            "seed {seed}: {:?}",
            outcome.violations
        );
        assert!(
            outcome.included >= 10,
            "seed {seed}: {} included",
            outcome.included
        );
    }
}
