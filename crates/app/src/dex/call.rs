//! What a transaction can ask of the module.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{AccessSet, Context, Ledger};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::math::{
    accumulate, amount_in, amount_out, deposit, initial_shares, product_holds, withdrawal,
};
use super::{
    pair, pool_account, Dex, DexError, DexEvent, Pair, Pool, FEE_BPS, MAX_HOPS, MAX_POOLS,
    MIN_LIQUIDITY, PAIRS, POOLS, SHARES,
};
use crate::math;

/// A call. Amounts are decimal strings in JSON:
/// `{"swap_exact_in": {"path": [0, 1], "amount_in": "1000", "min_out": "990"}}`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DexCall {
    /// Opens a pool of `asset_a` and `asset_b` with the first liquidity.
    CreatePool {
        /// One asset.
        asset_a: u32,
        /// The other.
        asset_b: u32,
        /// How much of `asset_a`.
        #[serde(with = "lamina_interop::module::amount")]
        amount_a: u128,
        /// How much of `asset_b`.
        #[serde(with = "lamina_interop::module::amount")]
        amount_b: u128,
    },
    /// Adds liquidity in the pool's proportion, taking at most the amounts given.
    AddLiquidity {
        /// One asset.
        asset_a: u32,
        /// The other.
        asset_b: u32,
        /// Most of `asset_a` to take.
        #[serde(with = "lamina_interop::module::amount")]
        max_a: u128,
        /// Most of `asset_b` to take.
        #[serde(with = "lamina_interop::module::amount")]
        max_b: u128,
        /// Fewest shares accepted.
        #[serde(with = "lamina_interop::module::amount")]
        min_shares: u128,
    },
    /// Redeems shares for the pool's assets.
    RemoveLiquidity {
        /// One asset.
        asset_a: u32,
        /// The other.
        asset_b: u32,
        /// Shares to redeem.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
        /// Fewest of `asset_a` accepted.
        #[serde(with = "lamina_interop::module::amount")]
        min_a: u128,
        /// Fewest of `asset_b` accepted.
        #[serde(with = "lamina_interop::module::amount")]
        min_b: u128,
    },
    /// Sells exactly `amount_in` of `path[0]` for at least `min_out` of the path's last
    /// asset, through the pool of each consecutive pair.
    SwapExactIn {
        /// The assets traded through, 2 to `MAX_HOPS + 1` of them, none twice.
        path: Vec<u32>,
        /// How much is sold.
        #[serde(with = "lamina_interop::module::amount")]
        amount_in: u128,
        /// The least accepted in return: the slippage limit.
        #[serde(with = "lamina_interop::module::amount")]
        min_out: u128,
        /// Refused in a block later than this time (milliseconds), if given.
        #[serde(default)]
        deadline_ms: Option<u64>,
    },
    /// Buys exactly `amount_out` of the path's last asset for at most `max_in` of `path[0]`.
    SwapExactOut {
        /// The assets traded through, 2 to `MAX_HOPS + 1` of them, none twice.
        path: Vec<u32>,
        /// How much is bought.
        #[serde(with = "lamina_interop::module::amount")]
        amount_out: u128,
        /// The most paid: the slippage limit.
        #[serde(with = "lamina_interop::module::amount")]
        max_in: u128,
        /// Refused in a block later than this time (milliseconds), if given.
        #[serde(default)]
        deadline_ms: Option<u64>,
    },
}

/// The pairs a path trades through, checked: 2 to `MAX_HOPS + 1` distinct assets.
pub(crate) fn hops(path: &[u32]) -> Result<Vec<Pair>, DexError> {
    if path.len() < 2 || path.len() > MAX_HOPS + 1 {
        return Err(DexError::BadPath(path.len()));
    }
    for (i, asset) in path.iter().enumerate() {
        if path[..i].contains(asset) {
            return Err(DexError::CyclicPath(*asset));
        }
    }
    path.windows(2).map(|w| pair(w[0], w[1])).collect()
}

/// A pool's state, the sender's shares in it, and both sides' balances of both assets; an
/// invalid pair adds nothing.
fn liquidity_access<L: Ledger>(
    ledger: &L,
    mut access: AccessSet,
    (asset_a, asset_b): (u32, u32),
    sender: &Address,
) -> AccessSet {
    let Ok(pair) = pair(asset_a, asset_b) else {
        return access;
    };
    let pool = pool_account(pair);
    access = access
        .write(POOLS.key(&pair))
        .write(SHARES.key(&(pair, *sender)));
    for asset in [pair.0, pair.1] {
        access = ledger.balance_access(access, asset, sender);
        access = ledger.balance_access(access, asset, &pool);
    }
    access
}

/// A call touches its pools, the sender's shares, and the balances it moves: calls on
/// different pools run in parallel. An invalid call declares only the fee, and fails with
/// its typed error before it reads anything else.
pub(crate) fn access<L: Ledger>(ledger: &L, call: &DexCall, sender: &Address) -> AccessSet {
    let mut access = AccessSet::new().read(FEE_BPS.key());
    match call {
        DexCall::CreatePool {
            asset_a, asset_b, ..
        } if pair(*asset_a, *asset_b).is_ok() => {
            access =
                liquidity_access(ledger, access, (*asset_a, *asset_b), sender).write(PAIRS.key());
        }
        DexCall::CreatePool {
            asset_a, asset_b, ..
        }
        | DexCall::AddLiquidity {
            asset_a, asset_b, ..
        }
        | DexCall::RemoveLiquidity {
            asset_a, asset_b, ..
        } => {
            access = liquidity_access(ledger, access, (*asset_a, *asset_b), sender);
        }
        DexCall::SwapExactIn { path, .. } | DexCall::SwapExactOut { path, .. } => {
            let Ok(pairs) = hops(path) else {
                return access;
            };
            for pair in pairs {
                let pool = pool_account(pair);
                access = access.write(POOLS.key(&pair));
                access = ledger.balance_access(access, pair.0, &pool);
                access = ledger.balance_access(access, pair.1, &pool);
            }
            if let (Some(first), Some(last)) = (path.first(), path.last()) {
                access = ledger.balance_access(access, *first, sender);
                access = ledger.balance_access(access, *last, sender);
            }
        }
    }
    access
}

/// `(x, y)` given in the call's asset order, returned in the pair's order.
fn ordered(call_a: u32, pair: Pair, x: u128, y: u128) -> (u128, u128) {
    if call_a == pair.0 {
        (x, y)
    } else {
        (y, x)
    }
}

pub(crate) fn execute<L: Ledger + Clone>(
    ledger: &L,
    call: DexCall,
    ctx: &mut Context<'_, '_, Dex<L>>,
) -> Result<(), DexError> {
    let Some(sender) = ctx.sender() else {
        return Ok(());
    };
    let now_secs = ctx.env().timestamp.0 / 1_000;
    match call {
        DexCall::CreatePool {
            asset_a,
            asset_b,
            amount_a,
            amount_b,
        } => open_pool(ledger, ctx, sender, asset_a, asset_b, amount_a, amount_b)?,
        DexCall::AddLiquidity {
            asset_a,
            asset_b,
            max_a,
            max_b,
            min_shares,
        } => {
            let pair = pair(asset_a, asset_b)?;
            let mut pool = POOLS
                .get(ctx.state(), &pair)?
                .ok_or(DexError::NoPool(pair))?;
            let held = SHARES.get(ctx.state(), &(pair, sender))?.unwrap_or(0);
            let (max_a, max_b) = ordered(asset_a, pair, max_a, max_b);
            let (shares, take_a, take_b) = deposit(&pool, max_a, max_b)?;
            if shares < min_shares {
                return Err(DexError::Slippage {
                    got: shares,
                    limit: min_shares,
                    exact_out: false,
                });
            }
            let account = pool_account(pair);
            ledger.transfer(ctx.state(), pair.0, &sender, &account, take_a)?;
            ledger.transfer(ctx.state(), pair.1, &sender, &account, take_b)?;
            accumulate(&mut pool, now_secs);
            pool.reserve_a = math::add(pool.reserve_a, take_a)?;
            pool.reserve_b = math::add(pool.reserve_b, take_b)?;
            pool.shares = math::add(pool.shares, shares)?;
            POOLS.set(ctx.state(), &pair, &pool)?;
            SHARES.set(ctx.state(), &(pair, sender), &math::add(held, shares)?)?;
            ctx.emit(&DexEvent::LiquidityAdded {
                pair,
                provider: sender,
                amount_a: take_a,
                amount_b: take_b,
                shares,
            })?;
        }
        DexCall::RemoveLiquidity {
            asset_a,
            asset_b,
            shares,
            min_a,
            min_b,
        } => {
            let pair = pair(asset_a, asset_b)?;
            let mut pool = POOLS
                .get(ctx.state(), &pair)?
                .ok_or(DexError::NoPool(pair))?;
            let held = SHARES.get(ctx.state(), &(pair, sender))?.unwrap_or(0);
            if shares == 0 {
                return Err(DexError::TooSmall("redeem at least one share"));
            }
            if shares > held {
                return Err(DexError::NotEnoughShares {
                    held,
                    asked: shares,
                });
            }
            let (out_a, out_b) = withdrawal(&pool, shares)?;
            let (min_a, min_b) = ordered(asset_a, pair, min_a, min_b);
            for (got, limit) in [(out_a, min_a), (out_b, min_b)] {
                if got < limit {
                    return Err(DexError::Slippage {
                        got,
                        limit,
                        exact_out: false,
                    });
                }
            }
            let account = pool_account(pair);
            ledger.transfer(ctx.state(), pair.0, &account, &sender, out_a)?;
            ledger.transfer(ctx.state(), pair.1, &account, &sender, out_b)?;
            accumulate(&mut pool, now_secs);
            pool.reserve_a = math::sub(pool.reserve_a, out_a)?;
            pool.reserve_b = math::sub(pool.reserve_b, out_b)?;
            pool.shares = math::sub(pool.shares, shares)?;
            POOLS.set(ctx.state(), &pair, &pool)?;
            SHARES.set(ctx.state(), &(pair, sender), &(held - shares))?;
            ctx.emit(&DexEvent::LiquidityRemoved {
                pair,
                provider: sender,
                amount_a: out_a,
                amount_b: out_b,
                shares,
            })?;
        }
        DexCall::SwapExactIn {
            path,
            amount_in,
            min_out,
            deadline_ms,
        } => {
            check_deadline(deadline_ms, ctx.env().timestamp.0)?;
            if amount_in == 0 {
                return Err(DexError::TooSmall("swap at least one unit"));
            }
            let fee = FEE_BPS.get(ctx.state())?.unwrap_or(0);
            let pools = load(ctx, &path)?;
            let amounts = amounts_out(&path, &pools, amount_in, fee)?;
            let out = amounts[amounts.len() - 1];
            if out == 0 {
                return Err(DexError::TooSmall("the swap yields nothing"));
            }
            if out < min_out {
                return Err(DexError::Slippage {
                    got: out,
                    limit: min_out,
                    exact_out: false,
                });
            }
            settle(ledger, ctx, sender, &path, pools, &amounts, fee, now_secs)?;
        }
        DexCall::SwapExactOut {
            path,
            amount_out,
            max_in,
            deadline_ms,
        } => {
            check_deadline(deadline_ms, ctx.env().timestamp.0)?;
            if amount_out == 0 {
                return Err(DexError::TooSmall("buy at least one unit"));
            }
            let fee = FEE_BPS.get(ctx.state())?.unwrap_or(0);
            let pools = load(ctx, &path)?;
            let amounts = amounts_in(&path, &pools, amount_out, fee)?;
            if amounts[0] > max_in {
                return Err(DexError::Slippage {
                    got: amounts[0],
                    limit: max_in,
                    exact_out: true,
                });
            }
            settle(ledger, ctx, sender, &path, pools, &amounts, fee, now_secs)?;
        }
    }
    Ok(())
}

/// Opens the pool of `asset_a` and `asset_b` with `provider`'s first liquidity (a call, or a
/// pool in genesis).
pub(super) fn open_pool<L: Ledger + Clone>(
    ledger: &L,
    ctx: &mut Context<'_, '_, Dex<L>>,
    provider: Address,
    asset_a: u32,
    asset_b: u32,
    amount_a: u128,
    amount_b: u128,
) -> Result<(), DexError> {
    let pair = pair(asset_a, asset_b)?;
    if POOLS.get(ctx.state(), &pair)?.is_some() {
        return Err(DexError::PoolExists(pair));
    }
    let mut pairs = PAIRS.get(ctx.state())?.unwrap_or_default();
    if pairs.len() >= MAX_POOLS {
        return Err(DexError::TooManyPools);
    }
    pairs.push(pair);
    PAIRS.set(ctx.state(), &pairs)?;
    let (amount_a, amount_b) = ordered(asset_a, pair, amount_a, amount_b);
    let shares = initial_shares(amount_a, amount_b)?;
    let account = pool_account(pair);
    ledger.transfer(ctx.state(), pair.0, &provider, &account, amount_a)?;
    ledger.transfer(ctx.state(), pair.1, &provider, &account, amount_b)?;
    let pool = Pool {
        reserve_a: amount_a,
        reserve_b: amount_b,
        shares,
        price_a_cumulative: 0,
        price_b_cumulative: 0,
        last_update_secs: ctx.env().timestamp.0 / 1_000,
    };
    POOLS.set(ctx.state(), &pair, &pool)?;
    let given = shares - MIN_LIQUIDITY;
    SHARES.set(ctx.state(), &(pair, provider), &given)?;
    ctx.emit(&DexEvent::PoolCreated {
        pair,
        provider,
        amount_a,
        amount_b,
        shares: given,
    })?;
    Ok(())
}

fn check_deadline(deadline_ms: Option<u64>, now_ms: u64) -> Result<(), DexError> {
    match deadline_ms {
        Some(deadline_ms) if now_ms > deadline_ms => Err(DexError::Expired {
            deadline_ms,
            now_ms,
        }),
        _ => Ok(()),
    }
}

/// The pools of each hop of `path`, in order.
fn load<L: Ledger + Clone>(
    ctx: &mut Context<'_, '_, Dex<L>>,
    path: &[u32],
) -> Result<Vec<(Pair, Pool)>, DexError> {
    hops(path)?
        .into_iter()
        .map(|pair| {
            let pool = POOLS
                .get(ctx.state(), &pair)?
                .ok_or(DexError::NoPool(pair))?;
            Ok((pair, pool))
        })
        .collect()
}

/// The amount held after each hop of an exact-in swap, `amount_in` first.
pub(crate) fn amounts_out(
    path: &[u32],
    pools: &[(Pair, Pool)],
    amount_in: u128,
    fee: u16,
) -> Result<Vec<u128>, DexError> {
    let mut amounts = vec![amount_in];
    for (i, (pair, pool)) in pools.iter().enumerate() {
        let (reserve_in, reserve_out) = pool.reserves_for(*pair, path[i]);
        amounts.push(amount_out(amounts[i], reserve_in, reserve_out, fee)?);
    }
    Ok(amounts)
}

/// The amount needed before each hop of an exact-out swap, the output last.
pub(crate) fn amounts_in(
    path: &[u32],
    pools: &[(Pair, Pool)],
    amount_out: u128,
    fee: u16,
) -> Result<Vec<u128>, DexError> {
    let mut amounts = vec![0; path.len()];
    amounts[path.len() - 1] = amount_out;
    for i in (0..pools.len()).rev() {
        let (pair, pool) = &pools[i];
        let (reserve_in, reserve_out) = pool.reserves_for(*pair, path[i]);
        amounts[i] = amount_in(amounts[i + 1], reserve_in, reserve_out, fee)?;
    }
    Ok(amounts)
}

/// Moves the assets of a swap hop by hop (each pool pays the next), checks the constant
/// product of every pool, and stores the new reserves.
#[allow(clippy::too_many_arguments)]
fn settle<L: Ledger + Clone>(
    ledger: &L,
    ctx: &mut Context<'_, '_, Dex<L>>,
    sender: Address,
    path: &[u32],
    pools: Vec<(Pair, Pool)>,
    amounts: &[u128],
    fee: u16,
    now_secs: u64,
) -> Result<(), DexError> {
    let mut payer = sender;
    for (i, (pair, mut pool)) in pools.into_iter().enumerate() {
        let account = pool_account(pair);
        let (asset_in, paid, received) = (path[i], amounts[i], amounts[i + 1]);
        ledger.transfer(ctx.state(), asset_in, &payer, &account, paid)?;
        let (reserve_in, reserve_out) = pool.reserves_for(pair, asset_in);
        let balance_in = math::add(reserve_in, paid)?;
        let balance_out = math::sub(reserve_out, received)?;
        if !product_holds(reserve_in, reserve_out, balance_in, balance_out, paid, fee) {
            return Err(DexError::Invariant);
        }
        accumulate(&mut pool, now_secs);
        if asset_in == pair.0 {
            (pool.reserve_a, pool.reserve_b) = (balance_in, balance_out);
        } else {
            (pool.reserve_b, pool.reserve_a) = (balance_in, balance_out);
        }
        POOLS.set(ctx.state(), &pair, &pool)?;
        ctx.emit(&DexEvent::Swapped {
            pair,
            trader: sender,
            asset_in,
            amount_in: paid,
            amount_out: received,
        })?;
        payer = account;
    }
    let last = path[path.len() - 1];
    ledger.transfer(
        ctx.state(),
        last,
        &payer,
        &sender,
        amounts[amounts.len() - 1],
    )?;
    Ok(())
}
