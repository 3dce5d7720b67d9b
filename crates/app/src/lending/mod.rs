//! `lending`: markets per asset in the manner of Compound and Aave. Suppliers earn interest
//! through shares whose exchange rate rises; borrowers post their supplies as collateral,
//! pay interest from a utilisation-based rate with a kink, and are liquidated when their
//! health factor falls below one.
//!
//! ```text
//!                 supply / withdraw                 borrow / repay (also on behalf)
//!   supplier  <--------------------->  market  <------------------------------->  borrower
//!               shares at the exchange  cash, borrows, reserves,     debt = principal *
//!               rate (cash + borrows -  supplied, bad debt, shares,  index / index at borrow
//!               reserves) / shares      borrow index, last height
//!                                          ^
//!                    prices (oracle, through the PriceFeed seam, refused when stale)
//!                                          |
//!   liquidator --repays part of an unhealthy borrower's debt--> seizes collateral shares
//!                worth the repayment plus a bonus; when no collateral is left, the rest of
//!                the debt is written off as bad debt
//! ```
//!
//! **Interest.** Utilisation `U = borrows / (cash + borrows - reserves)`. The yearly borrow
//! rate is `base + slope_low * U` up to the kink and `base + slope_low * kink + slope_high *
//! (U - kink)` above it; the supply rate is `U * borrow_rate * (1 - reserve_factor)`. Each
//! block that touches a market accrues simple interest since the last (Compound's
//! `accrueInterest`): `f = borrow_rate * blocks / blocks_per_year`, `interest = borrows * f`
//! (rounded up), `reserves += interest * reserve_factor` (rounded down, the rest to
//! suppliers), `borrow_index += borrow_index * f` (rounded up).
//!
//! **Health.** `health = sum(collateral value * liquidation threshold) / debt value`, prices
//! from the oracle; collateral values round down and debt values up. Borrowing and
//! withdrawing must leave `sum(collateral value * collateral factor) >= debt value`; since a
//! collateral factor never exceeds its threshold, no account below health 1 can borrow or
//! withdraw collateral, and none is left below it by doing so.
//!
//! **Liquidation.** Below health 1, anyone repays up to `close_factor` of one debt (all of it
//! below `full_close_health`) and receives collateral shares worth the repayment times
//! `1 + bonus`. Seizing at a bonus lowers health exactly when `health < (1 + bonus) *
//! threshold`; there the bonus is cut to `health / threshold - 1` (Euler's dynamic
//! discount), and collateral whose threshold is above the health factor, which no bonus
//! makes safe to seize, is refused (`ThresholdAboveHealth`: a solvent borrower always has
//! collateral at or below it). A borrower whose collateral is worth less than its debts is
//! insolvent: the part of the debt its collateral can never cover is written off first as bad
//! debt (Compound III's absorb), then the liquidation proceeds at the full bonus. So a
//! liquidation never lowers the borrower's health unless it records bad debt. Once a
//! borrower has no collateral left, every remaining debt is written off too; suppliers bear
//! bad debt through the exchange rate.
//!
//! **Invariants** (checked after every call in the property tests):
//! 1. Each market's `cash` equals the bank balance of the module's account in that asset.
//! 2. `cash + borrows + bad_debt == supplied + reserves`, to the unit, where `supplied` is
//!    what suppliers put in, less what they took out, plus their share of interest.
//! 3. A market's `shares` equal the sum of its suppliers' shares.
//! 4. Nothing is minted or burned: only transfers through the ledger.
//!
//! **Rounding, in the protocol's favour** (Aave's rule): shares minted on supply round down;
//! shares burned on withdraw round up; debt recorded on borrow and debt owed round up; debt
//! repaid rounds down (a payment never clears more than it pays); collateral seized rounds
//! down and the repayment it requires rounds up. A repayment of rounded-up debt beyond the
//! market's total borrows (at most a unit per borrower) goes to reserves, so invariant 2
//! holds to the unit.
//!
//! **First-depositor attack.** Shares are priced with a virtual offset (OpenZeppelin's
//! ERC-4626 defence): `shares = amount * (shares + 1000) / (assets + 1)`, and a market's cash
//! is its own record, not the account's balance, so a donation changes no exchange rate.
//!
//! **Prices.** An action that values an account (borrow, withdraw with debt, liquidate)
//! needs a price no older than `max_price_age_blocks` for every market the account is in;
//! a missing or stale price refuses it. Supply and repay need none.
//!
//! **Access.** The markets are fixed when the module is composed (`Lending::new(.., markets)`,
//! as Compound III fixes its assets at deployment), so every call can declare the markets
//! and prices it may read before it runs: a call writes its own market and its accounts, and
//! reads the others; a liquidation writes every market (a write-off may touch each).
//!
//! State:
//!
//! ```text
//! lending/params             -> Params
//! lending/market/ | asset    -> Market
//! lending/account/ | owner   -> [Position { asset, shares, principal, index }]
//! ```

mod call;
mod event;
mod genesis;
pub mod health;
mod query;
pub mod rate;

use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{
    module_account, AccessSet, BadDebtRecord, Context, Ledger, LedgerError, Module, ModuleError,
    PriceFeed, StateError, StateMap, StateValue, StateView, WorkingSet,
};
use lamina_interop::{Address, Height};
use serde::{Deserialize, Serialize};

pub use call::LendingCall;
pub use event::LendingEvent;
pub use genesis::{LendingGenesis, MarketGenesis};
pub use health::Valuation;
pub use query::{AccountView, LendingQuery, LendingResponse, MarketView, PositionView};
pub use rate::RateModel;

use crate::math::MathError;

/// Most markets in one module.
pub const MAX_MARKETS: usize = 16;
/// Virtual shares in the exchange rate (the first-depositor defence).
pub const VIRTUAL_SHARES: u128 = 1_000;
/// Virtual assets in the exchange rate.
pub const VIRTUAL_ASSETS: u128 = 1;

/// Rules common to every market.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Share of one debt a liquidation may repay, in basis points (Compound: 5000).
    pub close_factor_bps: u16,
    /// Below this health (basis points of 1), a liquidation may repay the whole debt
    /// (Aave: 9500).
    pub full_close_health_bps: u16,
    /// A price older than this many blocks is refused.
    pub max_price_age_blocks: u64,
    /// Blocks in a year, to turn yearly rates into per-block interest.
    pub blocks_per_year: u64,
}

/// A market's settings.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    /// Share of a supply's value that may be borrowed against, in basis points.
    pub collateral_factor_bps: u16,
    /// Share of a supply's value counted in the health factor, in basis points; at least
    /// the collateral factor.
    pub liquidation_threshold_bps: u16,
    /// Extra collateral a liquidator receives, in basis points of what it repays.
    pub liquidation_bonus_bps: u16,
    /// Share of interest kept as reserves, in basis points.
    pub reserve_factor_bps: u16,
    /// The interest rate model.
    pub rate: RateModel,
    /// Most the suppliers' assets may reach (0: no cap).
    #[serde(with = "lamina_interop::module::amount")]
    pub supply_cap: u128,
    /// Most the borrows may reach (0: no cap).
    #[serde(with = "lamina_interop::module::amount")]
    pub borrow_cap: u128,
}

impl MarketConfig {
    /// A market that lends up to `collateral_factor_bps` of a supply's value and liquidates
    /// below `liquidation_threshold_bps`, with a 5% bonus, a 10% reserve factor, the default
    /// rate model and no caps.
    pub fn new(collateral_factor_bps: u16, liquidation_threshold_bps: u16) -> MarketConfig {
        MarketConfig {
            collateral_factor_bps,
            liquidation_threshold_bps,
            liquidation_bonus_bps: 500,
            reserve_factor_bps: 1_000,
            rate: RateModel::default(),
            supply_cap: 0,
            borrow_cap: 0,
        }
    }
}

/// A market's books.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Market {
    /// Its asset.
    pub asset: u32,
    /// Its settings.
    pub config: MarketConfig,
    /// The asset held, not lent out.
    #[serde(with = "lamina_interop::module::amount")]
    pub cash: u128,
    /// Lent out, with interest.
    #[serde(with = "lamina_interop::module::amount")]
    pub borrows: u128,
    /// The protocol's share of interest.
    #[serde(with = "lamina_interop::module::amount")]
    pub reserves: u128,
    /// Suppliers' deposits less withdrawals, plus their share of interest.
    #[serde(with = "lamina_interop::module::amount")]
    pub supplied: u128,
    /// Debt written off, borne by the suppliers.
    #[serde(with = "lamina_interop::module::amount")]
    pub bad_debt: u128,
    /// Supply shares outstanding.
    #[serde(with = "lamina_interop::module::amount")]
    pub shares: u128,
    /// Growth of one unit of debt since the market opened (10^18 at the start).
    #[serde(with = "lamina_interop::module::amount")]
    pub borrow_index: u128,
    /// The block interest was last accrued in.
    pub last_height: Height,
}

impl Market {
    /// What the suppliers' shares are worth: `cash + borrows - reserves`.
    pub fn assets(&self) -> u128 {
        self.cash
            .saturating_add(self.borrows)
            .saturating_sub(self.reserves)
    }
}

/// An account's place in one market.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Position {
    /// The market's asset.
    pub asset: u32,
    /// Supply shares.
    #[serde(with = "lamina_interop::module::amount")]
    pub shares: u128,
    /// Debt as of `index`.
    #[serde(with = "lamina_interop::module::amount")]
    pub principal: u128,
    /// The market's borrow index when the debt was last recorded.
    #[serde(with = "lamina_interop::module::amount")]
    pub index: u128,
}

/// The rules.
pub const PARAMS: StateValue<Params> = StateValue::new(b"lending/params");
/// Markets, by asset.
pub const MARKETS: StateMap<u32, Market> = StateMap::new(b"lending/market/");
/// Accounts' positions.
pub const ACCOUNTS: StateMap<Address, Vec<Position>> = StateMap::new(b"lending/account/");

/// The account holding every market's cash.
pub fn lending_account() -> Address {
    module_account("lending")
}

/// The module: assets through ledger `L`, prices from `P`, over a fixed list of markets.
#[derive(Debug, Clone)]
pub struct Lending<L, P> {
    ledger: L,
    prices: P,
    markets: Arc<[u32]>,
}

impl<L: Ledger, P: PriceFeed> Lending<L, P> {
    /// The module over `ledger` and `prices`, with a market for each of `markets` (at most
    /// `MAX_MARKETS`). Genesis opens each with its settings; one it does not name stays
    /// closed, and genesis may name no other.
    pub fn new(ledger: L, prices: P, markets: &[u32]) -> Self {
        Lending {
            ledger,
            prices,
            markets: markets.iter().copied().take(MAX_MARKETS).collect(),
        }
    }

    /// The markets' assets.
    pub fn markets(&self) -> &[u32] {
        &self.markets
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum LendingError {
    /// No market for the asset.
    #[error("no market for asset {0}")]
    UnknownMarket(u32),
    /// A zero amount, or one too small to mint a share or move a unit.
    #[error("{0}")]
    ZeroAmount(&'static str),
    /// An asset has no price.
    #[error("asset {0} has no price")]
    NoPrice(u32),
    /// An asset's price is older than the limit.
    #[error("the price of asset {asset} is {age_blocks} blocks old, the limit is {limit}")]
    StalePrice {
        /// The asset.
        asset: u32,
        /// Its age.
        age_blocks: u64,
        /// The limit.
        limit: u64,
    },
    /// Over the market's supply or borrow cap.
    #[error("over the {which} cap of {cap}")]
    OverCap {
        /// `"supply"` or `"borrow"`.
        which: &'static str,
        /// The cap.
        cap: u128,
    },
    /// The market holds too little cash.
    #[error("the market holds {cash}, not {asked}")]
    InsufficientCash {
        /// Cash held.
        cash: u128,
        /// Asked.
        asked: u128,
    },
    /// The account's supply is smaller.
    #[error("supplied {held}, asked {asked}")]
    InsufficientSupply {
        /// What it could withdraw.
        held: u128,
        /// What it asked.
        asked: u128,
    },
    /// The action would leave the debt above the borrowing limit.
    #[error("debt worth {debt_value} would exceed the borrowing limit {limit}")]
    Undercollateralized {
        /// The debt's value.
        debt_value: u128,
        /// What the collateral allows.
        limit: u128,
    },
    /// The borrower's health is at least one.
    #[error("health factor {health_wad} (10^18 = 1) is not below one")]
    NotLiquidatable {
        /// Its health.
        health_wad: u128,
    },
    /// The borrower has no such debt, or no such collateral.
    #[error("the borrower has no {0} in that market")]
    NothingToLiquidate(&'static str),
    /// The collateral chosen cannot be seized without lowering the borrower's health: its
    /// threshold is above the health factor. Choose collateral with a lower threshold.
    #[error("the threshold of collateral {asset} is above the borrower's health")]
    ThresholdAboveHealth {
        /// The collateral chosen.
        asset: u32,
    },
    /// An account may not liquidate itself.
    #[error("an account cannot liquidate itself")]
    SelfLiquidation,
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

impl ModuleError for LendingError {
    fn code(&self) -> u32 {
        match self {
            LendingError::UnknownMarket(_) => 1,
            LendingError::ZeroAmount(_) => 2,
            LendingError::NoPrice(_) => 3,
            LendingError::StalePrice { .. } => 4,
            LendingError::OverCap { .. } => 5,
            LendingError::InsufficientCash { .. } => 6,
            LendingError::InsufficientSupply { .. } => 7,
            LendingError::Undercollateralized { .. } => 8,
            LendingError::NotLiquidatable { .. } => 9,
            LendingError::NothingToLiquidate(_) => 10,
            LendingError::SelfLiquidation => 11,
            LendingError::ThresholdAboveHealth { .. } => 15,
            LendingError::Math(_) => 12,
            LendingError::Ledger(_) => 13,
            LendingError::Genesis(_) => 14,
            LendingError::State(_) => 100,
        }
    }
}

impl<L: Ledger, P: PriceFeed> BadDebtRecord for Lending<L, P> {
    fn bad_debt(&self, state: &mut WorkingSet<'_>, asset: u32) -> Result<u128, StateError> {
        Ok(MARKETS.get(state, &asset)?.map_or(0, |m| m.bad_debt))
    }

    fn bad_debt_access(&self, access: AccessSet, asset: u32) -> AccessSet {
        access.read(MARKETS.key(&asset))
    }

    fn recorded_assets(&self) -> &[u32] {
        &self.markets
    }
}

impl<L: Ledger + Clone, P: PriceFeed + Clone> Module for Lending<L, P> {
    const NAME: &'static str = "lending";
    const MAX_CALL_LEN: usize = 128;

    type Call = LendingCall;
    type Event = LendingEvent;
    type Genesis = LendingGenesis;
    type Query = LendingQuery;
    type QueryResponse = LendingResponse;
    type Error = LendingError;

    fn init_genesis(
        &self,
        genesis: &LendingGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), LendingError> {
        genesis::init(self, genesis, ctx)
    }

    fn access(&self, call: &LendingCall, sender: &Address) -> AccessSet {
        call::access(self, call, sender)
    }

    fn call(&self, call: LendingCall, ctx: &mut Context<'_, '_, Self>) -> Result<(), LendingError> {
        call::execute(self, call, ctx)
    }

    fn weight(&self, call: &LendingCall) -> u64 {
        use crate::weights::table as t;
        // Measured with every market open (MAX_MARKETS): each call values the account
        // across all of them.
        match call {
            LendingCall::Supply { .. } => t::LENDING_SUPPLY.of(0),
            LendingCall::Withdraw { .. } => t::LENDING_WITHDRAW.of(0),
            LendingCall::Borrow { .. } => t::LENDING_BORROW.of(0),
            LendingCall::Repay { .. } => t::LENDING_REPAY.of(0),
            LendingCall::Liquidate { .. } => t::LENDING_LIQUIDATE.of(0),
        }
    }

    fn query(
        &self,
        query: LendingQuery,
        state: &dyn StateView,
    ) -> Result<LendingResponse, LendingError> {
        query::answer(self, query, state)
    }
}

#[cfg(test)]
mod tests;
