//! The bank as the chain's [`Ledger`], for modules of other layers.

use lamina_interop::module::{AccessSet, Ledger, LedgerError, WorkingSet};
use lamina_interop::Address;

use super::{
    balance_key, burn, create_asset, mint, mint_access, read_balance, transfer, Bank, BankError,
};

impl From<BankError> for LedgerError {
    fn from(err: BankError) -> LedgerError {
        match err {
            BankError::InsufficientBalance {
                asset,
                balance,
                needed,
            } => LedgerError::Insufficient {
                asset,
                balance,
                needed,
            },
            BankError::State(err) => LedgerError::State(err),
            other => LedgerError::Refused(other.to_string()),
        }
    }
}

impl Ledger for Bank {
    fn balance(
        &self,
        state: &mut WorkingSet<'_>,
        asset: u32,
        account: &Address,
    ) -> Result<u128, LedgerError> {
        Ok(read_balance(state, asset, account, true)?)
    }

    fn transfer(
        &self,
        state: &mut WorkingSet<'_>,
        asset: u32,
        from: &Address,
        to: &Address,
        amount: u128,
    ) -> Result<(), LedgerError> {
        Ok(transfer(state, asset, from, to, amount)?)
    }

    fn mint(
        &self,
        state: &mut WorkingSet<'_>,
        module: &str,
        asset: u32,
        to: &Address,
        amount: u128,
    ) -> Result<(), LedgerError> {
        Ok(mint(state, module, asset, to, amount)?)
    }

    fn burn(
        &self,
        state: &mut WorkingSet<'_>,
        module: &str,
        asset: u32,
        from: &Address,
        amount: u128,
    ) -> Result<(), LedgerError> {
        Ok(burn(state, module, asset, from, amount)?)
    }

    fn create_asset(
        &self,
        state: &mut WorkingSet<'_>,
        module: &str,
        asset: u32,
        symbol: &str,
    ) -> Result<(), LedgerError> {
        Ok(create_asset(state, module, asset, symbol)?)
    }

    fn balance_access(&self, access: AccessSet, asset: u32, account: &Address) -> AccessSet {
        access.write(balance_key(asset, account))
    }

    fn supply_access(&self, access: AccessSet, module: &str, asset: u32) -> AccessSet {
        mint_access(access, module, asset)
    }
}
