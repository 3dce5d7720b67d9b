//! The delegation seam: how a module outside the incentive layer (liquid staking) bonds the
//! native asset with the chain's validators, the way [`Ledger`](super::Ledger) moves assets.
//!
//! The staking module implements [`Delegation`]: each validator has a delegation pool whose
//! stake counts toward its bond (for the set and for rewards), earns its share of rewards,
//! and is slashed with it. A delegator holds shares of a pool; what they are worth rises with
//! rewards and falls with slashes.
//!
//! The operations are meant for block hooks (`end_block`), which run without a declared
//! access set: which validators a delegation reaches is decided from state, so it cannot be
//! declared before a call. A module's calls queue work for its hook instead.

use super::{LedgerError, WorkingSet};
use crate::types::{Address, Height};

// ANCHOR: delegation
/// Stake delegated to validators, as a staking module keeps it.
pub trait Delegation: Send + Sync + 'static {
    /// The operators of the active validator set, largest bond first.
    fn validators(&self, state: &mut WorkingSet<'_>) -> Result<Vec<Address>, LedgerError>;

    /// Moves `amount` of the native asset from `delegator` into `operator`'s delegation
    /// pool. Refused for an operator that is not an unjailed validator.
    fn delegate(
        &self,
        state: &mut WorkingSet<'_>,
        delegator: &Address,
        operator: &Address,
        amount: u128,
    ) -> Result<(), LedgerError>;

    /// Starts unbonding, at block `now`, up to `amount` of `delegator`'s stake with
    /// `operator` (at most what it is worth); returns the amount unbonding, released after
    /// the unbonding period.
    fn undelegate(
        &self,
        state: &mut WorkingSet<'_>,
        now: Height,
        delegator: &Address,
        operator: &Address,
        amount: u128,
    ) -> Result<u128, LedgerError>;

    /// Pays `delegator` every unbonding released by block `now`; returns the total paid.
    fn withdraw_unbonded(
        &self,
        state: &mut WorkingSet<'_>,
        now: Height,
        delegator: &Address,
    ) -> Result<u128, LedgerError>;

    /// What `delegator`'s stake with `operator` is worth now.
    fn delegated(
        &self,
        state: &mut WorkingSet<'_>,
        delegator: &Address,
        operator: &Address,
    ) -> Result<u128, LedgerError>;

    /// What `delegator` has unbonding and not yet released.
    fn unbonding(
        &self,
        state: &mut WorkingSet<'_>,
        delegator: &Address,
    ) -> Result<u128, LedgerError>;
}
// ANCHOR_END: delegation
