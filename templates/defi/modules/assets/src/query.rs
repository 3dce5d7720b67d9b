//! What clients can ask the module, answered from committed state.

use lamina_interop::module::StateView;
use serde::{Deserialize, Serialize};

use crate::{AssetsError, Issuer, ISSUERS};

/// A query. As JSON: `{"issuer": {"asset": 1}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AssetsQuery {
    /// An asset's issuer, cap and issued amount.
    Issuer {
        /// The asset.
        asset: u32,
    },
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetsResponse {
    /// The issuer, or null when the module does not manage the asset.
    Issuer(Option<Issuer>),
}

pub(crate) fn answer(
    query: AssetsQuery,
    state: &dyn StateView,
) -> Result<AssetsResponse, AssetsError> {
    match query {
        AssetsQuery::Issuer { asset } => Ok(AssetsResponse::Issuer(
            ISSUERS.get_committed(state, &asset)?,
        )),
    }
}
