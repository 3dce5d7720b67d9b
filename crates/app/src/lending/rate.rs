//! The interest rate model and accrual.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::Height;
use serde::{Deserialize, Serialize};

use super::Market;
use crate::math::{self, mul_div, mul_div_up, wad_mul, wad_mul_up, Result, BPS, WAD};

/// A utilisation-based rate with a kink, yearly, in basis points (Compound III's curve).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct RateModel {
    /// The borrow rate at zero utilisation.
    pub base_bps: u32,
    /// Added per unit of utilisation up to the kink.
    pub slope_low_bps: u32,
    /// The utilisation where the slope changes.
    pub kink_bps: u32,
    /// Added per unit of utilisation above the kink.
    pub slope_high_bps: u32,
}

impl Default for RateModel {
    /// 2% a year at no use, 10% more up to the 80% kink, 300% more above it: Compound III's
    /// shape in round figures.
    fn default() -> Self {
        RateModel {
            base_bps: 200,
            slope_low_bps: 1_000,
            kink_bps: 8_000,
            slope_high_bps: 30_000,
        }
    }
}

fn bps_to_wad(bps: u32) -> u128 {
    u128::from(bps) * (WAD / BPS)
}

impl RateModel {
    /// The yearly borrow rate at utilisation `u_wad`, scaled by 10^18:
    /// `base + slope_low * min(U, kink) + slope_high * max(U - kink, 0)`.
    pub fn borrow_rate(&self, u_wad: u128) -> Result<u128> {
        let kink = bps_to_wad(self.kink_bps);
        let below = u_wad.min(kink);
        let above = u_wad.saturating_sub(kink);
        math::add(
            math::add(
                bps_to_wad(self.base_bps),
                wad_mul(bps_to_wad(self.slope_low_bps), below)?,
            )?,
            wad_mul(bps_to_wad(self.slope_high_bps), above)?,
        )
    }

    /// The yearly supply rate at `u_wad`: `U * borrow_rate * (1 - reserve_factor)`, rounded
    /// down (what suppliers are promised never exceeds what borrowers pay).
    pub fn supply_rate(&self, u_wad: u128, reserve_factor_bps: u16) -> Result<u128> {
        let gross = wad_mul(u_wad, self.borrow_rate(u_wad)?)?;
        mul_div(gross, BPS - u128::from(reserve_factor_bps.min(10_000)), BPS)
    }
}

/// `borrows / (cash + borrows - reserves)`, scaled by 10^18, at most one; zero without
/// borrows.
pub fn utilisation(market: &Market) -> Result<u128> {
    if market.borrows == 0 {
        return Ok(0);
    }
    let assets = market.assets();
    if assets == 0 {
        return Ok(WAD);
    }
    Ok(mul_div(market.borrows, WAD, assets)?.min(WAD))
}

/// Brings `market` to `height`: simple interest for the blocks since it was last accrued.
/// Interest and the index round up (borrowers owe the fraction); the reserves' part rounds
/// down and the suppliers' part is the rest, so `supplied + reserves` grows by exactly the
/// interest added to `borrows`.
pub fn accrue(market: &mut Market, height: Height, blocks_per_year: u64) -> Result<()> {
    let blocks = height.0.saturating_sub(market.last_height.0);
    if blocks == 0 {
        return Ok(());
    }
    market.last_height = height;
    if market.borrows == 0 {
        return Ok(());
    }
    let rate = market.config.rate.borrow_rate(utilisation(market)?)?;
    let factor = mul_div_up(rate, u128::from(blocks), u128::from(blocks_per_year.max(1)))?;
    let interest = wad_mul_up(market.borrows, factor)?;
    let to_reserves = mul_div(
        interest,
        u128::from(market.config.reserve_factor_bps.min(10_000)),
        BPS,
    )?;
    market.borrows = math::add(market.borrows, interest)?;
    market.reserves = math::add(market.reserves, to_reserves)?;
    market.supplied = math::add(market.supplied, interest - to_reserves)?;
    market.borrow_index = math::add(
        market.borrow_index,
        wad_mul_up(market.borrow_index, factor)?,
    )?;
    Ok(())
}
