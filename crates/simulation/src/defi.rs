//! A DeFi workload for the whole-chain simulation: suppliers, borrowers, traders, oracle
//! feeders moving the price, and liquidators, on Lamina's `oracle`, `dex` and `lending`.
//!
//! ```text
//! account n, by n % 5:
//!   0 supplier     supplies USD
//!   1 borrower     supplies 10 ETH (worth 20 000 USD at the start), borrows 13 000 USD:
//!                  the first three succeed (the limit is 75% of the collateral), later
//!                  ones are refused as the price falls
//!   2 trader       swaps ETH for USD or back (one pool) or LAM for ETH and on to USD;
//!                  every other one stakes LAM for stLAM instead, and redeems some of it;
//!                  the first sixteen others open a payment channel to the next account
//!                  instead, close it on an old state, challenge with a newer one and
//!                  close by agreement (the peer's signatures are made here too)
//!   3 feeder       reports an ETH price that walks down 5% a report to 55%, then back up
//!                  (the first 32; later ones trade)
//!   4 liquidator   liquidates one of the first three borrowers, repaying USD, seizing ETH:
//!                  refused while the borrower is healthy, done below 81% of the start
//!                  price, and below 65% the collateral runs out and leaves bad debt
//! ```
//!
//! [`Workload::check`] runs on every honest validator's committed state: each market's
//! books balance to the unit and match the ledger, every pool's reserves are its account's
//! balances, no bank supply changed (nothing was minted or burned), liquid staking's account
//! holds its buffer and reserve and its stake reached the validators through the real staking
//! module, the channels' escrow holds exactly the deposits of channels not yet settled and
//! each settled channel paid out its newest state, and the traffic had its effect (the
//! market lent, a borrower was liquidated, a channel settled).

use std::collections::BTreeMap;

use lamina_agreement::modules::bank::{self, AssetGenesis, AssetInfo, Bank, BankGenesis, NATIVE};
use lamina_agreement::{Runtime, RuntimeBuilder, SignedTx, UnsignedTx};
use lamina_app::channels::{
    escrow_account as channels_account, Channels, ChannelsCall, ChannelsGenesis, Phase, CHANNELS,
};
use lamina_app::dex::{pair, pool_account, Dex, DexCall, DexGenesis, GenesisPool, POOLS};
use lamina_app::lending::{
    lending_account, Lending, LendingCall, LendingGenesis, MarketConfig, MarketGenesis, ACCOUNTS,
    MARKETS,
};
use lamina_app::liquid_staking::{
    staking_account, LiquidStaking, LiquidStakingCall, LiquidStakingGenesis,
    Params as LiquidParams, POOL as LIQUID_POOL,
};
use lamina_app::oracle::{FeedGenesis, Oracle, OracleCall, OracleGenesis, Params, ONE};
use lamina_incentive::staking::Staking;
use lamina_interop::channel::{channel_id, ChannelState, SignedState};
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::SecretKey;
use lamina_interop::module::{Amount, Module, StateView};
use lamina_interop::Address;

use crate::Workload;

/// The dollar.
pub const USD: u32 = 1;
/// The volatile asset.
pub const ETH: u32 = 2;
/// The liquid staking token.
pub const STAKED: u32 = 3;
const E18: u128 = 1_000_000_000_000_000_000;
/// What each account holds of USD and ETH.
const HOLDING: u128 = 1_000_000 * E18;
/// Feeders: the first accounts with `n % 5 == 3`.
const FEEDERS: u64 = 32;
/// Channel openers: traders `n` with `n % 10 == 7` below this.
const CHANNEL_OPENERS_BELOW: u64 = 160;
/// Each channel's deposit, and what the newest state pays the peer.
const CHANNEL_DEPOSIT: u128 = 1_000 * E18;
const CHANNEL_PAID: u128 = 300 * E18;
/// The account that provides the genesis pools (it never sends).
const PROVIDER: usize = 4_095;

/// The workload. It remembers the supply of USD and ETH it gave at genesis, to check that
/// none was created or destroyed.
#[derive(Debug, Clone, Default)]
pub struct Defi {
    genesis_supply: std::sync::Arc<std::sync::OnceLock<u128>>,
}

/// The ETH price reported by feeder number `k`: down 5% a report to 55%, then back up.
fn price(k: u64) -> u128 {
    let step = k % 20;
    let percent = if step < 10 {
        95 - 5 * step
    } else {
        55 + 5 * (step - 9)
    };
    2_000 * ONE / 100 * u128::from(percent)
}

fn sign<M: Module>(runtime: &Runtime, from: &SecretKey, nonce: u64, call: &M::Call) -> SignedTx {
    let gas_limit = 1_000_000;
    UnsignedTx {
        chain_id: runtime.config().chain_id,
        sender: from.public_key(),
        nonce,
        max_fee: runtime.required_fee(gas_limit, 0).unwrap_or(u128::MAX),
        tip: 0,
        gas_limit,
        module: runtime.module_index(M::NAME).unwrap_or(u16::MAX),
        call: BoundedBytes::try_from_vec(codec::encode(call)).unwrap_or_default(),
    }
    .sign(from)
}

/// Account `n`'s channel to account `n + 1`: its id and the two keys.
fn channel_of(n: u64) -> (lamina_interop::Hash, [SecretKey; 2]) {
    let keys = [
        lamina_agreement::testing::key(n),
        lamina_agreement::testing::key(n + 1),
    ];
    let id = channel_id(&[keys[0].public_key(), keys[1].public_key()], 0);
    (id, keys)
}

/// A channel's life in one batch: open; close on version 1 (100 paid); a challenge with
/// version 2 (300 paid); a close by agreement on version 3, final.
fn channel_traffic(runtime: &Runtime, n: u64, from: &SecretKey) -> Vec<SignedTx> {
    let (id, keys) = channel_of(n);
    let chain = runtime.config().chain_id;
    let both = |state: &ChannelState| SignedState {
        signatures: [state.sign(&keys[0]), state.sign(&keys[1])],
        state: state.clone(),
    };
    let opening = ChannelState::opening(chain, id, [CHANNEL_DEPOSIT, 0]);
    let (Some(v1), Some(v2)) = (
        opening.pay(0, CHANNEL_PAID / 3),
        opening.pay(0, CHANNEL_PAID).map(|mut s| {
            s.version = 2;
            s
        }),
    ) else {
        return Vec::new();
    };
    let mut v3 = v2.clone();
    v3.version = 3;
    v3.is_final = true;
    let calls = [
        ChannelsCall::Open {
            nonce: 0,
            keys: [keys[0].public_key(), keys[1].public_key()],
            asset: USD,
            deposit: CHANNEL_DEPOSIT,
            challenge_blocks: 5,
        },
        ChannelsCall::Close {
            channel: id,
            state: Some(both(&v1)),
        },
        ChannelsCall::Challenge { state: both(&v2) },
        ChannelsCall::CloseCooperative { state: both(&v3) },
    ];
    calls
        .iter()
        .enumerate()
        .map(|(i, call)| sign::<Channels<Bank>>(runtime, from, i as u64, call))
        .collect()
}

type Lend = Lending<Bank, Oracle>;
type Liquid = LiquidStaking<Bank, Staking<Bank>>;

impl Workload for Defi {
    fn modules(&self, runtime: RuntimeBuilder) -> RuntimeBuilder {
        runtime
            .module(Oracle)
            .module(Dex::new(Bank))
            .module(Lending::new(Bank, Oracle, &[USD, ETH]))
            .module(LiquidStaking::new(Bank, Staking::new(Bank), STAKED))
            .module(Channels::new(Bank))
    }

    fn genesis(&self, bank: &mut BankGenesis) -> BTreeMap<String, serde_json::Value> {
        let holders: Vec<Address> = bank.assets[0].balances.iter().map(|(a, _)| *a).collect();
        let _ = self
            .genesis_supply
            .set(HOLDING.saturating_mul(holders.len() as u128));
        for (id, symbol) in [(USD, "USD"), (ETH, "ETH")] {
            bank.assets.push(AssetGenesis {
                id,
                info: AssetInfo {
                    symbol: symbol.into(),
                    decimals: 18,
                },
                balances: holders.iter().map(|a| (*a, Amount(HOLDING))).collect(),
                minters: Vec::new(),
            });
        }
        bank.assets.push(AssetGenesis {
            id: STAKED,
            info: AssetInfo {
                symbol: "stLAM".into(),
                decimals: 18,
            },
            balances: Vec::new(),
            minters: vec!["liquid-staking".into()],
        });
        let feeders = (0..FEEDERS)
            .filter_map(|k| holders.get((5 * k + 3) as usize).copied())
            .collect();
        let oracle = OracleGenesis {
            params: Params {
                max_report_age_blocks: 50,
                min_reports: 1,
                max_move_bps: 1_000,
            },
            feeders,
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
        let provider = holders[PROVIDER.min(holders.len() - 1)];
        let dex = DexGenesis {
            fee_bps: 30,
            pools: vec![
                GenesisPool {
                    asset_a: ETH,
                    asset_b: USD,
                    amount_a: 100 * E18,
                    amount_b: 200_000 * E18,
                    provider,
                },
                GenesisPool {
                    asset_a: NATIVE,
                    asset_b: ETH,
                    amount_a: 100_000_000,
                    amount_b: E18,
                    provider,
                },
            ],
        };
        let mut lending = LendingGenesis::default();
        lending.params.blocks_per_year = 1_000_000;
        lending.params.max_price_age_blocks = 1_000;
        lending.markets = vec![
            MarketGenesis {
                asset: USD,
                config: MarketConfig::new(8_000, 8_500),
            },
            MarketGenesis {
                asset: ETH,
                config: MarketConfig::new(7_500, 8_000),
            },
        ];
        let section =
            |value: serde_json::Result<serde_json::Value>| value.unwrap_or(serde_json::Value::Null);
        BTreeMap::from([
            ("oracle".to_string(), section(serde_json::to_value(oracle))),
            ("dex".to_string(), section(serde_json::to_value(dex))),
            (
                "lending".to_string(),
                section(serde_json::to_value(lending)),
            ),
            (
                "liquid-staking".to_string(),
                section(serde_json::to_value(LiquidStakingGenesis {
                    params: Some(LiquidParams {
                        min_stake: 1_000,
                        unbonding_blocks: 100,
                    }),
                })),
            ),
            (
                "channels".to_string(),
                serde_json::json!(ChannelsGenesis::default()),
            ),
        ])
    }

    fn transaction(&self, runtime: &Runtime, n: u64, from: &SecretKey, other: Address) -> SignedTx {
        self.transactions(runtime, n, from, other)
            .into_iter()
            .next()
            .unwrap_or_else(|| {
                sign::<Lend>(
                    runtime,
                    from,
                    0,
                    &LendingCall::Supply {
                        asset: USD,
                        amount: 1,
                    },
                )
            })
    }

    fn transactions(
        &self,
        runtime: &Runtime,
        n: u64,
        from: &SecretKey,
        _other: Address,
    ) -> Vec<SignedTx> {
        let amount = u128::from(n);
        match n % 5 {
            0 => vec![sign::<Lend>(
                runtime,
                from,
                0,
                &LendingCall::Supply {
                    asset: USD,
                    amount: 50_000 * E18 + amount,
                },
            )],
            1 => vec![
                sign::<Lend>(
                    runtime,
                    from,
                    0,
                    &LendingCall::Supply {
                        asset: ETH,
                        amount: 10 * E18,
                    },
                ),
                sign::<Lend>(
                    runtime,
                    from,
                    1,
                    &LendingCall::Borrow {
                        asset: USD,
                        amount: 13_000 * E18,
                    },
                ),
            ],
            3 if n / 5 < FEEDERS => vec![sign::<Oracle>(
                runtime,
                from,
                0,
                &OracleCall::Report {
                    prices: vec![(ETH, Amount(price(n / 5)))],
                },
            )],
            4 => {
                let borrower = lamina_agreement::testing::key(1 + 5 * ((n / 5) % 3));
                vec![sign::<Lend>(
                    runtime,
                    from,
                    0,
                    &LendingCall::Liquidate {
                        borrower: Address::of(&borrower.public_key()),
                        debt_asset: USD,
                        collateral_asset: ETH,
                        max_repay: u128::MAX,
                    },
                )]
            }
            2 if n % 10 == 7 && n < CHANNEL_OPENERS_BELOW => channel_traffic(runtime, n, from),
            2 if n % 10 == 2 => vec![
                sign::<Liquid>(
                    runtime,
                    from,
                    0,
                    &LiquidStakingCall::Stake {
                        amount: 1_000_000_000,
                    },
                ),
                sign::<Liquid>(
                    runtime,
                    from,
                    1,
                    &LiquidStakingCall::Redeem {
                        shares: 100_000_000,
                        request: 1,
                    },
                ),
            ],
            _ => {
                let path = match n % 3 {
                    0 => vec![ETH, USD],
                    1 => vec![USD, ETH],
                    _ => vec![NATIVE, ETH, USD],
                };
                let amount_in = match path[0] {
                    ETH => E18 / 10 + amount,
                    USD => 200 * E18 + amount,
                    _ => 10_000 + amount,
                };
                vec![sign::<Dex<Bank>>(
                    runtime,
                    from,
                    0,
                    &DexCall::SwapExactIn {
                        path,
                        amount_in,
                        min_out: 0,
                        deadline_ms: None,
                    },
                )]
            }
        }
    }

    fn check(&self, _runtime: &Runtime, state: &dyn StateView) -> Result<(), String> {
        let err = |e: lamina_interop::module::StateError| e.to_string();
        let mut lent = false;
        for asset in [USD, ETH] {
            let m = MARKETS
                .get_committed(state, &asset)
                .map_err(err)?
                .ok_or(format!("no market {asset}"))?;
            let held = bank::committed_balance(state, asset, &lending_account()).map_err(err)?;
            if held != m.cash {
                return Err(format!(
                    "market {asset}: cash {} but the ledger holds {held}",
                    m.cash
                ));
            }
            if m.cash + m.borrows + m.bad_debt != m.supplied + m.reserves {
                return Err(format!("market {asset}: the books do not balance: {m:?}"));
            }
            lent |= m.borrows > 0 || m.bad_debt > 0;
        }
        if !lent {
            return Err("nothing was borrowed".into());
        }
        // The first borrowers never repay: a debt below what they borrowed was partly
        // liquidated, and one with no position left was liquidated in full.
        let mut liquidated = false;
        for n in [1u64, 6, 11] {
            let borrower = Address::of(&lamina_agreement::testing::key(n).public_key());
            let positions = ACCOUNTS
                .get_committed(state, &borrower)
                .map_err(err)?
                .unwrap_or_default();
            let owed = positions
                .iter()
                .find(|p| p.asset == USD)
                .map_or(0, |p| p.principal);
            liquidated |= owed < 13_000 * E18;
        }
        if !liquidated {
            return Err("no borrower was liquidated".into());
        }
        for (a, b) in [(ETH, USD), (NATIVE, ETH)] {
            let pair = pair(a, b).map_err(|e| e.to_string())?;
            let pool = POOLS
                .get_committed(state, &pair)
                .map_err(err)?
                .ok_or(format!("no pool {pair:?}"))?;
            let account = pool_account(pair);
            for (asset, reserve) in [(pair.0, pool.reserve_a), (pair.1, pool.reserve_b)] {
                let held = bank::committed_balance(state, asset, &account).map_err(err)?;
                if held != reserve {
                    return Err(format!(
                        "pool {pair:?}: reserve {reserve} of {asset}, held {held}"
                    ));
                }
            }
        }
        let mut unsettled = 0u128;
        let mut settled = 0;
        for n in (7..CHANNEL_OPENERS_BELOW).step_by(10) {
            let (id, _) = channel_of(n);
            let Some(channel) = CHANNELS.get_committed(state, &id).map_err(err)? else {
                continue;
            };
            let deposits = channel.deposit_amounts();
            match channel.phase {
                Phase::Settled { version, payouts } => {
                    settled += 1;
                    if version != 3
                        || payouts.map(|a| a.0) != [CHANNEL_DEPOSIT - CHANNEL_PAID, CHANNEL_PAID]
                    {
                        return Err(format!(
                            "channel of {n} settled on version {version}: {payouts:?}"
                        ));
                    }
                }
                _ => unsettled += deposits[0] + deposits[1],
            }
        }
        let escrow = bank::committed_balance(state, USD, &channels_account()).map_err(err)?;
        if escrow != unsettled {
            return Err(format!(
                "the channels' escrow holds {escrow}, its open channels {unsettled}"
            ));
        }
        if settled == 0 {
            return Err("no channel settled".into());
        }
        let liquid = LIQUID_POOL
            .get_committed(state)
            .map_err(err)?
            .ok_or("liquid staking has no pool")?;
        let held = bank::committed_balance(state, NATIVE, &staking_account()).map_err(err)?;
        if held != liquid.buffer + liquid.reserve {
            return Err(format!("liquid staking holds {held}: {liquid:?}"));
        }
        if liquid.delegated == 0 || liquid.shares == 0 {
            return Err(format!(
                "nothing was staked through the validators: {liquid:?}"
            ));
        }
        for asset in [USD, ETH] {
            let supply = bank::SUPPLY
                .get_committed(state, &asset)
                .map_err(err)?
                .unwrap_or(0);
            let expected = self.genesis_supply.get().copied().unwrap_or(0);
            if supply != expected {
                return Err(format!(
                    "asset {asset}: supply {supply}, genesis {expected}"
                ));
            }
        }
        Ok(())
    }
}
