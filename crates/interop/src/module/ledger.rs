//! The ledger seam: how a module outside the bank moves the chain's assets.
//!
//! The bank (in the agreement layer) owns balances and supplies. Modules of other layers
//! (staking escrow, rewards, slashing in `incentive`; DeFi in `app`) reach them through
//! [`Ledger`], implemented by the bank and handed to them when the runtime is composed, so no
//! layer depends on another's crate.

use super::{AccessSet, StateError, WorkingSet};
use crate::hash::Hash;
use crate::types::Address;

/// Why a ledger operation was refused. The working set is unchanged by a refused operation
/// only if the caller reverts to its checkpoint, as the runtime does for a failed call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// A debit larger than the balance.
    #[error("balance {balance} of asset {asset} is less than {needed}")]
    Insufficient {
        /// The asset.
        asset: u32,
        /// What the account holds.
        balance: u128,
        /// What was asked.
        needed: u128,
    },
    /// The operation was refused: an unknown asset, a module without the right to mint or
    /// burn, an overflow.
    #[error("{0}")]
    Refused(String),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Balances and supplies, as the bank keeps them.
pub trait Ledger: Send + Sync + 'static {
    /// `account`'s balance of `asset`.
    fn balance(
        &self,
        state: &mut WorkingSet<'_>,
        asset: u32,
        account: &Address,
    ) -> Result<u128, LedgerError>;

    /// Moves `amount` of `asset` from `from` to `to`.
    fn transfer(
        &self,
        state: &mut WorkingSet<'_>,
        asset: u32,
        from: &Address,
        to: &Address,
        amount: u128,
    ) -> Result<(), LedgerError>;

    /// Creates `amount` of `asset` for `to`, on behalf of `module`, which must hold the right.
    fn mint(
        &self,
        state: &mut WorkingSet<'_>,
        module: &str,
        asset: u32,
        to: &Address,
        amount: u128,
    ) -> Result<(), LedgerError>;

    /// Destroys `amount` of `asset` held by `from`, on behalf of `module`, which must hold the
    /// right.
    fn burn(
        &self,
        state: &mut WorkingSet<'_>,
        module: &str,
        asset: u32,
        from: &Address,
        amount: u128,
    ) -> Result<(), LedgerError>;

    /// Registers a new asset `asset` with no supply, which `module` may mint and burn (the
    /// vouchers of assets from other chains). Refused when the asset exists; by default, a
    /// ledger creates no assets.
    fn create_asset(
        &self,
        _state: &mut WorkingSet<'_>,
        _module: &str,
        asset: u32,
        _symbol: &str,
    ) -> Result<(), LedgerError> {
        Err(LedgerError::Refused(format!(
            "this ledger creates no assets (asked for {asset})"
        )))
    }

    /// Adds to `access` the key of `account`'s balance of `asset`, for a call that moves it.
    fn balance_access(&self, access: AccessSet, asset: u32, account: &Address) -> AccessSet;

    /// Adds to `access` the keys a [`Ledger::mint`] or [`Ledger::burn`] by `module` touches
    /// besides the account's balance.
    fn supply_access(&self, access: AccessSet, module: &str, asset: u32) -> AccessSet;
}

/// The account a module holds assets in (bonded stake, a pool's reserves): no key signs for
/// it, so only the module moves what it holds.
pub fn module_account(module: &str) -> Address {
    let mut seed = b"lamina/module-account/".to_vec();
    seed.extend_from_slice(module.as_bytes());
    Address(Hash::of(&seed).0)
}
