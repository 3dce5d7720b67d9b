//! The module's section of the chain spec: the rules.

use lamina_interop::module::{Context, Delegation, Ledger};
use serde::{Deserialize, Serialize};

use super::{LiquidStaking, LiquidStakingError, Params, Pool, PARAMS, POOL};

/// `"liquid-staking": {"params": {...}}` in the chain spec; without `params` the module
/// does nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiquidStakingGenesis {
    /// The rules.
    #[serde(default)]
    pub params: Option<Params>,
}

pub(super) fn init<L: Ledger + Clone, D: Delegation + Clone>(
    genesis: &LiquidStakingGenesis,
    ctx: &mut Context<'_, '_, LiquidStaking<L, D>>,
) -> Result<(), LiquidStakingError> {
    let Some(params) = &genesis.params else {
        return Ok(());
    };
    if params.min_stake == 0 {
        return Err(LiquidStakingError::Genesis(
            "min_stake must be above 0".into(),
        ));
    }
    PARAMS.set(ctx.state(), params)?;
    POOL.set(ctx.state(), &Pool::default())?;
    Ok(())
}
