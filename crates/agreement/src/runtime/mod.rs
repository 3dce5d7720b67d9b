//! The runtime: the chain's modules composed in a fixed order, and what happens to each
//! transaction around its module's call.
//!
//! A runtime is built with a typed builder (see `docs/adr/0009-runtime-composition.md`):
//!
//! ```
//! # use lamina_agreement::runtime::{Runtime, RuntimeConfig};
//! # use lamina_interop::ChainId;
//! let runtime = Runtime::builder(RuntimeConfig::new(ChainId(7)))
//!     // .module(MyModule::default())   // index 2, 3, ...
//!     .build()
//!     .unwrap();
//! assert_eq!(runtime.module_index("bank"), Some(1));
//! ```
//!
//! `accounts` is always module 0 and `bank` module 1; modules added with
//! [`RuntimeBuilder::module`] follow, in order. A transaction names its module by index.
//!
//! One transaction, in order:
//!
//! ```text
//! checks      chain id, nonce == account's next nonce, gas_limit >= base gas,
//!             native balance >= max_fee          (failing: no effect, no fee)
//! prologue    charge base gas; nonce += 1; take max_fee        (unmetered bookkeeping)
//! call        checkpoint; module.call(...)       (failing: revert to the checkpoint)
//! epilogue    fee = gas_used * gas_price + tip (at most max_fee); refund max_fee - fee
//! ```
//!
//! The fee's two parts are summed over the block and paid out once at its end by the
//! [`FeeRule`], so no transaction writes the producer's balance and transfers between
//! distinct accounts stay independent (and run in parallel).

mod erased;
pub use std::collections::BTreeMap;

use lamina_interop::block::{EventRecord, Outcome, Receipt, StateChange, StateDelta};
use lamina_interop::codec::{BoundedString, BoundedVec};
use lamina_interop::module::{
    reward_pool, AccessSet, EmptyState, Env, GasMeter, GasSchedule, Module, StateError, StateView,
    ValidatorSet, WorkingSet,
};
use lamina_interop::ChainId;

pub use erased::CallFailure;
use erased::ErasedModule;
pub use lamina_interop::module::{FeeRule, FeeSplit, FeeTotals, TipsToProducer};

use crate::modules::accounts::{self, Accounts};
use crate::modules::bank::{self, Bank, NATIVE};
use crate::tx::VerifiedTx;

/// The module index in receipts of transactions refused before their call ran.
pub const RUNTIME_MODULE: u16 = u16::MAX;

/// Error codes of [`RUNTIME_MODULE`] receipts.
pub mod codes {
    /// Signed for another chain.
    pub const WRONG_CHAIN: u32 = 1;
    /// The nonce is not the account's next one.
    pub const BAD_NONCE: u32 = 2;
    /// The gas limit does not cover the base gas.
    pub const GAS_LIMIT_TOO_LOW: u32 = 3;
    /// The native balance cannot pay the maximum fee.
    pub const CANNOT_PAY: u32 = 4;
    /// No module has the index (the fee is charged).
    pub const UNKNOWN_MODULE: u32 = 5;
    /// The call bytes do not decode (the fee is charged).
    pub const MALFORMED_CALL: u32 = 6;
}

/// Prices and limits of a runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// The chain.
    pub chain_id: ChainId,
    /// Native units per unit of gas.
    pub gas_price: u128,
    /// Gas every transaction pays before its call: signature, nonce and fee bookkeeping.
    pub tx_base_gas: u64,
    /// Gas per byte of the transaction's encoding.
    pub tx_byte_gas: u64,
    /// Prices of state access.
    pub schedule: GasSchedule,
}

impl RuntimeConfig {
    /// The default prices for `chain_id`.
    pub fn new(chain_id: ChainId) -> RuntimeConfig {
        RuntimeConfig {
            chain_id,
            gas_price: 1,
            tx_base_gas: 5_000,
            tx_byte_gas: 10,
            schedule: GasSchedule::default(),
        }
    }
}

/// Why a runtime could not be built or could not run a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// Two modules with one name.
    #[error("module {0} added twice")]
    DuplicateModule(&'static str),
    /// More modules than indices.
    #[error("too many modules")]
    TooManyModules,
    /// A genesis section names no module of the runtime.
    #[error("genesis names unknown module {0}")]
    UnknownGenesisSection(String),
    /// A module's genesis failed.
    #[error("{0}")]
    Genesis(String),
    /// A block hook failed; the block cannot be executed.
    #[error("{module}: block hook failed: {}", failure.reason.as_str())]
    Hook {
        /// The module.
        module: &'static str,
        /// Its error.
        failure: CallFailure,
    },
    /// The fee rule's split does not add up to what was collected.
    #[error("fee rule split {split:?} does not add up to {totals:?}")]
    FeeRule {
        /// What was collected.
        totals: FeeTotals,
        /// What the rule returned.
        split: FeeSplit,
    },
    /// Paying out fees failed.
    #[error("fee payout: {0}")]
    FeePayout(String),
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// A query failed.
    #[error("query: {0}")]
    Query(String),
    /// A call given as JSON names no module or does not fit its module's call type.
    #[error("call: {0}")]
    Call(String),
}

/// Composes a runtime; see the module docs.
pub struct RuntimeBuilder {
    config: RuntimeConfig,
    modules: Vec<Box<dyn ErasedModule>>,
    fee_rule: Box<dyn FeeRule>,
}

impl RuntimeBuilder {
    /// Adds `module` at the next index.
    pub fn module<M: Module>(mut self, module: M) -> RuntimeBuilder {
        self.modules.push(Box::new(module));
        self
    }

    /// Replaces the fee rule (default [`TipsToProducer`]).
    pub fn fee_rule(mut self, rule: impl FeeRule) -> RuntimeBuilder {
        self.fee_rule = Box::new(rule);
        self
    }

    /// The runtime, or why the composition is invalid.
    pub fn build(self) -> Result<Runtime, RuntimeError> {
        if self.modules.len() >= RUNTIME_MODULE as usize {
            return Err(RuntimeError::TooManyModules);
        }
        for (i, module) in self.modules.iter().enumerate() {
            if self.modules[..i].iter().any(|m| m.name() == module.name()) {
                return Err(RuntimeError::DuplicateModule(module.name()));
            }
        }
        Ok(Runtime {
            config: self.config,
            modules: self.modules,
            fee_rule: self.fee_rule,
        })
    }
}

/// The chain's modules in order, with the rules around each transaction.
pub struct Runtime {
    config: RuntimeConfig,
    modules: Vec<Box<dyn ErasedModule>>,
    fee_rule: Box<dyn FeeRule>,
}

/// A transaction ready to run: its call decoded and its access set known.
pub(crate) struct PreparedTx {
    call: Result<Box<dyn std::any::Any + Send>, CallFailure>,
    /// Every key the transaction may touch, the runtime's bookkeeping included.
    pub(crate) access: AccessSet,
}

/// What one transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxEffects {
    pub(crate) changes: Vec<StateChange>,
    pub(crate) receipt: Receipt,
    pub(crate) fees: FeeTotals,
}

fn failure(code: u32, reason: String) -> CallFailure {
    CallFailure {
        code,
        reason: BoundedString::truncate_from(reason),
    }
}

impl Runtime {
    /// Starts a runtime with `accounts` and `bank`.
    pub fn builder(config: RuntimeConfig) -> RuntimeBuilder {
        RuntimeBuilder {
            config,
            modules: vec![Box::new(Accounts), Box::new(Bank)],
            fee_rule: Box::new(TipsToProducer),
        }
    }

    /// Prices and limits.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The index of the module named `name`.
    pub fn module_index(&self, name: &str) -> Option<u16> {
        self.modules
            .iter()
            .position(|m| m.name() == name)
            .map(|i| i as u16)
    }

    /// How many modules the runtime has (their indexes are 0 to one less).
    pub fn module_count(&self) -> usize {
        self.modules.len()
    }

    /// The modules' names, in index order.
    pub fn module_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.modules.iter().map(|m| m.name())
    }

    /// Gas every transaction of `len` bytes pays before its call.
    pub fn base_gas(&self, len: usize) -> u64 {
        self.config
            .tx_base_gas
            .saturating_add(self.config.tx_byte_gas.saturating_mul(len as u64))
    }

    /// The least `max_fee` that admits a transaction with `gas_limit` and `tip`: the most it
    /// can be charged. `None` when that overflows.
    pub fn required_fee(&self, gas_limit: u64, tip: u128) -> Option<u128> {
        (gas_limit as u128)
            .checked_mul(self.config.gas_price)?
            .checked_add(tip)
    }

    /// Runs every module's genesis over empty state, with each module's section of the
    /// chain spec (a module without one gets its default genesis).
    pub fn genesis(
        &self,
        sections: &BTreeMap<String, serde_json::Value>,
        env: &Env,
    ) -> Result<StateDelta, RuntimeError> {
        if let Some(unknown) = sections.keys().find(|n| self.module_index(n).is_none()) {
            return Err(RuntimeError::UnknownGenesisSection(unknown.clone()));
        }
        let mut state = WorkingSet::new(&EmptyState).dropping_events();
        for (index, module) in self.modules.iter().enumerate() {
            module
                .genesis(sections.get(module.name()), env, index as u16, &mut state)
                .map_err(RuntimeError::Genesis)?;
        }
        Ok(StateDelta::from_changes(state.finish().changes))
    }

    /// The name of module number `index`.
    pub fn module_name(&self, index: u16) -> Option<&'static str> {
        self.modules.get(usize::from(index)).map(|m| m.name())
    }

    /// A call's bytes as JSON, decoded by module number `module`: what a client reads in a
    /// block. An error names what could not be decoded.
    pub fn call_json(&self, module: u16, call: &[u8]) -> Result<serde_json::Value, String> {
        match self.modules.get(usize::from(module)) {
            Some(m) => m.call_json(call),
            None => Err(format!("no module at index {module}")),
        }
    }

    /// An event's bytes as JSON, decoded by module number `module` (which emitted it): what a
    /// client reads in a receipt.
    pub fn event_json(&self, module: u16, event: &[u8]) -> Result<serde_json::Value, String> {
        match self.modules.get(usize::from(module)) {
            Some(m) => m.event_json(event),
            None => Err(format!("no module at index {module}")),
        }
    }

    /// Answers a query to the module named `module` from committed state.
    pub fn query(
        &self,
        module: &str,
        query: serde_json::Value,
        state: &dyn StateView,
    ) -> Result<serde_json::Value, RuntimeError> {
        let index = self
            .module_index(module)
            .ok_or_else(|| RuntimeError::Query(format!("no module named {module}")))?;
        self.modules[index as usize]
            .query(query, state)
            .map_err(RuntimeError::Query)
    }

    /// The call `call` (the JSON form of `module`'s call type) as a transaction carries it:
    /// the module's index and the call's canonical bytes.
    pub fn encode_call(
        &self,
        module: &str,
        call: serde_json::Value,
    ) -> Result<(u16, Vec<u8>), RuntimeError> {
        let index = self
            .module_index(module)
            .ok_or_else(|| RuntimeError::Call(format!("no module named {module}")))?;
        let bytes = self.modules[index as usize]
            .encode_call(call)
            .map_err(RuntimeError::Call)?;
        Ok((index, bytes))
    }

    /// Runs `tx` alone over `state`, as the first transaction of a block in `env` would run
    /// (no block hooks), and returns its receipt; the changes are discarded. For dry runs
    /// and for measuring what calls cost.
    pub fn dry_run(
        &self,
        env: &Env,
        tx: &VerifiedTx,
        state: &dyn StateView,
    ) -> Result<Receipt, RuntimeError> {
        let prepared = self.prepare(tx);
        Ok(self.apply(env, tx, prepared, state)?.receipt)
    }

    /// Decodes `tx`'s call and works out what it may touch.
    pub(crate) fn prepare(&self, tx: &VerifiedTx) -> PreparedTx {
        let body = &tx.tx.body;
        let call = match self.modules.get(body.module as usize) {
            None => Err(failure(
                codes::UNKNOWN_MODULE,
                format!("no module at index {}", body.module),
            )),
            Some(module) => module
                .prepare(body.call.as_ref(), &tx.sender)
                .map_err(|e| failure(codes::MALFORMED_CALL, e.to_string())),
        };
        let (call, access) = match call {
            Ok(prepared) => (Ok(prepared.call), prepared.access),
            Err(failure) => (Err(failure), AccessSet::new()),
        };
        PreparedTx {
            call,
            // The sender's record holds its nonce and the native balance fees come from.
            access: access.write(accounts::account_key(&tx.sender)).sealed(),
        }
    }

    /// The keys `tx` declares, as [`Runtime::prepare`] declares them but unsorted (a key may
    /// appear twice): enough to plan a block's split, without sorting the set.
    pub(crate) fn declare(&self, tx: &VerifiedTx) -> AccessSet {
        let body = &tx.tx.body;
        let access = self
            .modules
            .get(body.module as usize)
            .and_then(|module| module.prepare(body.call.as_ref(), &tx.sender).ok())
            .map(|prepared| prepared.access)
            .unwrap_or_default();
        access.write(accounts::account_key(&tx.sender))
    }

    /// Runs one transaction over `state`. An error means the state could not be read; a
    /// failing transaction is an `Ok` with a failed receipt.
    pub(crate) fn apply(
        &self,
        env: &Env,
        tx: &VerifiedTx,
        prepared: PreparedTx,
        state: &dyn StateView,
    ) -> Result<TxEffects, RuntimeError> {
        let body = &tx.tx.body;
        let meter = GasMeter::new(body.gas_limit);
        let mut ws = WorkingSet::new(state)
            .with_gas(meter, self.config.schedule)
            .with_access(prepared.access);
        let refused = |code: u32, reason: String| TxEffects {
            changes: Vec::new(),
            receipt: receipt(
                tx,
                Outcome::Failed {
                    module: RUNTIME_MODULE,
                    code,
                    reason: BoundedString::truncate_from(reason),
                },
                0,
                0,
                Vec::new(),
            ),
            fees: FeeTotals::default(),
        };
        if body.chain_id != self.config.chain_id {
            return Ok(refused(
                codes::WRONG_CHAIN,
                format!("signed for chain {}", body.chain_id.0),
            ));
        }
        // The sender's record: its nonce, and the native balance that pays the fee.
        let mut account = accounts::read(&mut ws, &tx.sender, false)?;
        if account.nonce != body.nonce {
            return Ok(refused(
                codes::BAD_NONCE,
                format!(
                    "nonce {} is not the next nonce {}",
                    body.nonce, account.nonce
                ),
            ));
        }
        let base_gas = self.base_gas(tx.encoded_len());
        if body.gas_limit < base_gas {
            return Ok(refused(
                codes::GAS_LIMIT_TOO_LOW,
                format!(
                    "gas limit {} is below the base gas {base_gas}",
                    body.gas_limit
                ),
            ));
        }
        if account.native < body.max_fee {
            return Ok(refused(
                codes::CANNOT_PAY,
                format!(
                    "balance {} cannot pay the maximum fee {}",
                    account.native, body.max_fee
                ),
            ));
        }
        let Some(next_nonce) = account.nonce.checked_add(1) else {
            return Ok(refused(
                codes::BAD_NONCE,
                "the account has used every nonce".to_string(),
            ));
        };
        ws.charge_gas(base_gas)?;
        // The maximum fee is taken before the call, so the call cannot spend it.
        account.nonce = next_nonce;
        account.native -= body.max_fee;
        accounts::write(&mut ws, &tx.sender, &account, false)?;

        let checkpoint = ws.checkpoint();
        let result = match prepared.call {
            Ok(call) => {
                self.modules[body.module as usize].call(call, env, tx.sender, body.module, &mut ws)
            }
            Err(failure) => Err(failure),
        };
        let outcome = match result {
            Ok(()) => Outcome::Success,
            Err(failure) => {
                ws.revert(checkpoint);
                Outcome::Failed {
                    module: body.module,
                    code: failure.code,
                    reason: failure.reason,
                }
            }
        };

        let gas_used = ws.gas_used();
        let base = (gas_used as u128)
            .saturating_mul(self.config.gas_price)
            .min(body.max_fee);
        let tip = body.tip.min(body.max_fee - base);
        let fee = base + tip;
        let mut account = accounts::read(&mut ws, &tx.sender, false)?;
        account.native = account
            .native
            .checked_add(body.max_fee - fee)
            .ok_or_else(|| RuntimeError::FeePayout("refund overflows the balance".into()))?;
        accounts::write(&mut ws, &tx.sender, &account, false)?;
        let effects = ws.finish();
        Ok(TxEffects {
            changes: effects.changes,
            receipt: receipt(tx, outcome, gas_used, fee, effects.events),
            fees: FeeTotals { base, tips: tip },
        })
    }

    /// Runs every module's begin-block hook over `state`.
    pub(crate) fn begin_block(
        &self,
        env: &Env,
        state: &dyn StateView,
    ) -> Result<Vec<StateChange>, RuntimeError> {
        let mut ws = WorkingSet::new(state);
        for (index, module) in self.modules.iter().enumerate() {
            module
                .begin_block(env, index as u16, &mut ws)
                .map_err(|failure| RuntimeError::Hook {
                    module: module.name(),
                    failure,
                })?;
        }
        Ok(ws.finish().changes)
    }

    /// Pays out the block's fees, then runs every module's end-block hook over `state`, so
    /// that a rewards module sees this block's share of fees in the pool. Returns the changes
    /// and the validator set a hook announced.
    pub(crate) fn end_block(
        &self,
        env: &Env,
        fees: FeeTotals,
        state: &dyn StateView,
    ) -> Result<(Vec<StateChange>, Option<ValidatorSet>), RuntimeError> {
        let mut ws = WorkingSet::new(state);
        let split = self.fee_rule.split(fees);
        let parts = split
            .producer
            .checked_add(split.pool)
            .and_then(|sum| sum.checked_add(split.burned));
        if parts != Some(fees.total()) {
            return Err(RuntimeError::FeeRule {
                totals: fees,
                split,
            });
        }
        let payout = |e: bank::BankError| RuntimeError::FeePayout(e.to_string());
        if split.producer > 0 {
            bank::credit(&mut ws, NATIVE, &env.proposer, split.producer, false).map_err(payout)?;
        }
        if split.pool > 0 {
            bank::credit(&mut ws, NATIVE, &reward_pool(), split.pool, false).map_err(payout)?;
        }
        if split.burned > 0 {
            bank::burn_collected(&mut ws, NATIVE, split.burned).map_err(payout)?;
        }
        for (index, module) in self.modules.iter().enumerate() {
            module
                .end_block(env, index as u16, &mut ws)
                .map_err(|failure| RuntimeError::Hook {
                    module: module.name(),
                    failure,
                })?;
        }
        let effects = ws.finish();
        Ok((effects.changes, effects.validators))
    }
}

fn receipt(
    tx: &VerifiedTx,
    outcome: Outcome,
    gas_used: u64,
    fee_paid: u128,
    events: Vec<EventRecord>,
) -> Receipt {
    Receipt {
        tx: tx.id,
        outcome,
        gas_used,
        fee_paid,
        // The working set caps events at the receipt's limit.
        events: BoundedVec::try_from_vec(events).unwrap_or_default(),
    }
}
