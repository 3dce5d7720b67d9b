//! `--rate R` and `--rate sweep`: open-loop load, and latency against throughput.
//!
//! ```text
//! --rate R      batch i of b transfers is due at start + i*b/R; a submitter sleeps until
//!               then and sends it, whatever the chain has committed (no window), and each
//!               followed transfer's latency counts from the time it was due: a chain that
//!               falls behind shows as latency, not as a slower offer
//! --rate sweep  R = 500, 750, 1125, ... (x 1.5), a new chain for each step, R x 10 s of
//!               transfers each, until p99 passes 2 s or the chain refuses more than 1% of
//!               what was offered (that step is reported too); prints the curve and, with
//!               --plot, draws p50 and p99 against committed throughput
//! ```
//!
//! The chain runs as node processes, loaded over JSON-RPC: `--validators 1` is one process of
//! a solo chain, `--validators N` that many of a BFT chain, `--rpc URL` a running node.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde::Serialize;

use super::{network, plot, remote, BenchArgs, Report};

/// What `--rate` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rate {
    /// Transactions offered per second.
    PerSecond(u32),
    /// Step the rate up until latency or loss breaks the bound.
    Sweep,
}

/// Parses `--rate`: a positive number of transactions per second, or `sweep`.
pub(crate) fn parse(text: &str) -> Result<Rate, String> {
    if text == "sweep" {
        return Ok(Rate::Sweep);
    }
    match text.parse::<u32>() {
        Ok(0) | Err(_) => Err(format!(
            "{text:?} is neither a rate of at least 1 transaction per second nor `sweep`"
        )),
        Ok(rate) => Ok(Rate::PerSecond(rate)),
    }
}

/// The sweep's first offered rate, per second.
const FIRST_RATE: u32 = 500;
/// Each step offers this many seconds of load.
const STEP_SECONDS: u32 = 10;
/// Most steps.
const MOST_STEPS: usize = 14;
/// The latency bound: a step whose p99 passes it ends the sweep.
pub(crate) const P99_BOUND_MS: f64 = 2_000.0;
/// The loss bound: a step whose chain refused more than this share of the offer ends it.
pub(crate) const LOSS_BOUND: f64 = 0.01;

/// One step of a sweep.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Point {
    /// Offered, per second.
    pub(crate) offered: u32,
    /// Committed, per second, from the first submission to the last commit.
    pub(crate) tps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) committed: u64,
    pub(crate) rejected: u64,
}

impl Point {
    fn of(offered: u32, report: &Report) -> Point {
        Point {
            offered,
            tps: report.tps,
            p50_ms: report.latency_ms.p50,
            p99_ms: report.latency_ms.p99,
            committed: report.committed,
            rejected: report.rejected,
        }
    }

    /// Whether this step broke the latency or the loss bound.
    fn broke(&self) -> bool {
        let offered = (self.committed + self.rejected).max(1) as f64;
        self.p99_ms > P99_BOUND_MS || self.rejected as f64 / offered > LOSS_BOUND
    }
}

/// What `--rate sweep` reports.
#[derive(Debug, Serialize)]
pub(crate) struct Sweep {
    pub(crate) validators: u32,
    /// The node loaded with `--rpc`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<String>,
    pub(crate) cores: usize,
    pub(crate) p99_bound_ms: f64,
    pub(crate) loss_bound: f64,
    pub(crate) points: Vec<Point>,
}

/// The next step's rate: half again as much.
fn next(rate: u32) -> u32 {
    rate.saturating_add(rate / 2)
}

/// Runs the sweep and prints (and with `--plot`, draws) its curve.
pub(super) fn sweep(args: &BenchArgs) -> anyhow::Result<()> {
    let mut points = Vec::new();
    let mut rate = FIRST_RATE;
    for _ in 0..MOST_STEPS {
        let mut step = args.clone();
        step.rate = Some(Rate::PerSecond(rate));
        step.txs = rate.saturating_mul(STEP_SECONDS);
        // As many accounts as transfers (up to --accounts): few senders repeat within a step.
        step.accounts = step.txs.clamp(2, args.accounts.max(2));
        step.senders = None;
        step.plot = None;
        eprintln!("lamina bench: offering {rate} transfers per second for {STEP_SECONDS} s");
        let report = match &args.rpc {
            Some(url) => remote::measure(&step, url)?,
            None => network::measure(&step)?,
        };
        let point = Point::of(rate, &report);
        eprintln!(
            "  committed {:.0} tx/s, p50 {:.0} ms, p99 {:.0} ms, refused {}",
            point.tps, point.p50_ms, point.p99_ms, point.rejected
        );
        points.push(point);
        if point.broke() {
            break;
        }
        rate = next(rate);
    }
    let sweep = Sweep {
        validators: if args.rpc.is_some() {
            1
        } else {
            args.validators
        },
        node: args.rpc.clone(),
        cores: std::thread::available_parallelism().map_or(1, |c| c.get()),
        p99_bound_ms: P99_BOUND_MS,
        loss_bound: LOSS_BOUND,
        points,
    };
    if let Some(path) = &args.plot {
        std::fs::write(path, svg(&sweep)).with_context(|| format!("writing {}", path.display()))?;
    }
    match args.output {
        crate::shell::Output::Json => crate::shell::print_json(&sweep),
        crate::shell::Output::Text => crate::shell::say(table(&sweep)),
    }
}

fn table(sweep: &Sweep) -> String {
    let mut out = format!(
        "lamina bench --rate sweep: {} validator(s), {} cores; bound p99 {:.0} ms, refused {:.0}%\n  offered/s  committed/s   p50 ms   p99 ms  refused\n",
        sweep.validators,
        sweep.cores,
        sweep.p99_bound_ms,
        sweep.loss_bound * 100.0
    );
    for p in &sweep.points {
        let _ = writeln!(
            out,
            "  {:>9}  {:>11.0}  {:>7.0}  {:>7.0}  {:>7}{}",
            p.offered,
            p.tps,
            p.p50_ms,
            p.p99_ms,
            p.rejected,
            if p.broke() {
                "   <- past the bound"
            } else {
                ""
            }
        );
    }
    out
}

/// The sweep as an SVG document: p50 and p99 latency against committed throughput.
pub(crate) fn svg(sweep: &Sweep) -> String {
    let title = format!(
        "Finality latency against committed throughput, {} validator(s), {} cores (open loop, {STEP_SECONDS} s a step)",
        sweep.validators, sweep.cores
    );
    let p50: Vec<(f64, f64)> = sweep.points.iter().map(|p| (p.tps, p.p50_ms)).collect();
    let p99: Vec<(f64, f64)> = sweep.points.iter().map(|p| (p.tps, p.p99_ms)).collect();
    plot::curve(&title, &[("p50", &p50), ("p99", &p99)], "tx/s", "ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_nonsense_is_refused() {
        assert_eq!(parse("sweep"), Ok(Rate::Sweep));
        assert_eq!(parse("4300"), Ok(Rate::PerSecond(4_300)));
        assert!(parse("0").is_err());
        assert!(parse("-5").is_err());
        assert!(parse("fast").is_err());
    }

    #[test]
    fn a_step_breaks_the_bound_on_latency_or_loss() {
        let point = |p99_ms, rejected| Point {
            offered: 1_000,
            tps: 1_000.0,
            p50_ms: 300.0,
            p99_ms,
            committed: 10_000 - rejected,
            rejected,
        };
        assert!(!point(1_900.0, 0).broke());
        assert!(point(2_100.0, 0).broke());
        assert!(!point(500.0, 100).broke());
        assert!(point(500.0, 101).broke());
        assert_eq!(next(500), 750);
        assert_eq!(next(u32::MAX), u32::MAX);
    }
}
