//! The allocator a Lamina node runs on: mimalloc, with transparent huge pages and freed memory kept for a while.
//!
//! A node's memory is mostly a few large tables read at random (the hot state, QMDB's index)
//! and per-block buffers allocated and freed again every block. Two settings of mimalloc
//! suit that (ADR 0024):
//!
//! - **Transparent huge pages** (mimalloc's default, kept on): its arenas are advised as huge
//!   pages, so a random read of a large table misses the TLB far less often.
//! - **Purge delay** ([`PURGE_DELAY_MS`], instead of mimalloc's one second): memory a block
//!   freed stays with the process for that long before it is returned to the system, so the
//!   next blocks reuse it instead of faulting in and zeroing fresh pages.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: lamina_alloc::Allocator = lamina_alloc::Allocator;
//!
//! fn main() {
//!     lamina_alloc::tune();
//!     // ...
//! }
//! ```
//!
//! `MIMALLOC_PURGE_DELAY` in the environment still wins over [`tune`].

use std::os::raw::c_long;

/// The allocator: install it with `#[global_allocator]`.
pub use mimalloc::MiMalloc as Allocator;

/// Milliseconds that memory freed by the process stays with it before mimalloc returns it to
/// the system. Blocks come every few hundred milliseconds at most, so their buffers are
/// reused; an idle node still gives its memory back.
pub const PURGE_DELAY_MS: i64 = 10_000;

/// `mi_option_purge_delay`: its place in mimalloc's `mi_option_e`, the same in mimalloc 2 and
/// 3 (the bindings name no constant for it).
const PURGE_DELAY_OPTION: libmimalloc_sys::mi_option_t = 15;

/// Sets the allocator up for a node ([`PURGE_DELAY_MS`]), unless `MIMALLOC_PURGE_DELAY` is set
/// in the environment. Call it at the start of `main`, before other threads start
/// (`lamina_node::Chain::run` does); calling it again changes nothing.
pub fn tune() {
    // Reading the option first makes mimalloc take its value from the environment, if there
    // is one; a default set after that does not override it.
    let _ = purge_delay_ms();
    #[allow(unsafe_code)]
    // SAFETY: `mi_option_set_default` stores one integer in mimalloc's option table (the
    // index is in range: the test `the_option_is_the_purge_delay` checks that it names the
    // purge delay). mimalloc reads its options without locks and expects them set early;
    // `tune` runs at the start of `main`, before the node starts its threads.
    unsafe {
        libmimalloc_sys::mi_option_set_default(PURGE_DELAY_OPTION, PURGE_DELAY_MS as c_long);
    }
}

/// The purge delay mimalloc uses now, in milliseconds (negative: never purge).
pub fn purge_delay_ms() -> i64 {
    #[allow(unsafe_code)]
    // SAFETY: `mi_option_get` reads one integer of mimalloc's option table; the index is in
    // range.
    let value = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY_OPTION) };
    #[allow(clippy::useless_conversion)] // `c_long` is 32 bits on Windows
    i64::from(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mimalloc's own default for the purge delay is one second (mimalloc 3; 10 ms in
    /// mimalloc 2): reading one of those before `tune` shows that the index names the purge
    /// delay, and `tune` then sets it, unless the environment did.
    #[test]
    fn the_option_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            let before = purge_delay_ms();
            tune();
            assert_eq!(purge_delay_ms(), before, "the environment wins");
            return;
        }
        let default = purge_delay_ms();
        assert!(
            default == 1_000 || default == 10,
            "option {PURGE_DELAY_OPTION} reads {default}, not a purge delay's default"
        );
        tune();
        assert_eq!(purge_delay_ms(), PURGE_DELAY_MS);
        tune();
        assert_eq!(
            purge_delay_ms(),
            PURGE_DELAY_MS,
            "a second call changes nothing"
        );
    }
}
