//! `dex`: constant-product pools of two bank assets with LP shares, a router for multi-hop
//! swaps (exact in or exact out, one slippage limit, a deadline), and cumulative prices for a
//! time-weighted average.
//!
//! ```text
//! CreatePool{a, b, amount_a, amount_b}   sender --a,b--> pool account; shares sqrt(a*b),
//!                                         MIN_LIQUIDITY of them locked forever
//! AddLiquidity{.., max_a, max_b, min}    shares min(a*S/ra, b*S/rb) (down); takes
//!                                         shares*r/S of each (up)
//! RemoveLiquidity{.., shares, mins}      pays shares*r/S of each (down)
//! SwapExactIn{path, amount_in, min_out}  hop by hop: out = in*(1-f)*ro / (ri + in*(1-f)) (down)
//! SwapExactOut{path, amount_out, max_in} back to front: in = ri*out / ((ro-out)*(1-f)) + 1
//! ```
//!
//! **Invariants.** (1) A pool's reserves equal the bank balances of its account, to the unit.
//! (2) `reserve_a * reserve_b` never falls across a swap; with the fee it rises (Uniswap v2's
//! check, `(ba*10^4 - in_a*f)(bb*10^4 - in_b*f) >= ra*rb*10^8`, is re-checked after every hop
//! and a swap that breaks it is refused). (3) Shares outstanding equal the locked shares plus
//! every provider's. (4) Nothing is minted or burned: the module only moves assets.
//!
//! **Rounding, in the pool's favour.** Shares minted round down and the assets taken for them
//! round up; assets paid for redeemed shares round down; a swap's output rounds down and an
//! exact-out swap's input rounds up (and adds one unit, as Uniswap v2's `getAmountIn` does).
//!
//! **First-depositor attack.** A pool's first `MIN_LIQUIDITY` shares are locked (Uniswap v2
//! mints them to the zero address), so the share price cannot be pushed from a tiny supply
//! to where later deposits round to nothing; `tests::first_depositor_attack_leaves_the_attacker_poorer`.
//! There is no donation path either: reserves are the module's record, not the account's
//! balance, so a transfer into the pool account changes nothing a share is worth.
//!
//! **TWAP.** Each pool keeps `price_a_cumulative` and `price_b_cumulative`: the sum over time
//! of each price (the other reserve over this one, scaled by 10^18) times the seconds it
//! held, updated on the first touch in a block with the reserves before it, as Uniswap v2's
//! `_update` does. Two readings `(c1, t1)`, `(c2, t2)` give the average price
//! `(c2 - c1) / (t2 - t1)`; the sums wrap modulo 2^128, and the wrapping difference is exact
//! while the true one fits 128 bits. A price moved within one block by a flash trade is
//! weighted by the time it held: none.
//!
//! State:
//!
//! ```text
//! dex/fee                       -> u16 (basis points)
//! dex/pool/ | (a, b)            -> Pool { reserves, shares, cumulative prices, last seconds }
//! dex/shares/ | ((a, b), owner) -> u128
//! dex/pairs                     -> [(a, b)]      every pool, in creation order (at most MAX_POOLS)
//! ```
//!
//! Calls on different pools touch different keys and run in parallel; creating a pool also
//! writes the list of pairs, so two creations in one block run one after the other.

mod call;
mod event;
mod genesis;
pub mod math;
mod query;

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{
    AccessSet, Context, Ledger, LedgerError, Module, ModuleError, StateError, StateMap, StateValue,
    StateView,
};
use lamina_interop::{Address, Hash};
use serde::{Deserialize, Serialize};

pub use call::DexCall;
pub use event::DexEvent;
pub use genesis::{DexGenesis, GenesisPool};
pub use query::{DexQuery, DexResponse, ListedPool};

use crate::math::MathError;

/// Shares locked in every pool at creation.
pub const MIN_LIQUIDITY: u128 = 1_000;
/// Highest fee, in basis points.
pub const MAX_FEE_BPS: u16 = 1_000;
/// Most pools one swap passes through.
pub const MAX_HOPS: usize = 4;
/// Most pools one dex holds: the list of pairs (8 bytes each) stays one state value.
pub const MAX_POOLS: usize = 4096;
/// Most pools one `pools` query returns.
pub const MAX_POOLS_PER_QUERY: u32 = 256;

/// A pool's assets, lower id first.
pub type Pair = (u32, u32);

/// A pool.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Pool {
    /// Reserve of the pair's first (lower) asset.
    #[serde(with = "lamina_interop::module::amount")]
    pub reserve_a: u128,
    /// Reserve of the second.
    #[serde(with = "lamina_interop::module::amount")]
    pub reserve_b: u128,
    /// Shares outstanding, the locked ones included.
    #[serde(with = "lamina_interop::module::amount")]
    pub shares: u128,
    /// Sum of `reserve_b / reserve_a` (scaled by 10^18) times seconds, wrapping.
    #[serde(with = "lamina_interop::module::amount")]
    pub price_a_cumulative: u128,
    /// Sum of `reserve_a / reserve_b` (scaled by 10^18) times seconds, wrapping.
    #[serde(with = "lamina_interop::module::amount")]
    pub price_b_cumulative: u128,
    /// When the sums were last brought up to date, in seconds.
    pub last_update_secs: u64,
}

impl Pool {
    /// `(reserve_in, reserve_out)` for a swap selling `asset_in`.
    pub fn reserves_for(&self, pair: Pair, asset_in: u32) -> (u128, u128) {
        if asset_in == pair.0 {
            (self.reserve_a, self.reserve_b)
        } else {
            (self.reserve_b, self.reserve_a)
        }
    }
}

/// The swap fee, in basis points.
pub const FEE_BPS: StateValue<u16> = StateValue::new(b"dex/fee");
/// Pools, by pair.
pub const POOLS: StateMap<Pair, Pool> = StateMap::new(b"dex/pool/");
/// Every pool's pair, in creation order: what `pools` pages through.
pub const PAIRS: StateValue<Vec<Pair>> = StateValue::new(b"dex/pairs");
/// Providers' shares, by pair and provider.
pub const SHARES: StateMap<(Pair, Address), u128> = StateMap::new(b"dex/shares/");

/// The account holding a pool's reserves: no key signs for it.
pub fn pool_account((a, b): Pair) -> Address {
    let mut seed = b"lamina/dex/pool/".to_vec();
    seed.extend_from_slice(&a.to_be_bytes());
    seed.extend_from_slice(&b.to_be_bytes());
    Address(Hash::of(&seed).0)
}

/// `(a, b)` ordered, or an error when they are the same asset.
pub fn pair(a: u32, b: u32) -> Result<Pair, DexError> {
    match a.cmp(&b) {
        std::cmp::Ordering::Less => Ok((a, b)),
        std::cmp::Ordering::Greater => Ok((b, a)),
        std::cmp::Ordering::Equal => Err(DexError::SameAsset(a)),
    }
}

/// The module, moving assets through ledger `L` (the bank).
#[derive(Debug, Clone, Copy, Default)]
pub struct Dex<L> {
    ledger: L,
}

impl<L: Ledger> Dex<L> {
    /// The module over `ledger`.
    pub fn new(ledger: L) -> Self {
        Dex { ledger }
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum DexError {
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
    #[error("slippage: would {}, limit is {limit}", if *exact_out { format!("cost {got}") } else { format!("get {got}") })]
    Slippage {
        /// What the call would yield (exact in) or cost (exact out).
        got: u128,
        /// The sender's limit.
        limit: u128,
        /// Whether `got` is a cost.
        exact_out: bool,
    },
    /// The block's time is past the call's deadline.
    #[error("deadline {deadline_ms} ms passed (block time {now_ms} ms)")]
    Expired {
        /// The deadline.
        deadline_ms: u64,
        /// The block's time.
        now_ms: u64,
    },
    /// A path shorter than two assets or longer than `MAX_HOPS + 1`.
    #[error("a swap path has 2 to {max} assets, not {0}", max = MAX_HOPS + 1)]
    BadPath(usize),
    /// A path that names an asset twice (it would trade through one pool twice).
    #[error("the swap path names asset {0} twice")]
    CyclicPath(u32),
    /// An exact-out swap asks for the whole reserve or more.
    #[error("the pool holds {reserve}, cannot pay {asked}")]
    InsufficientLiquidity {
        /// The reserve.
        reserve: u128,
        /// What was asked.
        asked: u128,
    },
    /// The sender holds fewer shares.
    #[error("holds {held} shares, not {asked}")]
    NotEnoughShares {
        /// Shares held.
        held: u128,
        /// Shares asked.
        asked: u128,
    },
    /// The dex holds `MAX_POOLS` pools.
    #[error("the dex holds {MAX_POOLS} pools, the most it lists")]
    TooManyPools,
    /// The constant-product check failed: a bug, refused rather than paid.
    #[error("constant-product invariant would break")]
    Invariant,
    /// Arithmetic overflow or division by zero.
    #[error(transparent)]
    Math(#[from] MathError),
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

impl ModuleError for DexError {
    fn code(&self) -> u32 {
        match self {
            DexError::SameAsset(_) => 1,
            DexError::NoPool(_) => 2,
            DexError::PoolExists(_) => 3,
            DexError::TooSmall(_) => 4,
            DexError::Slippage { .. } => 5,
            DexError::NotEnoughShares { .. } => 6,
            DexError::Math(_) => 7,
            DexError::Ledger(_) => 8,
            DexError::Genesis(_) => 9,
            DexError::Expired { .. } => 10,
            DexError::BadPath(_) => 11,
            DexError::InsufficientLiquidity { .. } => 12,
            DexError::Invariant => 13,
            DexError::CyclicPath(_) => 14,
            DexError::TooManyPools => 15,
            DexError::State(_) => 100,
        }
    }
}

impl<L: Ledger + Clone> Module for Dex<L> {
    const NAME: &'static str = "dex";
    const MAX_CALL_LEN: usize = 256;

    type Call = DexCall;
    type Event = DexEvent;
    type Genesis = DexGenesis;
    type Query = DexQuery;
    type QueryResponse = DexResponse;
    type Error = DexError;

    fn init_genesis(
        &self,
        genesis: &DexGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), DexError> {
        genesis::init(&self.ledger, genesis, ctx)
    }

    fn access(&self, call: &DexCall, sender: &Address) -> AccessSet {
        call::access(&self.ledger, call, sender)
    }

    fn call(&self, call: DexCall, ctx: &mut Context<'_, '_, Self>) -> Result<(), DexError> {
        call::execute(&self.ledger, call, ctx)
    }

    fn weight(&self, call: &DexCall) -> u64 {
        use crate::weights::table as t;
        match call {
            DexCall::CreatePool { .. } => t::DEX_CREATE_POOL.of(0),
            DexCall::AddLiquidity { .. } => t::DEX_ADD_LIQUIDITY.of(0),
            DexCall::RemoveLiquidity { .. } => t::DEX_REMOVE_LIQUIDITY.of(0),
            // Per hop; an over-long path is refused after paying for its first hop.
            DexCall::SwapExactIn { path, .. } => {
                t::DEX_SWAP_EXACT_IN.of(path.len().clamp(2, MAX_HOPS + 1) - 1)
            }
            DexCall::SwapExactOut { path, .. } => {
                t::DEX_SWAP_EXACT_OUT.of(path.len().clamp(2, MAX_HOPS + 1) - 1)
            }
        }
    }

    fn query(&self, query: DexQuery, state: &dyn StateView) -> Result<DexResponse, DexError> {
        query::answer(query, state)
    }
}

#[cfg(test)]
mod tests;
