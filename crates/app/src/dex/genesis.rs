//! The module's section of the chain spec: the swap fee.

use lamina_interop::module::{Context, Ledger};
use serde::{Deserialize, Serialize};

use super::{Dex, DexError, FEE_BPS, MAX_FEE_BPS};

/// `"dex": { "fee_bps": 30 }` in the chain spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DexGenesis {
    /// The swap fee in basis points (30 = 0.3%), kept by the pool for its providers.
    pub fee_bps: u16,
}

impl Default for DexGenesis {
    /// 0.3%, as Uniswap v2.
    fn default() -> Self {
        DexGenesis { fee_bps: 30 }
    }
}

pub(super) fn init<L: Ledger + Clone>(
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
    Ok(())
}
