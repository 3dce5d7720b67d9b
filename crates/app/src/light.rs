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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use lamina_interop::finality::FinalityProof;
use lamina_interop::light::{LightClient, LightError};
use lamina_interop::module::{StateError, StateView};
use lamina_interop::{Height, Timestamp};

use crate::rpc::{RpcClient, RpcClientError, MAX_PROVEN_KEYS};

/// Blocks below the endpoint's head searched for the highest one with a finality proof.
pub const HEAD_SEARCH: u64 = 64;
/// Blocks after a value's state height searched for the header that names its root.
pub const VALUE_SEARCH: u64 = 16;
/// Headers that name a state before a value's, past [`VALUE_SEARCH`], searched as well: their
/// proposers' execution lagged behind finality.
pub const LAG_SEARCH: u64 = 256;
/// Times a value is fetched again when no header named the root of its proof.
pub const VALUE_TRIES: usize = 8;
/// How often the head is asked for while waiting for blocks to be final.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(100);
/// Polls of one try before the value is fetched again.
pub const MAX_POLLS: usize = 300;
/// Rounds of [`LightNode::read`]: how deep a chain of reads (a key named by a value read
/// before) may go.
pub const MAX_READ_ROUNDS: usize = 16;

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
        // Blocks finalized as the ancestors of one not yet committed there have no proof
        // for a moment: then the client stays where it is.
        let mut target = head;
        let proof = loop {
            if let Some(proof) = self.rpc.finality_proof(target).await? {
                break proof;
            }
            if target.0 <= latest.0 + 1 {
                return Ok(latest);
            }
            if head.0 - target.0 >= HEAD_SEARCH {
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
        let (height, mut values) = self.values(&[key.to_vec()], now).await?;
        Ok((height, values.pop().flatten()))
    }

    /// The values of `keys` (at most [`MAX_PROVEN_KEYS`]), verified, all in the state of one
    /// height, as [`LightNode::value`] verifies one.
    pub async fn values(
        &mut self,
        keys: &[Vec<u8>],
        now: impl Fn() -> Timestamp,
    ) -> Result<(Height, Vec<Option<Vec<u8>>>), LightNodeError> {
        let mut height = Height(0);
        for _ in 0..VALUE_TRIES {
            let (state_height, proofs) = self.rpc.value_proofs(keys).await?;
            height = state_height;
            let mut last = Height(state_height.0 + VALUE_SEARCH);
            let mut next = Height(state_height.0 + 1);
            let mut head = self.client.latest().0;
            let mut polls = 0;
            while next <= last {
                if next > head {
                    head = self.sync(now()).await?;
                    if next > head {
                        polls += 1;
                        if polls > MAX_POLLS {
                            break;
                        }
                        tokio::time::sleep(POLL).await;
                        continue;
                    }
                }
                if self.client.header(next).is_none() {
                    self.verify(next, now()).await?;
                }
                if self.client.root(state_height).is_none() {
                    // A proposer whose execution lags (one catching up after a restart)
                    // names an earlier state: the header that names this one is still to
                    // come, so the search goes on past such headers, within LAG_SEARCH.
                    let behind = self
                        .client
                        .header(next)
                        .is_some_and(|header| header.state_height < state_height);
                    if behind && last.0 < state_height.0 + VALUE_SEARCH + LAG_SEARCH {
                        last = Height(last.0 + 1);
                    }
                    next = Height(next.0 + 1);
                    continue;
                }
                let mut values = Vec::with_capacity(keys.len());
                for (key, proof) in keys.iter().zip(&proofs) {
                    let value =
                        self.client
                            .verify_state(state_height, key, proof)
                            .map_err(|error| LightNodeError::Refused {
                                what: format!("proof of the value at state height {state_height}"),
                                error,
                            })?;
                    values.push(value);
                }
                return Ok((state_height, values));
            }
        }
        Err(LightNodeError::Unanchored {
            height,
            tries: VALUE_TRIES,
        })
    }

    /// Runs `read` (a module's query, a balance lookup) over state this node verified, all
    /// of one height: each key `read` asks for is fetched with its proof, and `read` runs
    /// again until it asks for nothing unverified. Returns the state height and `read`'s
    /// answer.
    pub async fn read<T>(
        &mut self,
        now: impl Fn() -> Timestamp,
        read: impl Fn(&dyn StateView) -> T,
    ) -> Result<(Height, T), LightNodeError> {
        let mut known = Recorded::default();
        let mut height = Height(0);
        for _ in 0..MAX_READ_ROUNDS {
            let answer = read(&known);
            let misses =
                std::mem::take(&mut *known.misses.lock().unwrap_or_else(|e| e.into_inner()));
            if misses.is_empty() && !known.values.is_empty() {
                return Ok((height, answer));
            }
            let keys: Vec<Vec<u8>> = known
                .values
                .keys()
                .cloned()
                .chain(misses)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if keys.is_empty() {
                // `read` needs no state at all.
                return Ok((self.client.latest().0, answer));
            }
            if keys.len() > MAX_PROVEN_KEYS {
                return Err(LightNodeError::Missing {
                    what: format!("room for {} keys in one read", keys.len()),
                });
            }
            let (at, values) = self.values(&keys, &now).await?;
            height = at;
            known.values = keys.into_iter().zip(values).collect();
        }
        Err(LightNodeError::Missing {
            what: format!("an answer within {MAX_READ_ROUNDS} rounds of reads"),
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

/// The state a [`LightNode::read`] round sees: the verified values, and the keys asked for
/// that were not among them (read as absent for this round).
#[derive(Default)]
struct Recorded {
    values: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    misses: Mutex<Vec<Vec<u8>>>,
}

impl StateView for Recorded {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.values.get(key) {
            Some(value) => Ok(value.clone()),
            None => {
                self.misses
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(key.to_vec());
                Ok(None)
            }
        }
    }
}
