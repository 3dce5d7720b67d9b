//! The module's section of the chain spec: names owned from the first block.

use lamina_interop::module::Context;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::{validate, Names, NamesError, OWNERS};

/// `"names": { "claimed": [["alice", "0x..."]] }` in the chain spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamesGenesis {
    /// Names and their owners.
    #[serde(default)]
    pub claimed: Vec<(String, Address)>,
}

pub(crate) fn init(
    genesis: &NamesGenesis,
    ctx: &mut Context<'_, '_, Names>,
) -> Result<(), NamesError> {
    for (name, owner) in &genesis.claimed {
        validate(name)?;
        if OWNERS.get(ctx.state(), name)?.is_some() {
            return Err(NamesError::Genesis(format!("{name:?} is listed twice")));
        }
        OWNERS.set(ctx.state(), name, owner)?;
    }
    Ok(())
}
