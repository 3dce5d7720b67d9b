//! What staking reports, in receipts and block events.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::crypto::PublicKey;
use lamina_interop::Address;

/// A staking event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum StakingEvent {
    /// A validator registered.
    Registered {
        /// Its operator.
        operator: Address,
        /// Its consensus key.
        key: PublicKey,
        /// Its first bond.
        bond: u128,
    },
    /// A bond grew.
    Bonded {
        /// The operator.
        operator: Address,
        /// By how much.
        amount: u128,
    },
    /// Part of a bond started unbonding.
    Unbonded {
        /// The operator.
        operator: Address,
        /// How much.
        amount: u128,
        /// When it can be withdrawn.
        release: u64,
    },
    /// Released unbondings went back to the operator.
    Withdrawn {
        /// The operator.
        operator: Address,
        /// How much.
        amount: u128,
    },
    /// An equivocation was punished.
    Slashed {
        /// The offender's operator.
        operator: Address,
        /// Its consensus key.
        key: PublicKey,
        /// The amount burned.
        amount: u128,
        /// The view of the offence.
        view: u64,
    },
    /// A block's reward was paid to the active set.
    Rewarded {
        /// The epoch.
        epoch: u64,
        /// The amount minted (the block reward).
        minted: u128,
        /// The fees paid out of the reward pool.
        fees: u128,
    },
    /// A new validator set: from genesis, an epoch boundary, or a slash.
    ValidatorSetChanged {
        /// The epoch it belongs to.
        epoch: u64,
        /// Consensus keys and bonds, largest first.
        validators: Vec<(PublicKey, u128)>,
    },
}
