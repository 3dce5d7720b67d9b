//! The application layer's DeFi modules in a chain's presets: an `oracle` fed by alice, a
//! `dex` with a LAM/quote pool from dave, a `lending` market in each asset, and two
//! `insurance` pools in the quote asset, one decided by its underwriters' vote and one paid
//! on lending's bad debt ([`Chain::defi`]). Lamina's own dev chain adds them with a dollar (asset 1) as the quote,
//! the `interchain` module ([`Chain::interchain`]) and payment `channels` ([`Chain::channels`]).

use lamina_agreement::modules::bank::{AssetGenesis, AssetInfo, Bank, NATIVE};
use lamina_app::channels::{Channels, ChannelsGenesis};
use lamina_app::dex::{Dex, DexGenesis, GenesisPool};
use lamina_app::insurance::{Insurance, InsuranceGenesis, PoolGenesis, Trigger};
use lamina_app::interchain::{Interchain, InterchainGenesis};
use lamina_app::lending::{Lending, LendingGenesis, MarketConfig, MarketGenesis};
use lamina_app::liquid_staking::{LiquidStaking, LiquidStakingGenesis, Params as LiquidParams};
use lamina_app::oracle::{FeedGenesis, Oracle, OracleGenesis, Params as OracleParams, ONE};
use lamina_incentive::staking::Staking;
use lamina_interop::module::Amount;

use crate::spec::{dev_account, DEV_ACCOUNTS};
use crate::Chain;

/// The dev chain's dollar: 18 decimals, a million for each dev account.
pub(crate) const USD: u32 = 1;
/// The liquid staking token, stLAM, that [`Chain::defi`] adds.
pub const STAKED_NATIVE: u32 = 2;
const E18: u128 = 1_000_000_000_000_000_000;

/// Lamina's dev chain: `chain` with a dollar for the dev accounts and the DeFi modules.
pub(crate) fn compose(chain: Chain) -> Chain {
    let usd = AssetGenesis {
        id: USD,
        info: AssetInfo {
            symbol: "USD".into(),
            decimals: 18,
        },
        balances: DEV_ACCOUNTS
            .iter()
            .map(|name| (dev_account(name), Amount(1_000_000 * E18)))
            .collect(),
        minters: Vec::new(),
    };
    chain.asset(usd).defi(USD).interchain().channels()
}

impl Chain {
    /// Adds the `interchain` module (clients of other chains, packets, token transfer) with
    /// alice as its authority in the presets: she may recover an expired or frozen client and
    /// set rate limits.
    pub fn interchain(self) -> Chain {
        let genesis = InterchainGenesis {
            authority: Some(dev_account("alice")),
            ..InterchainGenesis::default()
        };
        self.module(Interchain::new(Bank), genesis)
    }
}

impl Chain {
    /// Adds the `channels` module (two-party payment channels) with its default rules:
    /// challenge periods of 5 blocks to 30 days.
    pub fn channels(self) -> Chain {
        self.module(Channels::new(Bank), ChannelsGenesis::default())
    }
}

impl Chain {
    /// Adds `oracle`, `dex`, `lending` and `insurance` with presets for the native asset and
    /// `quote` (a bank asset of 18 decimals that the dev accounts hold, priced at one): alice
    /// feeds the native asset's price (2 quote), dave provides a pool of 100 native and 200
    /// quote, each asset has a lending market, insurance pool 0 (claims voted by its
    /// underwriters) and pool 1 (paid on bad debt in the quote market) take quote capital,
    /// and `liquid-staking` stakes the native asset across the validator set for stLAM
    /// (asset [`STAKED_NATIVE`], which this adds to the bank).
    pub fn defi(self, quote: u32) -> Chain {
        let oracle = OracleGenesis {
            // Reports count for 100 blocks; one makes a price; at most 50% a block.
            params: OracleParams {
                max_report_age_blocks: 100,
                min_reports: 1,
                max_move_bps: 5_000,
            },
            feeders: vec![dev_account("alice")],
            feeds: vec![
                FeedGenesis {
                    asset: NATIVE,
                    price: Some(2 * ONE),
                    fixed: false,
                },
                FeedGenesis {
                    asset: quote,
                    price: Some(ONE),
                    fixed: true,
                },
            ],
        };
        let dex = DexGenesis {
            fee_bps: 30,
            pools: vec![GenesisPool {
                asset_a: NATIVE,
                asset_b: quote,
                amount_a: 100 * E18,
                amount_b: 200 * E18,
                provider: dev_account("dave"),
            }],
        };
        let mut lending = LendingGenesis::default();
        // One-second blocks.
        lending.params.blocks_per_year = 31_536_000;
        lending.params.max_price_age_blocks = 600;
        lending.markets = vec![
            MarketGenesis {
                asset: NATIVE,
                config: MarketConfig::new(7_500, 8_000),
            },
            MarketGenesis {
                asset: quote,
                config: MarketConfig::new(8_000, 8_500),
            },
        ];
        let pool = |id: u32, risk: &str, trigger: Trigger| PoolGenesis {
            id,
            asset: quote,
            risk: risk.into(),
            trigger,
            base_rate_bps: 200,
            slope_bps: 1_000,
            max_utilisation_bps: 9_000,
        };
        let mut insurance = InsuranceGenesis::default();
        insurance.params.voting_blocks = 60;
        insurance.pools = vec![
            pool(0, "failure of a contract or bridge", Trigger::Vote),
            pool(
                1,
                "bad debt in the lending market",
                Trigger::BadDebt { asset: quote },
            ),
        ];
        let staked = AssetGenesis {
            id: STAKED_NATIVE,
            info: AssetInfo {
                symbol: "stLAM".into(),
                decimals: 18,
            },
            balances: Vec::new(),
            minters: vec!["liquid-staking".into()],
        };
        let liquid = LiquidStakingGenesis {
            params: Some(LiquidParams {
                min_stake: E18 / 1_000,
                // The local proof-of-stake preset's unbonding period.
                unbonding_blocks: 600,
            }),
        };
        let markets = Lending::new(Bank, Oracle, &[NATIVE, quote]);
        self.asset(staked)
            .module(Oracle, oracle)
            .module(Dex::new(Bank), dex)
            .module(markets.clone(), lending)
            .module(Insurance::new(Bank, markets, &[quote]), insurance)
            .module(
                LiquidStaking::new(Bank, Staking::new(Bank), STAKED_NATIVE),
                liquid,
            )
    }
}
