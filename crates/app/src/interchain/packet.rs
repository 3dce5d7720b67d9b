//! The packet handler: send, receive, acknowledge, time out. State is written (a receipt, a
//! deleted commitment) before any port runs. Public so that a port can be shown to find
//! nothing to act on when it re-enters.

use lamina_interop::codec::{BoundedBytes, BoundedVec};
use lamina_interop::interchain::{
    ack_path, commit_ack, commit_packet, commitment_path, prefixed, receipt_path, Acknowledgement,
    Packet, Payload, PortMap, LAMINA_PREFIX, MAX_PAYLOADS, RECEIPT,
};
use lamina_interop::module::{Env, WorkingSet};
use lamina_interop::state_proof::{self, StateProof};
use lamina_interop::Height;

use super::client::{active, verified_root};
use super::{
    Counterparty, InterchainError, ACKS, COUNTERPARTIES, HEADERS, NEXT_SEQUENCE, PARAMS, SENT,
};

/// The state key of `path` on this chain.
pub(super) fn local_key(path: &[u8]) -> Vec<u8> {
    prefixed(LAMINA_PREFIX, path)
}

fn seconds(env: &Env) -> u64 {
    env.timestamp.0 / 1000
}

/// The counterparty of `client`, which `packet` must name.
fn counterparty(
    state: &mut WorkingSet<'_>,
    client: &str,
    named: &str,
) -> Result<Counterparty, InterchainError> {
    match COUNTERPARTIES.get(state, &client.to_string())? {
        Some(c) if c.client == named => Ok(c),
        _ => Err(InterchainError::UnknownCounterparty {
            client: client.to_string(),
            counterparty: named.to_string(),
        }),
    }
}

/// The value of `path` in the counterparty's state at `height`, proven by `proof` against the
/// root `client` verified: `Some` for a member, `None` for a proven absence.
fn prove(
    state: &mut WorkingSet<'_>,
    env: &Env,
    client: &str,
    counterparty: &Counterparty,
    (proof, height): (&[u8], Height),
    path: &[u8],
    what: &'static str,
) -> Result<Option<Vec<u8>>, InterchainError> {
    let root = verified_root(state, client, height, env.timestamp)?;
    let proof = StateProof::decode(proof).map_err(|e| InterchainError::Decode(e.to_string()))?;
    let key = prefixed(&counterparty.prefix, path);
    state_proof::verify(&root, &key, &proof).map_err(|_| InterchainError::BadProof(what))
}

/// Sends `payloads` through `source_client`, timing out at `timeout` (UNIX seconds on the
/// destination): stores the commitment under the next sequence, which it returns. Another
/// module sends its own packets through this; the caller has done what sending means to it
/// (escrow) and declares the whole state or these keys.
pub fn send_packet(
    state: &mut WorkingSet<'_>,
    env: &Env,
    source_client: &str,
    timeout: u64,
    payloads: Vec<Payload>,
) -> Result<Packet, InterchainError> {
    active(state, source_client, env.timestamp)?;
    let counterparty = COUNTERPARTIES
        .get(state, &source_client.to_string())?
        .ok_or_else(|| InterchainError::UnknownCounterparty {
            client: source_client.to_string(),
            counterparty: String::new(),
        })?;
    let max = PARAMS.get(state)?.map(|p| p.max_timeout_s).unwrap_or(0);
    let now = seconds(env);
    if timeout <= now || timeout - now > max {
        return Err(InterchainError::BadTimeout { max });
    }
    if payloads.len() > MAX_PAYLOADS {
        return Err(lamina_interop::interchain::PacketError::NoPayload.into());
    }
    let sequence = NEXT_SEQUENCE
        .get(state, &source_client.to_string())?
        .unwrap_or(1);
    let packet = Packet {
        sequence,
        source_client: id(source_client)?,
        dest_client: id(&counterparty.client)?,
        timeout,
        payloads: BoundedVec::try_from_vec(payloads).unwrap_or_default(),
    };
    packet.validate()?;
    NEXT_SEQUENCE.set(state, &source_client.to_string(), &(sequence + 1))?;
    state.set(
        &local_key(&commitment_path(source_client, sequence)),
        commit_packet(&packet).0.to_vec(),
    )?;
    SENT.set(state, &(source_client.to_string(), sequence), &packet)?;
    Ok(packet)
}

fn id(text: &str) -> Result<lamina_interop::interchain::Id, InterchainError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|e| InterchainError::Decode(e.to_string()))
}

/// What a delivered packet was answered.
pub struct Received {
    /// The acknowledgement written.
    pub ack: Acknowledgement,
    /// The refusal, when the ack is the error acknowledgement.
    pub refused: Option<String>,
}

/// Receives `packet`: see the module docs.
pub fn recv(
    state: &mut WorkingSet<'_>,
    env: &Env,
    ports: &PortMap,
    packet: &Packet,
    proof: &[u8],
    proof_height: Height,
) -> Result<Received, InterchainError> {
    packet.validate()?;
    let client = packet.dest_client.as_str();
    active(state, client, env.timestamp)?;
    let counterparty = counterparty(state, client, packet.source_client.as_str())?;
    let now = seconds(env);
    if now >= packet.timeout {
        return Err(InterchainError::TimedOut {
            timeout: packet.timeout,
            now,
        });
    }
    let receipt = local_key(&receipt_path(client, packet.sequence));
    if state.get(&receipt)?.is_some() {
        return Err(InterchainError::AlreadyReceived {
            client: client.to_string(),
            sequence: packet.sequence,
        });
    }
    let path = commitment_path(packet.source_client.as_str(), packet.sequence);
    let proven = prove(
        state,
        env,
        client,
        &counterparty,
        (proof, proof_height),
        &path,
        "the packet's commitment",
    )?;
    if proven.as_deref() != Some(&commit_packet(packet).0[..]) {
        return Err(InterchainError::BadProof("the packet's commitment"));
    }
    // The receipt first: a port that re-enters finds the packet received.
    state.set(&receipt, RECEIPT.to_vec())?;
    let checkpoint = state.checkpoint();
    let mut acks = Vec::with_capacity(packet.payloads.len());
    let mut refused = None;
    for payload in packet.payloads.iter() {
        let answer = match ports.get(payload.dest_port.as_str()) {
            Some(port) => port
                .on_recv(state, env, packet, payload)
                .map_err(|e| format!("port {}: {e}", payload.dest_port)),
            None => Err(format!("no application on port {}", payload.dest_port)),
        };
        match answer.map(BoundedBytes::try_from_vec) {
            Ok(Ok(ack)) if !ack.is_empty() => acks.push(ack),
            Ok(_) => {
                refused = Some(format!("port {}: an empty or long ack", payload.dest_port));
                break;
            }
            Err(reason) => {
                refused = Some(reason);
                break;
            }
        }
    }
    let ack = match refused {
        None => Acknowledgement {
            app_acknowledgements: BoundedVec::try_from_vec(acks).unwrap_or_default(),
        },
        Some(_) => {
            state.revert(checkpoint);
            Acknowledgement::error()
        }
    };
    state.set(
        &local_key(&ack_path(client, packet.sequence)),
        commit_ack(&ack).0.to_vec(),
    )?;
    ACKS.set(state, &(client.to_string(), packet.sequence), &ack)?;
    Ok(Received { ack, refused })
}

/// Checks that `packet` is pending here as committed, and deletes its commitment.
fn take_commitment(state: &mut WorkingSet<'_>, packet: &Packet) -> Result<(), InterchainError> {
    let key = local_key(&commitment_path(
        packet.source_client.as_str(),
        packet.sequence,
    ));
    let stored = state
        .get(&key)?
        .ok_or_else(|| InterchainError::NotPending {
            client: packet.source_client.to_string(),
            sequence: packet.sequence,
        })?;
    if stored != commit_packet(packet).0 {
        return Err(InterchainError::CommitmentMismatch(packet.sequence));
    }
    state.delete(&key)?;
    SENT.remove(state, &(packet.source_client.to_string(), packet.sequence))?;
    Ok(())
}

/// What acknowledging and timing out begin with: the packet valid, its counterparty
/// registered, and its commitment checked and deleted. The commitment goes first: a packet
/// never sent, or one a faster relayer settled, is named so, and the port runs with the
/// commitment gone.
fn settling(state: &mut WorkingSet<'_>, packet: &Packet) -> Result<Counterparty, InterchainError> {
    packet.validate()?;
    let counterparty = counterparty(
        state,
        packet.source_client.as_str(),
        packet.dest_client.as_str(),
    )?;
    take_commitment(state, packet)?;
    Ok(counterparty)
}

/// Acknowledges `packet` with `ack`: see the module docs.
pub fn acknowledge(
    state: &mut WorkingSet<'_>,
    env: &Env,
    ports: &PortMap,
    packet: &Packet,
    ack: &Acknowledgement,
    proof: &[u8],
    proof_height: Height,
) -> Result<(), InterchainError> {
    let client = packet.source_client.as_str();
    let counterparty = settling(state, packet)?;
    let path = ack_path(packet.dest_client.as_str(), packet.sequence);
    let proven = prove(
        state,
        env,
        client,
        &counterparty,
        (proof, proof_height),
        &path,
        "the acknowledgement",
    )?;
    if proven.as_deref() != Some(&commit_ack(ack).0[..]) {
        return Err(InterchainError::BadProof("the acknowledgement"));
    }
    let error = ack.is_error();
    if !error && ack.app_acknowledgements.len() != packet.payloads.len() {
        return Err(InterchainError::BadProof("one acknowledgement per payload"));
    }
    for (i, payload) in packet.payloads.iter().enumerate() {
        let answer: &[u8] = if error {
            &lamina_interop::interchain::ERROR_ACK
        } else {
            ack.app_acknowledgements[i].as_ref()
        };
        port(ports, payload)?
            .on_ack(state, env, packet, payload, answer)
            .map_err(|e| port_err(payload, e))?;
    }
    Ok(())
}

/// Times `packet` out: see the module docs.
pub fn timeout(
    state: &mut WorkingSet<'_>,
    env: &Env,
    ports: &PortMap,
    packet: &Packet,
    proof: &[u8],
    proof_height: Height,
) -> Result<(), InterchainError> {
    let client = packet.source_client.as_str();
    let counterparty = settling(state, packet)?;
    // The time of the block whose state is proven: no later block can receive the packet.
    let time = HEADERS
        .get(state, &(client.to_string(), proof_height.0))?
        .ok_or_else(|| InterchainError::NoRoot {
            client: client.to_string(),
            height: proof_height,
        })?
        .time
        .0
        / 1000;
    if time < packet.timeout {
        return Err(InterchainError::NotTimedOut {
            timeout: packet.timeout,
            time,
        });
    }
    let path = receipt_path(packet.dest_client.as_str(), packet.sequence);
    let proven = prove(
        state,
        env,
        client,
        &counterparty,
        (proof, proof_height),
        &path,
        "the receipt's absence",
    )?;
    if proven.is_some() {
        return Err(InterchainError::BadProof("the receipt's absence"));
    }
    for payload in packet.payloads.iter() {
        port(ports, payload)?
            .on_timeout(state, env, packet, payload)
            .map_err(|e| port_err(payload, e))?;
    }
    Ok(())
}

fn port<'p>(
    ports: &'p PortMap,
    payload: &Payload,
) -> Result<&'p dyn lamina_interop::interchain::Port, InterchainError> {
    ports
        .get(payload.source_port.as_str())
        .ok_or_else(|| InterchainError::UnknownPort(payload.source_port.to_string()))
}

fn port_err(payload: &Payload, e: lamina_interop::interchain::PortError) -> InterchainError {
    InterchainError::Port {
        port: payload.source_port.to_string(),
        reason: e.0,
    }
}
