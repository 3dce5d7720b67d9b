//! Proofs of validator-set changes, captured while they can be made.
//!
//! Staking writes the next epoch's set under [`NEXT_SET_KEY`] half an epoch before the
//! boundary. A light client learns it from a state proof against the root that a final
//! header of the current epoch names. The state proves keys against its latest root only,
//! and a header names the state of an earlier height, so the proof has to be made when that
//! state is the latest: while a set is pending, every commit captures a proof of the key
//! (kept in memory, at most [`CAPTURED`]); once a committed block names the state height
//! of a captured proof, that proof and the block are written to the block store's
//! `set_changes` column, and the window closes until the next set is decided.
//!
//! ```text
//! commit h writes NEXT_SET_KEY (set of epoch e)  -> window open for e
//! commit h' (window open)                        -> capture proof at root(h')
//! commit of block b naming state height h'       -> set_changes[e] = (b, proof); window shut
//! ```
//!
//! A chain without staking never writes the key, and pays nothing.

use std::collections::BTreeMap;

use lamina_interop::block::{Header, StateDelta};
use lamina_interop::codec::Canonical;
use lamina_interop::finality::ValidatorSet;
use lamina_interop::light::NEXT_SET_KEY;
use lamina_interop::state_proof::StateProof;
use lamina_interop::Height;

use crate::commit::ChainStore;
use crate::kv::KvStore;
use crate::state::AuthenticatedState;
use crate::Result;

/// Most proofs held while waiting for a block to name their state height.
pub const CAPTURED: usize = 64;

/// The capture's state, held by the commit service.
#[derive(Default)]
pub struct SetChanges {
    /// Whether the pending set was looked up since start.
    started: bool,
    /// The epoch whose set awaits a proof, if any.
    open: Option<u64>,
    captured: BTreeMap<Height, StateProof>,
}

impl SetChanges {
    /// Called once block `header` with `delta` is committed (the state's latest root is the
    /// block's): captures and records as the module docs say. Returns the epoch recorded,
    /// if any.
    pub async fn committed<S: KvStore + ?Sized, A: AuthenticatedState>(
        &mut self,
        store: &ChainStore<S, A>,
        header: &Header,
        delta: &StateDelta,
    ) -> Result<Option<u64>> {
        let written = delta
            .changes()
            .iter()
            .find(|change| change.key == NEXT_SET_KEY)
            .map(|change| change.value.clone());
        let pending = match written {
            Some(value) => Some(value),
            None if !self.started => Some(store.state().get(NEXT_SET_KEY).await?),
            None => None,
        };
        self.started = true;
        if let Some(value) = pending {
            self.captured.clear();
            self.open = match value.map(|bytes| ValidatorSet::decode(&bytes)) {
                Some(Ok(set)) if store.blocks().set_change(set.epoch)?.is_none() => Some(set.epoch),
                _ => None,
            };
        }
        let Some(epoch) = self.open else {
            return Ok(None);
        };
        self.captured
            .insert(header.height, store.state().prove(NEXT_SET_KEY).await?);
        while self.captured.len() > CAPTURED {
            self.captured.pop_first();
        }
        let Some(proof) = self.captured.remove(&header.state_height) else {
            return Ok(None);
        };
        store
            .blocks()
            .put_set_change(epoch, header.height, &proof)?;
        self.open = None;
        self.captured.clear();
        Ok(Some(epoch))
    }
}
