//! An in-memory state for execution: the snapshot that benchmarks and tests execute on, and
//! the shape of a hot-state cache in front of the store.
//!
//! Execution is bound by memory latency: a transfer reads three keys out of millions, and in a
//! map of `Vec<u8> -> Vec<u8>` each read follows a pointer to the key and another to the
//! value. Here keys up to [`INLINE_KEY`] bytes and values up to [`INLINE_VALUE`] bytes live in
//! the table's slot itself, so a read touches the slot's control bytes and the slot, and no
//! more. Longer keys and values go to the heap as usual.

use hashbrown::HashTable;
use lamina_interop::block::StateDelta;
use lamina_interop::module::{StateError, StateView};

/// Longest key kept in the slot.
pub const INLINE_KEY: usize = 62;
/// Longest value kept in the slot.
pub const INLINE_VALUE: usize = 30;

/// Bytes kept inline when they fit, on the heap otherwise.
#[derive(Clone)]
enum Compact<const N: usize> {
    Inline(u8, [u8; N]),
    Heap(Box<[u8]>),
}

impl<const N: usize> Compact<N> {
    fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= N {
            let mut buf = [0u8; N];
            buf[..bytes.len()].copy_from_slice(bytes);
            Compact::Inline(bytes.len() as u8, buf)
        } else {
            Compact::Heap(bytes.into())
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Compact::Inline(len, buf) => &buf[..*len as usize],
            Compact::Heap(bytes) => bytes,
        }
    }
}

#[derive(Clone)]
struct Slot {
    key: Compact<INLINE_KEY>,
    value: Compact<INLINE_VALUE>,
}

/// An in-memory key-value state; see the module docs.
#[derive(Clone)]
pub struct MemoryState {
    hasher: hashbrown::DefaultHashBuilder,
    table: HashTable<Slot>,
}

impl Default for MemoryState {
    fn default() -> Self {
        MemoryState::with_capacity(0)
    }
}

impl MemoryState {
    /// An empty state with room for `capacity` keys.
    pub fn with_capacity(capacity: usize) -> MemoryState {
        MemoryState {
            hasher: hashbrown::DefaultHashBuilder::default(),
            table: HashTable::with_capacity(capacity),
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        use std::hash::BuildHasher as _;
        self.hasher.hash_one(key)
    }

    /// The value at `key`.
    pub fn value(&self, key: &[u8]) -> Option<&[u8]> {
        self.table
            .find(self.hash(key), |slot| slot.key.as_slice() == key)
            .map(|slot| slot.value.as_slice())
    }

    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) {
        let hash = self.hash(key);
        let value = Compact::new(value);
        match self.table.find_mut(hash, |slot| slot.key.as_slice() == key) {
            Some(slot) => slot.value = value,
            None => {
                let hasher = &self.hasher;
                self.table.insert_unique(
                    hash,
                    Slot {
                        key: Compact::new(key),
                        value,
                    },
                    |slot| {
                        use std::hash::BuildHasher as _;
                        hasher.hash_one(slot.key.as_slice())
                    },
                );
            }
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &[u8]) {
        let hash = self.hash(key);
        if let Ok(entry) = self
            .table
            .find_entry(hash, |slot| slot.key.as_slice() == key)
        {
            entry.remove();
        }
    }

    /// Applies a block's changes.
    pub fn apply(&mut self, delta: &StateDelta) {
        for change in delta.changes() {
            match &change.value {
                Some(value) => self.insert(&change.key, value),
                None => self.remove(&change.key),
            }
        }
    }
}

impl StateView for MemoryState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.value(key).map(<[u8]>::to_vec))
    }

    fn prefetch(&self, key: &[u8]) {
        // A lookup whose result is only kept alive: the slot's cache lines are then warm
        // when execution reads the key.
        std::hint::black_box(self.value(key));
    }
}

impl FromIterator<(Vec<u8>, Vec<u8>)> for MemoryState {
    fn from_iter<I: IntoIterator<Item = (Vec<u8>, Vec<u8>)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut state = MemoryState::with_capacity(iter.size_hint().0);
        for (key, value) in iter {
            state.insert(&key, &value);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use lamina_interop::block::StateChange;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Inline and heap keys and values, inserts, overwrites and removals: the state
        /// answers like a `BTreeMap`.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec(
            (proptest::collection::vec(0u8..4, 0..80), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..50))),
            0..200,
        )) {
            let mut state = MemoryState::default();
            let mut model = BTreeMap::new();
            for (key, value) in &ops {
                let change = StateChange { key: key.clone(), value: value.clone() };
                state.apply(&StateDelta::from_changes(vec![change]));
                match value {
                    Some(v) => { model.insert(key.clone(), v.clone()); }
                    None => { model.remove(key); }
                }
            }
            prop_assert_eq!(state.len(), model.len());
            for (key, _) in &ops {
                prop_assert_eq!(state.get(key).unwrap(), model.get(key).cloned());
            }
        }
    }
}
