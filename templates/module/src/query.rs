//! What clients can ask the module, answered from committed state.

use lamina_interop::module::StateView;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::{ {{ModuleName}}Error, VALUES};

/// A query. As JSON: `{"value": {"account": "0x..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum {{ModuleName}}Query {
    /// An account's number.
    Value {
        /// The account.
        account: Address,
    },
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum {{ModuleName}}Response {
    /// The number (0 when never set).
    Value(u64),
}

pub(crate) fn answer(
    query: {{ModuleName}}Query,
    state: &dyn StateView,
) -> Result<{{ModuleName}}Response, {{ModuleName}}Error> {
    match query {
        {{ModuleName}}Query::Value { account } => Ok({{ModuleName}}Response::Value(
            VALUES.get_committed(state, &account)?.unwrap_or(0),
        )),
    }
}
