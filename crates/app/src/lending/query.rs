//! What clients can ask the module, answered from committed state (as of each market's last
//! accrual).

use lamina_interop::module::{Ledger, PriceFeed, StateView};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::health::{self, debt, shares_to_assets};
use super::rate::utilisation;
use super::{Lending, LendingError, Market, Params, ACCOUNTS, MARKETS, PARAMS};
use crate::math::{mul_div, WAD};

/// A query. As JSON: `{"account": {"account": "0x…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LendingQuery {
    /// A market's books and rates.
    Market {
        /// The asset.
        asset: u32,
    },
    /// An account's positions, values and health factor.
    Account {
        /// The account.
        account: Address,
    },
    /// The rates a market's model gives at a utilisation (basis points).
    RatesAt {
        /// The asset.
        asset: u32,
        /// The utilisation, in basis points.
        utilisation_bps: u32,
    },
    /// Every open market, with its rates now, by asset.
    Markets,
    /// The rules.
    Params,
}

/// A market, with its rates now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketView {
    /// The books.
    pub market: Market,
    /// Utilisation, scaled by 10^18.
    #[serde(with = "lamina_interop::module::amount")]
    pub utilisation_wad: u128,
    /// Yearly borrow rate, scaled by 10^18.
    #[serde(with = "lamina_interop::module::amount")]
    pub borrow_rate_wad: u128,
    /// Yearly supply rate, scaled by 10^18.
    #[serde(with = "lamina_interop::module::amount")]
    pub supply_rate_wad: u128,
    /// Asset per share, scaled by 10^18.
    #[serde(with = "lamina_interop::module::amount")]
    pub exchange_rate_wad: u128,
}

/// One market of an account, in the asset's units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionView {
    /// The market.
    pub asset: u32,
    /// Supply shares.
    #[serde(with = "lamina_interop::module::amount")]
    pub shares: u128,
    /// What they are worth.
    #[serde(with = "lamina_interop::module::amount")]
    pub supplied: u128,
    /// Debt owed.
    #[serde(with = "lamina_interop::module::amount")]
    pub debt: u128,
}

/// An account, valued at the oracle's prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// Its markets.
    pub positions: Vec<PositionView>,
    /// Collateral value, in the quote asset.
    #[serde(with = "lamina_interop::module::amount")]
    pub collateral_value: u128,
    /// How much debt value the collateral allows.
    #[serde(with = "lamina_interop::module::amount")]
    pub borrow_limit: u128,
    /// Debt value.
    #[serde(with = "lamina_interop::module::amount")]
    pub debt_value: u128,
    /// Health factor scaled by 10^18 (below 10^18: liquidatable); null without debt.
    #[serde(with = "lamina_interop::module::amount::option")]
    pub health_factor_wad: Option<u128>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LendingResponse {
    /// A market.
    Market(MarketView),
    /// An account.
    Account(AccountView),
    /// Yearly rates at a utilisation, scaled by 10^18.
    Rates {
        /// The borrow rate.
        #[serde(with = "lamina_interop::module::amount")]
        borrow_rate_wad: u128,
        /// The supply rate.
        #[serde(with = "lamina_interop::module::amount")]
        supply_rate_wad: u128,
    },
    /// The open markets.
    Markets(Vec<MarketView>),
    /// The rules.
    Params(Option<Params>),
}

fn market(state: &dyn StateView, asset: u32) -> Result<Market, LendingError> {
    MARKETS
        .get_committed(state, &asset)?
        .ok_or(LendingError::UnknownMarket(asset))
}

fn view(market: Market) -> Result<MarketView, LendingError> {
    let u = utilisation(&market)?;
    let rf = market.config.reserve_factor_bps;
    Ok(MarketView {
        utilisation_wad: u,
        borrow_rate_wad: market.config.rate.borrow_rate(u)?,
        supply_rate_wad: market.config.rate.supply_rate(u, rf)?,
        exchange_rate_wad: shares_to_assets(&market, WAD)?,
        market,
    })
}

pub(super) fn answer<L: Ledger, P: PriceFeed>(
    lending: &Lending<L, P>,
    query: LendingQuery,
    state: &dyn StateView,
) -> Result<LendingResponse, LendingError> {
    match query {
        LendingQuery::Market { asset } => Ok(LendingResponse::Market(view(market(state, asset)?)?)),
        LendingQuery::Markets => {
            let mut views = Vec::new();
            for asset in lending.markets.iter() {
                // A market genesis did not open stays closed, and is not listed.
                if let Some(market) = MARKETS.get_committed(state, asset)? {
                    views.push(view(market)?);
                }
            }
            Ok(LendingResponse::Markets(views))
        }
        LendingQuery::RatesAt {
            asset,
            utilisation_bps,
        } => {
            let market = market(state, asset)?;
            let u = mul_div(u128::from(utilisation_bps.min(10_000)), WAD, 10_000)?;
            Ok(LendingResponse::Rates {
                borrow_rate_wad: market.config.rate.borrow_rate(u)?,
                supply_rate_wad: market
                    .config
                    .rate
                    .supply_rate(u, market.config.reserve_factor_bps)?,
            })
        }
        LendingQuery::Account { account } => {
            let positions = ACCOUNTS.get_committed(state, &account)?.unwrap_or_default();
            let mut views = Vec::new();
            for p in &positions {
                let m = market(state, p.asset)?;
                views.push(PositionView {
                    asset: p.asset,
                    shares: p.shares,
                    supplied: shares_to_assets(&m, p.shares)?,
                    debt: debt(&m, p)?,
                });
            }
            let v = health::value(
                &positions,
                |asset| market(state, asset),
                |asset| {
                    lending
                        .prices
                        .committed_price(state, asset)?
                        .map(|p| p.value)
                        .ok_or(LendingError::NoPrice(asset))
                },
            )?;
            Ok(LendingResponse::Account(AccountView {
                positions: views,
                collateral_value: v.collateral,
                borrow_limit: v.borrow_limit,
                debt_value: v.debt,
                health_factor_wad: (v.debt > 0).then(|| v.health_wad()),
            }))
        }
        LendingQuery::Params => Ok(LendingResponse::Params(PARAMS.get_committed(state)?)),
    }
}
