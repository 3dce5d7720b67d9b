//! AMM: constant-product pools of two bank assets, with LP shares, a swap fee and slippage
//! limits.
//!
//! A pool holds reserves `x` and `y` of its two assets in an account of its own that no key
//! signs for. A swap of `dx` in pays the fee first, then keeps `x * y` from falling:
//! `dy = y * dx' / (x + dx')` with `dx' = dx * (10000 - fee_bps) / 10000`, so the fee stays
//! in the pool and accrues to its liquidity providers. Shares are minted in proportion to
//! what a provider adds; the first `MIN_LIQUIDITY` shares of a pool are locked forever, so a
//! pool can never be drained to zero and its share price cannot be inflated from nothing.
//! Every division rounds in the pool's favour.
//!
//! Lamina's module layout: the module here, then [`genesis`], [`call`], [`query`], [`event`].

pub mod call;
pub mod event;
pub mod genesis;
pub mod math;
pub mod query;

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{
    AccessSet, Context, Ledger, LedgerError, Module, ModuleError, StateError, StateMap, StateValue,
    StateView,
};
use lamina_interop::{Address, Hash};
use serde::{Deserialize, Serialize};

pub use call::AmmCall;
pub use event::AmmEvent;
pub use genesis::AmmGenesis;
pub use query::{AmmQuery, AmmResponse};

/// Shares locked in every pool at creation.
pub const MIN_LIQUIDITY: u128 = 1_000;
/// Highest fee, in basis points.
pub const MAX_FEE_BPS: u16 = 1_000;

/// A pool's assets, lower id first.
pub type Pair = (u32, u32);

/// A pool.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Pool {
    /// Reserve of the pair's first asset.
    pub reserve_a: u128,
    /// Reserve of the second.
    pub reserve_b: u128,
    /// Shares outstanding, the locked ones included.
    pub shares: u128,
}

/// Pools, by pair.
pub const POOLS: StateMap<Pair, Pool> = StateMap::new(b"amm/pool/");
/// Providers' shares, by pair and provider.
pub const SHARES: StateMap<(Pair, Address), u128> = StateMap::new(b"amm/shares/");
/// The swap fee, in basis points.
pub const FEE_BPS: StateValue<u16> = StateValue::new(b"amm/fee");

/// The account holding a pool's reserves.
pub fn pool_account((a, b): Pair) -> Address {
    let mut seed = b"amm/pool/".to_vec();
    seed.extend_from_slice(&a.to_be_bytes());
    seed.extend_from_slice(&b.to_be_bytes());
    Address(Hash::of(&seed).0)
}

/// `(a, b)` ordered, or an error when they are the same asset.
pub fn pair(a: u32, b: u32) -> Result<Pair, AmmError> {
    match a.cmp(&b) {
        std::cmp::Ordering::Less => Ok((a, b)),
        std::cmp::Ordering::Greater => Ok((b, a)),
        std::cmp::Ordering::Equal => Err(AmmError::SameAsset(a)),
    }
}

/// The module, moving assets through ledger `L` (the bank).
#[derive(Debug, Clone, Copy, Default)]
pub struct Amm<L> {
    ledger: L,
}

impl<L: Ledger> Amm<L> {
    /// The module over `ledger`.
    pub fn new(ledger: L) -> Self {
        Amm { ledger }
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum AmmError {
    /// A pool needs two different assets.
    #[error("a pool needs two different assets, not {0} twice")]
    SameAsset(u32),
    /// No pool for the pair.
    #[error("no pool for assets {0:?}")]
    NoPool(Pair),
    /// A pool for the pair exists.
    #[error("a pool for assets {0:?} exists")]
    PoolExists(Pair),
    /// An amount is zero, or too small to mint a share or move a unit.
    #[error("{0}")]
    TooSmall(&'static str),
    /// The result is worse than the sender's limit.
    #[error("slippage: would get {got}, limit is {limit}")]
    Slippage {
        /// What the call would yield.
        got: u128,
        /// The least the sender accepts.
        limit: u128,
    },
    /// The sender holds fewer shares.
    #[error("holds {held} shares, not {asked}")]
    NotEnoughShares {
        /// Shares held.
        held: u128,
        /// Shares asked.
        asked: u128,
    },
    /// An amount overflows.
    #[error("amount overflows")]
    Overflow,
    /// The ledger refused (balance too low).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The genesis section is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ModuleError for AmmError {
    fn code(&self) -> u32 {
        match self {
            AmmError::SameAsset(_) => 1,
            AmmError::NoPool(_) => 2,
            AmmError::PoolExists(_) => 3,
            AmmError::TooSmall(_) => 4,
            AmmError::Slippage { .. } => 5,
            AmmError::NotEnoughShares { .. } => 6,
            AmmError::Overflow => 7,
            AmmError::Ledger(_) => 8,
            AmmError::Genesis(_) => 9,
            AmmError::State(_) => 100,
        }
    }
}

impl<L: Ledger + Clone> Module for Amm<L> {
    const NAME: &'static str = "amm";
    const MAX_CALL_LEN: usize = 128;

    type Call = AmmCall;
    type Event = AmmEvent;
    type Genesis = AmmGenesis;
    type Query = AmmQuery;
    type QueryResponse = AmmResponse;
    type Error = AmmError;

    fn init_genesis(
        &self,
        genesis: &AmmGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), AmmError> {
        genesis::init(genesis, ctx)
    }

    fn access(&self, call: &AmmCall, sender: &Address) -> AccessSet {
        call::access(&self.ledger, call, sender)
    }

    fn call(&self, call: AmmCall, ctx: &mut Context<'_, '_, Self>) -> Result<(), AmmError> {
        call::execute(&self.ledger, call, ctx)
    }

    fn query(&self, query: AmmQuery, state: &dyn StateView) -> Result<AmmResponse, AmmError> {
        query::answer(query, state)
    }
}

#[cfg(test)]
mod tests;
