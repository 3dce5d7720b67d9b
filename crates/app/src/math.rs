//! Exact integer arithmetic for the DeFi modules: products in 256 bits, every division
//! rounded in the direction its caller names.
//!
//! There is no floating point anywhere in money code. Fixed-point values are `u128` scaled by
//! [`WAD`] (10^18): rates, indices, factors and prices. A function that divides exists in a
//! rounding-down and a rounding-up form, and each caller states in its doc comment which one
//! it uses and why that favours the protocol.

/// Why an operation had no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MathError {
    /// The result does not fit in 128 bits.
    #[error("arithmetic overflow")]
    Overflow,
    /// A division by zero (an empty reserve, a market without shares).
    #[error("division by zero")]
    DivisionByZero,
}

/// A result of this module.
pub type Result<T> = std::result::Result<T, MathError>;

/// 10^18: one, in fixed point.
pub const WAD: u128 = 1_000_000_000_000_000_000;
/// 10^4: one, in basis points.
pub const BPS: u128 = 10_000;

/// The 256-bit product of `a` and `b`, as (high, low) halves.
pub fn wide_mul(a: u128, b: u128) -> (u128, u128) {
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

/// `a * b / c`, rounded down, through a 256-bit product.
pub fn mul_div(a: u128, b: u128, c: u128) -> Result<u128> {
    mul_div_rem(a, b, c).map(|(quotient, _)| quotient)
}

/// `a * b / c`, rounded up.
pub fn mul_div_up(a: u128, b: u128, c: u128) -> Result<u128> {
    let (down, remainder) = mul_div_rem(a, b, c)?;
    if remainder == 0 {
        Ok(down)
    } else {
        down.checked_add(1).ok_or(MathError::Overflow)
    }
}

/// `a * b / c` rounded down, and the remainder.
fn mul_div_rem(a: u128, b: u128, c: u128) -> Result<(u128, u128)> {
    if c == 0 {
        return Err(MathError::DivisionByZero);
    }
    let (hi, lo) = wide_mul(a, b);
    if hi == 0 {
        return Ok((lo / c, lo % c));
    }
    if hi >= c {
        return Err(MathError::Overflow);
    }
    Ok(div_wide(hi, lo, c))
}

/// `(hi * 2^128 + lo) / d` and its remainder, for `hi < d` (so the quotient fits in 128
/// bits): `d` shifted until its top bit is set, then two quotient digits in base 2^64, each
/// estimated from the divisor's high digit and corrected with its low one (Knuth's algorithm
/// D with a two-digit divisor, which leaves each digit exact).
fn div_wide(hi: u128, lo: u128, d: u128) -> (u128, u128) {
    let shift = d.leading_zeros();
    let d = d << shift;
    let (hi, lo) = if shift == 0 {
        (hi, lo)
    } else {
        ((hi << shift) | (lo >> (128 - shift)), lo << shift)
    };
    let (q1, r) = div_digit(hi, (lo >> 64) as u64, d);
    let (q0, r) = div_digit(r, lo as u64, d);
    ((u128::from(q1) << 64) | u128::from(q0), r >> shift)
}

/// `(u * 2^64 + v) / d` for `d` with its top bit set and `u < d`: one digit, and the
/// remainder.
fn div_digit(u: u128, v: u64, d: u128) -> (u64, u128) {
    const DIGIT: u128 = 1 << 64;
    let (d_hi, d_lo) = (d >> 64, d & (DIGIT - 1));
    let mut q = u / d_hi;
    let mut r = u % d_hi;
    // At most two corrections; `r < DIGIT` keeps `r << 64` exact.
    while q >= DIGIT || q * d_lo > ((r << 64) | u128::from(v)) {
        q -= 1;
        r += d_hi;
        if r >= DIGIT {
            break;
        }
    }
    // The true remainder is below `d`, so arithmetic modulo 2^128 gives it exactly.
    let remainder = ((u << 64) | u128::from(v)).wrapping_sub(q.wrapping_mul(d));
    (q as u64, remainder)
}

/// `a * b / WAD`, rounded down.
pub fn wad_mul(a: u128, b: u128) -> Result<u128> {
    mul_div(a, b, WAD)
}

/// `a * b / WAD`, rounded up.
pub fn wad_mul_up(a: u128, b: u128) -> Result<u128> {
    mul_div_up(a, b, WAD)
}

/// `a * WAD / b`, rounded down.
pub fn wad_div(a: u128, b: u128) -> Result<u128> {
    mul_div(a, WAD, b)
}

/// `a + b`, checked.
pub fn add(a: u128, b: u128) -> Result<u128> {
    a.checked_add(b).ok_or(MathError::Overflow)
}

/// `a - b`, checked (an underflow is reported as an overflow: the result does not fit).
pub fn sub(a: u128, b: u128) -> Result<u128> {
    a.checked_sub(b).ok_or(MathError::Overflow)
}

/// The integer square root of `a * b`, rounded down.
pub fn sqrt_product(a: u128, b: u128) -> u128 {
    let target = wide_mul(a, b);
    // Binary search on the root of a 256-bit number: the root fits 128 bits.
    let (mut low, mut high) = (0u128, u128::MAX);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if wide_mul(mid, mid) <= target {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// `(hi * 2^128 + lo) / d` and the remainder, one bit at a time: the reference.
    fn bitwise(hi: u128, lo: u128, d: u128) -> (u128, u128) {
        let (mut rem, mut quotient) = (hi, 0u128);
        for bit in (0..128).rev() {
            let carry = rem >> 127;
            rem = (rem << 1) | ((lo >> bit) & 1);
            quotient <<= 1;
            if carry == 1 || rem >= d {
                rem = rem.wrapping_sub(d);
                quotient |= 1;
            }
        }
        (quotient, rem)
    }

    #[test]
    fn known_values() {
        assert_eq!(mul_div(7, 3, 2), Ok(10));
        assert_eq!(mul_div_up(7, 3, 2), Ok(11));
        assert_eq!(mul_div_up(6, 3, 2), Ok(9));
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), Ok(u128::MAX));
        assert_eq!(mul_div(u128::MAX, 2, 1), Err(MathError::Overflow));
        assert_eq!(mul_div(1, 1, 0), Err(MathError::DivisionByZero));
        assert_eq!(sqrt_product(u128::MAX, u128::MAX), u128::MAX);
        assert_eq!(sqrt_product(10, 1000), 100);
        assert_eq!(sqrt_product(2, 1), 1);
        assert_eq!(wad_mul(3 * WAD / 2, 4), Ok(6));
    }

    proptest! {
        /// Checked against the product and quotient in 128 bits, where they fit.
        #[test]
        fn mul_div_matches_narrow_arithmetic(a in 0u128..1 << 64, b in 0u128..1 << 64, c in 1u128..u128::MAX) {
            let exact = a * b;
            prop_assert_eq!(mul_div(a, b, c), Ok(exact / c));
            prop_assert_eq!(mul_div_up(a, b, c), Ok(exact.div_ceil(c)));
        }

        /// Wide products: q * c <= a * b < (q + 1) * c.
        #[test]
        fn mul_div_brackets_the_wide_product(a: u128, b: u128, c in 1u128..) {
            if let Ok(q) = mul_div(a, b, c) {
                prop_assert!(wide_mul(q, c) <= wide_mul(a, b));
                let (hi, lo) = wide_mul(q, c);
                let (next_lo, carry) = lo.overflowing_add(c);
                let next = (hi + u128::from(carry), next_lo);
                prop_assert!(next > wide_mul(a, b));
            }
        }

        /// The digit-wise division equals long division one bit at a time, quotient and
        /// remainder, for divisors of every size.
        #[test]
        fn wide_division_equals_bitwise_long_division(
            d in prop_oneof![1u128..1 << 64, (1u128 << 64)..u128::MAX, Just(u128::MAX), Just(1u128 << 127)],
            hi_seed: u128,
            lo: u128,
        ) {
            let hi = hi_seed % d;
            prop_assert_eq!(div_wide(hi, lo, d), bitwise(hi, lo, d));
            let edge = d - 1;
            prop_assert_eq!(div_wide(edge, u128::MAX, d), bitwise(edge, u128::MAX, d));
        }

        #[test]
        fn sqrt_is_the_floor(a: u128, b: u128) {
            let r = sqrt_product(a, b);
            prop_assert!(wide_mul(r, r) <= wide_mul(a, b));
            if r < u128::MAX {
                prop_assert!(wide_mul(r + 1, r + 1) > wide_mul(a, b));
            }
        }
    }
}
