//! What the simulated chain runs besides the framework's modules, and what its clients send:
//! bank transfers by default, or a chain's own modules and calls.

use std::collections::BTreeMap;

use lamina_agreement::modules::bank::{BankGenesis, NATIVE};
use lamina_agreement::testing::transfer;
use lamina_agreement::{Runtime, RuntimeBuilder, SignedTx};
use lamina_interop::crypto::SecretKey;
use lamina_interop::module::StateView;
use lamina_interop::Address;

/// A chain's modules and the transactions its clients send, for [`crate::run_with`].
///
/// The simulation composes `accounts`, `bank` and `staking`, then [`Workload::modules`]; it
/// funds thousands of accounts (account `n`'s balance is the `n`-th of the bank's genesis),
/// and has each send what [`Workload::transactions`] gives (one transaction by default). At the end it runs [`Workload::check`] on every honest
/// validator's committed state.
pub trait Workload: Send + Sync + 'static {
    /// Adds the chain's modules after the framework's.
    fn modules(&self, runtime: RuntimeBuilder) -> RuntimeBuilder {
        runtime
    }

    /// Their genesis sections, by module name. `bank` holds the native asset with every
    /// account funded; add assets (and minters) to it here.
    fn genesis(&self, _bank: &mut BankGenesis) -> BTreeMap<String, serde_json::Value> {
        BTreeMap::new()
    }

    /// Transaction number `n`, signed by `from`, a funded account sending its first
    /// transaction (nonce 0); `other` is another funded account.
    fn transaction(&self, runtime: &Runtime, n: u64, from: &SecretKey, other: Address) -> SignedTx;

    /// What account `n` sends, in one batch to one validator: by default the single
    /// [`Workload::transaction`]; a workload whose clients need several steps (supply, then
    /// borrow) returns them with nonces 0, 1, ...
    fn transactions(
        &self,
        runtime: &Runtime,
        n: u64,
        from: &SecretKey,
        other: Address,
    ) -> Vec<SignedTx> {
        vec![self.transaction(runtime, n, from, other)]
    }

    /// Checks a validator's committed state once the run is over: the module's invariants,
    /// and that the transactions had their effect.
    fn check(&self, _runtime: &Runtime, _state: &dyn StateView) -> Result<(), String> {
        Ok(())
    }
}

/// Transfers of one unit of the native asset: the framework's modules only.
#[derive(Debug, Clone, Copy, Default)]
pub struct Transfers;

impl Workload for Transfers {
    fn transaction(
        &self,
        runtime: &Runtime,
        _n: u64,
        from: &SecretKey,
        other: Address,
    ) -> SignedTx {
        transfer(runtime, from, 0, other, NATIVE, 1, 0)
    }
}
