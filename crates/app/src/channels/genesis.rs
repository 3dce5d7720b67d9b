//! The module's section of the chain spec: the rules.

use lamina_interop::module::{Context, Ledger};
use serde::{Deserialize, Serialize};

use super::{Channels, ChannelsError, Params, PARAMS};

/// `"channels": {"params": {...}}` in the chain spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsGenesis {
    /// The rules.
    pub params: Params,
}

impl Default for ChannelsGenesis {
    /// Challenge periods of 5 blocks to about 30 days of one-second blocks.
    fn default() -> Self {
        ChannelsGenesis {
            params: Params {
                min_challenge_blocks: 5,
                max_challenge_blocks: 2_592_000,
            },
        }
    }
}

pub(super) fn init<L: Ledger + Clone>(
    genesis: &ChannelsGenesis,
    ctx: &mut Context<'_, '_, Channels<L>>,
) -> Result<(), ChannelsError> {
    let params = &genesis.params;
    if params.min_challenge_blocks == 0 || params.min_challenge_blocks > params.max_challenge_blocks
    {
        return Err(ChannelsError::Genesis(
            "challenge periods need 0 < min_challenge_blocks <= max_challenge_blocks".into(),
        ));
    }
    PARAMS.set(ctx.state(), params)?;
    Ok(())
}
