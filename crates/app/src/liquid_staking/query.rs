//! What clients can ask the module, answered from committed state.

use lamina_interop::module::StateView;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{LiquidStakingError, Params, Pool, Request, PARAMS, POOL, REQUESTS};

/// A query. As JSON: `{"pool": null}` or `{"request": {"owner": "0x…", "request": 1}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LiquidStakingQuery {
    /// The pool and its rate.
    Pool,
    /// What `shares` share tokens are worth now.
    Value {
        /// Share tokens.
        #[serde(with = "lamina_interop::module::amount")]
        shares: u128,
    },
    /// A request.
    Request {
        /// Its owner.
        owner: Address,
        /// The owner's number for it.
        request: u64,
    },
    /// The rules.
    Params,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiquidStakingResponse {
    /// The pool, and native per 10^18 share tokens.
    Pool {
        /// The books.
        pool: Pool,
        /// The rate, scaled by 10^18.
        #[serde(with = "lamina_interop::module::amount")]
        rate_wad: u128,
    },
    /// Native.
    Value(#[serde(with = "lamina_interop::module::amount")] u128),
    /// The request, or null.
    Request(Option<Request>),
    /// The rules.
    Params(Option<Params>),
}

pub(super) fn answer(
    query: LiquidStakingQuery,
    state: &dyn StateView,
) -> Result<LiquidStakingResponse, LiquidStakingError> {
    let pool = POOL.get_committed(state)?.unwrap_or_default();
    Ok(match query {
        LiquidStakingQuery::Pool => LiquidStakingResponse::Pool {
            rate_wad: pool.rate_wad(),
            pool,
        },
        LiquidStakingQuery::Value { shares } => {
            LiquidStakingResponse::Value(pool.value_of(shares)?)
        }
        LiquidStakingQuery::Request { owner, request } => {
            LiquidStakingResponse::Request(REQUESTS.get_committed(state, &(owner, request))?)
        }
        LiquidStakingQuery::Params => LiquidStakingResponse::Params(PARAMS.get_committed(state)?),
    })
}
