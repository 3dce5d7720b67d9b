//! The module API: the contract for on-chain logic that agreement, incentive and app modules
//! all implement.
//!
//! A module owns a slice of state and answers five things:
//!
//! | what | where | when |
//! |---|---|---|
//! | genesis | [`Module::init_genesis`] | once, from its section of the chain spec |
//! | calls | [`Module::call`] | per transaction addressed to it |
//! | access set | [`Module::access`] | before a call runs, to schedule it in parallel |
//! | hooks | [`Module::begin_block`], [`Module::end_block`] | around each block's transactions |
//! | queries | [`Module::query`] | from RPC, on committed state |
//!
//! Calls, events and genesis are typed per module. A call reaches its module as bytes
//! (decoded by [`Module::decode_call`] under [`Module::MAX_CALL_LEN`]); events leave it as
//! bytes in receipts, tagged with the module's index in the runtime.
//!
//! State access goes through a [`Context`], which wraps the [`WorkingSet`] of the call. The
//! runtime takes a checkpoint before each call and reverts to it when the call fails, so a
//! failed call leaves no state change and no event, but its gas is charged. Within a call,
//! a module may take its own checkpoints to try something and back out.
//!
//! The typed helpers [`StateMap`] and [`StateValue`] give modules typed keys and values
//! under a prefix of their own.

mod access;
pub mod amount;
mod delegation;
mod fees;
mod gas;
mod ledger;
mod prices;
mod state;
mod typed;

use std::marker::PhantomData;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use access::AccessSet;
pub use amount::Amount;
pub use delegation::Delegation;
pub use fees::{reward_pool, FeeRule, FeeSplit, FeeTotals, TipsToProducer};
pub use gas::{GasMeter, GasSchedule};
pub use ledger::{module_account, Ledger, LedgerError};
pub use prices::{BadDebtRecord, NoBadDebt, Price, PriceFeed, PRICE_SCALE};
pub use state::{
    Checkpoint, Effects, EmptyState, StateError, StateView, WorkingSet, MAX_KEY_LEN, MAX_VALUE_LEN,
};
pub use typed::{StateMap, StateValue};

use crate::codec::{self, DecodeError};
use crate::types::{Address, ChainId, Height, Timestamp};

/// A module's error. `code` is what receipts and clients see; the text is the reason.
pub trait ModuleError: std::error::Error + From<StateError> + Send + Sync + 'static {
    /// A stable number for this error, unique within the module.
    fn code(&self) -> u32;
}

/// The block a call runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Env {
    /// The chain.
    pub chain_id: ChainId,
    /// The block's height.
    pub height: Height,
    /// The block's timestamp.
    pub timestamp: Timestamp,
    /// The block's proposer.
    pub proposer: Address,
}

// ANCHOR: module_trait
/// On-chain logic with typed calls, events, genesis and queries.
pub trait Module: Send + Sync + 'static {
    /// The module's name, unique in a runtime: `"bank"`, `"staking"`.
    const NAME: &'static str;
    /// Largest encoded call, in bytes; longer call bytes are refused before decoding.
    const MAX_CALL_LEN: usize = 16 * 1024;

    /// What a transaction can ask of the module: borsh on the wire, JSON for people (the
    /// CLI's `tx call` and clients in other languages write calls as JSON).
    type Call: BorshSerialize
        + BorshDeserialize
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug
        + Send;
    /// What the module reports happened: borsh in receipts, JSON for people (the node decodes
    /// receipts' events with it; amounts as decimal strings, as in calls and queries).
    type Event: BorshSerialize + BorshDeserialize + Serialize + std::fmt::Debug + Clone + Send;
    /// The module's section of the chain spec.
    type Genesis: Serialize + DeserializeOwned + Default + Clone + Send;
    /// What clients can ask about the module's state.
    type Query: Serialize + DeserializeOwned + Send;
    /// The answers.
    type QueryResponse: Serialize + DeserializeOwned + Send;
    /// The module's error.
    type Error: ModuleError;

    /// Writes the initial state from the chain spec.
    fn init_genesis(
        &self,
        genesis: &Self::Genesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), Self::Error>;

    /// The keys `call` from `sender` may read and write. Must cover everything
    /// [`Module::call`] touches: the working set refuses anything else.
    fn access(&self, call: &Self::Call, sender: &Address) -> AccessSet;

    /// Runs `call`. An error reverts the call's state changes and events.
    fn call(&self, call: Self::Call, ctx: &mut Context<'_, '_, Self>) -> Result<(), Self::Error>;

    /// Gas charged before `call` runs, for the work it does besides reading and writing
    /// state (which the gas schedule meters as it happens): arithmetic, loops, decoding.
    /// Taken from a table measured by a benchmark, so that a call's gas follows its
    /// execution time (the book's "Gas from measured cost"). Zero by default.
    fn weight(&self, _call: &Self::Call) -> u64 {
        0
    }

    /// Answers `query` from committed state.
    fn query(
        &self,
        query: Self::Query,
        state: &dyn StateView,
    ) -> Result<Self::QueryResponse, Self::Error>;

    /// Runs before the block's transactions. An error fails the block.
    fn begin_block(&self, _ctx: &mut Context<'_, '_, Self>) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Runs after the block's transactions. An error fails the block.
    fn end_block(&self, _ctx: &mut Context<'_, '_, Self>) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Decodes untrusted call bytes under [`Module::MAX_CALL_LEN`].
    fn decode_call(bytes: &[u8]) -> Result<Self::Call, DecodeError> {
        codec::decode_limited(bytes, Self::NAME, Self::MAX_CALL_LEN)
    }
}
// ANCHOR_END: module_trait

/// The validators consensus runs with from the next block on, announced by a module's
/// end-block hook (in proof of stake, the staking module at each epoch boundary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
    /// The epoch the set runs, counted from 0 at genesis.
    pub epoch: u64,
    /// Its members.
    pub validators: Vec<Validator>,
}

/// One member of a validator set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Validator {
    /// The consensus key.
    pub key: crate::crypto::PublicKey,
    /// Voting power.
    pub power: u64,
}

/// What a module sees while it runs: the block, the caller, and its working set. Typed by the
/// module, so a module can only emit its own events.
pub struct Context<'c, 's, M: Module + ?Sized> {
    env: &'c Env,
    sender: Option<Address>,
    module: u16,
    state: &'c mut WorkingSet<'s>,
    _module: PhantomData<fn(&M)>,
}

impl<'c, 's, M: Module + ?Sized> Context<'c, 's, M> {
    /// A context for module number `module` of the runtime. `sender` is the transaction's
    /// signer, or `None` for genesis and block hooks.
    pub fn new(
        env: &'c Env,
        sender: Option<Address>,
        module: u16,
        state: &'c mut WorkingSet<'s>,
    ) -> Self {
        Context {
            env,
            sender,
            module,
            state,
            _module: PhantomData,
        }
    }

    /// The block.
    pub fn env(&self) -> &Env {
        self.env
    }

    /// The transaction's signer; `None` in genesis and block hooks.
    pub fn sender(&self) -> Option<Address> {
        self.sender
    }

    /// The working set.
    pub fn state(&mut self) -> &mut WorkingSet<'s> {
        self.state
    }

    /// Emits an event of this module.
    pub fn emit(&mut self, event: &M::Event) -> Result<(), StateError> {
        self.state.emit(self.module, codec::encode(event))
    }

    /// Announces the validator set consensus runs from the next block on; see
    /// [`WorkingSet::announce_validators`].
    pub fn announce_validators(&mut self, set: ValidatorSet) {
        self.state.announce_validators(set)
    }
}

#[cfg(test)]
mod tests;
