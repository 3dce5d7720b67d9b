//! What clients can ask staking.

use lamina_interop::crypto::PublicKey;
use lamina_interop::module::StateView;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{
    ActiveSet, Params, StakingError, Unbonding, Validator, ACTIVE, KEYS, PARAMS, UNBONDING,
    VALIDATORS,
};

/// A question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StakingQuery {
    /// The rules.
    Params,
    /// The current validator set.
    ActiveSet,
    /// A validator, by operator.
    Validator {
        /// The operator.
        operator: Address,
    },
    /// The operator of a consensus key (a certificate's signers and the headers' proposers
    /// name keys and their addresses).
    Operator {
        /// The consensus key.
        key: PublicKey,
    },
    /// An operator's pending unbondings.
    Unbonding {
        /// The operator.
        operator: Address,
    },
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StakingResponse {
    /// The rules (absent when the chain runs without staking).
    Params(Option<Params>),
    /// The validator set.
    ActiveSet(ActiveSet),
    /// The validator, if registered.
    Validator(Option<Validator>),
    /// The key's operator, if a validator registered it.
    Operator(Option<Address>),
    /// Pending unbondings.
    Unbonding(Vec<Unbonding>),
}

pub(super) fn answer(
    query: StakingQuery,
    state: &dyn StateView,
) -> Result<StakingResponse, StakingError> {
    Ok(match query {
        StakingQuery::Params => StakingResponse::Params(PARAMS.get_committed(state)?),
        StakingQuery::ActiveSet => {
            StakingResponse::ActiveSet(ACTIVE.get_committed(state)?.unwrap_or_default())
        }
        StakingQuery::Validator { operator } => {
            StakingResponse::Validator(VALIDATORS.get_committed(state, &operator)?)
        }
        StakingQuery::Operator { key } => {
            StakingResponse::Operator(KEYS.get_committed(state, &key)?)
        }
        StakingQuery::Unbonding { operator } => StakingResponse::Unbonding(
            UNBONDING
                .get_committed(state, &operator)?
                .unwrap_or_default(),
        ),
    })
}
