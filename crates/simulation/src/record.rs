//! What the validators did, as seen on their buses, and the trace hash over it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lamina_interop::crypto::PublicKey;
use lamina_interop::{Hash, Height};

/// One observation on a validator's bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// `BlockFinalized`.
    Finalized {
        height: Height,
        block: Hash,
        txs: usize,
    },
    /// `StateCommitted`.
    Committed { height: Height, root: Hash },
    /// `MisbehaviourDetected`.
    Misbehaviour { offender: PublicKey },
    /// `ValidatorSetChanged`: the epoch, and the set's keys.
    SetChanged { epoch: u64, keys: Vec<PublicKey> },
}

/// Everything observed, per validator.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// Height -> block id finalized, per validator.
    pub finalized: Vec<BTreeMap<u64, Hash>>,
    /// Height -> state root committed, per validator.
    pub roots: Vec<BTreeMap<u64, Hash>>,
    /// When each height was first finalized by anyone (simulated time since start).
    pub first_finalized: BTreeMap<u64, Duration>,
    /// Epoch -> the validator set announced for it, per validator.
    pub sets: Vec<BTreeMap<u64, Vec<PublicKey>>>,
    /// Offenders reported, with the reporting validator.
    pub misbehaviour: Vec<(usize, PublicKey)>,
    /// Transactions in finalized blocks, counted once per height.
    pub txs: usize,
    /// Heights each validator resumed from, in start order.
    pub resumed: Vec<Vec<Height>>,
    /// Validators whose parts stopped with an error.
    pub failures: Vec<(usize, String)>,
    /// Running hash of every observation in order.
    pub trace: Hash,
    /// When the simulation started.
    pub start: Option<SystemTime>,
    /// When each validator was killed, until it restarts: it must be silent after.
    pub down: Vec<Option<SystemTime>>,
}

impl Record {
    pub(crate) fn new(validators: usize, start: SystemTime) -> Record {
        Record {
            start: Some(start),
            finalized: vec![BTreeMap::new(); validators],
            roots: vec![BTreeMap::new(); validators],
            sets: vec![BTreeMap::new(); validators],
            resumed: vec![Vec::new(); validators],
            down: vec![None; validators],
            ..Record::default()
        }
    }

    pub(crate) fn resumed(&mut self, validator: usize, height: Height) {
        self.resumed[validator].push(height);
        self.fold(validator, SystemTime::UNIX_EPOCH, 0, height.0, &Hash::ZERO);
    }

    pub(crate) fn observe(&mut self, validator: usize, at: SystemTime, event: Event) {
        // Tasks killed in this instant may still finish the step they were in.
        if let Some(since) = self.down[validator].filter(|since| at > *since) {
            let after = at.duration_since(since).unwrap_or_default();
            self.failures.push((
                validator,
                format!("{event:?} observed {after:?} after it was killed"),
            ));
        }
        match event {
            Event::Finalized { height, block, txs } => {
                self.finalized[validator].insert(height.0, block);
                let since = at
                    .duration_since(self.start.unwrap_or(UNIX_EPOCH))
                    .unwrap_or_default();
                if let std::collections::btree_map::Entry::Vacant(first) =
                    self.first_finalized.entry(height.0)
                {
                    first.insert(since);
                    self.txs += txs;
                }
                self.fold(validator, at, 1, height.0, &block);
            }
            Event::Committed { height, root } => {
                self.roots[validator].insert(height.0, root);
                self.fold(validator, at, 2, height.0, &root);
            }
            Event::Misbehaviour { offender } => {
                self.misbehaviour.push((validator, offender));
                self.fold(validator, at, 3, 0, &Hash(offender.0));
            }
            Event::SetChanged { epoch, keys } => {
                let id = Hash::of(&keys.iter().flat_map(|k| k.0).collect::<Vec<u8>>());
                self.sets[validator].insert(epoch, keys);
                self.fold(validator, at, 4, epoch, &id);
            }
        }
    }

    fn fold(&mut self, validator: usize, at: SystemTime, kind: u8, height: u64, item: &Hash) {
        let millis = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut bytes = Vec::with_capacity(32 + 8 + 1 + 8 + 8 + 32);
        bytes.extend_from_slice(&self.trace.0);
        bytes.extend_from_slice(&(validator as u64).to_be_bytes());
        bytes.push(kind);
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&millis.to_be_bytes());
        bytes.extend_from_slice(&item.0);
        self.trace = Hash::of(&bytes);
    }

    /// The highest height `validator` committed.
    pub(crate) fn committed(&self, validator: usize) -> u64 {
        self.roots[validator]
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
    }

    /// The highest height finalized by `validator`.
    pub(crate) fn height(&self, validator: usize) -> u64 {
        self.finalized[validator]
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
    }
}
