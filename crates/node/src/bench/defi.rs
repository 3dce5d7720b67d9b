//! The DeFi workloads' chain and transactions (`--workload defi` and `swaps`).
//!
//! ```text
//! assets    LAM (native), USD (1), tokens 101.. (100 + k)
//! pools     pool 0: LAM/USD, the hub; pool k >= 1: token k/USD; each 10^9 of both sides,
//!           from account 0 (the provider)
//! markets   market 0: USD; market m >= 1: token m; prices from account 1 (the feeder)
//! traders   accounts 2..: 1 LAM and 1,000 USD each
//! ```
//!
//! A trader's swap sells 1 USD for pool k's asset, k drawn by a Zipf law of exponent `zipf`
//! over the pools (rank 1 is pool 0); a two-hop swap sells 0.001 LAM through the hub for
//! pool k's asset, k >= 1 drawn by the same law over the other pools; a loan supplies 100 USD
//! to market 0, borrows 10 of market m's token (m uniform over 1..markets), and repays it,
//! as three consecutive transactions. The provider supplies each token market at the
//! start, and the feeder reports every token's price once every `report_every` transactions
//! (a block's worth). Liquidations are not in the mix: with steady prices no one is
//! unhealthy, and a liquidation that finds no one fails.

use lamina_agreement::modules::bank::{
    AssetGenesis, AssetInfo, Bank, BankCall, BankGenesis, NATIVE,
};
use lamina_app::dex::{Dex, DexCall, DexGenesis, GenesisPool};
use lamina_app::lending::{Lending, LendingCall, LendingGenesis, MarketConfig, MarketGenesis};
use lamina_app::oracle::{FeedGenesis, Oracle, OracleCall, OracleGenesis, ONE};
use lamina_interop::codec;
use lamina_interop::module::Amount;
use lamina_interop::Address;
use serde::Serialize;

use crate::Chain;

/// The quote asset.
pub(crate) const USD: u32 = 1;
/// Token `k` is asset `TOKENS + k`.
const TOKENS: u32 = 100;
const E18: u128 = 1_000_000_000_000_000_000;
/// Each side of each pool, and each token market's first supply.
const LIQUIDITY: u128 = 1_000_000_000 * E18;
/// A trader's dollars.
const TRADER_USD: u128 = 1_000 * E18;
/// What a swap sells, a two-hop swap sells, a loan supplies and borrows.
const SWAP_USD: u128 = E18;
const TWO_HOP_LAM: u128 = E18 / 1_000;
const SUPPLY_USD: u128 = 100 * E18;
const BORROW: u128 = 10 * E18;

/// The modules' places in the benchmark chain: after the framework's `accounts`, `bank` and
/// `staking`, in the order [`chain`] adds them.
pub(crate) const BANK: u16 = 1;
const ORACLE: u16 = 3;
const DEX: u16 = 4;
const LENDING: u16 = 5;

/// Account 0 provides the liquidity; account 1 feeds the prices; the rest trade.
pub(crate) const PROVIDER: u32 = 0;
pub(crate) const FEEDER: u32 = 1;
pub(crate) const FIRST_TRADER: u32 = 2;

/// The DeFi workloads' parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Params {
    /// Pools, at least 1.
    pub(crate) pools: u32,
    /// Exponent of the Zipf law that picks a swap's pool (0: uniform).
    pub(crate) zipf: f64,
    /// Lending markets, 1 to 16.
    pub(crate) markets: u32,
}

/// One transaction of a DeFi workload (or a transfer, in all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// The native asset to `receiver`.
    Transfer { receiver: u32 },
    /// 1 USD for pool `pool`'s asset.
    Swap { pool: u32 },
    /// 0.001 LAM through the hub (pool 0) for pool `pool`'s asset (`pool >= 1`).
    TwoHop { pool: u32 },
    /// 100 USD into market 0.
    Supply,
    /// 10 of market `market`'s asset.
    Borrow { market: u32 },
    /// Repays 10 of market `market`'s asset.
    Repay { market: u32 },
    /// The provider's first supply to token market `market`.
    Seed { market: u32 },
    /// The feeder's prices of every token market.
    Report,
}

fn pool_asset(pool: u32) -> u32 {
    if pool == 0 {
        NATIVE
    } else {
        TOKENS + pool
    }
}

fn market_asset(market: u32) -> u32 {
    if market == 0 {
        USD
    } else {
        TOKENS + market
    }
}

/// The tokens: one per pool or market beyond the first.
fn tokens(params: &Params) -> impl Iterator<Item = u32> {
    (1..params.pools.max(params.markets)).map(|k| TOKENS + k)
}

/// The benchmark chain: the framework's modules, `oracle`, `dex` and `lending` over
/// `params.markets` markets, with their genesis.
pub(crate) fn chain(params: &Params, provider: Address, feeder: Address) -> Chain {
    let markets: Vec<u32> = (0..params.markets).map(market_asset).collect();
    let oracle = OracleGenesis {
        params: Params::oracle(),
        feeders: vec![feeder],
        feeds: markets
            .iter()
            .map(|&asset| FeedGenesis {
                asset,
                price: Some(ONE),
                fixed: asset == USD,
            })
            .collect(),
    };
    let dex = DexGenesis {
        fee_bps: 30,
        pools: (0..params.pools)
            .map(|pool| GenesisPool {
                asset_a: pool_asset(pool),
                asset_b: USD,
                amount_a: LIQUIDITY,
                amount_b: LIQUIDITY,
                provider,
            })
            .collect(),
    };
    let mut lending = LendingGenesis::default();
    lending.params.max_price_age_blocks = 600;
    lending.markets = markets
        .iter()
        .map(|&asset| MarketGenesis {
            asset,
            config: MarketConfig::new(8_000, 8_500),
        })
        .collect();
    Chain::new("lamina-bench")
        .module(Oracle, oracle)
        .module(Dex::new(Bank), dex)
        .module(Lending::new(Bank, Oracle, &markets), lending)
}

impl Params {
    /// Reports count for 100 blocks; one makes a price.
    fn oracle() -> lamina_app::oracle::Params {
        lamina_app::oracle::Params {
            max_report_age_blocks: 100,
            min_reports: 1,
            max_move_bps: 5_000,
        }
    }
}

/// The bank's genesis: `balance` of the native asset for every account, dollars for the
/// traders, and the provider's liquidity.
pub(crate) fn bank(params: &Params, addresses: &[Address], balance: u128) -> serde_json::Value {
    let provider = addresses[PROVIDER as usize];
    let pools = u128::from(params.pools);
    let info = |symbol: String| AssetInfo {
        symbol,
        decimals: 18,
    };
    let mut bank = BankGenesis::native(addresses.iter().map(|a| {
        let extra = if *a == provider { LIQUIDITY } else { 0 };
        (*a, balance + extra)
    }));
    bank.assets.push(AssetGenesis {
        id: USD,
        info: info("USD".into()),
        balances: addresses
            .iter()
            .enumerate()
            .map(|(i, a)| match i as u32 {
                PROVIDER => (*a, Amount(LIQUIDITY * pools)),
                FEEDER => (*a, Amount(0)),
                _ => (*a, Amount(TRADER_USD)),
            })
            .filter(|(_, amount)| amount.0 > 0)
            .collect(),
        minters: Vec::new(),
    });
    for token in tokens(params) {
        bank.assets.push(AssetGenesis {
            id: token,
            info: info(format!("T{}", token - TOKENS)),
            // A pool's side and a market's first supply.
            balances: vec![(provider, Amount(2 * LIQUIDITY))],
            minters: Vec::new(),
        });
    }
    bank.to_section()
}

/// The module, call and gas limit of `action`.
pub(crate) fn call(action: Action, params: &Params, addresses: &[Address]) -> (u16, Vec<u8>, u64) {
    let swap = |path: Vec<u32>, amount_in: u128| DexCall::SwapExactIn {
        path,
        amount_in,
        min_out: 0,
        deadline_ms: None,
    };
    let lend = |call: LendingCall| (LENDING, codec::encode(&call), GAS_LENDING);
    match action {
        Action::Transfer { receiver } => (
            BANK,
            codec::encode(&BankCall::Transfer {
                to: addresses[receiver as usize],
                asset: NATIVE,
                amount: super::workload::AMOUNT,
            }),
            super::workload::GAS_LIMIT,
        ),
        Action::Swap { pool } => (
            DEX,
            codec::encode(&swap(vec![USD, pool_asset(pool)], SWAP_USD)),
            GAS_SWAP,
        ),
        Action::TwoHop { pool } => (
            DEX,
            codec::encode(&swap(vec![NATIVE, USD, pool_asset(pool)], TWO_HOP_LAM)),
            GAS_TWO_HOP,
        ),
        Action::Supply => lend(LendingCall::Supply {
            asset: USD,
            amount: SUPPLY_USD,
        }),
        Action::Borrow { market } => lend(LendingCall::Borrow {
            asset: market_asset(market),
            amount: BORROW,
        }),
        Action::Repay { market } => lend(LendingCall::Repay {
            asset: market_asset(market),
            amount: BORROW,
            on_behalf: None,
        }),
        Action::Seed { market } => lend(LendingCall::Supply {
            asset: market_asset(market),
            amount: LIQUIDITY,
        }),
        Action::Report => (
            ORACLE,
            codec::encode(&OracleCall::Report {
                prices: (1..params.markets)
                    .map(|m| (market_asset(m), Amount(ONE)))
                    .collect(),
            }),
            GAS_REPORT,
        ),
    }
}

/// Gas limits, with room above what the calls use at 16 markets, their measured weights
/// included (the test below checks they suffice).
const GAS_SWAP: u64 = 60_000;
const GAS_TWO_HOP: u64 = 100_000;
const GAS_LENDING: u64 = 300_000;
const GAS_REPORT: u64 = 100_000;

/// Zipf draws over `n` ranks: the cumulative weights `1 / rank^s`.
pub(crate) struct Zipf(Vec<f64>);

impl Zipf {
    pub(crate) fn new(n: u32, s: f64) -> Zipf {
        let weights: Vec<f64> = (1..=n).map(|k| 1.0 / f64::from(k).powf(s)).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        Zipf(
            weights
                .iter()
                .map(|w| {
                    sum += w / total;
                    sum
                })
                .collect(),
        )
    }

    /// The rank (from 0) that `u`, uniform in [0, 1), falls on.
    pub(crate) fn rank(&self, u: f64) -> u32 {
        (self.0.partition_point(|c| *c <= u) as u32).min(self.0.len() as u32 - 1)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use lamina_agreement::testing::TestChain;
    use lamina_agreement::SignedTx;
    use lamina_interop::block::Outcome;
    use lamina_interop::ChainId;

    use super::super::workload::{self, Shape, Workload};
    use super::*;
    use crate::spec::Preset;

    fn shape(workload: Workload) -> Shape {
        Shape {
            accounts: 300,
            senders: 300,
            txs: 2_000,
            workload,
            defi: Params {
                pools: 8,
                zipf: 1.0,
                markets: 16,
            },
            report_every: 100,
            seed: 3,
            chain_id: ChainId(7357),
            gas_price: 1,
        }
    }

    /// Every transaction the DeFi workloads send succeeds, within its gas limit, in blocks of
    /// a hundred: the benchmark measures work done, not failures.
    #[test]
    fn every_workload_transaction_succeeds_within_its_gas_limit() {
        for workload in [Workload::Defi, Workload::Swaps] {
            let shape = shape(workload);
            let keys = workload::keys(shape.seed, shape.accounts);
            let addresses: Vec<Address> =
                keys.iter().map(|k| Address::of(&k.public_key())).collect();
            let chain = chain(&shape.defi, addresses[0], addresses[1]);
            let mut spec = chain.preset(Preset::Dev);
            spec.chain_id = shape.chain_id;
            spec.genesis.insert(
                "bank".into(),
                bank(&shape.defi, &addresses, 1_000_000_000_000_000_000),
            );
            let runtime = chain.runtime(&spec).unwrap();
            for (name, index) in [
                ("bank", BANK),
                ("oracle", ORACLE),
                ("dex", DEX),
                ("lending", LENDING),
            ] {
                assert_eq!(runtime.module_index(name), Some(index), "{name}");
            }
            let genesis: BTreeMap<String, serde_json::Value> = spec.genesis.clone();
            let mut test = TestChain::new(runtime, &genesis).unwrap();
            let plan = workload::plan(&shape);
            let raw = workload::sign(&shape, &keys, &addresses, &plan, &|_| {});
            let mut kinds = BTreeMap::<String, (u32, u64)>::new();
            for (block, chunk) in raw.chunks(100).enumerate() {
                let txs: Vec<SignedTx> = chunk
                    .iter()
                    .map(|r| SignedTx::decode_raw(r.as_ref()).unwrap())
                    .collect();
                let receipts = test.block(&txs).unwrap();
                for (i, receipt) in receipts.iter().enumerate() {
                    let p = plan[block * 100 + i];
                    assert_eq!(
                        receipt.outcome,
                        Outcome::Success,
                        "{workload:?} transaction {} ({:?})",
                        block * 100 + i,
                        p.action
                    );
                    let kind = format!("{:?}", p.action);
                    let kind = kind
                        .split([' ', '{'])
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let entry = kinds.entry(kind).or_default();
                    entry.0 += 1;
                    entry.1 = entry.1.max(receipt.gas_used);
                }
            }
            eprintln!("{workload:?}: (count, most gas used) by call: {kinds:?}");
            let count = |k: &str| kinds.get(k).map_or(0, |e| e.0);
            match workload {
                Workload::Swaps => assert_eq!(count("Swap"), shape.txs),
                _ => {
                    // 9, 3, 6 and 2 of every 20, give or take the draws.
                    let share = |k: &str| f64::from(count(k)) / f64::from(shape.txs);
                    assert!((0.40..0.50).contains(&share("Swap")), "{kinds:?}");
                    assert!((0.11..0.19).contains(&share("TwoHop")), "{kinds:?}");
                    assert!((0.25..0.35).contains(&(3.0 * share("Supply"))), "{kinds:?}");
                    assert!((0.06..0.14).contains(&share("Transfer")), "{kinds:?}");
                    assert_eq!(count("Seed"), 15);
                    assert!((19..=21).contains(&count("Report")), "{kinds:?}");
                }
            }
        }
    }

    #[test]
    fn zipf_draws_favour_the_first_ranks_and_zero_is_uniform() {
        let one = Zipf::new(64, 1.0);
        let flat = Zipf::new(64, 0.0);
        let draws = 100_000;
        let first = |z: &Zipf| {
            (0..draws)
                .filter(|i| z.rank((f64::from(*i) + 0.5) / f64::from(draws)) == 0)
                .count() as f64
                / f64::from(draws)
        };
        // 1 / H(64) = 0.21; uniform: 1 / 64.
        assert!((0.20..0.22).contains(&first(&one)));
        assert!((0.014..0.017).contains(&first(&flat)));
        assert_eq!(one.rank(0.999_999_9), 63);
        assert_eq!(Zipf::new(1, 1.0).rank(0.5), 0);
    }
}
