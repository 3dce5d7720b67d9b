//! The module's section of the chain spec: the swap fee.

use lamina_interop::module::{Context, Ledger};
use serde::{Deserialize, Serialize};

use crate::{Amm, AmmError, FEE_BPS, MAX_FEE_BPS};

/// `"amm": { "fee_bps": 30 }` in the chain spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmmGenesis {
    /// The swap fee in basis points (30 = 0.3%), kept by the pool for its providers.
    pub fee_bps: u16,
}

impl Default for AmmGenesis {
    /// 0.3%.
    fn default() -> Self {
        AmmGenesis { fee_bps: 30 }
    }
}

pub(crate) fn init<L: Ledger + Clone>(
    genesis: &AmmGenesis,
    ctx: &mut Context<'_, '_, Amm<L>>,
) -> Result<(), AmmError> {
    if genesis.fee_bps > MAX_FEE_BPS {
        return Err(AmmError::Genesis(format!(
            "fee_bps {} is above {MAX_FEE_BPS}",
            genesis.fee_bps
        )));
    }
    FEE_BPS.set(ctx.state(), &genesis.fee_bps)?;
    Ok(())
}
