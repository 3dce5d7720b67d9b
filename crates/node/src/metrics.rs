//! Prometheus metrics on a port of their own (`--metrics-port`, 9615 by default, localhost).
//!
//! ```text
//! lamina_height                        last committed block
//! lamina_pool_transactions             transactions in the mempool
//! lamina_pool_bytes                    their bytes
//! lamina_transactions_committed_total  transactions in committed blocks (rate() gives tx/s)
//! lamina_bus_messages_total{message}   messages sent on the bus, per type
//! lamina_bus_latency_seconds{message,quantile}   request-to-reply (commands) or publish-to-receipt
//! ```
//!
//! `CommitBlock`'s latency is the commit latency of a block.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lamina_agreement::pool::Mempool;
use lamina_interop::bus::Bus;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// Counters the node keeps besides the bus's own.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) height: AtomicU64,
    pub(crate) committed_txs: AtomicU64,
}

/// What the exporter reads.
pub(crate) struct Sources {
    pub(crate) bus: Bus,
    pub(crate) pool: Arc<Mutex<Mempool>>,
    pub(crate) counters: Arc<Counters>,
}

/// The exposition text.
pub(crate) fn render(sources: &Sources) -> String {
    let mut out = String::new();
    let (pool_len, pool_bytes) = {
        let pool = sources.pool.lock();
        (pool.len(), pool.bytes())
    };
    let gauge = |out: &mut String, name: &str, help: &str, kind: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    gauge(
        &mut out,
        "lamina_height",
        "Last committed block.",
        "gauge",
        sources.counters.height.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "lamina_pool_transactions",
        "Transactions in the mempool.",
        "gauge",
        pool_len as u64,
    );
    gauge(
        &mut out,
        "lamina_pool_bytes",
        "Bytes of transactions in the mempool.",
        "gauge",
        pool_bytes as u64,
    );
    gauge(
        &mut out,
        "lamina_transactions_committed_total",
        "Transactions in committed blocks.",
        "counter",
        sources.counters.committed_txs.load(Ordering::Relaxed),
    );
    let stats = sources.bus.metrics();
    let _ = writeln!(out, "# HELP lamina_bus_messages_total Messages sent on the bus.\n# TYPE lamina_bus_messages_total counter");
    for s in &stats {
        let _ = writeln!(
            out,
            "lamina_bus_messages_total{{message=\"{}\"}} {}",
            s.name, s.sent
        );
    }
    let _ = writeln!(out, "# HELP lamina_bus_latency_seconds Request to reply, or publish to receipt.\n# TYPE lamina_bus_latency_seconds summary");
    for s in &stats {
        for (quantile, ns) in [("0.5", s.latency.p50_ns), ("0.99", s.latency.p99_ns)] {
            let _ = writeln!(
                out,
                "lamina_bus_latency_seconds{{message=\"{}\",quantile=\"{quantile}\"}} {:.9}",
                s.name,
                ns as f64 / 1e9
            );
        }
        let _ = writeln!(
            out,
            "lamina_bus_latency_seconds_count{{message=\"{}\"}} {}",
            s.name, s.latency.count
        );
    }
    out
}

/// Serves `GET /metrics` on `address` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, sources: Arc<Sources>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let sources = sources.clone();
        tokio::spawn(async move {
            // A request line and headers; anything longer than 8 KiB is not a scrape.
            let mut buf = vec![0u8; 8192];
            let Ok(n) = stream.read(&mut buf).await else {
                return;
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if request.starts_with("GET /metrics ") {
                ("200 OK", render(&sources))
            } else {
                ("404 Not Found", "metrics are at /metrics\n".to_string())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// Binds the metrics port.
pub(crate) async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}
