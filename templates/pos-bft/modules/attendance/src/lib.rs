//! Attendance: how many blocks each validator proposed, and the monikers validators give
//! themselves.
//!
//! An end-block hook counts the block for its proposer, so the count is part of the state
//! every validator agrees on: a basis for uptime rules, leaderboards or reward policies.
//!
//! Lamina's module layout: the module here, then [`genesis`], [`call`], [`query`], [`event`].

pub mod call;
pub mod event;
pub mod genesis;
pub mod query;

use lamina_interop::module::{
    AccessSet, Context, Module, ModuleError, StateError, StateMap, StateView,
};
use lamina_interop::Address;

pub use call::AttendanceCall;
pub use event::AttendanceEvent;
pub use genesis::AttendanceGenesis;
pub use query::{AttendanceQuery, AttendanceResponse, Record};

/// Longest moniker, in bytes.
pub const MAX_MONIKER: usize = 32;

/// Blocks proposed, by proposer.
pub const PROPOSED: StateMap<Address, u64> = StateMap::new(b"attendance/proposed/");
/// Monikers, by account.
pub const MONIKERS: StateMap<Address, String> = StateMap::new(b"attendance/moniker/");

/// The module.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attendance;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum AttendanceError {
    /// The moniker is empty, too long, or not printable.
    #[error("invalid moniker: {0}")]
    InvalidMoniker(&'static str),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ModuleError for AttendanceError {
    fn code(&self) -> u32 {
        match self {
            AttendanceError::InvalidMoniker(_) => 1,
            AttendanceError::State(_) => 100,
        }
    }
}

impl Module for Attendance {
    const NAME: &'static str = "attendance";
    const MAX_CALL_LEN: usize = 64;

    type Call = AttendanceCall;
    type Event = AttendanceEvent;
    type Genesis = AttendanceGenesis;
    type Query = AttendanceQuery;
    type QueryResponse = AttendanceResponse;
    type Error = AttendanceError;

    fn init_genesis(
        &self,
        genesis: &AttendanceGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), AttendanceError> {
        genesis::init(genesis, ctx)
    }

    fn access(&self, _call: &AttendanceCall, sender: &Address) -> AccessSet {
        AccessSet::new().write(MONIKERS.key(sender))
    }

    fn call(
        &self,
        call: AttendanceCall,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), AttendanceError> {
        call::execute(call, ctx)
    }

    fn query(
        &self,
        query: AttendanceQuery,
        state: &dyn StateView,
    ) -> Result<AttendanceResponse, AttendanceError> {
        query::answer(query, state)
    }

    /// Counts the block for its proposer.
    fn end_block(&self, ctx: &mut Context<'_, '_, Self>) -> Result<(), AttendanceError> {
        let proposer = ctx.env().proposer;
        let count = PROPOSED.get(ctx.state(), &proposer)?.unwrap_or(0);
        PROPOSED.set(ctx.state(), &proposer, &count.saturating_add(1))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
