//! What clients can ask the module, answered from committed state.

use lamina_interop::module::{Price, StateView};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{Feed, OracleError, Params, Report, FEEDERS, FEEDS, PARAMS, PRICES, REPORTS};

/// A query. As JSON: `{"price": {"asset": 1}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OracleQuery {
    /// An asset's current price (with the block that set it), or null.
    Price {
        /// The asset.
        asset: u32,
    },
    /// Every feeder's latest report of an asset.
    Reports {
        /// The asset.
        asset: u32,
    },
    /// The rules, the feeders and the feeds.
    Config,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OracleResponse {
    /// The price.
    Price(Option<Price>),
    /// `(feeder, report)` for each feeder that reported.
    Reports(Vec<(Address, Report)>),
    /// The configuration.
    Config {
        /// The rules.
        params: Option<Params>,
        /// The feeders.
        feeders: Vec<Address>,
        /// The feeds.
        feeds: Vec<Feed>,
    },
}

pub(super) fn answer(
    query: OracleQuery,
    state: &dyn StateView,
) -> Result<OracleResponse, OracleError> {
    match query {
        OracleQuery::Price { asset } => {
            Ok(OracleResponse::Price(PRICES.get_committed(state, &asset)?))
        }
        OracleQuery::Reports { asset } => {
            let mut reports = Vec::new();
            for feeder in FEEDERS.get_committed(state)?.unwrap_or_default() {
                if let Some(report) = REPORTS.get_committed(state, &(asset, feeder))? {
                    reports.push((feeder, report));
                }
            }
            Ok(OracleResponse::Reports(reports))
        }
        OracleQuery::Config => Ok(OracleResponse::Config {
            params: PARAMS.get_committed(state)?,
            feeders: FEEDERS.get_committed(state)?.unwrap_or_default(),
            feeds: FEEDS.get_committed(state)?.unwrap_or_default(),
        }),
    }
}
