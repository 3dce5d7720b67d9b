//! Block execution when transactions contend: blocks of swaps over `pools` pools, each swap's
//! pool drawn by a Zipf law of exponent `zipf` (0: uniform; 1: the first pool takes about a
//! thirteenth of the swaps at 1,024 pools, and all of them at one pool), each from a trader
//! of its own (so only the pools conflict): sequential; parallel (the pipeline's mode, which
//! goes by the conflict graph only where that promises to be faster) on one thread and on
//! all; and by the graph on all threads whatever it promises.
//! No signatures or persistence: execution over an in-memory snapshot, as
//! `lamina-agreement`'s `execute` bench does for transfers.
//!
//! - `contention/pools=P,zipf=S,mode=M,threads=T` (criterion).
//! - The sweep's table (pools 1, 8, 64, 1,024; Zipf 1.0 and 0.0), microseconds per
//!   transaction and the parallel speedup, for the book, with the ceiling measured in the
//!   same run (every thread running whole blocks in order at once: no scheduler can beat
//!   it, so a speed-up reads against what the machine gives that moment):
//!   `cargo bench -p lamina-app --bench contention -- --summary [--blocks N] [--point P,Z]`

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

// The node's allocator (the application layer may not depend on `lamina-alloc`, so without
// its purge delay).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use lamina_agreement::modules::bank::{AssetGenesis, AssetInfo, Bank, BankGenesis};
use lamina_agreement::testing::{env, TestChain};
use lamina_agreement::{
    execute_block, Mode, Runtime, RuntimeConfig, SignedTx, UnsignedTx, VerifiedTx,
};
use lamina_app::dex::{Dex, DexCall, DexGenesis, GenesisPool};
use lamina_interop::block::Outcome;
use lamina_interop::codec::{self, BoundedBytes};
use lamina_interop::crypto::{PublicKey, Signature};
use lamina_interop::module::{Amount, Module as _};
use lamina_interop::{Address, ChainId};

/// Swaps per block.
const PER_BLOCK: usize = 10_000;
/// The quote asset every pool trades against.
const USD: u32 = 1;
const E18: u128 = 1_000_000_000_000_000_000;
const GAS: u64 = 2_000_000;

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The asset pool `i` trades against USD.
fn asset(pool: usize) -> u32 {
    USD + 1 + pool as u32
}

/// An account whose key is `i` in its first bytes: execution checks no signature.
fn account(i: u64) -> (PublicKey, Address) {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&i.to_le_bytes());
    k[31] = 1;
    let key = PublicKey(k);
    (key, Address::of(&key))
}

/// Pool indices drawn by a Zipf law of exponent `zipf` over `pools`, from `seed`.
fn zipf_draws(pools: usize, zipf: f64, n: usize, seed: u64) -> Vec<usize> {
    let weights: Vec<f64> = (1..=pools).map(|k| 1.0 / (k as f64).powf(zipf)).collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = Vec::with_capacity(pools);
    let mut sum = 0.0;
    for w in &weights {
        sum += w / total;
        cumulative.push(sum);
    }
    (0..n)
        .map(|i| {
            let u = (mix(seed ^ (i as u64).wrapping_mul(0x2545_f491)) >> 11) as f64
                / (1u64 << 53) as f64;
            cumulative.partition_point(|c| *c < u).min(pools - 1)
        })
        .collect()
}

struct World {
    chain: TestChain,
    block: Vec<VerifiedTx>,
}

impl World {
    fn new(pools: usize, zipf: f64) -> World {
        let runtime = Runtime::builder(RuntimeConfig::new(ChainId(1)))
            .module(Dex::new(Bank))
            .build()
            .unwrap();
        let (_, provider) = account(u64::MAX);
        let traders: Vec<(PublicKey, Address)> = (0..PER_BLOCK as u64).map(account).collect();
        let liquidity = 1_000_000_000 * E18;
        let holder = |a: Address, n: u128| (a, Amount(n));
        let mut bank = BankGenesis::native(
            traders
                .iter()
                .map(|(_, a)| (*a, 1_000 * E18))
                .chain([(provider, 1_000 * E18)]),
        );
        let info = |id: u32| AssetInfo {
            symbol: format!("T{id}"),
            decimals: 18,
        };
        let mut usd: Vec<(Address, Amount)> = traders
            .iter()
            .map(|(_, a)| holder(*a, 1_000_000 * E18))
            .collect();
        usd.push(holder(provider, liquidity * pools as u128));
        bank.assets.push(AssetGenesis {
            id: USD,
            info: info(USD),
            balances: usd,
            minters: Vec::new(),
        });
        for pool in 0..pools {
            bank.assets.push(AssetGenesis {
                id: asset(pool),
                info: info(asset(pool)),
                balances: vec![holder(provider, liquidity)],
                minters: Vec::new(),
            });
        }
        let dex = DexGenesis {
            fee_bps: 30,
            pools: (0..pools)
                .map(|pool| GenesisPool {
                    asset_a: asset(pool),
                    asset_b: USD,
                    amount_a: liquidity,
                    amount_b: liquidity,
                    provider,
                })
                .collect(),
        };
        let sections = BTreeMap::from([
            ("bank".to_string(), bank.to_section()),
            ("dex".to_string(), serde_json::to_value(dex).unwrap()),
        ]);
        let chain = TestChain::new(runtime, &sections).unwrap();
        let runtime = chain.runtime();
        let module = runtime.module_index(Dex::<Bank>::NAME).unwrap();
        let max_fee = runtime.required_fee(GAS, 0).unwrap();
        let block = zipf_draws(pools, zipf, PER_BLOCK, 7)
            .into_iter()
            .zip(&traders)
            .map(|(pool, (key, _))| {
                let call = DexCall::SwapExactIn {
                    path: vec![USD, asset(pool)],
                    amount_in: 1_000 * E18,
                    min_out: 0,
                    deadline_ms: None,
                };
                VerifiedTx::assume_verified(SignedTx {
                    body: UnsignedTx {
                        chain_id: ChainId(1),
                        sender: *key,
                        nonce: 0,
                        max_fee,
                        tip: 0,
                        gas_limit: GAS,
                        module,
                        call: BoundedBytes::try_from_vec(codec::encode(&call)).unwrap(),
                    },
                    signature: Signature([0; 64]),
                })
            })
            .collect();
        let world = World { chain, block };
        // Every swap must succeed, or the bench measures failures.
        let output = world.execute(Mode::Sequential);
        let failed = output
            .receipts
            .iter()
            .filter(|r| r.outcome != Outcome::Success)
            .count();
        assert_eq!(failed, 0, "{failed} swaps failed: {:?}", output.receipts[0]);
        world
    }

    fn execute(&self, mode: Mode) -> lamina_agreement::BlockOutput {
        let env = env(ChainId(1), 1, Address([0; 32]));
        execute_block(
            self.chain.runtime(),
            &env,
            &self.block,
            self.chain.state(),
            mode,
        )
        .unwrap()
    }

    /// The time of `blocks` executions of the block in `mode` on `threads` threads.
    fn run(&self, blocks: u64, mode: Mode, threads: usize) -> Duration {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let start = Instant::now();
            for _ in 0..blocks {
                std::hint::black_box(self.execute(mode));
            }
            start.elapsed()
        })
    }
}

const POOLS: [usize; 4] = [1, 8, 64, 1024];
const ZIPFS: [f64; 2] = [1.0, 0.0];

fn modes() -> Vec<(&'static str, Mode, usize)> {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut modes = vec![
        ("sequential", Mode::Sequential, 1),
        ("parallel", Mode::Parallel, 1),
    ];
    if all > 1 {
        modes.push(("parallel", Mode::Parallel, all));
    }
    modes.push(("graph", Mode::Graph, all));
    modes
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("contention");
    group.throughput(Throughput::Elements(PER_BLOCK as u64));
    group.sample_size(10);
    for pools in POOLS {
        for zipf in ZIPFS {
            let world = World::new(pools, zipf);
            for (name, mode, threads) in modes() {
                group.bench_function(
                    BenchmarkId::from_parameter(format!(
                        "pools={pools},zipf={zipf:.1},mode={name},threads={threads}"
                    )),
                    |b| b.iter_custom(|iters| world.run(iters, mode, threads)),
                );
            }
        }
    }
    group.finish();
}

/// The most `threads` threads can give: each runs `blocks` whole blocks in order at the
/// same time (sharing only the read-only snapshot and runtime); the wall time. Sequential
/// time over this is the ceiling of any scheduler's speed-up at that moment.
fn ceiling(world: &World, blocks: u64, threads: usize) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..blocks {
                    std::hint::black_box(world.execute(Mode::Sequential));
                }
            });
        }
    });
    start.elapsed() / threads as u32
}

/// Rounds of each measurement: the modes take turns within a round, so a slow spell of a
/// shared machine falls on all of them, and each keeps its best round.
const ROUNDS: usize = 5;

fn summary(blocks: u64, only: Option<(usize, f64)>) {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\nblocks of {PER_BLOCK} swaps, one trader each; best of {ROUNDS} rounds of {blocks} blocks, the modes in turn; µs per transaction\n"
    );
    println!(
        "| pools | Zipf | sequential | parallel, 1 thread | parallel, {all} threads | graph, {all} threads | parallel x sequential, 1 thread | parallel x sequential, {all} threads | graph x sequential, {all} threads | ceiling, {all} threads |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for pools in POOLS {
        for zipf in ZIPFS {
            if only.is_some_and(|(p, z)| p != pools || z != zipf) {
                continue;
            }
            let world = World::new(pools, zipf);
            let measures: [&dyn Fn() -> Duration; 5] = [
                &|| world.run(blocks, Mode::Sequential, 1),
                &|| world.run(blocks, Mode::Parallel, 1),
                &|| world.run(blocks, Mode::Parallel, all),
                &|| world.run(blocks, Mode::Graph, all),
                &|| ceiling(&world, blocks, all),
            ];
            let mut best = [f64::INFINITY; 5];
            for round in 0..=ROUNDS {
                for (best, measure) in best.iter_mut().zip(&measures) {
                    let seconds = measure().as_secs_f64();
                    // Round 0 warms up.
                    if round > 0 {
                        *best = best.min(seconds);
                    }
                }
            }
            let [sequential, one, many, graph, ceiling] =
                best.map(|s| s * 1e6 / (blocks as f64 * PER_BLOCK as f64));
            println!(
                "| {pools} | {zipf:.1} | {sequential:.2} | {one:.2} | {many:.2} | {graph:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                sequential / one,
                sequential / many,
                sequential / graph,
                sequential / ceiling
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--summary") {
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
        };
        let blocks = value("--blocks").and_then(|a| a.parse().ok()).unwrap_or(3);
        // `--point P,Z`: one point of the sweep (pools P, Zipf Z), for profiling.
        let only = value("--point").and_then(|a| {
            let (p, z) = a.split_once(',')?;
            Some((p.parse().ok()?, z.parse().ok()?))
        });
        summary(blocks, only);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
