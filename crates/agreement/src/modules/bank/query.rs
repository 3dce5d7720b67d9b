//! What clients can ask the bank.

use lamina_interop::module::StateView;
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

use super::{committed_balance, AssetId, AssetInfo, BankError, ASSETS, ASSET_IDS, SUPPLY};

/// A question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankQuery {
    /// An account's balance of an asset.
    Balance {
        /// The account.
        account: Address,
        /// The asset.
        asset: AssetId,
    },
    /// An asset's description and total supply.
    Asset {
        /// The asset.
        asset: AssetId,
    },
    /// Every asset, in the order genesis lists them, with its supply.
    Assets,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankResponse {
    /// The balance.
    Balance {
        /// In the asset's smallest unit.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// The asset.
    Asset {
        /// Symbol and decimals.
        info: AssetInfo,
        /// Total supply.
        #[serde(with = "lamina_interop::module::amount")]
        supply: u128,
    },
    /// Every asset.
    Assets(Vec<ListedAsset>),
}

/// An asset as `assets` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedAsset {
    /// Its number.
    pub id: AssetId,
    /// Symbol and decimals.
    #[serde(flatten)]
    pub info: AssetInfo,
    /// Total supply.
    #[serde(with = "lamina_interop::module::amount")]
    pub supply: u128,
}

pub(super) fn answer(query: BankQuery, state: &dyn StateView) -> Result<BankResponse, BankError> {
    match query {
        BankQuery::Balance { account, asset } => Ok(BankResponse::Balance {
            amount: committed_balance(state, asset, &account)?,
        }),
        BankQuery::Asset { asset } => {
            let info = ASSETS
                .get_committed(state, &asset)?
                .ok_or(BankError::UnknownAsset(asset))?;
            let supply = SUPPLY.get_committed(state, &asset)?.unwrap_or(0);
            Ok(BankResponse::Asset { info, supply })
        }
        BankQuery::Assets => {
            let mut listed = Vec::new();
            for id in ASSET_IDS.get_committed(state)?.unwrap_or_default() {
                let info = ASSETS
                    .get_committed(state, &id)?
                    .ok_or(BankError::UnknownAsset(id))?;
                let supply = SUPPLY.get_committed(state, &id)?.unwrap_or(0);
                listed.push(ListedAsset { id, info, supply });
            }
            Ok(BankResponse::Assets(listed))
        }
    }
}
