//! The pools' arithmetic, in Uniswap v2's exact form, rounding in the pool's favour.

use super::{DexError, Pool, MIN_LIQUIDITY};
use crate::math::{self, mul_div, mul_div_up, sqrt_product, wide_mul, MathError, BPS, WAD};

/// What selling `amount_in` into `reserve_in` yields from `reserve_out` after a fee of
/// `fee_bps`: `in*(1-f)*ro / (ri + in*(1-f))` with `1-f` in basis points, rounded down (the
/// trader gets less, the pool keeps the remainder). Uniswap v2's `getAmountOut` at 30 bps.
pub fn amount_out(
    amount_in: u128,
    reserve_in: u128,
    reserve_out: u128,
    fee_bps: u16,
) -> Result<u128, DexError> {
    if reserve_in == 0 || reserve_out == 0 {
        return Err(DexError::TooSmall("empty reserve"));
    }
    let keep = BPS - u128::from(fee_bps.min(MAX_BPS));
    let in_with_fee = amount_in.checked_mul(keep).ok_or(MathError::Overflow)?;
    let denominator = math::add(
        reserve_in.checked_mul(BPS).ok_or(MathError::Overflow)?,
        in_with_fee,
    )?;
    Ok(mul_div(in_with_fee, reserve_out, denominator)?)
}

/// What must be sold into `reserve_in` to receive `amount_out` of `reserve_out`:
/// `ri*out*10^4 / ((ro-out)*(10^4-f)) + 1`, the quotient rounded down and one unit added, as
/// Uniswap v2's `getAmountIn` does, so the trader always pays enough.
pub fn amount_in(
    amount_out: u128,
    reserve_in: u128,
    reserve_out: u128,
    fee_bps: u16,
) -> Result<u128, DexError> {
    if reserve_in == 0 || reserve_out == 0 {
        return Err(DexError::TooSmall("empty reserve"));
    }
    if amount_out >= reserve_out {
        return Err(DexError::InsufficientLiquidity {
            reserve: reserve_out,
            asked: amount_out,
        });
    }
    let keep = BPS - u128::from(fee_bps.min(MAX_BPS));
    let numerator = reserve_in.checked_mul(BPS).ok_or(MathError::Overflow)?;
    let denominator = (reserve_out - amount_out)
        .checked_mul(keep)
        .ok_or(MathError::Overflow)?;
    Ok(math::add(mul_div(numerator, amount_out, denominator)?, 1)?)
}

const MAX_BPS: u16 = 10_000;

/// Uniswap v2's swap check: with balances after the swap `(balance_in, balance_out)` and the
/// amount paid in, `(balance_in*10^4 - in*f) * balance_out*10^4 >= reserve_in * reserve_out
/// * 10^8`. Compared in 256 bits split into two factors, so nothing overflows.
pub fn product_holds(
    reserve_in: u128,
    reserve_out: u128,
    balance_in: u128,
    balance_out: u128,
    paid_in: u128,
    fee_bps: u16,
) -> bool {
    // (balance_in - paid_in*f/10^4) * balance_out >= reserve_in * reserve_out, with the
    // left side's fee term kept exact by scaling both sides by 10^4 on one factor only.
    let fee = u128::from(fee_bps.min(MAX_BPS));
    let (Some(scaled_in), Some(fee_in)) = (balance_in.checked_mul(BPS), paid_in.checked_mul(fee))
    else {
        return false;
    };
    let Some(adjusted_in) = scaled_in.checked_sub(fee_in) else {
        return false;
    };
    let Some(scaled_reserve_in) = reserve_in.checked_mul(BPS) else {
        return false;
    };
    wide_mul(adjusted_in, balance_out) >= wide_mul(scaled_reserve_in, reserve_out)
}

/// Shares for a first deposit (their root of the product), of which `MIN_LIQUIDITY` are
/// locked; refused unless some are left for the provider.
pub fn initial_shares(amount_a: u128, amount_b: u128) -> Result<u128, DexError> {
    let shares = sqrt_product(amount_a, amount_b);
    if shares <= MIN_LIQUIDITY {
        return Err(DexError::TooSmall(
            "a new pool needs more than 1000 shares' worth",
        ));
    }
    Ok(shares)
}

/// Shares for adding up to `(max_a, max_b)` to `pool`, and the amounts taken for them:
/// shares round down, amounts taken round up.
pub fn deposit(pool: &Pool, max_a: u128, max_b: u128) -> Result<(u128, u128, u128), DexError> {
    let shares = mul_div(max_a, pool.shares, pool.reserve_a)?.min(mul_div(
        max_b,
        pool.shares,
        pool.reserve_b,
    )?);
    if shares == 0 {
        return Err(DexError::TooSmall(
            "the deposit is worth less than one share",
        ));
    }
    let take_a = mul_div_up(shares, pool.reserve_a, pool.shares)?;
    let take_b = mul_div_up(shares, pool.reserve_b, pool.shares)?;
    Ok((shares, take_a, take_b))
}

/// What `shares` of `pool` pay out, rounded down.
pub fn withdrawal(pool: &Pool, shares: u128) -> Result<(u128, u128), DexError> {
    Ok((
        mul_div(shares, pool.reserve_a, pool.shares)?,
        mul_div(shares, pool.reserve_b, pool.shares)?,
    ))
}

/// Brings the cumulative prices up to `now_secs` with the reserves as they stand (before
/// this block's first change). A price too large for 128 bits adds nothing rather than fail
/// a trade; the sums wrap by design.
pub fn accumulate(pool: &mut Pool, now_secs: u64) {
    let elapsed = now_secs.saturating_sub(pool.last_update_secs);
    if elapsed > 0 && pool.reserve_a > 0 && pool.reserve_b > 0 {
        if let Ok(price_a) = mul_div(pool.reserve_b, WAD, pool.reserve_a) {
            pool.price_a_cumulative = pool
                .price_a_cumulative
                .wrapping_add(price_a.wrapping_mul(u128::from(elapsed)));
        }
        if let Ok(price_b) = mul_div(pool.reserve_a, WAD, pool.reserve_b) {
            pool.price_b_cumulative = pool
                .price_b_cumulative
                .wrapping_add(price_b.wrapping_mul(u128::from(elapsed)));
        }
    }
    pool.last_update_secs = pool.last_update_secs.max(now_secs);
}

/// The average price between two readings of a cumulative sum, `(c2 - c1) / (t2 - t1)`,
/// scaled by 10^18; `None` when no time passed.
pub fn average_price((c1, t1): (u128, u64), (c2, t2): (u128, u64)) -> Option<u128> {
    let elapsed = t2.checked_sub(t1).filter(|e| *e > 0)?;
    Some(c2.wrapping_sub(c1) / u128::from(elapsed))
}
