//! Proofs of validator-set changes, captured while they can be made.
//!
//! Staking writes the next epoch's set under [`NEXT_SET_KEY`] half an epoch before the
//! boundary. A light client learns it from a state proof against the root that a final
//! header of the current epoch names. The state proves keys against its latest root only,
//! and a header names the state of an earlier height, so the proof has to be made when that
//! state is the latest: while a set is pending, every commit captures a proof of the key
//! (kept in memory, at most [`CAPTURED`]); once a committed block names the state height
//! of a captured proof, that proof and the block are written to the block store's
//! `set_changes` column, and the window closes until the next set is decided.
//!
//! ```text
//! commit h writes NEXT_SET_KEY (set of epoch e)  -> window open for e
//! commit h' (window open)                        -> capture proof at root(h')
//! commit of block b naming state height h'       -> set_changes[e] = (b, proof); window shut
//! ```
//!
//! A chain without staking never writes the key, and pays nothing.

use std::collections::BTreeMap;

use lamina_interop::block::{Header, StateDelta};
use lamina_interop::codec::Canonical;
use lamina_interop::finality::ValidatorSet;
use lamina_interop::light::NEXT_SET_KEY;
use lamina_interop::state_proof::StateProof;
use lamina_interop::Height;

use crate::commit::ChainStore;
use crate::kv::KvStore;
use crate::state::AuthenticatedState;
use crate::Result;

/// Most proofs held while waiting for a block to name their state height.
pub const CAPTURED: usize = 64;

/// The capture's state, held by the commit service.
#[derive(Default)]
pub struct SetChanges {
    /// Whether the pending set was looked up since start.
    started: bool,
    /// The epoch whose set awaits a proof, if any.
    open: Option<u64>,
    captured: BTreeMap<Height, StateProof>,
}

impl SetChanges {
    /// Called once block `header` with `delta` is committed (the state's latest root is the
    /// block's): captures and records as the module docs say. Returns the epoch recorded,
    /// if any.
    pub async fn committed<S: KvStore + ?Sized, A: AuthenticatedState>(
        &mut self,
        store: &ChainStore<S, A>,
        header: &Header,
        delta: &StateDelta,
    ) -> Result<Option<u64>> {
        let written = delta
            .changes()
            .iter()
            .find(|change| change.key == NEXT_SET_KEY)
            .map(|change| change.value.clone());
        let pending = match written {
            Some(value) => Some(value),
            None if !self.started => Some(store.state().get(NEXT_SET_KEY).await?),
            None => None,
        };
        self.started = true;
        if let Some(value) = pending {
            self.captured.clear();
            self.open = match value.map(|bytes| ValidatorSet::decode(&bytes)) {
                Some(Ok(set)) if store.blocks().set_change(set.epoch)?.is_none() => Some(set.epoch),
                _ => None,
            };
        }
        let Some(epoch) = self.open else {
            return Ok(None);
        };
        self.captured
            .insert(header.height, store.state().prove(NEXT_SET_KEY).await?);
        while self.captured.len() > CAPTURED {
            self.captured.pop_first();
        }
        let Some(proof) = self.captured.remove(&header.state_height) else {
            return Ok(None);
        };
        store
            .blocks()
            .put_set_change(epoch, header.height, &proof)?;
        self.open = None;
        self.captured.clear();
        Ok(Some(epoch))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
    use lamina_interop::block::{Block, StateChange};
    use lamina_interop::codec::BoundedVec;
    use lamina_interop::crypto::SecretKey;
    use lamina_interop::finality::{FinalityCertificate, FinalityProof};
    use lamina_interop::light::{Checkpoint, LightClient, LightError, LightParams};
    use lamina_interop::{Address, ChainId, Hash, Timestamp};

    use super::*;
    use crate::blocks::Pruning;
    use crate::kv::MemoryStore;
    use crate::state::{QmdbState, StateConfig};

    const CHAIN: ChainId = ChainId(1);

    fn keys(seed: u8) -> Vec<SecretKey> {
        (0..4u8)
            .map(|i| SecretKey::from_seed([seed + i; 32]))
            .collect()
    }

    fn set(epoch: u64, keys: &[SecretKey]) -> ValidatorSet {
        ValidatorSet::new(epoch, keys.iter().map(SecretKey::public_key).collect()).unwrap()
    }

    fn header(height: u64, parent: Hash, state_root: Hash) -> Header {
        Header {
            chain_id: CHAIN,
            height: Height(height),
            parent,
            timestamp: Timestamp(height),
            proposer: Address([1; 32]),
            tx_root: lamina_interop::block::tx_root(std::iter::empty()),
            tx_count: 0,
            state_height: Height(height - 1),
            state_root,
        }
    }

    /// Blocks 1 to 4 over a real QMDB state; block 2 decides the set of epoch 1. Returns the
    /// headers and what the block store recorded for epoch 1.
    fn chain(next: &ValidatorSet) -> (Vec<Header>, Option<(Height, StateProof)>) {
        let next = next.clone();
        deterministic::Runner::seeded(5).start(|ctx| async move {
            let kv = Arc::new(MemoryStore::new(&crate::commit::columns()));
            let state = QmdbState::open(
                ctx.child("state"),
                &StateConfig {
                    partition: "set_changes".into(),
                    cache_pages: 64,
                    parallelism: 1,
                    prune_every: 2,
                },
            )
            .await
            .unwrap();
            let (mut store, _) = ChainStore::open(kv, Pruning::Archive, state).await.unwrap();
            let mut changes = SetChanges::default();
            let (mut parent, mut root) = (Hash::ZERO, Hash::ZERO);
            let mut headers = Vec::new();
            for height in 1..=4u64 {
                let mut writes = vec![StateChange {
                    key: format!("k{height}").into_bytes(),
                    value: Some(vec![height as u8]),
                }];
                if height == 2 {
                    writes.push(StateChange {
                        key: NEXT_SET_KEY.to_vec(),
                        value: Some(next.encode()),
                    });
                }
                let delta = StateDelta::from_changes(writes);
                let block = Block {
                    header: header(height, parent, root),
                    txs: BoundedVec::new(),
                };
                root = store.commit(&block, &[], &delta).await.unwrap().root;
                changes
                    .committed(&store, &block.header, &delta)
                    .await
                    .unwrap();
                parent = block.id();
                headers.push(block.header);
            }
            let recorded = store.blocks().set_change(1).unwrap();
            (headers, recorded)
        })
    }

    fn client(set: ValidatorSet) -> LightClient {
        let params = LightParams {
            chain_id: CHAIN,
            epoch_blocks: Some(8),
            trusting_period_ms: 1_000_000,
        };
        let checkpoint = Checkpoint {
            height: Height(0),
            block: Hash::ZERO,
            timestamp: Timestamp(0),
            set,
        };
        LightClient::new(params, checkpoint, Timestamp(0)).unwrap()
    }

    fn signed(header: &Header, set: &ValidatorSet, keys: &[SecretKey]) -> FinalityProof {
        let signers: Vec<&SecretKey> = keys.iter().take(3).collect();
        let h = header.height.0;
        FinalityProof {
            certificate: FinalityCertificate::sign(CHAIN, set, (h, h - 1), header.id(), &signers),
            headers: BoundedVec::try_from_vec(vec![header.clone()]).unwrap(),
        }
    }

    /// The proof is captured at the commit of block 2 and recorded with block 3, the first
    /// to name that state; a light client proves the set with it, and refuses it against a
    /// header that names another root.
    #[test]
    fn a_set_change_is_recorded_with_the_block_naming_its_state_and_proves_the_set() {
        let (old, new) = (keys(10), keys(20));
        let next = set(1, &new);
        let (headers, recorded) = chain(&next);
        let (at, proof) = recorded.expect("the change is recorded");
        assert_eq!(at, Height(3));

        let genesis = set(0, &old);
        let mut light = client(genesis.clone());
        light
            .update(&signed(&headers[2], &genesis, &old), Timestamp(3))
            .unwrap();
        assert_eq!(
            light.prove_next_set(at, &proof, Timestamp(3)).unwrap(),
            &next
        );

        // A header that names another root (block 2's names state 1, without the set).
        let mut light = client(genesis.clone());
        light
            .update(&signed(&headers[1], &genesis, &old), Timestamp(2))
            .unwrap();
        assert_eq!(
            light.prove_next_set(Height(2), &proof, Timestamp(2)),
            Err(LightError::BadStateProof { height: Height(1) })
        );
        // Without a verified header, no set.
        assert_eq!(
            client(genesis).prove_next_set(at, &proof, Timestamp(3)),
            Err(LightError::HeaderUnknown { height: at })
        );
    }
}
