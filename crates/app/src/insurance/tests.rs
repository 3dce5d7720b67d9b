//! The module with the bank on a runtime over in-memory state: premiums, votes, payouts,
//! the bad-debt trigger with lending, every typed refusal, the first-depositor attack; and
//! property tests over random sequences of calls.

#![allow(clippy::unwrap_used)]

use lamina_agreement::modules::bank::{Bank, BankCall};
use lamina_agreement::testing::{key, TestChain};
use lamina_interop::module::{Amount, NoBadDebt};
use proptest::prelude::*;

use super::*;
use crate::testkit::{self, address, balance, code, ACCOUNTS};

const USD: u32 = 1;
const E18: u128 = 1_000_000_000_000_000_000;
const YEAR: u64 = 1_000;

type M = Insurance<Bank, NoBadDebt>;

fn genesis() -> InsuranceGenesis {
    InsuranceGenesis {
        params: Params {
            blocks_per_year: YEAR,
            voting_blocks: 5,
            max_cover_blocks: 2 * YEAR,
        },
        pools: vec![PoolGenesis {
            id: 0,
            asset: USD,
            risk: "a hack of the bridge".into(),
            trigger: Trigger::Vote,
            base_rate_bps: 200,
            slope_bps: 1_000,
            max_utilisation_bps: 9_000,
        }],
    }
}

fn chain() -> TestChain {
    testkit::chain(
        |b| b.module(Insurance::new(Bank, NoBadDebt, &[USD])),
        &[USD],
        vec![("insurance", serde_json::to_value(genesis()).unwrap())],
    )
}

fn call(chain: &mut TestChain, who: u64, call: InsuranceCall) -> Option<u32> {
    code(&chain.call::<M>(&key(who), &call).unwrap())
}

fn deposit(amount: u128) -> InsuranceCall {
    InsuranceCall::Deposit { pool: 0, amount }
}

fn buy(cover: u64, amount: u128, period_blocks: u64) -> InsuranceCall {
    InsuranceCall::BuyCover {
        pool: 0,
        cover,
        amount,
        period_blocks,
        max_premium: u128::MAX,
    }
}

fn vote(holder: u64, cover: u64, approve: bool) -> InsuranceCall {
    InsuranceCall::Vote {
        pool: 0,
        holder: address(holder),
        cover,
        approve,
    }
}

fn settle(holder: u64, cover: u64) -> InsuranceCall {
    InsuranceCall::Settle {
        pool: 0,
        holder: address(holder),
        cover,
    }
}

fn pool(chain: &TestChain) -> PoolView {
    match chain.query::<M>(InsuranceQuery::Pool { pool: 0 }).unwrap() {
        InsuranceResponse::Pool(view) => view,
        other => panic!("{other:?}"),
    }
}

/// The vault holds exactly every pool's capital, and shares add up.
fn check(chain: &TestChain) {
    let view = pool(chain);
    assert_eq!(balance(chain, USD, &insurance_account()), view.pool.capital);
    let shares: u128 = (1..=ACCOUNTS)
        .map(|w| {
            match chain
                .query::<M>(InsuranceQuery::Underwriter {
                    pool: 0,
                    account: address(w),
                })
                .unwrap()
            {
                InsuranceResponse::Underwriter { underwriter, .. } => {
                    underwriter.map_or(0, |u| u.shares)
                }
                other => panic!("{other:?}"),
            }
        })
        .sum();
    assert_eq!(shares, view.pool.shares);
}

#[test]
fn pools_lists_every_pool_in_genesis_order_as_pool_shows_it() {
    let mut two = genesis();
    let mut second = two.pools[0].clone();
    second.id = 7;
    second.risk = "an oracle failure".into();
    two.pools.insert(0, second);
    let mut chain = testkit::chain(
        |b| b.module(Insurance::new(Bank, NoBadDebt, &[USD])),
        &[USD],
        vec![("insurance", serde_json::to_value(two).unwrap())],
    );
    assert_eq!(call(&mut chain, 1, deposit(1_000 * E18)), None);
    let listed = match chain.query::<M>(InsuranceQuery::Pools).unwrap() {
        InsuranceResponse::Pools(views) => views,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        listed.iter().map(|v| v.pool.id).collect::<Vec<_>>(),
        vec![7, 0]
    );
    assert_eq!(listed[1], pool(&chain));
    assert_eq!(listed[1].pool.capital, 1_000 * E18);
}

#[test]
fn the_premium_rises_with_utilisation() {
    let mut chain = chain();
    assert_eq!(call(&mut chain, 1, deposit(1_000 * E18)), None);
    let quote = |chain: &TestChain, amount: u128| match chain
        .query::<M>(InsuranceQuery::Quote {
            pool: 0,
            amount,
            period_blocks: YEAR / 4,
        })
        .unwrap()
    {
        InsuranceResponse::Quote(q) => q,
        other => panic!("{other:?}"),
    };
    // 100 of 1 000 covered: 10% utilisation, 2% + 10% * 10% = 3% a year, a quarter: 0.75.
    assert_eq!(quote(&chain, 100 * E18), Some(75 * E18 / 100));
    // 500: 50%, 2% + 5% = 7%, a quarter of 35 = 8.75.
    assert_eq!(quote(&chain, 500 * E18), Some(875 * E18 / 100));
    assert_eq!(quote(&chain, 901 * E18), None, "over the 90% limit");
    let usd = balance(&chain, USD, &address(2));
    assert_eq!(call(&mut chain, 2, buy(1, 100 * E18, YEAR / 4)), None);
    assert_eq!(balance(&chain, USD, &address(2)), usd - 75 * E18 / 100);
    assert_eq!(pool(&chain).pool.capital, 1_000 * E18 + 75 * E18 / 100);
    check(&chain);
}

#[test]
fn a_claim_approved_by_the_underwriters_is_paid() {
    let mut chain = chain();
    assert_eq!(call(&mut chain, 1, deposit(600 * E18)), None);
    assert_eq!(call(&mut chain, 3, deposit(400 * E18)), None);
    assert_eq!(call(&mut chain, 2, buy(7, 300 * E18, 100)), None);
    assert_eq!(
        call(
            &mut chain,
            2,
            InsuranceCall::FileClaim { pool: 0, cover: 7 }
        ),
        None
    );
    assert_eq!(pool(&chain).pool.pending_claims, 300 * E18);
    assert_eq!(call(&mut chain, 1, vote(2, 7, true)), None);
    assert_eq!(call(&mut chain, 3, vote(2, 7, false)), None);
    assert_eq!(
        call(&mut chain, 1, vote(2, 7, true)),
        Some(14),
        "one vote each"
    );
    assert_eq!(
        call(&mut chain, 4, settle(2, 7)),
        Some(13),
        "the vote is open"
    );
    chain.block(&[]).unwrap();
    let usd = balance(&chain, USD, &address(2));
    let receipt = chain.call::<M>(&key(4), &settle(2, 7)).unwrap();
    assert_eq!(code(&receipt), None);
    assert_eq!(
        balance(&chain, USD, &address(2)),
        usd + 300 * E18,
        "600 shares to 400: paid"
    );
    let view = pool(&chain);
    assert_eq!(view.pool.paid_out, 300 * E18);
    assert_eq!(view.pool.pending_claims, 0);
    assert_eq!(call(&mut chain, 4, settle(2, 7)), Some(13), "settled once");
    assert_eq!(
        call(
            &mut chain,
            2,
            InsuranceCall::FileClaim { pool: 0, cover: 7 }
        ),
        Some(12)
    );
    check(&chain);
}

#[test]
fn a_tie_or_a_majority_against_denies_the_claim() {
    let mut chain = chain();
    assert_eq!(call(&mut chain, 1, deposit(500 * E18)), None);
    assert_eq!(call(&mut chain, 2, buy(1, 100 * E18, 100)), None);
    assert_eq!(
        call(
            &mut chain,
            2,
            InsuranceCall::FileClaim { pool: 0, cover: 1 }
        ),
        None
    );
    for _ in 0..6 {
        chain.block(&[]).unwrap();
    }
    let usd = balance(&chain, USD, &address(2));
    assert_eq!(call(&mut chain, 4, settle(2, 1)), None);
    assert_eq!(balance(&chain, USD, &address(2)), usd, "no votes: denied");
    assert_eq!(pool(&chain).pool.pending_claims, 0);
    check(&chain);
}

#[test]
fn capital_backing_cover_cannot_be_withdrawn_and_voters_are_locked() {
    let mut chain = chain();
    assert_eq!(call(&mut chain, 1, deposit(1_000 * E18)), None);
    assert_eq!(call(&mut chain, 2, buy(1, 800 * E18, 50)), None);
    let shares = pool(&chain).pool.shares;
    assert_eq!(
        call(&mut chain, 1, InsuranceCall::Withdraw { pool: 0, shares }),
        Some(7)
    );
    assert_eq!(
        call(
            &mut chain,
            1,
            InsuranceCall::Withdraw {
                pool: 0,
                shares: shares / 10
            }
        ),
        None,
        "a tenth is free"
    );
    assert_eq!(
        call(
            &mut chain,
            2,
            InsuranceCall::FileClaim { pool: 0, cover: 1 }
        ),
        None
    );
    assert_eq!(call(&mut chain, 1, vote(2, 1, false)), None);
    assert_eq!(
        call(
            &mut chain,
            1,
            InsuranceCall::Withdraw { pool: 0, shares: 1 }
        ),
        Some(8),
        "locked by its vote"
    );
    // After the vote and the cover, everything is free again.
    for _ in 0..60 {
        chain.block(&[]).unwrap();
    }
    assert_eq!(call(&mut chain, 4, settle(2, 1)), None);
    let left = pool(&chain).pool.shares;
    assert_eq!(
        call(
            &mut chain,
            1,
            InsuranceCall::Withdraw {
                pool: 0,
                shares: left
            }
        ),
        None
    );
    check(&chain);
}

#[test]
fn shares_deposited_after_a_claim_do_not_vote() {
    let mut chain = chain();
    assert_eq!(call(&mut chain, 1, deposit(100 * E18)), None);
    assert_eq!(call(&mut chain, 2, buy(1, 50 * E18, 100)), None);
    assert_eq!(
        call(
            &mut chain,
            2,
            InsuranceCall::FileClaim { pool: 0, cover: 1 }
        ),
        None
    );
    assert_eq!(call(&mut chain, 3, deposit(10_000 * E18)), None);
    assert_eq!(call(&mut chain, 3, vote(2, 1, true)), Some(14));
    assert_eq!(call(&mut chain, 5, vote(2, 1, true)), Some(14), "no shares");
}

#[test]
fn bad_input_gets_typed_errors() {
    let mut chain = chain();
    assert_eq!(
        call(&mut chain, 1, InsuranceCall::Deposit { pool: 9, amount: 1 }),
        Some(1)
    );
    assert_eq!(call(&mut chain, 1, deposit(0)), Some(3));
    assert_eq!(call(&mut chain, 2, buy(1, E18, 10)), Some(4), "no capital");
    assert_eq!(call(&mut chain, 1, deposit(1_000 * E18)), None);
    assert_eq!(call(&mut chain, 2, buy(1, 0, 10)), Some(3));
    assert_eq!(call(&mut chain, 2, buy(1, E18, 3 * YEAR)), Some(6));
    let greedy = InsuranceCall::BuyCover {
        pool: 0,
        cover: 1,
        amount: 100 * E18,
        period_blocks: YEAR,
        max_premium: E18,
    };
    assert_eq!(call(&mut chain, 2, greedy), Some(5), "slippage");
    assert_eq!(call(&mut chain, 2, buy(1, E18, 10)), None);
    assert_eq!(
        call(&mut chain, 2, buy(1, E18, 10)),
        Some(19),
        "number taken"
    );
    assert_eq!(
        call(
            &mut chain,
            3,
            InsuranceCall::FileClaim { pool: 0, cover: 1 }
        ),
        Some(2),
        "not the holder's"
    );
    assert_eq!(
        call(
            &mut chain,
            1,
            InsuranceCall::Withdraw {
                pool: 0,
                shares: u128::MAX
            }
        ),
        Some(9)
    );
    for _ in 0..12 {
        chain.block(&[]).unwrap();
    }
    assert_eq!(
        call(
            &mut chain,
            2,
            InsuranceCall::FileClaim { pool: 0, cover: 1 }
        ),
        Some(11),
        "expired"
    );
    assert_eq!(call(&mut chain, 6, buy(1, E18, 10)), None);
    assert_eq!(
        pool(&chain).pool.active_cover,
        E18,
        "an expired cover backs nothing"
    );
    // Filing in the block the cover was bought is refused: the holder cannot see the loss
    // coming and buy cover for it in one block.
    let index = chain.runtime().module_index("insurance").unwrap();
    let nonce =
        lamina_agreement::modules::accounts::committed_nonce(chain.state(), &address(5)).unwrap();
    let tx = |nonce: u64, call: &InsuranceCall| {
        lamina_agreement::UnsignedTx {
            chain_id: chain.runtime().config().chain_id,
            sender: key(5).public_key(),
            nonce,
            max_fee: chain.runtime().required_fee(chain.gas_limit, 0).unwrap(),
            tip: 0,
            gas_limit: chain.gas_limit,
            module: index,
            call: lamina_interop::codec::BoundedBytes::try_from_vec(lamina_interop::codec::encode(
                call,
            ))
            .unwrap(),
        }
        .sign(&key(5))
    };
    let txs = [
        tx(nonce, &buy(2, E18, 10)),
        tx(nonce + 1, &InsuranceCall::FileClaim { pool: 0, cover: 2 }),
    ];
    let receipts = chain.block(&txs).unwrap();
    assert_eq!(code(&receipts[0]), None);
    assert_eq!(code(&receipts[1]), Some(11));
    check(&chain);
}

/// The first-depositor attack: deposit one unit, donate to the vault, hope the next
/// underwriter's shares round to nothing. Capital is the pool's own record and shares carry
/// a virtual offset: the victim keeps its deposit's worth, the attacker loses the donation.
#[test]
fn first_depositor_attack_leaves_the_attacker_poorer() {
    let mut chain = chain();
    let start = balance(&chain, USD, &address(4));
    assert_eq!(call(&mut chain, 4, deposit(1)), None);
    let donate = BankCall::Transfer {
        to: insurance_account(),
        asset: USD,
        amount: 1_000_000 * E18,
    };
    chain.call::<Bank>(&key(4), &donate).unwrap();
    assert_eq!(call(&mut chain, 5, deposit(1_000 * E18)), None);
    let value = match chain
        .query::<M>(InsuranceQuery::Underwriter {
            pool: 0,
            account: address(5),
        })
        .unwrap()
    {
        InsuranceResponse::Underwriter { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert!(value + 1 >= 1_000 * E18, "{value}");
    let shares = match chain
        .query::<M>(InsuranceQuery::Underwriter {
            pool: 0,
            account: address(4),
        })
        .unwrap()
    {
        InsuranceResponse::Underwriter { underwriter, .. } => underwriter.unwrap().shares,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        call(&mut chain, 4, InsuranceCall::Withdraw { pool: 0, shares }),
        None
    );
    assert!(balance(&chain, USD, &address(4)) < start);
}

#[test]
fn lendings_bad_debt_triggers_a_payout() {
    use crate::lending::{Lending, LendingCall, LendingGenesis, MarketConfig, MarketGenesis};
    use crate::oracle::{FeedGenesis, Oracle, OracleCall, OracleGenesis, ONE};
    const ETH: u32 = 2;
    type L = Lending<Bank, Oracle>;
    type I = Insurance<Bank, L>;
    let market = MarketConfig::new(7_500, 8_000);
    let lending = LendingGenesis {
        markets: vec![
            MarketGenesis {
                asset: USD,
                config: market.clone(),
            },
            MarketGenesis {
                asset: ETH,
                config: market,
            },
        ],
        ..LendingGenesis::default()
    };
    let oracle = OracleGenesis {
        params: crate::oracle::Params {
            max_report_age_blocks: 100,
            min_reports: 1,
            max_move_bps: 0,
        },
        feeders: vec![address(6)],
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
    let mut insurance = genesis();
    insurance.pools[0].trigger = Trigger::BadDebt { asset: USD };
    insurance.pools[0].risk = "bad debt in the USD market".into();
    let lend = Lending::new(Bank, Oracle, &[USD, ETH]);
    let mut chain = testkit::chain(
        |b| {
            b.module(Oracle)
                .module(lend.clone())
                .module(Insurance::new(Bank, lend.clone(), &[USD]))
        },
        &[USD, ETH],
        vec![
            ("oracle", serde_json::to_value(oracle).unwrap()),
            ("lending", serde_json::to_value(lending).unwrap()),
            ("insurance", serde_json::to_value(insurance).unwrap()),
        ],
    );
    let ok = |chain: &mut TestChain, who: u64, c: &LendingCall| {
        assert_eq!(code(&chain.call::<L>(&key(who), c).unwrap()), None)
    };
    assert_eq!(
        code(&chain.call::<I>(&key(1), &deposit(20_000 * E18)).unwrap()),
        None
    );
    // A supplier of the USD market covers itself against bad debt there.
    ok(
        &mut chain,
        2,
        &LendingCall::Supply {
            asset: USD,
            amount: 100_000 * E18,
        },
    );
    assert_eq!(
        code(&chain.call::<I>(&key(2), &buy(1, 5_000 * E18, 500)).unwrap()),
        None
    );
    assert_eq!(
        code(
            &chain
                .call::<I>(&key(2), &InsuranceCall::FileClaim { pool: 0, cover: 1 })
                .unwrap()
        ),
        Some(15),
        "no bad debt yet"
    );
    assert_eq!(
        code(&chain.call::<I>(&key(2), &buy(2, 5_000 * E18, 500)).unwrap()),
        None
    );
    // A borrower's collateral crashes; liquidation leaves bad debt.
    ok(
        &mut chain,
        3,
        &LendingCall::Supply {
            asset: ETH,
            amount: 10 * E18,
        },
    );
    ok(
        &mut chain,
        3,
        &LendingCall::Borrow {
            asset: USD,
            amount: 15_000 * E18,
        },
    );
    let crash = OracleCall::Report {
        prices: vec![(ETH, Amount(1_000 * ONE))],
    };
    assert_eq!(code(&chain.call::<Oracle>(&key(6), &crash).unwrap()), None);
    ok(
        &mut chain,
        4,
        &LendingCall::Liquidate {
            borrower: address(3),
            debt_asset: USD,
            collateral_asset: ETH,
            max_repay: u128::MAX,
        },
    );
    let usd = balance(&chain, USD, &address(2));
    let receipt = chain
        .call::<I>(&key(2), &InsuranceCall::FileClaim { pool: 0, cover: 2 })
        .unwrap();
    assert_eq!(code(&receipt), None);
    assert_eq!(
        balance(&chain, USD, &address(2)),
        usd + 5_000 * E18,
        "paid at once"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Deposit(u64, u128),
    Withdraw(u64, u128),
    Buy(u64, u64, u128, u64),
    Claim(u64, u64),
    Vote(u64, u64, u64, bool),
    Settle(u64, u64),
    Wait(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 1..=ACCOUNTS;
    prop_oneof![
        3 => (who.clone(), 1u128..1 << 80).prop_map(|(w, a)| Op::Deposit(w, a)),
        2 => (who.clone(), prop_oneof![1u128..1 << 80, Just(u128::MAX)]).prop_map(|(w, s)| Op::Withdraw(w, s)),
        3 => (who.clone(), 0u64..4, 1u128..1 << 80, 1u64..60).prop_map(|(w, c, a, p)| Op::Buy(w, c, a, p)),
        2 => (who.clone(), 0u64..4).prop_map(|(w, c)| Op::Claim(w, c)),
        3 => (who.clone(), who.clone(), 0u64..4, any::<bool>()).prop_map(|(w, h, c, a)| Op::Vote(w, h, c, a)),
        2 => (who, 0u64..4).prop_map(|(h, c)| Op::Settle(h, c)),
        1 => (1u8..8).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Over random sequences of deposits, withdrawals, purchases, claims, votes,
    /// settlements and waits: the vault holds exactly the pool's capital, shares add up, no
    /// claim pays more than its cover, and no payout exceeds what the pool held.
    #[test]
    fn the_pool_never_pays_more_than_it_holds(ops in proptest::collection::vec(op(), 1..30)) {
        let mut chain = chain();
        let total = |chain: &TestChain| -> u128 {
            (1..=ACCOUNTS).map(|i| balance(chain, USD, &address(i))).sum::<u128>() + balance(chain, USD, &insurance_account())
        };
        let supply = total(&chain);
        for op in ops {
            let before = pool(&chain).pool;
            let result = match op {
                Op::Deposit(w, a) => call(&mut chain, w, deposit(a)),
                Op::Withdraw(w, s) => call(&mut chain, w, InsuranceCall::Withdraw { pool: 0, shares: s }),
                Op::Buy(w, c, a, p) => call(&mut chain, w, buy(c, a, p)),
                Op::Claim(w, c) => call(&mut chain, w, InsuranceCall::FileClaim { pool: 0, cover: c }),
                Op::Vote(w, h, c, a) => call(&mut chain, w, vote(h, c, a)),
                Op::Settle(h, c) => {
                    let cover = match chain.query::<M>(InsuranceQuery::Cover { pool: 0, holder: address(h), cover: c }).unwrap() {
                        InsuranceResponse::Cover { cover, .. } => cover,
                        other => panic!("{other:?}"),
                    };
                    let r = call(&mut chain, 1, settle(h, c));
                    if r.is_none() {
                        let after = pool(&chain).pool;
                        let paid = after.paid_out - before.paid_out;
                        prop_assert!(paid <= cover.unwrap().amount, "paid more than the cover");
                        prop_assert!(paid <= before.capital, "paid more than the pool held");
                    }
                    r
                }
                Op::Wait(n) => { for _ in 0..n { chain.block(&[]).unwrap(); } None }
            };
            let _ = result;
            check(&chain);
        }
        prop_assert_eq!(total(&chain), supply, "USD is conserved");
    }
}
