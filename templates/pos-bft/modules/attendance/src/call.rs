//! What a transaction can ask of the module.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::Context;
use serde::{Deserialize, Serialize};

use crate::{Attendance, AttendanceError, AttendanceEvent, MAX_MONIKER, MONIKERS};

/// A call. As JSON: `{"set_moniker": {"moniker": "validator-one"}}`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AttendanceCall {
    /// Names the sender.
    SetMoniker {
        /// The name: 1 to 32 printable ASCII characters.
        moniker: String,
    },
}

pub(crate) fn check_moniker(moniker: &str) -> Result<(), AttendanceError> {
    if moniker.is_empty() {
        return Err(AttendanceError::InvalidMoniker("empty"));
    }
    if moniker.len() > MAX_MONIKER {
        return Err(AttendanceError::InvalidMoniker("longer than 32 bytes"));
    }
    if !moniker.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(AttendanceError::InvalidMoniker(
            "only printable ASCII is allowed",
        ));
    }
    Ok(())
}

pub(crate) fn execute(
    call: AttendanceCall,
    ctx: &mut Context<'_, '_, Attendance>,
) -> Result<(), AttendanceError> {
    let Some(sender) = ctx.sender() else {
        return Ok(());
    };
    match call {
        AttendanceCall::SetMoniker { moniker } => {
            check_moniker(&moniker)?;
            MONIKERS.set(ctx.state(), &sender, &moniker)?;
            ctx.emit(&AttendanceEvent::Named {
                account: sender,
                moniker,
            })?;
        }
    }
    Ok(())
}
