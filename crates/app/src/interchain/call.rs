//! What a transaction can ask of the module: the messages of
//! [`InterchainMsg`](lamina_interop::interchain::InterchainMsg), routed here.

use lamina_interop::interchain::{
    InterchainMsg, Payload, TokenData, JSON, MAX_PAYLOADS, TRANSFER_PORT, TRANSFER_VERSION,
};
use lamina_interop::module::{AccessSet, Amount, Context, Ledger};
use lamina_interop::Address;

use super::packet;
use super::transfer;
use super::{client, Interchain, InterchainError, InterchainEvent, RateLimit, LIMITS, PARAMS};

/// Gas for each signature a finality proof carries. The light benchmark
/// (`cargo bench -p lamina-data-layer --bench light`, the book's "Transactions and formats")
/// measures an ed25519 signature of a certificate at about 29 µs batch-verified: 296,000 gas
/// at the transfer's rate of 10.19 gas a nanosecond, rounded up.
pub(crate) const SIGNATURE_GAS: u64 = 300_000;
/// Gas for each state proof checked: 2.5 µs measured over 100,000 keys (26,000 gas); charged
/// at more than twice that, for proofs of larger states (a path grows with the log of the
/// state's size) and their decoding.
pub(super) const STATE_PROOF_GAS: u64 = 60_000;
/// Gas for each header or payload decoded and hashed.
pub(super) const ITEM_GAS: u64 = 5_000;

/// Every message declares the whole state and runs alone, in block order: what a relayed
/// packet writes depends on what it carries, and a transfer's commitment key on the sequence
/// it reads.
pub(super) fn access(_call: &InterchainMsg) -> AccessSet {
    AccessSet::everything()
}

/// The gas a message costs besides state access: signatures, proofs and payloads.
pub(super) fn weight(call: &InterchainMsg) -> u64 {
    // A certificate is most of a finality proof; each vote is 68 bytes of it.
    let signatures = |bytes: usize| (bytes as u64 / 68).max(1) * SIGNATURE_GAS;
    match call {
        InterchainMsg::CreateClient { set, .. } => ITEM_GAS * (set.len() as u64 / 32 + 1),
        InterchainMsg::UpdateClient {
            proof, next_set, ..
        } => signatures(proof.len()) + next_set.as_ref().map_or(0, |_| STATE_PROOF_GAS),
        InterchainMsg::SubmitMisbehaviour { first, second, .. } => {
            signatures(first.len()) + signatures(second.len())
        }
        InterchainMsg::RecvPacket { packet, .. }
        | InterchainMsg::Acknowledge { packet, .. }
        | InterchainMsg::Timeout { packet, .. } => {
            STATE_PROOF_GAS + ITEM_GAS * packet.payloads.len().min(MAX_PAYLOADS) as u64
        }
        InterchainMsg::Transfer { .. } => 2 * ITEM_GAS,
        InterchainMsg::RegisterCounterparty { .. }
        | InterchainMsg::RecoverClient { .. }
        | InterchainMsg::SetRateLimit { .. } => ITEM_GAS,
    }
}

pub(super) fn execute<L: Ledger + Clone>(
    module: &Interchain<L>,
    call: InterchainMsg,
    ctx: &mut Context<'_, '_, Interchain<L>>,
) -> Result<(), InterchainError> {
    let sender = ctx.sender().unwrap_or(Address([0; 32]));
    let env = *ctx.env();
    match call {
        InterchainMsg::CreateClient {
            chain_id,
            epoch_blocks,
            trusting_period_ms,
            checkpoint_height,
            checkpoint_block,
            checkpoint_time,
            set,
        } => client::create(
            ctx,
            sender,
            chain_id,
            epoch_blocks,
            trusting_period_ms,
            (checkpoint_height, checkpoint_block, checkpoint_time),
            set.as_ref(),
        ),
        InterchainMsg::UpdateClient {
            client,
            proof,
            next_set,
        } => client::update(
            ctx,
            client.as_str(),
            proof.as_ref(),
            next_set.as_ref().map(|b| b.as_ref()),
        ),
        InterchainMsg::SubmitMisbehaviour {
            client,
            first,
            second,
        } => client::misbehaviour(ctx, client.as_str(), first.as_ref(), second.as_ref()),
        InterchainMsg::RegisterCounterparty {
            client,
            counterparty_client,
            prefix,
        } => client::register(
            ctx,
            sender,
            client.as_str(),
            counterparty_client.as_str(),
            prefix.as_ref(),
        ),
        InterchainMsg::RecoverClient {
            subject,
            substitute,
        } => client::recover(ctx, sender, subject.as_str(), substitute.as_str()),
        InterchainMsg::RecvPacket {
            packet,
            proof,
            proof_height,
        } => {
            let received = packet::recv(
                ctx.state(),
                &env,
                &module.ports,
                &packet,
                proof.as_ref(),
                proof_height,
            )?;
            ctx.emit(&InterchainEvent::PacketReceived {
                source_client: packet.source_client.to_string(),
                dest_client: packet.dest_client.to_string(),
                sequence: packet.sequence,
                acknowledgement: received.ack,
                refused: received.refused,
            })?;
            Ok(())
        }
        InterchainMsg::Acknowledge {
            packet,
            ack,
            proof,
            proof_height,
        } => {
            packet::acknowledge(
                ctx.state(),
                &env,
                &module.ports,
                &packet,
                &ack,
                proof.as_ref(),
                proof_height,
            )?;
            ctx.emit(&InterchainEvent::PacketAcknowledged {
                source_client: packet.source_client.to_string(),
                sequence: packet.sequence,
                success: !ack.is_error(),
            })?;
            Ok(())
        }
        InterchainMsg::Timeout {
            packet,
            proof,
            proof_height,
        } => {
            packet::timeout(
                ctx.state(),
                &env,
                &module.ports,
                &packet,
                proof.as_ref(),
                proof_height,
            )?;
            ctx.emit(&InterchainEvent::PacketTimedOut {
                source_client: packet.source_client.to_string(),
                sequence: packet.sequence,
            })?;
            Ok(())
        }
        InterchainMsg::Transfer {
            client,
            receiver,
            asset,
            amount: Amount(amount),
            timeout_after_s,
            memo,
        } => {
            let client = client.as_str();
            let denom = transfer::take(
                &module.ledger,
                ctx.state(),
                &env,
                client,
                &sender,
                asset,
                amount,
            )?;
            let data = TokenData {
                amount: amount.to_string(),
                denom: denom.clone(),
                memo: memo.to_string(),
                receiver: receiver.to_string(),
                sender: sender.to_string(),
            };
            let payload = Payload {
                source_port: id(TRANSFER_PORT),
                dest_port: id(TRANSFER_PORT),
                version: id(TRANSFER_VERSION),
                encoding: id(JSON),
                value: lamina_interop::codec::BoundedBytes::try_from_vec(data.encode())
                    .map_err(|_| InterchainError::Decode("token data too long".into()))?,
            };
            let timeout = (env.timestamp.0 / 1000).saturating_add(timeout_after_s);
            let packet = packet::send_packet(ctx.state(), &env, client, timeout, vec![payload])?;
            ctx.emit(&InterchainEvent::TransferSent {
                client: client.to_string(),
                sequence: packet.sequence,
                sender,
                receiver: receiver.to_string(),
                asset,
                denom,
                amount,
            })?;
            ctx.emit(&InterchainEvent::PacketSent { packet })?;
            Ok(())
        }
        InterchainMsg::SetRateLimit {
            asset,
            max_per_window: Amount(max_per_window),
            window_blocks,
        } => {
            let authority = PARAMS.get(ctx.state())?.and_then(|p| p.authority);
            if authority != Some(sender) {
                return Err(InterchainError::Unauthorized(sender));
            }
            if max_per_window == 0 {
                LIMITS.remove(ctx.state(), &asset)?;
            } else {
                let limit = RateLimit {
                    max_per_window,
                    window_blocks: window_blocks.max(1),
                    window_start: env.height,
                    sent: 0,
                };
                LIMITS.set(ctx.state(), &asset, &limit)?;
            }
            ctx.emit(&InterchainEvent::RateLimitSet {
                asset,
                max_per_window,
                window_blocks,
            })?;
            Ok(())
        }
    }
}

fn id(text: &'static str) -> lamina_interop::interchain::Id {
    // The constants are short ids.
    serde_json::from_value(serde_json::Value::String(text.to_string())).unwrap_or_default()
}
