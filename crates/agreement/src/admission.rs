//! Admission: the handler's work for `SubmitTxs`. Every submitted transaction gets one
//! verdict, accepted or a specific [`Rejection`], in submission order.
//!
//! ```text
//! raw txs --chunks of up to SignatureBatches::MAX, on all cores (rayon)--------------------+
//!   per tx:    size, decode, chain id, base gas, fee >= gas_limit * gas_price + tip,     |
//!              committed nonce and native balance (balance >= max_fee)                   |
//!   per chunk: one batch verification of the survivors' signatures (one by one only     |
//!              when the batch fails, to find the culprits)                               |
//!   in order:  per chunk, lock the pool once, insert its verified txs                    |
//! <-- verdicts, in order ----------------------------------------------------------------+
//! ```
//!
//! Chunks are as large as keeping every core busy allows, up to [`SignatureBatches::MAX`]:
//! a batch of 1,024 signatures costs about 15% less per signature than one of 128. A
//! batch that fails is checked again one by one, so one bad signature costs a whole batch;
//! [`SignatureBatches`] shrinks the chunks when batches fail and lets them grow back while
//! they verify, which bounds what a stream of bad signatures costs.
//!
//! Cheap checks run before signature verification, so invalid transactions cost little. The
//! signature is verified here and only here: the pool holds [`VerifiedTx`]s, and blocks built
//! from the pool execute them without checking again. This work is CPU-bound; call it from a
//! thread of its own (or the rayon pool), never from an async executor's worker.

use std::sync::atomic::{AtomicUsize, Ordering};
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

/// How many signatures admission verifies together: up to [`SignatureBatches::MAX`] while
/// batches verify, fewer after one fails. Shared by every admission on a node.
///
/// A failed batch is checked again one signature at a time, so a bad signature costs the
/// verification of its whole batch one by one. Each failed batch quarters the limit (down to
/// [`SignatureBatches::MIN`]), and each batch that verifies doubles it (up to the maximum):
/// honest traffic keeps the cheapest batches, and a stream of bad signatures soon meets
/// small ones.
#[derive(Debug)]
pub struct SignatureBatches {
    limit: AtomicUsize,
}

impl SignatureBatches {
    /// The largest batch. Per signature, on one core, a batch of 1,024 costs about 15% less
    /// than one of 128 and 5% more than one of 2,048, and a signature checked alone costs
    /// about 2.6 times as much (`cargo bench -p lamina-interop --bench verify`); a larger
    /// maximum would make a failed batch cost more for little gain.
    pub const MAX: usize = 1024;
    /// The smallest batch that spreading a submission over the cores, or a failure, leads to.
    pub const MIN: usize = 32;

    /// Batches of up to [`SignatureBatches::MAX`].
    pub fn new() -> SignatureBatches {
        SignatureBatches {
            limit: AtomicUsize::new(Self::MAX),
        }
    }

    /// The largest batch now.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// The chunk length for `len` transactions over `threads` threads, within the limit now
    /// (see [`chunk_len`]).
    pub fn chunk_len(&self, len: usize, threads: usize) -> usize {
        chunk_len(len, threads, self.limit())
    }

    /// Records whether a batch verified.
    fn record(&self, verified: bool) {
        let next = |limit: usize| match verified {
            true => (limit * 2).min(Self::MAX),
            false => (limit / 4).max(Self::MIN),
        };
        // A lost race between two chunks only loses one step.
        let _ = self
            .limit
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |limit| {
                Some(next(limit))
            });
    }
}

/// The chunk length for verifying `len` signatures on `threads` threads in batches of at most
/// `limit`: every thread gets work, and the chunks are as even as that allows, between
/// [`SignatureBatches::MIN`] and [`SignatureBatches::MAX`].
pub fn chunk_len(len: usize, threads: usize, limit: usize) -> usize {
    let per_thread = len.div_ceil(threads.max(1));
    let rounds = per_thread.div_ceil(limit.max(1)).max(1);
    per_thread
        .div_ceil(rounds)
        .clamp(SignatureBatches::MIN, SignatureBatches::MAX)
}

impl Default for SignatureBatches {
    fn default() -> SignatureBatches {
        SignatureBatches::new()
    }
}

/// A transaction that passed the checks before its signature.
struct Candidate {
    tx: SignedTx,
    sender: lamina_interop::Address,
    id: Hash,
    raw: RawTx,
    message: Vec<u8>,
    next_nonce: u64,
    balance: u128,
}

/// Admits `raw` into `pool`, checking against `state`, the committed state at `height`, in
/// chunks that `batches` sizes. Chunks are checked and verified in parallel, then inserted in
/// submission order, so that one sender's consecutive nonces in a batch reach the pool in
/// order, however many there are.
pub fn admit(
    runtime: &Runtime,
    pool: &Mutex<Mempool>,
    batches: &SignatureBatches,
    state: &(dyn StateView + Sync),
    height: Height,
    raw: &[RawTx],
) -> Vec<Admission> {
    let chunk = batches.chunk_len(raw.len(), rayon::current_num_threads());
    let checked: Vec<Checked> = raw
        .par_chunks(chunk)
        .map(|chunk| {
            measure(Stage::Admission, || {
                check_chunk(runtime, batches, state, chunk)
            })
        })
        .collect();
    checked
        .into_iter()
        .flat_map(|checked| measure(Stage::Admission, || checked.insert(pool, height)))
        .collect()
}

/// A chunk's verdicts so far, and its candidates with their signatures' verdicts.
struct Checked {
    verdicts: Vec<Result<Hash, (Hash, Rejection)>>,
    candidates: Vec<(usize, Candidate, Result<(), ()>)>,
}

fn check_chunk(
    runtime: &Runtime,
    batches: &SignatureBatches,
    state: &(dyn StateView + Sync),
    chunk: &[RawTx],
) -> Checked {
    let mut verdicts: Vec<Result<Hash, (Hash, Rejection)>> = Vec::with_capacity(chunk.len());
    let mut candidates: Vec<(usize, Candidate)> = Vec::with_capacity(chunk.len());
    for raw in chunk {
        let bytes: &[u8] = raw.as_ref();
        let id = Hash::of(bytes);
        match check(runtime, state, raw, id) {
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
    if !candidates.is_empty() {
        batches.record(signatures.iter().all(Result::is_ok));
    }
    Checked {
        verdicts,
        candidates: candidates
            .into_iter()
            .zip(signatures)
            .map(|((index, candidate), signature)| (index, candidate, signature.map_err(|_| ())))
            .collect(),
    }
}

impl Checked {
    /// Inserts the verified candidates into `pool`, in order, and gives every verdict.
    fn insert(self, pool: &Mutex<Mempool>, height: Height) -> Vec<Admission> {
        let Checked {
            mut verdicts,
            candidates,
        } = self;
        let mut pool = pool.lock();
        // Blocks executed since `state` was read may have used these nonces, and the pool no
        // longer remembers them all.
        let current = pool.admits_as_of(height);
        for (index, candidate, signature) in candidates {
            let id = candidate.id;
            let result = match signature {
                Err(()) => Err(Rejection::BadSignature),
                Ok(()) if !current => Err(Rejection::Unavailable {
                    detail: "the state moved on during admission; submit again".into(),
                }),
                Ok(()) => {
                    let tx =
                        VerifiedTx::with_sender(candidate.tx, candidate.sender, id, candidate.raw);
                    pool.insert(Arc::new(tx), candidate.next_nonce, candidate.balance)
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
}

/// Everything but the signature and the pool.
fn check(
    runtime: &Runtime,
    state: &(dyn StateView + Sync),
    raw: &RawTx,
    id: Hash,
) -> Result<Candidate, Rejection> {
    let bytes: &[u8] = raw.as_ref();
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
    if usize::from(body.module) >= runtime.module_count() {
        return Err(Rejection::UnknownModule {
            module: body.module,
            last: runtime.module_count().saturating_sub(1) as u16,
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
        .ok_or_else(|| Rejection::Malformed {
            detail: format!(
                "the tip {} plus the gas limit's fee ({} gas at {} a unit) overflows 128 bits",
                body.tip, body.gas_limit, config.gas_price
            ),
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
        raw: raw.clone(),
        message,
        next_nonce: account.nonce,
        balance: account.native,
        sender,
    })
}

#[cfg(test)]
mod tests;
