//! The whole chain, simulated: four validators with the real runtime (this chain's modules
//! included), storage and BFT consensus on one seeded executor, over links with loss, a
//! partition that heals, and a crash and restart. Clients trade against one pool.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use assets::{Assets, AssetsGenesis};
use lamina_agreement::modules::bank::{AssetGenesis, AssetInfo, Bank, BankGenesis};
use lamina_agreement::{Runtime, RuntimeBuilder, SignedTx, UnsignedTx};
use lamina_app::dex::{pair, pool_account, Dex, DexCall, DexGenesis, Pool, POOLS};
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::SecretKey;
use lamina_interop::module::{Amount, Module as _, StateView};
use lamina_interop::Address;
use lamina_simulation::{run_with, Scenario, Workload};

const USD: u32 = 1;

/// Client 0 opens a LAM/USD pool; the others swap one way or the other.
struct Trading;

impl Workload for Trading {
    fn modules(&self, runtime: RuntimeBuilder) -> RuntimeBuilder {
        runtime.module(Assets::new(Bank)).module(Dex::new(Bank))
    }

    /// Every funded account also holds USD.
    fn genesis(&self, bank: &mut BankGenesis) -> BTreeMap<String, serde_json::Value> {
        let holders = bank.assets[0].balances.clone();
        bank.assets.push(AssetGenesis {
            id: USD,
            info: AssetInfo {
                symbol: "USD".into(),
                decimals: 6,
            },
            balances: holders
                .iter()
                .map(|(a, _)| (*a, Amount(1_000_000_000)))
                .collect(),
            minters: vec!["assets".into()],
        });
        BTreeMap::from([
            (
                "assets".to_string(),
                serde_json::to_value(AssetsGenesis::default()).unwrap(),
            ),
            (
                "dex".to_string(),
                serde_json::to_value(DexGenesis::default()).unwrap(),
            ),
        ])
    }

    fn transaction(
        &self,
        runtime: &Runtime,
        n: u64,
        from: &SecretKey,
        _other: Address,
    ) -> SignedTx {
        let call = match n {
            0 => DexCall::CreatePool {
                asset_a: 0,
                asset_b: USD,
                amount_a: 100_000_000,
                amount_b: 400_000_000,
            },
            n if n & 1 == 0 => DexCall::SwapExactIn {
                path: vec![0, USD],
                amount_in: 10_000 + u128::from(n),
                min_out: 0,
                deadline_ms: None,
            },
            n => DexCall::SwapExactIn {
                path: vec![USD, 0],
                amount_in: 40_000 + u128::from(n),
                min_out: 0,
                deadline_ms: None,
            },
        };
        let gas_limit = 100_000;
        UnsignedTx {
            chain_id: runtime.config().chain_id,
            sender: from.public_key(),
            nonce: 0,
            max_fee: runtime.required_fee(gas_limit, 0).unwrap(),
            tip: 0,
            gas_limit,
            module: runtime.module_index(Dex::<Bank>::NAME).unwrap(),
            call: BoundedBytes::try_from_vec(codec::encode(&call)).unwrap(),
        }
        .sign(from)
    }

    /// The pool opened, traded (its product grew with the fees), and its reserves are what
    /// its account holds.
    fn check(&self, _runtime: &Runtime, state: &dyn StateView) -> Result<(), String> {
        let pair = pair(0, USD).map_err(|e| e.to_string())?;
        let pool: Pool = POOLS
            .get_committed(state, &pair)
            .map_err(|e| e.to_string())?
            .ok_or("no pool")?;
        if pool.reserve_a * pool.reserve_b <= 100_000_000u128 * 400_000_000 {
            return Err(format!("no trade grew the pool: {pool:?}"));
        }
        let account = pool_account(pair);
        for (asset, reserve) in [(0, pool.reserve_a), (USD, pool.reserve_b)] {
            let held = lamina_agreement::modules::bank::committed_balance(state, asset, &account)
                .map_err(|e| e.to_string())?;
            if held != reserve {
                return Err(format!(
                    "asset {asset}: the pool's account holds {held}, its reserve is {reserve}"
                ));
            }
        }
        Ok(())
    }
}

#[test]
fn four_validators_agree_through_faults() {
    let outcome = run_with(&Scenario::with_faults(3), Trading);
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    assert!(outcome.included > 10, "{} included", outcome.included);
}
