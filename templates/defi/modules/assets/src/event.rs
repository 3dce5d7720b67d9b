//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::Address;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum AssetsEvent {
    /// New supply.
    Minted {
        /// The asset.
        asset: u32,
        /// The recipient.
        to: Address,
        /// How much.
        amount: u128,
    },
    /// Supply destroyed.
    Burned {
        /// The asset.
        asset: u32,
        /// Whose.
        from: Address,
        /// How much.
        amount: u128,
    },
    /// A new issuer.
    AdminChanged {
        /// The asset.
        asset: u32,
        /// The issuer.
        admin: Address,
    },
}
