//! Assets: issuers mint their bank assets up to a cap; holders burn theirs.
//!
//! The bank keeps balances and supplies; this module decides who may change a supply. An
//! asset it manages is created in the bank's genesis with `assets` among its minters, and
//! given an issuer and a cap in this module's genesis.
//!
//! Lamina's module layout: the module here, then [`genesis`], [`call`], [`query`], [`event`].

pub mod call;
pub mod event;
pub mod genesis;
pub mod query;

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{
    AccessSet, Context, Ledger, LedgerError, Module, ModuleError, StateError, StateMap, StateView,
};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};

pub use call::AssetsCall;
pub use event::AssetsEvent;
pub use genesis::{AssetsGenesis, IssuedAsset};
pub use query::{AssetsQuery, AssetsResponse};

/// Who may mint an asset, and how much may ever exist.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Issuer {
    /// The account that may mint and hand the role on.
    pub admin: Address,
    /// The most supply the issuer may reach by minting (burns make room again).
    #[serde(with = "lamina_interop::module::amount")]
    pub cap: u128,
    /// What is in circulation through this module: minted less burned.
    #[serde(with = "lamina_interop::module::amount")]
    pub issued: u128,
}

/// Issuers, by asset.
pub const ISSUERS: StateMap<u32, Issuer> = StateMap::new(b"assets/issuer/");

/// The module, changing supplies through ledger `L` (the bank).
#[derive(Debug, Clone, Copy, Default)]
pub struct Assets<L> {
    ledger: L,
}

impl<L: Ledger> Assets<L> {
    /// The module over `ledger`.
    pub fn new(ledger: L) -> Self {
        Assets { ledger }
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    /// The module manages no such asset.
    #[error("asset {0} has no issuer here")]
    Unmanaged(u32),
    /// The sender is not the asset's issuer.
    #[error("only the issuer of asset {0} may do this")]
    NotIssuer(u32),
    /// Minting would pass the cap.
    #[error("minting {amount} of asset {asset} would pass its cap of {cap}")]
    OverCap {
        /// The asset.
        asset: u32,
        /// What was asked.
        amount: u128,
        /// The cap.
        cap: u128,
    },
    /// The ledger refused (balance too low, no right to mint).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The genesis section is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ModuleError for AssetsError {
    fn code(&self) -> u32 {
        match self {
            AssetsError::Unmanaged(_) => 1,
            AssetsError::NotIssuer(_) => 2,
            AssetsError::OverCap { .. } => 3,
            AssetsError::Ledger(_) => 4,
            AssetsError::Genesis(_) => 5,
            AssetsError::State(_) => 100,
        }
    }
}

impl<L: Ledger + Clone> Module for Assets<L> {
    const NAME: &'static str = "assets";
    const MAX_CALL_LEN: usize = 128;

    type Call = AssetsCall;
    type Event = AssetsEvent;
    type Genesis = AssetsGenesis;
    type Query = AssetsQuery;
    type QueryResponse = AssetsResponse;
    type Error = AssetsError;

    fn init_genesis(
        &self,
        genesis: &AssetsGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), AssetsError> {
        genesis::init(genesis, ctx)
    }

    fn access(&self, call: &AssetsCall, sender: &Address) -> AccessSet {
        call::access(&self.ledger, call, sender)
    }

    fn call(&self, call: AssetsCall, ctx: &mut Context<'_, '_, Self>) -> Result<(), AssetsError> {
        call::execute(&self.ledger, call, ctx)
    }

    fn query(
        &self,
        query: AssetsQuery,
        state: &dyn StateView,
    ) -> Result<AssetsResponse, AssetsError> {
        query::answer(query, state)
    }
}

#[cfg(test)]
mod tests;
