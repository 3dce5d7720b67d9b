//! `insurance`: cover pools in the manner of Nexus Mutual. Underwriters deposit capital for
//! pool shares; buyers pay a premium for cover of an amount over a period against a named
//! risk; a claim within the period is decided by the underwriters' stake-weighted vote, or by
//! an on-chain trigger (bad debt recorded by `lending`), and paid from the pool.
//!
//! ```text
//!   underwriter --Deposit/Withdraw--> pool: capital, shares, active cover, pending claims
//!   buyer ------BuyCover{amount, period, max_premium}--> premium into capital; cover until end
//!   holder -----FileClaim (within the period, not in the block it was bought)
//!                 trigger Vote:     voting for `voting_blocks`; underwriters Vote (weight =
//!                                   shares held since before the claim); Settle after: paid
//!                                   if yes > no
//!                 trigger BadDebt:  paid at once if lending's bad debt in the asset rose
//!                                   since the cover was bought
//! ```
//!
//! **Premium.** The yearly rate rises with the pool's utilisation after the purchase,
//! `U = (active cover + pending claims + amount) / capital`: `rate = base + slope * U`, and
//! `premium = amount * rate * period / blocks_per_year`, rounded up (the pool's favour).
//! Cover beyond `max_utilisation` of the capital is refused.
//!
//! **Invariants.** (1) A claim pays at most its cover's amount, and never more than the
//! pool's capital. (2) The bank balance of the module's account in each asset equals the sum
//! of its pools' capital: premiums come in, payouts and withdrawals go out, nothing else.
//! (3) Capital backing active cover and pending claims cannot be withdrawn. (4) Shares
//! outstanding equal the sum of underwriters' shares.
//!
//! **Votes.** One vote per underwriter per claim, weighted by its shares; shares deposited
//! at or after the claim's filing do not vote, and a voter cannot withdraw until the vote
//! ends, so capital cannot vote twice through two accounts. Ties are denied.
//!
//! **Rounding** in the pool's favour: shares minted round down, shares burned and premiums
//! round up, withdrawals round down. Shares are priced with a virtual offset and capital is
//! the pool's own record, so the first-depositor (donation) attack fails.
//!
//! A cover carries one claim: filing consumes it whatever the outcome.
//!
//! State:
//!
//! ```text
//! insurance/params                        -> Params
//! insurance/pool/ | id                    -> Pool (with the expiries of active covers)
//! insurance/pools                         -> [id]      (genesis order, at most MAX_POOLS)
//! insurance/underwriter/ | (id, owner)    -> Underwriter { shares, deposited_at, locked_until }
//! insurance/cover/ | (id, holder, n)      -> Cover     (n: the holder's number for it)
//! insurance/claim/ | (id, holder, n)      -> Claim
//! insurance/vote/ | ((id, holder, n), v)  -> bool
//! ```

mod call;
mod event;
mod genesis;
mod query;

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{
    module_account, AccessSet, BadDebtRecord, Context, Ledger, LedgerError, Module, ModuleError,
    StateError, StateMap, StateValue, StateView,
};
use lamina_interop::{Address, Height};
use serde::{Deserialize, Serialize};

pub use call::InsuranceCall;
pub use event::InsuranceEvent;
pub use genesis::{InsuranceGenesis, PoolGenesis};
pub use query::{InsuranceQuery, InsuranceResponse, PoolView};

use crate::math::{self, mul_div, mul_div_up, MathError, BPS};

/// Most covers active in one pool at once.
pub const MAX_ACTIVE_COVERS: usize = 64;
/// Longest risk description, in bytes.
pub const MAX_RISK_LEN: usize = 64;
/// Most pools.
pub const MAX_POOLS: usize = 64;
/// Virtual shares in the share price (the first-depositor defence).
pub const VIRTUAL_SHARES: u128 = 1_000;
/// Virtual capital in the share price.
pub const VIRTUAL_CAPITAL: u128 = 1;

/// Rules common to every pool.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Blocks in a year, to turn yearly premium rates into a period's premium.
    pub blocks_per_year: u64,
    /// How long underwriters vote on a claim.
    pub voting_blocks: u64,
    /// The longest cover.
    pub max_cover_blocks: u64,
}

/// What decides a claim.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The underwriters' stake-weighted vote.
    Vote,
    /// Bad debt recorded by lending in this asset's market since the cover was bought.
    BadDebt {
        /// The market.
        asset: u32,
    },
}

/// A cover pool.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Pool {
    /// Its number.
    pub id: u32,
    /// The asset of capital, premiums, cover and payouts.
    pub asset: u32,
    /// The risk covered, in words.
    pub risk: String,
    /// What decides claims.
    pub trigger: Trigger,
    /// Yearly premium rate at no utilisation, in basis points.
    pub base_rate_bps: u32,
    /// Added per unit of utilisation, in basis points.
    pub slope_bps: u32,
    /// Most cover as a share of capital, in basis points.
    pub max_utilisation_bps: u32,
    /// Underwriters' capital, premiums included, payouts taken out.
    #[serde(with = "lamina_interop::module::amount")]
    pub capital: u128,
    /// Shares outstanding.
    #[serde(with = "lamina_interop::module::amount")]
    pub shares: u128,
    /// Cover in force.
    #[serde(with = "lamina_interop::module::amount")]
    pub active_cover: u128,
    /// Cover under a claim being voted.
    #[serde(with = "lamina_interop::module::amount")]
    pub pending_claims: u128,
    /// Paid out on claims, in all.
    #[serde(with = "lamina_interop::module::amount")]
    pub paid_out: u128,
    /// `(end height, amount)` of each cover in force.
    pub expiries: Vec<(u64, lamina_interop::module::Amount)>,
}

impl Pool {
    /// Capital that backs nothing: what underwriters may withdraw.
    pub fn free_capital(&self) -> u128 {
        self.capital
            .saturating_sub(self.active_cover)
            .saturating_sub(self.pending_claims)
    }

    /// Drops covers that ended before `height`.
    pub fn expire(&mut self, height: Height) {
        let mut ended = 0u128;
        self.expiries.retain(|(end, amount)| {
            let live = *end >= height.0;
            if !live {
                ended = ended.saturating_add(amount.0);
            }
            live
        });
        self.active_cover = self.active_cover.saturating_sub(ended);
    }

    /// The yearly premium rate, in basis points, at utilisation `u_bps`.
    pub fn rate_bps(&self, u_bps: u128) -> u128 {
        u128::from(self.base_rate_bps) + u128::from(self.slope_bps) * u_bps / BPS
    }

    /// The premium for `amount` of cover over `blocks`, rounded up, and the utilisation it
    /// leaves (basis points); `None` when it would pass the pool's limit.
    pub fn premium(
        &self,
        amount: u128,
        blocks: u64,
        blocks_per_year: u64,
    ) -> Result<Option<(u128, u128)>, MathError> {
        let covered = math::add(math::add(self.active_cover, self.pending_claims)?, amount)?;
        if self.capital == 0 {
            return Ok(None);
        }
        let u_bps = mul_div_up(covered, BPS, self.capital)?;
        if u_bps > u128::from(self.max_utilisation_bps) {
            return Ok(None);
        }
        let yearly = mul_div_up(amount, self.rate_bps(u_bps), BPS)?;
        let premium = mul_div_up(
            yearly,
            u128::from(blocks),
            u128::from(blocks_per_year.max(1)),
        )?;
        Ok(Some((premium, u_bps)))
    }

    /// Shares for a deposit of `amount`, rounded down.
    pub fn shares_for(&self, amount: u128) -> Result<u128, MathError> {
        mul_div(
            amount,
            math::add(self.shares, VIRTUAL_SHARES)?,
            math::add(self.capital, VIRTUAL_CAPITAL)?,
        )
    }

    /// What `shares` are worth, rounded down.
    pub fn value_of(&self, shares: u128) -> Result<u128, MathError> {
        mul_div(
            shares,
            math::add(self.capital, VIRTUAL_CAPITAL)?,
            math::add(self.shares, VIRTUAL_SHARES)?,
        )
    }
}

/// An underwriter's place in a pool.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Underwriter {
    /// Shares held.
    #[serde(with = "lamina_interop::module::amount")]
    pub shares: u128,
    /// The block of its latest deposit (shares vote only on claims filed after it).
    pub deposited_at: Height,
    /// No withdrawal before this block: the end of the last vote it cast.
    pub locked_until: Height,
}

/// Cover bought.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Cover {
    /// How much a claim pays at most.
    #[serde(with = "lamina_interop::module::amount")]
    pub amount: u128,
    /// The block it was bought in.
    pub start: Height,
    /// The last block it covers.
    pub end: Height,
    /// The premium paid.
    #[serde(with = "lamina_interop::module::amount")]
    pub premium: u128,
    /// Lending's bad debt in the trigger's asset when it was bought (bad-debt pools).
    #[serde(with = "lamina_interop::module::amount")]
    pub bad_debt_at_start: u128,
    /// Whether a claim was filed.
    pub claimed: bool,
}

/// Where a claim stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// Underwriters vote until this block.
    Voting {
        /// The last block of the vote.
        ends_at: Height,
    },
    /// Paid.
    Paid {
        /// How much.
        #[serde(with = "lamina_interop::module::amount")]
        amount: u128,
    },
    /// Denied.
    Denied,
}

/// A claim on a cover.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Claim {
    /// When it was filed.
    pub filed_at: Height,
    /// Shares voting to pay.
    #[serde(with = "lamina_interop::module::amount")]
    pub yes: u128,
    /// Shares voting to deny.
    #[serde(with = "lamina_interop::module::amount")]
    pub no: u128,
    /// Where it stands.
    pub status: ClaimStatus,
}

/// A cover's (and its claim's) key: the pool, the holder, and a number of the holder's
/// choosing, so that a call can declare the keys it touches before it runs.
pub type CoverId = (u32, Address, u64);

/// The rules.
pub const PARAMS: StateValue<Params> = StateValue::new(b"insurance/params");
/// Pools.
pub const POOLS: StateMap<u32, Pool> = StateMap::new(b"insurance/pool/");
/// Every pool's id, in genesis order: what `pools` lists.
pub const POOL_IDS: StateValue<Vec<u32>> = StateValue::new(b"insurance/pools");
/// Underwriters.
pub const UNDERWRITERS: StateMap<(u32, Address), Underwriter> =
    StateMap::new(b"insurance/underwriter/");
/// Covers.
pub const COVERS: StateMap<CoverId, Cover> = StateMap::new(b"insurance/cover/");
/// Claims.
pub const CLAIMS: StateMap<CoverId, Claim> = StateMap::new(b"insurance/claim/");
/// Votes cast.
pub const VOTES: StateMap<(CoverId, Address), bool> = StateMap::new(b"insurance/vote/");

/// The account holding every pool's capital.
pub fn insurance_account() -> Address {
    module_account("insurance")
}

/// The module: assets through ledger `L`, triggers from the bad-debt record `B`, pools in
/// the assets fixed at composition.
#[derive(Debug, Clone)]
pub struct Insurance<L, B> {
    ledger: L,
    bad_debt: B,
    assets: std::sync::Arc<[u32]>,
}

impl<L: Ledger, B: BadDebtRecord> Insurance<L, B> {
    /// The module over `ledger`, with triggers read from `bad_debt` (`NoBadDebt` without a
    /// lending module), and pools in `assets` (each call declares the balances it may move
    /// in them; genesis refuses a pool in another).
    pub fn new(ledger: L, bad_debt: B, assets: &[u32]) -> Self {
        Insurance {
            ledger,
            bad_debt,
            assets: assets.iter().copied().take(16).collect(),
        }
    }

    /// The assets pools may hold.
    pub fn assets(&self) -> &[u32] {
        &self.assets
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum InsuranceError {
    /// No such pool.
    #[error("no pool {0}")]
    UnknownPool(u32),
    /// No such cover.
    #[error("no cover {2} of {1} in pool {0}")]
    UnknownCover(u32, Address, u64),
    /// The holder already has a cover with that number in the pool.
    #[error("cover number {0} is taken")]
    CoverExists(u64),
    /// A zero amount or period, or one too small to mint a share.
    #[error("{0}")]
    ZeroAmount(&'static str),
    /// The cover would pass the pool's utilisation limit.
    #[error("the pool cannot back {asked} more cover")]
    OverCapacity {
        /// What was asked.
        asked: u128,
    },
    /// The premium is above the buyer's limit.
    #[error("premium {premium} is above the limit {limit}")]
    Slippage {
        /// The premium.
        premium: u128,
        /// The limit.
        limit: u128,
    },
    /// A period longer than the rules allow.
    #[error("a cover lasts at most {max} blocks")]
    PeriodTooLong {
        /// The limit.
        max: u64,
    },
    /// The withdrawal would take capital that backs cover.
    #[error("only {free} is free to withdraw, not {asked}")]
    CapitalLocked {
        /// Free capital.
        free: u128,
        /// Asked.
        asked: u128,
    },
    /// The underwriter voted on a claim still open.
    #[error("locked by a vote until block {0}")]
    VoteLocked(u64),
    /// The sender holds fewer shares.
    #[error("holds {held} shares, not {asked}")]
    NotEnoughShares {
        /// Held.
        held: u128,
        /// Asked.
        asked: u128,
    },
    /// Only the cover's holder claims.
    #[error("only the holder claims on a cover")]
    NotHolder,
    /// Outside the cover's period, or in the block it was bought.
    #[error("the cover runs from after block {start} to block {end}")]
    OutsidePeriod {
        /// The block it was bought.
        start: u64,
        /// Its last block.
        end: u64,
    },
    /// The cover was claimed already.
    #[error("the cover was claimed already")]
    AlreadyClaimed,
    /// No claim on the cover, or not in the state the call needs.
    #[error("the claim is not {0}")]
    ClaimState(&'static str),
    /// The sender cannot vote: no shares from before the claim, or it voted already.
    #[error("cannot vote: {0}")]
    CannotVote(&'static str),
    /// The bad-debt trigger has not fired.
    #[error("no bad debt recorded since the cover was bought")]
    TriggerNotMet,
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

impl ModuleError for InsuranceError {
    fn code(&self) -> u32 {
        match self {
            InsuranceError::UnknownPool(_) => 1,
            InsuranceError::UnknownCover(..) => 2,
            InsuranceError::CoverExists(_) => 19,
            InsuranceError::ZeroAmount(_) => 3,
            InsuranceError::OverCapacity { .. } => 4,
            InsuranceError::Slippage { .. } => 5,
            InsuranceError::PeriodTooLong { .. } => 6,
            InsuranceError::CapitalLocked { .. } => 7,
            InsuranceError::VoteLocked(_) => 8,
            InsuranceError::NotEnoughShares { .. } => 9,
            InsuranceError::NotHolder => 10,
            InsuranceError::OutsidePeriod { .. } => 11,
            InsuranceError::AlreadyClaimed => 12,
            InsuranceError::ClaimState(_) => 13,
            InsuranceError::CannotVote(_) => 14,
            InsuranceError::TriggerNotMet => 15,
            InsuranceError::Math(_) => 16,
            InsuranceError::Ledger(_) => 17,
            InsuranceError::Genesis(_) => 18,
            InsuranceError::State(_) => 100,
        }
    }
}

impl<L: Ledger + Clone, B: BadDebtRecord + Clone> Module for Insurance<L, B> {
    const NAME: &'static str = "insurance";
    const MAX_CALL_LEN: usize = 128;

    type Call = InsuranceCall;
    type Event = InsuranceEvent;
    type Genesis = InsuranceGenesis;
    type Query = InsuranceQuery;
    type QueryResponse = InsuranceResponse;
    type Error = InsuranceError;

    fn init_genesis(
        &self,
        genesis: &InsuranceGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), InsuranceError> {
        genesis::init(self, genesis, ctx)
    }

    fn access(&self, call: &InsuranceCall, sender: &Address) -> AccessSet {
        call::access(self, call, sender)
    }

    fn call(
        &self,
        call: InsuranceCall,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), InsuranceError> {
        call::execute(self, call, ctx)
    }

    fn weight(&self, call: &InsuranceCall) -> u64 {
        use crate::weights::table as t;
        match call {
            InsuranceCall::Deposit { .. } => t::INSURANCE_DEPOSIT.of(0),
            InsuranceCall::Withdraw { .. } => t::INSURANCE_WITHDRAW.of(0),
            InsuranceCall::BuyCover { .. } => t::INSURANCE_BUY_COVER.of(0),
            InsuranceCall::FileClaim { .. } => t::INSURANCE_FILE_CLAIM.of(0),
            InsuranceCall::Vote { .. } => t::INSURANCE_VOTE.of(0),
            InsuranceCall::Settle { .. } => t::INSURANCE_SETTLE.of(0),
        }
    }

    fn query(
        &self,
        query: InsuranceQuery,
        state: &dyn StateView,
    ) -> Result<InsuranceResponse, InsuranceError> {
        query::answer(query, state)
    }
}

#[cfg(test)]
mod tests;
