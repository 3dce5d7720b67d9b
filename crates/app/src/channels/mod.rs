//! `channels`: two-party payment channels. The parties deposit a bank asset, pay each other
//! off chain by signing states (`lamina_interop::channel`), and come back to the chain only
//! to close; a close on an old state is overturned by a newer one within a challenge period.
//!
//! ```text
//! open(nonce, keys, asset, deposit, challenge_blocks)   party 0 (the sender) deposits;
//!                                                       id = sha256(keys, nonce), never reused
//! top_up(channel, amount)                                either party, while open
//! close_cooperative(final state signed by both)          anyone: paid out at once
//! close(channel, state signed by both | none)            a party: the state (or the deposits
//!                                                       as they stand) registered; the
//!                                                       challenge period starts
//! challenge(state signed by both, higher version)        anyone (the other party, a
//!                                                       watchtower), until the deadline:
//!                                                       replaces the registered state; the
//!                                                       deadline stays
//! settle(channel)                                        anyone, after the deadline: paid
//!                                                       out on the registered state
//! ```
//!
//! **Payouts.** A state splits the deposits it knew of (`deposited`); a deposit made after
//! it was signed goes back to its depositor on top ([`ChannelState::payouts`]). Payouts add
//! up to the channel's deposits exactly, so the module's account holds, in each asset, the
//! deposits of every channel not yet settled (invariant 1).
//!
//! **Invariants.** (1) Conservation: what a channel pays out equals what was deposited into
//! it, once. (2) No party is paid more than its balance in the newest state both signed
//! (plus its later deposits), as long as the other party, or anyone holding that state, is
//! online during the challenge period: a registered state is replaced by any higher version
//! until the deadline, and the deadline never moves. (3) No replay: a state names its chain
//! and channel inside the signed bytes, signatures are checked against the channel's two
//! keys, and a settled channel's id can never be opened again. (4) Liveness: either party
//! can close without the other (on the deposits as they stand if it holds no signed state),
//! and anyone can settle after the deadline, so no funds stay locked.
//!
//! Hash-time-locked transfers for routed payments are not part of this module: they need a
//! lock set inside the state, an on-chain unlock with preimages before settlement, and a
//! router that picks paths and timeouts. That is a module of its own on top of this one.
//!
//! **Access.** `open`, `close` and `challenge` declare their keys (the channel's record, and
//! for `open` the two balances it moves). `top_up`, `close_cooperative` and `settle` move
//! balances of an asset and parties only the stored record names, so they declare the whole
//! state and run alone in their block: they are a channel's rare calls.
//!
//! State:
//!
//! ```text
//! channels/params          -> Params { min_challenge_blocks, max_challenge_blocks }
//! channels/channel/ | id   -> Channel { keys, parties, asset, deposits, challenge, phase }
//! ```

mod call;
pub mod client;
mod event;
mod genesis;
pub mod peer;
mod query;

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::channel::{ChannelState, StateRuleError};
use lamina_interop::crypto::PublicKey;
use lamina_interop::module::{
    module_account, AccessSet, Amount, Context, Ledger, LedgerError, Module, ModuleError,
    StateError, StateMap, StateValue, StateView,
};
use lamina_interop::{Address, Hash, Height};
use serde::{Deserialize, Serialize};

pub use call::ChannelsCall;
pub use event::ChannelsEvent;
pub use genesis::ChannelsGenesis;
pub use query::{ChannelView, ChannelsQuery, ChannelsResponse};

/// The module's name.
pub const NAME: &str = "channels";

/// The rules.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The shortest challenge period a channel may have, in blocks.
    pub min_challenge_blocks: u64,
    /// The longest.
    pub max_challenge_blocks: u64,
}

/// Where a channel stands.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Open: deposits may be added; either party may close.
    Open,
    /// Closing on `state` unless a newer one arrives by `deadline`.
    Closing {
        /// The registered state.
        state: ChannelState,
        /// The last block in which a newer state replaces it.
        deadline: Height,
        /// Who closed.
        closer: Address,
    },
    /// Paid out, once; the id is never opened again.
    Settled {
        /// The version paid out on.
        version: u64,
        /// What each party was paid.
        payouts: [Amount; 2],
    },
}

/// A channel, as stored.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Channel {
    /// The parties' keys: party 0 opened.
    pub keys: [PublicKey; 2],
    /// Their addresses, where payouts go.
    pub parties: [Address; 2],
    /// The bank asset deposited.
    pub asset: u32,
    /// What each party has deposited.
    pub deposits: [Amount; 2],
    /// The challenge period, in blocks.
    pub challenge_blocks: u64,
    /// Where it stands.
    pub phase: Phase,
}

impl Channel {
    /// The deposits as plain numbers.
    pub fn deposit_amounts(&self) -> [u128; 2] {
        self.deposits.map(|a| a.0)
    }

    /// Which party `who` is.
    pub fn party(&self, who: &Address) -> Option<usize> {
        self.parties.iter().position(|p| p == who)
    }
}

/// The rules.
pub const PARAMS: StateValue<Params> = StateValue::new(b"channels/params");
/// Channels by id.
pub const CHANNELS: StateMap<Hash, Channel> = StateMap::new(b"channels/channel/");

/// The account that holds every open channel's deposits.
pub fn escrow_account() -> Address {
    module_account(NAME)
}

/// The module over ledger `L`.
#[derive(Debug, Clone)]
pub struct Channels<L> {
    ledger: L,
}

impl<L: Ledger> Channels<L> {
    /// The module, with deposits through `ledger`.
    pub fn new(ledger: L) -> Self {
        Channels { ledger }
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum ChannelsError {
    /// No channel with this id.
    #[error("no channel {0}")]
    UnknownChannel(Hash),
    /// The id is taken: a channel with these keys and nonce exists or existed.
    #[error("channel {0} exists or existed: pick another nonce")]
    ChannelExists(Hash),
    /// The opener must sign with the channel's first key, and the keys must differ.
    #[error("the sender must hold the first key, and the two keys must differ")]
    BadKeys,
    /// Only a party may do this.
    #[error("{0} is not a party of the channel")]
    NotParty(Address),
    /// A state signed for another chain.
    #[error("the state is for chain {got}, this is chain {expected}")]
    WrongChain {
        /// This chain.
        expected: u64,
        /// The state's.
        got: u64,
    },
    /// A state of another channel.
    #[error("the state is for channel {got}, not {expected}")]
    WrongChannel {
        /// The channel named.
        expected: Hash,
        /// The state's.
        got: Hash,
    },
    /// A state no newer than the registered one.
    #[error("version {got} is not above the registered version {registered}")]
    StaleVersion {
        /// The registered version.
        registered: u64,
        /// The state's.
        got: u64,
    },
    /// A state that breaks the rules: signatures, balances or deposits.
    #[error(transparent)]
    BadState(#[from] StateRuleError),
    /// A cooperative close needs a state both marked final.
    #[error("a cooperative close needs a final state")]
    NotFinal,
    /// The channel is not in the phase the call needs.
    #[error("the channel is {0}")]
    WrongPhase(&'static str),
    /// The challenge period is over: the registered state stands.
    #[error("the challenge period ended at block {0}")]
    ChallengeOver(u64),
    /// The challenge period is running.
    #[error("the challenge period runs until block {0}")]
    ChallengeRunning(u64),
    /// A challenge period outside the rules.
    #[error("a challenge period is {min} to {max} blocks")]
    BadChallengePeriod {
        /// The shortest.
        min: u64,
        /// The longest.
        max: u64,
    },
    /// A zero amount, or one that overflows a deposit.
    #[error("bad amount")]
    BadAmount,
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

impl ModuleError for ChannelsError {
    fn code(&self) -> u32 {
        use ChannelsError::*;
        match self {
            UnknownChannel(_) => 1,
            ChannelExists(_) => 2,
            BadKeys => 3,
            NotParty(_) => 4,
            WrongChain { .. } => 5,
            WrongChannel { .. } => 6,
            StaleVersion { .. } => 7,
            BadState(_) => 8,
            NotFinal => 9,
            WrongPhase(_) => 10,
            ChallengeOver(_) => 11,
            ChallengeRunning(_) => 12,
            BadChallengePeriod { .. } => 13,
            BadAmount => 14,
            Ledger(_) => 15,
            Genesis(_) => 16,
            State(_) => 100,
        }
    }
}

impl<L: Ledger + Clone> Module for Channels<L> {
    const NAME: &'static str = NAME;
    const MAX_CALL_LEN: usize = 512;

    type Call = ChannelsCall;
    type Event = ChannelsEvent;
    type Genesis = ChannelsGenesis;
    type Query = ChannelsQuery;
    type QueryResponse = ChannelsResponse;
    type Error = ChannelsError;

    fn init_genesis(
        &self,
        genesis: &ChannelsGenesis,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), ChannelsError> {
        genesis::init(genesis, ctx)
    }

    fn access(&self, call: &ChannelsCall, sender: &Address) -> AccessSet {
        call::access(&self.ledger, call, sender)
    }

    fn call(
        &self,
        call: ChannelsCall,
        ctx: &mut Context<'_, '_, Self>,
    ) -> Result<(), ChannelsError> {
        call::execute(&self.ledger, call, ctx)
    }

    fn weight(&self, call: &ChannelsCall) -> u64 {
        call::weight(call)
    }

    fn query(
        &self,
        query: ChannelsQuery,
        state: &dyn StateView,
    ) -> Result<ChannelsResponse, ChannelsError> {
        query::answer(query, state)
    }
}

#[cfg(test)]
mod tests;
