//! The `accounts` module: each account's nonce.
//!
//! The runtime checks and bumps the sender's nonce for every transaction, whichever module it
//! calls, so transactions of one sender execute in nonce order and each at most once. The
//! module's one call does nothing else: a sender uses it to cancel a pending transaction by
//! replacing it, at a higher fee, with one that only uses up the nonce.
//!
//! State: `accounts/nonce/ | address` -> `u64` (absent: 0).

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{
    AccessSet, Context, Module, ModuleError, StateError, StateMap, StateView,
};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

/// The nonces.
pub const NONCES: StateMap<Address, u64> = StateMap::new(b"accounts/nonce/");

/// The state key of `account`'s nonce.
pub fn nonce_key(account: &Address) -> Vec<u8> {
    NONCES.key(account)
}

/// `account`'s next nonce in committed state.
pub fn committed_nonce(view: &dyn StateView, account: &Address) -> Result<u64, StateError> {
    Ok(NONCES.get_committed(view, account)?.unwrap_or(0))
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
        // The runtime adds the sender's nonce to every transaction's set.
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
