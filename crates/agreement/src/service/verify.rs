//! The verification loop (`VerifyProposal` from the bus), and the checks of a proposed or
//! finalized block's transactions: decoding, the stateless checks admission makes, batched
//! signatures, and the nonce order per sender.

use std::collections::HashMap;
use std::sync::Arc;

use lamina_interop::block::{Block, RawTx};
use lamina_interop::bus::{Inbox, Request};
use lamina_interop::crypto::verify_each;
use lamina_interop::messages::{ProposalError, Rejection, VerifyProposal};
use lamina_interop::{Address, Hash};

use super::chain::{Known, Mailbox};
use super::on_rayon;

use crate::admission::SignatureBatches;
use crate::runtime::Runtime;
use crate::tx::{SignedTx, VerifiedTx};

/// The verification loop: a proposal's header is checked by the chain actor, its
/// transactions here (on rayon), and the actor remembers the block once they verify.
pub(super) struct Verifier {
    pub(super) runtime: Arc<Runtime>,
    pub(super) offload: bool,
    pub(super) verify: Inbox<VerifyProposal>,
    pub(super) chain: Mailbox,
}

impl Verifier {
    /// Serves until the bus closes.
    pub(super) async fn run(mut self) {
        while let Some(Request {
            command, responder, ..
        }) = self.verify.recv().await
        {
            let reply = self.verify_block(command.block).await;
            let _ = responder.send(reply);
        }
    }

    async fn verify_block(&mut self, block: Arc<Block>) -> Result<(), ProposalError> {
        let header = &block.header;
        let chain_id = self.runtime.config().chain_id;
        if header.chain_id != chain_id {
            return Err(ProposalError::InvalidTx {
                index: 0,
                reason: Rejection::WrongChain {
                    expected: chain_id.0,
                    got: header.chain_id.0,
                },
            });
        }
        if !block.body_matches_header() {
            return Err(ProposalError::BodyMismatch);
        }
        self.chain.check_header(header.clone()).await?;
        let runtime = self.runtime.clone();
        let checked = block.clone();
        let txs = on_rayon(self.offload, move || verify_txs(&runtime, &checked.txs))
            .await
            .ok_or_else(|| ProposalError::Unavailable {
                detail: "verification stopped".into(),
            })??;
        let known = Known {
            height: header.height,
            parent: header.parent,
            txs: Arc::new(txs),
        };
        self.chain.remember(block.id(), known).await;
        Ok(())
    }
}

/// Decodes and verifies a block's transactions (batched, on the calling rayon worker and
/// its pool) with the stateless checks admission makes, and the nonce order per sender.
pub(super) fn verify_txs(
    runtime: &Runtime,
    raw: &[RawTx],
) -> Result<Vec<VerifiedTx>, ProposalError> {
    use rayon::prelude::*;

    let invalid = |index: usize, reason: Rejection| ProposalError::InvalidTx { index, reason };
    let decoded: Vec<SignedTx> = raw
        .par_iter()
        .enumerate()
        .map(|(index, bytes)| {
            let tx = SignedTx::decode_raw(bytes.as_ref()).map_err(|e| {
                invalid(
                    index,
                    Rejection::Malformed {
                        detail: e.to_string(),
                    },
                )
            })?;
            let body = &tx.body;
            if body.chain_id != runtime.config().chain_id {
                return Err(invalid(
                    index,
                    Rejection::WrongChain {
                        expected: runtime.config().chain_id.0,
                        got: body.chain_id.0,
                    },
                ));
            }
            let min = runtime
                .required_fee(body.gas_limit, body.tip)
                .unwrap_or(u128::MAX);
            if body.max_fee < min || body.gas_limit < runtime.base_gas(bytes.len()) {
                return Err(invalid(
                    index,
                    Rejection::FeeTooLow {
                        min,
                        offered: body.max_fee,
                    },
                ));
            }
            Ok(tx)
        })
        .collect::<Result<_, _>>()?;
    let messages: Vec<Vec<u8>> = decoded
        .par_iter()
        .map(|tx| tx.body.signing_bytes())
        .collect();
    let chunk = crate::admission::chunk_len(
        decoded.len(),
        rayon::current_num_threads(),
        SignatureBatches::MAX,
    );
    let verdicts: Vec<_> = decoded
        .par_chunks(chunk)
        .zip(messages.par_chunks(chunk))
        .flat_map_iter(|(txs, messages)| {
            verify_each(
                txs.iter()
                    .zip(messages)
                    .map(|(tx, m)| (&tx.body.sender, m.as_slice(), &tx.signature))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    if let Some(index) = verdicts.iter().position(Result::is_err) {
        return Err(invalid(index, Rejection::BadSignature));
    }
    let mut next: HashMap<Address, u64> = HashMap::new();
    let mut out = Vec::with_capacity(decoded.len());
    for (index, (tx, bytes)) in decoded.into_iter().zip(raw).enumerate() {
        let verified = VerifiedTx::after_verification(tx, Hash::of(bytes.as_ref()), bytes.clone());
        let nonce = verified.tx.body.nonce;
        if let Some(expected) = next.insert(verified.sender, nonce + 1) {
            if nonce != expected {
                return Err(invalid(
                    index,
                    Rejection::NonceGap {
                        expected,
                        got: nonce,
                        max_gap: 0,
                    },
                ));
            }
        }
        out.push(verified);
    }
    Ok(out)
}
