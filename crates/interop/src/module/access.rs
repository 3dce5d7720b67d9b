//! Access sets: the state keys a call may read and write, declared before it runs.
//!
//! The executor runs calls whose sets do not conflict in parallel, and calls whose sets
//! conflict in block order. A [`WorkingSet`](super::WorkingSet) built with an access set
//! refuses any key outside it, so a module that declares too little fails loudly instead of
//! silently breaking the equality of parallel and sequential execution.

/// The keys a call may touch. Writing a key implies reading it.
///
/// Kept as two vectors, appended to while a module declares its keys and sorted once, without
/// duplicates, when the runtime takes the set ([`AccessSet::sealed`]); the working set then
/// finds a key by binary search on every access. A set still being built answers by a linear
/// scan.
#[derive(Debug, Clone, Default)]
pub struct AccessSet {
    reads: Vec<Vec<u8>>,
    writes: Vec<Vec<u8>>,
    everything: bool,
    /// Both vectors sorted and free of duplicates.
    sealed: bool,
}

/// Appends `key`; the vector stays sorted while keys arrive in increasing order.
fn push(set: &mut Vec<Vec<u8>>, key: Vec<u8>, sorted: &mut bool) {
    if set.last().is_some_and(|last| *last >= key) {
        *sorted = false;
    }
    set.push(key);
}

fn contains(set: &[Vec<u8>], key: &[u8], sorted: bool) -> bool {
    if sorted {
        set.binary_search_by(|k| k.as_slice().cmp(key)).is_ok()
    } else {
        set.iter().any(|k| k.as_slice() == key)
    }
}

fn normalised(set: &[Vec<u8>]) -> Vec<&Vec<u8>> {
    let mut keys: Vec<&Vec<u8>> = set.iter().collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

impl PartialEq for AccessSet {
    fn eq(&self, other: &AccessSet) -> bool {
        self.everything == other.everything
            && normalised(&self.reads) == normalised(&other.reads)
            && normalised(&self.writes) == normalised(&other.writes)
    }
}

impl Eq for AccessSet {}

impl AccessSet {
    /// An empty set: the call touches no state.
    pub fn new() -> AccessSet {
        AccessSet {
            sealed: true,
            ..AccessSet::default()
        }
    }

    /// A set that allows every key and conflicts with every other set. Such a call runs
    /// alone, in block order.
    pub fn everything() -> AccessSet {
        AccessSet {
            everything: true,
            sealed: true,
            ..AccessSet::default()
        }
    }

    /// Declares a key the call reads.
    pub fn read(mut self, key: impl Into<Vec<u8>>) -> AccessSet {
        push(&mut self.reads, key.into(), &mut self.sealed);
        self
    }

    /// Declares a key the call writes (and may read).
    pub fn write(mut self, key: impl Into<Vec<u8>>) -> AccessSet {
        push(&mut self.writes, key.into(), &mut self.sealed);
        self
    }

    /// The set sorted and without duplicates, so that lookups are binary searches: done once,
    /// when the runtime takes a call's set.
    pub fn sealed(mut self) -> AccessSet {
        if !self.sealed {
            for set in [&mut self.reads, &mut self.writes] {
                set.sort_unstable();
                set.dedup();
            }
            self.sealed = true;
        }
        self
    }

    /// Whether the call may read `key`.
    pub fn allows_read(&self, key: &[u8]) -> bool {
        self.everything
            || contains(&self.writes, key, self.sealed)
            || contains(&self.reads, key, self.sealed)
    }

    /// Whether the call may write `key`.
    pub fn allows_write(&self, key: &[u8]) -> bool {
        self.everything || contains(&self.writes, key, self.sealed)
    }

    /// Whether two calls must run in order: one writes a key the other reads or writes.
    pub fn conflicts_with(&self, other: &AccessSet) -> bool {
        if self.everything || other.everything {
            return true;
        }
        let touches = |set: &AccessSet, key: &Vec<u8>| {
            contains(&set.reads, key, set.sealed) || contains(&set.writes, key, set.sealed)
        };
        self.writes.iter().any(|key| touches(other, key))
            || other.writes.iter().any(|key| touches(self, key))
    }

    /// The keys declared as read only (once [sealed](AccessSet::sealed), each once, in order).
    pub fn reads(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.reads.iter()
    }

    /// The keys declared as written (once [sealed](AccessSet::sealed), each once, in order).
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
    fn a_set_answers_the_same_before_and_after_sealing() {
        let built = AccessSet::new()
            .read(b"m".to_vec())
            .read(b"a".to_vec())
            .write(b"z".to_vec())
            .write(b"b".to_vec())
            .read(b"a".to_vec());
        let sealed = built.clone().sealed();
        assert_eq!(built, sealed);
        assert_eq!(sealed.reads().count(), 2, "duplicates go");
        for key in [&b"m"[..], b"a", b"z", b"b", b"q"] {
            assert_eq!(built.allows_read(key), sealed.allows_read(key));
            assert_eq!(built.allows_write(key), sealed.allows_write(key));
        }
        let other = AccessSet::new().read(b"b".to_vec());
        assert!(built.conflicts_with(&other) && sealed.conflicts_with(&other));
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
