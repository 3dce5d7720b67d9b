//! The commit protocol: a finalized block, its receipts and its state changes become durable
//! together, or are recovered to look as if they had.
//!
//! Two stores take part: the key-value store (block store, plus a redo log of state deltas)
//! and the authenticated state (QMDB). No transaction spans both, so the order of writes and
//! the recovery on open provide the atomicity:
//!
//! ```text
//! commit(block h, receipts, delta)
//!   1. KV, one durable batch:  block h, receipts, tx index, delta h (redo log), finalized = h,
//!                              delta h applied to the flat state (for synchronous reads)
//!                              when it is inline; sharded, each shard then writes its part
//!                              and h, durably, in parallel; in memory, the batch may carry a
//!                              checkpoint chunk instead (crate::flat)
//!   2. state: apply delta h, merkleize, durable commit          -> root h
//!   3. KV, buffered:           state root h                     (re-derived on open if lost)
//!   -> Committed { h, root }   acknowledged only after 2
//!
//! open
//!   state height == KV height      consistent
//!   state height == KV height - k  replay deltas (state height, KV height] from the redo log
//!   state height >  KV height      refuse: the state holds a block the chain does not
//!   redo log missing a delta       refuse: cannot repair without the block's changes
//!   a flat-state shard behind      replay its part of the deltas it misses
//!   the flat state in memory       load its checkpoints, replay the redo log above the oldest
//! ```
//!
//! Step 1 of block h + 1 may run while steps 2 and 3 of block h do ([`Persister`], used by
//! the commit service on its own thread): the key-value store is then up to
//! [`MAX_STATE_LAG`] blocks ahead of the state, which the redo log covers.
//!
//! A crash before 1 completes loses nothing acknowledged (the block was never acknowledged) and
//! leaves both stores at h - 1. A crash between 1 and 2 leaves the state one block behind; the
//! redo log brings it forward on open, to the same root, because applying the same changes at
//! the same height to the same state is deterministic. Deltas older than [`REDO_DEPTH`] blocks
//! are deleted as new ones are written, or, with the flat state in memory, once no checkpoint
//! needs them either.

use std::sync::Arc;

use lamina_interop::block::{Block, Receipt, StateChange, StateDelta};
use lamina_interop::codec;
use lamina_interop::finality::FinalityCertificate;
use lamina_interop::messages::Committed;
use lamina_interop::profile::{metered, span, Stage};
use lamina_interop::{Hash, Height};

use crate::blocks::{BlockStore, Pruning};
use crate::flat::checkpoint::{self, Checkpoints, CHECKPOINTS, SEED_KEY};
use crate::flat::{clear_column, finish_move, FlatLayout, FlatStore, FLAT_STATE};
use crate::hot::{HotState, DEFAULT_HOT_ENTRIES, SHARDS};
use crate::kv::{Column, Durability, KeyRange, KvStore, WriteBatch};
use crate::state::AuthenticatedState;
use crate::{Error, Result};

const DELTAS: Column = Column("state_deltas");
/// State root per height.
pub(crate) const ROOTS: Column = Column("state_roots");

/// Marks, in [`ROOTS`], that the genesis state was written (its key is not 8 bytes, so it
/// cannot be a height).
const GENESIS_MARK: &[u8] = b"genesis";

/// How many blocks' deltas the redo log keeps.
pub const REDO_DEPTH: u64 = 4;
/// Largest stored delta the redo log will decode, in bytes.
const MAX_DELTA_LEN: usize = 512 * 1024 * 1024;

/// Every column the key-value store under a [`ChainStore`] must be opened with (the flat
/// state's included, for the inline layout).
pub fn columns() -> Vec<Column> {
    let mut columns = crate::blocks::COLUMNS.to_vec();
    columns.extend([DELTAS, ROOTS, FLAT_STATE, CHECKPOINTS]);
    columns
}

/// Whether `kv` holds a chain already: a genesis state or a block.
pub fn holds_chain<S: KvStore + ?Sized>(kv: &S) -> Result<bool> {
    Ok(crate::blocks::read_finalized(kv)?.is_some() || kv.get(ROOTS, GENESIS_MARK)?.is_some())
}

/// How many blocks the key-value store may be ahead of the authenticated state while
/// commits are pipelined (the redo log keeps [`REDO_DEPTH`], enough to repair any of them).
pub const MAX_STATE_LAG: u64 = REDO_DEPTH - 1;

/// Entries of the flat state in memory at a time while opening warms the hot state.
const WARM_PAGE: usize = 16 * 1024;

/// Step 1 of the commit protocol, on its own: block, receipts, tx index, redo log entry,
/// finalized pointer and the flat state's part in one durable batch of the key-value store.
pub struct Persister<S: KvStore + ?Sized> {
    kv: Arc<S>,
    blocks: BlockStore<S>,
    flat: Arc<FlatStore<S>>,
    hot: Arc<HotState>,
}

impl<S: KvStore + ?Sized> Persister<S> {
    /// Writes block `block`, its `receipts` and its state `delta` durably, and makes the
    /// delta visible to reads of the flat state. Blocks come in height order (a gap is
    /// refused with [`Error::OutOfOrder`], writing nothing).
    pub fn persist(&self, block: &Block, receipts: &[Receipt], delta: &StateDelta) -> Result<()> {
        self.persist_certified(block, receipts, delta, None)
    }

    /// [`Persister::persist`], storing with the block the certificate that finalized it
    /// (see [`BlockStore::stage_certified`]).
    pub fn persist_certified(
        &self,
        block: &Block,
        receipts: &[Receipt],
        delta: &StateDelta,
        certificate: Option<&FinalityCertificate>,
    ) -> Result<()> {
        let height = block.header.height;
        let changes = delta.changes();
        span(Stage::Persist, || {
            let mut batch = WriteBatch::new();
            let staged_block =
                self.blocks
                    .stage_certified(&mut batch, block, receipts, certificate)?;
            batch.put(DELTAS, height.0.to_be_bytes(), codec::encode(changes));
            let staged_flat =
                self.flat
                    .stage(&mut batch, &self.hot, height, changes, (DELTAS, REDO_DEPTH));
            self.kv.write(batch, Durability::Durable)?;
            staged_flat.written(&self.hot, height, changes)?;
            self.hot.apply(changes);
            // Last, so that a run of ids that fails to be written stops the commit with the
            // block's state already applied in memory.
            self.blocks.staged(staged_block)
        })
    }
}

/// The hot state's seed when the flat state of the chain in `kv` lives in memory: recorded
/// in the store, or chosen now and recorded for a new store whose `flat` is to be in memory
/// (and whose hot state holds anything).
fn memory_layout<S: KvStore + ?Sized>(
    kv: &S,
    flat: &FlatStore<S>,
    hot_entries: usize,
) -> Result<Option<u64>> {
    if let Some(bytes) = kv.get(CHECKPOINTS, SEED_KEY)? {
        let seed: [u8; 8] = bytes.as_slice().try_into().map_err(|_| Error::Corrupt {
            what: "flat-state seed",
            detail: format!("{} bytes, expected 8", bytes.len()),
        })?;
        return Ok(Some(u64::from_be_bytes(seed)));
    }
    if flat.new_layout() != FlatLayout::Memory || hot_entries == 0 || holds_chain(kv)? {
        return Ok(None);
    }
    let seed = crate::hot::random_seed();
    let mut batch = WriteBatch::new();
    batch.put(CHECKPOINTS, SEED_KEY, seed.to_be_bytes());
    kv.write(batch, Durability::Durable)?;
    Ok(Some(seed))
}

/// A height stored as a row key of eight big-endian bytes.
fn height_key(key: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| Error::Corrupt {
        what: "redo log key",
        detail: format!("{} bytes, expected 8", key.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

/// What [`ChainStore::open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The height both stores agree on after opening.
    pub height: Height,
    /// Heights whose state changes were replayed from the redo log.
    pub replayed: Vec<Height>,
}

/// The block store and the authenticated state, committed together.
pub struct ChainStore<S: KvStore + ?Sized, A: AuthenticatedState> {
    kv: Arc<S>,
    blocks: BlockStore<S>,
    state: A,
    flat: Arc<FlatStore<S>>,
    hot: Arc<HotState>,
}

impl<S: KvStore + ?Sized, A: AuthenticatedState> ChainStore<S, A> {
    /// Opens over `kv` (with [`columns`]) and `state`, checking that they agree
    /// and repairing the state from the redo log when it is behind. Its hot state holds at
    /// most [`DEFAULT_HOT_ENTRIES`].
    pub async fn open(kv: Arc<S>, pruning: Pruning, state: A) -> Result<(Self, Recovery)> {
        ChainStore::open_with_hot_state(kv, pruning, state, DEFAULT_HOT_ENTRIES).await
    }

    /// [`ChainStore::open`] with a hot state of at most `hot_entries` entries, and a new
    /// store's flat state inline.
    pub async fn open_with_hot_state(
        kv: Arc<S>,
        pruning: Pruning,
        state: A,
        hot_entries: usize,
    ) -> Result<(Self, Recovery)> {
        ChainStore::open_with(kv, FlatLayout::Inline, pruning, state, hot_entries).await
    }

    /// [`ChainStore::open_with_hot_state`] with a new store's flat state in `layout` (see
    /// [`crate::flat`]); a store that holds a chain keeps the layout it has.
    pub async fn open_with(
        kv: Arc<S>,
        layout: FlatLayout,
        pruning: Pruning,
        state: A,
        hot_entries: usize,
    ) -> Result<(Self, Recovery)> {
        let blocks = BlockStore::new(kv.clone(), pruning);
        let flat = FlatStore::new(kv.clone(), layout);
        let seed = memory_layout(&*kv, &flat, hot_entries)?;
        let hot = Arc::new(match seed {
            Some(seed) => HotState::with_seed(hot_entries, seed),
            None => HotState::new(hot_entries),
        });
        let mut store = ChainStore {
            kv,
            blocks,
            state,
            flat: Arc::new(flat),
            hot,
        };
        let chain = store.blocks.finalized()?.unwrap_or(Height::GENESIS);
        let genesis = store.kv.get(ROOTS, GENESIS_MARK)?.is_some();
        let mut replayed = Vec::new();
        if genesis && store.state.is_empty() {
            // The genesis state reached the key-value store but not the authenticated state.
            let delta =
                store
                    .logged_delta(Height::GENESIS)?
                    .ok_or_else(|| Error::Inconsistent {
                        detail: "the genesis state was written but the redo log lost it".into(),
                    })?;
            let root = store.state.commit(Height::GENESIS, delta.changes()).await?;
            store.record_root(Height::GENESIS, root)?;
            replayed.push(Height::GENESIS);
        }
        if store.state.height() > chain {
            return Err(Error::Inconsistent {
                detail: format!(
                    "state is at height {} but the block store only at {chain}",
                    store.state.height()
                ),
            });
        }
        while store.state.height() < chain {
            let height = if store.state.is_empty() {
                store.first_logged_height(chain)?
            } else {
                Height(store.state.height().0 + 1)
            };
            let delta = store.logged_delta(height)?.ok_or_else(|| Error::Inconsistent {
                detail: format!(
                    "state is at height {} and the block store at {chain}, but the redo log has no changes for {height}",
                    store.state.height()
                ),
            })?;
            let root = store.state.commit(height, delta.changes()).await?;
            store.record_root(height, root)?;
            replayed.push(height);
        }
        if chain > Height::GENESIS && store.root_at(chain)?.is_none() {
            store.record_root(chain, store.state.root())?;
        }
        match seed {
            Some(_) => store.load_memory()?,
            None => store.warm_hot_state()?,
        }
        Ok((
            store,
            Recovery {
                height: chain,
                replayed,
            },
        ))
    }

    /// Loads the flat state that lives in memory into the hot state, before anything commits:
    /// its checkpoint chunks, oldest first, then every block above the oldest from the redo
    /// log. A state that does not fit moves into the store (see [`checkpoint`]). Chunks whose
    /// entries are not all in their shard (another hash function wrote them) are all written
    /// again at once, so that no later chunk drops an entry another chunk was to keep.
    fn load_memory(&self) -> Result<()> {
        let start = std::time::Instant::now();
        let Some(chain) = self.chain_height()? else {
            // A new store: nothing to load, and everything to come passes through.
            self.hot.set_complete();
            *self.flat.checkpoints() = Some(Checkpoints::new([None; SHARDS], 0));
            return Ok(());
        };
        let mut chunks = Vec::new();
        for index in 0..SHARDS {
            if let Some(bytes) = self.kv.get(CHECKPOINTS, &checkpoint::chunk_key(index))? {
                let height = checkpoint::chunk_height(&bytes)?;
                if height > chain {
                    return Err(Error::Inconsistent {
                        detail: format!(
                            "flat-state checkpoint {index} is at height {height} but the block store only at {chain}"
                        ),
                    });
                }
                chunks.push((height, index));
            }
        }
        chunks.sort();
        let first_logged = self.first_logged()?;
        // Every block above the oldest chunk; with a chunk never written, every block.
        let replay_from = match chunks.first() {
            Some((oldest, _)) if chunks.len() == SHARDS => oldest.0 + 1,
            _ => first_logged.unwrap_or(chain.0 + 1),
        };
        let (mut fits, mut misplaced) = (true, false);
        for (_, index) in &chunks {
            let Some(bytes) = self.kv.get(CHECKPOINTS, &checkpoint::chunk_key(*index))? else {
                continue;
            };
            checkpoint::for_each_in_chunk(&bytes, |key, value| {
                misplaced |= self.hot.shard_of(key) != *index;
                fits = self.hot.restore(key, Some(value));
                fits
            })?;
            if !fits {
                break;
            }
        }
        let mut height = replay_from;
        while fits && height <= chain.0 {
            let delta = self.redo(Height(height))?;
            fits = delta
                .changes()
                .iter()
                .all(|c| self.hot.restore(&c.key, c.value.as_deref()));
            height += 1;
        }
        if !fits {
            self.hot.clear();
            self.move_checkpoints_out(&chunks, replay_from, chain)?;
            return self.warm_hot_state();
        }
        self.hot.set_complete();
        let mut heights = [None; SHARDS];
        for (height, index) in &chunks {
            heights[*index] = Some(height.0);
        }
        let mut checkpoints = Checkpoints::new(heights, first_logged.unwrap_or(replay_from));
        if misplaced {
            let mut batch = WriteBatch::new();
            for index in 0..SHARDS {
                batch.put(
                    CHECKPOINTS,
                    checkpoint::chunk_key(index),
                    checkpoint::encode_chunk(&self.hot, index, chain),
                );
            }
            self.kv.write(batch, Durability::Durable)?;
            checkpoints.all_at(chain);
        }
        *self.flat.checkpoints() = Some(checkpoints);
        tracing::info!(
            entries = self.hot.len(),
            chunks = chunks.len(),
            replayed = (chain.0 + 1).saturating_sub(replay_from),
            rewritten = misplaced,
            ms = start.elapsed().as_millis() as u64,
            "flat state loaded into memory from its checkpoints and the redo log"
        );
        Ok(())
    }

    /// Opening found a flat state in memory that does not fit the hot state: its chunks,
    /// oldest first, and the blocks from `replay_from` to `chain` go to the `state_flat`
    /// column, and the layout becomes inline for good (see [`crate::flat`]).
    fn move_checkpoints_out(
        &self,
        chunks: &[(Height, usize)],
        replay_from: u64,
        chain: Height,
    ) -> Result<()> {
        tracing::warn!("the flat state does not fit the hot state: moving it into the store");
        clear_column(&*self.kv, FLAT_STATE)?;
        for (_, index) in chunks {
            let Some(bytes) = self.kv.get(CHECKPOINTS, &checkpoint::chunk_key(*index))? else {
                continue;
            };
            let mut batch = WriteBatch::new();
            checkpoint::for_each_in_chunk(&bytes, |key, value| {
                batch.put(FLAT_STATE, key, value);
                true
            })?;
            self.kv.write(batch, Durability::Buffered)?;
        }
        for height in replay_from..=chain.0 {
            let mut batch = WriteBatch::new();
            crate::flat::stage(&mut batch, self.redo(Height(height))?.changes());
            self.kv.write(batch, Durability::Buffered)?;
        }
        let first = self.first_logged()?.unwrap_or(0);
        let redo = first..(chain.0 + 1).saturating_sub(REDO_DEPTH);
        finish_move(&*self.kv, (DELTAS, redo))?;
        *self.flat.checkpoints() = None;
        Ok(())
    }

    /// The height the key-value store holds: its finalized block, or genesis (`None`: neither).
    fn chain_height(&self) -> Result<Option<Height>> {
        let genesis = self.kv.get(ROOTS, GENESIS_MARK)?.is_some();
        Ok(self
            .blocks
            .finalized()?
            .or(genesis.then_some(Height::GENESIS)))
    }

    /// The lowest height the redo log holds.
    fn first_logged(&self) -> Result<Option<u64>> {
        match self.kv.scan(DELTAS, &KeyRange::all(), 1)?.first() {
            Some((key, _)) => Ok(Some(height_key(key)?)),
            None => Ok(None),
        }
    }

    /// Block `height`'s delta from the redo log, which must hold it.
    fn redo(&self, height: Height) -> Result<StateDelta> {
        self.logged_delta(height)?
            .ok_or_else(|| Error::Inconsistent {
                detail: format!(
                    "the flat state in memory needs block {height}'s changes, but the redo log lost them"
                ),
            })
    }

    /// Loads the flat state into the hot state, before anything commits: all of it when it
    /// fits (the hot state is then complete, and no read reaches the store), else as much as
    /// fits.
    fn warm_hot_state(&self) -> Result<()> {
        let (hot, start) = (&self.hot, std::time::Instant::now());
        if self
            .flat
            .for_each(WARM_PAGE, |key, value| hot.load(key, value))?
        {
            hot.set_complete();
        }
        tracing::info!(
            entries = hot.len(),
            complete = hot.is_complete(),
            ms = start.elapsed().as_millis() as u64,
            "hot state loaded from the flat state"
        );
        Ok(())
    }

    /// Writes the genesis state, the state at height 0 before any block, into an empty store,
    /// and returns its root. Refused once the store holds a genesis state or a block.
    pub async fn init_genesis(&mut self, delta: &StateDelta) -> Result<Hash> {
        if self.blocks.finalized()?.is_some()
            || self.kv.get(ROOTS, GENESIS_MARK)?.is_some()
            || !self.state.is_empty()
        {
            return Err(Error::Inconsistent {
                detail: "the store already holds a chain; genesis is written only once".into(),
            });
        }
        let (mut batch, changes) = (WriteBatch::new(), delta.changes());
        batch.put(
            DELTAS,
            Height::GENESIS.0.to_be_bytes(),
            codec::encode(changes),
        );
        batch.put(ROOTS, GENESIS_MARK, Vec::new());
        let staged = self.flat.stage(
            &mut batch,
            &self.hot,
            Height::GENESIS,
            changes,
            (DELTAS, REDO_DEPTH),
        );
        self.kv.write(batch, Durability::Durable)?;
        staged.written(&self.hot, Height::GENESIS, changes)?;
        self.hot.apply(changes);
        let root = self.state.commit(Height::GENESIS, delta.changes()).await?;
        self.record_root(Height::GENESIS, root)?;
        Ok(root)
    }

    /// Whether the store holds a genesis state or a block.
    pub fn is_initialized(&self) -> Result<bool> {
        holds_chain(&*self.kv)
    }

    /// Commits block `block` with its `receipts` and state `delta`. Returns once both stores
    /// are durable; an error means the block is not acknowledged, and the stores are as
    /// [`ChainStore::open`] will find them.
    pub async fn commit(
        &mut self,
        block: &Block,
        receipts: &[Receipt],
        delta: &StateDelta,
    ) -> Result<Committed> {
        self.persister().persist(block, receipts, delta)?;
        self.merkleize(block.header.height, delta).await
    }

    /// The half of the commit that writes the key-value store (step 1), to run on its own
    /// thread while [`ChainStore::merkleize`] works on an earlier block.
    pub fn persister(&self) -> Persister<S> {
        Persister {
            kv: self.kv.clone(),
            blocks: self.blocks.clone(),
            flat: self.flat.clone(),
            hot: self.hot.clone(),
        }
    }

    /// Steps 2 and 3 of the commit of block `height`, whose step 1 ([`Persister::persist`])
    /// is done: the state applies `delta` and becomes durable, and its root is recorded.
    /// Blocks come in height order; at most [`MAX_STATE_LAG`] blocks may be persisted and
    /// not yet merkleized, or the redo log could not repair a crash.
    pub async fn merkleize(&mut self, height: Height, delta: &StateDelta) -> Result<Committed> {
        let root = metered(Stage::Merkleize, self.state.commit(height, delta.changes())).await?;
        self.record_root(height, root)?;
        Ok(Committed { height, root })
    }

    /// Whether the blocks committed from now on are indexed by transaction id (on unless
    /// turned off here; see [`BlockStore::with_tx_index`]).
    pub fn with_tx_index(mut self, on: bool) -> Self {
        self.blocks = self.blocks.with_tx_index(on);
        self
    }

    /// The block store.
    pub fn blocks(&self) -> &BlockStore<S> {
        &self.blocks
    }

    /// The hot state in front of the flat state, for [`crate::FlatState`] views.
    pub fn hot_state(&self) -> Arc<HotState> {
        self.hot.clone()
    }

    /// The flat state, for [`crate::FlatState`] views.
    pub fn flat_store(&self) -> Arc<FlatStore<S>> {
        self.flat.clone()
    }

    /// The authenticated state.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// The height both stores are at.
    pub fn height(&self) -> Height {
        self.state.height()
    }

    /// The state root recorded for `height`.
    pub fn root_at(&self, height: Height) -> Result<Option<Hash>> {
        let Some(bytes) = self.kv.get(ROOTS, &height.0.to_be_bytes())? else {
            return Ok(None);
        };
        let root: [u8; 32] = bytes.as_slice().try_into().map_err(|_| Error::Corrupt {
            what: "state root",
            detail: format!("{} bytes, expected 32", bytes.len()),
        })?;
        Ok(Some(Hash(root)))
    }

    fn record_root(&self, height: Height, root: Hash) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(ROOTS, height.0.to_be_bytes(), root.0);
        self.kv.write(batch, Durability::Buffered)
    }

    fn logged_delta(&self, height: Height) -> Result<Option<StateDelta>> {
        let Some(bytes) = self.kv.get(DELTAS, &height.0.to_be_bytes())? else {
            return Ok(None);
        };
        let changes: Vec<StateChange> = codec::decode_limited(&bytes, "state delta", MAX_DELTA_LEN)
            .map_err(|e| Error::Corrupt {
                what: "state delta",
                detail: e.to_string(),
            })?;
        Ok(Some(StateDelta::from_changes(changes)))
    }

    /// With an empty state, where replay starts: the chain's first block, which must still be
    /// in the redo log (a crash during the very first commits). Anything else means the state
    /// was lost, which the redo log cannot repair.
    fn first_logged_height(&self, chain: Height) -> Result<Height> {
        let oldest = chain.0.saturating_sub(REDO_DEPTH - 1).max(1);
        for height in oldest..=chain.0 {
            if self.kv.get(DELTAS, &height.to_be_bytes())?.is_none() {
                continue;
            }
            let is_first = height == 1
                || (self.blocks.header(Height(height - 1))?.is_none()
                    && self.blocks.pruned_below()? == Height(0));
            if is_first {
                return Ok(Height(height));
            }
            break;
        }
        Err(Error::Inconsistent {
            detail: format!(
                "the state is empty but the block store is at {chain}: the state was lost"
            ),
        })
    }
}

#[cfg(test)]
mod tests;
