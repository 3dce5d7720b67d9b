//! The finalizer: turns finalization certificates (simplex's own, and peers' once checked)
//! into `BlockFinalized` events, oldest first, fetching the blocks it lacks; reports
//! misbehaviour; answers peers that ask for the latest finalization of an epoch. It owns the
//! epochs' signing schemes and closing certificates and the finalized tip, and runs one
//! epoch at a time for the engine's loop (`mod.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use commonware_codec::types::lazy::Lazy;
use commonware_codec::{Decode as _, DecodeExt as _, Encode as _};
use commonware_consensus::simplex::scheme::ed25519::Scheme;
use commonware_consensus::simplex::types::Finalization;
use commonware_consensus::simplex::types::Proposal;
use commonware_consensus::types::{Epoch, Round, View};
use commonware_consensus::Epochable as _;
use commonware_cryptography::certificate::Scheme as _;
use commonware_cryptography::certificate::Signers;
use commonware_cryptography::ed25519;
use commonware_cryptography::ed25519::certificate as ed25519_certificate;
use commonware_p2p::{Recipients, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::Clock;
use commonware_utils::Participant;
use futures::channel::mpsc;
use futures::future::{self, Either};
use futures::StreamExt as _;
use lamina_interop::block::Block;
use lamina_interop::bus::{Bus, Publisher, Subscription};
use lamina_interop::chain::ChainReader;
use lamina_interop::codec::BoundedVec;
use lamina_interop::codec::Canonical as _;
use lamina_interop::crypto::{PublicKey, Signature};
use lamina_interop::finality::{FinalityCertificate, Vote};
use lamina_interop::messages::{BlockFinalized, MisbehaviourDetected, ValidatorSetChanged};
use lamina_interop::timeline;
use lamina_interop::{Hash, Height};
use rand_core_010::CryptoRng;

use super::app::{block_id, digest, AppConfig, Digest, Key, Report};
use super::blocks;
use super::wire::Wire;
use crate::engine::{ChainTip, EngineError};

/// Most epochs whose schemes and closing certificates are kept.
const KEPT_EPOCHS: usize = 16;

/// Notes queued for the finalizer before they are dropped.
pub(crate) const NOTES: usize = 1024;

/// What reaches the finalizer besides simplex's reports.
pub(crate) enum Note {
    /// A peer asks for the latest finalization of `epoch`.
    TipAsked { peer: Key, epoch: u64 },
    /// A peer sent a finalization certificate, not yet checked.
    Finalized { peer: Key, certificate: Vec<u8> },
    /// A peer sent the stored certificate of an epoch's last block, not yet checked.
    Closed { peer: Key, certificate: Vec<u8> },
    /// The application side lacks the blocks below one it must build on or check: ask
    /// peers for their latest finalization.
    AskTip,
}

/// The epochs this node knows.
#[derive(Default)]
struct Epochs {
    /// The epoch this node runs.
    current: u64,
    /// The signing schemes of recent epochs, to check peers' certificates.
    schemes: BTreeMap<u64, Scheme>,
    /// Per finished epoch, the encoded certificate that finalized its last block.
    closing: BTreeMap<u64, Vec<u8>>,
}

/// How an epoch's run ended.
pub(crate) enum EpochEnd {
    /// Its last block is delivered and the next set announced.
    Next(Vec<PublicKey>),
    /// The bus or the reports closed.
    Stopped,
}

/// The finalizer; see the module docs.
pub(crate) struct Finalizer<E, S> {
    context: E,
    /// Randomness for checking certificates.
    rng: E,
    config: AppConfig,
    sender: S,
    blocks: blocks::Mailbox,
    bus: Bus,
    /// Finalized blocks and their stored certificates (for peers that ask about an epoch
    /// this node closed before it restarted).
    chain: Arc<dyn ChainReader>,
    epochs: Epochs,
    /// The certificate of the newest block delivered, encoded, for peers that fell behind.
    latest: Option<Vec<u8>>,
    /// When this node last asked its peers for their latest finalization.
    asked_tip: Option<SystemTime>,
    /// The last block published as finalized.
    delivered: ChainTip,
    /// When a block was last delivered.
    last_progress: SystemTime,
    /// How long without progress before asking peers.
    quiet: Duration,
    reports: mpsc::Receiver<Report>,
    notes: mpsc::Receiver<Note>,
    finalized: Publisher<BlockFinalized>,
    faults: Publisher<MisbehaviourDetected>,
}

impl<E, S> Finalizer<E, S>
where
    E: Clock + CryptoRng + commonware_runtime::Supervisor + Send + Sync + 'static,
    S: Sender<PublicKey = Key>,
{
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        context: E,
        config: AppConfig,
        sender: S,
        blocks: blocks::Mailbox,
        bus: &Bus,
        chain: Arc<dyn ChainReader>,
        delivered: ChainTip,
        quiet: Duration,
        (reports, notes): (mpsc::Receiver<Report>, mpsc::Receiver<Note>),
    ) -> Self {
        Finalizer {
            rng: context.child("certificates"),
            last_progress: context.current(),
            context,
            config,
            sender,
            blocks,
            bus: bus.clone(),
            chain,
            epochs: Epochs::default(),
            latest: None,
            asked_tip: None,
            delivered,
            quiet,
            reports,
            notes,
            finalized: bus.publisher::<BlockFinalized>(),
            faults: bus.publisher::<MisbehaviourDetected>(),
        }
    }

    /// The last block published as finalized.
    pub(crate) fn delivered(&self) -> ChainTip {
        self.delivered
    }

    /// Starts `epoch`, whose votes and certificates `scheme` checks.
    pub(crate) fn enter_epoch(&mut self, epoch: u64, scheme: Scheme) {
        self.epochs.current = epoch;
        self.epochs.schemes.insert(epoch, scheme);
        while self.epochs.schemes.len() > KEPT_EPOCHS {
            self.epochs.schemes.pop_first();
        }
        self.latest = None;
    }

    /// Runs epoch `epoch` until its last block is delivered and `sets` announced the next
    /// set (kept in `announced` with sets announced for later epochs), or until the bus
    /// closes.
    pub(crate) async fn run_epoch(
        &mut self,
        epoch: u64,
        sets: &mut Subscription<ValidatorSetChanged>,
        announced: &mut BTreeMap<u64, Vec<PublicKey>>,
    ) -> Result<EpochEnd, EngineError> {
        loop {
            // The next set, once this epoch's last block is delivered and announced.
            while let Ok(Some(event)) = sets.try_recv() {
                if event.epoch > epoch {
                    announced.insert(
                        event.epoch,
                        event.validators.iter().map(|v| v.key).collect(),
                    );
                }
            }
            if self.config.last_height(epoch) == Some(self.delivered.height) {
                if let Some(next) = announced.remove(&(epoch + 1)) {
                    return Ok(EpochEnd::Next(next));
                }
            }
            let next = {
                let tick = self.context.sleep(Duration::from_millis(50));
                let inputs = future::select(self.reports.next(), self.notes.next());
                futures::pin_mut!(tick);
                match future::select(inputs, tick).await {
                    Either::Left((Either::Left((report, _)), _)) => match report {
                        Some(report) => Either::Left(report),
                        None => return Ok(EpochEnd::Stopped),
                    },
                    Either::Left((Either::Right((Some(note), _)), _)) => Either::Right(Some(note)),
                    Either::Left((Either::Right((None, _)), _)) => Either::Right(None),
                    Either::Right(_) => Either::Right(None),
                }
            };
            let report = match next {
                Either::Left(report) => report,
                Either::Right(Some(note)) => match self.note(note) {
                    Some(finalization) => Report::Finalized(finalization),
                    None => continue,
                },
                Either::Right(None) if self.bus.is_closed() => return Ok(EpochEnd::Stopped),
                Either::Right(None) => {
                    self.ask_if_stalled();
                    continue;
                }
            };
            match report {
                Report::Finalized(finalization) => {
                    if finalization.epoch().get() != epoch {
                        continue;
                    }
                    if !self.finalize(epoch, finalization).await? {
                        return Ok(EpochEnd::Stopped);
                    }
                }
                Report::Fault {
                    offender,
                    kind,
                    evidence,
                } => {
                    let mut bytes = [0u8; 32];
                    bytes.copy_from_slice(offender.as_ref());
                    tracing::warn!(offender = %PublicKey(bytes), ?kind, "misbehaviour detected");
                    let event = MisbehaviourDetected {
                        offender: PublicKey(bytes),
                        height: self.delivered.height,
                        kind,
                        evidence: Arc::new(evidence),
                    };
                    if self.faults.publish(event).await.is_err() {
                        return Ok(EpochEnd::Stopped);
                    }
                }
            }
        }
    }

    /// Publishes every block from the delivered tip up to the one `finalization` finalizes,
    /// oldest first. Returns false once the bus closed.
    async fn finalize(
        &mut self,
        epoch: u64,
        finalization: Finalization<Scheme, Digest>,
    ) -> Result<bool, EngineError> {
        let target = block_id(&finalization.proposal.payload);
        let blocks = match self.missing_chain(target).await {
            Ok(Some(blocks)) => blocks,
            Ok(None) => return Ok(true),
            Err(height) => {
                return Err(EngineError::Forked {
                    height,
                    detail: format!(
                        "finalized block {target} does not descend from the delivered chain"
                    ),
                })
            }
        };
        let proof = finalization.encode().to_vec();
        let certificate = certificate_of(&finalization).map(Arc::new);
        let last = blocks.len() - 1;
        for (i, block) in blocks.into_iter().enumerate() {
            let next = ChainTip {
                height: block.header.height,
                block: block.id(),
            };
            let certificate = if i == last { certificate.clone() } else { None };
            timeline::finalized(next.block, next.height, block.header.timestamp.0);
            if self
                .finalized
                .publish(BlockFinalized { block, certificate })
                .await
                .is_err()
            {
                return Ok(false);
            }
            self.delivered = next;
            self.blocks.delivered(next).await;
        }
        self.last_progress = self.context.current();
        if self.config.last_height(epoch) == Some(self.delivered.height) {
            self.epochs.closing.insert(epoch, proof.clone());
            while self.epochs.closing.len() > KEPT_EPOCHS {
                self.epochs.closing.pop_first();
            }
        }
        self.latest = Some(proof);
        Ok(true)
    }

    /// Handles `note`; returns a peer's finalization once it checks out against the
    /// validator set of its epoch, this node's current one.
    fn note(&mut self, note: Note) -> Option<Finalization<Scheme, Digest>> {
        match note {
            Note::TipAsked { peer, epoch } => {
                let answer = if epoch == self.epochs.current {
                    self.latest.clone().map(Wire::Finalized)
                } else {
                    self.epochs
                        .closing
                        .get(&epoch)
                        .cloned()
                        .map(Wire::Finalized)
                        .or_else(|| self.stored_closing(epoch).map(Wire::Closed))
                };
                if let Some(answer) = answer {
                    let _ = self
                        .sender
                        .send(Recipients::One(peer), answer.encode(), false);
                }
                None
            }
            Note::Closed { peer, certificate } => {
                let certificate = FinalityCertificate::decode(&certificate).ok()?;
                let participants = self
                    .epochs
                    .schemes
                    .get(&certificate.epoch)?
                    .participants()
                    .len();
                let finalization = finalization_of(&certificate, participants as u32)?;
                let verified = self.verified(&peer, finalization)?;
                tracing::info!(
                    epoch = certificate.epoch,
                    %peer,
                    "catching up with the stored certificate that closed the epoch"
                );
                Some(verified)
            }
            Note::AskTip => {
                self.ask_for_tip();
                None
            }
            Note::Finalized { peer, certificate } => self.check(&peer, &certificate),
        }
    }

    /// The certificate this node's store keeps with the last block of `epoch` (a finished
    /// one), encoded.
    fn stored_closing(&self, epoch: u64) -> Option<Vec<u8>> {
        if epoch >= self.epochs.current {
            return None;
        }
        let last = self.config.last_height(epoch)?;
        let certificate = self.chain.certificate(last).ok()??;
        (certificate.epoch == epoch).then(|| certificate.encode())
    }

    /// A peer's finalization certificate, if it checks out against the validator set of
    /// its epoch.
    fn check(&mut self, peer: &Key, bytes: &[u8]) -> Option<Finalization<Scheme, Digest>> {
        let largest = self
            .epochs
            .schemes
            .values()
            .map(|s| s.participants().len())
            .max()
            .unwrap_or(0);
        if bytes.len() > Finalization::<Scheme, Digest>::max_encode_size(largest as u32) {
            tracing::debug!(%peer, "oversized finalization");
            return None;
        }
        let Ok(finalization) = Finalization::<Scheme, Digest>::decode_cfg(bytes.to_vec(), &largest)
        else {
            tracing::debug!(%peer, "undecodable finalization");
            return None;
        };
        self.verified(peer, finalization)
    }

    /// `finalization`, if it is of this node's epoch and its set signed it.
    fn verified(
        &mut self,
        peer: &Key,
        finalization: Finalization<Scheme, Digest>,
    ) -> Option<Finalization<Scheme, Digest>> {
        let epoch = finalization.epoch().get();
        if epoch != self.epochs.current {
            // An older epoch's is stale; a later one's cannot be checked before this node
            // has executed its way into that epoch, so ask for the one it needs.
            if epoch > self.epochs.current {
                self.ask_for_tip();
            }
            return None;
        }
        let scheme = self.epochs.schemes.get(&epoch)?;
        if !finalization.verify(&mut self.rng, scheme, &Sequential) {
            tracing::debug!(%peer, "invalid finalization certificate");
            return None;
        }
        Some(finalization)
    }

    /// Asks every peer for its latest finalization, at most once per fetch timeout.
    fn ask_for_tip(&mut self) {
        let now = self.context.current();
        let recent = self.asked_tip.is_some_and(|at| {
            now.duration_since(at).unwrap_or_default() < self.config.fetch_timeout
        });
        if recent {
            return;
        }
        self.asked_tip = Some(now);
        let ask = Wire::Tip(self.epochs.current).encode();
        let _ = self.sender.send(Recipients::All, ask, false);
    }

    /// Asks peers for their latest finalization unless this node finalized a block lately:
    /// so a node left behind in an old epoch (whose instance its peers no longer run) still
    /// learns how to catch up.
    fn ask_if_stalled(&mut self) {
        let now = self.context.current();
        if now.duration_since(self.last_progress).unwrap_or_default() >= self.quiet {
            self.ask_for_tip();
        }
    }

    /// The blocks from the delivered tip (exclusive) to `target` (inclusive), oldest first;
    /// `None` when `target` is delivered already or the bus closed; the height of a
    /// finalized block that does not descend from the delivered tip.
    async fn missing_chain(&mut self, target: Hash) -> Result<Option<Vec<Arc<Block>>>, Height> {
        let tip = self.delivered;
        if target == tip.block {
            return Ok(None);
        }
        let mut chain = Vec::new();
        let mut cursor = target;
        // A certificate for a block at or below the tip (a peer's stale one, or one replayed
        // after a restart) finalizes nothing new.
        match self.fetch(target).await {
            Some(block) if block.header.height <= tip.height => return Ok(None),
            Some(_) => {}
            None => return Ok(None),
        }
        while cursor != tip.block {
            let Some(block) = self.fetch(cursor).await else {
                return Ok(None);
            };
            if block.header.height <= tip.height {
                return Err(block.header.height);
            }
            cursor = block.header.parent;
            chain.push(block);
        }
        chain.reverse();
        Ok(Some(chain))
    }

    /// Block `id` from the cache, the chain or peers, until the bus closes.
    async fn fetch(&mut self, id: Hash) -> Option<Arc<Block>> {
        let timing = (self.config.block_wait, self.config.fetch_timeout);
        let bus = &self.bus;
        self.blocks
            .fetch(&self.context, id, timing, || bus.is_closed())
            .await
    }
}

/// `finalization` in Lamina's carried format: the same proposal and signatures, with the
/// signers as indices into the epoch's sorted keys (the order simplex's participant set
/// keeps). `None` only for a signature that does not decode, which a checked finalization
/// never holds.
/// Simplex's finalization of `certificate`, whose signers are indices into a set of
/// `participants` (the reverse of [`certificate_of`]); `None` when a signer or signature
/// cannot be. The result still has to be verified.
pub(crate) fn finalization_of(
    certificate: &FinalityCertificate,
    participants: u32,
) -> Option<Finalization<Scheme, Digest>> {
    let proposal = Proposal::new(
        Round::new(Epoch::new(certificate.epoch), View::new(certificate.view)),
        View::new(certificate.parent_view),
        digest(certificate.block),
    );
    let signers = Signers::new(
        participants,
        certificate
            .votes
            .iter()
            .map(|vote| Participant::new(vote.signer)),
    )
    .ok()?;
    let signatures = certificate
        .votes
        .iter()
        .map(|vote| {
            ed25519::Signature::decode(vote.signature.0.to_vec())
                .ok()
                .map(Lazy::from)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Finalization {
        proposal,
        certificate: ed25519_certificate::Certificate {
            signers,
            signatures,
        },
    })
}

pub(crate) fn certificate_of(
    finalization: &Finalization<Scheme, Digest>,
) -> Option<FinalityCertificate> {
    let proposal = &finalization.proposal;
    let votes = finalization
        .certificate
        .signers
        .iter()
        .zip(&finalization.certificate.signatures)
        .map(|(signer, signature)| {
            let bytes: [u8; 64] = signature.get()?.as_ref().try_into().ok()?;
            Some(Vote {
                signer: signer.get(),
                signature: Signature(bytes),
            })
        })
        .collect::<Option<Vec<Vote>>>()?;
    Some(FinalityCertificate {
        epoch: proposal.round.epoch().get(),
        view: proposal.round.view().get(),
        parent_view: proposal.parent.get(),
        block: block_id(&proposal.payload),
        votes: BoundedVec::try_from_vec(votes).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use commonware_utils::ordered::Set;
    use lamina_interop::crypto::SecretKey;
    use lamina_interop::finality::ValidatorSet;
    use lamina_interop::ChainId;

    use super::*;

    /// A certificate in Lamina's format, signed as simplex signs, becomes a finalization
    /// simplex's own scheme accepts, and converts back to itself; a forged one does not.
    #[test]
    fn a_stored_certificate_rebuilds_the_finalization_simplex_checks() {
        let chain = ChainId(7);
        let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_seed([i; 32])).collect();
        let set = ValidatorSet::new(3, keys.iter().map(SecretKey::public_key).collect()).unwrap();
        let signers: Vec<&SecretKey> = keys.iter().take(3).collect();
        let certificate =
            FinalityCertificate::sign(chain, &set, (17, 16), Hash::of(b"block"), &signers);
        let participants: Set<Key> = Set::from_iter_dedup(
            set.keys
                .iter()
                .map(|k| ed25519::PublicKey::decode(k.0.to_vec()).unwrap()),
        );
        let scheme = Scheme::verifier(&super::super::namespace(chain), participants);
        let mut rng = <rand_chacha::ChaCha20Rng as rand_core_010::SeedableRng>::from_seed([9; 32]);

        let finalization = finalization_of(&certificate, 4).unwrap();
        assert!(finalization.verify(&mut rng, &scheme, &Sequential));
        assert_eq!(certificate_of(&finalization), Some(certificate.clone()));

        let mut forged = certificate.clone();
        forged.block = Hash::of(b"another block");
        let forged = finalization_of(&forged, 4).unwrap();
        assert!(!forged.verify(&mut rng, &scheme, &Sequential));
        // A signer outside a set of that size cannot be placed at all.
        assert!(finalization_of(&certificate, 2).is_none());
    }
}
