//! {{module_name}}: a module of this chain. The skeleton keeps one number per account; make it
//! yours.
//!
//! Lamina's module layout: the module and its state here, then [`genesis`] (its chain-spec
//! section), [`call`] (what transactions ask), [`query`] (what clients ask) and [`event`]
//! (what it reports).

pub mod call;
pub mod event;
pub mod genesis;
pub mod query;

use lamina_interop::module::{
    AccessSet, Context, Module, ModuleError, StateError, StateMap, StateView,
};
use lamina_interop::Address;

pub use call::{{ModuleName}}Call;
pub use event::{{ModuleName}}Event;
pub use genesis::{{ModuleName}}Genesis;
pub use query::{{{ModuleName}}Query, {{ModuleName}}Response};

/// Each account's number.
pub const VALUES: StateMap<Address, u64> = StateMap::new(b"{{module_name}}/value/");

/// The module.
#[derive(Debug, Clone, Copy, Default)]
pub struct {{ModuleName}};

/// What can go wrong. Codes are stable: clients match on them.
#[derive(Debug, thiserror::Error)]
pub enum {{ModuleName}}Error {
    /// Adding would pass `u64::MAX`.
    #[error("the value would overflow")]
    Overflow,
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ModuleError for {{ModuleName}}Error {
    fn code(&self) -> u32 {
        match self {
            {{ModuleName}}Error::Overflow => 1,
            {{ModuleName}}Error::State(_) => 100,
        }
    }
}

impl Module for {{ModuleName}} {
    const NAME: &'static str = "{{module_name}}";
    const MAX_CALL_LEN: usize = 64;

    type Call = {{ModuleName}}Call;
    type Event = {{ModuleName}}Event;
    type Genesis = {{ModuleName}}Genesis;
    type Query = {{ModuleName}}Query;
    type QueryResponse = {{ModuleName}}Response;
    type Error = {{ModuleName}}Error;

    fn init_genesis(
        &self,
        genesis: &{{ModuleName}}Genesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), {{ModuleName}}Error> {
        genesis::init(genesis, ctx)
    }

    fn access(&self, _call: &{{ModuleName}}Call, sender: &Address) -> AccessSet {
        call::access(sender)
    }

    fn call(
        &self,
        call: {{ModuleName}}Call,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), {{ModuleName}}Error> {
        call::execute(call, ctx)
    }

    fn query(
        &self,
        query: {{ModuleName}}Query,
        state: &dyn StateView,
    ) -> Result<{{ModuleName}}Response, {{ModuleName}}Error> {
        query::answer(query, state)
    }
}

#[cfg(test)]
mod tests;
