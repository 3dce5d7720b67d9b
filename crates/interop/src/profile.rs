//! Where a node's CPU goes: time spent in each stage of the block pipeline, counted per
//! process, for `lamina bench` and the metrics endpoint.
//!
//! ```text
//! stage         measured around
//! admission     each chunk of a SubmitTxs batch: decode, checks, batch verification, pool insert
//! build         selecting a block's transactions from the pool and sealing its header
//! pool          after each block: dropping its transactions from the pool, re-validating
//! execution     executing a finalized block, each parallel piece on the worker that ran it
//! merkleize     applying the block's delta to the authenticated state and committing it
//! persist       writing the block, receipts, redo log and flat state in one durable batch
//! ```
//!
//! CPU time is the thread's own (`CLOCK_THREAD_CPUTIME_ID`), so waiting on a lock, a channel
//! or the disk costs nothing. Measurements nest: a stage entered while another runs on the same
//! thread (a rayon worker stealing a job of another stage while it waits) pauses the outer one,
//! so every nanosecond of CPU is charged to exactly one stage. A stage's parallel pieces are
//! [`measure`]d on the workers that run them; its whole is a [`span`] (or [`metered`] future),
//! which also counts wall time: how long the pipeline spent in the stage.
//!
//! Each measurement costs two reads of the thread clock (a system call, well under a
//! microsecond), so stages are measured per chunk or per block, never per transaction.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;

/// A stage of the block pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Decoding, checking and verifying submitted transactions, and pooling them.
    Admission,
    /// Building a block from the pool.
    Build,
    /// Keeping the pool current after each block.
    Pool,
    /// Executing a finalized block.
    Execution,
    /// Updating and committing the authenticated state.
    Merkleize,
    /// The durable write of block, receipts, redo log and flat state.
    Persist,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 6] = [
        Stage::Admission,
        Stage::Build,
        Stage::Pool,
        Stage::Execution,
        Stage::Merkleize,
        Stage::Persist,
    ];

    /// Its name, as in reports.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Admission => "admission",
            Stage::Build => "build",
            Stage::Pool => "pool",
            Stage::Execution => "execution",
            Stage::Merkleize => "merkleize",
            Stage::Persist => "persist",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

static CPU_NANOS: [AtomicU64; Stage::ALL.len()] = [const { AtomicU64::new(0) }; Stage::ALL.len()];
static WALL_NANOS: [AtomicU64; Stage::ALL.len()] = [const { AtomicU64::new(0) }; Stage::ALL.len()];

/// Totals of one stage since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTotals {
    /// CPU time, summed over threads.
    pub cpu: Duration,
    /// Wall time of its spans.
    pub wall: Duration,
}

/// Every stage's totals, indexed like [`Stage::ALL`].
pub fn totals() -> [StageTotals; Stage::ALL.len()] {
    Stage::ALL.map(|stage| StageTotals {
        cpu: Duration::from_nanos(CPU_NANOS[stage.index()].load(Ordering::Relaxed)),
        wall: Duration::from_nanos(WALL_NANOS[stage.index()].load(Ordering::Relaxed)),
    })
}

thread_local! {
    /// The stage running on this thread and the thread's CPU time when it last resumed.
    static CURRENT: Cell<Option<(Stage, Duration)>> = const { Cell::new(None) };
}

fn charge(stage: Stage, since: Duration, now: Duration) {
    let nanos = now.saturating_sub(since).as_nanos() as u64;
    CPU_NANOS[stage.index()].fetch_add(nanos, Ordering::Relaxed);
}

fn thread_cpu() -> Duration {
    ThreadTime::try_now()
        .map(|t| t.as_duration())
        .unwrap_or_default()
}

/// Runs `work`, charging its CPU on this thread to `stage`.
pub fn measure<T>(stage: Stage, work: impl FnOnce() -> T) -> T {
    let outer = CURRENT.with(Cell::get);
    let start = thread_cpu();
    if let Some((outer_stage, since)) = outer {
        charge(outer_stage, since, start);
    }
    CURRENT.with(|c| c.set(Some((stage, start))));
    let result = work();
    let end = thread_cpu();
    // The inner measurements paused this one and resumed it: charge from the last resume.
    if let Some((_, since)) = CURRENT.with(Cell::get) {
        charge(stage, since, end);
    }
    CURRENT.with(|c| c.set(outer.map(|(s, _)| (s, end))));
    result
}

/// Runs `work`, one whole pass of `stage` (a block executed, a batch admitted): charges its
/// CPU on this thread and its wall time to `stage`.
pub fn span<T>(stage: Stage, work: impl FnOnce() -> T) -> T {
    let wall = Instant::now();
    let result = measure(stage, work);
    WALL_NANOS[stage.index()].fetch_add(wall.elapsed().as_nanos() as u64, Ordering::Relaxed);
    result
}

/// `future`, with the CPU of each of its polls charged to `stage`, and the wall time from its
/// first poll to its completion.
pub fn metered<F: Future>(stage: Stage, future: F) -> Metered<F> {
    Metered {
        stage,
        started: None,
        future: Box::pin(future),
    }
}

/// A future whose polls are measured; see [`metered`].
pub struct Metered<F> {
    stage: Stage,
    started: Option<Instant>,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let started = *this.started.get_or_insert_with(Instant::now);
        let stage = this.stage;
        let future = &mut this.future;
        let poll = measure(stage, || future.as_mut().poll(cx));
        if poll.is_ready() {
            WALL_NANOS[stage.index()]
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(d: Duration) {
        let start = ThreadTime::now();
        while start.elapsed() < d {
            std::hint::black_box(0u64);
        }
    }

    // The counters are process-wide and tests run in parallel, so each test uses stages that
    // no other test of this module touches, and checks lower bounds and its own increments.
    #[test]
    fn nested_stages_split_the_cpu_between_them() {
        let before = totals();
        span(Stage::Build, || {
            spin(Duration::from_millis(20));
            measure(Stage::Persist, || spin(Duration::from_millis(30)));
            spin(Duration::from_millis(20));
        });
        let after = totals();
        let build = after[1].cpu - before[1].cpu;
        let persist = after[5].cpu - before[5].cpu;
        assert!(build >= Duration::from_millis(40), "{build:?}");
        assert!(
            build < Duration::from_millis(65),
            "inner time not charged out: {build:?}"
        );
        assert!(persist >= Duration::from_millis(30), "{persist:?}");
        let build_wall = after[1].wall - before[1].wall;
        assert!(build_wall >= Duration::from_millis(70), "{build_wall:?}");
    }

    #[test]
    fn a_metered_future_charges_its_polls_only() {
        let before = totals();
        let future = metered(Stage::Merkleize, async {
            spin(Duration::from_millis(25));
            futures::future::ready(()).await;
            7
        });
        assert_eq!(futures::executor::block_on(future), 7);
        // Work outside the future is not charged.
        spin(Duration::from_millis(25));
        let after = totals();
        let cpu = after[4].cpu - before[4].cpu;
        assert!(cpu >= Duration::from_millis(25), "{cpu:?}");
        assert!(cpu < Duration::from_millis(45), "{cpu:?}");
    }
}
