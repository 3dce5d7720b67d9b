//! A light node: the [`LightClient`] of `interop` fed from one untrusted JSON-RPC endpoint.
//! Nothing the endpoint says is believed until it checks out against the validator sets the
//! client has proven, starting from its checkpoint.
//!
//! ```text
//! sync:   for each epoch from the client's to the head's:
//!             chain_getSetChange(e)  -> finality proof of block b in e-1, state proof of
//!                                       the set of e against the root b names
//!         chain_getFinalityProof(head)
//! value:  state_getValue(key)        -> proof against the root of state height c
//!         chain_getFinalityProof(h)  for the blocks after c, until one names c's root
//! ```
//!
//! Sync skips the blocks inside an epoch: a certificate of epoch `e` is checked against the
//! set of `e` alone, so the client needs each set change and the block it wants, not every
//! block between. An endpoint that forges a block, withholds a set change or serves a stale
//! proof gets a [`LightNodeError`] naming what failed.

use lamina_interop::finality::FinalityProof;
use lamina_interop::light::{LightClient, LightError};
use lamina_interop::{Height, Timestamp};

use crate::rpc::{RpcClient, RpcClientError};

/// Blocks below the endpoint's head searched for the highest one with a finality proof.
pub const HEAD_SEARCH: u64 = 64;
/// Blocks after a value's state height searched for the header that names its root.
pub const VALUE_SEARCH: u64 = 16;
/// Times a value is fetched again when no header named the root of its proof.
pub const VALUE_TRIES: usize = 8;
/// How often the head is asked for while waiting for blocks to be final.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(100);
/// Polls of one try before the value is fetched again.
pub const MAX_POLLS: usize = 300;

/// Why the light node could not vouch for something.
#[derive(Debug, thiserror::Error)]
pub enum LightNodeError {
    /// The endpoint did not answer, or answered malformed data.
    #[error("endpoint: {0}")]
    Rpc(#[from] RpcClientError),
    /// The endpoint's answer did not verify: it lies, or serves another chain.
    #[error("the endpoint's {what} does not verify: {error}")]
    Refused {
        /// What was refused.
        what: String,
        /// Why.
        error: LightError,
    },
    /// The endpoint lacks a proof it should hold.
    #[error("the endpoint has no {what}")]
    Missing {
        /// What is missing.
        what: String,
    },
    /// No verified header named the root of the value's proof.
    #[error("no final header named the state root of height {height} (tried {tries} times)")]
    Unanchored {
        /// The state height of the last proof.
        height: Height,
        /// Attempts made.
        tries: usize,
    },
}

/// A light client following one endpoint.
pub struct LightNode {
    rpc: RpcClient,
    client: LightClient,
}

impl LightNode {
    /// A light node that feeds `client` from `rpc`.
    pub fn new(rpc: RpcClient, client: LightClient) -> LightNode {
        LightNode { rpc, client }
    }

    /// The client, with what it has verified.
    pub fn client(&self) -> &LightClient {
        &self.client
    }

    /// Follows the endpoint to its finalized head, proving each set change on the way.
    /// Returns the height the client is sure of.
    pub async fn sync(&mut self, now: Timestamp) -> Result<Height, LightNodeError> {
        let head = self.rpc.finalized_head().await?.height;
        let (latest, _) = self.client.latest();
        if head <= latest {
            return Ok(latest);
        }
        // The head may wait for its certificate (it comes with a child finalized later):
        // take the highest block that has a proof.
        let mut target = head;
        let proof = loop {
            if let Some(proof) = self.rpc.finality_proof(target).await? {
                break proof;
            }
            if target.0 <= latest.0 + 1 || head.0 - target.0 >= HEAD_SEARCH {
                return Err(LightNodeError::Missing {
                    what: format!("finality proof of any block from {target} to {head}"),
                });
            }
            target = Height(target.0 - 1);
        };
        let params = self.client.params().clone();
        for epoch in params.epoch_of(Height(latest.0 + 1))..=params.epoch_of(target) {
            self.learn_set(epoch, now).await?;
        }
        self.take(&proof, now, || format!("finality proof of block {target}"))?;
        Ok(self.client.latest().0)
    }

    /// Checks the finality of the block at `height` (its epoch's set must be known), and
    /// keeps its header.
    pub async fn verify(&mut self, height: Height, now: Timestamp) -> Result<(), LightNodeError> {
        let proof = self.finality_proof(height).await?;
        self.take(&proof, now, || format!("finality proof of block {height}"))
    }

    /// Proves the set of `epoch`, unless the client knows it.
    async fn learn_set(&mut self, epoch: u64, now: Timestamp) -> Result<(), LightNodeError> {
        if self.client.set(epoch).is_some() {
            return Ok(());
        }
        let (at, finality, state) =
            self.rpc
                .set_change(epoch)
                .await?
                .ok_or_else(|| LightNodeError::Missing {
                    what: format!("proof of the set of epoch {epoch}"),
                })?;
        self.take(&finality, now, || format!("finality proof of block {at}"))?;
        self.client
            .prove_next_set(at, &state, now)
            .map_err(|error| LightNodeError::Refused {
                what: format!("set of epoch {epoch}"),
                error,
            })?;
        Ok(())
    }

    /// The value of state key `key`, verified: the state height whose root a final header
    /// names, and the value (`None`: provably absent). Waits (polling every [`POLL`]) for the
    /// blocks after the proof's state height to be final, since one of them names its root.
    pub async fn value(
        &mut self,
        key: &[u8],
        now: impl Fn() -> Timestamp,
    ) -> Result<(Height, Option<Vec<u8>>), LightNodeError> {
        let mut height = Height(0);
        for _ in 0..VALUE_TRIES {
            let (state_height, proof) = self.rpc.value_proof(key).await?;
            height = state_height;
            let last = Height(state_height.0 + VALUE_SEARCH);
            let mut next = Height(state_height.0 + 1);
            let mut polls = 0;
            while next <= last {
                let head = self.sync(now()).await?;
                if next > head {
                    polls += 1;
                    if polls > MAX_POLLS {
                        break;
                    }
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                if self.client.header(next).is_none() {
                    self.verify(next, now()).await?;
                }
                match self.client.verify_state(state_height, key, &proof) {
                    Ok(value) => return Ok((state_height, value)),
                    Err(LightError::RootUnknown { .. }) => next = Height(next.0 + 1),
                    Err(error) => {
                        return Err(LightNodeError::Refused {
                            what: format!("proof of the value at state height {state_height}"),
                            error,
                        })
                    }
                }
            }
        }
        Err(LightNodeError::Unanchored {
            height,
            tries: VALUE_TRIES,
        })
    }

    async fn finality_proof(&self, height: Height) -> Result<FinalityProof, LightNodeError> {
        self.rpc
            .finality_proof(height)
            .await?
            .ok_or_else(|| LightNodeError::Missing {
                what: format!("finality proof of block {height}"),
            })
    }

    fn take(
        &mut self,
        proof: &FinalityProof,
        now: Timestamp,
        what: impl FnOnce() -> String,
    ) -> Result<(), LightNodeError> {
        self.client
            .update(proof, now)
            .map(|_| ())
            .map_err(|error| LightNodeError::Refused {
                what: what(),
                error,
            })
    }
}
