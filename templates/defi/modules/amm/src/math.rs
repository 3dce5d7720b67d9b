//! The pool's arithmetic, exact and overflow-checked, rounding in the pool's favour.

use crate::{AmmError, Pool, MIN_LIQUIDITY};

/// `a * b / c`, rounded down, through a 256-bit product.
pub fn mul_div(a: u128, b: u128, c: u128) -> Result<u128, AmmError> {
    if c == 0 {
        return Err(AmmError::TooSmall("empty reserve"));
    }
    let (hi, lo) = wide_mul(a, b);
    if hi == 0 {
        return Ok(lo / c);
    }
    if hi >= c {
        return Err(AmmError::Overflow);
    }
    // Long division of (hi, lo) by c, one bit at a time: hi < c keeps the quotient in 128 bits.
    let (mut rem, mut quotient) = (hi, 0u128);
    for bit in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> bit) & 1);
        quotient <<= 1;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            quotient |= 1;
        }
    }
    Ok(quotient)
}

/// `a * b / c`, rounded up.
pub fn mul_div_up(a: u128, b: u128, c: u128) -> Result<u128, AmmError> {
    let down = mul_div(a, b, c)?;
    let (hi, lo) = wide_mul(a, b);
    let (qhi, qlo) = wide_mul(down, c);
    if (hi, lo) == (qhi, qlo) {
        Ok(down)
    } else {
        down.checked_add(1).ok_or(AmmError::Overflow)
    }
}

/// The 256-bit product of `a` and `b`, as (high, low) halves.
fn wide_mul(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = u64::MAX as u128;
    let (a_hi, a_lo) = (a >> 64, a & MASK);
    let (b_hi, b_lo) = (b >> 64, b & MASK);
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let middle = (lo_lo >> 64) + (hi_lo & MASK) + (lo_hi & MASK);
    let low = (lo_lo & MASK) | (middle << 64);
    let high = hi_hi + (hi_lo >> 64) + (lo_hi >> 64) + (middle >> 64);
    (high, low)
}

/// Integer square root, rounded down.
pub fn sqrt_product(a: u128, b: u128) -> u128 {
    let (hi, lo) = wide_mul(a, b);
    // Binary search on the root of a 256-bit number: the root fits 128 bits.
    let (mut low, mut high) = (0u128, u128::MAX);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if wide_mul(mid, mid) <= (hi, lo) {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}

/// What a swap of `amount_in` into reserve `reserve_in` yields from `reserve_out`, after a
/// fee of `fee_bps`.
pub fn swap_out(
    amount_in: u128,
    reserve_in: u128,
    reserve_out: u128,
    fee_bps: u16,
) -> Result<u128, AmmError> {
    let after_fee = mul_div(amount_in, u128::from(10_000 - fee_bps.min(10_000)), 10_000)?;
    let denominator = reserve_in
        .checked_add(after_fee)
        .ok_or(AmmError::Overflow)?;
    mul_div(reserve_out, after_fee, denominator)
}

/// Shares for a first deposit, and those locked of them.
pub fn initial_shares(amount_a: u128, amount_b: u128) -> Result<u128, AmmError> {
    let shares = sqrt_product(amount_a, amount_b);
    if shares <= MIN_LIQUIDITY {
        return Err(AmmError::TooSmall(
            "a new pool needs more than 1000 shares' worth",
        ));
    }
    Ok(shares)
}

/// Shares for adding up to `(max_a, max_b)` to `pool`, and the amounts taken for them.
pub fn deposit(pool: &Pool, max_a: u128, max_b: u128) -> Result<(u128, u128, u128), AmmError> {
    let shares = mul_div(max_a, pool.shares, pool.reserve_a)?.min(mul_div(
        max_b,
        pool.shares,
        pool.reserve_b,
    )?);
    if shares == 0 {
        return Err(AmmError::TooSmall(
            "the deposit is worth less than one share",
        ));
    }
    let take_a = mul_div_up(shares, pool.reserve_a, pool.shares)?;
    let take_b = mul_div_up(shares, pool.reserve_b, pool.shares)?;
    Ok((shares, take_a, take_b))
}

/// What `shares` of `pool` are worth.
pub fn withdrawal(pool: &Pool, shares: u128) -> Result<(u128, u128), AmmError> {
    Ok((
        mul_div(shares, pool.reserve_a, pool.shares)?,
        mul_div(shares, pool.reserve_b, pool.shares)?,
    ))
}
