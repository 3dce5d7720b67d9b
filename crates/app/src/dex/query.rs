//! What clients can ask the module, answered from committed state.

use lamina_interop::module::StateView;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::call::{amounts_in, amounts_out, hops};
use super::{pair, DexError, Pair, Pool, FEE_BPS, MAX_POOLS_PER_QUERY, PAIRS, POOLS, SHARES};

/// A query. As JSON: `{"quote_exact_in": {"path": [0, 1], "amount_in": "1000"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DexQuery {
    /// A pool's reserves, shares and cumulative prices (for a TWAP, read twice).
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
    /// What an exact-in swap along `path` would yield now, hop by hop.
    QuoteExactIn {
        /// The assets traded through.
        path: Vec<u32>,
        /// How much is sold.
        #[serde(with = "lamina_interop::module::amount")]
        amount_in: u128,
    },
    /// What an exact-out swap along `path` would cost now, hop by hop.
    QuoteExactOut {
        /// The assets traded through.
        path: Vec<u32>,
        /// How much is bought.
        #[serde(with = "lamina_interop::module::amount")]
        amount_out: u128,
    },
    /// The swap fee.
    Fee,
    /// Pools in creation order: `limit` (at most `MAX_POOLS_PER_QUERY`) from position `from`.
    Pools {
        /// The first position.
        from: u32,
        /// How many.
        limit: u32,
    },
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DexResponse {
    /// The pool (reserves in the order of the lower asset id first), or null.
    Pool(Option<Pool>),
    /// Shares held.
    Shares(#[serde(with = "lamina_interop::module::amount")] u128),
    /// The amount held before and after each hop: the first is paid, the last received.
    Quote(Vec<lamina_interop::module::Amount>),
    /// The swap fee in basis points.
    Fee(u16),
    /// Pools with their pairs.
    Pools(Vec<ListedPool>),
}

/// A pool with its pair, as `pools` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedPool {
    /// The lower asset id.
    pub asset_a: u32,
    /// The higher.
    pub asset_b: u32,
    /// The pool.
    pub pool: Pool,
}

pub(super) fn answer(query: DexQuery, state: &dyn StateView) -> Result<DexResponse, DexError> {
    match query {
        DexQuery::Pool { asset_a, asset_b } => Ok(DexResponse::Pool(
            POOLS.get_committed(state, &pair(asset_a, asset_b)?)?,
        )),
        DexQuery::Shares {
            asset_a,
            asset_b,
            account,
        } => Ok(DexResponse::Shares(
            SHARES
                .get_committed(state, &(pair(asset_a, asset_b)?, account))?
                .unwrap_or(0),
        )),
        DexQuery::QuoteExactIn { path, amount_in } => {
            let pools = pools(state, &path)?;
            let fee = FEE_BPS.get_committed(state)?.unwrap_or(0);
            quote(amounts_out(&path, &pools, amount_in, fee)?)
        }
        DexQuery::QuoteExactOut { path, amount_out } => {
            let pools = pools(state, &path)?;
            let fee = FEE_BPS.get_committed(state)?.unwrap_or(0);
            quote(amounts_in(&path, &pools, amount_out, fee)?)
        }
        DexQuery::Fee => Ok(DexResponse::Fee(FEE_BPS.get_committed(state)?.unwrap_or(0))),
        DexQuery::Pools { from, limit } => {
            let pairs = PAIRS.get_committed(state)?.unwrap_or_default();
            let limit = limit.min(MAX_POOLS_PER_QUERY) as usize;
            let mut listed = Vec::new();
            for &(asset_a, asset_b) in pairs.iter().skip(from as usize).take(limit) {
                let pool = POOLS
                    .get_committed(state, &(asset_a, asset_b))?
                    .ok_or(DexError::NoPool((asset_a, asset_b)))?;
                listed.push(ListedPool {
                    asset_a,
                    asset_b,
                    pool,
                });
            }
            Ok(DexResponse::Pools(listed))
        }
    }
}

fn pools(state: &dyn StateView, path: &[u32]) -> Result<Vec<(Pair, Pool)>, DexError> {
    hops(path)?
        .into_iter()
        .map(|pair| {
            let pool = POOLS
                .get_committed(state, &pair)?
                .ok_or(DexError::NoPool(pair))?;
            Ok((pair, pool))
        })
        .collect()
}

fn quote(amounts: Vec<u128>) -> Result<DexResponse, DexError> {
    Ok(DexResponse::Quote(
        amounts
            .into_iter()
            .map(lamina_interop::module::Amount)
            .collect(),
    ))
}
