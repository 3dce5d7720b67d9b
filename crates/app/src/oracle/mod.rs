//! `oracle`: price feeds per asset, reported by a set of feeders, aggregated once per block as
//! the median of fresh reports, with a limit on how far a price moves in one block.
//!
//! ```text
//! Report{prices: [(asset, value)]}   a feeder's latest price of each asset it reports
//!        |                            (oracle/report/(asset, feeder) -> {value, height})
//!        v
//! end of block, per asset with a report in this block:
//!        fresh = reports no older than max_report_age_blocks
//!        fewer than min_reports fresh: no new price (the old one ages)
//!        median of fresh (the mean of the middle two, rounded down, for an even count)
//!        clamped to previous * (1 -/+ max_move_bps)       --> oracle/price/asset
//! ```
//!
//! A price is a fixed-point number with 18 decimals (see [`PRICE_SCALE`]): quote units per
//! `PRICE_SCALE` units of the asset, both in their smallest units. It carries the height and
//! time of the block that set it; consumers (lending) refuse a price older than their own
//! limit, so a feed that stops is noticed rather than trusted.
//!
//! **Why a median and a move limit.** A median of `n` reports cannot be moved outside the
//! honest range by fewer than half the feeders; the per-block move limit bounds what even a
//! colluding majority (or a compromised source) can do in one block, giving liquidators and
//! governance time (the Mango Markets lesson: never take one spot source at face value).
//! Assets marked `fixed` in genesis (the quote asset itself, at 1) never change.
//!
//! Other modules read prices through the [`PriceFeed`] seam (in `interop`), declaring the
//! keys they read with [`PriceFeed::price_access`]; they never read the oracle's keys
//! themselves. [`Oracle`] is that seam's implementation.
//!
//! Feeders are a list in genesis (for a proof-of-stake chain, the operators of the validator
//! set). Reports from an account not in the list are refused.
//!
//! State:
//!
//! ```text
//! oracle/params                     -> Params
//! oracle/feeders                    -> [Address]                  (at most MAX_FEEDERS)
//! oracle/feeds                      -> [Feed { asset, fixed }]    (at most MAX_FEEDS)
//! oracle/report/ | (asset, feeder)  -> Report { value, height }
//! oracle/price/ | asset             -> Price { value, height, timestamp }
//! ```

mod call;
mod event;
mod genesis;
mod query;

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::module::{
    AccessSet, Context, Module, ModuleError, Price, PriceFeed, StateError, StateMap, StateValue,
    StateView, WorkingSet, PRICE_SCALE,
};
use lamina_interop::{Address, Height};
use serde::{Deserialize, Serialize};

pub use call::OracleCall;
pub use event::OracleEvent;
pub use genesis::{FeedGenesis, OracleGenesis};
pub use query::{OracleQuery, OracleResponse};

/// Most feeders.
pub const MAX_FEEDERS: usize = 32;
/// Most assets with a feed.
pub const MAX_FEEDS: usize = 32;

/// The rules of aggregation.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// A report older than this many blocks no longer counts.
    pub max_report_age_blocks: u64,
    /// Fewest fresh reports that make a price.
    pub min_reports: u32,
    /// Most a price moves in one block, in basis points of the previous price (0: no limit).
    pub max_move_bps: u32,
}

/// An asset with a feed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Feed {
    /// The asset.
    pub asset: u32,
    /// Whether its price is fixed at genesis (the quote asset).
    pub fixed: bool,
}

/// A feeder's latest report of one asset.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Report {
    /// The price reported.
    #[serde(with = "lamina_interop::module::amount")]
    pub value: u128,
    /// When.
    pub height: Height,
}

/// The rules.
pub const PARAMS: StateValue<Params> = StateValue::new(b"oracle/params");
/// The feeders.
pub const FEEDERS: StateValue<Vec<Address>> = StateValue::new(b"oracle/feeders");
/// The assets with a feed.
pub const FEEDS: StateValue<Vec<Feed>> = StateValue::new(b"oracle/feeds");
/// Each feeder's latest report per asset.
pub const REPORTS: StateMap<(u32, Address), Report> = StateMap::new(b"oracle/report/");
/// The current price per asset.
pub const PRICES: StateMap<u32, Price> = StateMap::new(b"oracle/price/");

/// The module, and the [`PriceFeed`] other modules read through.
#[derive(Debug, Clone, Copy, Default)]
pub struct Oracle;

impl PriceFeed for Oracle {
    fn price(&self, state: &mut WorkingSet<'_>, asset: u32) -> Result<Option<Price>, StateError> {
        PRICES.get(state, &asset)
    }

    fn committed_price(
        &self,
        state: &dyn StateView,
        asset: u32,
    ) -> Result<Option<Price>, StateError> {
        PRICES.get_committed(state, &asset)
    }

    fn price_access(&self, access: AccessSet, asset: u32) -> AccessSet {
        access.read(PRICES.key(&asset))
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// The sender is not a feeder.
    #[error("{0} is not a feeder")]
    NotFeeder(Address),
    /// The asset has no feed.
    #[error("asset {0} has no price feed")]
    UnknownAsset(u32),
    /// The asset's price is fixed.
    #[error("asset {0} has a fixed price")]
    FixedPrice(u32),
    /// A price of zero.
    #[error("a price must be above zero")]
    ZeroPrice,
    /// A report names no asset, or more than there are feeds, or one asset twice.
    #[error("a report names 1 to {MAX_FEEDS} distinct assets")]
    BadReport,
    /// The genesis section is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ModuleError for OracleError {
    fn code(&self) -> u32 {
        match self {
            OracleError::NotFeeder(_) => 1,
            OracleError::UnknownAsset(_) => 2,
            OracleError::FixedPrice(_) => 3,
            OracleError::ZeroPrice => 4,
            OracleError::BadReport => 5,
            OracleError::Genesis(_) => 6,
            OracleError::State(_) => 100,
        }
    }
}

/// The median of `values` (sorted here): the middle one, or the mean of the middle two
/// rounded down. `None` when empty.
pub fn median(values: &mut [u128]) -> Option<u128> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        // The mean without overflow: a/2 + b/2 + (both odd).
        _ => {
            let (a, b) = (values[n / 2 - 1], values[n / 2]);
            Some(a / 2 + b / 2 + (a % 2 + b % 2) / 2)
        }
    }
}

/// `value` kept within `max_move_bps` of `previous` (no limit at 0).
pub fn clamp_move(previous: u128, value: u128, max_move_bps: u32) -> u128 {
    if max_move_bps == 0 {
        return value;
    }
    let bps = u128::from(max_move_bps);
    let step = crate::math::mul_div(previous, bps, crate::math::BPS).unwrap_or(u128::MAX);
    let low = previous.saturating_sub(step).max(1);
    let high = previous.saturating_add(step);
    value.clamp(low, high)
}

impl Module for Oracle {
    const NAME: &'static str = "oracle";
    const MAX_CALL_LEN: usize = 8 + MAX_FEEDS * 20;

    type Call = OracleCall;
    type Event = OracleEvent;
    type Genesis = OracleGenesis;
    type Query = OracleQuery;
    type QueryResponse = OracleResponse;
    type Error = OracleError;

    fn init_genesis(
        &self,
        genesis: &OracleGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), OracleError> {
        genesis::init(genesis, ctx)
    }

    fn access(&self, call: &OracleCall, sender: &Address) -> AccessSet {
        call::access(call, sender)
    }

    fn call(&self, call: OracleCall, ctx: &mut Context<'_, '_, Self>) -> Result<(), OracleError> {
        call::execute(call, ctx)
    }

    fn weight(&self, call: &OracleCall) -> u64 {
        match call {
            OracleCall::Report { prices } => crate::weights::table::ORACLE_REPORT.of(prices.len()),
        }
    }

    fn query(
        &self,
        query: OracleQuery,
        state: &dyn StateView,
    ) -> Result<OracleResponse, OracleError> {
        query::answer(query, state)
    }

    /// Aggregates each asset that was reported in this block.
    fn end_block(&self, ctx: &mut Context<'_, '_, Self>) -> Result<(), OracleError> {
        let Some(params) = PARAMS.get(ctx.state())? else {
            return Ok(());
        };
        let feeds = FEEDS.get(ctx.state())?.unwrap_or_default();
        if feeds.is_empty() {
            return Ok(());
        }
        let feeders = FEEDERS.get(ctx.state())?.unwrap_or_default();
        let env = *ctx.env();
        for feed in feeds.iter().filter(|f| !f.fixed) {
            let mut fresh = Vec::with_capacity(feeders.len());
            let mut reported_now = false;
            for feeder in &feeders {
                if let Some(report) = REPORTS.get(ctx.state(), &(feed.asset, *feeder))? {
                    reported_now |= report.height == env.height;
                    if report.height.0.saturating_add(params.max_report_age_blocks) >= env.height.0
                    {
                        fresh.push(report.value);
                    }
                }
            }
            if !reported_now || fresh.len() < params.min_reports as usize {
                continue;
            }
            let Some(median) = median(&mut fresh) else {
                continue;
            };
            let previous = PRICES.get(ctx.state(), &feed.asset)?;
            let value = match previous {
                Some(previous) => clamp_move(previous.value, median, params.max_move_bps),
                None => median,
            };
            let price = Price {
                value,
                height: env.height,
                timestamp: env.timestamp,
                fixed: false,
            };
            PRICES.set(ctx.state(), &feed.asset, &price)?;
            ctx.emit(&OracleEvent::PriceSet {
                asset: feed.asset,
                value,
                median,
                reports: fresh.len() as u32,
            })?;
        }
        Ok(())
    }
}

/// The price `PRICE_SCALE`: one unit of quote per unit of asset.
pub const ONE: u128 = PRICE_SCALE;

#[cfg(test)]
mod tests;
