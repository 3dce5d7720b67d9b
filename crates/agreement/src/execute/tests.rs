//! Execution: transfers, fees and failures; and, on random workloads full of conflicts,
//! parallel execution equal to sequential, with supply conserved.

use borsh::{BorshDeserialize, BorshSerialize};
use lamina_interop::block::Outcome;
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::module::{
    reward_pool, AccessSet, Context, FeeRule, FeeSplit, FeeTotals, Module, ModuleError, StateValue,
};
use lamina_interop::{Address, ChainId};
use proptest::prelude::*;

use super::graph::Graph;
use super::*;
use crate::modules::accounts;
use crate::modules::bank::{self, AssetId, NATIVE, SUPPLY};
use crate::runtime::{codes, RuntimeConfig, RuntimeError, RUNTIME_MODULE};
use crate::testing::{env, funded_state, key, transfer};
use crate::tx::UnsignedTx;

const CHAIN: ChainId = ChainId(9);
const PROPOSER: Address = Address([0xee; 32]);

/// A test module with calls that conflict on shared counters, that touch everything, and
/// that touch a key they did not declare.
struct Counters;

const SHARED: StateValue<u64> = StateValue::new(b"counters/shared");

#[derive(Debug, Clone, BorshSerialize, BorshDeserialize, serde::Serialize, serde::Deserialize)]
enum CounterCall {
    /// Adds to counter `n` (declared).
    Add(u8),
    /// Adds to the shared counter, declaring everything.
    Global,
    /// Writes counter `n` without declaring it.
    Sneaky(u8),
    /// Reads counter `from` (declared as a read) into counter `to` (declared as a write).
    Copy(u8, u8),
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct CounterError(#[from] lamina_interop::module::StateError);

impl ModuleError for CounterError {
    fn code(&self) -> u32 {
        1
    }
}

fn counter_key(n: u8) -> Vec<u8> {
    format!("counters/{n}").into_bytes()
}

impl Module for Counters {
    const NAME: &'static str = "counters";
    type Call = CounterCall;
    type Event = u64;
    type Genesis = ();
    type Query = ();
    type QueryResponse = ();
    type Error = CounterError;

    fn init_genesis(&self, _: &(), _: &mut Context<'_, '_, Self>) -> Result<(), CounterError> {
        Ok(())
    }

    fn access(&self, call: &CounterCall, _sender: &Address) -> AccessSet {
        match call {
            CounterCall::Add(n) => AccessSet::new().write(counter_key(*n)),
            CounterCall::Global => AccessSet::everything(),
            CounterCall::Sneaky(_) => AccessSet::new(),
            CounterCall::Copy(from, to) => AccessSet::new()
                .read(counter_key(*from))
                .write(counter_key(*to)),
        }
    }

    fn call(&self, call: CounterCall, ctx: &mut Context<'_, '_, Self>) -> Result<(), CounterError> {
        let read = |ctx: &mut Context<'_, '_, Self>, key: &[u8]| -> Result<u64, CounterError> {
            Ok(match ctx.state().get(key)? {
                Some(bytes) => codec::decode_limited::<u64>(&bytes, "counter", 8)
                    .map_err(lamina_interop::module::StateError::from)?,
                None => 0,
            })
        };
        if let CounterCall::Copy(from, to) = call {
            let value = read(ctx, &counter_key(from))?;
            ctx.state().set(&counter_key(to), codec::encode(&value))?;
            ctx.emit(&value)?;
            return Ok(());
        }
        let (key, n) = match call {
            CounterCall::Add(n) | CounterCall::Sneaky(n) => (counter_key(n), n as u64),
            CounterCall::Global => (SHARED.key(), 1000),
            CounterCall::Copy(..) => unreachable!("handled above"),
        };
        let old = read(ctx, &key)?;
        ctx.state().set(&key, codec::encode(&(old + n + 1)))?;
        ctx.emit(&(old + n + 1))?;
        Ok(())
    }

    fn query(&self, _: (), _: &dyn StateView) -> Result<(), CounterError> {
        Ok(())
    }
}

fn runtime() -> Runtime {
    Runtime::builder(RuntimeConfig::new(CHAIN))
        .module(Counters)
        .build()
        .unwrap()
}

fn accounts(n: u64) -> Vec<Address> {
    (0..n).map(|i| Address::of(&key(i).public_key())).collect()
}

fn verified(tx: crate::tx::SignedTx) -> VerifiedTx {
    VerifiedTx::assume_verified(tx)
}

type State = hashbrown::HashMap<Vec<u8>, Vec<u8>>;

/// Executes `txs` sequentially as block 1 over `state`.
fn first_block(
    runtime: &Runtime,
    txs: &[VerifiedTx],
    state: &State,
) -> Result<BlockOutput, RuntimeError> {
    execute_block(
        runtime,
        &env(CHAIN, 1, PROPOSER),
        txs,
        state,
        Mode::Sequential,
    )
}

/// Sum of all balances of `asset` in `state`, and its recorded supply.
fn supply_check(state: &State, asset: AssetId) -> (u128, u128) {
    // Native balances are in the account records; the others under the bank's keys.
    let sum = if asset == NATIVE {
        state
            .iter()
            .filter(|(k, _)| k.starts_with(b"accounts/"))
            .map(|(_, v)| {
                codec::decode_limited::<accounts::Account>(
                    v,
                    "account",
                    accounts::Account::ENCODED_LEN,
                )
                .unwrap()
                .native
            })
            .sum()
    } else {
        let mut prefix = b"bank/balance/".to_vec();
        prefix.extend_from_slice(&asset.to_le_bytes());
        state
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| codec::decode_limited::<u128>(v, "balance", 16).unwrap())
            .sum()
    };
    let supply = SUPPLY.get_committed(state, &asset).unwrap().unwrap();
    (sum, supply)
}

fn apply(state: &mut State, delta: &StateDelta) {
    for change in delta.changes() {
        match &change.value {
            Some(v) => state.insert(change.key.clone(), v.clone()),
            None => state.remove(&change.key),
        };
    }
}

#[test]
fn transfer_moves_value_charges_fees_and_bumps_the_nonce() {
    let runtime = runtime();
    let [alice, bob] = [accounts(2)[0], accounts(2)[1]];
    let mut state = funded_state(&runtime, &[alice, bob], 1_000_000, &[5]).unwrap();
    let tx = verified(transfer(&runtime, &key(0), 0, bob, 5, 300, 7));
    let out = first_block(&runtime, std::slice::from_ref(&tx), &state).unwrap();
    let receipt = &out.receipts[0];
    assert_eq!(receipt.outcome, Outcome::Success);
    assert_eq!(receipt.tx, tx.id);
    assert_eq!(receipt.events.len(), 1);
    let gas = receipt.gas_used;
    assert!(gas >= runtime.base_gas(tx.encoded_len()));
    assert_eq!(receipt.fee_paid, gas as u128 + 7);
    apply(&mut state, &out.delta);
    assert_eq!(
        bank::committed_balance(&state, 5, &alice).unwrap(),
        1_000_000 - 300
    );
    assert_eq!(
        bank::committed_balance(&state, 5, &bob).unwrap(),
        1_000_000 + 300
    );
    assert_eq!(
        bank::committed_balance(&state, NATIVE, &alice).unwrap(),
        1_000_000 - receipt.fee_paid
    );
    assert_eq!(
        bank::committed_balance(&state, NATIVE, &PROPOSER).unwrap(),
        7,
        "tips to the producer"
    );
    assert_eq!(accounts::committed_nonce(&state, &alice).unwrap(), 1);
    // Base fees are burned: supply falls by exactly that, and still equals the balances.
    let (sum, supply) = supply_check(&state, NATIVE);
    assert_eq!(sum, supply);
    assert_eq!(supply, 2_000_000 - gas as u128);
    assert_eq!(supply_check(&state, 5), (2_000_000, 2_000_000));
}

/// Half of everything to the pool, the rest to the producer; or, broken, a unit too many.
struct HalfToPool {
    broken: bool,
}

impl FeeRule for HalfToPool {
    fn split(&self, totals: FeeTotals) -> FeeSplit {
        let pool = totals.total() / 2;
        FeeSplit {
            producer: totals.total() - pool + u128::from(self.broken),
            pool,
            burned: 0,
        }
    }
}

#[test]
fn the_fee_rule_decides_the_pool_and_must_add_up() {
    let runtime = Runtime::builder(RuntimeConfig::new(CHAIN))
        .fee_rule(HalfToPool { broken: false })
        .build()
        .unwrap();
    let [alice, bob] = [accounts(2)[0], accounts(2)[1]];
    let mut state = funded_state(&runtime, &[alice, bob], 1_000_000, &[]).unwrap();
    let tx = verified(transfer(&runtime, &key(0), 0, bob, NATIVE, 300, 7));
    let out = first_block(&runtime, std::slice::from_ref(&tx), &state).unwrap();
    let paid = out.receipts[0].fee_paid;
    apply(&mut state, &out.delta);
    let pool = bank::committed_balance(&state, NATIVE, &reward_pool()).unwrap();
    let producer = bank::committed_balance(&state, NATIVE, &PROPOSER).unwrap();
    assert_eq!(pool, paid / 2);
    assert_eq!(pool + producer, paid);
    // Nothing burned: the supply is unchanged and equals the balances.
    assert_eq!(supply_check(&state, NATIVE), (2_000_000, 2_000_000));

    let broken = Runtime::builder(RuntimeConfig::new(CHAIN))
        .fee_rule(HalfToPool { broken: true })
        .build()
        .unwrap();
    let state = funded_state(&broken, &[alice, bob], 1_000_000, &[]).unwrap();
    let tx = verified(transfer(&broken, &key(0), 0, bob, NATIVE, 300, 7));
    let refused = first_block(&broken, std::slice::from_ref(&tx), &state);
    assert!(matches!(refused, Err(RuntimeError::FeeRule { .. })));
}

#[test]
fn a_failed_call_reverts_but_pays() {
    let runtime = runtime();
    let [alice, bob] = [accounts(2)[0], accounts(2)[1]];
    let mut state = funded_state(&runtime, &[alice, bob], 1_000_000, &[]).unwrap();
    let overdraft = verified(transfer(&runtime, &key(0), 0, bob, NATIVE, 5_000_000, 0));
    let out = first_block(&runtime, &[overdraft], &state).unwrap();
    let receipt = &out.receipts[0];
    assert!(
        matches!(
            receipt.outcome,
            Outcome::Failed {
                module: 1,
                code: 1,
                ..
            }
        ),
        "{:?}",
        receipt.outcome
    );
    assert!(receipt.events.is_empty());
    assert!(receipt.fee_paid > 0);
    apply(&mut state, &out.delta);
    assert_eq!(
        bank::committed_balance(&state, NATIVE, &alice).unwrap(),
        1_000_000 - receipt.fee_paid
    );
    assert_eq!(
        bank::committed_balance(&state, NATIVE, &bob).unwrap(),
        1_000_000
    );
    assert_eq!(accounts::committed_nonce(&state, &alice).unwrap(), 1);
}

#[test]
fn refused_transactions_change_nothing() {
    let runtime = runtime();
    let [alice, bob] = [accounts(2)[0], accounts(2)[1]];
    let state = funded_state(&runtime, &[alice, bob], 1_000_000, &[]).unwrap();
    let bad_nonce = verified(transfer(&runtime, &key(0), 5, bob, NATIVE, 1, 0));
    let mut too_poor = transfer(&runtime, &key(1), 0, alice, NATIVE, 1, 0).body;
    too_poor.max_fee = 2_000_000;
    let too_poor = verified(too_poor.sign(&key(1)));
    let out = first_block(&runtime, &[bad_nonce, too_poor], &state).unwrap();
    let codes: Vec<_> = out
        .receipts
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Failed {
                module: RUNTIME_MODULE,
                code,
                ..
            } => *code,
            other => panic!("expected a refusal, got {other:?}"),
        })
        .collect();
    assert_eq!(codes, vec![codes::BAD_NONCE, codes::CANNOT_PAY]);
    assert!(out.delta.is_empty(), "{:?}", out.delta);
}

/// One random transaction of a workload.
#[derive(Debug, Clone)]
enum Op {
    Transfer {
        from: u8,
        to: u8,
        amount: u32,
        tip: u8,
    },
    Add {
        from: u8,
        counter: u8,
    },
    Global {
        from: u8,
    },
    Sneaky {
        from: u8,
        counter: u8,
    },
    UnknownModule {
        from: u8,
    },
    Garbage {
        from: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0u8..6;
    prop_oneof![
        6 => (who.clone(), 0u8..6, 0u32..400_000, 0u8..20)
            .prop_map(|(from, to, amount, tip)| Op::Transfer { from, to, amount, tip }),
        3 => (who.clone(), 0u8..3).prop_map(|(from, counter)| Op::Add { from, counter }),
        1 => who.clone().prop_map(|from| Op::Global { from }),
        1 => (who.clone(), 0u8..3).prop_map(|(from, counter)| Op::Sneaky { from, counter }),
        1 => who.clone().prop_map(|from| Op::UnknownModule { from }),
        1 => who.prop_map(|from| Op::Garbage { from }),
    ]
}

fn build(runtime: &Runtime, ops: &[Op], skip_nonce: bool) -> Vec<VerifiedTx> {
    static KEYS: std::sync::LazyLock<Vec<lamina_interop::crypto::PublicKey>> =
        std::sync::LazyLock::new(|| (0..6).map(|i| key(i).public_key()).collect());
    let keys = &*KEYS;
    let addresses: Vec<Address> = keys.iter().map(Address::of).collect();
    let mut nonces = [0u64; 6];
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let from = match op {
                Op::Transfer { from, .. }
                | Op::Add { from, .. }
                | Op::Global { from }
                | Op::Sneaky { from, .. }
                | Op::UnknownModule { from }
                | Op::Garbage { from } => *from as usize,
            };
            // Now and then a wrong nonce, so refusals mix in.
            let nonce = if skip_nonce && i % 7 == 3 {
                nonces[from] + 1
            } else {
                nonces[from]
            };
            nonces[from] += 1;
            let (module, call) = match op {
                Op::Transfer { to, amount, .. } => (
                    1,
                    codec::encode(&bank::BankCall::Transfer {
                        to: addresses[*to as usize],
                        asset: NATIVE,
                        amount: *amount as u128,
                    }),
                ),
                Op::Add { counter, .. } => (2, codec::encode(&CounterCall::Add(*counter))),
                Op::Global { .. } => (2, codec::encode(&CounterCall::Global)),
                Op::Sneaky { counter, .. } => (2, codec::encode(&CounterCall::Sneaky(*counter))),
                Op::UnknownModule { .. } => (9, vec![]),
                Op::Garbage { .. } => (2, vec![0xff, 0xff]),
            };
            let tip = match op {
                Op::Transfer { tip, .. } => *tip as u128,
                _ => 1,
            };
            // Execution never looks at signatures: they were checked at admission.
            verified(crate::tx::SignedTx {
                body: UnsignedTx {
                    chain_id: CHAIN,
                    sender: keys[from],
                    nonce,
                    max_fee: runtime.required_fee(40_000, tip).unwrap(),
                    tip,
                    gas_limit: 40_000,
                    module,
                    call: BoundedBytes::try_from_vec(call).unwrap(),
                },
                signature: lamina_interop::crypto::Signature([0; 64]),
            })
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    /// Six accounts, three counters, one global call now and then: nearly every pair of
    /// transactions conflicts somewhere. Parallel execution must give the same receipts and
    /// delta as sequential, and every asset's supply must equal the sum of its balances.
    #[test]
    fn parallel_equals_sequential_and_supply_is_conserved(
        ops in proptest::collection::vec(op(), 1..40),
        skip_nonce in any::<bool>(),
    ) {
        static SETUP: std::sync::LazyLock<(Runtime, State)> =
            std::sync::LazyLock::new(|| {
                let runtime = runtime();
                let state = funded_state(&runtime, &accounts(6), 1_000_000, &[]).unwrap();
                (runtime, state)
            });
        let (runtime, genesis) = &*SETUP;
        let mut state = genesis.clone();
        let txs = build(runtime, &ops, skip_nonce);
        let block_env = env(CHAIN, 1, PROPOSER);
        let sequential = execute_block(runtime, &block_env, &txs, &state, Mode::Sequential).unwrap();
        let parallel = execute_block(runtime, &block_env, &txs, &state, Mode::Parallel).unwrap();
        prop_assert_eq!(&sequential, &parallel);
        // Small blocks run in order in parallel mode; the graph must agree on them too.
        let graph = execute_block(runtime, &block_env, &txs, &state, Mode::Graph).unwrap();
        prop_assert_eq!(&sequential, &graph);
        apply(&mut state, &sequential.delta);
        let (sum, supply) = supply_check(&state, NATIVE);
        prop_assert_eq!(sum, supply);
        let fees: u128 = sequential.receipts.iter().map(|r| r.fee_paid).sum();
        prop_assert_eq!(supply, 6_000_000 - (fees - sequential.fees.tips));
    }
}

proptest! {
    /// Any module index and any call bytes: execution returns a receipt for each transaction
    /// and never panics; bytes that are not a call fail the call and still pay.
    #[test]
    fn no_panic_on_any_call_bytes(
        calls in proptest::collection::vec((0u16..6, proptest::collection::vec(any::<u8>(), 0..200)), 1..10),
    ) {
        let runtime = runtime();
        let state = funded_state(&runtime, &accounts(1), 1_000_000, &[]).unwrap();
        let sender = key(0).public_key();
        let txs: Vec<VerifiedTx> = calls
            .iter()
            .enumerate()
            .map(|(nonce, (module, call))| {
                verified(crate::tx::SignedTx {
                    body: UnsignedTx {
                        chain_id: CHAIN,
                        sender,
                        nonce: nonce as u64,
                        max_fee: runtime.required_fee(40_000, 0).unwrap(),
                        tip: 0,
                        gas_limit: 40_000,
                        module: *module,
                        call: BoundedBytes::try_from_vec(call.clone()).unwrap(),
                    },
                    signature: lamina_interop::crypto::Signature([0; 64]),
                })
            })
            .collect();
        let out = execute_block(&runtime, &env(CHAIN, 1, PROPOSER), &txs, &state, Mode::Sequential).unwrap();
        prop_assert_eq!(out.receipts.len(), txs.len());
        for receipt in &out.receipts {
            if let Outcome::Failed { module, .. } = receipt.outcome {
                prop_assert!(module != RUNTIME_MODULE, "a well-formed transaction is never refused");
                prop_assert!(receipt.fee_paid > 0);
            }
        }
    }
}

fn graph_of(runtime: &Runtime, txs: Vec<crate::tx::SignedTx>) -> Graph {
    let hasher = hashbrown::DefaultHashBuilder::default();
    let prepared: Vec<PreparedTx> = txs
        .into_iter()
        .map(|tx| runtime.prepare(&verified(tx)))
        .collect();
    let keys: Vec<KeyHashes> = prepared.iter().map(|p| KeyHashes::of(p, &hasher)).collect();
    Graph::build(&prepared, &keys)
}

fn dependents(graph: &Graph) -> Vec<Vec<u32>> {
    (0..graph.waits.len() as u32)
        .map(|tx| graph.dependents(tx).to_vec())
        .collect()
}

#[test]
fn the_graph_orders_conflicts_and_leaves_independent_work_free() {
    let runtime = runtime();
    let addresses = accounts(4);
    let graph = graph_of(
        &runtime,
        vec![
            transfer(&runtime, &key(0), 0, addresses[1], NATIVE, 1, 0),
            transfer(&runtime, &key(2), 0, addresses[3], NATIVE, 1, 0),
            transfer(&runtime, &key(1), 0, addresses[2], NATIVE, 1, 0),
        ],
    );
    // 0 and 1 are disjoint; 2 touches accounts 1 and 2, which both wrote.
    assert_eq!(dependents(&graph), vec![vec![2], vec![2], vec![]]);
    assert_eq!(graph.waits, vec![0, 0, 2]);
    assert_eq!(graph.roots(), vec![0, 1]);
    assert_eq!(graph.critical_path, 2);
}

fn counter(runtime: &Runtime, from: u64, call: CounterCall) -> crate::tx::SignedTx {
    let module = runtime.module_index("counters").unwrap();
    let max_fee = runtime.required_fee(100_000, 0).unwrap();
    crate::tx::SignedTx {
        body: UnsignedTx {
            chain_id: CHAIN,
            sender: key(from).public_key(),
            nonce: 0,
            max_fee,
            tip: 0,
            gas_limit: 100_000,
            module,
            call: BoundedBytes::try_from_vec(codec::encode(&call)).unwrap(),
        },
        signature: lamina_interop::crypto::Signature([0; 64]),
    }
}

#[test]
fn a_chain_of_conflicts_is_one_path_and_sources_name_the_last_writer() {
    let runtime = runtime();
    // Three adds to counter 0 from different senders: each waits for the one before, and
    // reads the counter from it.
    let graph = graph_of(
        &runtime,
        (0..3)
            .map(|s| counter(&runtime, s, CounterCall::Add(0)))
            .collect(),
    );
    assert_eq!(dependents(&graph), vec![vec![1], vec![2], vec![]]);
    assert_eq!(graph.critical_path, 3);
    // Each declares two writes (its account, the counter); the counter's source is the
    // transaction before, the account's is no one.
    let sources = |tx: u32| (0..2).map(|p| graph.source(tx, p)).collect::<Vec<_>>();
    assert!(sources(0).iter().all(|s| *s == graph::NONE));
    assert!(sources(1).contains(&0) && sources(1).contains(&graph::NONE));
    assert!(sources(2).contains(&1));
}

#[test]
fn a_call_that_may_touch_everything_runs_alone_between_runs() {
    let runtime = runtime();
    let hasher = hashbrown::DefaultHashBuilder::default();
    let keys = |call| {
        KeyHashes::of(
            &runtime.prepare(&verified(counter(&runtime, 0, call))),
            &hasher,
        )
    };
    assert!(keys(CounterCall::Global).alone);
    assert!(!keys(CounterCall::Add(1)).alone);
}

#[test]
fn threads_are_used_only_where_the_graph_leaves_them_work() {
    let runtime = runtime();
    let independent = graph_of(
        &runtime,
        (0..64)
            .map(|s| counter(&runtime, s, CounterCall::Add(s as u8)))
            .collect(),
    );
    assert_eq!(independent.critical_path, 1);
    assert!(independent.worth_threads(4));
    assert!(
        !independent.worth_threads(2),
        "two threads do not pay for the graph (ADR 0031)"
    );
    assert!(!independent.worth_threads(1), "one thread runs in order");
    // Half the block on one chain: 16 threads promise 2 x at most, after the graph's cost
    // 1 x: in order.
    let half = graph_of(
        &runtime,
        (0..64)
            .map(|s| {
                counter(
                    &runtime,
                    s,
                    CounterCall::Add(if s % 2 == 0 { 0 } else { s as u8 }),
                )
            })
            .collect(),
    );
    assert_eq!(half.critical_path, 32);
    assert!(!half.worth_threads(16));
    let chain = graph_of(
        &runtime,
        (0..64)
            .map(|s| counter(&runtime, s, CounterCall::Add(0)))
            .collect(),
    );
    assert_eq!(chain.critical_path, 64);
    assert!(!chain.worth_threads(16), "a chain runs in order");
}

#[test]
fn a_large_block_run_by_the_graph_equals_sequential() {
    let runtime = runtime();
    let n = 600u64;
    let state = funded_state(&runtime, &accounts(n), 1_000_000, &[]).unwrap();
    // Hot counters, independent ones, and a barrier in the middle, from distinct senders.
    let txs: Vec<VerifiedTx> = (0..n)
        .map(|s| {
            let call = match s {
                300 => CounterCall::Global,
                s if s % 3 == 0 => CounterCall::Add((s % 4) as u8),
                s => CounterCall::Add(10 + (s % 200) as u8),
            };
            verified(counter(&runtime, s, call))
        })
        .collect();
    let block_env = env(CHAIN, 1, PROPOSER);
    let sequential = execute_block(&runtime, &block_env, &txs, &state, Mode::Sequential).unwrap();
    assert!(sequential
        .receipts
        .iter()
        .all(|r| r.outcome == Outcome::Success));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    for _ in 0..20 {
        let graph = pool.install(|| execute_block(&runtime, &block_env, &txs, &state, Mode::Graph));
        assert_eq!(sequential, graph.unwrap());
    }
}

/// Blocks from many senders over 1 to 200 counters, with undeclared writes, reads of
/// counters others write, and barriers now and then: parallel mode on two and four threads (in order, or by the graph where it pays)
/// equals sequential, receipts and delta.
#[test]
fn parallel_mode_equals_sequential_on_blocks_of_every_contention() {
    let runtime = runtime();
    let senders = 240u64;
    let state = funded_state(&runtime, &accounts(senders), 1_000_000, &[]).unwrap();
    let block_env = env(CHAIN, 1, PROPOSER);
    let mut split_blocks = 0;
    let pools: Vec<rayon::ThreadPool> = [2, 4]
        .into_iter()
        .map(|n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        })
        .collect();
    let mut draw = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        draw ^= draw << 13;
        draw ^= draw >> 7;
        draw ^= draw << 17;
        draw
    };
    for counters in [1u64, 8, 64, 200] {
        for round in 0..10 {
            let txs: Vec<VerifiedTx> = (0..senders)
                .map(|s| {
                    let r = next();
                    let call = match r % 100 {
                        0 if round % 2 == 0 => CounterCall::Global,
                        1 => CounterCall::Sneaky((r >> 8) as u8),
                        // A read of a counter another transaction writes: the two must share
                        // a component (the copy's target lies past the counters drawn).
                        2..=9 => CounterCall::Copy(
                            ((r >> 16) % counters) as u8,
                            (201 + (r >> 24) % 50) as u8,
                        ),
                        _ => CounterCall::Add(((r >> 16) % counters) as u8),
                    };
                    verified(counter(&runtime, s, call))
                })
                .collect();
            let sequential =
                execute_block(&runtime, &block_env, &txs, &state, Mode::Sequential).unwrap();
            let splits = split::SPLITS.load(std::sync::atomic::Ordering::Relaxed);
            for pool in &pools {
                let parallel = pool
                    .install(|| execute_block(&runtime, &block_env, &txs, &state, Mode::Parallel));
                assert_eq!(sequential, parallel.unwrap(), "{counters} counters");
            }
            split_blocks += split::SPLITS.load(std::sync::atomic::Ordering::Relaxed) - splits;
        }
    }
    // Blocks of many counters without a barrier are split (other tests may split too, so
    // this counts at least this test's).
    assert!(split_blocks >= 10, "only {split_blocks} blocks were split");
}

fn key_hashes(runtime: &Runtime, calls: &[CounterCall]) -> Vec<KeyHashes> {
    let hasher = hashbrown::DefaultHashBuilder::default();
    calls
        .iter()
        .enumerate()
        .map(|(s, call)| {
            let access = runtime.declare(&verified(counter(runtime, s as u64, call.clone())));
            match KeyHashes::declared(&access, &hasher) {
                Some(keys) => keys,
                None => unreachable!("no call here touches everything"),
            }
        })
        .collect()
}

#[test]
fn a_split_keeps_each_component_whole_and_declines_a_block_one_component_holds() {
    let runtime = runtime();
    // Counters 0..8, each touched by eight senders.
    let calls: Vec<CounterCall> = (0..64).map(|s| CounterCall::Add((s % 8) as u8)).collect();
    let shares = split::plan(&key_hashes(&runtime, &calls), 2).unwrap();
    assert_eq!(shares.len(), 2);
    assert_eq!(shares[0].len(), 32);
    for share in &shares {
        assert!(
            share.windows(2).all(|w| w[0] < w[1]),
            "block order in a share"
        );
        let counters: std::collections::BTreeSet<u64> =
            share.iter().map(|&t| t as u64 % 8).collect();
        for other in shares.iter().filter(|o| *o != share) {
            assert!(other.iter().all(|&t| !counters.contains(&(t as u64 % 8))));
        }
    }
    // Every transaction on one counter: one component, nothing to split.
    let hot: Vec<CounterCall> = (0..64).map(|_| CounterCall::Add(0)).collect();
    assert!(split::plan(&key_hashes(&runtime, &hot), 2).is_none());
    // Three quarters on one counter: the heavier share would hold 3/4, a speed-up of
    // 1.33 x at most, above the 1.25 x a split must promise.
    let mostly: Vec<CounterCall> = (0..64)
        .map(|s| CounterCall::Add(if s % 4 == 0 { s as u8 } else { 0 }))
        .collect();
    assert!(split::plan(&key_hashes(&runtime, &mostly), 2).is_some());
    // Seven eighths: 1.14 x at most, declined.
    let most: Vec<CounterCall> = (0..64)
        .map(|s| CounterCall::Add(if s % 8 == 0 { s as u8 } else { 0 }))
        .collect();
    assert!(split::plan(&key_hashes(&runtime, &most), 2).is_none());
}
