//! `liquid-staking`: stake the native asset through the chain's validators and hold a
//! non-rebasing share token instead, in the manner of Lido's wstETH. The token's worth in
//! the native asset rises with staking rewards and falls with slashing; redeeming it goes
//! through a queue that honours the unbonding period.
//!
//! ```text
//! Stake{amount}          native --> buffer; share tokens minted at the current rate (down)
//! Redeem{shares, id}     share tokens burned; a request for their worth (down), owed
//! Claim{id}              the request paid once it is funded and its unbonding has passed
//!
//! end of block           collect released unbondings into the reserve;
//!                        fund what is owed: from the buffer first, then undelegate;
//!                        delegate the rest of the buffer evenly across the active set;
//!                        undelegate everything from validators that left it;
//!                        pooled = buffer + reserve + unbonding + delegated - owed
//! ```
//!
//! The rate is `pooled / shares`, brought up to date at the end of each block from what the
//! staking module says the delegations are worth (through the `Delegation` seam): a reward
//! raises it, a slash lowers it, and a request's amount is fixed when it is made, so a
//! holder's claim never rises on a slash. Delegation happens in the block hook because which
//! validators it reaches is decided from state, which a call cannot declare in advance.
//!
//! **Invariants.** (1) The module's account holds exactly `buffer + reserve` of the native
//! asset. (2) The share token's supply equals `shares`. (3) `reserve + unbonding >= owed`
//! after every block hook, once the buffer and delegations allow. (4) A claim pays exactly
//! its request.
//!
//! **Rounding** in the pool's favour: shares minted and requests' amounts round down. Shares
//! carry a virtual offset and the pooled amount is the module's own record, so a donation to
//! its account changes no rate (the first-depositor attack fails).
//!
//! State:
//!
//! ```text
//! liquid-staking/params                 -> Params
//! liquid-staking/pool                   -> Pool
//! liquid-staking/request/ | (owner, id) -> Request { amount, ready_at }
//! ```

mod call;
mod event;
mod genesis;
mod query;

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{
    module_account, AccessSet, Context, Delegation, Ledger, LedgerError, Module, ModuleError,
    StateError, StateMap, StateValue, StateView,
};
use lamina_interop::{Address, Height};
use serde::{Deserialize, Serialize};

pub use call::LiquidStakingCall;
pub use event::LiquidStakingEvent;
pub use genesis::LiquidStakingGenesis;
pub use query::{LiquidStakingQuery, LiquidStakingResponse};

use crate::math::{self, mul_div, MathError};

/// The native asset, staked.
pub const NATIVE: u32 = 0;
/// Most validators the pool delegates to at once.
pub const MAX_VALIDATORS: usize = 32;
/// Virtual shares in the rate (the first-depositor defence; one, so that a share token starts
/// at one native unit).
pub const VIRTUAL_SHARES: u128 = 1;
/// Virtual stake in the rate.
pub const VIRTUAL_STAKE: u128 = 1;

/// The rules, set at genesis.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The smallest stake.
    #[serde(with = "lamina_interop::module::amount")]
    pub min_stake: u128,
    /// Blocks a request waits at least: the staking module's unbonding period.
    pub unbonding_blocks: u64,
}

/// The pool's books.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Pool {
    /// Share tokens outstanding.
    #[serde(with = "lamina_interop::module::amount")]
    pub shares: u128,
    /// What the shares are worth, as of the last block hook plus stakes and less redemptions
    /// since.
    #[serde(with = "lamina_interop::module::amount")]
    pub pooled: u128,
    /// Native held, waiting to be delegated.
    #[serde(with = "lamina_interop::module::amount")]
    pub buffer: u128,
    /// Native held for requests.
    #[serde(with = "lamina_interop::module::amount")]
    pub reserve: u128,
    /// Native unbonding for requests.
    #[serde(with = "lamina_interop::module::amount")]
    pub unbonding: u128,
    /// Owed to open requests.
    #[serde(with = "lamina_interop::module::amount")]
    pub owed: u128,
    /// What the delegations were worth at the last block hook.
    #[serde(with = "lamina_interop::module::amount")]
    pub delegated: u128,
    /// The validators the pool has delegated to.
    pub validators: Vec<Address>,
}

impl Pool {
    /// Share tokens for `amount` of native, rounded down.
    pub fn shares_for(&self, amount: u128) -> Result<u128, MathError> {
        mul_div(
            amount,
            math::add(self.shares, VIRTUAL_SHARES)?,
            math::add(self.pooled, VIRTUAL_STAKE)?,
        )
    }

    /// Native per 10^18 share tokens; `u128::MAX` when that is beyond a `u128` (a pool
    /// whose every share was redeemed and that then earned a reward: with one virtual
    /// share, its rate is what it holds times 10^18), never 0.
    pub fn rate_wad(&self) -> u128 {
        self.value_of(math::WAD).unwrap_or(u128::MAX)
    }

    /// What `shares` are worth in native, rounded down.
    pub fn value_of(&self, shares: u128) -> Result<u128, MathError> {
        mul_div(
            shares,
            math::add(self.pooled, VIRTUAL_STAKE)?,
            math::add(self.shares, VIRTUAL_SHARES)?,
        )
    }
}

/// A redemption waiting for its native.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Request {
    /// What it is owed.
    #[serde(with = "lamina_interop::module::amount")]
    pub amount: u128,
    /// The first block it may be claimed in.
    pub ready_at: Height,
}

/// The rules.
pub const PARAMS: StateValue<Params> = StateValue::new(b"liquid-staking/params");
/// The pool.
pub const POOL: StateValue<Pool> = StateValue::new(b"liquid-staking/pool");
/// Requests, by owner and the owner's number for them.
pub const REQUESTS: StateMap<(Address, u64), Request> = StateMap::new(b"liquid-staking/request/");

/// The account that stakes.
pub fn staking_account() -> Address {
    module_account("liquid-staking")
}

/// The module: assets through ledger `L`, stake through `D` (the staking module), share
/// tokens in bank asset `share_asset`.
#[derive(Debug, Clone, Copy)]
pub struct LiquidStaking<L, D> {
    ledger: L,
    delegation: D,
    share_asset: u32,
}

impl<L: Ledger, D: Delegation> LiquidStaking<L, D> {
    /// The module over `ledger`, staking through `delegation`, its share token the bank's
    /// asset `share_asset` (which the bank's genesis must let `liquid-staking` mint).
    pub fn new(ledger: L, delegation: D, share_asset: u32) -> Self {
        LiquidStaking {
            ledger,
            delegation,
            share_asset,
        }
    }

    /// The share token's asset.
    pub fn share_asset(&self) -> u32 {
        self.share_asset
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum LiquidStakingError {
    /// Below the smallest stake, or a zero amount.
    #[error("{0}")]
    TooSmall(&'static str),
    /// The request number is taken.
    #[error("request {0} exists")]
    RequestExists(u64),
    /// No such request.
    #[error("no request {0}")]
    UnknownRequest(u64),
    /// The request's unbonding has not passed.
    #[error("the request is ready at block {0}")]
    NotReady(u64),
    /// The pool has not yet gathered the request's native.
    #[error("the request is not yet funded: the reserve holds {reserve}")]
    NotFunded {
        /// What the reserve holds.
        reserve: u128,
    },
    /// Arithmetic overflow or division by zero.
    #[error(transparent)]
    Math(#[from] MathError),
    /// The ledger or the staking module refused.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The genesis section is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ModuleError for LiquidStakingError {
    fn code(&self) -> u32 {
        match self {
            LiquidStakingError::TooSmall(_) => 1,
            LiquidStakingError::RequestExists(_) => 2,
            LiquidStakingError::UnknownRequest(_) => 3,
            LiquidStakingError::NotReady(_) => 4,
            LiquidStakingError::NotFunded { .. } => 5,
            LiquidStakingError::Math(_) => 6,
            LiquidStakingError::Ledger(_) => 7,
            LiquidStakingError::Genesis(_) => 8,
            LiquidStakingError::State(_) => 100,
        }
    }
}

impl<L: Ledger + Clone, D: Delegation + Clone> Module for LiquidStaking<L, D> {
    const NAME: &'static str = "liquid-staking";
    const MAX_CALL_LEN: usize = 64;

    type Call = LiquidStakingCall;
    type Event = LiquidStakingEvent;
    type Genesis = LiquidStakingGenesis;
    type Query = LiquidStakingQuery;
    type QueryResponse = LiquidStakingResponse;
    type Error = LiquidStakingError;

    fn init_genesis(
        &self,
        genesis: &LiquidStakingGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), LiquidStakingError> {
        genesis::init(genesis, ctx)
    }

    fn access(&self, call: &LiquidStakingCall, sender: &Address) -> AccessSet {
        call::access(self, call, sender)
    }

    fn call(
        &self,
        call: LiquidStakingCall,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), LiquidStakingError> {
        call::execute(self, call, ctx)
    }

    fn weight(&self, call: &LiquidStakingCall) -> u64 {
        use crate::weights::table as t;
        match call {
            LiquidStakingCall::Stake { .. } => t::LIQUID_STAKING_STAKE.of(0),
            LiquidStakingCall::Redeem { .. } => t::LIQUID_STAKING_REDEEM.of(0),
            LiquidStakingCall::Claim { .. } => t::LIQUID_STAKING_CLAIM.of(0),
        }
    }

    fn query(
        &self,
        query: LiquidStakingQuery,
        state: &dyn StateView,
    ) -> Result<LiquidStakingResponse, LiquidStakingError> {
        query::answer(query, state)
    }

    /// Settles the pool with the staking module. A refusal by the staking module leaves the
    /// work for the next block rather than fail this one.
    fn end_block(&self, ctx: &mut Context<'_, '_, Self>) -> Result<(), LiquidStakingError> {
        call::rebalance(self, ctx)
    }
}

#[cfg(test)]
mod tests;
