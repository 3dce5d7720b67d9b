//! What clients can ask the module, answered from committed state.

use lamina_interop::module::StateView;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::{validate, NamesError, OWNERS};

/// A query. As JSON (for `query module names ...`): `{"owner": {"name": "alice"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NamesQuery {
    /// Who owns `name`.
    Owner {
        /// The name.
        name: String,
    },
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamesResponse {
    /// The owner, or null when the name is free.
    Owner(Option<Address>),
}

pub(crate) fn answer(
    query: NamesQuery,
    state: &dyn StateView,
) -> Result<NamesResponse, NamesError> {
    match query {
        NamesQuery::Owner { name } => {
            validate(&name)?;
            Ok(NamesResponse::Owner(OWNERS.get_committed(state, &name)?))
        }
    }
}
