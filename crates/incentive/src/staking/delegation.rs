//! Delegation: stake that accounts other than the operator bond with a validator, through
//! the [`Delegation`] seam (liquid staking uses it).
//!
//! ```text
//! staking/pool/ | operator                    -> Pool { stake, shares }
//! staking/delegation/ | (operator, delegator) -> shares
//! staking/delegator-unbonding/ | delegator    -> [Unbonding]   (at most MAX_DELEGATOR_UNBONDINGS;
//!                                                a later one merges into the last, released
//!                                                at the later height)
//! ```
//!
//! A pool's stake counts toward its validator's bond, in the set's ranking and in rewards;
//! its share of each block's rewards is added to the stake (so shares are worth more), and a
//! slash burns the same share of the stake as of the bond (so shares are worth less). Shares
//! minted on delegation round down; the stake a withdrawal takes is at most what its shares
//! are worth, and the shares burned for it round up.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{Delegation, Ledger, LedgerError, StateMap, WorkingSet};
use lamina_interop::{Address, Height};
use serde::{Deserialize, Serialize};

use super::{mul_div, Staking, Unbonding, ACTIVE, NATIVE, PARAMS, VALIDATORS};

/// Most pending unbondings per delegator before new ones merge into the last.
pub const MAX_DELEGATOR_UNBONDINGS: usize = 64;

/// A validator's delegation pool.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Pool {
    /// Stake delegated, with rewards added and slashes taken.
    #[serde(with = "lamina_interop::module::amount")]
    pub stake: u128,
    /// Shares outstanding.
    #[serde(with = "lamina_interop::module::amount")]
    pub shares: u128,
}

/// Delegation pools by operator.
pub const POOLS: StateMap<Address, Pool> = StateMap::new(b"staking/pool/");
/// Delegators' shares.
pub const DELEGATIONS: StateMap<(Address, Address), u128> = StateMap::new(b"staking/delegation/");
/// Delegators' unbondings.
pub const DELEGATOR_UNBONDING: StateMap<Address, Vec<Unbonding>> =
    StateMap::new(b"staking/delegator-unbonding/");

fn refused(why: impl Into<String>) -> LedgerError {
    LedgerError::Refused(why.into())
}

/// `shares`' worth in `pool`, rounded down.
fn worth(pool: &Pool, shares: u128) -> u128 {
    if pool.shares == 0 {
        return 0;
    }
    mul_div(pool.stake, shares.min(pool.shares), pool.shares)
}

impl<L: Ledger> Delegation for Staking<L> {
    fn validators(&self, state: &mut WorkingSet<'_>) -> Result<Vec<Address>, LedgerError> {
        Ok(ACTIVE
            .get(state)?
            .unwrap_or_default()
            .members
            .iter()
            .map(|m| m.operator)
            .collect())
    }

    fn delegate(
        &self,
        state: &mut WorkingSet<'_>,
        delegator: &Address,
        operator: &Address,
        amount: u128,
    ) -> Result<(), LedgerError> {
        let validator = VALIDATORS
            .get(state, operator)?
            .ok_or_else(|| refused(format!("{operator} is not a validator")))?;
        if validator.jailed {
            return Err(refused(format!("{operator} is jailed")));
        }
        let mut pool = POOLS.get(state, operator)?.unwrap_or_default();
        let shares = if pool.shares == 0 {
            amount
        } else if pool.stake == 0 {
            return Err(refused("the pool was slashed to nothing"));
        } else {
            // Rounded down: the pool keeps the fraction.
            mul_div(amount, pool.shares, pool.stake)
        };
        if shares == 0 {
            return Err(refused("the delegation is worth less than a share"));
        }
        self.ledger
            .transfer(state, NATIVE, delegator, &Self::account(), amount)?;
        pool.stake = pool
            .stake
            .checked_add(amount)
            .ok_or_else(|| refused("stake overflows"))?;
        pool.shares = pool
            .shares
            .checked_add(shares)
            .ok_or_else(|| refused("shares overflow"))?;
        let held = DELEGATIONS
            .get(state, &(*operator, *delegator))?
            .unwrap_or(0);
        DELEGATIONS.set(state, &(*operator, *delegator), &(held + shares))?;
        POOLS.set(state, operator, &pool)?;
        Ok(())
    }

    fn undelegate(
        &self,
        state: &mut WorkingSet<'_>,
        now: Height,
        delegator: &Address,
        operator: &Address,
        amount: u128,
    ) -> Result<u128, LedgerError> {
        let Some(params) = PARAMS.get(state)? else {
            return Err(refused("staking has no parameters"));
        };
        let mut pool = POOLS.get(state, operator)?.unwrap_or_default();
        let held = DELEGATIONS
            .get(state, &(*operator, *delegator))?
            .unwrap_or(0);
        let amount = amount.min(worth(&pool, held));
        if amount == 0 {
            return Ok(0);
        }
        // Shares burned round up (at least worth the amount), at most those held.
        let mut burned = mul_div(amount, pool.shares, pool.stake).min(held);
        if burned < held && worth(&pool, burned) < amount {
            burned += 1;
        }
        pool.stake -= amount;
        pool.shares -= burned;
        if held == burned {
            DELEGATIONS.remove(state, &(*operator, *delegator))?;
        } else {
            DELEGATIONS.set(state, &(*operator, *delegator), &(held - burned))?;
        }
        POOLS.set(state, operator, &pool)?;
        let release = now.0.saturating_add(params.unbonding_blocks);
        let mut pending = DELEGATOR_UNBONDING
            .get(state, delegator)?
            .unwrap_or_default();
        let full = pending.len() >= MAX_DELEGATOR_UNBONDINGS;
        match pending.last_mut() {
            Some(last) if full || last.release == release => {
                last.amount = last.amount.saturating_add(amount);
                last.release = last.release.max(release);
            }
            _ => pending.push(Unbonding { amount, release }),
        }
        DELEGATOR_UNBONDING.set(state, delegator, &pending)?;
        Ok(amount)
    }

    fn withdraw_unbonded(
        &self,
        state: &mut WorkingSet<'_>,
        now: Height,
        delegator: &Address,
    ) -> Result<u128, LedgerError> {
        let pending = DELEGATOR_UNBONDING
            .get(state, delegator)?
            .unwrap_or_default();
        let (released, waiting): (Vec<Unbonding>, Vec<Unbonding>) =
            pending.into_iter().partition(|u| u.release <= now.0);
        let amount = released
            .iter()
            .fold(0u128, |sum, u| sum.saturating_add(u.amount));
        if amount == 0 {
            return Ok(0);
        }
        self.ledger
            .transfer(state, NATIVE, &Self::account(), delegator, amount)?;
        if waiting.is_empty() {
            DELEGATOR_UNBONDING.remove(state, delegator)?;
        } else {
            DELEGATOR_UNBONDING.set(state, delegator, &waiting)?;
        }
        Ok(amount)
    }

    fn delegated(
        &self,
        state: &mut WorkingSet<'_>,
        delegator: &Address,
        operator: &Address,
    ) -> Result<u128, LedgerError> {
        let pool = POOLS.get(state, operator)?.unwrap_or_default();
        let held = DELEGATIONS
            .get(state, &(*operator, *delegator))?
            .unwrap_or(0);
        Ok(worth(&pool, held))
    }

    fn unbonding(
        &self,
        state: &mut WorkingSet<'_>,
        delegator: &Address,
    ) -> Result<u128, LedgerError> {
        Ok(DELEGATOR_UNBONDING
            .get(state, delegator)?
            .unwrap_or_default()
            .iter()
            .fold(0u128, |sum, u| sum.saturating_add(u.amount)))
    }
}
