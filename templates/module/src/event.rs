//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use lamina_interop::Address;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum {{ModuleName}}Event {
    /// `amount` was added to `account`'s number, now `value`.
    Added {
        /// The account.
        account: Address,
        /// What was added.
        amount: u64,
        /// The new number.
        value: u64,
    },
}
