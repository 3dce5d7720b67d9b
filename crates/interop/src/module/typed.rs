//! Typed state: keys and values that are encoded for the module, under a prefix of its own.
//!
//! A map's key for `k` is `prefix | borsh(k)`. Prefixes must not be prefixes of one another
//! across a runtime; by convention they are `"<module>/<name>/"`.

use std::marker::PhantomData;

use borsh::{BorshDeserialize, BorshSerialize};

use super::state::{StateError, StateView, WorkingSet, MAX_VALUE_LEN};
use crate::codec;

fn decode<V: BorshDeserialize>(bytes: &[u8]) -> Result<V, StateError> {
    codec::decode_limited(bytes, std::any::type_name::<V>(), MAX_VALUE_LEN)
        .map_err(StateError::from)
}

/// A map from `K` to `V` in state.
pub struct StateMap<K, V> {
    prefix: &'static [u8],
    _types: PhantomData<fn(K) -> V>,
}

impl<K: BorshSerialize, V: BorshSerialize + BorshDeserialize> StateMap<K, V> {
    /// A map stored under `prefix`.
    pub const fn new(prefix: &'static [u8]) -> Self {
        StateMap {
            prefix,
            _types: PhantomData,
        }
    }

    /// The state key of `key`, for access sets.
    pub fn key(&self, key: &K) -> Vec<u8> {
        // One allocation of the exact size: keys are built on every state access.
        let len = borsh::object_length(key).unwrap_or(0);
        let mut out = Vec::with_capacity(self.prefix.len() + len);
        out.extend_from_slice(self.prefix);
        key.serialize(&mut out)
            .expect("writing to a Vec cannot fail for bounded keys");
        out
    }

    /// The value at `key` in the working set.
    pub fn get(&self, state: &mut WorkingSet<'_>, key: &K) -> Result<Option<V>, StateError> {
        state
            .get(&self.key(key))?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Sets `key` to `value`.
    pub fn set(&self, state: &mut WorkingSet<'_>, key: &K, value: &V) -> Result<(), StateError> {
        state.set(&self.key(key), codec::encode(value))
    }

    /// Removes `key`.
    pub fn remove(&self, state: &mut WorkingSet<'_>, key: &K) -> Result<(), StateError> {
        state.delete(&self.key(key))
    }

    /// The committed value at `key`, for queries.
    pub fn get_committed(&self, view: &dyn StateView, key: &K) -> Result<Option<V>, StateError> {
        view.get(&self.key(key))?
            .map(|bytes| decode(&bytes))
            .transpose()
    }
}

/// A single value in state.
pub struct StateValue<V> {
    key: &'static [u8],
    _type: PhantomData<fn() -> V>,
}

impl<V: BorshSerialize + BorshDeserialize> StateValue<V> {
    /// A value stored at `key`.
    pub const fn new(key: &'static [u8]) -> Self {
        StateValue {
            key,
            _type: PhantomData,
        }
    }

    /// The state key, for access sets.
    pub fn key(&self) -> Vec<u8> {
        self.key.to_vec()
    }

    /// The value in the working set.
    pub fn get(&self, state: &mut WorkingSet<'_>) -> Result<Option<V>, StateError> {
        state.get(self.key)?.map(|bytes| decode(&bytes)).transpose()
    }

    /// Sets the value.
    pub fn set(&self, state: &mut WorkingSet<'_>, value: &V) -> Result<(), StateError> {
        state.set(self.key, codec::encode(value))
    }

    /// The committed value, for queries.
    pub fn get_committed(&self, view: &dyn StateView) -> Result<Option<V>, StateError> {
        view.get(self.key)?.map(|bytes| decode(&bytes)).transpose()
    }
}
