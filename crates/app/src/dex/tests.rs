//! The module on a runtime over in-memory state with the bank; Uniswap v2's vectors; and
//! property tests over random sequences of calls.

#![allow(clippy::unwrap_used)]

use lamina_agreement::modules::bank::Bank;
use lamina_agreement::testing::{key, TestChain};
use proptest::prelude::*;

use super::math::{amount_in, amount_out, average_price, product_holds};
use super::*;
use crate::testkit::{self, address, balance, code, ACCOUNTS, FUNDS};

const A: u32 = 1;
const B: u32 = 2;
const C: u32 = 3;
const E18: u128 = 1_000_000_000_000_000_000;

type M = Dex<Bank>;

fn chain() -> TestChain {
    testkit::chain(
        |b| b.module(Dex::new(Bank)),
        &[A, B, C],
        vec![("dex", serde_json::to_value(DexGenesis::default()).unwrap())],
    )
}

fn call(chain: &mut TestChain, who: u64, call: DexCall) -> Option<u32> {
    code(&chain.call::<M>(&key(who), &call).unwrap())
}

fn create(chain: &mut TestChain, a: u32, b: u32, amount_a: u128, amount_b: u128) {
    let create = DexCall::CreatePool {
        asset_a: a,
        asset_b: b,
        amount_a,
        amount_b,
    };
    assert_eq!(call(chain, 1, create), None);
}

fn pool(chain: &TestChain, a: u32, b: u32) -> Pool {
    match chain
        .query::<M>(DexQuery::Pool {
            asset_a: a,
            asset_b: b,
        })
        .unwrap()
    {
        DexResponse::Pool(Some(pool)) => pool,
        other => panic!("{other:?}"),
    }
}

fn swap_in(path: Vec<u32>, amount_in: u128, min_out: u128) -> DexCall {
    DexCall::SwapExactIn {
        path,
        amount_in,
        min_out,
        deadline_ms: None,
    }
}

/// Uniswap v2's `swapTestCases` (`test/UniswapV2Pair.spec.ts`): swap amount, reserves, the
/// output, in units of 10^18 but the output.
const SWAP_TEST_CASES: [(u128, u128, u128, u128); 7] = [
    (1, 5, 10, 1_662_497_915_624_478_906),
    (1, 10, 5, 453_305_446_940_074_565),
    (2, 5, 10, 2_851_015_155_847_869_602),
    (2, 10, 5, 831_248_957_812_239_453),
    (1, 10, 10, 906_610_893_880_149_131),
    (1, 100, 100, 987_158_034_397_061_298),
    (1, 1000, 1000, 996_006_981_039_903_216),
];

#[test]
fn uniswap_v2_swap_test_cases() {
    for (swap, r0, r1, expected) in SWAP_TEST_CASES {
        let (swap, r0, r1) = (swap * E18, r0 * E18, r1 * E18);
        assert_eq!(amount_out(swap, r0, r1, 30).unwrap(), expected);
        // The pair's own check: the output is the most that keeps the product.
        assert!(product_holds(r0, r1, r0 + swap, r1 - expected, swap, 30));
        assert!(!product_holds(
            r0,
            r1,
            r0 + swap,
            r1 - expected - 1,
            swap,
            30
        ));
    }
}

#[test]
fn uniswap_v2_swap_test_cases_through_the_module() {
    for (swap, r0, r1, expected) in SWAP_TEST_CASES {
        let mut chain = chain();
        create(&mut chain, A, B, r0 * E18, r1 * E18);
        let before = balance(&chain, B, &address(2));
        let greedy = swap_in(vec![A, B], swap * E18, expected + 1);
        assert_eq!(call(&mut chain, 2, greedy), Some(5));
        assert_eq!(
            call(&mut chain, 2, swap_in(vec![A, B], swap * E18, expected)),
            None
        );
        assert_eq!(balance(&chain, B, &address(2)), before + expected);
        let after = pool(&chain, A, B);
        assert_eq!(
            (after.reserve_a, after.reserve_b),
            (r0 * E18 + swap * E18, r1 * E18 - expected)
        );
    }
}

/// Uniswap v2's `optimisticTestCases`: output, reserves, input of the same asset. Taking one
/// unit more breaks the product check.
#[test]
fn uniswap_v2_optimistic_test_cases() {
    let cases: [(u128, u128, u128, u128); 4] = [
        (997_000_000_000_000_000, 5 * E18, 10 * E18, E18),
        (997_000_000_000_000_000, 10 * E18, 5 * E18, E18),
        (997_000_000_000_000_000, 5 * E18, 5 * E18, E18),
        (E18, 5 * E18, 5 * E18, 1_003_009_027_081_243_732),
    ];
    for (out, r0, r1, paid) in cases {
        let holds = |out: u128| product_holds(r0, r1, r0 + paid - out, r1, paid, 30);
        assert!(holds(out), "{out} out for {paid} in");
        assert!(!holds(out + 1), "{} out for {paid} in", out + 1);
    }
}

#[test]
fn get_amount_in_matches_uniswap_v2() {
    // getAmountIn(amountOut, reserveIn, reserveOut) = reserveIn*amountOut*1000 /
    // ((reserveOut-amountOut)*997) + 1: for 1e18 out of 5e18/10e18 reserves.
    let expected = crate::math::mul_div(5 * E18 * 1000, E18, (10 * E18 - E18) * 997).unwrap() + 1;
    assert_eq!(amount_in(E18, 5 * E18, 10 * E18, 30).unwrap(), expected);
    // Paying that much yields at least the amount asked.
    assert!(amount_out(expected, 5 * E18, 10 * E18, 30).unwrap() >= E18);
    assert!(
        amount_in(10 * E18, 5 * E18, 10 * E18, 30).is_err(),
        "the whole reserve"
    );
}

#[test]
fn pools_lists_every_pool_in_creation_order_a_page_at_a_time() {
    let mut chain = chain();
    create(&mut chain, B, C, 1_000_000, 2_000_000);
    create(&mut chain, A, B, 1_000_000, 4_000_000);
    create(&mut chain, C, A, 3_000_000, 1_000_000);
    let list = |chain: &TestChain, from, limit| match chain
        .query::<M>(DexQuery::Pools { from, limit })
        .unwrap()
    {
        DexResponse::Pools(listed) => listed,
        other => panic!("{other:?}"),
    };
    let all = list(&chain, 0, 10);
    assert_eq!(
        all.iter()
            .map(|p| (p.asset_a, p.asset_b))
            .collect::<Vec<_>>(),
        vec![(B, C), (A, B), (A, C)]
    );
    for listed in &all {
        assert_eq!(listed.pool, pool(&chain, listed.asset_a, listed.asset_b));
    }
    assert_eq!(list(&chain, 1, 1), all[1..2].to_vec());
    assert!(list(&chain, 3, 10).is_empty());
    // A refused creation is not listed.
    let again = DexCall::CreatePool {
        asset_a: C,
        asset_b: B,
        amount_a: 10_000,
        amount_b: 10_000,
    };
    assert_eq!(call(&mut chain, 2, again), Some(3));
    assert_eq!(list(&chain, 0, u32::MAX).len(), 3);
}

#[test]
fn a_pool_opens_once_and_locks_the_minimum() {
    let mut chain = chain();
    let before = balance(&chain, B, &address(1));
    create(&mut chain, A, B, 1_000_000, 4_000_000);
    let p = pool(&chain, B, A);
    assert_eq!(
        (p.reserve_a, p.reserve_b, p.shares),
        (1_000_000, 4_000_000, 2_000_000)
    );
    assert_eq!(balance(&chain, B, &address(1)), before - 4_000_000);
    let again = DexCall::CreatePool {
        asset_a: B,
        asset_b: A,
        amount_a: 10_000,
        amount_b: 10_000,
    };
    assert_eq!(call(&mut chain, 2, again), Some(3));
    let same = DexCall::CreatePool {
        asset_a: B,
        asset_b: B,
        amount_a: 10_000,
        amount_b: 10_000,
    };
    assert_eq!(call(&mut chain, 2, same), Some(1));
    let dust = DexCall::CreatePool {
        asset_a: A,
        asset_b: C,
        amount_a: 1_000,
        amount_b: 1_000,
    };
    assert_eq!(call(&mut chain, 2, dust), Some(4));
}

#[test]
fn a_multi_hop_swap_pays_each_pool_and_honours_one_limit() {
    let mut chain = chain();
    create(&mut chain, A, B, 1_000_000 * E18, 2_000_000 * E18);
    create(&mut chain, B, C, 2_000_000 * E18, 500_000 * E18);
    let quote = match chain
        .query::<M>(DexQuery::QuoteExactIn {
            path: vec![A, B, C],
            amount_in: 1_000 * E18,
        })
        .unwrap()
    {
        DexResponse::Quote(q) => q.into_iter().map(|a| a.0).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let mid = amount_out(1_000 * E18, 1_000_000 * E18, 2_000_000 * E18, 30).unwrap();
    let out = amount_out(mid, 2_000_000 * E18, 500_000 * E18, 30).unwrap();
    assert_eq!(quote, vec![1_000 * E18, mid, out]);
    assert_eq!(
        call(&mut chain, 2, swap_in(vec![A, B, C], 1_000 * E18, out + 1)),
        Some(5)
    );
    let (a0, c0) = (
        balance(&chain, A, &address(2)),
        balance(&chain, C, &address(2)),
    );
    assert_eq!(
        call(&mut chain, 2, swap_in(vec![A, B, C], 1_000 * E18, out)),
        None
    );
    assert_eq!(balance(&chain, A, &address(2)), a0 - 1_000 * E18);
    assert_eq!(balance(&chain, C, &address(2)), c0 + out);
    let ab = pool(&chain, A, B);
    assert_eq!(
        (ab.reserve_a, ab.reserve_b),
        (1_001_000 * E18, 2_000_000 * E18 - mid)
    );
    let bc = pool(&chain, B, C);
    assert_eq!(
        (bc.reserve_a, bc.reserve_b),
        (2_000_000 * E18 + mid, 500_000 * E18 - out)
    );
    // Each pool's reserves are exactly its account's balances.
    for (pair, p) in [((A, B), ab), ((B, C), bc)] {
        assert_eq!(balance(&chain, pair.0, &pool_account(pair)), p.reserve_a);
        assert_eq!(balance(&chain, pair.1, &pool_account(pair)), p.reserve_b);
    }
}

#[test]
fn an_exact_out_swap_pays_no_more_than_its_limit() {
    let mut chain = chain();
    create(&mut chain, A, B, 1_000_000 * E18, 2_000_000 * E18);
    create(&mut chain, B, C, 2_000_000 * E18, 500_000 * E18);
    let want = 100 * E18;
    let mid = amount_in(want, 2_000_000 * E18, 500_000 * E18, 30).unwrap();
    let cost = amount_in(mid, 1_000_000 * E18, 2_000_000 * E18, 30).unwrap();
    let exact_out = |max_in| DexCall::SwapExactOut {
        path: vec![A, B, C],
        amount_out: want,
        max_in,
        deadline_ms: None,
    };
    assert_eq!(call(&mut chain, 3, exact_out(cost - 1)), Some(5));
    let (a0, c0) = (
        balance(&chain, A, &address(3)),
        balance(&chain, C, &address(3)),
    );
    assert_eq!(call(&mut chain, 3, exact_out(cost)), None);
    assert_eq!(balance(&chain, A, &address(3)), a0 - cost);
    assert_eq!(balance(&chain, C, &address(3)), c0 + want);
    let too_much = DexCall::SwapExactOut {
        path: vec![B, C],
        amount_out: 10_000_000 * E18,
        max_in: u128::MAX,
        deadline_ms: None,
    };
    assert_eq!(call(&mut chain, 3, too_much), Some(12));
}

#[test]
fn bad_paths_deadlines_and_amounts_get_typed_errors() {
    let mut chain = chain();
    create(&mut chain, A, B, 1_000_000, 1_000_000);
    assert_eq!(call(&mut chain, 2, swap_in(vec![A], 10, 0)), Some(11));
    assert_eq!(call(&mut chain, 2, swap_in(vec![A, B, A], 10, 0)), Some(14));
    assert_eq!(
        call(&mut chain, 2, swap_in(vec![1, 2, 3, 4, 5, 6], 10, 0)),
        Some(11)
    );
    assert_eq!(call(&mut chain, 2, swap_in(vec![A, C], 10, 0)), Some(2));
    assert_eq!(call(&mut chain, 2, swap_in(vec![A, B], 0, 0)), Some(4));
    // Test blocks are one second apart, block 1 at 1 000 ms.
    let late = DexCall::SwapExactIn {
        path: vec![A, B],
        amount_in: 1_000,
        min_out: 0,
        deadline_ms: Some(500),
    };
    assert_eq!(call(&mut chain, 2, late), Some(10));
    let in_time = DexCall::SwapExactIn {
        path: vec![A, B],
        amount_in: 1_000,
        min_out: 0,
        deadline_ms: Some(u64::MAX),
    };
    assert_eq!(call(&mut chain, 2, in_time), None);
    let poor = DexCall::SwapExactIn {
        path: vec![A, B],
        amount_in: FUNDS + 1,
        min_out: 0,
        deadline_ms: None,
    };
    assert_eq!(call(&mut chain, 2, poor), Some(8));
}

#[test]
fn decimal_strings_carry_amounts_past_2_64() {
    let json = serde_json::json!({"swap_exact_in": {"path": [1, 2], "amount_in": "100000000000000000000", "min_out": "0"}});
    let call: DexCall = serde_json::from_value(json).unwrap();
    assert_eq!(call, swap_in(vec![A, B], 100 * E18, 0));
    let back = serde_json::to_value(&call).unwrap();
    assert_eq!(back["swap_exact_in"]["amount_in"], "100000000000000000000");
}

#[test]
fn cumulative_prices_weight_each_price_by_the_time_it_held() {
    let mut chain = chain();
    create(&mut chain, A, B, 3 * E18, 3 * E18); // block 1, t = 1 s
    let start = pool(&chain, A, B);
    // Blocks 2 and 3: a price of 1 holds until the swap in block 3 (t = 3 s).
    assert_eq!(call(&mut chain, 2, swap_in(vec![B, A], E18, 0)), None); // block 2
    let after_first = pool(&chain, A, B);
    assert_eq!(after_first.price_a_cumulative, E18); // one second at price 1
    assert_eq!(call(&mut chain, 2, swap_in(vec![B, A], E18, 0)), None); // block 3
    let later = pool(&chain, A, B);
    let price_between = after_first.reserve_b * E18 / after_first.reserve_a;
    assert_eq!(later.price_a_cumulative, E18 + price_between);
    assert_eq!(
        average_price(
            (start.price_a_cumulative, start.last_update_secs),
            (later.price_a_cumulative, later.last_update_secs)
        ),
        Some((E18 + price_between) / 2)
    );
}

/// The first-depositor (share-inflation) attack, as against an empty vault: the attacker
/// opens the pool with the least it can and sends a large amount straight to the pool's
/// account, hoping the next provider's deposit rounds to nothing. The donation is not in the
/// reserves, so it buys nothing and is lost; and the locked shares keep the share price
/// from starting at one unit.
#[test]
fn first_depositor_attack_leaves_the_attacker_poorer() {
    let mut chain = chain();
    let attacker = address(4);
    let wealth = |chain: &TestChain| balance(chain, A, &attacker) + balance(chain, B, &attacker);
    let start = wealth(&chain);
    let open = DexCall::CreatePool {
        asset_a: A,
        asset_b: B,
        amount_a: 1_001,
        amount_b: 1_001,
    };
    assert_eq!(call(&mut chain, 4, open), None);
    let account = pool_account((A, B));
    let donate = lamina_agreement::modules::bank::BankCall::Transfer {
        to: account,
        asset: A,
        amount: 1_000_000 * E18,
    };
    chain.call::<Bank>(&key(4), &donate).unwrap();
    let donate_b = lamina_agreement::modules::bank::BankCall::Transfer {
        to: account,
        asset: B,
        amount: 1_000_000 * E18,
    };
    chain.call::<Bank>(&key(4), &donate_b).unwrap();
    // The victim deposits at the pool's recorded price and gets shares in proportion.
    let add = DexCall::AddLiquidity {
        asset_a: A,
        asset_b: B,
        max_a: 10 * E18,
        max_b: 10 * E18,
        min_shares: 1,
    };
    assert_eq!(call(&mut chain, 5, add), None);
    let victim_shares = match chain
        .query::<M>(DexQuery::Shares {
            asset_a: A,
            asset_b: B,
            account: address(5),
        })
        .unwrap()
    {
        DexResponse::Shares(s) => s,
        other => panic!("{other:?}"),
    };
    assert!(
        victim_shares >= 10 * E18 - 1,
        "the victim's deposit is not diluted: {victim_shares}"
    );
    // The attacker redeems all it can.
    let remove = DexCall::RemoveLiquidity {
        asset_a: A,
        asset_b: B,
        shares: 1,
        min_a: 0,
        min_b: 0,
    };
    assert_eq!(call(&mut chain, 4, remove), None);
    assert!(
        wealth(&chain) < start,
        "the attacker lost its donation and the locked shares"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Add(u64, u128, u128),
    Remove(u64, u128),
    SwapIn(u64, bool, bool, u128),
    SwapOut(u64, bool, u128),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 1..=ACCOUNTS;
    prop_oneof![
        (who.clone(), 1u128..1u128 << 90, 1u128..1u128 << 90)
            .prop_map(|(w, a, b)| Op::Add(w, a, b)),
        (who.clone(), 1u128..1u128 << 80).prop_map(|(w, s)| Op::Remove(w, s)),
        (
            who.clone(),
            any::<bool>(),
            any::<bool>(),
            1u128..1u128 << 85
        )
            .prop_map(|(w, d, m, a)| Op::SwapIn(w, d, m, a)),
        (who, any::<bool>(), 1u128..1u128 << 80).prop_map(|(w, d, a)| Op::SwapOut(w, d, a)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Over random sequences of provisions, redemptions and one- and two-hop swaps: assets
    /// are conserved, every pool's reserves equal its account's balances, the product of
    /// reserves never falls on a swap, and shares outstanding are the locked ones plus the
    /// providers'.
    #[test]
    fn pools_stay_solvent_and_assets_are_conserved(ops in proptest::collection::vec(op(), 1..40)) {
        let mut chain = chain();
        create(&mut chain, A, B, 1_000 * E18, 3_000 * E18);
        create(&mut chain, B, C, 2_000 * E18, 1_000 * E18);
        let total = |chain: &TestChain, asset: u32| -> u128 {
            let mut sum: u128 = (1..=ACCOUNTS).map(|i| balance(chain, asset, &address(i))).sum();
            for pair in [(A, B), (B, C)] {
                sum += balance(chain, asset, &pool_account(pair));
            }
            sum
        };
        let supply: Vec<u128> = [A, B, C].iter().map(|a| total(&chain, *a)).collect();
        for op in ops {
            let products: Vec<_> = [(A, B), (B, C)].iter().map(|(a, b)| { let p = pool(&chain, *a, *b); crate::math::wide_mul(p.reserve_a, p.reserve_b) }).collect();
            let (call_, swap) = match op {
                Op::Add(w, a, b) => (w, DexCall::AddLiquidity { asset_a: A, asset_b: B, max_a: a, max_b: b, min_shares: 0 }),
                Op::Remove(w, s) => (w, DexCall::RemoveLiquidity { asset_a: B, asset_b: C, shares: s, min_a: 0, min_b: 0 }),
                Op::SwapIn(w, forward, two_hops, amount) => {
                    let mut path = if two_hops { vec![A, B, C] } else { vec![A, B] };
                    if !forward { path.reverse(); }
                    (w, swap_in(path, amount, 0))
                }
                Op::SwapOut(w, forward, amount) => {
                    let path = if forward { vec![A, B, C] } else { vec![C, B, A] };
                    (w, DexCall::SwapExactOut { path, amount_out: amount, max_in: u128::MAX, deadline_ms: None })
                }
            };
            let is_swap = matches!(swap, DexCall::SwapExactIn { .. } | DexCall::SwapExactOut { .. });
            let _ = call(&mut chain, call_, swap);
            for (i, pair) in [(A, B), (B, C)].into_iter().enumerate() {
                let p = pool(&chain, pair.0, pair.1);
                prop_assert_eq!(balance(&chain, pair.0, &pool_account(pair)), p.reserve_a);
                prop_assert_eq!(balance(&chain, pair.1, &pool_account(pair)), p.reserve_b);
                if is_swap {
                    prop_assert!(crate::math::wide_mul(p.reserve_a, p.reserve_b) >= products[i]);
                }
                let held: u128 = (1..=ACCOUNTS).map(|w| match chain.query::<M>(DexQuery::Shares { asset_a: pair.0, asset_b: pair.1, account: address(w) }).unwrap() {
                    DexResponse::Shares(s) => s,
                    other => panic!("{other:?}"),
                }).sum();
                prop_assert_eq!(held + MIN_LIQUIDITY, p.shares);
            }
        }
        for (i, asset) in [A, B, C].into_iter().enumerate() {
            prop_assert_eq!(total(&chain, asset), supply[i]);
        }
    }
}
