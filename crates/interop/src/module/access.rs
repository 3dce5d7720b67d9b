//! Access sets: the state keys a call may read and write, declared before it runs.
//!
//! The executor runs calls whose sets do not conflict in parallel, and calls whose sets
//! conflict in block order. A [`WorkingSet`](super::WorkingSet) built with an access set
//! refuses any key outside it, so a module that declares too little fails loudly instead of
//! silently breaking the equality of parallel and sequential execution.

/// The keys a call may touch. Writing a key implies reading it.
///
/// Kept as two sorted, duplicate-free vectors: a call declares a handful of keys, and the
/// working set looks one up on every access, where a binary search over a few contiguous
/// keys beats a tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessSet {
    reads: Vec<Vec<u8>>,
    writes: Vec<Vec<u8>>,
    everything: bool,
}

fn insert(set: &mut Vec<Vec<u8>>, key: Vec<u8>) {
    if let Err(at) = set.binary_search(&key) {
        set.insert(at, key);
    }
}

fn contains(set: &[Vec<u8>], key: &[u8]) -> bool {
    set.binary_search_by(|k| k.as_slice().cmp(key)).is_ok()
}

impl AccessSet {
    /// An empty set: the call touches no state.
    pub fn new() -> AccessSet {
        AccessSet::default()
    }

    /// A set that allows every key and conflicts with every other set. Such a call runs
    /// alone, in block order.
    pub fn everything() -> AccessSet {
        AccessSet {
            everything: true,
            ..AccessSet::default()
        }
    }

    /// Declares a key the call reads.
    pub fn read(mut self, key: impl Into<Vec<u8>>) -> AccessSet {
        insert(&mut self.reads, key.into());
        self
    }

    /// Declares a key the call writes (and may read).
    pub fn write(mut self, key: impl Into<Vec<u8>>) -> AccessSet {
        insert(&mut self.writes, key.into());
        self
    }

    /// Whether the call may read `key`.
    pub fn allows_read(&self, key: &[u8]) -> bool {
        self.everything || contains(&self.writes, key) || contains(&self.reads, key)
    }

    /// Whether the call may write `key`.
    pub fn allows_write(&self, key: &[u8]) -> bool {
        self.everything || contains(&self.writes, key)
    }

    /// Whether two calls must run in order: one writes a key the other reads or writes.
    pub fn conflicts_with(&self, other: &AccessSet) -> bool {
        if self.everything || other.everything {
            return true;
        }
        let touches = |set: &AccessSet, key: &Vec<u8>| {
            contains(&set.reads, key) || contains(&set.writes, key)
        };
        self.writes.iter().any(|key| touches(other, key))
            || other.writes.iter().any(|key| touches(self, key))
    }

    /// The keys declared as read only.
    pub fn reads(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.reads.iter()
    }

    /// The keys declared as written.
    pub fn writes(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.writes.iter()
    }

    /// Whether the set allows everything.
    pub fn is_everything(&self) -> bool {
        self.everything
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts() {
        let a = AccessSet::new().write(b"x".to_vec()).read(b"y".to_vec());
        let reads_y = AccessSet::new().read(b"y".to_vec());
        let writes_y = AccessSet::new().write(b"y".to_vec());
        let reads_x = AccessSet::new().read(b"x".to_vec());
        assert!(!a.conflicts_with(&reads_y), "two reads never conflict");
        assert!(a.conflicts_with(&writes_y), "write against read");
        assert!(writes_y.conflicts_with(&a), "conflict is symmetric");
        assert!(a.conflicts_with(&reads_x));
        assert!(!reads_x.conflicts_with(&reads_y));
        assert!(AccessSet::everything().conflicts_with(&AccessSet::new()));
    }

    #[test]
    fn writes_imply_reads() {
        let set = AccessSet::new().write(b"k".to_vec()).read(b"r".to_vec());
        assert!(set.allows_read(b"k") && set.allows_write(b"k"));
        assert!(set.allows_read(b"r") && !set.allows_write(b"r"));
        assert!(!set.allows_read(b"z"));
        assert!(AccessSet::everything().allows_write(b"z"));
    }
}
