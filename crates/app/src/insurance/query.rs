//! What clients can ask the module, answered from committed state.

use lamina_interop::module::StateView;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{
    Claim, Cover, InsuranceError, Params, Pool, Underwriter, CLAIMS, COVERS, PARAMS, POOLS,
    POOL_IDS, UNDERWRITERS,
};
use crate::math::{mul_div_up, BPS};

/// A query. As JSON: `{"quote": {"pool": 0, "amount": "1000", "period_blocks": 100}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InsuranceQuery {
    /// A pool, with its utilisation and current rate.
    Pool {
        /// The pool.
        pool: u32,
    },
    /// Every pool (at most `MAX_POOLS`), in genesis order, as `pool` shows each.
    Pools,
    /// The premium for cover now.
    Quote {
        /// The pool.
        pool: u32,
        /// The most a claim pays.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
        /// How long, in blocks.
        period_blocks: u64,
    },
    /// A cover and its claim, if any.
    Cover {
        /// The pool.
        pool: u32,
        /// The holder.
        holder: Address,
        /// The holder's number for it.
        cover: u64,
    },
    /// An underwriter's shares and what they are worth.
    Underwriter {
        /// The pool.
        pool: u32,
        /// The underwriter.
        account: Address,
    },
    /// The rules.
    Params,
}

/// A pool now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolView {
    /// The pool (as of its last call: covers that ended since are still counted).
    pub pool: Pool,
    /// Cover and pending claims over capital, in basis points.
    pub utilisation_bps: u32,
    /// Yearly premium rate at that utilisation, in basis points.
    pub rate_bps: u32,
    /// Capital an underwriter may withdraw.
    #[serde(with = "lamina_interop::module::amount")]
    pub free_capital: u128,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuranceResponse {
    /// A pool.
    Pool(PoolView),
    /// Every pool.
    Pools(Vec<PoolView>),
    /// A premium, or null when the pool cannot back the cover.
    Quote(#[serde(with = "lamina_interop::module::amount::option")] Option<u128>),
    /// A cover and its claim.
    Cover {
        /// The cover, or null.
        cover: Option<Cover>,
        /// Its claim, or null.
        claim: Option<Claim>,
    },
    /// An underwriter.
    Underwriter {
        /// Its record.
        underwriter: Option<Underwriter>,
        /// What its shares are worth.
        #[serde(with = "lamina_interop::module::amount")]
        value: u128,
    },
    /// The rules.
    Params(Option<Params>),
}

fn pool(state: &dyn StateView, id: u32) -> Result<Pool, InsuranceError> {
    POOLS
        .get_committed(state, &id)?
        .ok_or(InsuranceError::UnknownPool(id))
}

/// A pool with its utilisation (rounded up, against the underwriters) and rate now.
fn view(pool: Pool) -> Result<PoolView, InsuranceError> {
    let covered = pool.active_cover.saturating_add(pool.pending_claims);
    let u_bps = if pool.capital == 0 {
        0
    } else {
        mul_div_up(covered, BPS, pool.capital)?
    };
    Ok(PoolView {
        utilisation_bps: u32::try_from(u_bps).unwrap_or(u32::MAX),
        rate_bps: u32::try_from(pool.rate_bps(u_bps)).unwrap_or(u32::MAX),
        free_capital: pool.free_capital(),
        pool,
    })
}

pub(super) fn answer(
    query: InsuranceQuery,
    state: &dyn StateView,
) -> Result<InsuranceResponse, InsuranceError> {
    match query {
        InsuranceQuery::Pool { pool: id } => Ok(InsuranceResponse::Pool(view(pool(state, id)?)?)),
        InsuranceQuery::Pools => {
            let mut views = Vec::new();
            for id in POOL_IDS.get_committed(state)?.unwrap_or_default() {
                views.push(view(pool(state, id)?)?);
            }
            Ok(InsuranceResponse::Pools(views))
        }
        InsuranceQuery::Quote {
            pool: id,
            amount,
            period_blocks,
        } => {
            let params = PARAMS
                .get_committed(state)?
                .ok_or(InsuranceError::Genesis("no parameters".into()))?;
            let pool = pool(state, id)?;
            Ok(InsuranceResponse::Quote(
                pool.premium(amount, period_blocks, params.blocks_per_year)?
                    .map(|(premium, _)| premium),
            ))
        }
        InsuranceQuery::Cover {
            pool,
            holder,
            cover,
        } => {
            let key = (pool, holder, cover);
            Ok(InsuranceResponse::Cover {
                cover: COVERS.get_committed(state, &key)?,
                claim: CLAIMS.get_committed(state, &key)?,
            })
        }
        InsuranceQuery::Underwriter { pool: id, account } => {
            let underwriter = UNDERWRITERS.get_committed(state, &(id, account))?;
            let shares = underwriter.as_ref().map_or(0, |u| u.shares);
            let value = pool(state, id)?.value_of(shares)?;
            Ok(InsuranceResponse::Underwriter { underwriter, value })
        }
        InsuranceQuery::Params => Ok(InsuranceResponse::Params(PARAMS.get_committed(state)?)),
    }
}
