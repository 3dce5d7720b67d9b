//! What execution reads: the committed state under the deltas of blocks executed but not yet
//! durable, each delta indexed by key hash.

use std::hash::BuildHasher as _;
use std::sync::Arc;

use lamina_interop::block::StateDelta;
use lamina_interop::module::StateView;

/// A block's delta with a hash index, so that reading through several is one hash of the key
/// and a probe per delta.
pub(super) struct DeltaIndex {
    delta: Arc<StateDelta>,
    slots: hashbrown::HashTable<u32>,
}

impl DeltaIndex {
    pub(super) fn new(
        delta: Arc<StateDelta>,
        hasher: &hashbrown::DefaultHashBuilder,
    ) -> DeltaIndex {
        let changes = delta.changes();
        let mut slots = hashbrown::HashTable::with_capacity(changes.len());
        for (i, change) in changes.iter().enumerate() {
            let hash = hasher.hash_one(change.key.as_slice());
            // Keys of a delta are unique.
            slots.insert_unique(hash, i as u32, |&j| {
                hasher.hash_one(changes[j as usize].key.as_slice())
            });
        }
        DeltaIndex { delta, slots }
    }

    pub(super) fn get(&self, hash: u64, key: &[u8]) -> Option<Option<&[u8]>> {
        let changes = self.delta.changes();
        self.slots
            .find(hash, |&i| changes[i as usize].key == key)
            .map(|&i| changes[i as usize].value.as_deref())
    }
}

/// The committed state under the deltas of blocks executed but not yet durable, newest first.
pub(super) struct Overlay {
    pub(super) base: Arc<dyn StateView + Send + Sync>,
    pub(super) hasher: hashbrown::DefaultHashBuilder,
    pub(super) deltas: Vec<Arc<DeltaIndex>>,
}

impl StateView for Overlay {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, lamina_interop::module::StateError> {
        if !self.deltas.is_empty() {
            let hash = self.hasher.hash_one(key);
            for delta in &self.deltas {
                if let Some(change) = delta.get(hash, key) {
                    return Ok(change.map(<[u8]>::to_vec));
                }
            }
        }
        self.base.get(key)
    }

    fn prefetch(&self, key: &[u8]) {
        self.base.prefetch(key);
    }
}

/// A shared snapshot view as a `StateView + Sync` reference.
pub(super) struct ViewRef(pub(super) Arc<dyn StateView + Send + Sync>);

impl StateView for ViewRef {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, lamina_interop::module::StateError> {
        self.0.get(key)
    }
}
