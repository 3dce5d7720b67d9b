//! The module's section of the chain spec.

use lamina_interop::module::Context;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::{ {{ModuleName}}, {{ModuleName}}Error, VALUES};

/// `"{{module_name}}": { "values": [["0x...", 7]] }` in the chain spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct {{ModuleName}}Genesis {
    /// Accounts' numbers at the first block.
    #[serde(default)]
    pub values: Vec<(Address, u64)>,
}

pub(crate) fn init(
    genesis: &{{ModuleName}}Genesis,
    ctx: &mut Context<'_, '_, {{ModuleName}}>,
) -> Result<(), {{ModuleName}}Error> {
    for (account, value) in &genesis.values {
        VALUES.set(ctx.state(), account, value)?;
    }
    Ok(())
}
