//! Chains for the DeFi modules' tests: a runtime over in-memory state, accounts 1 to
//! `ACCOUNTS` holding `FUNDS` of every test asset.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use lamina_agreement::modules::bank::{self, AssetGenesis, AssetInfo, BankGenesis};
use lamina_agreement::testing::{key, TestChain};
use lamina_agreement::{Runtime, RuntimeBuilder, RuntimeConfig};
use lamina_interop::block::{Outcome, Receipt};
use lamina_interop::module::Amount;
use lamina_interop::{Address, ChainId};

/// Test accounts are `1..=ACCOUNTS`.
pub(crate) const ACCOUNTS: u64 = 6;
/// What each holds of each asset.
pub(crate) const FUNDS: u128 = 1_000_000_000_000_000_000_000_000_000_000;

pub(crate) fn address(i: u64) -> Address {
    Address::of(&key(i).public_key())
}

/// A chain of `compose`'s modules with assets `assets` (besides the native one) held by every
/// test account, and the given genesis sections.
pub(crate) fn chain(
    compose: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder,
    assets: &[u32],
    sections: Vec<(&str, serde_json::Value)>,
) -> TestChain {
    chain_with_minters(compose, assets, &[], sections)
}

/// [`chain`], with `minters` (asset, module) allowed to mint and burn.
pub(crate) fn chain_with_minters(
    compose: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder,
    assets: &[u32],
    minters: &[(u32, &str)],
    sections: Vec<(&str, serde_json::Value)>,
) -> TestChain {
    let runtime = compose(Runtime::builder(RuntimeConfig::new(ChainId(7))))
        .build()
        .unwrap();
    let holders: Vec<(Address, u128)> = (1..=ACCOUNTS).map(|i| (address(i), FUNDS)).collect();
    let mut genesis = BankGenesis::native(holders.clone());
    for &id in assets {
        genesis.assets.push(AssetGenesis {
            id,
            info: AssetInfo {
                symbol: format!("T{id}"),
                decimals: 18,
            },
            balances: holders.iter().map(|(a, n)| (*a, Amount(*n))).collect(),
            minters: Vec::new(),
        });
    }
    for asset in &mut genesis.assets {
        for (id, module) in minters {
            if *id == asset.id {
                asset.minters.push(module.to_string());
            }
        }
    }
    let mut all = BTreeMap::from([("bank".to_string(), genesis.to_section())]);
    for (name, section) in sections {
        all.insert(name.to_string(), section);
    }
    let mut chain = TestChain::new(runtime, &all).unwrap();
    chain.gas_limit = 2_000_000;
    chain
}

pub(crate) fn balance(chain: &TestChain, asset: u32, who: &Address) -> u128 {
    bank::committed_balance(chain.state(), asset, who).unwrap()
}

/// The error code of a failed call, `None` for success.
pub(crate) fn code(receipt: &Receipt) -> Option<u32> {
    match &receipt.outcome {
        Outcome::Success => None,
        Outcome::Failed { code, .. } => Some(*code),
    }
}
