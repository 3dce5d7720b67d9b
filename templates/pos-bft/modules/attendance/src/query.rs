//! What clients can ask the module, answered from committed state.

use lamina_interop::module::StateView;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::{AttendanceError, MONIKERS, PROPOSED};

/// A query. As JSON: `{"record": {"account": "0x..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AttendanceQuery {
    /// An account's moniker and blocks proposed.
    Record {
        /// The account (a validator's operator address).
        account: Address,
    },
}

/// An account's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its moniker, if it set one.
    pub moniker: Option<String>,
    /// Blocks it proposed.
    pub proposed: u64,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttendanceResponse {
    /// The record.
    Record(Record),
}

pub(crate) fn answer(
    query: AttendanceQuery,
    state: &dyn StateView,
) -> Result<AttendanceResponse, AttendanceError> {
    match query {
        AttendanceQuery::Record { account } => Ok(AttendanceResponse::Record(Record {
            moniker: MONIKERS.get_committed(state, &account)?,
            proposed: PROPOSED.get_committed(state, &account)?.unwrap_or(0),
        })),
    }
}
