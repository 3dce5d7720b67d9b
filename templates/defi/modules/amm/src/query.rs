//! What clients can ask the module, answered from committed state.

use lamina_interop::module::StateView;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::math::swap_out;
use crate::{pair, AmmError, Pool, FEE_BPS, POOLS, SHARES};

/// A query. As JSON: `{"quote": {"asset_in": 0, "asset_out": 1, "amount_in": 1000}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AmmQuery {
    /// A pool's reserves and shares.
    Pool {
        /// One asset.
        asset_a: u32,
        /// The other.
        asset_b: u32,
    },
    /// A provider's shares of a pool.
    Shares {
        /// One asset.
        asset_a: u32,
        /// The other.
        asset_b: u32,
        /// The provider.
        account: Address,
    },
    /// What a swap would yield now.
    Quote {
        /// What is sold.
        asset_in: u32,
        /// What is bought.
        asset_out: u32,
        /// How much is sold.
        amount_in: u128,
    },
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmmResponse {
    /// The pool (reserves in the order of the lower asset id first), or null.
    Pool(Option<Pool>),
    /// Shares held.
    Shares(u128),
    /// The amount out.
    Quote(u128),
}

pub(crate) fn answer(query: AmmQuery, state: &dyn StateView) -> Result<AmmResponse, AmmError> {
    match query {
        AmmQuery::Pool { asset_a, asset_b } => Ok(AmmResponse::Pool(
            POOLS.get_committed(state, &pair(asset_a, asset_b)?)?,
        )),
        AmmQuery::Shares {
            asset_a,
            asset_b,
            account,
        } => Ok(AmmResponse::Shares(
            SHARES
                .get_committed(state, &(pair(asset_a, asset_b)?, account))?
                .unwrap_or(0),
        )),
        AmmQuery::Quote {
            asset_in,
            asset_out,
            amount_in,
        } => {
            let pair = pair(asset_in, asset_out)?;
            let pool = POOLS
                .get_committed(state, &pair)?
                .ok_or(AmmError::NoPool(pair))?;
            let fee = FEE_BPS.get_committed(state)?.unwrap_or(0);
            let (reserve_in, reserve_out) = if asset_in == pair.0 {
                (pool.reserve_a, pool.reserve_b)
            } else {
                (pool.reserve_b, pool.reserve_a)
            };
            Ok(AmmResponse::Quote(swap_out(
                amount_in,
                reserve_in,
                reserve_out,
                fee,
            )?))
        }
    }
}
