//! The module's section of the chain spec: monikers known from the first block.

use lamina_interop::module::Context;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::call::check_moniker;
use crate::{Attendance, AttendanceError, MONIKERS};

/// `"attendance": { "monikers": [["0x...", "alice"]] }` in the chain spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendanceGenesis {
    /// Accounts' monikers.
    #[serde(default)]
    pub monikers: Vec<(Address, String)>,
}

pub(crate) fn init(
    genesis: &AttendanceGenesis,
    ctx: &mut Context<'_, '_, Attendance>,
) -> Result<(), AttendanceError> {
    for (account, moniker) in &genesis.monikers {
        check_moniker(moniker)?;
        MONIKERS.set(ctx.state(), account, moniker)?;
    }
    Ok(())
}
