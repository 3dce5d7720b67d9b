//! Valuing an account: its collateral, its debts, its health factor.

use lamina_interop::module::{Price, PRICE_SCALE};
use lamina_interop::Height;

use super::{LendingError, Market, Position, VIRTUAL_ASSETS, VIRTUAL_SHARES};
use crate::math::{self, mul_div, mul_div_up, BPS, WAD};

/// What `shares` of `market` are worth in its asset, rounded down.
pub fn shares_to_assets(market: &Market, shares: u128) -> Result<u128, LendingError> {
    Ok(mul_div(
        shares,
        math::add(market.assets(), VIRTUAL_ASSETS)?,
        math::add(market.shares, VIRTUAL_SHARES)?,
    )?)
}

/// Shares for `amount` of the asset: rounded down when minted for a supply, up when burned
/// for a withdrawal.
pub fn assets_to_shares(market: &Market, amount: u128, up: bool) -> Result<u128, LendingError> {
    let (s, a) = (
        math::add(market.shares, VIRTUAL_SHARES)?,
        math::add(market.assets(), VIRTUAL_ASSETS)?,
    );
    Ok(if up {
        mul_div_up(amount, s, a)?
    } else {
        mul_div(amount, s, a)?
    })
}

/// What a position owes now, rounded up.
pub fn debt(market: &Market, position: &Position) -> Result<u128, LendingError> {
    if position.principal == 0 {
        return Ok(0);
    }
    Ok(mul_div_up(
        position.principal,
        market.borrow_index,
        position.index.max(1),
    )?)
}

/// An account's worth, in the quote asset of the prices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Valuation {
    /// Collateral value, rounded down.
    pub collateral: u128,
    /// Collateral value times each market's collateral factor: the borrowing limit.
    pub borrow_limit: u128,
    /// Collateral value times each market's liquidation threshold.
    pub weighted: u128,
    /// Debt value, rounded up.
    pub debt: u128,
}

impl Valuation {
    /// `weighted / debt`, scaled by 10^18; `u128::MAX` without debt.
    pub fn health_wad(&self) -> u128 {
        if self.debt == 0 {
            return u128::MAX;
        }
        mul_div(self.weighted, WAD, self.debt).unwrap_or(u128::MAX)
    }
}

/// A price no older than `max_age` at `now`.
pub fn fresh(
    asset: u32,
    price: Option<Price>,
    now: Height,
    max_age: u64,
) -> Result<u128, LendingError> {
    let price = price.ok_or(LendingError::NoPrice(asset))?;
    let age_blocks = price.age_blocks(now);
    if age_blocks > max_age {
        return Err(LendingError::StalePrice {
            asset,
            age_blocks,
            limit: max_age,
        });
    }
    Ok(price.value)
}

/// Values `positions` given each market (accrued) and price (`price(asset)`, checked fresh
/// by the caller).
pub fn value(
    positions: &[Position],
    market: impl Fn(u32) -> Result<Market, LendingError>,
    mut price: impl FnMut(u32) -> Result<u128, LendingError>,
) -> Result<Valuation, LendingError> {
    let mut v = Valuation::default();
    for position in positions {
        if position.shares == 0 && position.principal == 0 {
            continue;
        }
        let market = market(position.asset)?;
        let price = price(position.asset)?;
        if position.shares > 0 {
            let amount = shares_to_assets(&market, position.shares)?;
            let worth = mul_div(amount, price, PRICE_SCALE)?;
            v.collateral = math::add(v.collateral, worth)?;
            let cf = u128::from(market.config.collateral_factor_bps);
            let lt = u128::from(market.config.liquidation_threshold_bps);
            v.borrow_limit = math::add(v.borrow_limit, mul_div(worth, cf, BPS)?)?;
            v.weighted = math::add(v.weighted, mul_div(worth, lt, BPS)?)?;
        }
        let owed = debt(&market, position)?;
        if owed > 0 {
            v.debt = math::add(v.debt, mul_div_up(owed, price, PRICE_SCALE)?)?;
        }
    }
    Ok(v)
}
