//! State access for modules: a read-only [`StateView`] of committed state, and the
//! [`WorkingSet`] a call reads and writes through.
//!
//! ```text
//!   call --get/set/delete/emit--> WorkingSet --miss--> StateView (committed snapshot)
//!                                  |  overlay: key -> Some(value) | None (deleted)
//!                                  |  undo log: previous overlay entries, for revert
//!                                  |  events, gas meter, declared access set
//! ```
//!
//! A [`Checkpoint`] marks the undo log and the event list; reverting to it puts back every
//! overlay entry changed since and drops the events emitted since, so a failed call leaves
//! no trace. Gas is never reverted.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::block::{EventRecord, StateChange, MAX_EVENT_LEN, MAX_TX_EVENTS};
use crate::codec::{BoundedBytes, DecodeError};

use super::access::AccessSet;
use super::gas::{cost, GasMeter, GasSchedule};
use super::ValidatorSet;

/// Longest state key, in bytes.
pub const MAX_KEY_LEN: usize = 256;
/// Longest state value, in bytes.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// Read-only access to committed state.
pub trait StateView {
    /// The value stored at `key`, or `None`. An error means the backend failed, never that
    /// the key is absent.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// A hint that `key` will be read soon. The executor calls it for every key a block's
    /// transactions declared, in parallel and ahead of execution, so that a backend can bring
    /// the key into memory or cache while nothing waits on it. Doing nothing is correct.
    fn prefetch(&self, _key: &[u8]) {}
}

impl StateView for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(BTreeMap::get(self, key).cloned())
    }
}

impl<S: std::hash::BuildHasher> StateView for HashMap<Vec<u8>, Vec<u8>, S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(HashMap::get(self, key).cloned())
    }
}

impl<S: std::hash::BuildHasher> StateView for hashbrown::HashMap<Vec<u8>, Vec<u8>, S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(hashbrown::HashMap::get(self, key).cloned())
    }
}

/// The state of a chain before genesis: empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyState;

impl StateView for EmptyState {
    fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(None)
    }
}

/// Why a state access failed. Module errors wrap it (`From<StateError>`), so `?` works.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The call ran out of gas.
    #[error("out of gas: used {used} of {limit}, needed {needed} more")]
    OutOfGas {
        /// The gas limit.
        limit: u64,
        /// Gas used before this charge.
        used: u64,
        /// What this access would have cost.
        needed: u64,
    },
    /// The call touched a key outside its declared access set.
    #[error("{} of undeclared key 0x{}", if *write { "write" } else { "read" }, hex::encode(key))]
    UndeclaredAccess {
        /// The key.
        key: Vec<u8>,
        /// Whether it was a write.
        write: bool,
    },
    /// A key longer than [`MAX_KEY_LEN`].
    #[error("key of {len} bytes exceeds the limit of {MAX_KEY_LEN}")]
    KeyTooLarge {
        /// Its length.
        len: usize,
    },
    /// A value longer than [`MAX_VALUE_LEN`].
    #[error("value of {len} bytes exceeds the limit of {MAX_VALUE_LEN}")]
    ValueTooLarge {
        /// Its length.
        len: usize,
    },
    /// More than [`MAX_TX_EVENTS`] events, or one larger than [`MAX_EVENT_LEN`].
    #[error("event limit exceeded")]
    EventLimit,
    /// A stored value did not decode as its type.
    #[error("stored value: {0}")]
    Decode(#[from] DecodeError),
    /// The storage backend failed.
    #[error("storage failure: {detail}")]
    Backend {
        /// The backend's error.
        detail: String,
    },
}

impl fmt::Debug for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A point to revert to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a checkpoint is only useful to revert to"]
pub struct Checkpoint {
    undo_len: usize,
    events_len: usize,
}

/// What a working set produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effects {
    /// Every key changed, sorted by key, with its final value (`None`: deleted).
    pub changes: Vec<StateChange>,
    /// Events emitted, in order.
    pub events: Vec<EventRecord>,
    /// Gas used.
    pub gas_used: u64,
    /// The validator set announced by a block hook, if any.
    pub validators: Option<ValidatorSet>,
}

/// One entry of the undo log: a key and its overlay entry before a write (`None`: the key
/// was not in the overlay).
type Undo = (Vec<u8>, Option<Option<Vec<u8>>>);

/// Entries an overlay keeps in a vector before it moves to a hash map.
const SMALL_OVERLAY: usize = 16;

/// A working set's own writes, `key -> Some(value) | None (deleted)`. Most calls write a few
/// keys, where a scan of a short vector beats hashing every key; a larger overlay moves to a
/// hash map (foldhash, randomly seeded, so keys chosen by a transaction cannot be aimed at
/// collisions).
enum Overlay {
    Small(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Large(hashbrown::HashMap<Vec<u8>, Option<Vec<u8>>>),
}

impl Overlay {
    fn get(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        match self {
            Overlay::Small(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Overlay::Large(map) => map.get(key),
        }
    }

    /// Sets `key`, returning its previous overlay entry (`None`: not in the overlay).
    fn insert(&mut self, key: &[u8], value: Option<Vec<u8>>) -> Option<Option<Vec<u8>>> {
        match self {
            Overlay::Small(entries) => {
                if let Some((_, slot)) = entries.iter_mut().find(|(k, _)| k == key) {
                    return Some(std::mem::replace(slot, value));
                }
                if entries.len() < SMALL_OVERLAY {
                    entries.push((key.to_vec(), value));
                    return None;
                }
                let mut map: hashbrown::HashMap<_, _> = entries.drain(..).collect();
                map.insert(key.to_vec(), value);
                *self = Overlay::Large(map);
                None
            }
            Overlay::Large(map) => match map.get_mut(key) {
                Some(slot) => Some(std::mem::replace(slot, value)),
                None => map.insert(key.to_vec(), value),
            },
        }
    }

    /// Puts back `previous` (from [`Overlay::insert`]) for `key`.
    fn restore(&mut self, key: Vec<u8>, previous: Option<Option<Vec<u8>>>) {
        match (self, previous) {
            (Overlay::Small(entries), Some(value)) => {
                if let Some((_, slot)) = entries.iter_mut().find(|(k, _)| *k == key) {
                    *slot = value;
                }
            }
            (Overlay::Small(entries), None) => entries.retain(|(k, _)| *k != key),
            (Overlay::Large(map), Some(value)) => {
                map.insert(key, value);
            }
            (Overlay::Large(map), None) => {
                map.remove(&key);
            }
        }
    }

    fn into_changes(self) -> Vec<StateChange> {
        let mut changes: Vec<StateChange> = match self {
            Overlay::Small(entries) => entries
                .into_iter()
                .map(|(key, value)| StateChange { key, value })
                .collect(),
            Overlay::Large(map) => map
                .into_iter()
                .map(|(key, value)| StateChange { key, value })
                .collect(),
        };
        changes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        changes
    }
}

/// Reads and writes of a call (or a block hook, or genesis) over a committed [`StateView`].
pub struct WorkingSet<'s> {
    base: &'s dyn StateView,
    overlay: Overlay,
    /// Whether a checkpoint was ever taken: writes before the first cannot be reverted, so
    /// they need no undo entries.
    undo_active: bool,
    undo: Vec<Undo>,
    events: Vec<EventRecord>,
    /// Whether events are kept; genesis drops them, so it has no limit on how many.
    keep_events: bool,
    gas: GasMeter,
    schedule: GasSchedule,
    access: Option<AccessSet>,
    validators: Option<ValidatorSet>,
}

impl<'s> WorkingSet<'s> {
    /// A working set over `base` with unlimited gas and no access restriction, for genesis
    /// and block hooks.
    pub fn new(base: &'s dyn StateView) -> WorkingSet<'s> {
        WorkingSet {
            base,
            overlay: Overlay::Small(Vec::new()),
            undo_active: false,
            undo: Vec::new(),
            events: Vec::new(),
            keep_events: true,
            gas: GasMeter::unlimited(),
            schedule: GasSchedule::default(),
            access: None,
            validators: None,
        }
    }

    /// Meters gas with `meter` at the prices of `schedule`.
    pub fn with_gas(mut self, meter: GasMeter, schedule: GasSchedule) -> WorkingSet<'s> {
        self.gas = meter;
        self.schedule = schedule;
        self
    }

    /// Checks events and drops them instead of keeping them, for genesis: no one reads a
    /// genesis's events, and a large genesis (a thousand pools) emits more than a
    /// transaction may.
    pub fn dropping_events(mut self) -> WorkingSet<'s> {
        self.keep_events = false;
        self
    }

    /// Refuses every key outside `access`.
    pub fn with_access(mut self, access: AccessSet) -> WorkingSet<'s> {
        self.access = Some(access.sealed());
        self
    }

    /// The value at `key`: this working set's own write if any, else the committed value.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.check(key, false)?;
        let value = match self.overlay.get(key) {
            Some(value) => value.clone(),
            None => self.base.get(key)?,
        };
        let bytes = key.len() + value.as_ref().map_or(0, Vec::len);
        self.gas
            .charge(cost(self.schedule.read, self.schedule.read_byte, bytes))?;
        Ok(value)
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), StateError> {
        if value.len() > MAX_VALUE_LEN {
            return Err(StateError::ValueTooLarge { len: value.len() });
        }
        let bytes = key.len() + value.len();
        self.write(key, Some(value), bytes)
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), StateError> {
        self.write(key, None, key.len())
    }

    fn write(
        &mut self,
        key: &[u8],
        value: Option<Vec<u8>>,
        bytes: usize,
    ) -> Result<(), StateError> {
        self.check(key, true)?;
        self.gas
            .charge(cost(self.schedule.write, self.schedule.write_byte, bytes))?;
        let previous = self.overlay.insert(key, value);
        if self.undo_active {
            self.undo.push((key.to_vec(), previous));
        }
        Ok(())
    }

    /// Charges `amount` gas for work other than state access (computation, a signature
    /// check). Fails, charging nothing, when it would pass the limit.
    pub fn charge_gas(&mut self, amount: u64) -> Result<(), StateError> {
        self.gas.charge(amount)
    }

    /// Reads `key` without charging gas, for the runtime's own bookkeeping (nonces, fees),
    /// which a transaction pays for through its base gas. The key limit and the access set
    /// still apply.
    pub fn get_unmetered(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.check(key, false)?;
        match self.overlay.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.base.get(key),
        }
    }

    /// Sets `key` without charging gas; see [`WorkingSet::get_unmetered`].
    pub fn set_unmetered(&mut self, key: &[u8], value: Vec<u8>) -> Result<(), StateError> {
        if value.len() > MAX_VALUE_LEN {
            return Err(StateError::ValueTooLarge { len: value.len() });
        }
        self.check(key, true)?;
        let previous = self.overlay.insert(key, Some(value));
        if self.undo_active {
            self.undo.push((key.to_vec(), previous));
        }
        Ok(())
    }

    /// Records an event of module `module` with encoded `data`.
    pub fn emit(&mut self, module: u16, data: Vec<u8>) -> Result<(), StateError> {
        if self.keep_events && self.events.len() >= MAX_TX_EVENTS {
            return Err(StateError::EventLimit);
        }
        let len = data.len();
        let data = BoundedBytes::<MAX_EVENT_LEN>::try_from_vec(data)
            .map_err(|_| StateError::EventLimit)?;
        self.gas
            .charge(cost(self.schedule.event, self.schedule.event_byte, len))?;
        if self.keep_events {
            self.events.push(EventRecord { module, data });
        }
        Ok(())
    }

    /// Refuses keys over the length limit and keys outside the declared access set.
    fn check(&self, key: &[u8], write: bool) -> Result<(), StateError> {
        if key.len() > MAX_KEY_LEN {
            return Err(StateError::KeyTooLarge { len: key.len() });
        }
        let allowed = match &self.access {
            None => true,
            Some(access) if write => access.allows_write(key),
            Some(access) => access.allows_read(key),
        };
        if !allowed {
            return Err(StateError::UndeclaredAccess {
                key: key.to_vec(),
                write,
            });
        }
        Ok(())
    }

    /// Marks the current state, to [`revert`](WorkingSet::revert) to.
    pub fn checkpoint(&mut self) -> Checkpoint {
        self.undo_active = true;
        Checkpoint {
            undo_len: self.undo.len(),
            events_len: self.events.len(),
        }
    }

    /// Undoes every write and event since `checkpoint`. Gas stays spent. Checkpoints are
    /// reverted innermost first; reverting to one older than a checkpoint already reverted
    /// past is fine, reverting to one taken after is a bug.
    pub fn revert(&mut self, checkpoint: Checkpoint) {
        debug_assert!(
            checkpoint.undo_len <= self.undo.len(),
            "checkpoint from the future"
        );
        while self.undo.len() > checkpoint.undo_len {
            let Some((key, previous)) = self.undo.pop() else {
                break;
            };
            self.overlay.restore(key, previous);
        }
        self.events.truncate(checkpoint.events_len);
    }

    /// Gas used so far.
    pub fn gas_used(&self) -> u64 {
        self.gas.used()
    }

    /// Events emitted so far.
    pub fn events(&self) -> &[EventRecord] {
        &self.events
    }

    /// Announces the validator set that consensus runs from the next block on (the last
    /// announcement wins). Only an end-block hook's announcement reaches consensus.
    pub fn announce_validators(&mut self, set: ValidatorSet) {
        self.validators = Some(set);
    }

    /// The changes, events and gas of this working set.
    pub fn finish(self) -> Effects {
        Effects {
            changes: self.overlay.into_changes(),
            events: self.events,
            gas_used: self.gas.used(),
            validators: self.validators,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> BTreeMap<Vec<u8>, Vec<u8>> {
        BTreeMap::from([
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
        ])
    }

    #[test]
    fn reads_see_own_writes_over_base() {
        let base = base();
        let mut ws = WorkingSet::new(&base);
        assert_eq!(ws.get(b"a"), Ok(Some(b"1".to_vec())));
        ws.set(b"a", b"9".to_vec()).unwrap();
        ws.delete(b"b").unwrap();
        assert_eq!(ws.get(b"a"), Ok(Some(b"9".to_vec())));
        assert_eq!(ws.get(b"b"), Ok(None));
        assert_eq!(
            base.get(b"a".as_slice()),
            Some(&b"1".to_vec()),
            "base is untouched"
        );
        let effects = ws.finish();
        assert_eq!(
            effects.changes,
            vec![
                StateChange {
                    key: b"a".to_vec(),
                    value: Some(b"9".to_vec())
                },
                StateChange {
                    key: b"b".to_vec(),
                    value: None
                },
            ]
        );
    }

    #[test]
    fn revert_restores_writes_and_events_but_not_gas() {
        let base = base();
        let mut ws = WorkingSet::new(&base);
        ws.set(b"a", b"5".to_vec()).unwrap();
        ws.emit(0, vec![1]).unwrap();
        let outer = ws.checkpoint();
        ws.set(b"a", b"6".to_vec()).unwrap();
        ws.set(b"c", b"7".to_vec()).unwrap();
        let inner = ws.checkpoint();
        ws.delete(b"b").unwrap();
        ws.emit(0, vec![2]).unwrap();
        ws.revert(inner);
        assert_eq!(ws.get(b"b"), Ok(Some(b"2".to_vec())));
        assert_eq!(ws.events().len(), 1);
        let gas_before_revert = ws.gas_used();
        ws.revert(outer);
        assert_eq!(ws.gas_used(), gas_before_revert);
        assert_eq!(ws.get(b"a"), Ok(Some(b"5".to_vec())));
        assert_eq!(ws.get(b"c"), Ok(None));
        let effects = ws.finish();
        assert_eq!(
            effects.changes,
            vec![StateChange {
                key: b"a".to_vec(),
                value: Some(b"5".to_vec())
            }]
        );
        assert_eq!(effects.events.len(), 1);
    }

    #[test]
    fn a_large_overlay_reads_and_reverts_like_a_small_one() {
        let base = base();
        let mut ws = WorkingSet::new(&base);
        for i in 0..10u8 {
            ws.set(&[b'k', i], vec![i]).unwrap();
        }
        let checkpoint = ws.checkpoint();
        for i in 5..40u8 {
            ws.set(&[b'k', i], vec![i, i]).unwrap();
        }
        ws.delete(b"a").unwrap();
        assert_eq!(ws.get(&[b'k', 30]), Ok(Some(vec![30, 30])));
        assert_eq!(ws.get(b"a"), Ok(None));
        ws.revert(checkpoint);
        assert_eq!(ws.get(b"a"), Ok(Some(b"1".to_vec())));
        let changes = ws.finish().changes;
        let expected: Vec<StateChange> = (0..10u8)
            .map(|i| StateChange {
                key: vec![b'k', i],
                value: Some(vec![i]),
            })
            .collect();
        assert_eq!(changes, expected);
    }

    #[test]
    fn undeclared_access_is_refused() {
        let base = base();
        let access = AccessSet::new().read(b"a".to_vec()).write(b"c".to_vec());
        let mut ws = WorkingSet::new(&base).with_access(access);
        assert!(ws.get(b"a").is_ok());
        assert!(ws.set(b"c", vec![1]).is_ok());
        assert!(ws.get(b"c").is_ok(), "a declared write may be read");
        assert_eq!(
            ws.get(b"b"),
            Err(StateError::UndeclaredAccess {
                key: b"b".to_vec(),
                write: false
            })
        );
        assert_eq!(
            ws.set(b"a", vec![1]),
            Err(StateError::UndeclaredAccess {
                key: b"a".to_vec(),
                write: true
            })
        );
        assert_eq!(
            ws.delete(b"b"),
            Err(StateError::UndeclaredAccess {
                key: b"b".to_vec(),
                write: true
            })
        );
    }

    #[test]
    fn gas_is_charged_per_access_and_byte() {
        let base = base();
        let schedule = GasSchedule {
            read: 10,
            read_byte: 1,
            write: 20,
            write_byte: 2,
            event: 5,
            event_byte: 1,
        };
        let mut ws = WorkingSet::new(&base).with_gas(GasMeter::new(1_000), schedule);
        ws.get(b"a").unwrap(); // 10 + 2 bytes
        ws.set(b"k", vec![0; 4]).unwrap(); // 20 + 2 * 5 bytes
        ws.emit(0, vec![0; 3]).unwrap(); // 5 + 3
        assert_eq!(ws.gas_used(), 12 + 30 + 8);
    }

    #[test]
    fn unmetered_bookkeeping_costs_nothing_but_still_checks_access() {
        let base = base();
        let access = AccessSet::new().write(b"n".to_vec()).read(b"a".to_vec());
        let mut ws = WorkingSet::new(&base)
            .with_gas(GasMeter::new(10), GasSchedule::default())
            .with_access(access);
        assert_eq!(ws.get_unmetered(b"a"), Ok(Some(b"1".to_vec())));
        ws.set_unmetered(b"n", vec![1; 100]).unwrap();
        assert_eq!(ws.get_unmetered(b"n"), Ok(Some(vec![1; 100])));
        assert_eq!(ws.gas_used(), 0);
        assert!(matches!(
            ws.set_unmetered(b"a", vec![]),
            Err(StateError::UndeclaredAccess { write: true, .. })
        ));
        assert_eq!(ws.charge_gas(10), Ok(()));
        assert!(ws.charge_gas(1).is_err());
        let cp = ws.checkpoint();
        ws.set_unmetered(b"n", vec![2]).unwrap();
        ws.revert(cp);
        assert_eq!(ws.get_unmetered(b"n"), Ok(Some(vec![1; 100])));
    }

    #[test]
    fn out_of_gas_stops_the_write() {
        let base = base();
        let mut ws = WorkingSet::new(&base).with_gas(GasMeter::new(50), GasSchedule::default());
        assert!(matches!(
            ws.set(b"k", vec![0; 10]),
            Err(StateError::OutOfGas { limit: 50, .. })
        ));
        assert_eq!(
            ws.finish().changes,
            vec![],
            "a refused write leaves nothing"
        );
    }

    #[test]
    fn limits_on_keys_values_and_events() {
        let base = base();
        let mut ws = WorkingSet::new(&base);
        let long_key = vec![0; MAX_KEY_LEN + 1];
        assert_eq!(
            ws.get(&long_key),
            Err(StateError::KeyTooLarge {
                len: MAX_KEY_LEN + 1
            })
        );
        assert_eq!(
            ws.set(b"k", vec![0; MAX_VALUE_LEN + 1]),
            Err(StateError::ValueTooLarge {
                len: MAX_VALUE_LEN + 1
            })
        );
        assert_eq!(
            ws.emit(0, vec![0; MAX_EVENT_LEN + 1]),
            Err(StateError::EventLimit)
        );
        for _ in 0..MAX_TX_EVENTS {
            ws.emit(0, vec![]).unwrap();
        }
        assert_eq!(ws.emit(0, vec![]), Err(StateError::EventLimit));
    }

    #[test]
    fn a_genesis_working_set_checks_events_but_keeps_none() {
        let base = base();
        let mut ws = WorkingSet::new(&base).dropping_events();
        for _ in 0..2 * MAX_TX_EVENTS {
            ws.emit(0, vec![1]).unwrap();
        }
        assert_eq!(
            ws.emit(0, vec![0; MAX_EVENT_LEN + 1]),
            Err(StateError::EventLimit)
        );
        assert!(ws.finish().events.is_empty());
    }
}
