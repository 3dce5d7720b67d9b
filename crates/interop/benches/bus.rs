//! Bus throughput: command round trips and event deliveries per second on one core, with
//! payload batches of 1 and 10,000 items.
//!
//! Everything runs on a single-threaded tokio runtime, so the figures are per core. The
//! baseline `bus::raw_roundtrip` does the same exchange over the bare channels the bus is
//! built on (a bounded async channel and a oneshot), and the summary printed at the end
//! reports the bus's cost against the 2 µs round-trip limit and against that baseline, both
//! measured in the same run.
//!
//! `cargo bench -p lamina-interop --bench bus`

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use futures::channel::oneshot;
use lamina_interop::bus::{Bus, BusConfig, Command, Event, Message, Overflow, Requester};
use std::sync::Arc;

/// A command that carries a batch and gets it back, so the loop allocates nothing.
struct Echo(Vec<u64>);

impl Message for Echo {
    const NAME: &'static str = "Echo";
    fn items(&self) -> usize {
        self.0.len()
    }
}

impl Command for Echo {
    type Reply = Vec<u64>;
}

#[derive(Clone)]
struct Announce(Arc<Vec<u64>>);

impl Message for Announce {
    const NAME: &'static str = "Announce";
    fn items(&self) -> usize {
        self.0.len()
    }
}

impl Event for Announce {}

const LIMIT_NS: f64 = 2_000.0;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// A bus with an echo handler spawned on `rt`.
fn echo_bus(rt: &tokio::runtime::Runtime) -> (Bus, Requester<Echo>) {
    let bus = Bus::new(BusConfig::default()).unwrap();
    let inbox = bus.handle::<Echo>().unwrap();
    rt.spawn(async move {
        while let Some(request) = inbox.recv().await {
            let Echo(batch) = request.command;
            let _ = request.responder.send(batch);
        }
    });
    let requester = bus.requester::<Echo>();
    bus.check_wiring().unwrap();
    (bus, requester)
}

fn bus_roundtrips(
    rt: &tokio::runtime::Runtime,
    requester: &Requester<Echo>,
    batch: usize,
    iters: u64,
) -> Duration {
    rt.block_on(async {
        let mut payload = vec![0u64; batch];
        let start = Instant::now();
        for _ in 0..iters {
            payload = requester.request(Echo(payload)).await.unwrap();
        }
        start.elapsed()
    })
}

type RawRequest = (Vec<u64>, oneshot::Sender<Vec<u64>>);

/// The same exchange over the bare channels, without the bus.
fn raw_channels(rt: &tokio::runtime::Runtime) -> async_channel::Sender<RawRequest> {
    let (tx, rx) = async_channel::bounded::<RawRequest>(1024);
    rt.spawn(async move {
        while let Ok((batch, reply)) = rx.recv().await {
            let _ = reply.send(batch);
        }
    });
    tx
}

fn raw_roundtrips(
    rt: &tokio::runtime::Runtime,
    tx: &async_channel::Sender<RawRequest>,
    batch: usize,
    iters: u64,
) -> Duration {
    rt.block_on(async {
        let mut payload = vec![0u64; batch];
        let start = Instant::now();
        for _ in 0..iters {
            let (reply_tx, reply_rx) = oneshot::channel();
            tx.send((payload, reply_tx)).await.unwrap();
            payload = reply_rx.await.unwrap();
        }
        start.elapsed()
    })
}

fn event_deliveries(
    rt: &tokio::runtime::Runtime,
    subscribers: usize,
    batch: usize,
    iters: u64,
) -> Duration {
    let bus = Bus::new(BusConfig::default()).unwrap();
    let mut subs: Vec<_> = (0..subscribers)
        .map(|_| {
            bus.subscribe_with::<Announce>(1024, Overflow::Backpressure)
                .unwrap()
        })
        .collect();
    let publisher = bus.publisher::<Announce>();
    let payload = Announce(Arc::new(vec![0u64; batch]));
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            publisher.publish(payload.clone()).await.unwrap();
            for sub in &mut subs {
                sub.recv().await.unwrap();
            }
        }
        start.elapsed()
    })
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let (_bus, requester) = echo_bus(&rt);
    let raw = raw_channels(&rt);

    let mut group = c.benchmark_group("bus::command_roundtrip");
    for batch in [1usize, 10_000] {
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::from_parameter(format!("batch={batch}")), |b| {
            b.iter_custom(|iters| bus_roundtrips(&rt, &requester, batch, iters))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("bus::raw_roundtrip");
    group.throughput(Throughput::Elements(1));
    group.bench_function("batch=1", |b| {
        b.iter_custom(|iters| raw_roundtrips(&rt, &raw, 1, iters))
    });
    group.finish();

    let mut group = c.benchmark_group("bus::event_delivery");
    for (subscribers, batch) in [(1usize, 1usize), (1, 10_000), (4, 1)] {
        group.throughput(Throughput::Elements(subscribers as u64));
        let id = format!("subscribers={subscribers},batch={batch}");
        group.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter_custom(|iters| event_deliveries(&rt, subscribers, batch, iters))
        });
    }
    group.finish();
}

/// Best of several runs of `iters` operations, in nanoseconds per operation.
fn best_ns(mut run: impl FnMut(u64) -> Duration) -> f64 {
    const ITERS: u64 = 200_000;
    run(ITERS / 10);
    (0..5)
        .map(|_| run(ITERS).as_nanos() as f64 / ITERS as f64)
        .fold(f64::INFINITY, f64::min)
}

fn summary() {
    let rt = runtime();
    let (_bus, requester) = echo_bus(&rt);
    let raw = raw_channels(&rt);
    let raw_ns = best_ns(|n| raw_roundtrips(&rt, &raw, 1, n));
    println!("\nbus summary (one core, best of 5 x 200k)");
    println!(
        "{:<48} {:>10} {:>14} {:>12} {:>10}",
        "operation", "ns/op", "ops/s", "items/s", "vs limit"
    );
    for batch in [1usize, 10_000] {
        let ns = best_ns(|n| bus_roundtrips(&rt, &requester, batch, n));
        println!(
            "{:<48} {:>10.0} {:>14.0} {:>12.3e} {:>9.2}x",
            format!("bus::command_roundtrip/batch={batch}"),
            ns,
            1e9 / ns,
            1e9 / ns * batch as f64,
            ns / LIMIT_NS
        );
        if batch == 1 {
            println!(
                "{:<48} {:>10.0} {:>14.0} {:>12} {:>10}",
                "bus::raw_roundtrip/batch=1",
                raw_ns,
                1e9 / raw_ns,
                "",
                ""
            );
            println!(
                "  bus round trip / raw channel round trip = {:.2}",
                ns / raw_ns
            );
        }
    }
    for (subscribers, batch) in [(1usize, 1usize), (1, 10_000), (4, 1)] {
        let ns = best_ns(|n| event_deliveries(&rt, subscribers, batch, n)) / subscribers as f64;
        println!(
            "{:<48} {:>10.0} {:>14.0} {:>12.3e} {:>10}",
            format!("bus::event_delivery/subscribers={subscribers},batch={batch}"),
            ns,
            1e9 / ns,
            1e9 / ns * batch as f64,
            "per delivery"
        );
    }
    println!("limit: a command round trip costs at most {LIMIT_NS:.0} ns (ratio <= 1.00x passes)");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let summary_only = args.iter().any(|a| a == "--summary");
    if !summary_only {
        let mut c = Criterion::default().configure_from_args();
        benches(&mut c);
        c.final_summary();
    }
    if !args.iter().any(|a| a == "--list" || a == "--test") {
        summary();
    }
}
