//! The module's section of the chain spec: the rules and the pools.

use lamina_interop::module::{BadDebtRecord, Context, Ledger};
use serde::{Deserialize, Serialize};

use super::{
    Insurance, InsuranceError, Params, Pool, Trigger, MAX_POOLS, MAX_RISK_LEN, PARAMS, POOLS,
    POOL_IDS,
};

/// A pool in genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolGenesis {
    /// Its number.
    pub id: u32,
    /// Its asset (one the module was composed with).
    pub asset: u32,
    /// The risk covered, in words (at most 64 bytes).
    pub risk: String,
    /// What decides claims.
    pub trigger: Trigger,
    /// Yearly premium rate at no utilisation, in basis points.
    pub base_rate_bps: u32,
    /// Added per unit of utilisation, in basis points.
    pub slope_bps: u32,
    /// Most cover as a share of capital, in basis points (at most 10000).
    pub max_utilisation_bps: u32,
}

/// `"insurance": {"params": {...}, "pools": [...]}` in the chain spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsuranceGenesis {
    /// The rules.
    pub params: Params,
    /// The pools.
    pub pools: Vec<PoolGenesis>,
}

impl Default for InsuranceGenesis {
    /// One-second blocks, votes of an hour, cover of a year at most; no pools.
    fn default() -> Self {
        InsuranceGenesis {
            params: Params {
                blocks_per_year: 31_536_000,
                voting_blocks: 3_600,
                max_cover_blocks: 31_536_000,
            },
            pools: Vec::new(),
        }
    }
}

pub(super) fn init<L: Ledger + Clone, B: BadDebtRecord + Clone>(
    insurance: &Insurance<L, B>,
    genesis: &InsuranceGenesis,
    ctx: &mut Context<'_, '_, Insurance<L, B>>,
) -> Result<(), InsuranceError> {
    let bad = |why: String| Err(InsuranceError::Genesis(why));
    if genesis.params.blocks_per_year == 0 || genesis.params.max_cover_blocks == 0 {
        return bad("blocks_per_year and max_cover_blocks must be above 0".into());
    }
    if genesis.pools.len() > MAX_POOLS {
        return bad(format!("more than {MAX_POOLS} pools"));
    }
    for (i, p) in genesis.pools.iter().enumerate() {
        if genesis.pools[..i].iter().any(|o| o.id == p.id) {
            return bad(format!("pool {} is listed twice", p.id));
        }
        if !insurance.assets().contains(&p.asset) {
            return bad(format!("pool {}: asset {} was not composed", p.id, p.asset));
        }
        if p.risk.len() > MAX_RISK_LEN || p.max_utilisation_bps > 10_000 {
            return bad(format!(
                "pool {}: a risk of at most {MAX_RISK_LEN} bytes, utilisation at most 10000",
                p.id
            ));
        }
        if let Trigger::BadDebt { asset } = p.trigger {
            if !insurance.bad_debt.recorded_assets().contains(&asset) {
                return bad(format!("pool {}: no bad debt is recorded in {asset}", p.id));
            }
        }
        let pool = Pool {
            id: p.id,
            asset: p.asset,
            risk: p.risk.clone(),
            trigger: p.trigger,
            base_rate_bps: p.base_rate_bps,
            slope_bps: p.slope_bps,
            max_utilisation_bps: p.max_utilisation_bps,
            capital: 0,
            shares: 0,
            active_cover: 0,
            pending_claims: 0,
            paid_out: 0,
            expiries: Vec::new(),
        };
        POOLS.set(ctx.state(), &p.id, &pool)?;
    }
    let ids: Vec<u32> = genesis.pools.iter().map(|p| p.id).collect();
    POOL_IDS.set(ctx.state(), &ids)?;
    PARAMS.set(ctx.state(), &genesis.params)?;
    Ok(())
}
