//! The module with the bank and the oracle on a runtime over in-memory state: the rate
//! model's figures, the flows, every typed refusal, liquidation and bad debt, the
//! first-depositor attack; and property tests over random sequences of calls and price moves.

#![allow(clippy::unwrap_used)]

use lamina_agreement::modules::bank::{Bank, BankCall};
use lamina_agreement::testing::{key, TestChain};
use lamina_interop::module::Amount;
use proptest::prelude::*;

use super::call::bonus_bps;
use super::*;
use crate::math::WAD;
use crate::oracle::{FeedGenesis, Oracle, OracleCall, OracleGenesis, ONE};
use crate::testkit::{self, address, balance, code, ACCOUNTS};

const USD: u32 = 1;
const ETH: u32 = 2;
const E18: u128 = 1_000_000_000_000_000_000;
const FEEDER: u64 = 6;

type M = Lending<Bank, Oracle>;

fn genesis(max_price_age_blocks: u64) -> LendingGenesis {
    let mut g = LendingGenesis::default();
    g.params.max_price_age_blocks = max_price_age_blocks;
    g.params.blocks_per_year = 1_000;
    g.markets = vec![
        MarketGenesis {
            asset: USD,
            config: MarketConfig::new(8_000, 8_500),
        },
        MarketGenesis {
            asset: ETH,
            config: MarketConfig::new(7_500, 8_000),
        },
    ];
    g
}

fn chain_with(lending: LendingGenesis) -> TestChain {
    let oracle = OracleGenesis {
        params: crate::oracle::Params {
            max_report_age_blocks: 1_000,
            min_reports: 1,
            max_move_bps: 0,
        },
        feeders: vec![address(FEEDER)],
        feeds: vec![
            FeedGenesis {
                asset: USD,
                price: Some(ONE),
                fixed: true,
            },
            FeedGenesis {
                asset: ETH,
                price: Some(2_000 * ONE),
                fixed: false,
            },
        ],
    };
    testkit::chain(
        |b| {
            b.module(Oracle)
                .module(Lending::new(Bank, Oracle, &[USD, ETH]))
        },
        &[USD, ETH],
        vec![
            ("oracle", serde_json::to_value(oracle).unwrap()),
            ("lending", serde_json::to_value(lending).unwrap()),
        ],
    )
}

fn chain() -> TestChain {
    chain_with(genesis(1_000))
}

fn call(chain: &mut TestChain, who: u64, call: LendingCall) -> Option<u32> {
    code(&chain.call::<M>(&key(who), &call).unwrap())
}

fn supply(asset: u32, amount: u128) -> LendingCall {
    LendingCall::Supply { asset, amount }
}

fn borrow(asset: u32, amount: u128) -> LendingCall {
    LendingCall::Borrow { asset, amount }
}

fn set_price(chain: &mut TestChain, value: u128) {
    let report = OracleCall::Report {
        prices: vec![(ETH, Amount(value))],
    };
    assert_eq!(
        code(&chain.call::<Oracle>(&key(FEEDER), &report).unwrap()),
        None
    );
}

fn market(chain: &TestChain, asset: u32) -> MarketView {
    match chain.query::<M>(LendingQuery::Market { asset }).unwrap() {
        LendingResponse::Market(view) => view,
        other => panic!("{other:?}"),
    }
}

fn account(chain: &TestChain, who: u64) -> AccountView {
    match chain
        .query::<M>(LendingQuery::Account {
            account: address(who),
        })
        .unwrap()
    {
        LendingResponse::Account(view) => view,
        other => panic!("{other:?}"),
    }
}

/// The four invariants of the design note, checked against the bank.
fn check_books(chain: &TestChain) {
    for asset in [USD, ETH] {
        let m = market(chain, asset).market;
        assert_eq!(
            balance(chain, asset, &lending_account()),
            m.cash,
            "cash is the ledger's balance"
        );
        assert_eq!(
            m.cash + m.borrows + m.bad_debt,
            m.supplied + m.reserves,
            "the books balance: {m:?}"
        );
        let shares: u128 = (1..=ACCOUNTS)
            .flat_map(|w| account(chain, w).positions)
            .filter(|p| p.asset == asset)
            .map(|p| p.shares)
            .sum();
        assert_eq!(shares, m.shares, "shares add up");
    }
}

#[test]
fn the_rate_model_gives_the_formulas_figures() {
    let chain = chain();
    // base 2%, 10% up to the 80% kink, 300% above; reserve factor 10%.
    for (u_bps, borrow_pct_e2, supply_pct_e2) in [
        (0, 200, 0),            // 2%, 0%
        (5_000, 700, 315),      // 7%, 0.5 * 7% * 0.9 = 3.15%
        (8_000, 1_000, 720),    // 10%, 7.2%
        (9_000, 4_000, 3_240),  // 10% + 30%, 0.9 * 40% * 0.9 = 32.4%
        (10_000, 7_000, 6_300), // 10% + 60%, 63%
    ] {
        match chain
            .query::<M>(LendingQuery::RatesAt {
                asset: USD,
                utilisation_bps: u_bps,
            })
            .unwrap()
        {
            LendingResponse::Rates {
                borrow_rate_wad,
                supply_rate_wad,
            } => {
                assert_eq!(
                    borrow_rate_wad,
                    borrow_pct_e2 * WAD / 10_000,
                    "borrow at {u_bps}"
                );
                assert_eq!(
                    supply_rate_wad,
                    supply_pct_e2 * WAD / 10_000,
                    "supply at {u_bps}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn markets_lists_each_open_market_as_market_shows_it() {
    let mut chain = chain();
    assert_eq!(call(&mut chain, 1, supply(USD, 10_000 * E18)), None);
    let listed = match chain.query::<M>(LendingQuery::Markets).unwrap() {
        LendingResponse::Markets(views) => views,
        other => panic!("{other:?}"),
    };
    assert_eq!(listed, vec![market(&chain, USD), market(&chain, ETH)]);
    assert_eq!(listed[0].market.supplied, 10_000 * E18);
    // A market genesis did not open is not listed.
    let mut only_usd = genesis(1_000);
    only_usd.markets.truncate(1);
    let chain = chain_with(only_usd);
    match chain.query::<M>(LendingQuery::Markets).unwrap() {
        LendingResponse::Markets(views) => {
            assert_eq!(
                views.iter().map(|v| v.market.asset).collect::<Vec<_>>(),
                vec![USD]
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn supply_borrow_accrue_repay() {
    let mut chain = chain();
    assert_eq!(call(&mut chain, 1, supply(USD, 10_000 * E18)), None);
    assert_eq!(call(&mut chain, 2, supply(ETH, 10 * E18)), None); // worth 20 000
                                                                  // 75% of 20 000 may be borrowed.
    assert_eq!(
        call(&mut chain, 2, borrow(USD, 15_000 * E18)),
        Some(6),
        "only 10 000 in cash"
    );
    assert_eq!(call(&mut chain, 2, borrow(USD, 5_000 * E18)), None);
    let m = market(&chain, USD);
    assert_eq!(m.utilisation_wad, WAD / 2);
    let usd_before = balance(&chain, USD, &address(2));
    // 10 blocks at 7% a year of 1 000 blocks: f = 0.07 * 10 / 1000 = 0.0007.
    for _ in 0..9 {
        chain.block(&[]).unwrap();
    }
    let repay_all = LendingCall::Repay {
        asset: USD,
        amount: u128::MAX,
        on_behalf: None,
    };
    let receipt = chain.call::<M>(&key(2), &repay_all).unwrap();
    assert_eq!(code(&receipt), None);
    let paid = usd_before - balance(&chain, USD, &address(2));
    assert_eq!(
        paid,
        5_000 * E18 + 5_000 * E18 * 7 / 10_000,
        "principal plus 0.07% interest"
    );
    let m = market(&chain, USD).market;
    assert_eq!(m.borrows, 0);
    assert_eq!(
        m.reserves,
        5_000 * E18 * 7 / 10_000 / 10,
        "10% of the interest"
    );
    check_books(&chain);
    // The supplier withdraws everything, with 90% of the interest.
    let usd_before = balance(&chain, USD, &address(1));
    assert_eq!(
        call(
            &mut chain,
            1,
            LendingCall::Withdraw {
                asset: USD,
                amount: u128::MAX
            }
        ),
        None
    );
    let got = balance(&chain, USD, &address(1)) - usd_before;
    let interest = 5_000 * E18 * 7 / 10_000 * 9 / 10;
    assert!(
        got <= 10_000 * E18 + interest && got + 2 >= 10_000 * E18 + interest,
        "{got}"
    );
    check_books(&chain);
}

#[test]
fn a_stale_or_missing_price_refuses_what_needs_one() {
    let mut chain = chain_with(genesis(3));
    assert_eq!(call(&mut chain, 1, supply(USD, 10_000 * E18)), None);
    assert_eq!(call(&mut chain, 2, supply(ETH, 10 * E18)), None);
    // ETH's price was set at genesis, now 3 blocks old.
    chain.block(&[]).unwrap();
    assert_eq!(call(&mut chain, 2, borrow(USD, E18)), Some(4), "stale");
    set_price(&mut chain, 2_000 * ONE);
    assert_eq!(call(&mut chain, 2, borrow(USD, E18)), None);
    // Supply and repay need no price.
    for _ in 0..5 {
        chain.block(&[]).unwrap();
    }
    assert_eq!(call(&mut chain, 3, supply(ETH, E18)), None);
    assert_eq!(
        call(
            &mut chain,
            2,
            LendingCall::Repay {
                asset: USD,
                amount: E18,
                on_behalf: None
            }
        ),
        None
    );
    assert_eq!(
        call(
            &mut chain,
            3,
            LendingCall::Withdraw {
                asset: ETH,
                amount: E18 / 2
            }
        ),
        None,
        "no debt, no price needed"
    );
}

#[test]
fn bad_input_gets_typed_errors() {
    let mut g = genesis(1_000);
    g.markets[0].config.supply_cap = 1_000 * E18;
    g.markets[0].config.borrow_cap = 100 * E18;
    let mut chain = chain_with(g);
    assert_eq!(
        call(&mut chain, 1, supply(9, E18)),
        Some(1),
        "unknown market"
    );
    assert_eq!(call(&mut chain, 1, supply(USD, 0)), Some(2), "zero");
    assert_eq!(
        call(&mut chain, 1, supply(USD, 1_001 * E18)),
        Some(5),
        "supply cap"
    );
    assert_eq!(call(&mut chain, 1, supply(USD, 1_000 * E18)), None);
    assert_eq!(call(&mut chain, 2, supply(ETH, 10 * E18)), None);
    assert_eq!(
        call(&mut chain, 2, borrow(USD, 101 * E18)),
        Some(5),
        "borrow cap"
    );
    assert_eq!(
        call(&mut chain, 3, borrow(USD, E18)),
        Some(8),
        "no collateral"
    );
    assert_eq!(
        call(
            &mut chain,
            3,
            LendingCall::Withdraw {
                asset: USD,
                amount: E18
            }
        ),
        Some(7)
    );
    assert_eq!(
        call(
            &mut chain,
            3,
            LendingCall::Repay {
                asset: USD,
                amount: E18,
                on_behalf: None
            }
        ),
        Some(2)
    );
    let healthy = LendingCall::Liquidate {
        borrower: address(2),
        debt_asset: USD,
        collateral_asset: ETH,
        max_repay: E18,
    };
    assert_eq!(
        call(&mut chain, 3, healthy.clone()),
        Some(9),
        "not liquidatable"
    );
    assert_eq!(call(&mut chain, 2, healthy), Some(11), "self");
    assert_eq!(
        call(&mut chain, 6, supply(ETH, 2 * testkit::FUNDS)),
        Some(13),
        "the ledger refuses"
    );
    // Genesis that opens a market the module was not composed with is refused.
    let mut stray = genesis(10);
    stray.markets[1].asset = 9;
    let sections = std::collections::BTreeMap::from([(
        "lending".to_string(),
        serde_json::to_value(stray).unwrap(),
    )]);
    let runtime = lamina_agreement::Runtime::builder(lamina_agreement::RuntimeConfig::new(
        lamina_interop::ChainId(7),
    ))
    .module(Oracle)
    .module(Lending::new(Bank, Oracle, &[USD, ETH]))
    .build()
    .unwrap();
    assert!(TestChain::new(runtime, &sections).is_err());
    // A composed market that genesis does not open stays closed.
    let mut one = genesis(10);
    one.markets.pop();
    let mut closed = chain_with(one);
    assert_eq!(call(&mut closed, 2, supply(ETH, E18)), Some(1));
}

#[test]
fn below_health_one_no_borrow_or_withdrawal_and_a_liquidation_restores_health() {
    let mut chain = chain();
    assert_eq!(call(&mut chain, 1, supply(USD, 100_000 * E18)), None);
    assert_eq!(call(&mut chain, 2, supply(ETH, 10 * E18)), None); // 20 000
    assert_eq!(call(&mut chain, 2, borrow(USD, 15_000 * E18)), None); // the limit
    assert_eq!(call(&mut chain, 2, borrow(USD, E18)), Some(8));
    // ETH falls 10%: collateral 18 000, weighted 14 400, debt 15 000: health 0.96.
    set_price(&mut chain, 1_800 * ONE);
    let before = account(&chain, 2).health_factor_wad.unwrap();
    assert!(before < WAD && before > 95 * WAD / 100, "{before}");
    assert_eq!(call(&mut chain, 2, borrow(USD, 1)), Some(8));
    assert_eq!(
        call(
            &mut chain,
            2,
            LendingCall::Withdraw {
                asset: ETH,
                amount: 1
            }
        ),
        Some(8)
    );
    // A liquidator repays up to half; the bonus is cut so health does not fall.
    let liquidate = LendingCall::Liquidate {
        borrower: address(2),
        debt_asset: USD,
        collateral_asset: ETH,
        max_repay: u128::MAX,
    };
    let receipt = chain.call::<M>(&key(3), &liquidate).unwrap();
    assert_eq!(code(&receipt), None);
    let events = chain.events::<M>(&receipt);
    let LendingEvent::Liquidated {
        repaid,
        bonus_bps,
        seized,
        ..
    } = events[0].clone()
    else {
        panic!("{events:?}")
    };
    assert!(
        (7_500 * E18..=7_510 * E18).contains(&repaid),
        "half the debt with its interest: {repaid}"
    );
    assert_eq!(bonus_bps, 500, "health 0.96 leaves room for the whole 5%");
    assert_eq!(
        seized,
        repaid * 105 / 100 / 1_800,
        "repayment plus 5%, at 1 800"
    );
    let after = account(&chain, 2).health_factor_wad.unwrap();
    assert!(after > before, "{after} <= {before}");
    assert!(account(&chain, 3)
        .positions
        .iter()
        .any(|p| p.asset == ETH && p.shares > 0));
    check_books(&chain);
}

#[test]
fn collateral_that_runs_out_leaves_bad_debt_on_the_books() {
    let mut chain = chain();
    assert_eq!(call(&mut chain, 1, supply(USD, 100_000 * E18)), None);
    assert_eq!(call(&mut chain, 2, supply(ETH, 10 * E18)), None);
    assert_eq!(call(&mut chain, 2, borrow(USD, 15_000 * E18)), None);
    // ETH crashes to 1 000: collateral 10 000 against a debt of 15 000.
    set_price(&mut chain, 1_000 * ONE);
    let liquidate = LendingCall::Liquidate {
        borrower: address(2),
        debt_asset: USD,
        collateral_asset: ETH,
        max_repay: u128::MAX,
    };
    let receipt = chain.call::<M>(&key(3), &liquidate).unwrap();
    assert_eq!(code(&receipt), None);
    let events = chain.events::<M>(&receipt);
    // Insolvent: what 10 000 of collateral cannot cover with the 5% bonus is written off
    // first, then the liquidator repays the rest and takes the collateral, at the full bonus.
    assert!(
        matches!(
            events.first(),
            Some(LendingEvent::BadDebt { asset: USD, .. })
        ),
        "{events:?}"
    );
    assert!(
        matches!(
            events.get(1),
            Some(LendingEvent::Liquidated { bonus_bps: 500, .. })
        ),
        "{events:?}"
    );
    let view = account(&chain, 2);
    assert!(view.debt_value <= 1_000, "no debt left but dust: {view:?}");
    assert!(
        view.collateral_value <= 1_000,
        "no collateral left but dust: {view:?}"
    );
    let m = market(&chain, USD).market;
    assert!(m.bad_debt > 5_000 * E18, "{m:?}");
    check_books(&chain);
}

#[test]
fn repay_on_behalf_of_another() {
    let mut chain = chain();
    assert_eq!(call(&mut chain, 1, supply(USD, 100_000 * E18)), None);
    assert_eq!(call(&mut chain, 2, supply(ETH, 10 * E18)), None);
    assert_eq!(call(&mut chain, 2, borrow(USD, 1_000 * E18)), None);
    let friend = LendingCall::Repay {
        asset: USD,
        amount: u128::MAX,
        on_behalf: Some(address(2)),
    };
    assert_eq!(call(&mut chain, 4, friend), None);
    assert_eq!(account(&chain, 2).debt_value, 0);
    check_books(&chain);
}

/// The first-depositor attack on an empty market: supply one unit, donate a fortune to the
/// market's account so the share price soars, and let the next supplier's shares round to
/// nothing. Cash is the market's own record (a donation is not in it) and shares carry a
/// virtual offset, so the victim is not diluted and the attacker loses its donation.
#[test]
fn first_depositor_attack_leaves_the_attacker_poorer() {
    let mut chain = chain();
    let start = balance(&chain, USD, &address(4));
    assert_eq!(call(&mut chain, 4, supply(USD, 1)), None);
    let donate = BankCall::Transfer {
        to: lending_account(),
        asset: USD,
        amount: 1_000_000 * E18,
    };
    chain.call::<Bank>(&key(4), &donate).unwrap();
    assert_eq!(call(&mut chain, 5, supply(USD, 1_000 * E18)), None);
    let victim = account(&chain, 5).positions[0].supplied;
    assert!(
        victim + 1 >= 1_000 * E18,
        "the victim keeps its deposit: {victim}"
    );
    assert_eq!(
        call(
            &mut chain,
            4,
            LendingCall::Withdraw {
                asset: USD,
                amount: u128::MAX
            }
        ),
        None
    );
    assert!(balance(&chain, USD, &address(4)) < start);
}

#[test]
fn the_bonus_never_lets_a_solvent_liquidation_lower_health() {
    // health 0.96, threshold 0.8: 0.96 / 0.8 - 1 = 20%, the whole 5% fits.
    assert_eq!(bonus_bps(96 * WAD / 100, 8_000, 500), 500);
    // health 0.82: 2.5% of room.
    assert_eq!(bonus_bps(82 * WAD / 100, 8_000, 500), 250);
    // Below the threshold the collateral is worth less than the debt: the full bonus.
    assert_eq!(bonus_bps(79 * WAD / 100, 8_000, 500), 500);
}

#[derive(Debug, Clone)]
enum Op {
    Supply(u64, bool, u128),
    Withdraw(u64, bool, u128),
    Borrow(u64, bool, u128),
    Repay(u64, u64, bool, u128),
    Liquidate(u64, u64, bool, bool, u128),
    Price(u128),
    Wait(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 1..=5u64;
    let amount = prop_oneof![1u128..1_000, 1u128..1 << 70, Just(u128::MAX)];
    prop_oneof![
        3 => (who.clone(), any::<bool>(), 1u128..1 << 75).prop_map(|(w, e, a)| Op::Supply(w, e, a)),
        1 => (who.clone(), any::<bool>(), amount.clone()).prop_map(|(w, e, a)| Op::Withdraw(w, e, a)),
        3 => (who.clone(), any::<bool>(), 1u128..1 << 74).prop_map(|(w, e, a)| Op::Borrow(w, e, a)),
        1 => (who.clone(), who.clone(), any::<bool>(), amount.clone()).prop_map(|(w, b, e, a)| Op::Repay(w, b, e, a)),
        2 => (who.clone(), who, any::<bool>(), any::<bool>(), amount).prop_map(|(w, b, d, c, a)| Op::Liquidate(w, b, d, c, a)),
        2 => (200u128..4_000).prop_map(|p| Op::Price(p * ONE)),
        1 => (1u8..50).prop_map(Op::Wait),
    ]
}

fn asset(eth: bool) -> u32 {
    if eth {
        ETH
    } else {
        USD
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Over random sequences of supplies, withdrawals, borrows, repayments, liquidations,
    /// price moves and waits: the books balance to the unit and match the ledger; value is
    /// conserved; an account below health 1 never borrows or withdraws; a liquidation never
    /// lowers a solvent borrower's health unless it records bad debt.
    #[test]
    fn the_books_balance_and_health_is_respected(ops in proptest::collection::vec(op(), 1..30)) {
        let mut chain = chain();
        let total = |chain: &TestChain, asset: u32| -> u128 {
            (1..=ACCOUNTS).map(|i| balance(chain, asset, &address(i))).sum::<u128>() + balance(chain, asset, &lending_account())
        };
        let supply_before = [total(&chain, USD), total(&chain, ETH)];
        for op in ops {
            let health = |chain: &TestChain, who: u64| account(chain, who).health_factor_wad;
            match op {
                Op::Supply(w, e, a) => { call(&mut chain, w, supply(asset(e), a)); }
                Op::Withdraw(w, e, a) | Op::Borrow(w, e, a) => {
                    let before = health(&chain, w);
                    let c = if matches!(op, Op::Withdraw(..)) { LendingCall::Withdraw { asset: asset(e), amount: a } } else { borrow(asset(e), a) };
                    let result = call(&mut chain, w, c);
                    if before.is_some_and(|h| h < WAD) {
                        prop_assert!(result.is_some(), "an account below health 1 borrowed or withdrew");
                    }
                    if result.is_none() {
                        let after = health(&chain, w);
                        prop_assert!(after.is_none_or(|h| h >= WAD), "left below health 1: {:?}", after);
                    }
                }
                Op::Repay(w, b, e, a) => { call(&mut chain, w, LendingCall::Repay { asset: asset(e), amount: a, on_behalf: Some(address(b)) }); }
                Op::Liquidate(w, b, d, c, a) => {
                    let before = health(&chain, b);
                    let bad_before = market(&chain, USD).market.bad_debt + market(&chain, ETH).market.bad_debt;
                    let threshold = if c { 8_000 } else { 8_500 };
                    let liquidate = LendingCall::Liquidate { borrower: address(b), debt_asset: asset(d), collateral_asset: asset(c), max_repay: a };
                    if call(&mut chain, w, liquidate).is_none() {
                        let before = before.unwrap();
                        prop_assert!(before < WAD);
                        let bad_after = market(&chain, USD).market.bad_debt + market(&chain, ETH).market.bad_debt;
                        let _ = threshold;
                        if bad_after == bad_before {
                            let after = health(&chain, b).unwrap_or(u128::MAX);
                            prop_assert!(after >= before, "a liquidation lowered health {} -> {}", before, after);
                        }
                    }
                }
                Op::Price(p) => set_price(&mut chain, p),
                Op::Wait(n) => for _ in 0..n { chain.block(&[]).unwrap(); },
            }
            check_books(&chain);
        }
        prop_assert_eq!([total(&chain, USD), total(&chain, ETH)], supply_before);
    }
}
