//! The module's section of the chain spec: the authority and the longest timeout.

use lamina_interop::module::{Context, Ledger};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{Interchain, InterchainError, Params, PARAMS};

/// `"interchain": {"authority": "0x..", "max_timeout_s": 86400}` in the chain spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterchainGenesis {
    /// Who may recover clients and set rate limits.
    #[serde(default)]
    pub authority: Option<Address>,
    /// The latest timeout a packet may have, in seconds after its block's time.
    pub max_timeout_s: u64,
}

impl Default for InterchainGenesis {
    /// No authority; timeouts up to a day ahead, as IBC v2 allows.
    fn default() -> Self {
        InterchainGenesis {
            authority: None,
            max_timeout_s: 86_400,
        }
    }
}

pub(super) fn init<L: Ledger + Clone>(
    genesis: &InterchainGenesis,
    ctx: &mut Context<'_, '_, Interchain<L>>,
) -> Result<(), InterchainError> {
    if genesis.max_timeout_s == 0 {
        return Err(InterchainError::Genesis(
            "max_timeout_s must be above 0".into(),
        ));
    }
    PARAMS.set(
        ctx.state(),
        &Params {
            authority: genesis.authority,
            max_timeout_s: genesis.max_timeout_s,
        },
    )?;
    Ok(())
}
