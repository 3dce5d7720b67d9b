//! The module's section of the chain spec: the assets it manages.

use lamina_interop::module::{Amount, Context, Ledger};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use crate::{Assets, AssetsError, Issuer, ISSUERS};

/// An asset the module manages. The bank's genesis creates it (with `assets` as a minter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedAsset {
    /// The bank's asset id.
    pub asset: u32,
    /// Who may mint.
    pub admin: Address,
    /// The most that may be in circulation through minting.
    pub cap: Amount,
}

/// `"assets": { "issued": [{ "asset": 1, "admin": "0x...", "cap": "1000000" }] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetsGenesis {
    /// The managed assets.
    #[serde(default)]
    pub issued: Vec<IssuedAsset>,
}

pub(crate) fn init<L: Ledger + Clone>(
    genesis: &AssetsGenesis,
    ctx: &mut Context<'_, '_, Assets<L>>,
) -> Result<(), AssetsError> {
    for entry in &genesis.issued {
        if ISSUERS.get(ctx.state(), &entry.asset)?.is_some() {
            return Err(AssetsError::Genesis(format!(
                "asset {} listed twice",
                entry.asset
            )));
        }
        let issuer = Issuer {
            admin: entry.admin,
            cap: entry.cap.0,
            issued: 0,
        };
        ISSUERS.set(ctx.state(), &entry.asset, &issuer)?;
    }
    Ok(())
}
