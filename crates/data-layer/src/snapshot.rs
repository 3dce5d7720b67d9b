//! Committed state as a synchronous [`StateView`], and the handler of [`OpenSnapshot`].
//!
//! The authenticated state (QMDB) answers reads asynchronously and stores keys by their hash,
//! which suits proofs but not execution, where a transfer makes a handful of reads that must
//! be plain method calls. So the commit protocol also keeps the state flat: in memory, in the
//! complete hot state, made durable by checkpoints and the redo log; or inline, each block's
//! changes written to the `state_flat` column in the same durable batch as the block itself
//! (see [`crate::flat`]). Once a block is acknowledged the flat state is exactly the state
//! after it, and the authenticated state and the state in memory are repaired to match the
//! block store on open.
//!
//! ```text
//! agreement --OpenSnapshot{height: None}--> SnapshotService
//!           <-- Snapshot{height, root, view: FlatState} --+
//!                 view.get(key) = hot state (crate::hot), else the flat state's store for key
//! ```
//!
//! A [`FlatState`] reads the latest committed state: it follows later commits rather than
//! staying at the height it was opened at. A commit changes only the keys of its block, so a
//! reader that keeps blocks it executed but that are not yet durable in an overlay above the
//! view (as the agreement layer does) reads a consistent state while commits land; other
//! readers (RPC queries) may see a later height than the snapshot names.

use std::sync::Arc;

use lamina_interop::bus::{Bus, Inbox, Request, WiringError};
use lamina_interop::messages::{OpenSnapshot, Snapshot, StoreError};
use lamina_interop::module::{StateError, StateView};
use lamina_interop::{Hash, Height};

use crate::commit::ROOTS;
use crate::flat::{FlatLayout, FlatStore};
use crate::hot::HotState;
use crate::kv::KvStore;

/// The latest committed state, read through the hot state from the flat state.
pub struct FlatState<S: KvStore + ?Sized> {
    flat: Arc<FlatStore<S>>,
    hot: Arc<HotState>,
}

impl<S: KvStore + ?Sized> FlatState<S> {
    /// A view over `kv`, opened with [`crate::commit::columns`] and holding the flat state
    /// inline, through `hot`, the hot state of the [`crate::ChainStore`] that commits to `kv`.
    pub fn new(kv: Arc<S>, hot: Arc<HotState>) -> FlatState<S> {
        FlatState::over(Arc::new(FlatStore::new(kv, FlatLayout::Inline)), hot)
    }

    /// A view over `flat`, the flat state of a [`crate::ChainStore`]
    /// ([`crate::ChainStore::flat_store`]), through its hot state `hot`.
    pub fn over(flat: Arc<FlatStore<S>>, hot: Arc<HotState>) -> FlatState<S> {
        FlatState { flat, hot }
    }
}

impl<S: KvStore + ?Sized> StateView for FlatState<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if let Some(cached) = self.hot.get(key) {
            return Ok(cached);
        }
        let generation = self.hot.generation();
        let value = self.flat.get(key).map_err(|e| StateError::Backend {
            detail: e.to_string(),
        })?;
        self.hot.fill(key, value.as_deref(), generation);
        Ok(value)
    }
}

/// The latest committed height and its root, from the key-value store.
pub fn latest<S: KvStore + ?Sized>(kv: &S) -> crate::Result<(Height, Hash)> {
    let height = crate::blocks::read_finalized(kv)?.unwrap_or(Height::GENESIS);
    let root = match kv.get(ROOTS, &height.0.to_be_bytes())? {
        Some(bytes) => Hash(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| crate::Error::Corrupt {
                    what: "state root",
                    detail: format!("{} bytes, expected 32", bytes.len()),
                })?,
        ),
        None => Hash::ZERO,
    };
    Ok((height, root))
}

/// Serves [`OpenSnapshot`] from the bus.
pub struct SnapshotService<S: KvStore + ?Sized + 'static> {
    kv: Arc<S>,
    flat: Arc<FlatStore<S>>,
    hot: Arc<HotState>,
    inbox: Inbox<OpenSnapshot>,
}

impl<S: KvStore + ?Sized + 'static> SnapshotService<S> {
    /// Registers as the handler of [`OpenSnapshot`] on `bus`, serving views of `kv` through
    /// `hot` (see [`FlatState::new`]).
    pub fn new(bus: &Bus, kv: Arc<S>, hot: Arc<HotState>) -> Result<Self, WiringError> {
        Ok(SnapshotService {
            flat: Arc::new(FlatStore::new(kv.clone(), FlatLayout::Inline)),
            kv,
            hot,
            inbox: bus.handle::<OpenSnapshot>()?,
        })
    }

    /// Reads the flat state through `flat` ([`crate::ChainStore::flat_store`]), which knows
    /// whether it lives in memory, rather than inline in the key-value store.
    pub fn flat_store(mut self, flat: Arc<FlatStore<S>>) -> Self {
        self.flat = flat;
        self
    }

    /// Serves requests until the bus closes. Only the latest height is served; an earlier
    /// one is [`StoreError::Unavailable`].
    ///
    /// Cancel safety: cancel safe; a request in progress is dropped unanswered, which its
    /// requester sees as the handler gone.
    pub async fn run(self) {
        while let Some(Request {
            command, responder, ..
        }) = self.inbox.recv().await
        {
            let reply = latest(&*self.kv)
                .map_err(|e| StoreError::Backend {
                    detail: e.to_string(),
                })
                .and_then(|(height, root)| match command.height {
                    Some(asked) if asked != height => {
                        Err(StoreError::Unavailable { height: asked })
                    }
                    _ => Ok(Snapshot {
                        height,
                        root,
                        view: Arc::new(FlatState::over(self.flat.clone(), self.hot.clone())),
                    }),
                });
            let _ = responder.send(reply);
        }
    }
}
