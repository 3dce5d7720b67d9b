//! The block store: finalized blocks by height and by id, their receipts, a transaction
//! index, the finalized-height pointer, and pruning.
//!
//! # Layout
//!
//! ```text
//! column          key                          value
//! block_headers   height u64 BE                Header (canonical encoding)
//! block_bodies    height u64 BE                transactions: u32 n | n x (u32 len | bytes)
//! block_ids       block id [32]                height u64 BE
//! receipts        height u64 BE                u32 n | (n + 1) x u32 offset | receipts
//!                                              (each a canonical encoding, at its offset)
//! tx_index        tx id [32]                   height u64 BE | index u32 BE
//! finality        height u64 BE                FinalityCertificate (canonical encoding)
//! epoch_ends      epoch u64 BE                 u32 LE len | Header | FinalityCertificate of the
//!                                              epoch's last certified block (kept when
//!                                              the block is pruned)
//! set_changes     epoch u64 BE                 height u64 BE | StateProof: the set of
//!                                              `epoch`, proven against the state root
//!                                              that the block at `height` names
//! block_meta      "finalized"                  height u64 BE: the last block stored
//!                 "pruned_below"               height u64 BE: blocks below are gone
//!                 "tx_indexed_from"            height u64 BE: the index holds every
//!                                              transaction from here on; absent while
//!                                              the store keeps no index
//!                 "tx_unindexed_from"          height u64 BE: the ids of blocks from here
//!                                              on are not in `tx_index` yet
//!                 "certified"                  height u64 BE | epoch u64 BE: the last
//!                                              block stored with a certificate
//! ```
//!
//! # Finality
//!
//! A block stored with the certificate that finalized it keeps it in `finality`; a block
//! finalized as the ancestor of a certified one has none, and [`BlockStore::finality_proof`]
//! proves it with the headers up to the nearest certified descendant. When a certificate of
//! a later epoch arrives, the previous epoch's last certified block is copied to
//! `epoch_ends`, which pruning leaves alone: a node that keeps a window of blocks can still
//! prove how each epoch ended (a few hundred bytes per epoch).
//!
//! The transaction index is optional ([`BlockStore::with_tx_index`]). It is the only per-
//! transaction row: an LSM tree spends a few microseconds of CPU on each row, in the write,
//! the flush and the compactions, which for a transfer is about a tenth of its whole cost. A
//! validator that answers no lookups by id can go without it, as CometBFT's null indexer and
//! Solana's validators without transaction history do; its lookups are refused with
//! [`Error::NoTxIndex`]. Turned on again, the index starts at the next block, and
//! `tx_indexed_from` says from where it is complete.
//!
//! The index's rows are not written with their blocks. The ids of the latest blocks are held
//! in memory, where lookups find them first, and written out in sorted runs of
//! [`TX_INDEX_RUN`] ids (or the ids of [`TX_INDEX_RUN_BLOCKS`] blocks, on a quiet chain) with
//! [`KvStore::ingest`], which for fjall is a table file added to the tree: no journal, no
//! memory table, no flush. A block's batch records
//! `tx_unindexed_from`, so that opening the store again reads the ids of the blocks since
//! then from their receipts. Clones of a block store share the ids in memory; a block store
//! made separately over the same key-value store does not see them until they are written.
//!
//! Heights are big-endian so that key order is height order. A block's receipts are one value,
//! with offsets (little-endian, relative to the end of the table) so that one receipt decodes
//! without the others: one row per block instead of one per transaction. A block is written
//! as part of a
//! caller's [`WriteBatch`] ([`BlockStore::stage`]), so the commit protocol can put the block,
//! its receipts and the state changes in one atomic batch.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use lamina_interop::block::{Block, Header, RawTx, Receipt, MAX_BLOCK_TXS};
use lamina_interop::codec::{self, BoundedVec, Canonical};
use lamina_interop::finality::{FinalityCertificate, FinalityProof, MAX_PROOF_HEADERS};
use lamina_interop::state_proof::StateProof;
use lamina_interop::{Hash, Height};

use crate::kv::{Column, Durability, KvStore, WriteBatch};
use crate::{Error, Result};

const HEADERS: Column = Column("block_headers");
const BODIES: Column = Column("block_bodies");
const IDS: Column = Column("block_ids");
const RECEIPTS: Column = Column("receipts");
const TX_INDEX: Column = Column("tx_index");
const META: Column = Column("block_meta");
const FINALITY: Column = Column("finality");
const EPOCH_ENDS: Column = Column("epoch_ends");
const SET_CHANGES: Column = Column("set_changes");

/// The columns a block store's key-value store must be opened with.
pub const COLUMNS: &[Column] = &[
    HEADERS,
    BODIES,
    IDS,
    RECEIPTS,
    TX_INDEX,
    META,
    FINALITY,
    EPOCH_ENDS,
    SET_CHANGES,
];

const FINALIZED: &[u8] = b"finalized";
const PRUNED_BELOW: &[u8] = b"pruned_below";
const TX_INDEXED_FROM: &[u8] = b"tx_indexed_from";
const TX_UNINDEXED_FROM: &[u8] = b"tx_unindexed_from";
const CERTIFIED: &[u8] = b"certified";

/// How many transaction ids a block store holds in memory before it writes them to the index
/// as one sorted run (about 12 MiB of ids and locations); see the module docs.
pub const TX_INDEX_RUN: usize = 1 << 18;

/// The most blocks whose ids a block store holds in memory, however few they are, so that
/// opening a quiet chain reads few receipts back.
pub const TX_INDEX_RUN_BLOCKS: u64 = 1024;

type Body = BoundedVec<RawTx, MAX_BLOCK_TXS>;

/// How many blocks to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pruning {
    /// Keep every block.
    #[default]
    Archive,
    /// Keep the last `n` blocks (at least 1); older ones are deleted as new ones arrive.
    KeepLast(u64),
}

/// Where a transaction was included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// The block's height.
    pub height: Height,
    /// Position in the block.
    pub index: u32,
}

/// Finalized blocks over a [`KvStore`].
pub struct BlockStore<S: ?Sized> {
    store: Arc<S>,
    pruning: Pruning,
    tx_index: bool,
    run: usize,
    unindexed: Arc<Mutex<Option<Unindexed>>>,
}

impl<S: ?Sized> Clone for BlockStore<S> {
    fn clone(&self) -> Self {
        BlockStore {
            store: self.store.clone(),
            pruning: self.pruning,
            tx_index: self.tx_index,
            run: self.run,
            unindexed: self.unindexed.clone(),
        }
    }
}

/// The ids of stored blocks that the index's rows do not hold yet.
#[derive(Default)]
struct Unindexed {
    /// The first of those blocks; `None` while there are none.
    from: Option<Height>,
    ids: HashMap<Hash, TxLocation>,
    /// The run being written, answered from here until the index holds it.
    writing: Option<Arc<HashMap<Hash, TxLocation>>>,
}

impl Unindexed {
    fn get(&self, id: &Hash) -> Option<TxLocation> {
        let writing = self.writing.as_ref().and_then(|run| run.get(id));
        self.ids.get(id).or(writing).copied()
    }
}

/// What [`BlockStore::stage`] added to a batch, for [`BlockStore::staged`] once the batch is
/// written.
#[must_use = "hand it to BlockStore::staged once the batch is written"]
pub struct StagedBlock {
    /// The block's ids and positions, when it is indexed.
    ids: Vec<(Hash, u32)>,
    height: Height,
    /// Ids of the block pruned with it.
    pruned: Vec<Hash>,
}

impl<S: KvStore + ?Sized> BlockStore<S> {
    /// A block store over `store`, which must have [`COLUMNS`], indexing transactions by id.
    pub fn new(store: Arc<S>, pruning: Pruning) -> BlockStore<S> {
        BlockStore {
            store,
            pruning,
            tx_index: true,
            run: TX_INDEX_RUN,
            unindexed: Arc::default(),
        }
    }

    /// Holds at most `ids` (at least 1) transaction ids in memory before writing them to the
    /// index, instead of [`TX_INDEX_RUN`].
    pub fn with_tx_index_run(mut self, ids: usize) -> BlockStore<S> {
        self.run = ids.max(1);
        self
    }

    /// Whether the blocks it writes from now on are indexed by transaction id, and lookups by
    /// id are answered (see the module docs).
    pub fn with_tx_index(mut self, on: bool) -> BlockStore<S> {
        self.tx_index = on;
        self
    }

    /// How much history it keeps.
    pub fn pruning(&self) -> Pruning {
        self.pruning
    }

    /// Whether the blocks it writes are indexed by transaction id.
    pub fn indexes_txs(&self) -> bool {
        self.tx_index
    }

    /// The height from which the store's transaction index holds every transaction, `None`
    /// while it keeps no index (or holds no block yet).
    pub fn tx_indexed_from(&self) -> Result<Option<Height>> {
        self.meta_height(TX_INDEXED_FROM)
    }

    /// Adds `block` and its `receipts` to `batch`, with the pointer and pruning changes that go
    /// with it. Blocks come in height order, one receipt per transaction. Once the batch is
    /// written, the caller hands what this returns to [`BlockStore::staged`].
    pub fn stage(
        &self,
        batch: &mut WriteBatch,
        block: &Block,
        receipts: &[Receipt],
    ) -> Result<StagedBlock> {
        self.stage_certified(batch, block, receipts, None)
    }

    /// [`BlockStore::stage`], with the certificate that finalized the block when it has its
    /// own (see the module docs).
    pub fn stage_certified(
        &self,
        batch: &mut WriteBatch,
        block: &Block,
        receipts: &[Receipt],
        certificate: Option<&FinalityCertificate>,
    ) -> Result<StagedBlock> {
        let height = block.header.height;
        let expected = match self.finalized()? {
            Some(last) => last.next().ok_or(Error::OutOfOrder {
                expected: last,
                got: height,
            })?,
            None => height.max(Height(1)),
        };
        if height != expected {
            return Err(Error::OutOfOrder {
                expected,
                got: height,
            });
        }
        if receipts.len() != block.txs.len() {
            return Err(Error::Mismatch {
                what: "receipts",
                detail: format!(
                    "{} receipts for {} transactions",
                    receipts.len(),
                    block.txs.len()
                ),
            });
        }
        let key = height_key(height);
        batch.put(HEADERS, key, block.header.encode());
        batch.put(BODIES, key, codec::encode(&block.txs));
        batch.put(IDS, block.id().0, key);
        batch.put(RECEIPTS, key, encode_receipts(receipts));
        if let Some(certificate) = certificate {
            self.stage_certificate(batch, height, certificate)?;
        }
        let mut staged = StagedBlock {
            ids: Vec::new(),
            height,
            pruned: Vec::new(),
        };
        if self.tx_index {
            if self.tx_indexed_from()?.is_none() {
                batch.put(META, TX_INDEXED_FROM, key);
            }
            let from = self.unindexed()?.from.unwrap_or(height);
            batch.put(META, TX_UNINDEXED_FROM, height_key(from));
            staged.ids = block_ids(block, receipts);
        } else if self.tx_indexed_from()?.is_some() {
            batch.delete(META, TX_INDEXED_FROM);
            batch.delete(META, TX_UNINDEXED_FROM);
        }
        batch.put(META, FINALIZED, key);
        staged.pruned = self.stage_pruning(batch, height)?;
        Ok(staged)
    }

    /// Takes in a block staged with [`BlockStore::stage`] whose batch is now written: its ids
    /// join those in memory, and when they reach the run's size (or span
    /// [`TX_INDEX_RUN_BLOCKS`] blocks) they are written to the index, after a sync that makes
    /// their blocks durable.
    pub fn staged(&self, staged: StagedBlock) -> Result<()> {
        if !self.tx_index {
            return Ok(());
        }
        let mut unindexed = self.unindexed()?;
        for id in &staged.pruned {
            unindexed.ids.remove(id);
        }
        if staged.ids.is_empty() {
            return Ok(());
        }
        let from = *unindexed.from.get_or_insert(staged.height);
        for (id, index) in staged.ids {
            let location = TxLocation {
                height: staged.height,
                index,
            };
            unindexed.ids.insert(id, location);
        }
        let blocks = staged.height.0.saturating_sub(from.0) + 1;
        if unindexed.ids.len() < self.run && blocks < TX_INDEX_RUN_BLOCKS {
            return Ok(());
        }
        // The run is written without the lock, so lookups go on meanwhile; only this thread
        // stages blocks, so nothing else changes the ids until it is done.
        let run = Arc::new(std::mem::take(&mut unindexed.ids));
        unindexed.writing = Some(run.clone());
        drop(unindexed);
        let written = self.write_run(&run);
        let mut unindexed = self.unindexed()?;
        unindexed.writing = None;
        match written {
            Ok(()) => unindexed.from = None,
            Err(_) => {
                let ids = std::mem::take(&mut unindexed.ids);
                unindexed.ids = Arc::unwrap_or_clone(run);
                unindexed.ids.extend(ids);
            }
        }
        written
    }

    /// Writes `run` to the index, sorted, once the blocks it names are durable.
    fn write_run(&self, run: &HashMap<Hash, TxLocation>) -> Result<()> {
        let mut rows: Vec<([u8; 32], [u8; 12])> = run
            .iter()
            .map(|(id, at)| (id.0, position_key(at.height, at.index)))
            .collect();
        rows.sort_unstable_by_key(|row| row.0);
        let rows: Vec<(&[u8], &[u8])> = rows.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        self.store.sync()?;
        self.store.ingest(TX_INDEX, &rows)
    }

    /// The ids in memory, read on first use from the receipts of the blocks from
    /// `tx_unindexed_from` on.
    fn unindexed(&self) -> Result<parking_lot::MappedMutexGuard<'_, Unindexed>> {
        let mut guard = self.unindexed.lock();
        if guard.is_none() {
            *guard = Some(self.read_unindexed()?);
        }
        Ok(MutexGuard::map(guard, |ids| ids.get_or_insert_default()))
    }

    fn read_unindexed(&self) -> Result<Unindexed> {
        let mut unindexed = Unindexed::default();
        let (Some(from), Some(last)) = (self.meta_height(TX_UNINDEXED_FROM)?, self.finalized()?)
        else {
            return Ok(unindexed);
        };
        for height in from.0.max(self.pruned_below()?.0)..=last.0 {
            let height = Height(height);
            for (index, receipt) in self.receipts(height)?.iter().enumerate() {
                let location = TxLocation {
                    height,
                    index: index as u32,
                };
                unindexed.ids.insert(receipt.tx, location);
            }
            unindexed.from.get_or_insert(height);
        }
        Ok(unindexed)
    }

    /// Stores `block` and `receipts` alone, in one batch.
    pub fn append(
        &self,
        block: &Block,
        receipts: &[Receipt],
        durability: Durability,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        let staged = self.stage(&mut batch, block, receipts)?;
        self.store.write(batch, durability)?;
        self.staged(staged)
    }

    /// Adds `certificate` of the block at `height`; when it opens a later epoch, copies the
    /// previous epoch's last certified block to `epoch_ends`.
    fn stage_certificate(
        &self,
        batch: &mut WriteBatch,
        height: Height,
        certificate: &FinalityCertificate,
    ) -> Result<()> {
        if let Some((last, epoch)) = self.last_certified()? {
            if certificate.epoch > epoch {
                if let (Some(header), Some(closing)) = (self.header(last)?, self.certificate(last)?)
                {
                    let header = header.encode();
                    let mut row = (header.len() as u32).to_le_bytes().to_vec();
                    row.extend_from_slice(&header);
                    row.extend_from_slice(&closing.encode());
                    batch.put(EPOCH_ENDS, epoch.to_be_bytes(), row);
                }
            }
        }
        batch.put(FINALITY, height_key(height), certificate.encode());
        let mut mark = height_key(height).to_vec();
        mark.extend_from_slice(&certificate.epoch.to_be_bytes());
        batch.put(META, CERTIFIED, mark);
        Ok(())
    }

    /// The last block stored with a certificate, and its epoch.
    fn last_certified(&self) -> Result<Option<(Height, u64)>> {
        let Some(bytes) = self.store.get(META, CERTIFIED)? else {
            return Ok(None);
        };
        let corrupt = || Error::Corrupt {
            what: "certified mark",
            detail: format!("{} bytes, expected 16", bytes.len()),
        };
        let (height, epoch) = bytes.split_at_checked(8).ok_or_else(corrupt)?;
        let epoch: [u8; 8] = epoch.try_into().map_err(|_| corrupt())?;
        Ok(Some((parse_height(height)?, u64::from_be_bytes(epoch))))
    }

    /// The certificate stored with the block at `height`, if it has its own.
    pub fn certificate(&self, height: Height) -> Result<Option<FinalityCertificate>> {
        self.store
            .get(FINALITY, &height_key(height))?
            .map(|bytes| decode::<FinalityCertificate>(&bytes))
            .transpose()
    }

    /// The finality of the block at `height`: its header and those after it up to the
    /// nearest block stored with a certificate (at most [`MAX_PROOF_HEADERS`]), and that
    /// certificate. `None` when the block is not stored or no certified block follows it
    /// closely enough.
    pub fn finality_proof(&self, height: Height) -> Result<Option<FinalityProof>> {
        let Some(last) = self.finalized()? else {
            return Ok(None);
        };
        let mut headers = Vec::new();
        let mut at = height;
        while at <= last && headers.len() < MAX_PROOF_HEADERS {
            let Some(header) = self.header(at)? else {
                return Ok(None);
            };
            headers.push(header);
            if let Some(certificate) = self.certificate(at)? {
                let headers = BoundedVec::try_from_vec(headers).map_err(|_| Error::Corrupt {
                    what: "finality proof",
                    detail: "more headers than a proof holds".into(),
                })?;
                return Ok(Some(FinalityProof {
                    certificate,
                    headers,
                }));
            }
            at = Height(at.0 + 1);
        }
        Ok(None)
    }

    /// How epoch `epoch` ended: its last certified block's header and certificate, once a
    /// later epoch's certificate was stored.
    pub fn epoch_end(&self, epoch: u64) -> Result<Option<FinalityProof>> {
        let Some(row) = self.store.get(EPOCH_ENDS, &epoch.to_be_bytes())? else {
            return Ok(None);
        };
        let corrupt = |detail: String| Error::Corrupt {
            what: "epoch end",
            detail,
        };
        let (len, rest) = row
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("no header length".into()))?;
        let (header, certificate) = rest
            .split_at_checked(u32::from_le_bytes(*len) as usize)
            .ok_or_else(|| corrupt("header length past the row".into()))?;
        let header = decode::<Header>(header)?;
        let certificate = decode::<FinalityCertificate>(certificate)?;
        Ok(Some(FinalityProof {
            certificate,
            headers: BoundedVec::try_from_vec(vec![header])
                .map_err(|_| corrupt("header".into()))?,
        }))
    }

    /// Records, durably, that the set of `epoch` is proven by `proof` against the state
    /// root named by the block at `height` (see [`crate::set_changes`]).
    pub fn put_set_change(&self, epoch: u64, height: Height, proof: &StateProof) -> Result<()> {
        let mut row = height_key(height).to_vec();
        row.extend_from_slice(&proof.encode());
        let mut batch = WriteBatch::new();
        batch.put(SET_CHANGES, epoch.to_be_bytes(), row);
        self.store.write(batch, Durability::Durable)
    }

    /// The block whose state root proves the set of `epoch`, and the proof.
    pub fn set_change(&self, epoch: u64) -> Result<Option<(Height, StateProof)>> {
        let Some(row) = self.store.get(SET_CHANGES, &epoch.to_be_bytes())? else {
            return Ok(None);
        };
        let (height, proof) = row.split_at_checked(8).ok_or_else(|| Error::Corrupt {
            what: "set change",
            detail: format!("{} bytes", row.len()),
        })?;
        let proof = StateProof::decode(proof).map_err(|e| Error::Corrupt {
            what: "set change",
            detail: e.to_string(),
        })?;
        Ok(Some((parse_height(height)?, proof)))
    }

    /// With `KeepLast(n)`, deletes the block that falls out of the window when `height` is
    /// added. One block per new block keeps the window steady. Returns the ids of the pruned
    /// block's transactions when they are indexed.
    fn stage_pruning(&self, batch: &mut WriteBatch, height: Height) -> Result<Vec<Hash>> {
        let Pruning::KeepLast(keep) = self.pruning else {
            return Ok(Vec::new());
        };
        let keep = keep.max(1);
        if height.0 <= keep {
            return Ok(Vec::new());
        }
        let old = Height(height.0 - keep);
        let mut pruned = Vec::new();
        if let Some(block) = self.block(old)? {
            let key = height_key(old);
            batch.delete(HEADERS, key);
            batch.delete(BODIES, key);
            batch.delete(IDS, block.id().0);
            batch.delete(RECEIPTS, key);
            batch.delete(FINALITY, key);
            if self.tx_index {
                pruned = block.txs.iter().map(|tx| Hash::of(tx)).collect();
                for id in &pruned {
                    batch.delete(TX_INDEX, id.0);
                }
            }
        }
        batch.put(META, PRUNED_BELOW, height_key(Height(old.0 + 1)));
        Ok(pruned)
    }

    /// Height of the last stored block; `None` before the first.
    pub fn finalized(&self) -> Result<Option<Height>> {
        self.meta_height(FINALIZED)
    }

    /// Blocks below this height have been pruned.
    pub fn pruned_below(&self) -> Result<Height> {
        Ok(self.meta_height(PRUNED_BELOW)?.unwrap_or(Height(0)))
    }

    /// The header at `height`.
    pub fn header(&self, height: Height) -> Result<Option<Header>> {
        self.store
            .get(HEADERS, &height_key(height))?
            .map(|bytes| decode::<Header>(&bytes))
            .transpose()
    }

    /// The block at `height`.
    pub fn block(&self, height: Height) -> Result<Option<Block>> {
        let Some(header) = self.header(height)? else {
            return Ok(None);
        };
        let body = self
            .store
            .get(BODIES, &height_key(height))?
            .ok_or(Error::Corrupt {
                what: "block body",
                detail: format!("header at {height} without a body"),
            })?;
        let txs: Body = codec::decode_limited(&body, "block body", Block::MAX_ENCODED_LEN)
            .map_err(|e| Error::Corrupt {
                what: "block body",
                detail: e.to_string(),
            })?;
        Ok(Some(Block { header, txs }))
    }

    /// The height of the block with id `id`.
    pub fn height_of(&self, id: &Hash) -> Result<Option<Height>> {
        self.store
            .get(IDS, &id.0)?
            .map(|bytes| parse_height(&bytes))
            .transpose()
    }

    /// The block with id `id`.
    pub fn block_by_id(&self, id: &Hash) -> Result<Option<Block>> {
        match self.height_of(id)? {
            Some(height) => self.block(height),
            None => Ok(None),
        }
    }

    /// The receipts of the block at `height`, in transaction order.
    pub fn receipts(&self, height: Height) -> Result<Vec<Receipt>> {
        let Some(blob) = self.store.get(RECEIPTS, &height_key(height))? else {
            return Ok(Vec::new());
        };
        let table = ReceiptTable::parse(&blob)?;
        (0..table.len()).map(|i| table.decode(i)).collect()
    }

    /// Where transaction `tx` was included, if the index holds it (see
    /// [`BlockStore::tx_indexed_from`]). [`Error::NoTxIndex`] when this block store does not
    /// index transactions.
    pub fn tx_location(&self, tx: &Hash) -> Result<Option<TxLocation>> {
        if !self.tx_index {
            return Err(Error::NoTxIndex);
        }
        if let Some(location) = self.unindexed()?.get(tx) {
            return Ok(Some(location));
        }
        let Some(bytes) = self.store.get(TX_INDEX, &tx.0)? else {
            return Ok(None);
        };
        let position: [u8; 12] = bytes.as_slice().try_into().map_err(|_| Error::Corrupt {
            what: "tx index",
            detail: format!("{} bytes, expected 12", bytes.len()),
        })?;
        let (height, index) = position.split_at(8);
        Ok(Some(TxLocation {
            height: parse_height(height)?,
            index: u32::from_be_bytes(index.try_into().unwrap_or_default()),
        }))
    }

    /// The receipt of transaction `tx`.
    pub fn receipt(&self, tx: &Hash) -> Result<Option<Receipt>> {
        let Some(location) = self.tx_location(tx)? else {
            return Ok(None);
        };
        let Some(blob) = self.store.get(RECEIPTS, &height_key(location.height))? else {
            return Ok(None);
        };
        let table = ReceiptTable::parse(&blob)?;
        if location.index as usize >= table.len() {
            return Err(Error::Corrupt {
                what: "receipts",
                detail: format!(
                    "the tx index points at receipt {} of {}",
                    location.index,
                    table.len()
                ),
            });
        }
        // A row left by a block that a crash took back names another block's transaction.
        let receipt = table.decode(location.index as usize)?;
        Ok((receipt.tx == *tx).then_some(receipt))
    }

    fn meta_height(&self, key: &[u8]) -> Result<Option<Height>> {
        self.store
            .get(META, key)?
            .map(|bytes| parse_height(&bytes))
            .transpose()
    }
}

/// The finalized height recorded in `store`, without a [`BlockStore`].
pub(crate) fn read_finalized<S: KvStore + ?Sized>(store: &S) -> Result<Option<Height>> {
    store
        .get(META, FINALIZED)?
        .map(|bytes| parse_height(&bytes))
        .transpose()
}

/// The ids and positions of `block`'s transactions, taken from its receipts, which name them
/// (the hash of each encoding), rather than by hashing every transaction again.
fn block_ids(block: &Block, receipts: &[Receipt]) -> Vec<(Hash, u32)> {
    let height = block.header.height;
    let mut ids = Vec::with_capacity(receipts.len());
    for (index, (tx, receipt)) in block.txs.iter().zip(receipts).enumerate() {
        debug_assert_eq!(
            receipt.tx,
            Hash::of(tx),
            "receipt {index} of block {height}"
        );
        ids.push((receipt.tx, index as u32));
    }
    ids
}

fn height_key(height: Height) -> [u8; 8] {
    height.0.to_be_bytes()
}

fn position_key(height: Height, index: u32) -> [u8; 12] {
    let mut key = [0u8; 12];
    key[..8].copy_from_slice(&height.0.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

fn parse_height(bytes: &[u8]) -> Result<Height> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| Error::Corrupt {
        what: "height",
        detail: format!("{} bytes, expected 8", bytes.len()),
    })?;
    Ok(Height(u64::from_be_bytes(bytes)))
}

/// A block's receipts as one value; see the module docs.
fn encode_receipts(receipts: &[Receipt]) -> Vec<u8> {
    let encoded: Vec<Vec<u8>> = receipts.iter().map(Receipt::encode).collect();
    let table = 4 * (receipts.len() + 2);
    let mut out = Vec::with_capacity(table + encoded.iter().map(Vec::len).sum::<usize>());
    out.extend_from_slice(&(receipts.len() as u32).to_le_bytes());
    let mut offset = 0u32;
    out.extend_from_slice(&offset.to_le_bytes());
    for receipt in &encoded {
        offset += receipt.len() as u32;
        out.extend_from_slice(&offset.to_le_bytes());
    }
    for receipt in encoded {
        out.extend_from_slice(&receipt);
    }
    out
}

/// A stored receipts value, checked: its offsets rise and stay inside it.
struct ReceiptTable<'a> {
    offsets: Vec<usize>,
    data: &'a [u8],
}

impl<'a> ReceiptTable<'a> {
    fn parse(blob: &'a [u8]) -> Result<ReceiptTable<'a>> {
        let corrupt = |detail: String| Error::Corrupt {
            what: "receipts",
            detail,
        };
        let word = |i: usize| -> Option<usize> {
            let bytes = blob.get(4 * i..4 * i + 4)?;
            Some(u32::from_le_bytes(bytes.try_into().ok()?) as usize)
        };
        let n = word(0).ok_or_else(|| corrupt("no count".into()))?;
        if n > MAX_BLOCK_TXS {
            return Err(corrupt(format!("{n} receipts exceed {MAX_BLOCK_TXS}")));
        }
        let offsets: Vec<usize> = (1..=n + 1)
            .map(word)
            .collect::<Option<_>>()
            .ok_or_else(|| corrupt("offset table cut short".into()))?;
        let data = &blob[4 * (n + 2)..];
        if offsets.windows(2).any(|w| w[0] > w[1]) || offsets.last() != Some(&data.len()) {
            return Err(corrupt("offsets out of order or out of bounds".into()));
        }
        Ok(ReceiptTable { offsets, data })
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn decode(&self, index: usize) -> Result<Receipt> {
        decode::<Receipt>(&self.data[self.offsets[index]..self.offsets[index + 1]])
    }
}

fn decode<T: Canonical>(bytes: &[u8]) -> Result<T> {
    T::decode(bytes).map_err(|e| Error::Corrupt {
        what: T::NAME,
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests;

fn store_error(err: Error) -> lamina_interop::messages::StoreError {
    match err {
        Error::NoTxIndex => lamina_interop::messages::StoreError::NoTxIndex,
        err => lamina_interop::messages::StoreError::Backend {
            detail: err.to_string(),
        },
    }
}

impl<S: KvStore + ?Sized> lamina_interop::chain::ChainReader for BlockStore<S> {
    fn finalized(
        &self,
    ) -> std::result::Result<Option<Height>, lamina_interop::messages::StoreError> {
        BlockStore::finalized(self).map_err(store_error)
    }

    fn header(
        &self,
        height: Height,
    ) -> std::result::Result<Option<Header>, lamina_interop::messages::StoreError> {
        BlockStore::header(self, height).map_err(store_error)
    }

    fn block(
        &self,
        height: Height,
    ) -> std::result::Result<Option<Block>, lamina_interop::messages::StoreError> {
        BlockStore::block(self, height).map_err(store_error)
    }

    fn height_of(
        &self,
        id: &Hash,
    ) -> std::result::Result<Option<Height>, lamina_interop::messages::StoreError> {
        BlockStore::height_of(self, id).map_err(store_error)
    }

    fn receipts(
        &self,
        height: Height,
    ) -> std::result::Result<Vec<Receipt>, lamina_interop::messages::StoreError> {
        BlockStore::receipts(self, height).map_err(store_error)
    }

    fn certificate(
        &self,
        height: Height,
    ) -> std::result::Result<Option<FinalityCertificate>, lamina_interop::messages::StoreError>
    {
        BlockStore::certificate(self, height).map_err(store_error)
    }

    fn finality_proof(
        &self,
        height: Height,
    ) -> std::result::Result<Option<FinalityProof>, lamina_interop::messages::StoreError> {
        BlockStore::finality_proof(self, height).map_err(store_error)
    }

    fn set_change(
        &self,
        epoch: u64,
    ) -> std::result::Result<Option<(Height, StateProof)>, lamina_interop::messages::StoreError>
    {
        BlockStore::set_change(self, epoch).map_err(store_error)
    }

    fn tx(
        &self,
        id: &Hash,
    ) -> std::result::Result<
        Option<lamina_interop::chain::TxRecord>,
        lamina_interop::messages::StoreError,
    > {
        let Some(location) = self.tx_location(id).map_err(store_error)? else {
            return Ok(None);
        };
        let receipt = self.receipt(id).map_err(store_error)?;
        Ok(receipt.map(|receipt| lamina_interop::chain::TxRecord {
            height: location.height,
            index: location.index,
            receipt,
        }))
    }

    fn indexes_txs(&self) -> bool {
        BlockStore::indexes_txs(self)
    }
}
