//! What a transaction can ask of the module.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{AccessSet, Context};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::{validate, Names, NamesError, NamesEvent, OWNERS};

// ANCHOR: call
/// A call. As JSON (for `tx call names ...`): `{"claim": {"name": "alice"}}`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NamesCall {
    /// Claims an unowned name for the sender.
    Claim {
        /// The name.
        name: String,
    },
    /// Gives one of the sender's names to `to`.
    Transfer {
        /// The name.
        name: String,
        /// The new owner.
        to: Address,
    },
    /// Gives up one of the sender's names.
    Release {
        /// The name.
        name: String,
    },
}
// ANCHOR_END: call

impl NamesCall {
    fn name(&self) -> &str {
        match self {
            NamesCall::Claim { name }
            | NamesCall::Transfer { name, .. }
            | NamesCall::Release { name } => name,
        }
    }
}

/// Every call touches one key: the name's owner. Calls on different names run in parallel.
pub(crate) fn access(call: &NamesCall) -> AccessSet {
    AccessSet::new().write(OWNERS.key(&call.name().to_string()))
}

pub(crate) fn execute(call: NamesCall, ctx: &mut Context<'_, '_, Names>) -> Result<(), NamesError> {
    // Calls come from signed transactions: the runtime always names a sender.
    let Some(sender) = ctx.sender() else {
        return Ok(());
    };
    let name = call.name().to_string();
    validate(&name)?;
    let owner = OWNERS.get(ctx.state(), &name)?;
    match call {
        NamesCall::Claim { .. } => {
            if owner.is_some() {
                return Err(NamesError::Taken(name));
            }
            OWNERS.set(ctx.state(), &name, &sender)?;
            ctx.emit(&NamesEvent::Claimed {
                name,
                owner: sender,
            })?;
        }
        NamesCall::Transfer { to, .. } => {
            check_owner(owner, &sender, &name)?;
            OWNERS.set(ctx.state(), &name, &to)?;
            ctx.emit(&NamesEvent::Transferred {
                name,
                from: sender,
                to,
            })?;
        }
        NamesCall::Release { .. } => {
            check_owner(owner, &sender, &name)?;
            OWNERS.remove(ctx.state(), &name)?;
            ctx.emit(&NamesEvent::Released {
                name,
                owner: sender,
            })?;
        }
    }
    Ok(())
}

fn check_owner(owner: Option<Address>, sender: &Address, name: &str) -> Result<(), NamesError> {
    match owner {
        None => Err(NamesError::Unclaimed(name.to_string())),
        Some(owner) if owner != *sender => Err(NamesError::NotOwner(name.to_string())),
        Some(_) => Ok(()),
    }
}
