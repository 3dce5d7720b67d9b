//! A Byzantine validator: it runs no chain of its own, only its votes channel, and answers
//! each notarize vote it hears with two notarize votes of its own for that view: one for the
//! proposal it heard, one for a block that does not exist. Honest validators must detect the
//! pair, report it as `MisbehaviourDetected`, and go on without it.

use std::collections::BTreeSet;

use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_consensus::simplex::scheme::ed25519::Scheme;
use commonware_consensus::simplex::types::{Notarize, Proposal, Vote};
use commonware_cryptography::{sha256, Hasher as _, Sha256};
use commonware_p2p::simulated::Oracle;
use commonware_p2p::utils::mux::Muxer;
use commonware_p2p::Recipients;
use commonware_runtime::{deterministic, Quota, Spawner as _, Supervisor as _};
use lamina_incentive::simplex::{self, signing_scheme, SimplexConfig};
use lamina_interop::crypto::SecretKey;

use crate::validator::network_key;

/// Views the equivocator remembers having equivocated in (it signs each view once).
const REMEMBERED_VIEWS: usize = 1024;

/// Starts the equivocator holding `key` on the simulated network.
pub(crate) async fn start(
    ctx: &deterministic::Context,
    config: &SimplexConfig,
    key: &SecretKey,
    oracle: &Oracle<commonware_cryptography::ed25519::PublicKey, deterministic::Context>,
) -> Result<(), String> {
    let scheme = signing_scheme(config, key).map_err(|e| e.to_string())?;
    let control = oracle.control(network_key(key));
    let (sender, receiver) = control
        .register(simplex::VOTES, Quota::per_second(simplex::CONSENSUS_RATE))
        .await
        .map_err(|e| e.to_string())?;
    // Votes travel on one sub-channel per epoch; the equivocator lives in the first.
    let (mux, mut handle) = Muxer::new(ctx.child("votes"), sender, receiver);
    mux.start();
    let (sender, receiver) = handle.register(0).await.map_err(|e| e.to_string())?;
    ctx.child("equivocator")
        .spawn(move |_| equivocate(scheme, sender, receiver));
    Ok(())
}

async fn equivocate(
    scheme: Scheme,
    mut sender: impl commonware_p2p::Sender,
    mut receiver: impl commonware_p2p::Receiver,
) {
    let mut done = BTreeSet::new();
    while let Ok((_, bytes)) = receiver.recv().await {
        let Ok(Vote::Notarize(heard)) = Vote::<Scheme, sha256::Digest>::decode(bytes) else {
            continue;
        };
        let round = heard.round();
        if !done.insert(round) {
            continue;
        }
        if done.len() > REMEMBERED_VIEWS {
            done.pop_first();
        }
        let forged = Proposal::new(
            round,
            heard.proposal.parent,
            Sha256::hash(&[heard.proposal.payload.as_ref()]),
        );
        for proposal in [heard.proposal, forged] {
            if let Some(vote) = Notarize::<Scheme, _>::sign(&scheme, proposal) {
                let _ = sender.send(Recipients::All, Vote::Notarize(vote).encode(), true);
            }
        }
    }
}
