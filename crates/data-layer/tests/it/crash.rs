//! Crash safety with real processes: a child commits blocks in a loop and is killed with
//! SIGKILL at random moments; after each kill the parent reopens the stores and checks that
//! nothing acknowledged was lost.
//!
//! The child is this test binary run again with `LAMINA_CRASH_DIR` set. It prints
//! `ACK <height> <root>` after each commit returns, that is, once the commit is durable.
//! After each kill the parent checks:
//!
//! - the recovered height is the last acknowledged one, or one more (a commit that finished,
//!   or was repaired from the redo log, before its acknowledgement was printed);
//! - the root recorded for every acknowledged height is the one acknowledged;
//! - the state's values equal a model built from the same deterministic inputs.
//!
//! At the end, a fresh state replaying every input must reach the final root.
//!
//! Normal run: 100 kills per backend (fjall with the flat state in memory, the default; fjall
//! with it inline in the LSM tree; redb, and rocksdb with the `rocksdb` feature, both with it
//! in memory).
//! Longer run:
//! `LAMINA_CRASH_KILLS=2000 cargo test -p lamina-data-layer --test it crash -- --nocapture`

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use commonware_runtime::{Runner as _, Supervisor as _};
use lamina_data_layer::kv::{FjallStore, KvStore, RedbStore};
use lamina_data_layer::state::{AuthenticatedState as _, QmdbState, StateConfig};
use lamina_data_layer::{ChainStore, FlatLayout, FlatState, Pruning, DEFAULT_HOT_ENTRIES};
use lamina_interop::block::{
    tx_root, Block, Header, Outcome, RawTx, Receipt, StateChange, StateDelta,
};
use lamina_interop::codec::BoundedVec;
use lamina_interop::module::StateView as _;
use lamina_interop::{Address, ChainId, Hash, Height, Timestamp};

const KEYS: u64 = 64;

/// The inputs of block `height`: deterministic, so parent and child agree on them.
fn inputs(height: u64) -> (Block, Vec<Receipt>, StateDelta) {
    let txs: Vec<RawTx> = (0..2)
        .map(|i| RawTx::try_from_vec(format!("tx {height}/{i}").into_bytes()).unwrap())
        .collect();
    let txs = BoundedVec::try_from_vec(txs).unwrap();
    let header = Header {
        chain_id: ChainId(7),
        height: Height(height),
        parent: Hash::ZERO,
        timestamp: Timestamp(height),
        proposer: Address([3; 32]),
        tx_root: tx_root(txs.iter()),
        tx_count: 2,
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
    let mut changes: Vec<StateChange> = (0..8)
        .map(|i| StateChange {
            key: format!("key{}", (height * 13 + i * 7) % KEYS).into_bytes(),
            value: Some(format!("{height}:{i}").into_bytes()),
        })
        .collect();
    changes.push(StateChange {
        key: format!("key{}", (height * 5) % KEYS).into_bytes(),
        value: None,
    });
    (
        Block { header, txs },
        receipts,
        StateDelta::from_changes(changes),
    )
}

fn model(up_to: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut state = BTreeMap::new();
    for h in 1..=up_to {
        for change in inputs(h).2.changes() {
            match &change.value {
                Some(v) => state.insert(change.key.clone(), v.clone()),
                None => state.remove(&change.key),
            };
        }
    }
    state
}

fn open_kv(backend: &str, dir: &Path) -> Arc<dyn KvStore> {
    let columns = lamina_data_layer::commit::columns();
    match backend {
        "fjall" | "fjall-inline" => {
            Arc::new(FjallStore::open(&dir.join("kv-fjall"), &columns).unwrap())
        }
        "redb" => Arc::new(RedbStore::open(&dir.join("kv.redb"), &columns).unwrap()),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Arc::new(
            lamina_data_layer::kv::RocksStore::open(&dir.join("kv-rocksdb"), &columns).unwrap(),
        ),
        other => panic!("unknown backend {other}"),
    }
}

/// The layout of a new store: inline for `fjall-inline`, else in memory with its
/// checkpoints in the chain's store.
fn layout(backend: &str) -> FlatLayout {
    match backend {
        "fjall-inline" => FlatLayout::Inline,
        _ => FlatLayout::Memory,
    }
}

/// Opens the chain's stores in `dir` as `backend` lays them out.
async fn open_store(
    ctx: &commonware_runtime::tokio::Context,
    backend: &str,
    dir: &Path,
) -> ChainStore<dyn KvStore, QmdbState<commonware_runtime::tokio::Context>> {
    let kv = open_kv(backend, dir);
    let state = QmdbState::open(ctx.child("state"), &state_config())
        .await
        .unwrap();
    let (store, _) = ChainStore::open_with(
        kv,
        layout(backend),
        Pruning::Archive,
        state,
        DEFAULT_HOT_ENTRIES,
    )
    .await
    .unwrap();
    store
}

fn runner(dir: &Path) -> commonware_runtime::tokio::Runner {
    commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new().with_storage_directory(dir.join("state")),
    )
}

fn state_config() -> StateConfig {
    StateConfig {
        cache_pages: 256,
        parallelism: 1,
        prune_every: 8,
        ..StateConfig::default()
    }
}

/// The child: recover, then commit blocks until killed (or a bound is reached).
#[test]
#[ignore = "run by crash_safety_under_sigkill as a child process"]
fn crash_child() {
    let Ok(dir) = std::env::var("LAMINA_CRASH_DIR") else {
        return;
    };
    let backend = std::env::var("LAMINA_CRASH_BACKEND").unwrap();
    let dir = PathBuf::from(dir);
    runner(&dir).start(|ctx| async move {
        let mut store = open_store(&ctx, &backend, &dir).await;
        let mut out = std::io::stdout().lock();
        writeln!(out, "READY {}", store.height().0).unwrap();
        out.flush().unwrap();
        for h in store.height().0 + 1..=100_000 {
            let (block, receipts, delta) = inputs(h);
            let committed = store.commit(&block, &receipts, &delta).await.unwrap();
            writeln!(out, "ACK {} {}", h, committed.root).unwrap();
            out.flush().unwrap();
        }
    });
}

/// Opens the stores in this process and checks them against what the child acknowledged.
fn verify(
    backend: &str,
    dir: &Path,
    acked: &BTreeMap<u64, String>,
    last_acked: u64,
) -> (u64, Hash) {
    let acked = acked.clone();
    let backend = backend.to_string();
    let dir = dir.to_path_buf();
    runner(&dir.clone()).start(|ctx| async move {
        let store = open_store(&ctx, &backend, &dir).await;
        // In stores, a hot state of its own, empty: the stores answer every read. In memory,
        // the store's hot state, loaded from the checkpoints and the redo log.
        let in_memory = store.flat_store().is_in_memory();
        assert_eq!(
            in_memory,
            !backend.starts_with("fjall-"),
            "{backend}: layout"
        );
        let hot = if in_memory {
            store.hot_state()
        } else {
            Arc::new(lamina_data_layer::HotState::new(0))
        };
        let flat = FlatState::over(store.flat_store(), hot);
        let height = store.height().0;
        assert!(
            height == last_acked || height == last_acked + 1,
            "{backend}: recovered height {height}, last acknowledged {last_acked}"
        );
        for (h, root) in &acked {
            let recorded = store.root_at(Height(*h)).unwrap().map(|r| r.to_string());
            assert_eq!(
                recorded.as_ref(),
                Some(root),
                "{backend}: root of acknowledged height {h}"
            );
        }
        // Both the authenticated state and the flat state hold exactly the model.
        let model = model(height);
        for k in 0..KEYS {
            let key = format!("key{k}").into_bytes();
            let expected = model.get(&key).cloned();
            assert_eq!(
                store.state().get(&key).await.unwrap(),
                expected,
                "{backend}: {k}"
            );
            assert_eq!(flat.get(&key).unwrap(), expected, "{backend}: flat {k}");
        }
        assert!(store.blocks().block(Height(height)).unwrap().is_some() || height == 0);
        (height, store.state().root())
    })
}

/// Replays every input up to `height` into a fresh state.
fn replay_root(height: u64) -> Hash {
    commonware_runtime::deterministic::Runner::seeded(0).start(|ctx| async move {
        let mut state = QmdbState::open(ctx.child("state"), &state_config())
            .await
            .unwrap();
        for h in 1..=height {
            state
                .commit(Height(h), inputs(h).2.changes())
                .await
                .unwrap();
        }
        state.root()
    })
}

fn run_backend(backend: &str, kills: usize, seed: u64) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut rng = seed;
    let mut last_acked = 0;
    let mut final_state = (0, Hash::ZERO);
    for _ in 0..kills {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash::crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("LAMINA_CRASH_DIR", dir.path())
            .env("LAMINA_CRASH_BACKEND", backend)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // splitmix64 picks the moment of the kill. One kill in four lands anywhere from the
        // start (often during start-up and recovery); the others land 0 to 25 ms into
        // committing, after the child reports it is ready.
        rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let mut lines = Vec::new();
        if !z.is_multiple_of(4) {
            // The harness prints the test's name without a newline, so READY may share a line.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let line = lines_rx
                    .recv_timeout(left)
                    .expect("the child reports READY within 30 s");
                let ready = line.contains("READY");
                lines.push(line);
                if ready {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis((z >> 8) % 25));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(lines_rx.try_iter());
        for line in lines {
            let mut parts = line.split_whitespace();
            if parts.next() == Some("ACK") {
                let h: u64 = parts.next().unwrap().parse().unwrap();
                acked.insert(h, parts.next().unwrap().to_string());
                last_acked = last_acked.max(h);
            }
        }
        final_state = verify(backend, dir.path(), &acked, last_acked);
        // Whatever recovery completed is now the base the next child continues from.
        last_acked = final_state.0;
    }
    assert_eq!(
        final_state.1,
        replay_root(final_state.0),
        "{backend}: final root differs from a replay"
    );
    println!(
        "{backend}: {kills} kills, {} commits acknowledged, final height {}",
        acked.len(),
        final_state.0
    );
    kills
}

#[test]
fn crash_safety_under_sigkill() {
    if std::env::var("LAMINA_CRASH_DIR").is_ok() {
        return;
    }
    let kills: usize = std::env::var("LAMINA_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let mut backends = vec![("fjall", 1), ("fjall-inline", 5), ("redb", 2)];
    if cfg!(feature = "rocksdb") {
        backends.push(("rocksdb", 3));
    }
    let total: usize = backends
        .iter()
        .map(|(backend, seed)| run_backend(backend, kills, *seed))
        .sum();
    assert_eq!(total, backends.len() * kills);
}
