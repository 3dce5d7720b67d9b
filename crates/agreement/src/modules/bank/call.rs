//! What a transaction can ask of the bank.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{AccessSet, Context};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{balance_key, transfer, AssetId, Bank, BankError, BankEvent};

/// A bank call.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BankCall {
    /// Moves `amount` of `asset` from the sender to `to`.
    Transfer {
        /// The recipient.
        to: Address,
        /// The asset.
        asset: AssetId,
        /// How much, in the asset's smallest unit (a decimal string in JSON).
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
}

pub(super) fn access(call: &BankCall, sender: &Address) -> AccessSet {
    match call {
        BankCall::Transfer { to, asset, .. } => AccessSet::new()
            .write(balance_key(*asset, sender))
            .write(balance_key(*asset, to)),
    }
}

pub(super) fn execute(call: BankCall, ctx: &mut Context<'_, '_, Bank>) -> Result<(), BankError> {
    match call {
        BankCall::Transfer { to, asset, amount } => {
            let Some(from) = ctx.sender() else {
                return Ok(());
            };
            transfer(ctx.state(), asset, &from, &to, amount)?;
            ctx.emit(&BankEvent::Transfer {
                from,
                to,
                asset,
                amount,
            })?;
            Ok(())
        }
    }
}
