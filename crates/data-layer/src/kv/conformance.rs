//! One suite of behaviour every backend must show, and a model test against a `BTreeMap`.
//! The `backend_suite!` macro runs both against a backend; each disk backend is also
//! reopened to check that what was written durably is still there.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;

use super::*;

pub(super) const A: Column = Column("a");
pub(super) const B: Column = Column("b");
pub(super) const COLUMNS: &[Column] = &[A, B];

fn put(store: &dyn KvStore, column: Column, key: &[u8], value: &[u8]) {
    let mut batch = WriteBatch::new();
    batch.put(column, key, value);
    store.write(batch, Durability::Durable).unwrap();
}

fn keys(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    entries.iter().map(|(k, _)| k.clone()).collect()
}

pub(super) fn point_operations(store: &dyn KvStore) {
    assert_eq!(store.get(A, b"k").unwrap(), None);
    put(store, A, b"k", b"1");
    assert_eq!(store.get(A, b"k").unwrap(), Some(b"1".to_vec()));
    put(store, A, b"k", b"2");
    assert_eq!(
        store.get(A, b"k").unwrap(),
        Some(b"2".to_vec()),
        "overwrite"
    );
    assert_eq!(store.get(B, b"k").unwrap(), None, "columns are separate");
    let mut batch = WriteBatch::new();
    batch.delete(A, b"k");
    batch.delete(A, b"never-written");
    store.write(batch, Durability::Durable).unwrap();
    assert_eq!(store.get(A, b"k").unwrap(), None);
    put(store, A, b"empty", b"");
    assert_eq!(
        store.get(A, b"empty").unwrap(),
        Some(vec![]),
        "empty values are values"
    );
    let big = vec![7u8; 1 << 20];
    put(store, B, b"big", &big);
    assert_eq!(store.get(B, b"big").unwrap(), Some(big));
}

pub(super) fn batches_apply_in_order_across_columns(store: &dyn KvStore) {
    let mut batch = WriteBatch::new();
    batch.put(A, b"x", b"1");
    batch.put(B, b"y", b"2");
    batch.put(A, b"x", b"3");
    batch.delete(B, b"y");
    batch.put(B, b"z", b"4");
    store.write(batch, Durability::Durable).unwrap();
    assert_eq!(
        store.get(A, b"x").unwrap(),
        Some(b"3".to_vec()),
        "later change wins"
    );
    assert_eq!(store.get(B, b"y").unwrap(), None);
    assert_eq!(store.get(B, b"z").unwrap(), Some(b"4".to_vec()));
}

pub(super) fn unknown_column_changes_nothing(store: &dyn KvStore) {
    let mut batch = WriteBatch::new();
    batch.put(A, b"before", b"1");
    batch.put(Column("nope"), b"k", b"v");
    assert!(matches!(
        store.write(batch, Durability::Durable),
        Err(Error::UnknownColumn("nope"))
    ));
    assert_eq!(
        store.get(A, b"before").unwrap(),
        None,
        "a refused batch applies nothing"
    );
    assert!(matches!(
        store.get(Column("nope"), b"k"),
        Err(Error::UnknownColumn("nope"))
    ));
    assert!(matches!(
        store.scan(Column("nope"), &KeyRange::all(), 1),
        Err(Error::UnknownColumn("nope"))
    ));
}

pub(super) fn scans_are_ordered_bounded_and_pageable(store: &dyn KvStore) {
    let mut batch = WriteBatch::new();
    for key in [&b"b2"[..], b"a", b"b1", b"c", b"b", &[b'b', 0xff], b"b10"] {
        batch.put(A, key, key);
    }
    batch.put(B, b"b5", b"other column");
    store.write(batch, Durability::Durable).unwrap();

    let all = store.scan(A, &KeyRange::all(), 100).unwrap();
    let expected: Vec<Vec<u8>> = vec![
        b"a".to_vec(),
        b"b".to_vec(),
        b"b1".to_vec(),
        b"b10".to_vec(),
        b"b2".to_vec(),
        vec![b'b', 0xff],
        b"c".to_vec(),
    ];
    assert_eq!(keys(&all), expected);
    assert!(
        all.iter().all(|(k, v)| k == v),
        "values come with their keys"
    );

    let prefixed = store.scan(A, &KeyRange::prefix(b"b1"), 100).unwrap();
    assert_eq!(keys(&prefixed), vec![b"b1".to_vec(), b"b10".to_vec()]);
    let between = store
        .scan(A, &KeyRange::between(b"b".to_vec(), b"b2".to_vec()), 100)
        .unwrap();
    assert_eq!(
        keys(&between),
        vec![b"b".to_vec(), b"b1".to_vec(), b"b10".to_vec()]
    );

    // Paging two at a time gives the same as one scan.
    let range = KeyRange::prefix(b"b");
    let mut paged = Vec::new();
    let mut next = range.clone();
    loop {
        let page = store.scan(A, &next, 2).unwrap();
        assert!(page.len() <= 2);
        let Some((last, _)) = page.last() else { break };
        next = range.after(last);
        paged.extend(page);
    }
    assert_eq!(paged, store.scan(A, &range, 100).unwrap());
    assert_eq!(paged.len(), 5);

    assert!(matches!(
        store.scan(A, &KeyRange::all(), 0),
        Err(Error::InvalidLimit { .. })
    ));
    assert!(matches!(
        store.scan(A, &KeyRange::all(), MAX_SCAN_LIMIT + 1),
        Err(Error::InvalidLimit { .. })
    ));
}

pub(super) fn ingested_rows_replace_and_are_checked(store: &dyn KvStore) {
    put(store, A, b"b", b"old");
    store.ingest(A, &[]).unwrap();
    store
        .ingest(A, &[(b"a", b"1"), (b"b", b"2"), (b"d", b"4")])
        .unwrap();
    assert_eq!(
        keys(&store.scan(A, &KeyRange::all(), 10).unwrap()),
        [b"a".to_vec(), b"b".to_vec(), b"d".to_vec()]
    );
    assert_eq!(
        store.get(A, b"b").unwrap(),
        Some(b"2".to_vec()),
        "an ingested row replaces"
    );
    let mut batch = WriteBatch::new();
    batch.delete(A, b"b");
    batch.put(A, b"d", b"5");
    store.write(batch, Durability::Durable).unwrap();
    assert_eq!(store.get(A, b"b").unwrap(), None, "later writes win");
    assert_eq!(store.get(A, b"d").unwrap(), Some(b"5".to_vec()));

    for (rows, row) in [
        (vec![(&b"x"[..], &b"1"[..]), (b"w", b"2")], 1),
        (vec![(b"x", b"1"), (b"y", b"2"), (b"y", b"3")], 2),
    ] {
        match store.ingest(A, &rows) {
            Err(Error::Unsorted {
                column: "a",
                row: at,
            }) => assert_eq!(at, row),
            other => panic!("{rows:?}: {other:?}"),
        }
    }
    assert_eq!(
        store.get(A, b"x").unwrap(),
        None,
        "nothing of it is written"
    );
    assert!(matches!(
        store.ingest(Column("nope"), &[(b"k", b"v")]),
        Err(Error::UnknownColumn("nope"))
    ));
}

/// Writes through `open`, drops the store, reopens: durable, synced and ingested writes are
/// there.
pub(super) fn survives_reopen<S: KvStore>(dir: &Path, open: impl Fn(&Path) -> S) {
    {
        let store = open(dir);
        put(&store, A, b"durable", b"1");
        let mut batch = WriteBatch::new();
        batch.put(B, b"buffered", b"2");
        store.write(batch, Durability::Buffered).unwrap();
        assert_eq!(
            store.get(B, b"buffered").unwrap(),
            Some(b"2".to_vec()),
            "buffered writes are visible"
        );
        store.sync().unwrap();
        store.ingest(B, &[(b"i", b"3"), (b"j", b"4")]).unwrap();
    }
    let store = open(dir);
    assert_eq!(
        keys(&store.scan(B, &KeyRange::prefix(b"i"), 10).unwrap()),
        [b"i".to_vec()],
        "ingested rows are durable"
    );
    assert_eq!(store.get(B, b"j").unwrap(), Some(b"4".to_vec()));
    assert_eq!(store.get(A, b"durable").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get(B, b"buffered").unwrap(), Some(b"2".to_vec()));
}

#[derive(Debug, Clone)]
pub(super) enum ModelOp {
    Put(bool, u8, u8),
    Delete(bool, u8),
    Batch(Vec<(bool, u8, Option<u8>)>),
}

pub(super) fn model_op() -> impl Strategy<Value = ModelOp> {
    // Small key spaces so that operations collide.
    prop_oneof![
        (any::<bool>(), 0u8..16, any::<u8>()).prop_map(|(c, k, v)| ModelOp::Put(c, k, v)),
        (any::<bool>(), 0u8..16).prop_map(|(c, k)| ModelOp::Delete(c, k)),
        proptest::collection::vec(
            (any::<bool>(), 0u8..16, proptest::option::of(any::<u8>())),
            0..8
        )
        .prop_map(ModelOp::Batch),
    ]
}

/// Applies `ops` to the store and to a `BTreeMap` per column, checking reads and scans agree
/// after each.
pub(super) fn matches_model(store: &dyn KvStore, ops: &[ModelOp]) {
    let column = |b: bool| if b { A } else { B };
    let key = |k: u8| vec![b'k', k];
    let mut model: BTreeMap<(Column, Vec<u8>), Vec<u8>> = BTreeMap::new();
    for op in ops {
        let mut batch = WriteBatch::new();
        let changes: Vec<(bool, u8, Option<u8>)> = match op {
            ModelOp::Put(c, k, v) => vec![(*c, *k, Some(*v))],
            ModelOp::Delete(c, k) => vec![(*c, *k, None)],
            ModelOp::Batch(changes) => changes.clone(),
        };
        for (c, k, v) in changes {
            match v {
                Some(v) => {
                    batch.put(column(c), key(k), vec![v]);
                    model.insert((column(c), key(k)), vec![v]);
                }
                None => {
                    batch.delete(column(c), key(k));
                    model.remove(&(column(c), key(k)));
                }
            }
        }
        store.write(batch, Durability::Buffered).unwrap();
        for c in [true, false] {
            let scanned = store.scan(column(c), &KeyRange::all(), 1000).unwrap();
            let expected: Vec<(Vec<u8>, Vec<u8>)> = model
                .iter()
                .filter(|((col, _), _)| *col == column(c))
                .map(|((_, k), v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(scanned, expected);
            for k in 0u8..16 {
                assert_eq!(
                    store.get(column(c), &key(k)).unwrap(),
                    model.get(&(column(c), key(k))).cloned()
                );
            }
        }
    }
}

/// Runs the whole suite against a backend. `$open` takes a folder and returns a store.
macro_rules! backend_suite {
    ($name:ident, $open:expr) => {
        mod $name {
            use super::*;

            fn fresh() -> (tempfile::TempDir, Box<dyn KvStore>) {
                let dir = tempfile::tempdir().unwrap();
                let store = Box::new(($open)(dir.path()));
                (dir, store)
            }

            #[test]
            fn point_operations() {
                let (_dir, store) = fresh();
                super::point_operations(&*store);
            }

            #[test]
            fn batches_apply_in_order_across_columns() {
                let (_dir, store) = fresh();
                super::batches_apply_in_order_across_columns(&*store);
            }

            #[test]
            fn unknown_column_changes_nothing() {
                let (_dir, store) = fresh();
                super::unknown_column_changes_nothing(&*store);
            }

            #[test]
            fn ingested_rows_replace_and_are_checked() {
                let (_dir, store) = fresh();
                super::ingested_rows_replace_and_are_checked(&*store);
            }

            #[test]
            fn scans_are_ordered_bounded_and_pageable() {
                let (_dir, store) = fresh();
                super::scans_are_ordered_bounded_and_pageable(&*store);
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(48))]
                #[test]
                fn matches_model(ops in proptest::collection::vec(model_op(), 1..40)) {
                    let (_dir, store) = fresh();
                    super::matches_model(&*store, &ops);
                }
            }
        }
    };
}

backend_suite!(memory, |_: &Path| MemoryStore::new(COLUMNS));
backend_suite!(redb, |dir: &Path| RedbStore::open(
    &dir.join("db.redb"),
    COLUMNS
)
.unwrap());
backend_suite!(fjall, |dir: &Path| FjallStore::open(
    &dir.join("fjall"),
    COLUMNS
)
.unwrap());

#[test]
fn redb_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    survives_reopen(dir.path(), |d| {
        RedbStore::open(&d.join("db.redb"), COLUMNS).unwrap()
    });
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocksdb_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    survives_reopen(dir.path(), |d| {
        RocksStore::open(&d.join("rocksdb"), COLUMNS).unwrap()
    });
}

#[test]
fn fjall_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    survives_reopen(dir.path(), |d| {
        FjallStore::open(&d.join("fjall"), COLUMNS).unwrap()
    });
}
