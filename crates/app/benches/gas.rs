//! Gas from measured cost: times every DeFi call and a native transfer, and writes or checks
//! the weight table (`lamina_app::weights`, whose docs give the method).
//!
//! - `cargo bench -p lamina-app --bench gas`: measures and prints the table.
//! - `-- --write`: rewrites `crates/app/src/weights/table.rs` and the book's gas table.
//! - `-- --check`: fails when a call's gas differs from its measured cost by more than
//!   `MARGIN_PERCENT`.
//!
//! One chain holds every module (oracle over 16 feeds, a dex with a chain of pools, lending
//! with all 16 markets open, insurance, liquid staking), prepared by committed calls so that
//! each measured call succeeds; each is then run alone over that state (`Runtime::dry_run`,
//! nothing committed), best of several rounds.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use lamina_agreement::modules::accounts;
use lamina_agreement::modules::bank::{AssetGenesis, AssetInfo, Bank, BankCall, BankGenesis};
use lamina_agreement::testing::{env, key, TestChain};
use lamina_agreement::{Runtime, RuntimeConfig, UnsignedTx, VerifiedTx};
use lamina_app::dex::{Dex, DexCall, DexGenesis, GenesisPool};
use lamina_app::insurance::{
    Insurance, InsuranceCall, InsuranceGenesis, Params as InsuranceParams, PoolGenesis, Trigger,
};
use lamina_app::lending::{Lending, LendingCall, LendingGenesis, MarketConfig, MarketGenesis};
use lamina_app::liquid_staking::{
    LiquidStaking, LiquidStakingCall, LiquidStakingGenesis, Params as LiquidParams,
};
use lamina_app::oracle::{FeedGenesis, Oracle, OracleCall, OracleGenesis, Params, ONE};
use lamina_app::weights::{table, Weight, MARGIN_PERCENT};
use lamina_interop::block::Outcome;
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::SecretKey;
use lamina_interop::module::{Amount, Delegation, LedgerError, Module, NoBadDebt, WorkingSet};
use lamina_interop::{Address, ChainId, Height};

const CHAIN: ChainId = ChainId(7);
const E18: u128 = 1_000_000_000_000_000_000;
const USD: u32 = 1;
/// Tokens 2..=16: with USD, the lending markets (all 16) and the oracle's feeds.
const TOKENS: std::ops::RangeInclusive<u32> = 2..=16;
/// Two more for a new pool.
const NEW_A: u32 = 17;
const NEW_B: u32 = 18;
const SHARE: u32 = 40;
const GAS_LIMIT: u64 = 10_000_000;

/// A chain without validators: liquid staking's calls never reach the staking module (its
/// block hook does), so none is needed to time them.
#[derive(Debug, Clone, Copy)]
struct NoValidators;

impl Delegation for NoValidators {
    fn validators(&self, _: &mut WorkingSet<'_>) -> Result<Vec<Address>, LedgerError> {
        Ok(Vec::new())
    }
    fn delegate(
        &self,
        _: &mut WorkingSet<'_>,
        _: &Address,
        _: &Address,
        _: u128,
    ) -> Result<(), LedgerError> {
        Err(LedgerError::Refused("no validators".into()))
    }
    fn undelegate(
        &self,
        _: &mut WorkingSet<'_>,
        _: Height,
        _: &Address,
        _: &Address,
        _: u128,
    ) -> Result<u128, LedgerError> {
        Ok(0)
    }
    fn withdraw_unbonded(
        &self,
        _: &mut WorkingSet<'_>,
        _: Height,
        _: &Address,
    ) -> Result<u128, LedgerError> {
        Ok(0)
    }
    fn delegated(
        &self,
        _: &mut WorkingSet<'_>,
        _: &Address,
        _: &Address,
    ) -> Result<u128, LedgerError> {
        Ok(0)
    }
    fn unbonding(&self, _: &mut WorkingSet<'_>, _: &Address) -> Result<u128, LedgerError> {
        Ok(0)
    }
}

type Lend = Lending<Bank, Oracle>;
type Cover = Insurance<Bank, NoBadDebt>;
type Liquid = LiquidStaking<Bank, NoValidators>;

fn address(i: u64) -> Address {
    Address::of(&key(i).public_key())
}

fn markets() -> Vec<u32> {
    std::iter::once(USD).chain(TOKENS).collect()
}

/// The chain with every module and its genesis; accounts 1..=30 hold plenty of everything.
fn genesis() -> TestChain {
    let markets = markets();
    let runtime = Runtime::builder(RuntimeConfig::new(CHAIN))
        .module(Oracle)
        .module(Dex::new(Bank))
        .module(Lending::new(Bank, Oracle, &markets))
        .module(Insurance::new(Bank, NoBadDebt, &[USD]))
        .module(LiquidStaking::new(Bank, NoValidators, SHARE))
        .build()
        .unwrap();
    let holders: Vec<Address> = (1..=30).map(address).collect();
    let plenty = 1u128 << 100;
    let mut bank = BankGenesis::native(holders.iter().map(|a| (*a, plenty)));
    for id in markets.iter().copied().chain([NEW_A, NEW_B, SHARE]) {
        bank.assets.push(AssetGenesis {
            id,
            info: AssetInfo {
                symbol: format!("T{id}"),
                decimals: 18,
            },
            balances: if id == SHARE {
                Vec::new()
            } else {
                holders.iter().map(|a| (*a, Amount(plenty))).collect()
            },
            minters: if id == SHARE {
                vec!["liquid-staking".into()]
            } else {
                Vec::new()
            },
        });
    }
    let oracle = OracleGenesis {
        params: Params {
            max_report_age_blocks: 10_000,
            min_reports: 1,
            max_move_bps: 5_000,
        },
        feeders: vec![address(3)],
        feeds: markets
            .iter()
            .map(|&asset| FeedGenesis {
                asset,
                price: Some(ONE),
                fixed: asset == USD,
            })
            .collect(),
    };
    let liquidity = 1_000_000_000 * E18;
    let dex = DexGenesis {
        fee_bps: 30,
        pools: [(1, 2), (2, 3), (3, 4), (4, 5)]
            .into_iter()
            .map(|(a, b)| GenesisPool {
                asset_a: a,
                asset_b: b,
                amount_a: liquidity,
                amount_b: liquidity,
                provider: address(4),
            })
            .collect(),
    };
    let mut lending = LendingGenesis::default();
    lending.params.max_price_age_blocks = 10_000;
    lending.markets = markets
        .iter()
        .map(|&asset| MarketGenesis {
            asset,
            config: MarketConfig::new(8_000, 8_500),
        })
        .collect();
    let pool = |id| PoolGenesis {
        id,
        asset: USD,
        risk: "a hack".into(),
        trigger: Trigger::Vote,
        base_rate_bps: 200,
        slope_bps: 1_000,
        max_utilisation_bps: 9_000,
    };
    let insurance = InsuranceGenesis {
        params: InsuranceParams {
            blocks_per_year: 1_000,
            voting_blocks: 5,
            max_cover_blocks: 2_000,
        },
        pools: vec![pool(0), pool(1)],
    };
    let liquid = LiquidStakingGenesis {
        params: Some(LiquidParams {
            min_stake: 1_000,
            unbonding_blocks: 5,
        }),
    };
    let sections = BTreeMap::from([
        ("bank".to_string(), bank.to_section()),
        ("oracle".to_string(), serde_json::to_value(oracle).unwrap()),
        ("dex".to_string(), serde_json::to_value(dex).unwrap()),
        (
            "lending".to_string(),
            serde_json::to_value(lending).unwrap(),
        ),
        (
            "insurance".to_string(),
            serde_json::to_value(insurance).unwrap(),
        ),
        (
            "liquid-staking".to_string(),
            serde_json::to_value(liquid).unwrap(),
        ),
    ]);
    TestChain::new(runtime, &sections).unwrap()
}

/// Commits `call` from account `who`; it must succeed.
fn setup<M: Module>(chain: &mut TestChain, who: u64, call: M::Call) {
    chain.gas_limit = GAS_LIMIT;
    let receipt = chain.call::<M>(&key(who), &call).unwrap();
    assert_eq!(
        receipt.outcome,
        Outcome::Success,
        "setting up with {call:?} from {who}"
    );
}

fn report(prices: impl IntoIterator<Item = (u32, u128)>) -> OracleCall {
    OracleCall::Report {
        prices: prices.into_iter().map(|(a, p)| (a, Amount(p))).collect(),
    }
}

fn buy(pool: u32, cover: u64) -> InsuranceCall {
    InsuranceCall::BuyCover {
        pool,
        cover,
        amount: 100 * E18,
        period_blocks: 1_500,
        max_premium: u128::MAX,
    }
}

/// The state every measured call runs over.
fn prepared() -> TestChain {
    let mut chain = genesis();
    // Lending: deep markets; 5 a supplier; 6 and 7 with collateral in every token market, 7
    // also in debt; 8 borrowed to its limit against token 16, whose price then falls.
    for market in markets() {
        setup::<Lend>(
            &mut chain,
            4,
            LendingCall::Supply {
                asset: market,
                amount: 1_000_000 * E18,
            },
        );
    }
    setup::<Lend>(
        &mut chain,
        5,
        LendingCall::Supply {
            asset: USD,
            amount: 1_000 * E18,
        },
    );
    for who in [6, 7] {
        for token in TOKENS {
            setup::<Lend>(
                &mut chain,
                who,
                LendingCall::Supply {
                    asset: token,
                    amount: 100 * E18,
                },
            );
        }
    }
    setup::<Lend>(
        &mut chain,
        7,
        LendingCall::Borrow {
            asset: USD,
            amount: 100 * E18,
        },
    );
    setup::<Lend>(
        &mut chain,
        8,
        LendingCall::Supply {
            asset: 16,
            amount: 100 * E18,
        },
    );
    setup::<Lend>(
        &mut chain,
        8,
        LendingCall::Borrow {
            asset: USD,
            amount: 80 * E18,
        },
    );
    setup::<Oracle>(&mut chain, 3, report([(16, 8 * ONE / 10)]));

    // Insurance: 12 underwrites both pools; 15, 16 and 18 hold cover in pool 1; 16's claim is
    // approved and its vote over, 15's is open.
    for pool in [0, 1] {
        setup::<Cover>(
            &mut chain,
            12,
            InsuranceCall::Deposit {
                pool,
                amount: 10_000 * E18,
            },
        );
    }
    for holder in [15, 16, 18] {
        setup::<Cover>(&mut chain, holder, buy(1, 1));
    }
    setup::<Cover>(
        &mut chain,
        16,
        InsuranceCall::FileClaim { pool: 1, cover: 1 },
    );
    setup::<Cover>(
        &mut chain,
        12,
        InsuranceCall::Vote {
            pool: 1,
            holder: address(16),
            cover: 1,
            approve: true,
        },
    );
    // Liquid staking: 20 holds shares; 21 redeemed, its request funded once unbonded.
    for who in [20, 21] {
        setup::<Liquid>(
            &mut chain,
            who,
            LiquidStakingCall::Stake { amount: 10 * E18 },
        );
    }
    setup::<Liquid>(
        &mut chain,
        21,
        LiquidStakingCall::Redeem {
            shares: 5 * E18,
            request: 1,
        },
    );
    for _ in 0..6 {
        chain.block(&[]).unwrap();
    }
    setup::<Cover>(
        &mut chain,
        15,
        InsuranceCall::FileClaim { pool: 1, cover: 1 },
    );
    chain
}

/// One measured call: its table row, its item count, and the transaction.
struct Case {
    name: String,
    row: Option<(&'static str, Weight)>,
    items: usize,
    tx: VerifiedTx,
}

fn case<M: Module>(
    chain: &TestChain,
    name: &str,
    row: Option<(&'static str, Weight)>,
    items: usize,
    who: u64,
    call: M::Call,
) -> Case {
    let runtime = chain.runtime();
    let sender: SecretKey = key(who);
    let tx = UnsignedTx {
        chain_id: CHAIN,
        sender: sender.public_key(),
        nonce: accounts::committed_nonce(chain.state(), &address(who)).unwrap(),
        max_fee: runtime.required_fee(GAS_LIMIT, 0).unwrap(),
        tip: 0,
        gas_limit: GAS_LIMIT,
        module: runtime.module_index(M::NAME).unwrap(),
        call: BoundedBytes::try_from_vec(codec::encode(&call)).unwrap(),
    }
    .sign(&sender);
    Case {
        name: name.to_string(),
        row,
        items,
        tx: VerifiedTx::assume_verified(tx),
    }
}

macro_rules! row {
    ($name:ident) => {
        Some((stringify!($name), table::$name))
    };
}

fn cases(chain: &TestChain) -> Vec<Case> {
    let swap_in = |path: Vec<u32>| DexCall::SwapExactIn {
        path,
        amount_in: E18,
        min_out: 0,
        deadline_ms: None,
    };
    let swap_out = |path: Vec<u32>| DexCall::SwapExactOut {
        path,
        amount_out: E18,
        max_in: u128::MAX,
        deadline_ms: None,
    };
    let prices = |n: u32| report(TOKENS.take(n as usize).map(|t| (t, ONE)));
    vec![
        case::<Bank>(
            chain,
            "bank transfer (the rate)",
            None,
            0,
            1,
            BankCall::Transfer {
                to: address(2),
                asset: 0,
                amount: 1,
            },
        ),
        case::<Oracle>(
            chain,
            "oracle report, 1 price",
            row!(ORACLE_REPORT),
            1,
            3,
            prices(1),
        ),
        case::<Oracle>(
            chain,
            "oracle report, 15 prices",
            row!(ORACLE_REPORT),
            15,
            3,
            prices(15),
        ),
        case::<Dex<Bank>>(
            chain,
            "dex create_pool",
            row!(DEX_CREATE_POOL),
            0,
            4,
            DexCall::CreatePool {
                asset_a: NEW_A,
                asset_b: NEW_B,
                amount_a: 1_000 * E18,
                amount_b: 1_000 * E18,
            },
        ),
        case::<Dex<Bank>>(
            chain,
            "dex add_liquidity",
            row!(DEX_ADD_LIQUIDITY),
            0,
            10,
            DexCall::AddLiquidity {
                asset_a: 1,
                asset_b: 2,
                max_a: 1_000 * E18,
                max_b: 1_000 * E18,
                min_shares: 0,
            },
        ),
        case::<Dex<Bank>>(
            chain,
            "dex remove_liquidity",
            row!(DEX_REMOVE_LIQUIDITY),
            0,
            4,
            DexCall::RemoveLiquidity {
                asset_a: 1,
                asset_b: 2,
                shares: 1_000 * E18,
                min_a: 0,
                min_b: 0,
            },
        ),
        case::<Dex<Bank>>(
            chain,
            "dex swap_exact_in, 1 hop",
            row!(DEX_SWAP_EXACT_IN),
            1,
            11,
            swap_in(vec![1, 2]),
        ),
        case::<Dex<Bank>>(
            chain,
            "dex swap_exact_in, 4 hops",
            row!(DEX_SWAP_EXACT_IN),
            4,
            11,
            swap_in(vec![1, 2, 3, 4, 5]),
        ),
        case::<Dex<Bank>>(
            chain,
            "dex swap_exact_out, 1 hop",
            row!(DEX_SWAP_EXACT_OUT),
            1,
            11,
            swap_out(vec![1, 2]),
        ),
        case::<Dex<Bank>>(
            chain,
            "dex swap_exact_out, 4 hops",
            row!(DEX_SWAP_EXACT_OUT),
            4,
            11,
            swap_out(vec![1, 2, 3, 4, 5]),
        ),
        case::<Lend>(
            chain,
            "lending supply",
            row!(LENDING_SUPPLY),
            0,
            10,
            LendingCall::Supply {
                asset: USD,
                amount: 100 * E18,
            },
        ),
        case::<Lend>(
            chain,
            "lending withdraw",
            row!(LENDING_WITHDRAW),
            0,
            6,
            LendingCall::Withdraw {
                asset: 2,
                amount: E18,
            },
        ),
        case::<Lend>(
            chain,
            "lending borrow",
            row!(LENDING_BORROW),
            0,
            6,
            LendingCall::Borrow {
                asset: USD,
                amount: 10 * E18,
            },
        ),
        case::<Lend>(
            chain,
            "lending repay",
            row!(LENDING_REPAY),
            0,
            7,
            LendingCall::Repay {
                asset: USD,
                amount: 10 * E18,
                on_behalf: None,
            },
        ),
        case::<Lend>(
            chain,
            "lending liquidate",
            row!(LENDING_LIQUIDATE),
            0,
            9,
            LendingCall::Liquidate {
                borrower: address(8),
                debt_asset: USD,
                collateral_asset: 16,
                max_repay: 10 * E18,
            },
        ),
        case::<Cover>(
            chain,
            "insurance deposit",
            row!(INSURANCE_DEPOSIT),
            0,
            14,
            InsuranceCall::Deposit {
                pool: 0,
                amount: 100 * E18,
            },
        ),
        case::<Cover>(
            chain,
            "insurance withdraw",
            row!(INSURANCE_WITHDRAW),
            0,
            12,
            InsuranceCall::Withdraw {
                pool: 0,
                shares: E18,
            },
        ),
        case::<Cover>(
            chain,
            "insurance buy_cover",
            row!(INSURANCE_BUY_COVER),
            0,
            19,
            buy(0, 1),
        ),
        case::<Cover>(
            chain,
            "insurance file_claim",
            row!(INSURANCE_FILE_CLAIM),
            0,
            18,
            InsuranceCall::FileClaim { pool: 1, cover: 1 },
        ),
        case::<Cover>(
            chain,
            "insurance vote",
            row!(INSURANCE_VOTE),
            0,
            12,
            InsuranceCall::Vote {
                pool: 1,
                holder: address(15),
                cover: 1,
                approve: true,
            },
        ),
        case::<Cover>(
            chain,
            "insurance settle",
            row!(INSURANCE_SETTLE),
            0,
            17,
            InsuranceCall::Settle {
                pool: 1,
                holder: address(16),
                cover: 1,
            },
        ),
        case::<Liquid>(
            chain,
            "liquid_staking stake",
            row!(LIQUID_STAKING_STAKE),
            0,
            22,
            LiquidStakingCall::Stake { amount: 10 * E18 },
        ),
        case::<Liquid>(
            chain,
            "liquid_staking redeem",
            row!(LIQUID_STAKING_REDEEM),
            0,
            20,
            LiquidStakingCall::Redeem {
                shares: E18,
                request: 1,
            },
        ),
        case::<Liquid>(
            chain,
            "liquid_staking claim",
            row!(LIQUID_STAKING_CLAIM),
            0,
            21,
            LiquidStakingCall::Claim { request: 1 },
        ),
    ]
}

/// A case's figures: gas charged now, the weight in it, and nanoseconds per run.
struct Measured {
    gas: u64,
    weight: u64,
    ns: f64,
}

/// Best of `rounds` rounds of `runs` dry runs each.
fn measure(chain: &TestChain, case: &Case, rounds: usize, runs: usize) -> Measured {
    let runtime = chain.runtime();
    let block = env(CHAIN, chain.height() + 1, Address([0; 32]));
    let receipt = runtime.dry_run(&block, &case.tx, chain.state()).unwrap();
    assert_eq!(receipt.outcome, Outcome::Success, "{}", case.name);
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..runs {
            std::hint::black_box(runtime.dry_run(&block, &case.tx, chain.state()).unwrap());
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / runs as f64);
    }
    Measured {
        gas: receipt.gas_used,
        weight: case.row.map_or(0, |(_, w)| w.of(case.items)),
        ns: best,
    }
}

/// The weights the measurements call for: per row, from its one or two cases.
fn weights(cases: &[Case], measured: &[Measured], rate: f64) -> BTreeMap<&'static str, Weight> {
    let mut points: BTreeMap<&'static str, Vec<(usize, f64)>> = BTreeMap::new();
    for (case, m) in cases.iter().zip(measured) {
        if let Some((row, _)) = case.row {
            // What the call's weight must add to the gas charged without it.
            let short = m.ns * rate - (m.gas - m.weight) as f64;
            points.entry(row).or_default().push((case.items, short));
        }
    }
    points
        .into_iter()
        .map(|(row, points)| {
            let weight = match points.as_slice() {
                [(a, at_a), (b, at_b)] if a != b => {
                    let per_item = ((at_b - at_a) / (*b as f64 - *a as f64)).max(0.0);
                    let base = (at_a - per_item * *a as f64).max(0.0);
                    Weight {
                        base: base.ceil() as u64,
                        per_item: per_item.ceil() as u64,
                    }
                }
                [(_, short), ..] => Weight {
                    base: short.max(0.0).ceil() as u64,
                    per_item: 0,
                },
                [] => unreachable!("a row has a case"),
            };
            (row, weight)
        })
        .collect()
}

fn render_table(weights: &BTreeMap<&'static str, Weight>, rate: f64) -> String {
    let mut out = String::new();
    out.push_str(
        "//! Generated by `cargo bench -p lamina-app --bench gas -- --write`: measure again rather\n\
         //! than edit. See the module above for the method.\n",
    );
    let _ = writeln!(
        out,
        "//!\n//! The rate the transfer set: {rate:.2} gas per nanosecond of one core."
    );
    out.push_str("\nuse super::Weight;\n");
    for (row, w) in weights {
        let _ = write!(
            out,
            "\n/// `{}`.\npub const {row}: Weight = Weight {{ base: {}, per_item: {} }};\n",
            row.to_lowercase(),
            w.base,
            w.per_item
        );
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let write = args.iter().any(|a| a == "--write");
    let check = args.iter().any(|a| a == "--check");
    let chain = prepared();
    let cases = cases(&chain);
    let measured: Vec<Measured> = cases.iter().map(|c| measure(&chain, c, 7, 2_000)).collect();
    let rate = measured[0].gas as f64 / measured[0].ns;
    let weights = weights(&cases, &measured, rate);

    let mut book = String::new();
    let _ = writeln!(
        book,
        "Rate: a native transfer's {} gas over its {:.0} ns, {rate:.2} gas per nanosecond.\n",
        measured[0].gas, measured[0].ns
    );
    book.push_str(
        "| call | ns | gas charged | of it, weight | gas at the rate | drift | weight measured now |\n|---|---|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    for (case, m) in cases.iter().zip(&measured) {
        let target = m.ns * rate;
        let drift = m.gas as f64 / target - 1.0;
        let now = case
            .row
            .map(|(row, _)| {
                let w = weights[row];
                if w.per_item > 0 || case.items > 0 {
                    format!("{} + {} per item", w.base, w.per_item)
                } else {
                    w.base.to_string()
                }
            })
            .unwrap_or_default();
        let _ = writeln!(
            book,
            "| {} | {:.0} | {} | {} | {:.0} | {:+.0}% | {now} |",
            case.name,
            m.ns,
            m.gas,
            m.weight,
            target,
            drift * 100.0
        );
        let margin = MARGIN_PERCENT as f64 / 100.0;
        // Over-charged by the metered access alone is no failure: it costs less than its gas.
        if drift < -margin || (drift > margin && m.weight > 0) {
            failures.push(format!("{}: gas {} against {target:.0}", case.name, m.gas));
        }
    }
    println!("{book}");
    if write {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        std::fs::write(
            format!("{root}/crates/app/src/weights/table.rs"),
            render_table(&weights, rate),
        )
        .unwrap();
        std::fs::write(format!("{root}/book/src/gas-table.md"), &book).unwrap();
        println!("wrote crates/app/src/weights/table.rs and book/src/gas-table.md");
    }
    if check && !failures.is_empty() {
        eprintln!(
            "gas drifts from measured cost by more than {MARGIN_PERCENT}%:\n{}",
            failures.join("\n")
        );
        std::process::exit(1);
    }
}
