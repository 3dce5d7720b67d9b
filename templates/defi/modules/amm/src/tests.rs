//! The module with the bank, on a runtime over in-memory state; and its arithmetic.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use lamina_agreement::modules::bank::{self, AssetGenesis, AssetInfo, Bank, BankGenesis};
use lamina_agreement::testing::{key, TestChain};
use lamina_agreement::{Runtime, RuntimeConfig};
use lamina_interop::block::Outcome;
use lamina_interop::module::Amount;
use lamina_interop::{Address, ChainId};

use super::math::{mul_div, mul_div_up, sqrt_product, swap_out};
use super::*;

const LAM: u32 = 0;
const USD: u32 = 1;
const FUNDS: u128 = 1_000_000_000_000;

type Module = Amm<Bank>;

fn address(i: u64) -> Address {
    Address::of(&key(i).public_key())
}

/// A chain with the AMM at 0.3%, and accounts 1 to 3 holding both assets.
fn chain() -> TestChain {
    let runtime = Runtime::builder(RuntimeConfig::new(ChainId(7)))
        .module(Amm::new(Bank))
        .build()
        .unwrap();
    let holders: Vec<(Address, u128)> = (1..=3).map(|i| (address(i), FUNDS)).collect();
    let mut bank = BankGenesis::native(holders.clone());
    bank.assets.push(AssetGenesis {
        id: USD,
        info: AssetInfo {
            symbol: "USD".into(),
            decimals: 6,
        },
        balances: holders.iter().map(|(a, n)| (*a, Amount(*n))).collect(),
        minters: Vec::new(),
    });
    let sections = BTreeMap::from([
        ("bank".to_string(), bank.to_section()),
        (
            "amm".to_string(),
            serde_json::to_value(AmmGenesis::default()).unwrap(),
        ),
    ]);
    TestChain::new(runtime, &sections).unwrap()
}

fn balance(chain: &TestChain, asset: u32, who: u64) -> u128 {
    bank::committed_balance(chain.state(), asset, &address(who)).unwrap()
}

fn pool(chain: &TestChain) -> Pool {
    match chain
        .query::<Module>(AmmQuery::Pool {
            asset_a: USD,
            asset_b: LAM,
        })
        .unwrap()
    {
        AmmResponse::Pool(pool) => pool.unwrap(),
        other => panic!("{other:?}"),
    }
}

fn code(outcome: &Outcome) -> Option<u32> {
    match outcome {
        Outcome::Success => None,
        Outcome::Failed { code, .. } => Some(*code),
    }
}

fn create(chain: &mut TestChain) {
    let call = AmmCall::CreatePool {
        asset_a: LAM,
        asset_b: USD,
        amount_a: 1_000_000,
        amount_b: 4_000_000,
    };
    assert_eq!(
        chain.call::<Module>(&key(1), &call).unwrap().outcome,
        Outcome::Success
    );
}

#[test]
fn a_pool_opens_once_and_locks_the_minimum() {
    let mut chain = chain();
    let usd_before = balance(&chain, USD, 1);
    create(&mut chain);
    let pool = pool(&chain);
    assert_eq!(
        (pool.reserve_a, pool.reserve_b, pool.shares),
        (1_000_000, 4_000_000, 2_000_000)
    );
    assert_eq!(balance(&chain, USD, 1), usd_before - 4_000_000);
    let shares = chain
        .query::<Module>(AmmQuery::Shares {
            asset_a: LAM,
            asset_b: USD,
            account: address(1),
        })
        .unwrap();
    assert_eq!(shares, AmmResponse::Shares(2_000_000 - MIN_LIQUIDITY));
    let again = AmmCall::CreatePool {
        asset_a: USD,
        asset_b: LAM,
        amount_a: 10_000,
        amount_b: 10_000,
    };
    assert_eq!(
        code(&chain.call::<Module>(&key(2), &again).unwrap().outcome),
        Some(3)
    );
    let same = AmmCall::CreatePool {
        asset_a: USD,
        asset_b: USD,
        amount_a: 10_000,
        amount_b: 10_000,
    };
    assert_eq!(
        code(&chain.call::<Module>(&key(2), &same).unwrap().outcome),
        Some(1)
    );
}

#[test]
fn a_swap_pays_the_fee_respects_the_limit_and_keeps_the_product() {
    let mut chain = chain();
    create(&mut chain);
    let quote = match chain
        .query::<Module>(AmmQuery::Quote {
            asset_in: LAM,
            asset_out: USD,
            amount_in: 10_000,
        })
        .unwrap()
    {
        AmmResponse::Quote(out) => out,
        other => panic!("{other:?}"),
    };
    // 10_000 in, 0.3% fee: 9_970 counted; 4_000_000 * 9_970 / 1_009_970 = 39_486.
    assert_eq!(quote, 39_486);
    let greedy = AmmCall::Swap {
        asset_in: LAM,
        asset_out: USD,
        amount_in: 10_000,
        min_out: quote + 1,
    };
    assert_eq!(
        code(&chain.call::<Module>(&key(2), &greedy).unwrap().outcome),
        Some(5)
    );
    let usd_before = balance(&chain, USD, 2);
    let swap = AmmCall::Swap {
        asset_in: LAM,
        asset_out: USD,
        amount_in: 10_000,
        min_out: quote,
    };
    let receipt = chain.call::<Module>(&key(2), &swap).unwrap();
    assert_eq!(receipt.outcome, Outcome::Success);
    assert_eq!(balance(&chain, USD, 2), usd_before + quote);
    let after = pool(&chain);
    assert_eq!(
        (after.reserve_a, after.reserve_b),
        (1_010_000, 4_000_000 - quote)
    );
    assert!(
        after.reserve_a * after.reserve_b > 1_000_000 * 4_000_000,
        "the fee grows the product"
    );
}

#[test]
fn many_swaps_never_shrink_the_product_and_providers_redeem_the_fees() {
    let mut chain = chain();
    create(&mut chain);
    let mut product = 1_000_000u128 * 4_000_000;
    let mut seed = 7u64;
    for _ in 0..60 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (asset_in, asset_out) = if seed & 1 == 0 {
            (LAM, USD)
        } else {
            (USD, LAM)
        };
        let amount_in = u128::from(1 + (seed >> 20) % 200_000);
        let swap = AmmCall::Swap {
            asset_in,
            asset_out,
            amount_in,
            min_out: 0,
        };
        let receipt = chain.call::<Module>(&key(2 + (seed & 1)), &swap).unwrap();
        let pool = pool(&chain);
        let now = pool.reserve_a * pool.reserve_b;
        assert!(now >= product, "{receipt:?}");
        product = now;
    }
    // Everything the provider can redeem, it gets; the locked shares stay behind.
    let held = 2_000_000 - MIN_LIQUIDITY;
    let remove = AmmCall::RemoveLiquidity {
        asset_a: LAM,
        asset_b: USD,
        shares: held,
        min_a: 0,
        min_b: 0,
    };
    assert_eq!(
        chain.call::<Module>(&key(1), &remove).unwrap().outcome,
        Outcome::Success
    );
    let left = pool(&chain);
    assert_eq!(left.shares, MIN_LIQUIDITY);
    assert!(left.reserve_a > 0 && left.reserve_b > 0);
    let twice = AmmCall::RemoveLiquidity {
        asset_a: LAM,
        asset_b: USD,
        shares: 1,
        min_a: 0,
        min_b: 0,
    };
    assert_eq!(
        code(&chain.call::<Module>(&key(1), &twice).unwrap().outcome),
        Some(6)
    );
}

#[test]
fn liquidity_is_added_in_proportion() {
    let mut chain = chain();
    create(&mut chain);
    // Offers 1:1, the pool is 1:4: USD limits it.
    let add = AmmCall::AddLiquidity {
        asset_a: LAM,
        asset_b: USD,
        max_a: 500_000,
        max_b: 400_000,
        min_shares: 1,
    };
    let receipt = chain.call::<Module>(&key(3), &add).unwrap();
    assert_eq!(receipt.outcome, Outcome::Success);
    assert_eq!(
        chain.events::<Module>(&receipt),
        vec![AmmEvent::LiquidityAdded {
            pair: (LAM, USD),
            provider: address(3),
            amount_a: 100_000,
            amount_b: 400_000,
            shares: 200_000
        }]
    );
    let strict = AmmCall::AddLiquidity {
        asset_a: LAM,
        asset_b: USD,
        max_a: 10,
        max_b: 40,
        min_shares: 100,
    };
    assert_eq!(
        code(&chain.call::<Module>(&key(3), &strict).unwrap().outcome),
        Some(5)
    );
}

#[test]
fn the_arithmetic_is_exact() {
    for (a, b, c) in [
        (7u128, 9, 4),
        (u64::MAX as u128, 3, 5),
        (1 << 100, 1 << 27, 1 << 120),
        (u128::MAX, u128::MAX, u128::MAX),
    ] {
        let expected = if let Some(p) = a.checked_mul(b) {
            p / c
        } else {
            mul_div(a, b, c).unwrap()
        };
        assert_eq!(mul_div(a, b, c).unwrap(), expected);
    }
    assert_eq!(mul_div(1 << 100, 1 << 100, 1 << 90).unwrap(), 1 << 110);
    assert!(mul_div(u128::MAX, 2, 1).is_err(), "overflow is an error");
    assert_eq!(mul_div_up(7, 9, 4).unwrap(), 16);
    assert_eq!(mul_div_up(8, 2, 4).unwrap(), 4);
    assert_eq!(sqrt_product(1_000_000, 4_000_000), 2_000_000);
    assert_eq!(sqrt_product(u128::MAX, u128::MAX), u128::MAX);
    assert_eq!(sqrt_product(10, 10), 10);
    assert_eq!(sqrt_product(2, 4), 2);
    assert_eq!(swap_out(0, 100, 100, 30).unwrap(), 0);
}
