//! The bank's section of the chain spec: assets, initial balances, and minting rights.

pub use lamina_interop::module::Amount;
use lamina_interop::module::Context;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{
    credit, AssetId, AssetInfo, Bank, BankError, ASSETS, ASSET_IDS, MAX_ASSETS, MINTERS, SUPPLY,
};

/// The bank's genesis.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankGenesis {
    /// The assets, each with its initial balances.
    pub assets: Vec<AssetGenesis>,
}

impl BankGenesis {
    /// The native asset (LAM, 18 decimals) with `accounts` funded and no minters.
    pub fn native(accounts: impl IntoIterator<Item = (Address, u128)>) -> BankGenesis {
        BankGenesis {
            assets: vec![AssetGenesis {
                id: super::NATIVE,
                info: AssetInfo {
                    symbol: "LAM".into(),
                    decimals: 18,
                },
                balances: accounts
                    .into_iter()
                    .map(|(address, amount)| (address, Amount(amount)))
                    .collect(),
                minters: Vec::new(),
            }],
        }
    }

    /// This genesis as its chain-spec section.
    pub fn to_section(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// One asset at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetGenesis {
    /// Its number; 0 is the native asset.
    pub id: AssetId,
    /// Its symbol and decimals.
    #[serde(flatten)]
    pub info: AssetInfo,
    /// Initial balances; the supply is their sum.
    #[serde(default)]
    pub balances: Vec<(Address, Amount)>,
    /// Modules that may mint and burn it.
    #[serde(default)]
    pub minters: Vec<String>,
}

pub(super) fn init(
    genesis: &BankGenesis,
    ctx: &mut Context<'_, '_, Bank>,
) -> Result<(), BankError> {
    if genesis.assets.len() > MAX_ASSETS {
        return Err(BankError::Genesis(format!(
            "{} assets, at most {MAX_ASSETS}",
            genesis.assets.len()
        )));
    }
    let ids: Vec<AssetId> = genesis.assets.iter().map(|a| a.id).collect();
    ASSET_IDS.set(ctx.state(), &ids)?;
    for asset in &genesis.assets {
        if ASSETS.get(ctx.state(), &asset.id)?.is_some() {
            return Err(BankError::Genesis(format!(
                "asset {} listed twice",
                asset.id
            )));
        }
        ASSETS.set(ctx.state(), &asset.id, &asset.info)?;
        let mut supply: u128 = 0;
        for (account, Amount(amount)) in &asset.balances {
            supply = supply.checked_add(*amount).ok_or(BankError::Overflow)?;
            credit(ctx.state(), asset.id, account, *amount, true)?;
        }
        SUPPLY.set(ctx.state(), &asset.id, &supply)?;
        for module in &asset.minters {
            MINTERS.set(ctx.state(), &(asset.id, module.clone()), &())?;
        }
    }
    Ok(())
}
