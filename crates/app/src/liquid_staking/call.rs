//! What a transaction can ask of the module, and the block hook that settles the pool with
//! the staking module.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{AccessSet, Context, Delegation, Ledger, Module};
use lamina_interop::{Address, Height};
use serde::{Deserialize, Serialize};

use super::{
    staking_account, LiquidStaking, LiquidStakingError, LiquidStakingEvent, Request,
    MAX_VALIDATORS, NATIVE, PARAMS, POOL, REQUESTS,
};
use crate::math;

/// A call. Amounts are decimal strings in JSON: `{"stake": {"amount": "100000000000000000000"}}`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LiquidStakingCall {
    /// Stakes `amount` of the native asset for share tokens.
    Stake {
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// Burns `shares` share tokens for a request of their worth, numbered `request` by the
    /// sender.
    Redeem {
        /// Share tokens to redeem.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
        /// The sender's number for the request, unused among its requests.
        request: u64,
    },
    /// Takes the native of a request once it is ready and funded.
    Claim {
        /// The sender's number for it.
        request: u64,
    },
}

/// Every call writes the pool, the sender's native and share balances, the share token's
/// supply, and its request.
pub(super) fn access<L: Ledger, D: Delegation>(
    module: &LiquidStaking<L, D>,
    call: &LiquidStakingCall,
    sender: &Address,
) -> AccessSet {
    let me = staking_account();
    let mut access = AccessSet::new().read(PARAMS.key()).write(POOL.key());
    access = module.ledger.balance_access(access, NATIVE, sender);
    access = module.ledger.balance_access(access, NATIVE, &me);
    access = module
        .ledger
        .balance_access(access, module.share_asset, sender);
    access = module
        .ledger
        .supply_access(access, "liquid-staking", module.share_asset);
    match call {
        LiquidStakingCall::Stake { .. } => access,
        LiquidStakingCall::Redeem { request, .. } | LiquidStakingCall::Claim { request } => {
            access.write(REQUESTS.key(&(*sender, *request)))
        }
    }
}

type Ctx<'c, 's, L, D> = Context<'c, 's, LiquidStaking<L, D>>;

pub(super) fn execute<L: Ledger + Clone, D: Delegation + Clone>(
    module: &LiquidStaking<L, D>,
    call: LiquidStakingCall,
    ctx: &mut Ctx<'_, '_, L, D>,
) -> Result<(), LiquidStakingError> {
    let Some(sender) = ctx.sender() else {
        return Ok(());
    };
    let params = PARAMS
        .get(ctx.state())?
        .ok_or(LiquidStakingError::Genesis("no parameters".into()))?;
    let mut pool = POOL.get(ctx.state())?.unwrap_or_default();
    let me = staking_account();
    let name = LiquidStaking::<L, D>::NAME;
    match call {
        LiquidStakingCall::Stake { amount } => {
            if amount == 0 || amount < params.min_stake {
                return Err(LiquidStakingError::TooSmall("below the smallest stake"));
            }
            let shares = pool.shares_for(amount)?;
            if shares == 0 {
                return Err(LiquidStakingError::TooSmall("worth less than a share"));
            }
            module
                .ledger
                .transfer(ctx.state(), NATIVE, &sender, &me, amount)?;
            module
                .ledger
                .mint(ctx.state(), name, module.share_asset, &sender, shares)?;
            pool.buffer = math::add(pool.buffer, amount)?;
            pool.pooled = math::add(pool.pooled, amount)?;
            pool.shares = math::add(pool.shares, shares)?;
            ctx.emit(&LiquidStakingEvent::Staked {
                account: sender,
                amount,
                shares,
            })?;
        }
        LiquidStakingCall::Redeem { shares, request } => {
            if REQUESTS.get(ctx.state(), &(sender, request))?.is_some() {
                return Err(LiquidStakingError::RequestExists(request));
            }
            let amount = pool.value_of(shares)?;
            if shares == 0 || amount == 0 {
                return Err(LiquidStakingError::TooSmall(
                    "redeem at least a unit's worth",
                ));
            }
            module
                .ledger
                .burn(ctx.state(), name, module.share_asset, &sender, shares)?;
            pool.shares = math::sub(pool.shares, shares)?;
            pool.pooled = math::sub(pool.pooled, amount)?;
            pool.owed = math::add(pool.owed, amount)?;
            let ready_at = Height(ctx.env().height.0.saturating_add(params.unbonding_blocks));
            REQUESTS.set(
                ctx.state(),
                &(sender, request),
                &Request { amount, ready_at },
            )?;
            ctx.emit(&LiquidStakingEvent::Redeemed {
                account: sender,
                request,
                shares,
                amount,
                ready_at,
            })?;
        }
        LiquidStakingCall::Claim { request } => {
            let found = REQUESTS
                .get(ctx.state(), &(sender, request))?
                .ok_or(LiquidStakingError::UnknownRequest(request))?;
            if ctx.env().height.0 < found.ready_at.0 {
                return Err(LiquidStakingError::NotReady(found.ready_at.0));
            }
            if pool.reserve < found.amount {
                return Err(LiquidStakingError::NotFunded {
                    reserve: pool.reserve,
                });
            }
            module
                .ledger
                .transfer(ctx.state(), NATIVE, &me, &sender, found.amount)?;
            pool.reserve -= found.amount;
            pool.owed = math::sub(pool.owed, found.amount)?;
            REQUESTS.remove(ctx.state(), &(sender, request))?;
            ctx.emit(&LiquidStakingEvent::Claimed {
                account: sender,
                request,
                amount: found.amount,
            })?;
        }
    }
    POOL.set(ctx.state(), &pool)?;
    Ok(())
}

/// The block hook: collect, fund what is owed, delegate the buffer, revalue. What the
/// staking module refuses is left for a later block.
pub(super) fn rebalance<L: Ledger + Clone, D: Delegation + Clone>(
    module: &LiquidStaking<L, D>,
    ctx: &mut Ctx<'_, '_, L, D>,
) -> Result<(), LiquidStakingError> {
    if PARAMS.get(ctx.state())?.is_none() {
        return Ok(());
    }
    let Some(before) = POOL.get(ctx.state())? else {
        return Ok(());
    };
    let mut pool = before.clone();
    let now = ctx.env().height;
    let me = staking_account();
    let d = &module.delegation;
    let state = ctx.state();

    // Unbondings released since.
    if let Ok(released) = d.withdraw_unbonded(state, now, &me) {
        pool.reserve = pool.reserve.saturating_add(released);
    }
    let active = d.validators(state).unwrap_or_default();
    // Validators that left the set (jailed, outbid): take everything back.
    for operator in pool.validators.clone() {
        if !active.contains(&operator) {
            let worth = d.delegated(state, &me, &operator).unwrap_or(0);
            if worth > 0 {
                let _ = d.undelegate(state, now, &me, &operator, worth);
            }
        }
    }
    pool.unbonding = d.unbonding(state, &me).unwrap_or(pool.unbonding);

    // What is owed: the reserve and unbonding first, then the buffer, then undelegate.
    let covered = pool.reserve.saturating_add(pool.unbonding);
    if pool.owed > covered {
        let mut need = pool.owed - covered;
        let from_buffer = need.min(pool.buffer);
        pool.buffer -= from_buffer;
        pool.reserve = pool.reserve.saturating_add(from_buffer);
        need -= from_buffer;
        let mut holdings: Vec<(u128, Address)> = pool
            .validators
            .iter()
            .map(|op| (d.delegated(state, &me, op).unwrap_or(0), *op))
            .collect();
        holdings.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (worth, operator) in holdings {
            if need == 0 {
                break;
            }
            if let Ok(out) = d.undelegate(state, now, &me, &operator, need.min(worth)) {
                need = need.saturating_sub(out);
            }
        }
        pool.unbonding = d.unbonding(state, &me).unwrap_or(pool.unbonding);
    } else if pool.reserve > pool.owed {
        // More reserved than owed (an unbonding beyond what requests needed): stake it again.
        let spare = pool.reserve - pool.owed;
        pool.reserve -= spare;
        pool.buffer = pool.buffer.saturating_add(spare);
    }

    // The buffer, evenly across the active set.
    let targets: Vec<Address> = active.iter().take(MAX_VALIDATORS).copied().collect();
    if pool.buffer > 0 && !targets.is_empty() {
        let each = pool.buffer / targets.len() as u128;
        let first = pool.buffer - each * (targets.len() as u128 - 1);
        for (i, operator) in targets.iter().enumerate() {
            let amount = if i == 0 { first } else { each };
            if amount == 0 {
                continue;
            }
            let known = pool.validators.contains(operator);
            if !known && pool.validators.len() >= MAX_VALIDATORS {
                continue;
            }
            if d.delegate(state, &me, operator, amount).is_ok() {
                pool.buffer -= amount;
                if !known {
                    pool.validators.push(*operator);
                }
            }
        }
    }

    // Revalue.
    let mut delegated = 0u128;
    let mut still = Vec::with_capacity(pool.validators.len());
    for operator in &pool.validators {
        let worth = d.delegated(state, &me, operator).unwrap_or(0);
        if worth > 0 {
            still.push(*operator);
        }
        delegated = delegated.saturating_add(worth);
    }
    pool.validators = still;
    pool.delegated = delegated;
    pool.pooled = pool
        .buffer
        .saturating_add(pool.reserve)
        .saturating_add(pool.unbonding)
        .saturating_add(pool.delegated)
        .saturating_sub(pool.owed);
    if pool != before {
        POOL.set(ctx.state(), &pool)?;
        if pool.pooled != before.pooled || pool.delegated != before.delegated {
            ctx.emit(&LiquidStakingEvent::Rebalanced {
                pooled: pool.pooled,
                shares: pool.shares,
                delegated: pool.delegated,
            })?;
        }
    }
    Ok(())
}
