//! Names: accounts claim short names, transfer and release them.
//!
//! A module in Lamina's layout: the module and its state here, then one file for each thing
//! it answers: [`genesis`] (its chain-spec section), [`call`] (what transactions ask),
//! [`query`] (what clients ask), [`event`] (what it reports).
//!
//! A name is 3 to 32 characters of `a-z`, `0-9` and `-`, owned by one account at a time.

pub mod call;
pub mod event;
pub mod genesis;
pub mod query;

use lamina_interop::module::{
    AccessSet, Context, Module, ModuleError, StateError, StateMap, StateView,
};
use lamina_interop::Address;

pub use call::NamesCall;
pub use event::NamesEvent;
pub use genesis::NamesGenesis;
pub use query::{NamesQuery, NamesResponse};

// ANCHOR: state
/// Shortest name.
pub const MIN_LEN: usize = 3;
/// Longest name.
pub const MAX_LEN: usize = 32;

/// Owner of each name.
pub const OWNERS: StateMap<String, Address> = StateMap::new(b"names/owner/");

/// The module. It holds no configuration: everything it knows is in state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Names;
// ANCHOR_END: state

/// What can go wrong. Codes are stable: clients match on them.
#[derive(Debug, thiserror::Error)]
pub enum NamesError {
    /// The name breaks the naming rules.
    #[error("invalid name {name:?}: {why}")]
    Invalid {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        why: &'static str,
    },
    /// Someone owns the name already.
    #[error("name {0:?} is taken")]
    Taken(String),
    /// Nobody owns the name.
    #[error("name {0:?} is not claimed")]
    Unclaimed(String),
    /// The sender does not own the name.
    #[error("name {0:?} belongs to another account")]
    NotOwner(String),
    /// The genesis section is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ModuleError for NamesError {
    fn code(&self) -> u32 {
        match self {
            NamesError::Invalid { .. } => 1,
            NamesError::Taken(_) => 2,
            NamesError::Unclaimed(_) => 3,
            NamesError::NotOwner(_) => 4,
            NamesError::Genesis(_) => 5,
            NamesError::State(_) => 100,
        }
    }
}

/// Checks `name` against the naming rules.
pub fn validate(name: &str) -> Result<(), NamesError> {
    let invalid = |why| {
        Err(NamesError::Invalid {
            name: name.chars().take(MAX_LEN + 8).collect(),
            why,
        })
    };
    if name.len() < MIN_LEN {
        return invalid("shorter than 3 characters");
    }
    if name.len() > MAX_LEN {
        return invalid("longer than 32 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return invalid("only a-z, 0-9 and - are allowed");
    }
    Ok(())
}

impl Module for Names {
    const NAME: &'static str = "names";
    /// A call holds one name and at most an address: a few dozen bytes.
    const MAX_CALL_LEN: usize = 128;

    type Call = NamesCall;
    type Event = NamesEvent;
    type Genesis = NamesGenesis;
    type Query = NamesQuery;
    type QueryResponse = NamesResponse;
    type Error = NamesError;

    fn init_genesis(
        &self,
        genesis: &NamesGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), NamesError> {
        genesis::init(genesis, ctx)
    }

    fn access(&self, call: &NamesCall, _sender: &Address) -> AccessSet {
        call::access(call)
    }

    fn call(&self, call: NamesCall, ctx: &mut Context<'_, '_, Self>) -> Result<(), NamesError> {
        call::execute(call, ctx)
    }

    fn query(&self, query: NamesQuery, state: &dyn StateView) -> Result<NamesResponse, NamesError> {
        query::answer(query, state)
    }
}

#[cfg(test)]
mod tests;
