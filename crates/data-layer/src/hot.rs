//! The hot state: flat-state entries recently read or written, in memory, in front of the
//! key-value store.
//!
//! Execution and admission read a few keys per transaction (a nonce, two balances). From an
//! LSM tree each read costs microseconds; from here, a hash lookup. Entries come in two ways:
//!
//! ```text
//! commit of block N:  KV batch durable --> generation += 1 --> every changed key overwritten
//! read miss:          g = generation; v = kv.get(key); insert v only if absent and g unchanged
//! ```
//!
//! A commit overwrites unconditionally and a fill never overwrites, and a fill that raced a
//! commit (the generation moved between its read and its insert) is dropped, so a value read
//! before a commit can never hide the commit's value. Absence is cached too (`None`), since a
//! transfer to a new account reads a key that does not exist.
//!
//! The cache holds at most `max_entries`, spread over shards by a keyed hash with a secret seed
//! (keys chosen by transactions cannot pile into one shard): random per process, or kept by the
//! store when the flat state lives in memory, whose checkpoints are written shard by shard
//! ([`crate::flat`]). A full shard evicts an arbitrary
//! entry for each new one: with uniformly random access no policy does better, and with skewed
//! access the hot keys come back at once.
//!
//! While the whole flat state fits, the cache is *complete*: it starts so on an empty store,
//! or after opening the store loaded every entry into it, and stays so until its first
//! eviction. A complete cache answers every read, a miss meaning an absent key, so the store
//! is never read: on a chain whose state fits in memory, a transaction from a new account
//! costs a hash lookup, not a search of every level of the tree.

use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hashbrown::HashTable;
use lamina_interop::block::StateChange;
use parking_lot::Mutex;

/// Shards: a power of two, well above the number of cores that read at once.
pub(crate) const SHARDS: usize = 64;

/// Entries a node keeps by default: every key of about two million accounts, under 500 MiB.
pub const DEFAULT_HOT_ENTRIES: usize = 4 << 20;

/// Key and value bytes an entry holds without an allocation of its own: a balance (a
/// 49-byte key and a 16-byte value) fits, so a read touches the table's slot and nothing else.
const INLINE: usize = 70;

/// The hot state; see the module docs.
pub struct HotState {
    shards: Vec<Mutex<HashTable<Entry>>>,
    per_shard: usize,
    hasher: foldhash::fast::FixedState,
    generation: AtomicU64,
    /// Every entry of the flat state is cached; see the module docs. Cleared, under the
    /// shard's lock, before the first eviction.
    complete: AtomicBool,
}

impl HotState {
    /// A cache of at most `max_entries` entries (0 caches nothing), its keys placed by a
    /// random seed.
    pub fn new(max_entries: usize) -> HotState {
        HotState::with_seed(max_entries, random_seed())
    }

    /// A cache of at most `max_entries` entries whose keys are placed by `seed`: the same seed
    /// puts each key in the same shard in every process.
    pub fn with_seed(max_entries: usize, seed: u64) -> HotState {
        HotState {
            shards: (0..SHARDS).map(|_| Mutex::new(HashTable::new())).collect(),
            per_shard: max_entries.div_ceil(SHARDS),
            hasher: foldhash::fast::FixedState::with_seed(seed),
            generation: AtomicU64::new(0),
            complete: AtomicBool::new(false),
        }
    }

    /// The key's hash and its shard.
    fn locate(&self, key: &[u8]) -> (u64, &Mutex<HashTable<Entry>>) {
        let hash = self.hasher.hash_one(key);
        (hash, &self.shards[shard_index(hash)])
    }

    /// The shard that holds `key`.
    pub(crate) fn shard_of(&self, key: &[u8]) -> usize {
        shard_index(self.hasher.hash_one(key))
    }

    /// The cached entry for `key`: `Some(None)` when it is known to be absent (cached as
    /// absent, or not cached by a complete cache), `None` when the store must be read.
    pub fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        let (hash, shard) = self.locate(key);
        let shard = shard.lock();
        match shard.find(hash, |entry| entry.key() == key) {
            Some(entry) => Some(entry.value().map(<[u8]>::to_vec)),
            // Read under the lock: an eviction clears it before removing anything.
            None if self.complete.load(Ordering::Acquire) => Some(None),
            None => None,
        }
    }

    /// Whether the cache holds every entry of the flat state; see the module docs.
    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Declares that every entry of the flat state is cached: on an empty store, or once
    /// [`HotState::load`] took every entry. A cache that holds nothing is never complete.
    pub(crate) fn set_complete(&self) {
        if self.per_shard > 0 {
            self.complete.store(true, Ordering::Release);
        }
    }

    /// Caches an entry of the flat state while the store is being opened (nothing commits
    /// yet). Returns false, caching nothing, when its shard is full.
    pub(crate) fn load(&self, key: &[u8], value: &[u8]) -> bool {
        if self.per_shard == 0 {
            return false;
        }
        let (hash, shard) = self.locate(key);
        let mut shard = shard.lock();
        if let Some(entry) = shard.find_mut(hash, |entry| entry.key() == key) {
            *entry = Entry::new(key, Some(value));
            return true;
        }
        if shard.len() >= self.per_shard {
            return false;
        }
        shard.insert_unique(hash, Entry::new(key, Some(value)), |e| {
            self.hasher.hash_one(e.key())
        });
        true
    }

    /// The generation to pass to [`HotState::fill`]: read it before reading the store.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches `value`, read from the store after [`HotState::generation`] returned
    /// `generation`, unless a commit came in between or the key is cached already.
    pub fn fill(&self, key: &[u8], value: Option<&[u8]>, generation: u64) {
        if self.per_shard == 0 {
            return;
        }
        let (hash, shard) = self.locate(key);
        let mut shard = shard.lock();
        if self.generation.load(Ordering::Acquire) != generation
            || shard.find(hash, |entry| entry.key() == key).is_some()
        {
            return;
        }
        self.insert_new(&mut shard, hash, Entry::new(key, value));
    }

    /// Applies a block's changes, durable in the store already.
    pub fn apply(&self, changes: &[StateChange]) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if self.per_shard == 0 {
            return;
        }
        for change in changes {
            let key = change.key.as_slice();
            let entry = Entry::new(key, change.value.as_deref());
            let (hash, shard) = self.locate(key);
            let mut shard = shard.lock();
            match shard.find_mut(hash, |e| e.key() == key) {
                Some(slot) => *slot = entry,
                None => self.insert_new(&mut shard, hash, entry),
            }
        }
    }

    /// Whether [`HotState::apply`] can take `changes` without evicting anything (each change
    /// of a key not cached needs a place in its shard).
    pub(crate) fn has_room_for(&self, changes: &[StateChange]) -> bool {
        // Usually every shard could take all of them: one look at each shard, not at each key.
        if self
            .shards
            .iter()
            .all(|shard| shard.lock().len() + changes.len() <= self.per_shard)
        {
            return true;
        }
        let mut needed = [0usize; SHARDS];
        for change in changes {
            let (hash, shard) = self.locate(&change.key);
            if shard
                .lock()
                .find(hash, |e| e.key() == change.key.as_slice())
                .is_none()
            {
                needed[shard_index(hash)] += 1;
            }
        }
        needed
            .iter()
            .zip(&self.shards)
            .all(|(n, shard)| *n == 0 || shard.lock().len() + n <= self.per_shard)
    }

    /// Sets `key` to `value` (`None`: absent, and no longer cached) while the store is being
    /// opened, nothing committing yet. Returns false, changing nothing, when its shard is full.
    pub(crate) fn restore(&self, key: &[u8], value: Option<&[u8]>) -> bool {
        let (hash, shard) = self.locate(key);
        let mut shard = shard.lock();
        match (shard.find_entry(hash, |e| e.key() == key), value) {
            (Ok(entry), None) => {
                entry.remove();
            }
            (Ok(mut entry), Some(value)) => *entry.get_mut() = Entry::new(key, Some(value)),
            (Err(_), None) => {}
            (Err(_), Some(value)) => {
                if shard.len() >= self.per_shard {
                    return false;
                }
                shard.insert_unique(hash, Entry::new(key, Some(value)), |e| {
                    self.hasher.hash_one(e.key())
                });
            }
        }
        true
    }

    /// Calls `visit` with every present entry of shard `index`, under its lock: commits wait,
    /// and reads of that shard, while it runs.
    pub(crate) fn for_each_in_shard(&self, index: usize, mut visit: impl FnMut(&[u8], &[u8])) {
        let Some(shard) = self.shards.get(index) else {
            return;
        };
        for entry in shard.lock().iter() {
            if let Some(value) = entry.value() {
                visit(entry.key(), value);
            }
        }
    }

    /// Forgets every entry, and completeness with them.
    pub(crate) fn clear(&self) {
        self.complete.store(false, Ordering::Release);
        for shard in &self.shards {
            shard.lock().clear();
        }
    }

    /// Entries cached now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inserts an entry whose key is not cached, evicting another when the shard is full.
    fn insert_new(&self, shard: &mut HashTable<Entry>, hash: u64, entry: Entry) {
        if shard.len() >= self.per_shard {
            self.complete.store(false, Ordering::Release);
            evict_one(shard, hash);
        }
        shard.insert_unique(hash, entry, |e| self.hasher.hash_one(e.key()));
    }
}

/// The shard of a key whose hash is `hash`: middle bits, since a table places an entry by the
/// low bits and tags it with the top seven.
fn shard_index(hash: u64) -> usize {
    (hash >> 40) as usize & (SHARDS - 1)
}

/// A seed no one outside this process can guess, from the standard library's random keys.
pub(crate) fn random_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x6c61_6d69_6e61);
    hasher.finish()
}

/// Removes the first entry at or after a bucket chosen by `hash` (the new key's, so random
/// per process): the table is at least half full when it evicts, so the walk is short.
fn evict_one(shard: &mut HashTable<Entry>, hash: u64) {
    let buckets = shard.num_buckets();
    if buckets == 0 {
        return;
    }
    let start = (hash >> 20) as usize % buckets;
    for step in 0..buckets {
        if let Ok(victim) = shard.get_bucket_entry((start + step) % buckets) {
            victim.remove();
            return;
        }
    }
}

/// A cached key and its value (`None`: known absent), in one buffer.
struct Entry {
    bytes: Bytes,
    key_len: u32,
    present: bool,
}

impl Entry {
    fn new(key: &[u8], value: Option<&[u8]>) -> Entry {
        let value_bytes = value.unwrap_or_default();
        Entry {
            bytes: Bytes::concat(key, value_bytes),
            // Keys are bounded by the store's limits, far below 4 GiB.
            key_len: u32::try_from(key.len()).unwrap_or(u32::MAX),
            present: value.is_some(),
        }
    }

    fn key(&self) -> &[u8] {
        let bytes = self.bytes.as_slice();
        &bytes[..(self.key_len as usize).min(bytes.len())]
    }

    fn value(&self) -> Option<&[u8]> {
        let bytes = self.bytes.as_slice();
        self.present
            .then(|| &bytes[(self.key_len as usize).min(bytes.len())..])
    }
}

/// Bytes inline up to [`INLINE`], else on the heap.
enum Bytes {
    Inline { len: u8, data: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Bytes {
    fn concat(a: &[u8], b: &[u8]) -> Bytes {
        let len = a.len() + b.len();
        if len <= INLINE {
            let mut data = [0; INLINE];
            data[..a.len()].copy_from_slice(a);
            data[a.len()..len].copy_from_slice(b);
            Bytes::Inline {
                len: len as u8,
                data,
            }
        } else {
            Bytes::Heap([a, b].concat().into_boxed_slice())
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Inline { len, data } => &data[..*len as usize],
            Bytes::Heap(bytes) => bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &[u8], value: Option<&[u8]>) -> StateChange {
        StateChange {
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn fills_and_commits_and_absence() {
        let hot = HotState::new(1_000);
        assert_eq!(hot.get(b"a"), None);
        let g = hot.generation();
        hot.fill(b"a", Some(b"1"), g);
        hot.fill(b"gone", None, g);
        assert_eq!(hot.get(b"a"), Some(Some(b"1".to_vec())));
        assert_eq!(hot.get(b"gone"), Some(None), "absence is cached");
        hot.apply(&[change(b"a", Some(b"2")), change(b"b", None)]);
        assert_eq!(hot.get(b"a"), Some(Some(b"2".to_vec())));
        assert_eq!(hot.get(b"b"), Some(None));
        // A fill never overwrites.
        hot.fill(b"a", Some(b"stale"), hot.generation());
        assert_eq!(hot.get(b"a"), Some(Some(b"2".to_vec())));
    }

    #[test]
    fn a_fill_that_raced_a_commit_is_dropped() {
        let hot = HotState::new(1_000);
        let before = hot.generation();
        // The reader read the store here, then a commit changed the key ...
        hot.apply(&[change(b"k", Some(b"new"))]);
        // ... and evicting it must not let the old value in later.
        hot.fill(b"other", Some(b"x"), before);
        assert_eq!(hot.get(b"other"), None, "stale generation");
        assert_eq!(hot.get(b"k"), Some(Some(b"new".to_vec())));
    }

    #[test]
    fn a_complete_cache_answers_misses_until_it_evicts() {
        // One entry a shard: 200 keys cannot all fit.
        let hot = HotState::new(SHARDS);
        assert!(!hot.is_complete());
        assert_eq!(hot.get(b"a"), None);
        hot.set_complete();
        assert_eq!(hot.get(b"a"), Some(None), "a miss is an absent key");
        let keys: Vec<[u8; 4]> = (0u32..200).map(u32::to_be_bytes).collect();
        let changes: Vec<StateChange> = keys.iter().map(|k| change(k, Some(b"v"))).collect();
        hot.apply(&changes);
        assert!(!hot.is_complete(), "an eviction ends completeness");
        assert!(
            keys.iter().any(|k| hot.get(k).is_none()),
            "an evicted key must be read from the store"
        );
        // Loading refuses what does not fit, and a cache of nothing is never complete.
        let loading = HotState::new(SHARDS);
        assert!(!keys.iter().all(|k| loading.load(k, b"v")));
        assert!(loading.len() <= SHARDS);
        let off = HotState::new(0);
        off.set_complete();
        assert!(!off.is_complete());
        assert_eq!(off.get(b"a"), None);
    }

    #[test]
    fn long_keys_and_values_are_kept_whole() {
        let hot = HotState::new(1_000);
        let (long_key, long_value) = (vec![7u8; 300], vec![9u8; 5_000]);
        hot.apply(&[
            change(&long_key, Some(&long_value)),
            change(&[1; INLINE], Some(b"")),
            change(&[2; INLINE - 1], Some(b"x")),
        ]);
        assert_eq!(hot.get(&long_key), Some(Some(long_value)));
        assert_eq!(hot.get(&[1; INLINE]), Some(Some(Vec::new())));
        assert_eq!(hot.get(&[2; INLINE - 1]), Some(Some(b"x".to_vec())));
        assert_eq!(hot.get(&[2; INLINE - 2]), None, "a prefix is another key");
        assert!(std::mem::size_of::<Entry>() <= 80);
    }

    #[test]
    fn room_counts_only_keys_not_cached() {
        // Two entries a shard: 64 keys fit, and changing them again needs no room.
        let hot = HotState::with_seed(2 * SHARDS, 1);
        let keys: Vec<StateChange> = (0u32..40)
            .map(|i| change(&i.to_be_bytes(), Some(b"v")))
            .collect();
        assert!(hot.has_room_for(&keys[..1]));
        let placed: Vec<StateChange> = keys
            .iter()
            .filter(|c| hot.restore(&c.key, c.value.as_deref()))
            .cloned()
            .collect();
        assert!(placed.len() >= 30, "{}", placed.len());
        assert!(hot.has_room_for(&placed), "overwrites take no room");
        let many: Vec<StateChange> = (100u32..400)
            .map(|i| change(&i.to_be_bytes(), Some(b"v")))
            .collect();
        assert!(!hot.has_room_for(&many));
    }

    #[test]
    fn it_holds_at_most_its_limit() {
        let hot = HotState::new(256);
        for i in 0u32..10_000 {
            hot.fill(&i.to_be_bytes(), Some(b"v"), hot.generation());
        }
        hot.apply(
            &(10_000u32..12_000)
                .map(|i| change(&i.to_be_bytes(), Some(b"w")))
                .collect::<Vec<_>>(),
        );
        assert!(
            hot.len() <= 256usize.div_ceil(SHARDS) * SHARDS,
            "{}",
            hot.len()
        );
        assert!(hot.len() >= 200, "{}", hot.len());
        let off = HotState::new(0);
        off.fill(b"a", Some(b"1"), off.generation());
        off.apply(&[change(b"b", Some(b"2"))]);
        assert!(off.is_empty());
    }
}
