//! What staking reports, in receipts and block events.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::crypto::PublicKey;
use lamina_interop::Address;
use serde::Serialize;

/// A staking event.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StakingEvent {
    /// A validator registered.
    Registered {
        /// Its operator.
        operator: Address,
        /// Its consensus key.
        key: PublicKey,
        /// Its first bond.
        #[serde(with = "lamina_interop::module::amount")]
        bond: u128,
    },
    /// A bond grew.
    Bonded {
        /// The operator.
        operator: Address,
        /// By how much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// Part of a bond started unbonding.
    Unbonded {
        /// The operator.
        operator: Address,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// When it can be withdrawn.
        release: u64,
    },
    /// Released unbondings went back to the operator.
    Withdrawn {
        /// The operator.
        operator: Address,
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// An equivocation was punished.
    Slashed {
        /// The offender's operator.
        operator: Address,
        /// Its consensus key.
        key: PublicKey,
        /// The amount burned.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// The view of the offence.
        view: u64,
    },
    /// A block's reward was paid to the active set.
    Rewarded {
        /// The epoch.
        epoch: u64,
        /// The amount minted (the block reward).
        #[serde(with = "lamina_interop::module::amount")]
        minted: u128,
        /// The fees paid out of the reward pool.
        #[serde(with = "lamina_interop::module::amount")]
        fees: u128,
    },
    /// A new validator set: from genesis, an epoch boundary, or a slash.
    ValidatorSetChanged {
        /// The epoch it belongs to.
        epoch: u64,
        /// Consensus keys and bonds, largest first.
        #[serde(serialize_with = "powers")]
        validators: Vec<(PublicKey, u128)>,
    },
}

/// A set's keys and powers, each power a decimal string as amounts are.
fn powers<S: serde::Serializer>(set: &[(PublicKey, u128)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq as _;
    let mut seq = s.serialize_seq(Some(set.len()))?;
    for (key, power) in set {
        seq.serialize_element(&(key, lamina_interop::module::Amount(*power)))?;
    }
    seq.end()
}
