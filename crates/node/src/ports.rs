//! Loopback ports for node processes started side by side, as `lamina bench --validators`
//! and multi-process tests do.
//!
//! Asking the kernel for port 0 and passing the number on is racy: the port is free again the
//! moment the probe closes, and the kernel hands the same range out to every outgoing
//! connection and every other `bind(0)` until the node binds it. [`unused`] picks from a range
//! below the ephemeral ones (32768 and up on Linux, 49152 and up elsewhere), which the kernel
//! never hands out by itself, never returns the same port twice in one process, and checks
//! that nothing holds the port now.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

/// The first port [`unused`] may return.
const LOW: u32 = 20_000;
/// How many ports, from [`LOW`], [`unused`] chooses among: up to 31999.
const SPAN: u32 = 12_000;

/// How many ports this process has taken, so that no two calls return the same one.
static TAKEN: AtomicU32 = AtomicU32::new(0);

/// A loopback TCP port that nothing holds now and that the kernel does not hand out to
/// connections or to `bind(0)`.
///
/// Processes start from different points of the range (by process id), so two processes
/// calling at once are unlikely to pick the same port, and one bound by anything is skipped.
///
/// # Errors
/// If every port of the range is held.
pub fn unused() -> std::io::Result<u16> {
    let start = std::process::id().wrapping_mul(7_919);
    pick(
        || start.wrapping_add(TAKEN.fetch_add(1, Ordering::Relaxed)),
        |port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok(),
    )
}

/// The first port of the range, at the offsets `next` gives, that `free` accepts.
fn pick(mut next: impl FnMut() -> u32, free: impl Fn(u16) -> bool) -> std::io::Result<u16> {
    for _ in 0..SPAN {
        // LOW + SPAN is below u16::MAX, so the conversion cannot fail.
        let Ok(port) = u16::try_from(LOW + next() % SPAN) else {
            continue;
        };
        if free(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!(
            "every loopback port from {LOW} to {} is in use",
            LOW + SPAN - 1
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_outside_the_ephemeral_range_and_bindable() {
        let ports: Vec<u16> = (0..64).map(|_| unused().unwrap()).collect();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ports.len(), "a port came back twice");
        for port in &ports {
            assert!((LOW..LOW + SPAN).contains(&u32::from(*port)), "{port}");
        }
        let _held = TcpListener::bind((Ipv4Addr::LOCALHOST, ports[0])).unwrap();
    }

    #[test]
    fn held_ports_are_skipped_and_a_full_range_is_an_error() {
        let mut offset = 0;
        let port = pick(
            || {
                offset += 1;
                offset - 1
            },
            |port| u32::from(port) >= LOW + 2,
        )
        .unwrap();
        assert_eq!(u32::from(port), LOW + 2);

        let error = pick(|| 0, |_| false).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    }
}
