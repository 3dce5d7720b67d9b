//! Admission: the handler's work for `SubmitTxs`. Every submitted transaction gets one
//! verdict, accepted or a specific [`Rejection`], in submission order.
//!
//! ```text
//! raw txs --chunks of SIGNATURE_BATCH, on all cores (rayon)-------------------------------+
//!   per tx:    size, decode, chain id, base gas, fee >= gas_limit * gas_price + tip,     |
//!              committed nonce and native balance (balance >= max_fee)                   |
//!   per chunk: one batch verification of the survivors' signatures (one by one only     |
//!              when the batch fails, to find the culprits)                               |
//!              lock the pool once, insert the chunk's verified txs                       |
//! <-- verdicts, in order ----------------------------------------------------------------+
//! ```
//!
//! Cheap checks run before signature verification, so invalid transactions cost little. The
//! signature is verified here and only here: the pool holds [`VerifiedTx`]s, and blocks built
//! from the pool execute them without checking again. This work is CPU-bound; call it from a
//! thread of its own (or the rayon pool), never from an async executor's worker.

use std::sync::Arc;

use lamina_interop::block::RawTx;
use lamina_interop::codec::DecodeError;
use lamina_interop::crypto::verify_each;
use lamina_interop::messages::{Admission, Rejection};
use lamina_interop::module::StateView;
use lamina_interop::profile::{measure, Stage};
use lamina_interop::{Hash, Height};
use parking_lot::Mutex;
use rayon::prelude::*;

use crate::modules::accounts;
use crate::pool::Mempool;
use crate::runtime::Runtime;
use crate::tx::{SignedTx, VerifiedTx, MAX_TX_SIZE};

/// Signatures verified together in one batch.
pub const SIGNATURE_BATCH: usize = 128;

/// A transaction that passed the checks before its signature.
struct Candidate {
    tx: SignedTx,
    sender: lamina_interop::Address,
    id: Hash,
    len: usize,
    message: Vec<u8>,
    next_nonce: u64,
}

/// Admits `raw` into `pool`, checking against `state`, the committed state at `height`.
pub fn admit(
    runtime: &Runtime,
    pool: &Mutex<Mempool>,
    state: &(dyn StateView + Sync),
    height: Height,
    raw: &[RawTx],
) -> Vec<Admission> {
    raw.par_chunks(SIGNATURE_BATCH)
        .map(|chunk| {
            measure(Stage::Admission, || {
                admit_chunk(runtime, pool, (state, height), chunk)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect()
}

fn admit_chunk(
    runtime: &Runtime,
    pool: &Mutex<Mempool>,
    (state, height): (&(dyn StateView + Sync), Height),
    chunk: &[RawTx],
) -> Vec<Admission> {
    let mut verdicts: Vec<Result<Hash, (Hash, Rejection)>> = Vec::with_capacity(chunk.len());
    let mut candidates: Vec<(usize, Candidate)> = Vec::with_capacity(chunk.len());
    for raw in chunk {
        let bytes: &[u8] = raw.as_ref();
        let id = Hash::of(bytes);
        match check(runtime, state, bytes, id) {
            Ok(candidate) => {
                candidates.push((verdicts.len(), candidate));
                verdicts.push(Ok(id));
            }
            Err(rejection) => verdicts.push(Err((id, rejection))),
        }
    }

    let signatures = verify_each(
        candidates
            .iter()
            .map(|(_, c)| (&c.tx.body.sender, c.message.as_slice(), &c.tx.signature)),
    );
    let mut pool = pool.lock();
    // Blocks executed since `state` was read may have used these nonces, and the pool no
    // longer remembers them all.
    let current = pool.admits_as_of(height);
    for ((index, candidate), signature) in candidates.into_iter().zip(signatures) {
        let id = candidate.id;
        let result = match signature {
            Err(_) => Err(Rejection::BadSignature),
            Ok(()) if !current => Err(Rejection::Unavailable {
                detail: "the state moved on during admission; submit again".into(),
            }),
            Ok(()) => {
                let tx = VerifiedTx::with_sender(candidate.tx, candidate.sender, id, candidate.len);
                pool.insert(Arc::new(tx), candidate.next_nonce)
            }
        };
        if let Err(rejection) = result {
            verdicts[index] = Err((id, rejection));
        }
    }
    drop(pool);

    verdicts
        .into_iter()
        .map(|verdict| match verdict {
            Ok(id) => Admission::Accepted { id },
            Err((id, reason)) => Admission::Rejected { id, reason },
        })
        .collect()
}

/// Everything but the signature and the pool.
fn check(
    runtime: &Runtime,
    state: &(dyn StateView + Sync),
    bytes: &[u8],
    id: Hash,
) -> Result<Candidate, Rejection> {
    if bytes.len() > MAX_TX_SIZE {
        return Err(Rejection::TooLarge {
            len: bytes.len(),
            max: MAX_TX_SIZE,
        });
    }
    let tx = SignedTx::decode_raw(bytes).map_err(|e| match e {
        DecodeError::TooLarge { len, max, .. } => Rejection::TooLarge { len, max },
        other => Rejection::Malformed {
            detail: other.to_string(),
        },
    })?;
    let body = &tx.body;
    let config = runtime.config();
    if body.chain_id != config.chain_id {
        return Err(Rejection::WrongChain {
            expected: config.chain_id.0,
            got: body.chain_id.0,
        });
    }
    let base_gas = runtime.base_gas(bytes.len());
    if body.gas_limit < base_gas {
        return Err(Rejection::Malformed {
            detail: format!(
                "gas limit {} is below the base gas {base_gas}",
                body.gas_limit
            ),
        });
    }
    let min = runtime
        .required_fee(body.gas_limit, body.tip)
        .ok_or(Rejection::Malformed {
            detail: "gas limit times gas price overflows".into(),
        })?;
    if body.max_fee < min {
        return Err(Rejection::FeeTooLow {
            min,
            offered: body.max_fee,
        });
    }
    let sender = tx.sender_address();
    let unavailable = |e: lamina_interop::module::StateError| Rejection::Unavailable {
        detail: e.to_string(),
    };
    // One read: the record holds the nonce and the native balance fees are paid from.
    let account = accounts::committed(state, &sender).map_err(unavailable)?;
    if body.nonce < account.nonce {
        return Err(Rejection::NonceTooLow {
            expected: account.nonce,
            got: body.nonce,
        });
    }
    if account.native < body.max_fee {
        return Err(Rejection::InsufficientBalance {
            balance: account.native,
            needed: body.max_fee,
        });
    }
    let message = SignedTx::signing_bytes_of_raw(body.chain_id, bytes);
    Ok(Candidate {
        tx,
        id,
        len: bytes.len(),
        message,
        next_nonce: account.nonce,
        sender,
    })
}

#[cfg(test)]
mod tests;
