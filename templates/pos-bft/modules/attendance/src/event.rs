//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::Address;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum AttendanceEvent {
    /// `account` took the name `moniker`.
    Named {
        /// The account.
        account: Address,
        /// Its moniker.
        moniker: String,
    },
}
