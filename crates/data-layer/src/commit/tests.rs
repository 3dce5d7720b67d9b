//! The commit protocol, including crashes between its two writes, on the deterministic
//! runtime. The multi-process SIGKILL test is in `tests/crash.rs`.

use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use lamina_interop::block::{tx_root, Header, Outcome, RawTx};
use lamina_interop::codec::BoundedVec;
use lamina_interop::{Address, ChainId, Timestamp};

use super::*;
use crate::kv::hooked::{disk_full, HookedStore};
use crate::kv::MemoryStore;
use crate::state::{QmdbState, StateConfig};

fn config(partition: &str) -> StateConfig {
    StateConfig {
        partition: partition.into(),
        cache_pages: 64,
        parallelism: 1,
        prune_every: 2,
    }
}

/// Block `height` with `height % 3 + 1` transactions, and its delta: a few keys set, one
/// deleted, all derived from the height.
fn block(height: u64) -> (Block, Vec<Receipt>, StateDelta) {
    let txs: Vec<RawTx> = (0..height % 3 + 1)
        .map(|i| RawTx::try_from_vec(format!("tx {height}/{i}").into_bytes()).unwrap())
        .collect();
    let txs = BoundedVec::try_from_vec(txs).unwrap();
    let header = Header {
        chain_id: ChainId(1),
        height: Height(height),
        parent: Hash::ZERO,
        timestamp: Timestamp(height),
        proposer: Address([1; 32]),
        tx_root: tx_root(txs.iter()),
        tx_count: txs.len() as u32,
        state_height: Height(height - 1),
        state_root: Hash::ZERO,
    };
    let receipts = txs
        .iter()
        .map(|tx| Receipt {
            tx: Hash::of(tx),
            outcome: Outcome::Success,
            gas_used: 1,
            fee_paid: 1,
            events: BoundedVec::new(),
        })
        .collect();
    let mut changes: Vec<StateChange> = (0..5)
        .map(|i| StateChange {
            key: format!("k{}", (height * 7 + i) % 20).into_bytes(),
            value: Some(format!("v{height}.{i}").into_bytes()),
        })
        .collect();
    changes.push(StateChange {
        key: format!("k{}", height % 20).into_bytes(),
        value: None,
    });
    (
        Block { header, txs },
        receipts,
        StateDelta::from_changes(changes),
    )
}

async fn open(
    ctx: &deterministic::Context,
    kv: &Arc<MemoryStore>,
    partition: &str,
) -> Result<(
    ChainStore<MemoryStore, QmdbState<deterministic::Context>>,
    Recovery,
)> {
    let state = QmdbState::open(ctx.child("state"), &config(partition)).await?;
    ChainStore::open(kv.clone(), Pruning::Archive, state).await
}

fn kv() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new(&super::columns()))
}

/// Roots of heights 1..=n committed cleanly, in a partition of their own.
async fn reference_roots(ctx: &deterministic::Context, n: u64) -> Vec<Hash> {
    let (mut store, _) = open(ctx, &kv(), "reference").await.unwrap();
    let mut roots = Vec::new();
    for h in 1..=n {
        let (b, r, d) = block(h);
        roots.push(store.commit(&b, &r, &d).await.unwrap().root);
    }
    roots
}

/// Only the first write of the protocol: the key-value batch, as a crash before the state
/// commit leaves it.
fn first_write_only(
    store: &ChainStore<MemoryStore, QmdbState<deterministic::Context>>,
    height: u64,
) {
    let (b, r, d) = block(height);
    let mut batch = WriteBatch::new();
    let staged = store.blocks.stage(&mut batch, &b, &r).unwrap();
    batch.put(DELTAS, height.to_be_bytes(), codec::encode(d.changes()));
    store.kv.write(batch, Durability::Durable).unwrap();
    store.blocks.staged(staged).unwrap();
}

#[test]
fn commits_agree_across_stores() {
    deterministic::Runner::seeded(1).start(|ctx| async move {
        let kv = kv();
        let (mut store, recovery) = open(&ctx, &kv, "main").await.unwrap();
        assert_eq!(
            recovery,
            Recovery {
                height: Height(0),
                replayed: vec![]
            }
        );
        for h in 1..=6 {
            let (b, r, d) = block(h);
            let committed = store.commit(&b, &r, &d).await.unwrap();
            assert_eq!(committed.height, Height(h));
            assert_eq!(store.root_at(Height(h)).unwrap(), Some(committed.root));
            assert_eq!(store.blocks().block(Height(h)).unwrap(), Some(b));
        }
        assert_eq!(store.height(), Height(6));
        // The redo log keeps only the last REDO_DEPTH deltas.
        assert!(store.logged_delta(Height(2)).unwrap().is_none());
        assert!(store.logged_delta(Height(3)).unwrap().is_some());
        let (b, r, d) = block(8);
        assert!(matches!(
            store.commit(&b, &r, &d).await,
            Err(Error::OutOfOrder { .. })
        ));
        assert_eq!(
            store.height(),
            Height(6),
            "a refused block changes neither store"
        );
        let reference = reference_roots(&ctx, 6).await;
        assert_eq!(store.state().root(), reference[5]);
    });
}

#[test]
fn a_store_without_the_tx_index_commits_the_same_roots() {
    deterministic::Runner::seeded(1).start(|ctx| async move {
        let kv = kv();
        let (store, _) = open(&ctx, &kv, "main").await.unwrap();
        let mut store = store.with_tx_index(false);
        assert!(!store.blocks().indexes_txs());
        for h in 1..=4 {
            let (b, r, d) = block(h);
            store.commit(&b, &r, &d).await.unwrap();
            assert!(matches!(
                store.blocks().tx_location(&r[0].tx),
                Err(Error::NoTxIndex)
            ));
        }
        let reference = reference_roots(&ctx, 4).await;
        assert_eq!(store.state().root(), reference[3]);
    });
}

#[test]
fn crash_between_the_writes_is_repaired_to_the_same_root() {
    deterministic::Runner::seeded(2).start(|ctx| async move {
        let kv = kv();
        {
            let (mut store, _) = open(&ctx, &kv, "main").await.unwrap();
            for h in 1..=2 {
                let (b, r, d) = block(h);
                store.commit(&b, &r, &d).await.unwrap();
            }
            first_write_only(&store, 3);
        }
        let (store, recovery) = open(&ctx, &kv, "main").await.unwrap();
        assert_eq!(
            recovery,
            Recovery {
                height: Height(3),
                replayed: vec![Height(3)]
            }
        );
        let reference = reference_roots(&ctx, 3).await;
        assert_eq!(store.state().root(), reference[2]);
        assert_eq!(store.root_at(Height(3)).unwrap(), Some(reference[2]));
        assert_eq!(store.root_at(Height(2)).unwrap(), Some(reference[1]));
    });
}

/// Pipelined commits: the key-value store runs [`MAX_STATE_LAG`] blocks ahead of the state
/// when the process dies; the redo log still holds every delta the state lacks.
#[test]
fn a_crash_at_the_deepest_pipeline_lag_is_repaired() {
    deterministic::Runner::seeded(9).start(|ctx| async move {
        let kv = kv();
        let ahead = MAX_STATE_LAG;
        {
            let (mut store, _) = open(&ctx, &kv, "main").await.unwrap();
            let persister = store.persister();
            for h in 1..=6 {
                let (b, r, d) = block(h);
                persister.persist(&b, &r, &d).unwrap();
                if h > ahead {
                    let (_, _, d) = block(h - ahead);
                    store.merkleize(Height(h - ahead), &d).await.unwrap();
                }
            }
            assert_eq!(store.height(), Height(6 - ahead));
        }
        let (store, recovery) = open(&ctx, &kv, "main").await.unwrap();
        assert_eq!(
            recovery,
            Recovery {
                height: Height(6),
                replayed: (7 - ahead..=6).map(Height).collect()
            }
        );
        let reference = reference_roots(&ctx, 6).await;
        assert_eq!(store.state().root(), reference[5]);
        for h in 1..=6u64 {
            assert_eq!(
                store.root_at(Height(h)).unwrap(),
                Some(reference[h as usize - 1])
            );
        }
    });
}

#[test]
fn crash_during_the_first_commit_is_repaired() {
    deterministic::Runner::seeded(3).start(|ctx| async move {
        let kv = kv();
        {
            let (store, _) = open(&ctx, &kv, "main").await.unwrap();
            first_write_only(&store, 1);
        }
        let (store, recovery) = open(&ctx, &kv, "main").await.unwrap();
        assert_eq!(recovery.replayed, vec![Height(1)]);
        assert_eq!(store.state().root(), reference_roots(&ctx, 1).await[0]);
    });
}

#[test]
fn state_ahead_of_the_chain_is_refused() {
    deterministic::Runner::seeded(4).start(|ctx| async move {
        {
            let mut state = QmdbState::open(ctx.child("state"), &config("main"))
                .await
                .unwrap();
            let (_, _, d) = block(1);
            state.commit(Height(1), d.changes()).await.unwrap();
        }
        let err = open(&ctx, &kv(), "main").await.err();
        assert!(matches!(err, Some(Error::Inconsistent { .. })), "{err:?}");
    });
}

#[test]
fn missing_redo_entry_is_refused() {
    deterministic::Runner::seeded(5).start(|ctx| async move {
        let kv = kv();
        {
            let (mut store, _) = open(&ctx, &kv, "main").await.unwrap();
            let (b, r, d) = block(1);
            store.commit(&b, &r, &d).await.unwrap();
            first_write_only(&store, 2);
            let mut batch = WriteBatch::new();
            batch.delete(DELTAS, 2u64.to_be_bytes());
            kv.write(batch, Durability::Durable).unwrap();
        }
        let err = open(&ctx, &kv, "main").await.err();
        assert!(matches!(err, Some(Error::Inconsistent { .. })), "{err:?}");
    });
}

#[test]
fn lost_state_is_refused() {
    deterministic::Runner::seeded(6).start(|ctx| async move {
        let kv = kv();
        {
            let (mut store, _) = open(&ctx, &kv, "main").await.unwrap();
            for h in 1..=8 {
                let (b, r, d) = block(h);
                store.commit(&b, &r, &d).await.unwrap();
            }
        }
        // The same block store with a fresh, empty state.
        let err = open(&ctx, &kv, "elsewhere").await.err();
        assert!(matches!(err, Some(Error::Inconsistent { .. })), "{err:?}");
    });
}

fn genesis_delta() -> StateDelta {
    StateDelta::from_changes(
        (0..5)
            .map(|i| StateChange {
                key: format!("k{i}").into_bytes(),
                value: Some(format!("genesis {i}").into_bytes()),
            })
            .collect(),
    )
}

#[test]
fn genesis_is_written_once_and_blocks_follow_it() {
    deterministic::Runner::seeded(4).start(|ctx| async move {
        let kv = kv();
        let (mut store, _) = open(&ctx, &kv, "main").await.unwrap();
        assert!(!store.is_initialized().unwrap());
        let root = store.init_genesis(&genesis_delta()).await.unwrap();
        assert!(store.is_initialized().unwrap());
        assert_eq!(store.root_at(Height(0)).unwrap(), Some(root));
        assert_eq!(store.height(), Height(0));
        assert_eq!(
            store.state().get(b"k3").await.unwrap(),
            Some(b"genesis 3".to_vec())
        );
        assert!(matches!(
            store.init_genesis(&genesis_delta()).await,
            Err(Error::Inconsistent { .. })
        ));
        let (b, r, d) = block(1);
        let committed = store.commit(&b, &r, &d).await.unwrap();
        assert_ne!(committed.root, root);
        // A genesis-less store with the same block differs: genesis is in the state.
        let plain = reference_roots(&ctx, 1).await;
        assert_ne!(plain[0], committed.root);
        drop(store);

        let (store, recovery) = open(&ctx, &kv, "main").await.unwrap();
        assert_eq!(recovery.height, Height(1));
        assert_eq!(store.root_at(Height(1)).unwrap(), Some(committed.root));
        assert!(store.is_initialized().unwrap());
    });
}

#[test]
fn a_crash_inside_genesis_is_repaired_from_the_redo_log() {
    deterministic::Runner::seeded(5).start(|ctx| async move {
        let expected = {
            let (mut clean, _) = open(&ctx, &kv(), "clean").await.unwrap();
            clean.init_genesis(&genesis_delta()).await.unwrap()
        };
        let kv = kv();
        {
            // Only the key-value half of genesis, as a crash before the state commit leaves it.
            let delta = genesis_delta();
            let mut batch = WriteBatch::new();
            batch.put(DELTAS, 0u64.to_be_bytes(), codec::encode(delta.changes()));
            batch.put(ROOTS, GENESIS_MARK, Vec::new());
            kv.write(batch, Durability::Durable).unwrap();
        }
        let (store, recovery) = open(&ctx, &kv, "main").await.unwrap();
        assert_eq!(recovery.replayed, vec![Height(0)]);
        assert_eq!(store.state().root(), expected);
        assert_eq!(store.root_at(Height(0)).unwrap(), Some(expected));
    });
}

/// The state after `genesis` (if any) and blocks 1..=up_to, key by key.
fn model(genesis: bool, up_to: u64) -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
    let mut state = std::collections::BTreeMap::new();
    let deltas = genesis
        .then(genesis_delta)
        .into_iter()
        .chain((1..=up_to).map(|h| block(h).2));
    for delta in deltas {
        for change in delta.changes() {
            match &change.value {
                Some(v) => state.insert(change.key.clone(), v.clone()),
                None => state.remove(&change.key),
            };
        }
    }
    state
}

/// Reads every key of the test blocks through a fresh view of `flat` (no hot state), so the
/// store itself answers.
fn assert_flat_is(
    flat: Arc<FlatStore<MemoryStore>>,
    expected: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
) {
    use lamina_interop::module::StateView as _;
    let view = crate::FlatState::over(flat, Arc::new(HotState::new(0)));
    for i in 0..20 {
        let key = format!("k{i}").into_bytes();
        assert_eq!(view.get(&key).unwrap(), expected.get(&key).cloned(), "k{i}");
    }
}

/// Reads every key of the test blocks through the store's own hot state in front of its flat
/// state, as execution does.
fn assert_reads_are<S: KvStore + ?Sized>(
    store: &ChainStore<S, QmdbState<deterministic::Context>>,
    expected: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
) {
    use lamina_interop::module::StateView as _;
    let view = crate::FlatState::over(store.flat_store(), store.hot_state());
    for i in 0..20 {
        let key = format!("k{i}").into_bytes();
        assert_eq!(view.get(&key).unwrap(), expected.get(&key).cloned(), "k{i}");
    }
}

/// Writes `key = value` into the chain's inline flat state behind its back: a read that
/// reaches the store sees it, a read the hot state answers does not.
fn plant(kv: &MemoryStore, key: &[u8]) {
    let mut batch = WriteBatch::new();
    batch.put(FLAT_STATE, key, b"planted".to_vec());
    kv.write(batch, Durability::Durable).unwrap();
}

#[test]
fn a_flat_state_that_fits_is_loaded_on_open_and_answers_every_read() {
    deterministic::Runner::seeded(15).start(|ctx| async move {
        let kv = kv();
        {
            let (mut store, _) = open(&ctx, &kv, "main").await.unwrap();
            // An empty store's hot state is complete from the start.
            assert!(store.hot_state().is_complete());
            store.init_genesis(&genesis_delta()).await.unwrap();
            for h in 1..=6 {
                let (b, r, d) = block(h);
                store.commit(&b, &r, &d).await.unwrap();
            }
            assert_reads_are(&store, &model(true, 6));
        }
        let (store, _) = open(&ctx, &kv, "main").await.unwrap();
        let expected = model(true, 6);
        assert!(store.hot_state().is_complete());
        assert_eq!(store.hot_state().len(), expected.len());
        // An absent key is answered by the hot state, not read from the store.
        let absent = (0..20)
            .map(|i| format!("k{i}").into_bytes())
            .find(|key| !expected.contains_key(key))
            .unwrap();
        plant(&kv, &absent);
        assert_reads_are(&store, &expected);
        drop(store);

        // A hot state that cannot hold it all still serves the same values, from the store.
        let state = QmdbState::open(ctx.child("small"), &config("main"))
            .await
            .unwrap();
        let (small, _) = ChainStore::open_with_hot_state(kv.clone(), Pruning::Archive, state, 0)
            .await
            .unwrap();
        assert!(!small.hot_state().is_complete());
        let mut planted = expected.clone();
        planted.insert(absent, b"planted".to_vec());
        assert_reads_are(&small, &planted);
    });
}

async fn open_memory(
    ctx: &deterministic::Context,
    kv: &Arc<MemoryStore>,
    hot_entries: usize,
) -> Result<(
    ChainStore<MemoryStore, QmdbState<deterministic::Context>>,
    Recovery,
)> {
    let state = QmdbState::open(ctx.child("state"), &config("main")).await?;
    ChainStore::open_with(
        kv.clone(),
        FlatLayout::Memory,
        Pruning::Archive,
        state,
        hot_entries,
    )
    .await
}

/// Gives the empty store `kv` a hot-state seed that puts two keys of `state` in one shard, so
/// that a hot state of one entry a shard cannot hold `state` (a new store's own seed is random,
/// and could spread them all apart).
fn crowding_seed(kv: &MemoryStore, state: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>) {
    let seed = (0u64..)
        .find(|&seed| {
            let hot = HotState::with_seed(SHARDS, seed);
            let shards: std::collections::HashSet<usize> =
                state.keys().map(|key| hot.shard_of(key)).collect();
            shards.len() < state.len()
        })
        .unwrap();
    let mut batch = WriteBatch::new();
    batch.put(CHECKPOINTS, SEED_KEY, seed.to_be_bytes());
    kv.write(batch, Durability::Durable).unwrap();
}

fn rows(kv: &MemoryStore, column: Column) -> Vec<(Vec<u8>, Vec<u8>)> {
    kv.scan(column, &KeyRange::all(), 10_000).unwrap()
}

async fn commit_blocks<S: KvStore + ?Sized>(
    store: &mut ChainStore<S, QmdbState<deterministic::Context>>,
    heights: std::ops::RangeInclusive<u64>,
) -> Hash {
    let mut root = Hash::ZERO;
    for h in heights {
        let (b, r, d) = block(h);
        root = store.commit(&b, &r, &d).await.unwrap().root;
    }
    root
}

#[test]
fn a_flat_state_in_memory_reopens_from_its_checkpoints_and_the_redo_log() {
    deterministic::Runner::seeded(17).start(|ctx| async move {
        let kv = kv();
        let expected_root = {
            let (mut inline, _) = open(&ctx, &self::kv(), "inline").await.unwrap();
            inline.init_genesis(&genesis_delta()).await.unwrap();
            commit_blocks(&mut inline, 1..=100).await
        };
        {
            let (mut store, _) = open_memory(&ctx, &kv, 1_000).await.unwrap();
            assert!(store.flat_store().is_in_memory());
            assert!(store.hot_state().is_complete());
            store.init_genesis(&genesis_delta()).await.unwrap();
            assert_eq!(commit_blocks(&mut store, 1..=100).await, expected_root);
            assert_reads_are(&store, &model(true, 100));
        }
        // No row of the flat state in the store: a chunk per shard, and a redo log that keeps
        // only the blocks above the oldest chunk.
        assert!(rows(&kv, FLAT_STATE).is_empty());
        assert_eq!(rows(&kv, CHECKPOINTS).len(), SHARDS + 1);
        let logged = rows(&kv, DELTAS);
        assert!(
            logged.len() < 100 - SHARDS / 2,
            "{} deltas kept",
            logged.len()
        );
        assert_ne!(
            logged[0].0,
            0u64.to_be_bytes(),
            "genesis is no longer needed"
        );

        let (mut store, recovery) = open_memory(&ctx, &kv, 1_000).await.unwrap();
        assert_eq!(recovery.height, Height(100));
        assert!(store.flat_store().is_in_memory());
        assert!(store.hot_state().is_complete());
        assert_eq!(store.hot_state().len(), model(true, 100).len());
        // Reads never reach the store: a row planted behind its back is not seen.
        plant(&kv, b"k0");
        plant(&kv, b"k1");
        assert_reads_are(&store, &model(true, 100));
        commit_blocks(&mut store, 101..=110).await;
        assert_reads_are(&store, &model(true, 110));
    });
}

#[test]
fn a_crash_before_a_block_reaches_memory_is_repaired_from_the_redo_log() {
    deterministic::Runner::seeded(18).start(|ctx| async move {
        let kv = kv();
        {
            let (mut store, _) = open_memory(&ctx, &kv, 1_000).await.unwrap();
            commit_blocks(&mut store, 1..=70).await;
            first_write_only(&store, 71);
        }
        let (store, recovery) = open_memory(&ctx, &kv, 1_000).await.unwrap();
        assert_eq!(recovery.replayed, vec![Height(71)]);
        assert_eq!(store.state().root(), reference_roots(&ctx, 71).await[70]);
        assert!(store.flat_store().is_in_memory());
        assert_reads_are(&store, &model(false, 71));
    });
}

/// A run of transaction ids that cannot be written stops the commit, but only once the block's
/// state is in memory, where the next block's execution reads it.
#[test]
fn a_failed_index_run_stops_the_commit_with_the_state_applied() {
    deterministic::Runner::seeded(20).start(|ctx| async move {
        let kv = Arc::new(HookedStore::new(&super::columns()).before_ingest(|| Err(disk_full())));
        let state = QmdbState::open(ctx.child("state"), &config("main"))
            .await
            .unwrap();
        let (mut store, _) = ChainStore::open_with(
            kv.clone(),
            FlatLayout::Memory,
            Pruning::Archive,
            state,
            1_000,
        )
        .await
        .unwrap();
        store.blocks = store.blocks.clone().with_tx_index_run(1);
        let (b, r, d) = block(1);
        let failed = store.commit(&b, &r, &d).await;
        assert!(matches!(failed, Err(Error::Backend { .. })), "{failed:?}");
        assert_eq!(store.blocks().finalized().unwrap(), Some(Height(1)));
        assert_reads_are(&store, &model(false, 1));
    });
}

#[test]
fn a_state_that_outgrows_memory_moves_into_the_store() {
    deterministic::Runner::seeded(19).start(|ctx| async move {
        let kv = kv();
        {
            // One entry a shard: the test blocks' keys cannot all stay.
            crowding_seed(&kv, &model(false, 30));
            let (mut store, _) = open_memory(&ctx, &kv, SHARDS).await.unwrap();
            assert!(store.flat_store().is_in_memory());
            commit_blocks(&mut store, 1..=30).await;
            assert!(!store.flat_store().is_in_memory());
            assert_reads_are(&store, &model(false, 30));
        }
        assert!(rows(&kv, CHECKPOINTS).is_empty());
        assert_eq!(rows(&kv, FLAT_STATE).len(), model(false, 30).len());
        assert!(rows(&kv, DELTAS).len() <= REDO_DEPTH as usize);
        // From now on the store holds it, whatever the hot state could hold.
        let (mut store, _) = open_memory(&ctx, &kv, 1_000).await.unwrap();
        assert!(!store.flat_store().is_in_memory());
        assert!(store.hot_state().is_complete());
        commit_blocks(&mut store, 31..=35).await;
        assert_reads_are(&store, &model(false, 35));
        assert_flat_is(store.flat_store(), &model(false, 35));
    });
}

#[test]
fn a_state_in_memory_that_no_longer_fits_moves_into_the_store_on_open() {
    deterministic::Runner::seeded(20).start(|ctx| async move {
        let kv = kv();
        // Reopened with one entry a shard, the state cannot all stay.
        crowding_seed(&kv, &model(true, 81));
        {
            let (mut store, _) = open_memory(&ctx, &kv, 1_000).await.unwrap();
            store.init_genesis(&genesis_delta()).await.unwrap();
            commit_blocks(&mut store, 1..=80).await;
            first_write_only(&store, 81);
        }
        // Stale rows of an interrupted move are cleared before the move.
        plant(&kv, b"k0");
        let (mut store, recovery) = open_memory(&ctx, &kv, SHARDS).await.unwrap();
        assert_eq!(recovery.height, Height(81));
        assert!(!store.flat_store().is_in_memory());
        assert!(rows(&kv, CHECKPOINTS).is_empty());
        assert_flat_is(store.flat_store(), &model(true, 81));
        assert_reads_are(&store, &model(true, 81));
        commit_blocks(&mut store, 82..=84).await;
        assert_reads_are(&store, &model(true, 84));
        drop(store);
        let (store, _) = open_memory(&ctx, &kv, 1_000).await.unwrap();
        assert_reads_are(&store, &model(true, 84));
    });
}

#[test]
fn chunks_written_by_another_hash_are_all_written_again() {
    deterministic::Runner::seeded(21).start(|ctx| async move {
        let kv = kv();
        {
            let (mut store, _) = open_memory(&ctx, &kv, 1_000).await.unwrap();
            commit_blocks(&mut store, 1..=90).await;
        }
        // Two chunks that hold entries change places, as if another hash had placed them.
        let chunks: Vec<(Vec<u8>, Vec<u8>)> = rows(&kv, CHECKPOINTS)
            .into_iter()
            .filter(|(key, value)| key.len() == 1 && value.len() > 12)
            .collect();
        assert!(chunks.len() >= 2);
        let mut batch = WriteBatch::new();
        batch.put(CHECKPOINTS, chunks[0].0.clone(), chunks[1].1.clone());
        batch.put(CHECKPOINTS, chunks[1].0.clone(), chunks[0].1.clone());
        kv.write(batch, Durability::Durable).unwrap();

        let (mut store, _) = open_memory(&ctx, &kv, 1_000).await.unwrap();
        assert_reads_are(&store, &model(false, 90));
        let hot = store.hot_state();
        for (key, value) in rows(&kv, CHECKPOINTS) {
            if key.len() == 1 {
                checkpoint::for_each_in_chunk(&value, |entry, _| {
                    assert_eq!(hot.shard_of(entry), usize::from(key[0]));
                    true
                })
                .unwrap();
                assert_eq!(checkpoint::chunk_height(&value).unwrap(), Height(90));
            }
        }
        commit_blocks(&mut store, 91..=95).await;
        drop(store);
        let (store, _) = open_memory(&ctx, &kv, 1_000).await.unwrap();
        assert_reads_are(&store, &model(false, 95));
    });
}

#[test]
fn a_store_keeps_the_layout_it_was_created_with() {
    deterministic::Runner::seeded(22).start(|ctx| async move {
        let kv = kv();
        {
            let (mut store, _) = open_memory(&ctx, &kv, 1_000).await.unwrap();
            commit_blocks(&mut store, 1..=2).await;
        }
        // Opened asking for inline, it stays in memory: the layout is the store's.
        let (store, _) = open(&ctx, &kv, "main").await.unwrap();
        assert!(store.flat_store().is_in_memory());
        assert_reads_are(&store, &model(false, 2));
        drop(store);
        // And one created inline stays inline when memory is asked for.
        let inline = self::kv();
        {
            let (mut store, _) = open(&ctx, &inline, "inline").await.unwrap();
            commit_blocks(&mut store, 1..=2).await;
        }
        let state = QmdbState::open(ctx.child("again"), &config("inline"))
            .await
            .unwrap();
        let (store, _) = ChainStore::open_with(
            inline.clone(),
            FlatLayout::Memory,
            Pruning::Archive,
            state,
            1_000,
        )
        .await
        .unwrap();
        assert!(!store.flat_store().is_in_memory());
        assert_reads_are(&store, &model(false, 2));
        assert!(!rows(&inline, FLAT_STATE).is_empty());
    });
}

/// A block's batch that fails to be written changes nothing: neither the hot state nor the
/// checkpoints take the block, and the same block commits once the disk recovers.
#[test]
fn a_failed_block_batch_leaves_the_flat_state_as_it_was() {
    use std::sync::atomic::{AtomicBool, Ordering};
    deterministic::Runner::seeded(23).start(|ctx| async move {
        let failing = Arc::new(AtomicBool::new(false));
        let fails = failing.clone();
        let kv = Arc::new(HookedStore::new(&super::columns()).before_write(move || {
            match fails.load(Ordering::Acquire) {
                true => Err(disk_full()),
                false => Ok(()),
            }
        }));
        let state = QmdbState::open(ctx.child("state"), &config("main"))
            .await
            .unwrap();
        let (mut store, _) = ChainStore::open_with(
            kv.clone(),
            FlatLayout::Memory,
            Pruning::Archive,
            state,
            1_000,
        )
        .await
        .unwrap();
        commit_blocks(&mut store, 1..=3).await;
        let entries = store.hot_state().len();
        failing.store(true, Ordering::Release);
        let (b, r, d) = block(4);
        let failed = store.persister().persist(&b, &r, &d);
        assert!(matches!(failed, Err(Error::Backend { .. })), "{failed:?}");
        assert_eq!(store.blocks().finalized().unwrap(), Some(Height(3)));
        assert_eq!(store.hot_state().len(), entries);
        assert_reads_are(&store, &model(false, 3));
        failing.store(false, Ordering::Release);
        store.commit(&b, &r, &d).await.unwrap();
        assert_reads_are(&store, &model(false, 4));
        drop(store);
        let state = QmdbState::open(ctx.child("again"), &config("main"))
            .await
            .unwrap();
        let (store, _) = ChainStore::open_with(
            kv.clone(),
            FlatLayout::Memory,
            Pruning::Archive,
            state,
            1_000,
        )
        .await
        .unwrap();
        assert!(store.flat_store().is_in_memory());
        assert_reads_are(&store, &model(false, 4));
    });
}
