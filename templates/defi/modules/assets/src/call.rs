//! What a transaction can ask of the module.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{AccessSet, Context, Ledger, Module as _};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::{Assets, AssetsError, AssetsEvent, ISSUERS};

/// A call. As JSON: `{"mint": {"asset": 1, "to": "0x...", "amount": 1000}}`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AssetsCall {
    /// The issuer creates `amount` of `asset` for `to`.
    Mint {
        /// The asset.
        asset: u32,
        /// The recipient.
        to: Address,
        /// How much (a decimal string in JSON).
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// The sender destroys `amount` of its own `asset`.
    Burn {
        /// The asset.
        asset: u32,
        /// How much (a decimal string in JSON).
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// The issuer hands the role to `admin`.
    SetAdmin {
        /// The asset.
        asset: u32,
        /// The new issuer.
        admin: Address,
    },
}

pub(crate) fn access<L: Ledger + Clone>(
    ledger: &L,
    call: &AssetsCall,
    sender: &Address,
) -> AccessSet {
    let name = Assets::<L>::NAME;
    match call {
        AssetsCall::Mint { asset, to, .. } => {
            let access = AccessSet::new().write(ISSUERS.key(asset));
            let access = ledger.balance_access(access, *asset, to);
            ledger.supply_access(access, name, *asset)
        }
        AssetsCall::Burn { asset, .. } => {
            let access = AccessSet::new().write(ISSUERS.key(asset));
            let access = ledger.balance_access(access, *asset, sender);
            ledger.supply_access(access, name, *asset)
        }
        AssetsCall::SetAdmin { asset, .. } => AccessSet::new().write(ISSUERS.key(asset)),
    }
}

pub(crate) fn execute<L: Ledger + Clone>(
    ledger: &L,
    call: AssetsCall,
    ctx: &mut Context<'_, '_, Assets<L>>,
) -> Result<(), AssetsError> {
    let Some(sender) = ctx.sender() else {
        return Ok(());
    };
    let name = Assets::<L>::NAME;
    match call {
        AssetsCall::Mint { asset, to, amount } => {
            let mut issuer = ISSUERS
                .get(ctx.state(), &asset)?
                .ok_or(AssetsError::Unmanaged(asset))?;
            if issuer.admin != sender {
                return Err(AssetsError::NotIssuer(asset));
            }
            issuer.issued = issuer
                .issued
                .checked_add(amount)
                .filter(|issued| *issued <= issuer.cap)
                .ok_or(AssetsError::OverCap {
                    asset,
                    amount,
                    cap: issuer.cap,
                })?;
            ledger.mint(ctx.state(), name, asset, &to, amount)?;
            ISSUERS.set(ctx.state(), &asset, &issuer)?;
            ctx.emit(&AssetsEvent::Minted { asset, to, amount })?;
        }
        AssetsCall::Burn { asset, amount } => {
            let mut issuer = ISSUERS
                .get(ctx.state(), &asset)?
                .ok_or(AssetsError::Unmanaged(asset))?;
            ledger.burn(ctx.state(), name, asset, &sender, amount)?;
            // Burning what genesis created (never minted here) leaves `issued` at zero.
            issuer.issued = issuer.issued.saturating_sub(amount);
            ISSUERS.set(ctx.state(), &asset, &issuer)?;
            ctx.emit(&AssetsEvent::Burned {
                asset,
                from: sender,
                amount,
            })?;
        }
        AssetsCall::SetAdmin { asset, admin } => {
            let mut issuer = ISSUERS
                .get(ctx.state(), &asset)?
                .ok_or(AssetsError::Unmanaged(asset))?;
            if issuer.admin != sender {
                return Err(AssetsError::NotIssuer(asset));
            }
            issuer.admin = admin;
            ISSUERS.set(ctx.state(), &asset, &issuer)?;
            ctx.emit(&AssetsEvent::AdminChanged { asset, admin })?;
        }
    }
    Ok(())
}
