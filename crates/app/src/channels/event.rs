//! What the module reports, in receipts.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::Amount;
use lamina_interop::{Address, Hash, Height};
use serde::Serialize;

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelsEvent {
    /// A channel opened.
    Opened {
        /// Its id.
        channel: Hash,
        /// Party 0 (the opener) and party 1.
        parties: [Address; 2],
        /// The asset.
        asset: u32,
        /// Party 0's deposit.
        #[serde(with = "lamina_interop::module::amount")]
        deposit: u128,
        /// The challenge period, in blocks.
        challenge_blocks: u64,
    },
    /// A deposit added.
    ToppedUp {
        /// The channel.
        channel: Hash,
        /// Who.
        party: Address,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// Both parties' deposits now.
        deposits: [Amount; 2],
    },
    /// A party started closing on `version`.
    Closing {
        /// The channel.
        channel: Hash,
        /// The registered version (0: the deposits as they stood).
        version: u64,
        /// The last block in which a newer state replaces it.
        deadline: Height,
        /// Who closed.
        by: Address,
    },
    /// A newer state replaced the registered one.
    Challenged {
        /// The channel.
        channel: Hash,
        /// The version now registered.
        version: u64,
        /// Who submitted it.
        by: Address,
    },
    /// Paid out.
    Settled {
        /// The channel.
        channel: Hash,
        /// The version paid out on.
        version: u64,
        /// The parties.
        parties: [Address; 2],
        /// What each was paid.
        payouts: [Amount; 2],
        /// Closed by agreement, at once.
        cooperative: bool,
    },
}
