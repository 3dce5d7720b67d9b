//! The `bank` module: balances of many assets, transfers, and each asset's total supply.
//!
//! Invariants, for every asset: the total supply equals the sum of all balances; no balance
//! is negative (balances are unsigned and every debit is checked); no arithmetic overflows
//! (every sum is checked and fails the call). Transfers move value and never change the
//! supply. Only genesis and modules granted the right for an asset may mint or burn it:
//! a grant is named in the chain spec and checked in state on each [`mint`] or [`burn`].
//!
//! State:
//!
//! ```text
//! bank/asset/   | asset u32 LE                    -> AssetInfo
//! bank/balance/ | asset u32 LE | address [u8; 32] -> u128 LE   (absent: 0; not asset 0)
//! bank/supply/  | asset u32 LE                    -> u128 LE
//! bank/minter/  | asset u32 LE | len u32 | module  -> ()
//! bank/assets                                     -> [asset u32]  (genesis order, at most MAX_ASSETS)
//! ```
//!
//! Asset 0 is the native asset, in which fees are paid. Its balances live in the `accounts`
//! module's records, beside each account's nonce ([`crate::modules::accounts`]), and
//! [`balance_key`] names that record for it.

mod call;
mod event;
mod genesis;
mod ledger;
mod query;

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{
    AccessSet, Context, Module, ModuleError, StateError, StateMap, StateValue, StateView,
    WorkingSet,
};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::accounts;

pub use call::BankCall;
pub use event::BankEvent;
pub use genesis::{Amount, AssetGenesis, BankGenesis};
pub use query::{BankQuery, BankResponse, ListedAsset};

/// An asset's number.
pub type AssetId = u32;

/// The native asset, in which fees are paid.
pub const NATIVE: AssetId = 0;

/// What the chain knows about an asset.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct AssetInfo {
    /// A short name: `"LAM"`.
    pub symbol: String,
    /// Decimal places for display.
    pub decimals: u8,
}

/// Most assets a chain registers: their ids stay one state value.
pub const MAX_ASSETS: usize = 4096;
/// Every registered asset's id, in genesis order.
pub const ASSET_IDS: StateValue<Vec<AssetId>> = StateValue::new(b"bank/assets");
/// Registered assets.
pub const ASSETS: StateMap<AssetId, AssetInfo> = StateMap::new(b"bank/asset/");
/// Balances of every asset but the native one.
pub const BALANCES: StateMap<(AssetId, Address), u128> = StateMap::new(b"bank/balance/");
/// Total supply per asset.
pub const SUPPLY: StateMap<AssetId, u128> = StateMap::new(b"bank/supply/");
/// Which modules may mint and burn which asset.
pub const MINTERS: StateMap<(AssetId, String), ()> = StateMap::new(b"bank/minter/");

/// The state key of `account`'s balance of `asset`: for the native asset, the account's record.
pub fn balance_key(asset: AssetId, account: &Address) -> Vec<u8> {
    if asset == NATIVE {
        return accounts::account_key(account);
    }
    BALANCES.key(&(asset, *account))
}

/// The module.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bank;

/// The module's errors.
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// A debit larger than the balance.
    #[error("balance {balance} of asset {asset} is less than {needed}")]
    InsufficientBalance {
        /// The asset.
        asset: AssetId,
        /// What the account holds.
        balance: u128,
        /// What was asked.
        needed: u128,
    },
    /// A balance or supply would pass `u128::MAX`.
    #[error("amount overflows")]
    Overflow,
    /// The asset does not exist.
    #[error("unknown asset {0}")]
    UnknownAsset(AssetId),
    /// A module without the right to mint or burn the asset tried to.
    #[error("module {module} may not mint or burn asset {asset}")]
    NotMinter {
        /// The asset.
        asset: AssetId,
        /// The module.
        module: String,
    },
    /// The genesis section is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// An asset created twice.
    #[error("asset {0} exists")]
    AssetExists(AssetId),
}

impl ModuleError for BankError {
    fn code(&self) -> u32 {
        match self {
            BankError::InsufficientBalance { .. } => 1,
            BankError::Overflow => 2,
            BankError::UnknownAsset(_) => 3,
            BankError::NotMinter { .. } => 4,
            BankError::Genesis(_) => 5,
            BankError::State(_) => 6,
            BankError::AssetExists(_) => 7,
        }
    }
}

/// A balance read: metered for calls, unmetered for the runtime's fee bookkeeping.
fn read_balance(
    state: &mut WorkingSet<'_>,
    asset: AssetId,
    account: &Address,
    metered: bool,
) -> Result<u128, StateError> {
    if asset == NATIVE {
        return Ok(accounts::read(state, account, metered)?.native);
    }
    if metered {
        return Ok(BALANCES.get(state, &(asset, *account))?.unwrap_or(0));
    }
    match state.get_unmetered(&balance_key(asset, account))? {
        Some(bytes) => {
            lamina_interop::codec::decode_limited(&bytes, "balance", 16).map_err(StateError::from)
        }
        None => Ok(0),
    }
}

/// Writes a balance of an asset other than the native one, whose balances live in the
/// account records.
fn write_balance(
    state: &mut WorkingSet<'_>,
    asset: AssetId,
    account: &Address,
    amount: u128,
    metered: bool,
) -> Result<(), StateError> {
    let key = balance_key(asset, account);
    match (amount, metered) {
        (0, true) => state.delete(&key),
        (_, true) => state.set(&key, lamina_interop::codec::encode(&amount)),
        // Unmetered writes keep zero balances as a value: the runtime's refunds stay writes.
        (_, false) => state.set_unmetered(&key, lamina_interop::codec::encode(&amount)),
    }
}

/// Reads `account`'s balance of `asset` once, and writes what `change` makes of it.
fn update_balance(
    state: &mut WorkingSet<'_>,
    asset: AssetId,
    account: &Address,
    metered: bool,
    change: impl FnOnce(u128) -> Result<u128, BankError>,
) -> Result<(), BankError> {
    if asset == NATIVE {
        let mut record = accounts::read(state, account, metered)?;
        record.native = change(record.native)?;
        accounts::write(state, account, &record, metered)?;
    } else {
        let balance = read_balance(state, asset, account, metered)?;
        write_balance(state, asset, account, change(balance)?, metered)?;
    }
    Ok(())
}

/// Takes `amount` of `asset` from `account`.
pub(crate) fn debit(
    state: &mut WorkingSet<'_>,
    asset: AssetId,
    account: &Address,
    amount: u128,
    metered: bool,
) -> Result<(), BankError> {
    update_balance(state, asset, account, metered, |balance| {
        balance
            .checked_sub(amount)
            .ok_or(BankError::InsufficientBalance {
                asset,
                balance,
                needed: amount,
            })
    })
}

/// Gives `amount` of `asset` to `account`.
pub(crate) fn credit(
    state: &mut WorkingSet<'_>,
    asset: AssetId,
    account: &Address,
    amount: u128,
    metered: bool,
) -> Result<(), BankError> {
    update_balance(state, asset, account, metered, |balance| {
        balance.checked_add(amount).ok_or(BankError::Overflow)
    })
}

/// `account`'s committed balance of `asset`.
pub fn committed_balance(
    view: &dyn StateView,
    asset: AssetId,
    account: &Address,
) -> Result<u128, StateError> {
    if asset == NATIVE {
        return Ok(accounts::committed(view, account)?.native);
    }
    Ok(BALANCES
        .get_committed(view, &(asset, *account))?
        .unwrap_or(0))
}

/// Moves `amount` of `asset` from `from` to `to`. The supply does not change.
pub fn transfer(
    state: &mut WorkingSet<'_>,
    asset: AssetId,
    from: &Address,
    to: &Address,
    amount: u128,
) -> Result<(), BankError> {
    debit(state, asset, from, amount, true)?;
    credit(state, asset, to, amount, true)
}

fn check_minter(state: &mut WorkingSet<'_>, asset: AssetId, module: &str) -> Result<(), BankError> {
    if MINTERS.get(state, &(asset, module.to_string()))?.is_some() {
        Ok(())
    } else {
        Err(BankError::NotMinter {
            asset,
            module: module.to_string(),
        })
    }
}

fn adjust_supply(
    state: &mut WorkingSet<'_>,
    asset: AssetId,
    change: impl FnOnce(u128) -> Option<u128>,
) -> Result<(), BankError> {
    let supply = SUPPLY
        .get(state, &asset)?
        .ok_or(BankError::UnknownAsset(asset))?;
    let supply = change(supply).ok_or(BankError::Overflow)?;
    SUPPLY.set(state, &asset, &supply)?;
    Ok(())
}

/// Creates `amount` of `asset` for `to`, on behalf of `module`, which must hold the right
/// for the asset. The access set must include the asset's supply and minter keys.
pub fn mint(
    state: &mut WorkingSet<'_>,
    module: &str,
    asset: AssetId,
    to: &Address,
    amount: u128,
) -> Result<(), BankError> {
    check_minter(state, asset, module)?;
    adjust_supply(state, asset, |s| s.checked_add(amount))?;
    credit(state, asset, to, amount, true)
}

/// Destroys `amount` of `asset` held by `from`, on behalf of `module`, which must hold the
/// right for the asset.
pub fn burn(
    state: &mut WorkingSet<'_>,
    module: &str,
    asset: AssetId,
    from: &Address,
    amount: u128,
) -> Result<(), BankError> {
    check_minter(state, asset, module)?;
    debit(state, asset, from, amount, true)?;
    adjust_supply(state, asset, |s| s.checked_sub(amount))
}

/// Destroys `amount` of `asset` that the runtime has already taken from accounts (burned
/// fees): only the supply changes.
pub(crate) fn burn_collected(
    state: &mut WorkingSet<'_>,
    asset: AssetId,
    amount: u128,
) -> Result<(), BankError> {
    adjust_supply(state, asset, |s| s.checked_sub(amount))
}

/// Registers `asset` with no supply and `module` as its one minter; refused when it exists.
/// Its symbol is cut to 16 bytes; it shows 0 decimals until the chain says otherwise.
pub fn create_asset(
    state: &mut WorkingSet<'_>,
    module: &str,
    asset: AssetId,
    symbol: &str,
) -> Result<(), BankError> {
    if asset == NATIVE || ASSETS.get(state, &asset)?.is_some() {
        return Err(BankError::AssetExists(asset));
    }
    let mut symbol = symbol.to_string();
    while symbol.len() > 16 {
        symbol.pop();
    }
    ASSETS.set(
        state,
        &asset,
        &AssetInfo {
            symbol,
            decimals: 0,
        },
    )?;
    SUPPLY.set(state, &asset, &0)?;
    MINTERS.set(state, &(asset, module.to_string()), &())?;
    Ok(())
}

/// The keys [`mint`] and [`burn`] touch besides the account's balance, for access sets.
pub fn mint_access(access: AccessSet, module: &str, asset: AssetId) -> AccessSet {
    access
        .write(SUPPLY.key(&asset))
        .read(MINTERS.key(&(asset, module.to_string())))
}

impl Module for Bank {
    const NAME: &'static str = "bank";
    const MAX_CALL_LEN: usize = 128;

    type Call = BankCall;
    type Event = BankEvent;
    type Genesis = BankGenesis;
    type Query = BankQuery;
    type QueryResponse = BankResponse;
    type Error = BankError;

    fn init_genesis(
        &self,
        genesis: &BankGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), BankError> {
        genesis::init(genesis, ctx)
    }

    fn access(&self, call: &BankCall, sender: &Address) -> AccessSet {
        call::access(call, sender)
    }

    fn call(&self, call: BankCall, ctx: &mut Context<'_, '_, Self>) -> Result<(), BankError> {
        call::execute(call, ctx)
    }

    fn query(&self, query: BankQuery, state: &dyn StateView) -> Result<BankResponse, BankError> {
        query::answer(query, state)
    }
}

#[cfg(test)]
mod tests;
