//! What a transaction can ask of the module.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{AccessSet, Context, Ledger};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::math::{deposit, initial_shares, swap_out, withdrawal};
use crate::{
    pair, pool_account, Amm, AmmError, AmmEvent, Pair, Pool, FEE_BPS, MIN_LIQUIDITY, POOLS, SHARES,
};

/// A call. As JSON: `{"swap": {"asset_in": 0, "asset_out": 1, "amount_in": 1000, "min_out": 990}}`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AmmCall {
    /// Opens a pool of `asset_a` and `asset_b` with the first liquidity.
    CreatePool {
        /// One asset.
        asset_a: u32,
        /// The other.
        asset_b: u32,
        /// How much of `asset_a`.
        amount_a: u128,
        /// How much of `asset_b`.
        amount_b: u128,
    },
    /// Adds liquidity in the pool's proportion, taking at most the amounts given.
    AddLiquidity {
        /// One asset.
        asset_a: u32,
        /// The other.
        asset_b: u32,
        /// Most of `asset_a` to take.
        max_a: u128,
        /// Most of `asset_b` to take.
        max_b: u128,
        /// Fewest shares accepted.
        min_shares: u128,
    },
    /// Redeems shares for the pool's assets.
    RemoveLiquidity {
        /// One asset.
        asset_a: u32,
        /// The other.
        asset_b: u32,
        /// Shares to redeem.
        shares: u128,
        /// Fewest of `asset_a` accepted.
        min_a: u128,
        /// Fewest of `asset_b` accepted.
        min_b: u128,
    },
    /// Sells `amount_in` of `asset_in` for at least `min_out` of `asset_out`.
    Swap {
        /// What is sold.
        asset_in: u32,
        /// What is bought.
        asset_out: u32,
        /// How much is sold.
        amount_in: u128,
        /// The least accepted in return: the slippage limit.
        min_out: u128,
    },
}

impl AmmCall {
    /// The call's two assets, as the caller ordered them.
    fn assets(&self) -> (u32, u32) {
        match self {
            AmmCall::CreatePool {
                asset_a, asset_b, ..
            }
            | AmmCall::AddLiquidity {
                asset_a, asset_b, ..
            }
            | AmmCall::RemoveLiquidity {
                asset_a, asset_b, ..
            } => (*asset_a, *asset_b),
            AmmCall::Swap {
                asset_in,
                asset_out,
                ..
            } => (*asset_in, *asset_out),
        }
    }
}

/// A call touches its pool, the sender's shares, and both assets' balances of the sender and
/// the pool: calls on different pools run in parallel.
pub(crate) fn access<L: Ledger>(ledger: &L, call: &AmmCall, sender: &Address) -> AccessSet {
    let (a, b) = call.assets();
    let Ok(pair) = pair(a, b) else {
        return AccessSet::new();
    };
    let pool = pool_account(pair);
    let mut access = AccessSet::new()
        .read(FEE_BPS.key())
        .write(POOLS.key(&pair))
        .write(SHARES.key(&(pair, *sender)));
    for asset in [pair.0, pair.1] {
        access = ledger.balance_access(access, asset, sender);
        access = ledger.balance_access(access, asset, &pool);
    }
    access
}

/// `(a, b)` amounts in the pair's order.
fn ordered(call_a: u32, pair: Pair, x: u128, y: u128) -> (u128, u128) {
    if call_a == pair.0 {
        (x, y)
    } else {
        (y, x)
    }
}

pub(crate) fn execute<L: Ledger + Clone>(
    ledger: &L,
    call: AmmCall,
    ctx: &mut Context<'_, '_, Amm<L>>,
) -> Result<(), AmmError> {
    let Some(sender) = ctx.sender() else {
        return Ok(());
    };
    let (a, b) = call.assets();
    let pair = pair(a, b)?;
    let account = pool_account(pair);
    let existing = POOLS.get(ctx.state(), &pair)?;
    let held = SHARES.get(ctx.state(), &(pair, sender))?.unwrap_or(0);
    match call {
        AmmCall::CreatePool {
            amount_a, amount_b, ..
        } => {
            if existing.is_some() {
                return Err(AmmError::PoolExists(pair));
            }
            let (amount_a, amount_b) = ordered(a, pair, amount_a, amount_b);
            let shares = initial_shares(amount_a, amount_b)?;
            ledger.transfer(ctx.state(), pair.0, &sender, &account, amount_a)?;
            ledger.transfer(ctx.state(), pair.1, &sender, &account, amount_b)?;
            let pool = Pool {
                reserve_a: amount_a,
                reserve_b: amount_b,
                shares,
            };
            POOLS.set(ctx.state(), &pair, &pool)?;
            let given = shares - MIN_LIQUIDITY;
            SHARES.set(ctx.state(), &(pair, sender), &given)?;
            ctx.emit(&AmmEvent::PoolCreated {
                pair,
                provider: sender,
                amount_a,
                amount_b,
                shares: given,
            })?;
        }
        AmmCall::AddLiquidity {
            max_a,
            max_b,
            min_shares,
            ..
        } => {
            let mut pool = existing.ok_or(AmmError::NoPool(pair))?;
            let (max_a, max_b) = ordered(a, pair, max_a, max_b);
            let (shares, take_a, take_b) = deposit(&pool, max_a, max_b)?;
            if shares < min_shares {
                return Err(AmmError::Slippage {
                    got: shares,
                    limit: min_shares,
                });
            }
            ledger.transfer(ctx.state(), pair.0, &sender, &account, take_a)?;
            ledger.transfer(ctx.state(), pair.1, &sender, &account, take_b)?;
            pool.reserve_a = pool
                .reserve_a
                .checked_add(take_a)
                .ok_or(AmmError::Overflow)?;
            pool.reserve_b = pool
                .reserve_b
                .checked_add(take_b)
                .ok_or(AmmError::Overflow)?;
            pool.shares = pool.shares.checked_add(shares).ok_or(AmmError::Overflow)?;
            POOLS.set(ctx.state(), &pair, &pool)?;
            SHARES.set(ctx.state(), &(pair, sender), &(held + shares))?;
            ctx.emit(&AmmEvent::LiquidityAdded {
                pair,
                provider: sender,
                amount_a: take_a,
                amount_b: take_b,
                shares,
            })?;
        }
        AmmCall::RemoveLiquidity {
            shares,
            min_a,
            min_b,
            ..
        } => {
            let mut pool = existing.ok_or(AmmError::NoPool(pair))?;
            if shares == 0 {
                return Err(AmmError::TooSmall("redeem at least one share"));
            }
            if shares > held {
                return Err(AmmError::NotEnoughShares {
                    held,
                    asked: shares,
                });
            }
            let (out_a, out_b) = withdrawal(&pool, shares)?;
            let (min_a, min_b) = ordered(a, pair, min_a, min_b);
            if out_a < min_a {
                return Err(AmmError::Slippage {
                    got: out_a,
                    limit: min_a,
                });
            }
            if out_b < min_b {
                return Err(AmmError::Slippage {
                    got: out_b,
                    limit: min_b,
                });
            }
            ledger.transfer(ctx.state(), pair.0, &account, &sender, out_a)?;
            ledger.transfer(ctx.state(), pair.1, &account, &sender, out_b)?;
            pool.reserve_a -= out_a;
            pool.reserve_b -= out_b;
            pool.shares -= shares;
            POOLS.set(ctx.state(), &pair, &pool)?;
            SHARES.set(ctx.state(), &(pair, sender), &(held - shares))?;
            ctx.emit(&AmmEvent::LiquidityRemoved {
                pair,
                provider: sender,
                amount_a: out_a,
                amount_b: out_b,
                shares,
            })?;
        }
        AmmCall::Swap {
            asset_in,
            asset_out,
            amount_in,
            min_out,
        } => {
            let mut pool = existing.ok_or(AmmError::NoPool(pair))?;
            if amount_in == 0 {
                return Err(AmmError::TooSmall("swap at least one unit"));
            }
            let fee = FEE_BPS.get(ctx.state())?.unwrap_or(0);
            let selling_a = asset_in == pair.0;
            let (reserve_in, reserve_out) = if selling_a {
                (pool.reserve_a, pool.reserve_b)
            } else {
                (pool.reserve_b, pool.reserve_a)
            };
            let out = swap_out(amount_in, reserve_in, reserve_out, fee)?;
            if out == 0 {
                return Err(AmmError::TooSmall("the swap yields nothing"));
            }
            if out < min_out {
                return Err(AmmError::Slippage {
                    got: out,
                    limit: min_out,
                });
            }
            ledger.transfer(ctx.state(), asset_in, &sender, &account, amount_in)?;
            ledger.transfer(ctx.state(), asset_out, &account, &sender, out)?;
            let new_in = reserve_in
                .checked_add(amount_in)
                .ok_or(AmmError::Overflow)?;
            let new_out = reserve_out - out;
            if selling_a {
                (pool.reserve_a, pool.reserve_b) = (new_in, new_out);
            } else {
                (pool.reserve_b, pool.reserve_a) = (new_in, new_out);
            }
            POOLS.set(ctx.state(), &pair, &pool)?;
            ctx.emit(&AmmEvent::Swapped {
                pair,
                trader: sender,
                asset_in,
                amount_in,
                amount_out: out,
            })?;
        }
    }
    Ok(())
}
