//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use lamina_interop::Address;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttendanceEvent {
    /// `account` took the name `moniker`.
    Named {
        /// The account.
        account: Address,
        /// Its moniker.
        moniker: String,
    },
}
