//! The module's section of the chain spec: the swap fee, and pools opened at genesis.

use lamina_interop::module::{Context, Ledger};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::call::open_pool;
use super::{Dex, DexError, FEE_BPS, MAX_FEE_BPS};

/// A pool opened at genesis with `provider`'s assets (which the bank's genesis gives it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisPool {
    /// One asset.
    pub asset_a: u32,
    /// The other.
    pub asset_b: u32,
    /// How much of `asset_a`.
    #[serde(with = "lamina_interop::module::amount")]
    pub amount_a: u128,
    /// How much of `asset_b`.
    #[serde(with = "lamina_interop::module::amount")]
    pub amount_b: u128,
    /// Who provides it and holds the shares.
    pub provider: Address,
}

/// `"dex": { "fee_bps": 30, "pools": [...] }` in the chain spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DexGenesis {
    /// The swap fee in basis points (30 = 0.3%), kept by the pool for its providers.
    pub fee_bps: u16,
    /// Pools open from the first block.
    #[serde(default)]
    pub pools: Vec<GenesisPool>,
}

impl Default for DexGenesis {
    /// 0.3%, as Uniswap v2; no pools.
    fn default() -> Self {
        DexGenesis {
            fee_bps: 30,
            pools: Vec::new(),
        }
    }
}

pub(super) fn init<L: Ledger + Clone>(
    ledger: &L,
    genesis: &DexGenesis,
    ctx: &mut Context<'_, '_, Dex<L>>,
) -> Result<(), DexError> {
    if genesis.fee_bps > MAX_FEE_BPS {
        return Err(DexError::Genesis(format!(
            "fee_bps {} is above {MAX_FEE_BPS}",
            genesis.fee_bps
        )));
    }
    FEE_BPS.set(ctx.state(), &genesis.fee_bps)?;
    for pool in &genesis.pools {
        open_pool(
            ledger,
            ctx,
            pool.provider,
            pool.asset_a,
            pool.asset_b,
            pool.amount_a,
            pool.amount_b,
        )?;
    }
    Ok(())
}
