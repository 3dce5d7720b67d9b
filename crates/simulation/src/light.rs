//! A light client follows each honest validator's stored chain from genesis, knowing only
//! the genesis set: every height's finality proof and every set change must verify, the
//! sets it proves must be the ones consensus moved to, and a conflicting block signed by a
//! quorum of the real keys (an equivocating quorum) must freeze it with the evidence.

use std::collections::BTreeMap;
use std::sync::Arc;

use lamina_data_layer::blocks::{BlockStore, Pruning};
use lamina_data_layer::kv::MemoryStore;
use lamina_interop::codec::BoundedVec;
use lamina_interop::crypto::{PublicKey, SecretKey};
use lamina_interop::finality::{FinalityCertificate, FinalityProof, ValidatorSet};
use lamina_interop::light::{Checkpoint, LightClient, LightError, LightParams};
use lamina_interop::{ChainId, Height, Timestamp};

/// Longer than any simulation runs.
const TRUSTING_PERIOD_MS: u64 = 24 * 3_600_000;

/// Follows the chain in `store` up to its last certified height; returns what went wrong.
/// `sets` are the sets consensus moved to, by epoch; `keys` every validator's key.
pub(crate) fn follow(
    store: Arc<MemoryStore>,
    chain_id: ChainId,
    epoch_blocks: u64,
    genesis: &[PublicKey],
    sets: &BTreeMap<u64, Vec<PublicKey>>,
    keys: &[SecretKey],
) -> Result<(), String> {
    let blocks = BlockStore::new(store, Pruning::Archive);
    let last = blocks
        .finalized()
        .map_err(|e| e.to_string())?
        .ok_or("no block stored")?;
    let first = blocks
        .header(Height(1))
        .map_err(|e| e.to_string())?
        .ok_or("no block 1")?;
    let params = LightParams {
        chain_id,
        epoch_blocks: Some(epoch_blocks),
        trusting_period_ms: TRUSTING_PERIOD_MS,
    };
    let checkpoint = Checkpoint {
        height: Height(0),
        block: first.parent,
        timestamp: first.timestamp,
        set: ValidatorSet::new(0, genesis.to_vec()).map_err(|e| e.to_string())?,
    };
    let mut client =
        LightClient::new(params.clone(), checkpoint, first.timestamp).map_err(|e| e.to_string())?;
    let proof_at = |height: Height| -> Result<FinalityProof, String> {
        blocks
            .finality_proof(height)
            .map_err(|e| e.to_string())?
            .ok_or(format!("no finality proof for {height}"))
    };
    let now = |proof: &FinalityProof| proof.certified().map_or(Timestamp(0), |h| h.timestamp);
    let mut verified = 0;
    for height in 1..=last.0 {
        let height = Height(height);
        let epoch = params.epoch_of(height);
        if client.set(epoch).is_none() {
            let (at, state) = blocks
                .set_change(epoch)
                .map_err(|e| e.to_string())?
                .ok_or(format!("no proof of the set of epoch {epoch}"))?;
            let proof = proof_at(at)?;
            client
                .update(&proof, now(&proof))
                .map_err(|e| format!("block {at}: {e}"))?;
            let set = client
                .prove_next_set(at, &state, now(&proof))
                .map_err(|e| format!("set of epoch {epoch}: {e}"))?;
            let moved_to = sets.get(&epoch).map(|keys| {
                let mut keys = keys.clone();
                keys.sort_unstable();
                keys
            });
            if moved_to.is_some_and(|keys| keys != set.keys.to_vec()) {
                return Err(format!(
                    "the proven set of epoch {epoch} is not consensus's"
                ));
            }
        }
        // A proof runs from its height to the next stored certificate, so once one is
        // missing, every later block waits for a certificate not yet stored (a validator
        // stopped while catching up holds blocks that one later certificate finalizes).
        let Ok(proof) = proof_at(height) else {
            break;
        };
        client
            .update(&proof, now(&proof))
            .map_err(|e| format!("block {height}: {e}"))?;
        verified += 1;
    }
    // Every block up to the last stored certificate must have been provable.
    let mut certified = last.0;
    while certified > 0
        && blocks
            .certificate(Height(certified))
            .map_err(|e| e.to_string())?
            .is_none()
    {
        certified -= 1;
    }
    // The blocks after it wait for one certificate, and an epoch's last block always gets
    // its own (it closes the epoch), so they are at most an epoch's worth.
    if last.0 - certified > epoch_blocks {
        return Err(format!(
            "{} blocks stored after the last certificate (at {certified}), more than an epoch",
            last.0 - certified
        ));
    }
    if verified < certified {
        return Err(format!(
            "no finality proof for {}, below the certificate stored at {certified}",
            verified + 1
        ));
    }

    // An equivocating quorum: every key of the tip's set signs another block at its height.
    let (tip, _) = client.latest();
    let mut forged = client.header(tip).cloned().ok_or("tip not kept")?;
    forged.timestamp = Timestamp(forged.timestamp.0 + 1);
    let set = client
        .set(params.epoch_of(tip))
        .ok_or("tip's set not kept")?
        .clone();
    let signers: Vec<&SecretKey> = keys
        .iter()
        .filter(|k| set.keys.contains(&k.public_key()))
        .collect();
    let certificate =
        FinalityCertificate::sign(chain_id, &set, (u64::MAX / 2, 0), forged.id(), &signers);
    let conflicting = FinalityProof {
        certificate,
        headers: BoundedVec::try_from_vec(vec![forged]).map_err(|_| "one header")?,
    };
    let at = now(&conflicting);
    match client.update(&conflicting, at) {
        Err(LightError::Misbehaviour(evidence)) if evidence.height == tip => {}
        other => {
            return Err(format!(
                "a conflicting final block was not caught: {other:?}"
            ))
        }
    }
    if client.frozen().is_none() {
        return Err("the client did not freeze".into());
    }
    Ok(())
}
