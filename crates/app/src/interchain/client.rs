//! Clients of other chains: created from a trusted checkpoint, updated by anyone with finality
//! proofs checked by the interop light client, frozen on misbehaviour, recovered by the
//! authority.

use lamina_interop::codec::Canonical;
use lamina_interop::finality::{FinalityProof, ValidatorSet};
use lamina_interop::interchain::{valid_id, MAX_PREFIX_LEN};
use lamina_interop::light::{Checkpoint, LightClient, LightError, LightParams};
use lamina_interop::module::{Context, Ledger, WorkingSet};
use lamina_interop::state_proof::StateProof;
use lamina_interop::{Address, ChainId, Hash, Height, Timestamp};

use super::{
    ClientState, Counterparty, HeaderRecord, Interchain, InterchainError, InterchainEvent, CLIENTS,
    COUNTERPARTIES, HEADERS, MAX_UPDATE_HEADERS, NEXT_CLIENT, PARAMS, ROOTS,
};

type Ctx<'c, 's, 'x, L> = Context<'c, 's, Interchain<L>>;

fn decode_err(e: impl std::fmt::Display) -> InterchainError {
    InterchainError::Decode(e.to_string())
}

fn light_err(e: LightError) -> InterchainError {
    InterchainError::Light(e.to_string())
}

impl ClientState {
    /// The light client's parameters.
    pub fn params(&self) -> LightParams {
        LightParams {
            chain_id: self.chain_id,
            epoch_blocks: self.epoch_blocks,
            trusting_period_ms: self.trusting_period_ms,
        }
    }

    /// Whether the latest header is older than the trusting period at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        now.0.saturating_sub(self.latest.2 .0) > self.trusting_period_ms
    }

    /// "active", "frozen" or "expired".
    pub fn status(&self, now: Timestamp) -> &'static str {
        if self.frozen.is_some() {
            "frozen"
        } else if self.expired(now) {
            "expired"
        } else {
            "active"
        }
    }

    /// The interop light client, resumed from this state.
    fn light(&self, now: Timestamp) -> Result<LightClient, InterchainError> {
        let mut sets = self.sets.iter().cloned();
        let first = sets
            .next()
            .ok_or_else(|| InterchainError::Light("the client keeps no set".into()))?;
        let checkpoint = Checkpoint {
            height: self.latest.0,
            block: self.latest.1,
            timestamp: self.latest.2,
            set: first,
        };
        LightClient::resume(self.params(), checkpoint, sets, now).map_err(light_err)
    }
}

/// The client `id`, refused when unknown, frozen or expired at `now`.
pub(super) fn active(
    state: &mut WorkingSet<'_>,
    id: &str,
    now: Timestamp,
) -> Result<ClientState, InterchainError> {
    let client = CLIENTS
        .get(state, &id.to_string())?
        .ok_or_else(|| InterchainError::UnknownClient(id.to_string()))?;
    if let Some(height) = client.frozen {
        return Err(InterchainError::Frozen {
            client: id.to_string(),
            height,
        });
    }
    if client.expired(now) {
        return Err(InterchainError::Expired(id.to_string()));
    }
    Ok(client)
}

/// The state root of the counterparty's `height` that an active client verified: never zero,
/// never below the client's floor.
pub(super) fn verified_root(
    state: &mut WorkingSet<'_>,
    id: &str,
    height: Height,
    now: Timestamp,
) -> Result<Hash, InterchainError> {
    let client = active(state, id, now)?;
    if height < client.floor {
        return Err(InterchainError::BelowFloor {
            height,
            floor: client.floor,
        });
    }
    let root = ROOTS
        .get(state, &(id.to_string(), height.0))?
        .ok_or_else(|| InterchainError::NoRoot {
            client: id.to_string(),
            height,
        })?;
    if root == Hash::ZERO {
        return Err(InterchainError::ZeroRoot);
    }
    Ok(root)
}

/// Creates a client; see [`lamina_interop::interchain::InterchainMsg::CreateClient`].
#[allow(clippy::too_many_arguments)]
pub(super) fn create<L: Ledger + Clone>(
    ctx: &mut Ctx<'_, '_, '_, L>,
    sender: Address,
    chain_id: ChainId,
    epoch_blocks: Option<u64>,
    trusting_period_ms: u64,
    checkpoint: (Height, Hash, Timestamp),
    set: &[u8],
) -> Result<(), InterchainError> {
    let set = ValidatorSet::decode(set).map_err(decode_err)?;
    let params = LightParams {
        chain_id,
        epoch_blocks,
        trusting_period_ms,
    };
    if trusting_period_ms == 0 {
        return Err(InterchainError::Light("a trusting period of zero".into()));
    }
    let now = ctx.env().timestamp;
    let light = LightClient::new(
        params,
        Checkpoint {
            height: checkpoint.0,
            block: checkpoint.1,
            timestamp: checkpoint.2,
            set: set.clone(),
        },
        now,
    )
    .map_err(light_err)?;
    drop(light);
    let number = NEXT_CLIENT.get(ctx.state())?.unwrap_or(0);
    NEXT_CLIENT.set(ctx.state(), &(number + 1))?;
    let id = format!("client-{number}");
    let client = ClientState {
        chain_id,
        epoch_blocks,
        trusting_period_ms,
        latest: checkpoint,
        sets: vec![set],
        frozen: None,
        floor: Height(0),
        creator: sender,
    };
    CLIENTS.set(ctx.state(), &id, &client)?;
    ctx.emit(&InterchainEvent::ClientCreated {
        client: id,
        chain_id,
        height: checkpoint.0,
    })?;
    Ok(())
}

/// Freezes `client` at `height`; the call that found the misbehaviour succeeds, so the freeze
/// stays.
fn freeze<L: Ledger + Clone>(
    ctx: &mut Ctx<'_, '_, '_, L>,
    id: &str,
    mut client: ClientState,
    height: Height,
) -> Result<(), InterchainError> {
    client.frozen = Some(height);
    CLIENTS.set(ctx.state(), &id.to_string(), &client)?;
    ctx.emit(&InterchainEvent::ClientFrozen {
        client: id.to_string(),
        height,
    })?;
    Ok(())
}

/// Updates a client; see [`lamina_interop::interchain::InterchainMsg::UpdateClient`].
pub(super) fn update<L: Ledger + Clone>(
    ctx: &mut Ctx<'_, '_, '_, L>,
    id: &str,
    proof: &[u8],
    next_set: Option<&[u8]>,
) -> Result<(), InterchainError> {
    let now = ctx.env().timestamp;
    let mut client = active(ctx.state(), id, now)?;
    let proof = FinalityProof::decode(proof).map_err(decode_err)?;
    if proof.headers.len() > MAX_UPDATE_HEADERS {
        return Err(InterchainError::Light(format!(
            "{} headers in one update, at most {MAX_UPDATE_HEADERS}",
            proof.headers.len()
        )));
    }
    let mut light = client.light(now)?;
    match light.update(&proof, now) {
        Ok(_) => {}
        Err(LightError::Misbehaviour(evidence)) => {
            return freeze(ctx, id, client, evidence.height);
        }
        Err(e) => return Err(light_err(e)),
    }
    // A header or root that differs from one kept is a second final block: freeze. What a
    // recovery left below the client's floor is history, neither checked nor kept.
    let kept_headers = proof
        .headers
        .iter()
        .filter(|h| h.state_height >= client.floor)
        .collect::<Vec<_>>();
    for header in kept_headers.iter() {
        let kept = HEADERS.get(ctx.state(), &(id.to_string(), header.height.0))?;
        let root = ROOTS.get(ctx.state(), &(id.to_string(), header.state_height.0))?;
        if kept.is_some_and(|k| k.block != header.id())
            || root.is_some_and(|r| r != header.state_root)
        {
            return freeze(ctx, id, client, header.height);
        }
    }
    for header in kept_headers {
        let record = HeaderRecord {
            block: header.id(),
            time: header.timestamp,
            state_height: header.state_height,
            state_root: header.state_root,
        };
        HEADERS.set(ctx.state(), &(id.to_string(), header.height.0), &record)?;
        ROOTS.set(
            ctx.state(),
            &(id.to_string(), header.state_height.0),
            &header.state_root,
        )?;
    }
    // The proof verified, so it has a certified header.
    let Some(certified) = proof.certified() else {
        return Err(InterchainError::Light("no headers".into()));
    };
    if let Some(bytes) = next_set {
        let set_proof = StateProof::decode(bytes).map_err(decode_err)?;
        light
            .prove_next_set(certified.height, &set_proof, now)
            .map_err(light_err)?;
    }
    if certified.height > client.latest.0 {
        client.latest = (certified.height, certified.id(), certified.timestamp);
    }
    let params = client.params();
    let from = params.epoch_of(Height(client.latest.0 .0 + 1));
    client.sets = light.sets().filter(|s| s.epoch >= from).cloned().collect();
    let latest = client.latest.0;
    CLIENTS.set(ctx.state(), &id.to_string(), &client)?;
    ctx.emit(&InterchainEvent::ClientUpdated {
        client: id.to_string(),
        height: certified.height,
        latest,
    })?;
    Ok(())
}

/// Checks two finality proofs of different blocks at one height and freezes the client.
pub(super) fn misbehaviour<L: Ledger + Clone>(
    ctx: &mut Ctx<'_, '_, '_, L>,
    id: &str,
    first: &[u8],
    second: &[u8],
) -> Result<(), InterchainError> {
    let now = ctx.env().timestamp;
    let client = active(ctx.state(), id, now)?;
    let first = FinalityProof::decode(first).map_err(decode_err)?;
    let second = FinalityProof::decode(second).map_err(decode_err)?;
    let mut light = client.light(now)?;
    light.update(&first, now).map_err(light_err)?;
    match light.update(&second, now) {
        Err(LightError::Misbehaviour(evidence)) => freeze(ctx, id, client, evidence.height),
        Err(e) => Err(light_err(e)),
        Ok(_) => Err(InterchainError::BadProof("two blocks at one height")),
    }
}

/// Registers a client's counterparty, once, by the client's creator.
pub(super) fn register<L: Ledger + Clone>(
    ctx: &mut Ctx<'_, '_, '_, L>,
    sender: Address,
    id: &str,
    counterparty_client: &str,
    prefix: &[u8],
) -> Result<(), InterchainError> {
    let client = CLIENTS
        .get(ctx.state(), &id.to_string())?
        .ok_or_else(|| InterchainError::UnknownClient(id.to_string()))?;
    if client.creator != sender {
        return Err(InterchainError::Unauthorized(sender));
    }
    if COUNTERPARTIES.get(ctx.state(), &id.to_string())?.is_some() {
        return Err(InterchainError::CounterpartyExists(id.to_string()));
    }
    if !valid_id(counterparty_client) || prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN {
        return Err(InterchainError::Decode(format!(
            "a counterparty is a client id and a prefix of 1 to {MAX_PREFIX_LEN} bytes"
        )));
    }
    let counterparty = Counterparty {
        client: counterparty_client.to_string(),
        prefix: prefix.to_vec(),
    };
    COUNTERPARTIES.set(ctx.state(), &id.to_string(), &counterparty)?;
    ctx.emit(&InterchainEvent::CounterpartyRegistered {
        client: id.to_string(),
        counterparty_client: counterparty_client.to_string(),
    })?;
    Ok(())
}

/// The authority's recovery of a frozen or expired client from an active substitute of the
/// same chain: the subject takes the substitute's state (its latest header and root among
/// it), and refuses proofs below that root's height from then on.
pub(super) fn recover<L: Ledger + Clone>(
    ctx: &mut Ctx<'_, '_, '_, L>,
    sender: Address,
    subject: &str,
    substitute: &str,
) -> Result<(), InterchainError> {
    let authority = PARAMS.get(ctx.state())?.and_then(|p| p.authority);
    if authority != Some(sender) {
        return Err(InterchainError::Unauthorized(sender));
    }
    let now = ctx.env().timestamp;
    let old = CLIENTS
        .get(ctx.state(), &subject.to_string())?
        .ok_or_else(|| InterchainError::UnknownClient(subject.to_string()))?;
    if old.status(now) == "active" {
        return Err(InterchainError::SubjectActive(subject.to_string()));
    }
    let bad = || InterchainError::BadSubstitute(substitute.to_string());
    let fresh = active(ctx.state(), substitute, now).map_err(|_| bad())?;
    if fresh.chain_id != old.chain_id || subject == substitute {
        return Err(bad());
    }
    let latest = HEADERS
        .get(ctx.state(), &(substitute.to_string(), fresh.latest.0 .0))?
        .ok_or_else(bad)?;
    HEADERS.set(
        ctx.state(),
        &(subject.to_string(), fresh.latest.0 .0),
        &latest,
    )?;
    ROOTS.set(
        ctx.state(),
        &(subject.to_string(), latest.state_height.0),
        &latest.state_root,
    )?;
    let recovered = ClientState {
        creator: old.creator,
        floor: latest.state_height,
        ..fresh
    };
    CLIENTS.set(ctx.state(), &subject.to_string(), &recovered)?;
    ctx.emit(&InterchainEvent::ClientRecovered {
        client: subject.to_string(),
        substitute: substitute.to_string(),
        height: recovered.latest.0,
    })?;
    Ok(())
}
