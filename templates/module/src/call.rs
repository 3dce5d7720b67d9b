//! What a transaction can ask of the module.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{AccessSet, Context};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::{ {{ModuleName}}, {{ModuleName}}Error, {{ModuleName}}Event, VALUES};

// ANCHOR: call
/// A call. As JSON: `{"add": {"amount": 5}}`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum {{ModuleName}}Call {
    /// Adds `amount` to the sender's number.
    Add {
        /// How much.
        amount: u64,
    },
}
// ANCHOR_END: call

/// A call touches the sender's number only: calls of different senders run in parallel.
pub(crate) fn access(sender: &Address) -> AccessSet {
    AccessSet::new().write(VALUES.key(sender))
}

pub(crate) fn execute(
    call: {{ModuleName}}Call,
    ctx: &mut Context<'_, '_, {{ModuleName}}>,
) -> Result<(), {{ModuleName}}Error> {
    let Some(sender) = ctx.sender() else {
        return Ok(());
    };
    match call {
        {{ModuleName}}Call::Add { amount } => {
            let value = VALUES
                .get(ctx.state(), &sender)?
                .unwrap_or(0)
                .checked_add(amount)
                .ok_or({{ModuleName}}Error::Overflow)?;
            VALUES.set(ctx.state(), &sender, &value)?;
            ctx.emit(&{{ModuleName}}Event::Added {
                account: sender,
                amount,
                value,
            })?;
        }
    }
    Ok(())
}
