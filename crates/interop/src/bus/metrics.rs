//! Per-message-type counters and latency, kept with relaxed atomics so that recording costs a
//! few nanoseconds on the hot path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::Kind;

/// A source of monotonic nanoseconds for latency measurement. The bus takes one so that it
/// measures simulated time under a deterministic runtime and real time in production.
pub trait Clock: Send + Sync + 'static {
    /// Nanoseconds since an arbitrary fixed origin; never decreases.
    fn now_ns(&self) -> u64;
}

/// The process's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        // u64 nanoseconds last 584 years of uptime.
        self.origin.elapsed().as_nanos() as u64
    }
}

const BUCKETS: usize = 64;

/// A log2 histogram of nanosecond durations: bucket `i` counts values in `[2^i, 2^(i+1))`.
pub(crate) struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
        }
    }

    pub(crate) fn record(&self, ns: u64) {
        let bucket = (u64::BITS - ns.max(1).leading_zeros() - 1) as usize;
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
        self.max_ns.fetch_max(ns, Relaxed);
    }

    fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let count = self.count.load(Relaxed);
        // Upper bound of the bucket that holds the q-th value.
        let quantile = |q: f64| -> u64 {
            let rank = ((count as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return if i >= 63 {
                        u64::MAX
                    } else {
                        (1u64 << (i + 1)) - 1
                    };
                }
            }
            0
        };
        LatencySummary {
            count,
            mean_ns: self.sum_ns.load(Relaxed).checked_div(count).unwrap_or(0),
            p50_ns: if count == 0 { 0 } else { quantile(0.50) },
            p99_ns: if count == 0 { 0 } else { quantile(0.99) },
            max_ns: self.max_ns.load(Relaxed),
        }
    }
}

/// Counters of one message type. Which counters apply depends on the kind; the others stay 0.
pub(crate) struct MessageMetrics {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// Commands enqueued, or events published.
    pub(crate) sent: AtomicU64,
    /// Items carried by the messages counted in `sent` (see `Message::items`).
    pub(crate) items: AtomicU64,
    /// Commands answered, or events received by a subscriber.
    pub(crate) delivered: AtomicU64,
    /// Commands refused because the mailbox was full (`try_send`).
    pub(crate) full: AtomicU64,
    /// Requests refused because no handler was registered.
    pub(crate) no_handler: AtomicU64,
    /// Messages refused because the bus or the handler was closed.
    pub(crate) closed: AtomicU64,
    /// Commands whose handler dropped the request without replying.
    pub(crate) unanswered: AtomicU64,
    /// Events that lagging subscribers missed.
    pub(crate) missed: AtomicU64,
    /// Commands: request to reply. Events: publish to receipt.
    pub(crate) latency: Histogram,
}

impl MessageMetrics {
    pub(crate) fn new(name: &'static str, kind: Kind) -> Arc<MessageMetrics> {
        Arc::new(MessageMetrics {
            name,
            kind,
            sent: AtomicU64::new(0),
            items: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            full: AtomicU64::new(0),
            no_handler: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            unanswered: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            latency: Histogram::new(),
        })
    }

    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> MessageStats {
        MessageStats {
            name: self.name,
            kind: self.kind,
            sent: self.sent.load(Relaxed),
            items: self.items.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            full: self.full.load(Relaxed),
            no_handler: self.no_handler.load(Relaxed),
            closed: self.closed.load(Relaxed),
            unanswered: self.unanswered.load(Relaxed),
            missed: self.missed.load(Relaxed),
            latency: self.latency.summary(),
        }
    }
}

/// Latency of one message type. Quantiles are upper bounds of power-of-two buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LatencySummary {
    /// Number of measurements.
    pub count: u64,
    /// Mean, in nanoseconds.
    pub mean_ns: u64,
    /// Median, in nanoseconds (bucket upper bound).
    pub p50_ns: u64,
    /// 99th percentile, in nanoseconds (bucket upper bound).
    pub p99_ns: u64,
    /// Largest measurement, in nanoseconds.
    pub max_ns: u64,
}

/// A snapshot of one message type's counters, as returned by
/// [`Bus::metrics`](super::Bus::metrics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageStats {
    /// The message's name.
    pub name: &'static str,
    /// Command or event.
    pub kind: Kind,
    /// Commands enqueued, or events published.
    pub sent: u64,
    /// Items carried by those messages.
    pub items: u64,
    /// Commands answered, or events received by subscribers.
    pub delivered: u64,
    /// Commands refused because the mailbox was full.
    pub full: u64,
    /// Requests refused because no handler was registered.
    pub no_handler: u64,
    /// Messages refused because the bus or handler was closed.
    pub closed: u64,
    /// Commands whose handler dropped the request without replying.
    pub unanswered: u64,
    /// Events that lagging subscribers missed.
    pub missed: u64,
    /// Commands: request to reply. Events: publish to receipt.
    pub latency: LatencySummary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_bound_the_values() {
        let h = Histogram::new();
        for ns in [100u64, 100, 100, 100, 5000] {
            h.record(ns);
        }
        let s = h.summary();
        assert_eq!(s.count, 5);
        assert_eq!(s.mean_ns, 1080);
        assert_eq!(s.max_ns, 5000);
        assert_eq!(s.p50_ns, 127);
        assert_eq!(s.p99_ns, 8191);
        h.record(0);
        assert_eq!(h.summary().count, 6);
    }

    #[test]
    fn empty_histogram_is_zero() {
        assert_eq!(Histogram::new().summary(), LatencySummary::default());
    }
}
