//! The `accounts` module: each account's record, its nonce and its balance of the native asset.
//!
//! The runtime checks and bumps the sender's nonce for every transaction, whichever module it
//! calls, so transactions of one sender execute in nonce order and each at most once. The
//! module's one call does nothing else: a sender uses it to cancel a pending transaction by
//! replacing it, at a higher fee, with one that only uses up the nonce.
//!
//! State: `accounts/ | address` -> [`Account`] (absent: nonce 0, balance 0).
//!
//! The native balance lives in the record, not under the bank's balance keys, because every
//! transaction changes both for its sender (the nonce, and the fee): one key per account means
//! one read and one write where there would be two, and a transfer changes two keys, not three
//! (ADR 0021). The bank reads and writes the native balance through [`read`] and [`write()`];
//! balances of every other asset stay with the bank.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::codec;
use lamina_interop::module::{
    AccessSet, Context, Module, ModuleError, StateError, StateMap, StateView, WorkingSet,
};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

/// An account's record.
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
pub struct Account {
    /// The next nonce: how many transactions the account has sent.
    pub nonce: u64,
    /// Its balance of the native asset, in the smallest unit.
    pub native: u128,
}

impl Account {
    /// The record's encoded length: a `u64` and a `u128`.
    pub const ENCODED_LEN: usize = 24;

    /// Whether the record says nothing an absent one does not.
    pub fn is_empty(&self) -> bool {
        *self == Account::default()
    }

    fn decode(bytes: Option<Vec<u8>>) -> Result<Account, StateError> {
        match bytes {
            Some(bytes) => codec::decode_limited(&bytes, "account", Account::ENCODED_LEN)
                .map_err(StateError::from),
            None => Ok(Account::default()),
        }
    }
}

/// The account records.
pub const ACCOUNTS: StateMap<Address, Account> = StateMap::new(b"accounts/");

/// The state key of `account`'s record.
pub fn account_key(account: &Address) -> Vec<u8> {
    ACCOUNTS.key(account)
}

/// `account`'s record in committed state.
pub fn committed(view: &dyn StateView, account: &Address) -> Result<Account, StateError> {
    Account::decode(view.get(&account_key(account))?)
}

/// `account`'s next nonce in committed state.
pub fn committed_nonce(view: &dyn StateView, account: &Address) -> Result<u64, StateError> {
    Ok(committed(view, account)?.nonce)
}

/// `account`'s record as `state` sees it: metered for calls, unmetered for the runtime's own
/// bookkeeping.
pub fn read(
    state: &mut WorkingSet<'_>,
    account: &Address,
    metered: bool,
) -> Result<Account, StateError> {
    let key = account_key(account);
    let bytes = if metered {
        state.get(&key)?
    } else {
        state.get_unmetered(&key)?
    };
    Account::decode(bytes)
}

/// Writes `account`'s record. A metered write of an empty record deletes it; an unmetered one
/// keeps it as a value, so that the runtime's fee bookkeeping stays a write.
pub fn write(
    state: &mut WorkingSet<'_>,
    account: &Address,
    record: &Account,
    metered: bool,
) -> Result<(), StateError> {
    let key = account_key(account);
    match (record.is_empty(), metered) {
        (true, true) => state.delete(&key),
        (false, true) => state.set(&key, codec::encode(record)),
        (_, false) => state.set_unmetered(&key, codec::encode(record)),
    }
}

/// The module.
#[derive(Debug, Clone, Copy, Default)]
pub struct Accounts;

/// The module's one call.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountsCall {
    /// Uses up the nonce and nothing else.
    Cancel,
}

/// Nothing to configure: accounts come into being when they first receive funds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsGenesis {}

/// Questions about accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountsQuery {
    /// The account's next nonce.
    Nonce {
        /// The account.
        account: Address,
    },
}

/// The answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountsResponse {
    /// The next nonce.
    Nonce {
        /// The value.
        nonce: u64,
    },
}

/// The module's errors.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ModuleError for AccountsError {
    fn code(&self) -> u32 {
        match self {
            AccountsError::State(_) => 1,
        }
    }
}

impl Module for Accounts {
    const NAME: &'static str = "accounts";
    const MAX_CALL_LEN: usize = 16;

    type Call = AccountsCall;
    /// The module emits no events.
    type Event = ();
    type Genesis = AccountsGenesis;
    type Query = AccountsQuery;
    type QueryResponse = AccountsResponse;
    type Error = AccountsError;

    fn init_genesis(
        &self,
        _genesis: &AccountsGenesis,
        _ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), AccountsError> {
        Ok(())
    }

    fn access(&self, _call: &AccountsCall, _sender: &Address) -> AccessSet {
        // The runtime adds the sender's record to every transaction's set.
        AccessSet::new()
    }

    fn call(
        &self,
        call: AccountsCall,
        _ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), AccountsError> {
        match call {
            AccountsCall::Cancel => Ok(()),
        }
    }

    fn query(
        &self,
        query: AccountsQuery,
        state: &dyn StateView,
    ) -> Result<AccountsResponse, AccountsError> {
        match query {
            AccountsQuery::Nonce { account } => Ok(AccountsResponse::Nonce {
                nonce: committed_nonce(state, &account)?,
            }),
        }
    }
}
