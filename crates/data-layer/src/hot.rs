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
//! The cache holds at most `max_entries`, spread over shards by a per-process random hash
//! (keys chosen by transactions cannot pile into one shard). A full shard evicts an arbitrary
//! entry for each new one: with uniformly random access no policy does better, and with skewed
//! access the hot keys come back at once.
//!
//! While the whole flat state fits, the cache is *complete*: it starts so on an empty store,
//! or after opening loaded every entry ([`HotState::load`]), and stays so until its first
//! eviction. A complete cache answers every read, a miss meaning an absent key, so the store
//! is never read: on a chain whose state fits in memory, a transaction from a new account
//! costs a hash lookup, not a search of every level of the tree.

use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hashbrown::HashMap;
use lamina_interop::block::StateChange;
use parking_lot::Mutex;

/// Shards: a power of two, well above the number of cores that read at once.
const SHARDS: usize = 64;

/// Entries a node keeps by default: every key of about two million accounts, under 500 MiB.
pub const DEFAULT_HOT_ENTRIES: usize = 4 << 20;

type Shard = HashMap<Box<[u8]>, Option<Box<[u8]>>>;

/// The hot state; see the module docs.
pub struct HotState {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    hasher: hashbrown::DefaultHashBuilder,
    generation: AtomicU64,
    /// Every entry of the flat state is cached; see the module docs. Cleared, under the
    /// shard's lock, before the first eviction.
    complete: AtomicBool,
}

impl HotState {
    /// A cache of at most `max_entries` entries (0 caches nothing).
    pub fn new(max_entries: usize) -> HotState {
        HotState {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: max_entries.div_ceil(SHARDS),
            hasher: hashbrown::DefaultHashBuilder::default(),
            generation: AtomicU64::new(0),
            complete: AtomicBool::new(false),
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<Shard> {
        let hash = self.hasher.hash_one(key);
        // High bits: the shard's own table uses the low ones.
        &self.shards[(hash >> 58) as usize & (SHARDS - 1)]
    }

    /// The cached entry for `key`: `Some(None)` when it is known to be absent (cached as
    /// absent, or not cached by a complete cache), `None` when the store must be read.
    pub fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        let shard = self.shard(key).lock();
        match shard.get(key) {
            Some(value) => Some(value.as_deref().map(<[u8]>::to_vec)),
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
        let mut shard = self.shard(key).lock();
        if shard.len() >= self.per_shard && !shard.contains_key(key) {
            return false;
        }
        shard.insert(key.into(), Some(value.into()));
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
        let mut shard = self.shard(key).lock();
        if self.generation.load(Ordering::Acquire) != generation || shard.contains_key(key) {
            return;
        }
        if shard.len() >= self.per_shard {
            self.evict_one(&mut shard);
        }
        shard.insert(key.into(), value.map(Into::into));
    }

    /// Applies a block's changes, durable in the store already.
    pub fn apply(&self, changes: &[StateChange]) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if self.per_shard == 0 {
            return;
        }
        for change in changes {
            let mut shard = self.shard(&change.key).lock();
            let value = change.value.as_deref().map(Into::into);
            match shard.get_mut(change.key.as_slice()) {
                Some(slot) => *slot = value,
                None => {
                    if shard.len() >= self.per_shard {
                        self.evict_one(&mut shard);
                    }
                    shard.insert(change.key.as_slice().into(), value);
                }
            }
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

    fn evict_one(&self, shard: &mut Shard) {
        self.complete.store(false, Ordering::Release);
        let victim = shard.keys().next().cloned();
        if let Some(victim) = victim {
            shard.remove(&victim);
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
