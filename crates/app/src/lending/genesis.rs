//! The module's section of the chain spec: the rules and each market's settings.

use lamina_interop::module::{Context, Ledger, PriceFeed};
use serde::{Deserialize, Serialize};

use super::{Lending, LendingError, Market, MarketConfig, Params, MARKETS, PARAMS};
use crate::math::WAD;

/// A market in genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketGenesis {
    /// The asset.
    pub asset: u32,
    /// Its settings.
    #[serde(flatten)]
    pub config: MarketConfig,
}

/// `"lending": {"params": {...}, "markets": [...]}` in the chain spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LendingGenesis {
    /// The rules.
    pub params: Params,
    /// The markets that open, each one the module was composed with. A composed market
    /// without an entry stays closed (its calls get `UnknownMarket`), as every market does
    /// when the section is absent.
    pub markets: Vec<MarketGenesis>,
}

impl Default for LendingGenesis {
    /// Compound's and Aave's usual rules, no markets.
    fn default() -> Self {
        LendingGenesis {
            params: Params {
                close_factor_bps: 5_000,
                full_close_health_bps: 9_500,
                max_price_age_blocks: 100,
                blocks_per_year: 31_536_000,
            },
            markets: Vec::new(),
        }
    }
}

pub(super) fn init<L: Ledger + Clone, P: PriceFeed + Clone>(
    lending: &Lending<L, P>,
    genesis: &LendingGenesis,
    ctx: &mut Context<'_, '_, Lending<L, P>>,
) -> Result<(), LendingError> {
    let bad = |why: String| Err(LendingError::Genesis(why));
    let p = &genesis.params;
    if p.close_factor_bps == 0 || p.close_factor_bps > 10_000 {
        return bad("close_factor_bps must be in 1..=10000".into());
    }
    if p.full_close_health_bps > 10_000 || p.blocks_per_year == 0 {
        return bad("full_close_health_bps at most 10000, blocks_per_year above 0".into());
    }
    for (i, m) in genesis.markets.iter().enumerate() {
        let c = &m.config;
        if !lending.markets().contains(&m.asset) {
            return bad(format!(
                "market {} was not composed into the module",
                m.asset
            ));
        }
        if genesis.markets[..i].iter().any(|o| o.asset == m.asset) {
            return bad(format!("market {} is listed twice", m.asset));
        }
        if c.collateral_factor_bps > c.liquidation_threshold_bps
            || c.liquidation_threshold_bps >= 10_000
        {
            return bad(format!(
                "market {}: collateral factor <= liquidation threshold < 10000",
                m.asset
            ));
        }
        // Seizing `threshold * (1 + bonus)` of a debt's worth must leave room: Aave's rule.
        if u32::from(c.liquidation_threshold_bps) * (10_000 + u32::from(c.liquidation_bonus_bps))
            > 10_000 * 10_000
            || c.reserve_factor_bps > 10_000
            || c.rate.kink_bps > 10_000
        {
            return bad(format!(
                "market {}: threshold * (1 + bonus) above one, or a factor above 10000",
                m.asset
            ));
        }
        let market = Market {
            asset: m.asset,
            config: c.clone(),
            cash: 0,
            borrows: 0,
            reserves: 0,
            supplied: 0,
            bad_debt: 0,
            shares: 0,
            borrow_index: WAD,
            last_height: ctx.env().height,
        };
        MARKETS.set(ctx.state(), &m.asset, &market)?;
    }
    PARAMS.set(ctx.state(), p)?;
    Ok(())
}
