//! Block store behaviour, on every backend.

use std::path::Path;

use lamina_interop::block::{tx_root, EventRecord, Outcome};
use lamina_interop::codec::BoundedBytes;
use lamina_interop::{Address, ChainId, Timestamp};

use super::*;
use crate::kv::hooked::{disk_full, HookedStore};
use crate::kv::{FjallStore, MemoryStore, RedbStore};

fn block(height: u64, parent: Hash, txs: usize) -> Block {
    let txs: Vec<RawTx> = (0..txs)
        .map(|i| RawTx::try_from_vec(format!("tx {height}/{i}").into_bytes()).unwrap())
        .collect();
    let txs = BoundedVec::try_from_vec(txs).unwrap();
    Block {
        header: Header {
            chain_id: ChainId(1),
            height: Height(height),
            parent,
            timestamp: Timestamp(height * 1000),
            proposer: Address([9; 32]),
            tx_root: tx_root(txs.iter()),
            tx_count: txs.len() as u32,
            state_height: Height(height.saturating_sub(1)),
            state_root: Hash::ZERO,
        },
        txs,
    }
}

fn receipts(block: &Block) -> Vec<Receipt> {
    block
        .txs
        .iter()
        .enumerate()
        .map(|(i, tx)| Receipt {
            tx: Hash::of(tx),
            outcome: Outcome::Success,
            gas_used: i as u64,
            fee_paid: 1,
            events: BoundedVec::try_from_vec(vec![EventRecord {
                module: 1,
                data: BoundedBytes::try_from_vec(vec![i as u8]).unwrap(),
            }])
            .unwrap(),
        })
        .collect()
}

/// A chain of `count` blocks with `txs` transactions each.
fn chain(count: u64, txs: usize) -> Vec<Block> {
    let mut parent = Hash::ZERO;
    (1..=count)
        .map(|h| {
            let b = block(h, parent, txs);
            parent = b.id();
            b
        })
        .collect()
}

fn stores_and_reads<S: KvStore + ?Sized>(store: Arc<S>) {
    let blocks = BlockStore::new(store, Pruning::Archive);
    assert_eq!(blocks.finalized().unwrap(), None);
    let chain = chain(3, 4);
    for b in &chain {
        blocks.append(b, &receipts(b), Durability::Durable).unwrap();
    }
    assert_eq!(blocks.finalized().unwrap(), Some(Height(3)));
    for b in &chain {
        let height = b.header.height;
        assert_eq!(blocks.block(height).unwrap().as_ref(), Some(b));
        assert_eq!(blocks.header(height).unwrap().as_ref(), Some(&b.header));
        assert_eq!(blocks.block_by_id(&b.id()).unwrap().as_ref(), Some(b));
        assert_eq!(blocks.height_of(&b.id()).unwrap(), Some(height));
        assert_eq!(blocks.receipts(height).unwrap(), receipts(b));
        for (i, tx) in b.txs.iter().enumerate() {
            let id = Hash::of(tx);
            assert_eq!(
                blocks.tx_location(&id).unwrap(),
                Some(TxLocation {
                    height,
                    index: i as u32
                })
            );
            assert_eq!(blocks.receipt(&id).unwrap(), Some(receipts(b)[i].clone()));
        }
    }
    assert_eq!(blocks.block(Height(4)).unwrap(), None);
    assert_eq!(blocks.block_by_id(&Hash::of(b"unknown")).unwrap(), None);
    assert_eq!(blocks.receipt(&Hash::of(b"unknown")).unwrap(), None);
    assert!(blocks.receipts(Height(4)).unwrap().is_empty());
}

fn refuses_gaps_and_mismatches<S: KvStore + ?Sized>(store: Arc<S>) {
    let blocks = BlockStore::new(store, Pruning::Archive);
    let chain = chain(3, 2);
    assert!(matches!(
        blocks.append(&block(0, Hash::ZERO, 0), &[], Durability::Durable),
        Err(Error::OutOfOrder {
            expected: Height(1),
            got: Height(0)
        })
    ));
    blocks
        .append(&chain[0], &receipts(&chain[0]), Durability::Durable)
        .unwrap();
    assert!(matches!(
        blocks.append(&chain[2], &receipts(&chain[2]), Durability::Durable),
        Err(Error::OutOfOrder {
            expected: Height(2),
            got: Height(3)
        })
    ));
    assert!(matches!(
        blocks.append(&chain[0], &receipts(&chain[0]), Durability::Durable),
        Err(Error::OutOfOrder { .. })
    ));
    assert!(matches!(
        blocks.append(&chain[1], &receipts(&chain[1])[..1], Durability::Durable),
        Err(Error::Mismatch {
            what: "receipts",
            ..
        })
    ));
    assert_eq!(
        blocks.finalized().unwrap(),
        Some(Height(1)),
        "refused blocks change nothing"
    );
    assert_eq!(blocks.block(Height(2)).unwrap(), None);
}

fn prunes_to_the_window<S: KvStore + ?Sized>(store: Arc<S>) {
    let blocks = BlockStore::new(store, Pruning::KeepLast(2));
    let chain = chain(5, 3);
    for b in &chain {
        blocks
            .append(b, &receipts(b), Durability::Buffered)
            .unwrap();
    }
    assert_eq!(blocks.pruned_below().unwrap(), Height(4));
    for b in &chain[..3] {
        assert_eq!(blocks.block(b.header.height).unwrap(), None);
        assert_eq!(blocks.height_of(&b.id()).unwrap(), None);
        assert!(blocks.receipts(b.header.height).unwrap().is_empty());
        assert!(b
            .txs
            .iter()
            .all(|tx| blocks.tx_location(&Hash::of(tx)).unwrap().is_none()));
    }
    for b in &chain[3..] {
        assert_eq!(blocks.block(b.header.height).unwrap().as_ref(), Some(b));
        assert_eq!(blocks.receipts(b.header.height).unwrap().len(), 3);
    }
}

fn corrupt_values_are_typed_errors<S: KvStore + ?Sized>(store: Arc<S>) {
    let blocks = BlockStore::new(store.clone(), Pruning::Archive).with_tx_index_run(1);
    let b = block(1, Hash::ZERO, 1);
    blocks
        .append(&b, &receipts(&b), Durability::Durable)
        .unwrap();
    let mut batch = WriteBatch::new();
    batch.put(HEADERS, height_key(Height(1)), vec![1, 2, 3]);
    batch.put(TX_INDEX, Hash::of(&b.txs[0]).0, vec![0; 5]);
    batch.put(META, FINALIZED, vec![7]);
    store.write(batch, Durability::Durable).unwrap();
    assert!(matches!(
        blocks.block(Height(1)),
        Err(Error::Corrupt { what: "Header", .. })
    ));
    assert!(matches!(
        blocks.tx_location(&Hash::of(&b.txs[0])),
        Err(Error::Corrupt {
            what: "tx index",
            ..
        })
    ));
    assert!(matches!(
        blocks.finalized(),
        Err(Error::Corrupt { what: "height", .. })
    ));
}

/// Blocks written without the index leave no index rows, and a store without it says why it
/// cannot answer lookups; turned on again, the index covers the blocks from then on.
fn the_tx_index_can_be_turned_off_and_on<S: KvStore + ?Sized>(store: Arc<S>) {
    let chain = chain(6, 3);
    let on = BlockStore::new(store.clone(), Pruning::Archive);
    assert!(on.indexes_txs());
    assert_eq!(on.tx_location(&Hash::of(b"none")).unwrap(), None);
    assert_eq!(on.tx_indexed_from().unwrap(), None, "no block yet");
    for b in &chain[..2] {
        on.append(b, &receipts(b), Durability::Buffered).unwrap();
    }
    assert_eq!(on.tx_indexed_from().unwrap(), Some(Height(1)));

    let off = BlockStore::new(store.clone(), Pruning::Archive).with_tx_index(false);
    assert!(!off.indexes_txs());
    for b in &chain[2..4] {
        off.append(b, &receipts(b), Durability::Buffered).unwrap();
    }
    assert_eq!(off.tx_indexed_from().unwrap(), None);
    for b in &chain[2..4] {
        for tx in b.txs.iter() {
            let id = Hash::of(tx);
            assert!(
                store.get(TX_INDEX, &id.0).unwrap().is_none(),
                "no row for {id}"
            );
            assert!(matches!(off.tx_location(&id), Err(Error::NoTxIndex)));
            assert!(matches!(off.receipt(&id), Err(Error::NoTxIndex)));
            assert_eq!(on.tx_location(&id).unwrap(), None);
        }
    }
    let reader: &dyn lamina_interop::chain::ChainReader = &off;
    assert_eq!(
        reader.tx(&Hash::of(&chain[3].txs[0])),
        Err(lamina_interop::messages::StoreError::NoTxIndex)
    );

    for b in &chain[4..] {
        on.append(b, &receipts(b), Durability::Buffered).unwrap();
    }
    assert_eq!(on.tx_indexed_from().unwrap(), Some(Height(5)));
    for b in chain[..2].iter().chain(&chain[4..]) {
        for (i, tx) in b.txs.iter().enumerate() {
            let location = on.tx_location(&Hash::of(tx)).unwrap();
            assert_eq!(
                location,
                Some(TxLocation {
                    height: b.header.height,
                    index: i as u32
                })
            );
        }
    }
    for b in &chain[2..4] {
        assert_eq!(on.tx_location(&Hash::of(&b.txs[0])).unwrap(), None);
    }
}

/// The ids of recent blocks are answered from memory and written to the index in sorted
/// runs; a block store made anew over the same store reads the unwritten ones back from the
/// receipts. A row that names another block's transaction finds no receipt.
fn the_index_writes_ids_in_runs<S: KvStore + ?Sized>(store: Arc<S>) {
    let chain = chain(5, 3);
    let blocks = BlockStore::new(store.clone(), Pruning::Archive).with_tx_index_run(6);
    let row = |tx: &RawTx| store.get(TX_INDEX, &Hash::of(tx).0).unwrap();
    let at = |b: &Block, i: usize| position_key(b.header.height, i as u32).to_vec();
    let located = |blocks: &BlockStore<S>, b: &Block| {
        b.txs.iter().enumerate().all(|(i, tx)| {
            let id = Hash::of(tx);
            let location = TxLocation {
                height: b.header.height,
                index: i as u32,
            };
            blocks.tx_location(&id).unwrap() == Some(location)
                && blocks.receipt(&id).unwrap().map(|r| r.tx) == Some(id)
        })
    };

    blocks
        .append(&chain[0], &receipts(&chain[0]), Durability::Durable)
        .unwrap();
    assert!(located(&blocks, &chain[0]), "from memory");
    assert!(chain[0].txs.iter().all(|tx| row(tx).is_none()));
    blocks
        .append(&chain[1], &receipts(&chain[1]), Durability::Buffered)
        .unwrap();
    for b in &chain[..2] {
        for (i, tx) in b.txs.iter().enumerate() {
            assert_eq!(row(tx), Some(at(b, i)), "six ids make a run");
        }
    }
    for b in &chain[2..] {
        blocks
            .append(b, &receipts(b), Durability::Buffered)
            .unwrap();
    }
    assert!(chain[2..4]
        .iter()
        .all(|b| b.txs.iter().all(|tx| row(tx).is_some())));
    assert!(chain[4].txs.iter().all(|tx| row(tx).is_none()));
    assert!(chain.iter().all(|b| located(&blocks, b)));

    let anew = BlockStore::new(store.clone(), Pruning::Archive);
    assert!(chain.iter().all(|b| located(&anew, b)), "read back");

    let stray = Hash::of(b"a transaction of a block a crash took back");
    let mut batch = WriteBatch::new();
    batch.put(TX_INDEX, stray.0, position_key(Height(2), 1));
    store.write(batch, Durability::Durable).unwrap();
    assert_eq!(
        anew.tx_location(&stray).unwrap(),
        Some(TxLocation {
            height: Height(2),
            index: 1
        })
    );
    assert_eq!(anew.receipt(&stray).unwrap(), None);
}

/// On a quiet chain, the ids are written once they span `TX_INDEX_RUN_BLOCKS` blocks, however
/// few they are.
#[test]
fn a_quiet_chain_writes_its_ids_by_blocks() {
    let store = Arc::new(MemoryStore::new(COLUMNS));
    let blocks = BlockStore::new(store.clone(), Pruning::Archive);
    let chain = chain(TX_INDEX_RUN_BLOCKS + 1, 1);
    let row = |b: &Block| store.get(TX_INDEX, &Hash::of(&b.txs[0]).0).unwrap();
    let last = chain.len() - 1;
    for (i, b) in chain[..last].iter().enumerate() {
        blocks
            .append(b, &receipts(b), Durability::Buffered)
            .unwrap();
        if i + 1 < last {
            assert_eq!(row(b), None, "block {} is held in memory", b.header.height);
        }
    }
    assert!(chain[..last].iter().all(|b| row(b).is_some()));
    blocks
        .append(&chain[last], &receipts(&chain[last]), Durability::Buffered)
        .unwrap();
    assert_eq!(row(&chain[last]), None, "the next run starts");
}

/// A run that cannot be written is an error, and its ids stay in memory and in the range that
/// opening reads back.
#[test]
fn a_run_that_fails_keeps_its_ids() {
    let store = Arc::new(HookedStore::new(COLUMNS).before_ingest(|| Err(disk_full())));
    let blocks = BlockStore::new(store.clone(), Pruning::Archive).with_tx_index_run(4);
    let chain = chain(3, 3);
    blocks
        .append(&chain[0], &receipts(&chain[0]), Durability::Durable)
        .unwrap();
    let failed = blocks.append(&chain[1], &receipts(&chain[1]), Durability::Durable);
    assert!(matches!(failed, Err(Error::Backend { .. })), "{failed:?}");
    assert_eq!(
        blocks.finalized().unwrap(),
        Some(Height(2)),
        "the block is stored"
    );
    let failed = blocks.append(&chain[2], &receipts(&chain[2]), Durability::Durable);
    assert!(matches!(failed, Err(Error::Backend { .. })), "{failed:?}");
    assert_eq!(
        blocks.meta_height(TX_UNINDEXED_FROM).unwrap(),
        Some(Height(1)),
        "opening reads the ids back from the first unwritten block"
    );
    for b in &chain {
        for (i, tx) in b.txs.iter().enumerate() {
            let location = TxLocation {
                height: b.header.height,
                index: i as u32,
            };
            assert_eq!(blocks.tx_location(&Hash::of(tx)).unwrap(), Some(location));
        }
    }
}

/// While a run is being written, lookups through a clone are answered from it.
#[test]
fn lookups_go_on_while_a_run_is_written() {
    let (started, on_start) = std::sync::mpsc::sync_channel(1);
    let (let_go, go) = std::sync::mpsc::sync_channel(1);
    let go = parking_lot::Mutex::new(go);
    let store = Arc::new(HookedStore::new(COLUMNS).before_ingest(move || {
        started.send(()).unwrap();
        go.lock().recv().unwrap();
        Ok(())
    }));
    let blocks = BlockStore::new(store.clone(), Pruning::Archive).with_tx_index_run(2);
    let reader = blocks.clone();
    let b = block(1, Hash::ZERO, 2);
    let writer = {
        let b = b.clone();
        std::thread::spawn(move || blocks.append(&b, &receipts(&b), Durability::Durable))
    };
    on_start.recv().unwrap();
    let id = Hash::of(&b.txs[1]);
    let location = Some(TxLocation {
        height: Height(1),
        index: 1,
    });
    assert_eq!(reader.tx_location(&id).unwrap(), location, "from the run");
    assert_eq!(store.get(TX_INDEX, &id.0).unwrap(), None, "not written yet");
    let_go.send(()).unwrap();
    writer.join().unwrap().unwrap();
    assert!(store.get(TX_INDEX, &id.0).unwrap().is_some());
    assert_eq!(reader.tx_location(&id).unwrap(), location, "from the index");
}

/// Pruning a store without the index deletes the blocks and leaves the rest alone.
fn prunes_without_the_index<S: KvStore + ?Sized>(store: Arc<S>) {
    let blocks = BlockStore::new(store.clone(), Pruning::KeepLast(2)).with_tx_index(false);
    let chain = chain(4, 2);
    for b in &chain {
        blocks
            .append(b, &receipts(b), Durability::Buffered)
            .unwrap();
    }
    assert_eq!(blocks.pruned_below().unwrap(), Height(3));
    assert_eq!(blocks.block(Height(2)).unwrap(), None);
    assert_eq!(blocks.block(Height(3)).unwrap().as_ref(), Some(&chain[2]));
    assert!(matches!(
        blocks.tx_location(&Hash::of(&chain[3].txs[0])),
        Err(Error::NoTxIndex)
    ));
}

macro_rules! on_every_backend {
    ($($test:ident),*) => {
        mod memory {
            use super::*;
            $(#[test] fn $test() { super::$test(Arc::new(MemoryStore::new(super::COLUMNS))); })*
        }
        mod fjall {
            use super::*;
            $(#[test] fn $test() {
                let dir = tempfile::tempdir().unwrap();
                let open = |d: &Path| FjallStore::open(&d.join("fjall"), super::COLUMNS).unwrap();
                super::$test(Arc::new(open(dir.path())));
            })*
        }
        #[cfg(feature = "rocksdb")]
        mod rocksdb {
            use super::*;
            use crate::kv::RocksStore;
            $(#[test] fn $test() {
                let dir = tempfile::tempdir().unwrap();
                let open = |d: &Path| RocksStore::open(&d.join("rocksdb"), super::COLUMNS).unwrap();
                super::$test(Arc::new(open(dir.path())));
            })*
        }
        mod redb {
            use super::*;
            $(#[test] fn $test() {
                let dir = tempfile::tempdir().unwrap();
                let open = |d: &Path| RedbStore::open(&d.join("db.redb"), super::COLUMNS).unwrap();
                super::$test(Arc::new(open(dir.path())));
            })*
        }
    };
}

/// Certificates are stored with their blocks; a block without one is proven by the headers up
/// to the next certified block; an epoch's last certified block outlives pruning.
fn proves_finality_and_keeps_epoch_ends<S: KvStore + ?Sized>(store: Arc<S>) {
    use lamina_interop::crypto::SecretKey;
    use lamina_interop::finality::ValidatorSet;

    let keys: Vec<SecretKey> = (0..4u8).map(|i| SecretKey::from_seed([i; 32])).collect();
    let set =
        |epoch| ValidatorSet::new(epoch, keys.iter().map(SecretKey::public_key).collect()).unwrap();
    let signers: Vec<&SecretKey> = keys.iter().take(3).collect();
    let blocks = BlockStore::new(store, Pruning::KeepLast(2));
    let chain = chain(6, 1);
    // Certified: 2 (epoch 0), 4 (epoch 0), 5 (epoch 1); 1 and 3 only as ancestors.
    let epoch_of = |h: u64| match h {
        2 | 4 => Some(0),
        5 | 6 => Some(1),
        _ => None,
    };
    let mut proofs = Vec::new();
    for b in &chain {
        let h = b.header.height.0;
        let certificate = epoch_of(h)
            .map(|e| FinalityCertificate::sign(ChainId(1), &set(e), (h, h - 1), b.id(), &signers));
        let mut batch = WriteBatch::new();
        let staged = blocks
            .stage_certified(&mut batch, b, &receipts(b), certificate.as_ref())
            .unwrap();
        blocks.store.write(batch, Durability::Buffered).unwrap();
        blocks.staged(staged).unwrap();
        if h == 3 {
            proofs.push(blocks.finality_proof(Height(3)).unwrap());
        }
        if h == 4 {
            proofs.push(blocks.finality_proof(Height(3)).unwrap());
        }
    }
    // Before block 4 came, block 3 had no certified descendant.
    assert_eq!(proofs[0], None);
    let proof = proofs[1].clone().unwrap();
    assert_eq!(proof.headers.len(), 2);
    assert_eq!(proof.verify(ChainId(1), &set(0)).unwrap(), &chain[2].header);

    // Blocks 1 to 4 are pruned; 5 and 6 prove themselves.
    assert_eq!(blocks.finality_proof(Height(3)).unwrap(), None);
    let proof = blocks.finality_proof(Height(6)).unwrap().unwrap();
    assert_eq!(proof.verify(ChainId(1), &set(1)).unwrap(), &chain[5].header);
    assert!(proof.verify(ChainId(1), &set(0)).is_err());

    // Epoch 0 ended at block 4, kept past pruning; epoch 1 has not ended.
    let end = blocks.epoch_end(0).unwrap().unwrap();
    assert_eq!(end.verify(ChainId(1), &set(0)).unwrap(), &chain[3].header);
    assert_eq!(blocks.epoch_end(1).unwrap(), None);
    assert_eq!(
        blocks.certificate(Height(4)).unwrap(),
        None,
        "pruned with its block"
    );
}

on_every_backend!(
    proves_finality_and_keeps_epoch_ends,
    stores_and_reads,
    refuses_gaps_and_mismatches,
    prunes_to_the_window,
    corrupt_values_are_typed_errors,
    the_tx_index_can_be_turned_off_and_on,
    the_index_writes_ids_in_runs,
    prunes_without_the_index
);

#[test]
fn survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fjall");
    let chain = chain(2, 2);
    {
        let store = Arc::new(FjallStore::open(&path, super::COLUMNS).unwrap());
        let blocks = BlockStore::new(store, Pruning::Archive);
        for b in &chain {
            blocks.append(b, &receipts(b), Durability::Durable).unwrap();
        }
    }
    let store = Arc::new(FjallStore::open(&path, super::COLUMNS).unwrap());
    let blocks = BlockStore::new(store, Pruning::Archive);
    assert_eq!(blocks.finalized().unwrap(), Some(Height(2)));
    assert_eq!(blocks.block(Height(2)).unwrap().as_ref(), Some(&chain[1]));
    let last = Hash::of(&chain[1].txs[1]);
    assert_eq!(
        blocks.tx_location(&last).unwrap(),
        Some(TxLocation {
            height: Height(2),
            index: 1
        }),
        "ids never written to the index are read back from the receipts"
    );
}

#[test]
fn a_receipts_value_round_trips_and_refuses_damage() {
    let block = block(1, Hash::ZERO, 5);
    let receipts = receipts(&block);
    let blob = encode_receipts(&receipts);
    let table = ReceiptTable::parse(&blob).unwrap();
    assert_eq!(table.len(), 5);
    for (i, receipt) in receipts.iter().enumerate() {
        assert_eq!(&table.decode(i).unwrap(), receipt);
    }
    let empty = encode_receipts(&[]);
    assert_eq!(ReceiptTable::parse(&empty).unwrap().len(), 0);

    let corrupt = |blob: &[u8]| matches!(ReceiptTable::parse(blob), Err(Error::Corrupt { .. }));
    assert!(corrupt(&[]), "no count");
    assert!(corrupt(&blob[..10]), "table cut short");
    assert!(corrupt(&blob[..blob.len() - 1]), "data cut short");
    let mut huge = blob.clone();
    huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(corrupt(&huge), "absurd count");
    let mut backwards = blob.clone();
    backwards[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(corrupt(&backwards), "offset out of bounds");
}
