//! Two chains with the `interchain` module, real QMDB state proofs and certified headers:
//! token transfer there and back, and each known bridge failure refused with a typed error.
//!
//! Error codes (`InterchainError::code`): 2 frozen, 3 expired, 5 undecodable, 7 unknown
//! counterparty, 9 unauthorized, 11 zero root, 13 bad proof, 14 already received, 15 timed
//! out, 16 not timed out, 17 not pending, 23 rate limited, 27 recovering an active client.

#![allow(clippy::unwrap_used, missing_docs)]

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use commonware_runtime::{deterministic, Runner as _};
use lamina_agreement::modules::bank::Bank;
use lamina_agreement::{Runtime, RuntimeConfig};
use lamina_app::interchain::packet::{self as handler};
use lamina_app::interchain::{
    escrow_account, Interchain, InterchainEvent, TransferPort, VOUCHER_BASE,
};
use lamina_interop::block::{Header, StateChange};
use lamina_interop::codec::{BoundedBytes, Canonical};
use lamina_interop::interchain::{
    commit_packet, commitment_path, prefixed, receipt_path, Acknowledgement, InterchainMsg, Packet,
    Payload, Port, PortError, PortMap, LAMINA_PREFIX,
};
use lamina_interop::module::{Env, WorkingSet};
use lamina_interop::{ChainId, Hash, Height};
use lamina_simulation::interchain::{
    account, ack_msg, address, code, connect, id, recv_msg, timeout_msg, update, Chain, Relay,
    BLOCK_MS, FUNDS, TOKEN, TRUSTING_PERIOD_MS,
};
use lamina_simulation::link::Rng;

const A: ChainId = ChainId(11);
const B: ChainId = ChainId(22);

fn run<F, Fut>(f: F)
where
    F: FnOnce(deterministic::Context) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    deterministic::Runner::default().start(f);
}

async fn two(ctx: &deterministic::Context) -> (Chain, Chain, Relay) {
    let mut a = Chain::new(ctx, A, 1).await.unwrap();
    let mut b = Chain::new(ctx, B, 4).await.unwrap();
    let relay = connect(&mut a, &mut b).await.unwrap();
    (a, b, relay)
}

/// Sends `amount` of `asset` from account `from` on `src` to account `to` across `relay`;
/// the packet.
async fn send(
    src: &mut Chain,
    relay: &Relay,
    from: u64,
    to: u64,
    asset: u32,
    amount: u128,
) -> Packet {
    send_with(src, relay, from, to, asset, amount, 600).await
}

async fn send_with(
    src: &mut Chain,
    relay: &Relay,
    from: u64,
    to: u64,
    asset: u32,
    amount: u128,
    timeout_after_s: u64,
) -> Packet {
    let msg = relay.transfer(to, asset, amount, timeout_after_s);
    let receipt = src.call(&account(from), &msg).await.unwrap();
    assert_eq!(code(&receipt), None, "{:?}", receipt.outcome);
    src.sent(&[receipt]).pop().unwrap()
}

fn escrowed(chain: &Chain, client: &str, asset: u32) -> u128 {
    lamina_app::interchain::ESCROW
        .get_committed(chain.state(), &(client.to_string(), asset))
        .unwrap()
        .unwrap_or(0)
}

fn voucher(chain: &Chain, denom: &str) -> Option<u32> {
    lamina_app::interchain::VOUCHERS
        .get_committed(chain.state(), &denom.to_string())
        .unwrap()
}

fn pending(chain: &Chain, packet: &Packet) -> bool {
    let key = prefixed(
        LAMINA_PREFIX,
        &commitment_path(packet.source_client.as_str(), packet.sequence),
    );
    lamina_interop::module::StateView::get(chain.state(), &key)
        .unwrap()
        .is_some()
}

#[test]
fn a_token_goes_to_the_other_chain_and_back_exactly_once() {
    run(|ctx| async move {
        let (mut a, mut b, relay) = two(&ctx).await;
        let packet = send(&mut a, &relay, 1, 2, TOKEN, 1_000).await;
        assert_eq!(a.balance(TOKEN, &address(1)), FUNDS - 1_000);
        assert_eq!(escrowed(&a, &relay.a_client, TOKEN), 1_000);
        assert_eq!(a.balance(TOKEN, &escrow_account(&relay.a_client)), 1_000);
        assert!(pending(&a, &packet));

        let (recv, acked) = relay.deliver(&mut a, &mut b, &packet).await.unwrap();
        assert_eq!(code(&recv), None, "{:?}", recv.outcome);
        assert_eq!(code(&acked), None, "{:?}", acked.outcome);
        let denom = format!("transfer/{}/asset-{TOKEN}", relay.b_client);
        let v = voucher(&b, &denom).unwrap();
        assert_eq!(v, VOUCHER_BASE);
        assert_eq!(b.balance(v, &address(2)), 1_000);
        assert_eq!(b.supply(v), 1_000);
        assert!(!pending(&a, &packet), "the ack deletes the commitment");
        assert_eq!(
            a.balance(TOKEN, &address(1)),
            FUNDS - 1_000,
            "no refund on success"
        );

        // Back home: the voucher is burned on B and the escrow released on A.
        let back = relay.reversed();
        let packet = send(&mut b, &back, 2, 3, v, 400).await;
        assert_eq!(b.supply(v), 600);
        let (recv, acked) = back.deliver(&mut b, &mut a, &packet).await.unwrap();
        assert_eq!((code(&recv), code(&acked)), (None, None));
        assert_eq!(a.balance(TOKEN, &address(3)), FUNDS + 400);
        assert_eq!(escrowed(&a, &relay.a_client, TOKEN), 600);
        assert_eq!(b.supply(v), escrowed(&a, &relay.a_client, TOKEN));
    });
}

#[test]
fn a_replayed_packet_and_a_second_acknowledgement_are_refused() {
    run(|ctx| async move {
        let (mut a, mut b, relay) = two(&ctx).await;
        let packet = send(&mut a, &relay, 1, 2, TOKEN, 50).await;
        update(&mut b, &relay.b_client, &a).await.unwrap();
        let recv = recv_msg(&a, &packet).await.unwrap();
        let first = b.call(&account(5), &recv).await.unwrap();
        assert_eq!(code(&first), None);
        // A second relayer with the same message loses, typed, and pays only its fee.
        let again = b.call(&account(4), &recv).await.unwrap();
        assert_eq!(code(&again), Some(14));
        let ack = b.written_ack(&first).unwrap();
        update(&mut a, &relay.a_client, &b).await.unwrap();
        let ack = ack_msg(&b, &packet, &ack).await.unwrap();
        assert_eq!(code(&a.call(&account(5), &ack).await.unwrap()), None);
        assert_eq!(code(&a.call(&account(4), &ack).await.unwrap()), Some(17));
        let v = voucher(&b, &format!("transfer/{}/asset-{TOKEN}", relay.b_client)).unwrap();
        assert_eq!(b.balance(v, &address(2)), 50, "delivered once");
    });
}

#[test]
fn a_timed_out_packet_refunds_exactly_and_is_never_received() {
    run(|ctx| async move {
        let (mut a, mut b, relay) = two(&ctx).await;
        let packet = send_with(&mut a, &relay, 1, 2, TOKEN, 70, 5).await;
        // Too early: B's time has not reached the timeout.
        update(&mut a, &relay.a_client, &b).await.unwrap();
        let early = a
            .call(&account(5), &timeout_msg(&b, &packet).await.unwrap())
            .await
            .unwrap();
        assert_eq!(code(&early), Some(16));
        // B's clock passes the timeout: the packet cannot be received there.
        for _ in 0..8 {
            b.block(&[]).await.unwrap();
        }
        update(&mut b, &relay.b_client, &a).await.unwrap();
        let late = b
            .call(&account(5), &recv_msg(&a, &packet).await.unwrap())
            .await
            .unwrap();
        assert_eq!(code(&late), Some(15));
        update(&mut a, &relay.a_client, &b).await.unwrap();
        let timeout = timeout_msg(&b, &packet).await.unwrap();
        let done = a.call(&account(5), &timeout).await.unwrap();
        assert_eq!(code(&done), None, "{:?}", done.outcome);
        assert_eq!(a.balance(TOKEN, &address(1)), FUNDS, "refunded exactly");
        assert_eq!(escrowed(&a, &relay.a_client, TOKEN), 0);
        assert!(!pending(&a, &packet));
        assert_eq!(
            code(&a.call(&account(5), &timeout).await.unwrap()),
            Some(17)
        );
    });
}

#[test]
fn a_timeout_of_a_received_packet_is_refused_whatever_the_proof() {
    run(|ctx| async move {
        let (mut a, mut b, relay) = two(&ctx).await;
        let packet = send_with(&mut a, &relay, 1, 2, TOKEN, 70, 5).await;
        update(&mut b, &relay.b_client, &a).await.unwrap();
        let recv = b
            .call(&account(5), &recv_msg(&a, &packet).await.unwrap())
            .await
            .unwrap();
        assert_eq!(code(&recv), None);
        for _ in 0..8 {
            b.block(&[]).await.unwrap();
        }
        update(&mut a, &relay.a_client, &b).await.unwrap();
        // The receipt's proof is a membership: it never passes for an absence.
        let present = timeout_msg(&b, &packet).await.unwrap();
        assert_eq!(
            code(&a.call(&account(5), &present).await.unwrap()),
            Some(13)
        );
        // Dragonberry: a genuine absence proof of another key (the next sequence's receipt).
        let other = b
            .prove(&receipt_path(
                packet.dest_client.as_str(),
                packet.sequence + 1,
            ))
            .await
            .unwrap();
        let forged = InterchainMsg::Timeout {
            packet: packet.clone(),
            proof: other,
            proof_height: Height(b.height()),
        };
        assert_eq!(code(&a.call(&account(5), &forged).await.unwrap()), Some(13));
        assert!(pending(&a, &packet));
        assert_eq!(a.balance(TOKEN, &address(1)), FUNDS - 70, "no refund");
    });
}

/// The header after `chain`'s latest, naming `root` for its own height.
fn next_header(chain: &Chain, root: Hash) -> Header {
    let last = chain.header(chain.height()).unwrap();
    Header {
        chain_id: chain.chain_id,
        height: Height(last.height.0 + 1),
        parent: last.id(),
        timestamp: lamina_interop::Timestamp(last.timestamp.0 + 1_000),
        proposer: last.proposer,
        tx_root: Hash::ZERO,
        tx_count: 0,
        state_height: Height(last.height.0 + 1),
        state_root: root,
    }
}

fn update_msg(client: &str, proof: &lamina_interop::finality::FinalityProof) -> InterchainMsg {
    InterchainMsg::UpdateClient {
        client: id(client),
        proof: BoundedBytes::try_from_vec(proof.encode()).unwrap(),
        next_set: None,
    }
}

#[test]
fn a_zero_root_or_an_empty_proof_proves_nothing() {
    run(|ctx| async move {
        let (mut a, mut b, relay) = two(&ctx).await;
        let packet = send(&mut a, &relay, 1, 2, TOKEN, 10).await;
        // Nomad: a certified header whose root is the default value.
        let header = next_header(&a, Hash::ZERO);
        let height = header.state_height;
        let proof = a.certify(vec![header]).unwrap();
        let updated = b
            .call(&account(5), &update_msg(&relay.b_client, &proof))
            .await
            .unwrap();
        assert_eq!(code(&updated), None);
        let mut msg = recv_msg(&a, &packet).await.unwrap();
        if let InterchainMsg::RecvPacket { proof_height, .. } = &mut msg {
            *proof_height = height;
        }
        assert_eq!(code(&b.call(&account(5), &msg).await.unwrap()), Some(11));
        // An empty proof at a real root.
        update(&mut b, &relay.b_client, &a).await.unwrap();
        let empty = InterchainMsg::RecvPacket {
            packet: packet.clone(),
            proof: BoundedBytes::default(),
            proof_height: Height(a.height()),
        };
        assert_eq!(code(&b.call(&account(5), &empty).await.unwrap()), Some(5));
    });
}

#[test]
fn a_malformed_proof_never_delivers_a_packet() {
    run(|ctx| async move {
        let (mut a, mut b, relay) = two(&ctx).await;
        let packet = send(&mut a, &relay, 1, 2, TOKEN, 10).await;
        update(&mut b, &relay.b_client, &a).await.unwrap();
        let InterchainMsg::RecvPacket { proof, .. } = recv_msg(&a, &packet).await.unwrap() else {
            unreachable!()
        };
        let good = proof.clone().into_inner();
        // The BNB bridge's IAVL forgery: inner nodes changed, a child dropped, bytes added.
        let mut forgeries: Vec<Vec<u8>> = Vec::new();
        for i in (1..good.len()).step_by(good.len() / 24 + 1) {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            forgeries.push(bad);
        }
        forgeries.push(good[..good.len() - 32].to_vec());
        forgeries.push(good[..good.len() / 2].to_vec());
        let mut longer = good.clone();
        longer.extend_from_slice(&[0; 32]);
        forgeries.push(longer);
        let mut txs = Vec::new();
        for (i, bad) in forgeries.iter().enumerate() {
            let msg = InterchainMsg::RecvPacket {
                packet: packet.clone(),
                proof: BoundedBytes::try_from_vec(bad.clone()).unwrap(),
                proof_height: Height(a.height()),
            };
            txs.push(b.sign(&account(4), &msg, i as u64).unwrap());
        }
        let receipts = b.block(&txs).await.unwrap();
        for (i, receipt) in receipts.iter().enumerate() {
            let c = code(receipt);
            assert!(
                c == Some(5) || c == Some(13),
                "forgery {i}: {:?}",
                receipt.outcome
            );
        }
        // The genuine proof still delivers: the forgeries were refused for what they were.
        let genuine = InterchainMsg::RecvPacket {
            packet,
            proof: BoundedBytes::try_from_vec(good).unwrap(),
            proof_height: Height(a.height()),
        };
        assert_eq!(code(&b.call(&account(5), &genuine).await.unwrap()), None);
    });
}

/// The message a re-entrant port runs again: proof, height, and the ack for an
/// acknowledgement (none for a timeout).
type Replay = (Vec<u8>, Height, Option<Acknowledgement>);

/// A transfer port that, inside its acknowledgement and timeout callbacks, runs the same
/// message again through the handler, as a malicious application would.
struct Reentrant {
    inner: TransferPort<Bank>,
    ports: OnceLock<PortMap>,
    replay: Mutex<Option<Replay>>,
    inner_results: Mutex<Vec<String>>,
}

impl Reentrant {
    fn again(&self, state: &mut WorkingSet<'_>, env: &Env, packet: &Packet) {
        let Some((proof, height, ack)) = self.replay.lock().unwrap().take() else {
            return;
        };
        let ports = self.ports.get().unwrap();
        let result = match ack {
            Some(ack) => handler::acknowledge(state, env, ports, packet, &ack, &proof, height),
            None => handler::timeout(state, env, ports, packet, &proof, height),
        };
        self.inner_results.lock().unwrap().push(
            result
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "accepted".into()),
        );
    }
}

impl Port for Reentrant {
    fn on_recv(
        &self,
        state: &mut WorkingSet<'_>,
        env: &Env,
        packet: &Packet,
        payload: &Payload,
    ) -> Result<Vec<u8>, PortError> {
        self.inner.on_recv(state, env, packet, payload)
    }

    fn on_ack(
        &self,
        state: &mut WorkingSet<'_>,
        env: &Env,
        packet: &Packet,
        payload: &Payload,
        ack: &[u8],
    ) -> Result<(), PortError> {
        self.again(state, env, packet);
        self.inner.on_ack(state, env, packet, payload, ack)
    }

    fn on_timeout(
        &self,
        state: &mut WorkingSet<'_>,
        env: &Env,
        packet: &Packet,
        payload: &Payload,
    ) -> Result<(), PortError> {
        self.again(state, env, packet);
        self.inner.on_timeout(state, env, packet, payload)
    }
}

#[test]
fn a_reentrant_timeout_or_acknowledgement_finds_nothing_to_act_on() {
    run(|ctx| async move {
        let port = Arc::new(Reentrant {
            inner: TransferPort::new(Bank),
            ports: OnceLock::new(),
            replay: Mutex::new(None),
            inner_results: Mutex::new(Vec::new()),
        });
        let module = Interchain::new(Bank).port("transfer", port.clone());
        port.ports.set(module.ports().clone()).ok();
        let runtime = Runtime::builder(RuntimeConfig::new(A))
            .module(module)
            .build()
            .unwrap();
        let mut a = Chain::with_runtime(&ctx, runtime, 1).await.unwrap();
        let mut b = Chain::new(&ctx, B, 4).await.unwrap();
        let relay = connect(&mut a, &mut b).await.unwrap();

        // A timeout whose callback times the packet out again.
        let packet = send_with(&mut a, &relay, 1, 2, TOKEN, 70, 5).await;
        for _ in 0..8 {
            b.block(&[]).await.unwrap();
        }
        update(&mut a, &relay.a_client, &b).await.unwrap();
        let msg = timeout_msg(&b, &packet).await.unwrap();
        let InterchainMsg::Timeout {
            proof,
            proof_height,
            ..
        } = &msg
        else {
            unreachable!()
        };
        *port.replay.lock().unwrap() = Some((proof.clone().into_inner(), *proof_height, None));
        let done = a.call(&account(5), &msg).await.unwrap();
        assert_eq!(code(&done), None, "{:?}", done.outcome);
        assert_eq!(
            a.balance(TOKEN, &address(1)),
            FUNDS,
            "refunded once, not twice"
        );
        assert!(port.inner_results.lock().unwrap()[0].contains("no pending packet"));

        // An error acknowledgement whose callback acknowledges again: receiver unparsable.
        let bad = InterchainMsg::Transfer {
            client: id(&relay.a_client),
            receiver: serde_json::from_value(serde_json::json!("not-an-address")).unwrap(),
            asset: TOKEN,
            amount: lamina_interop::module::Amount(30),
            timeout_after_s: 600,
            memo: Default::default(),
        };
        let receipt = a.call(&account(1), &bad).await.unwrap();
        let packet = a.sent(&[receipt]).pop().unwrap();
        update(&mut b, &relay.b_client, &a).await.unwrap();
        let recv = b
            .call(&account(5), &recv_msg(&a, &packet).await.unwrap())
            .await
            .unwrap();
        let ack = b.written_ack(&recv).unwrap();
        assert!(ack.is_error());
        update(&mut a, &relay.a_client, &b).await.unwrap();
        let msg = ack_msg(&b, &packet, &ack).await.unwrap();
        let InterchainMsg::Acknowledge {
            proof,
            proof_height,
            ..
        } = &msg
        else {
            unreachable!()
        };
        *port.replay.lock().unwrap() =
            Some((proof.clone().into_inner(), *proof_height, Some(ack.clone())));
        let done = a.call(&account(5), &msg).await.unwrap();
        assert_eq!(code(&done), None, "{:?}", done.outcome);
        assert_eq!(
            a.balance(TOKEN, &address(1)),
            FUNDS,
            "refunded once, not twice"
        );
        assert!(port.inner_results.lock().unwrap()[1].contains("no pending packet"));
    });
}

#[test]
fn a_frozen_client_proves_nothing() {
    run(|ctx| async move {
        let (mut a, mut b, relay) = two(&ctx).await;
        let packet = send(&mut a, &relay, 1, 2, TOKEN, 10).await;
        update(&mut b, &relay.b_client, &a).await.unwrap();
        // A's validators sign a second block at a height B's client holds.
        let mut fork = a.header(a.height()).unwrap().clone();
        fork.tx_root = Hash([9; 32]);
        let proof = a.certify(vec![fork]).unwrap();
        let frozen = b
            .call(&account(4), &update_msg(&relay.b_client, &proof))
            .await
            .unwrap();
        assert_eq!(code(&frozen), None);
        assert!(b
            .events(&frozen)
            .iter()
            .any(|e| matches!(e, InterchainEvent::ClientFrozen { .. })));
        let recv = recv_msg(&a, &packet).await.unwrap();
        assert_eq!(code(&b.call(&account(5), &recv).await.unwrap()), Some(2));
        let more = a.update_from(&relay.b_client, 1).unwrap();
        assert_eq!(code(&b.call(&account(5), &more).await.unwrap()), Some(2));

        // The same through submitted evidence, on a second client.
        let second = b.call(&account(5), &a.create_client()).await.unwrap();
        let client = b.created_client(&second).unwrap();
        let honest = a.finality(a.height(), a.height()).unwrap();
        let mut fork = a.header(a.height()).unwrap().clone();
        fork.tx_count += 1;
        let forged = a.certify(vec![fork]).unwrap();
        let evidence = InterchainMsg::SubmitMisbehaviour {
            client: id(&client),
            first: BoundedBytes::try_from_vec(honest.encode()).unwrap(),
            second: BoundedBytes::try_from_vec(forged.encode()).unwrap(),
        };
        assert_eq!(code(&b.call(&account(4), &evidence).await.unwrap()), None);
        let again = update_msg(&client, &honest);
        assert_eq!(code(&b.call(&account(4), &again).await.unwrap()), Some(2));
    });
}

#[test]
fn packets_naming_an_unregistered_counterparty_or_never_sent_are_refused() {
    run(|ctx| async move {
        let (mut a, mut b, relay) = two(&ctx).await;
        let packet = send(&mut a, &relay, 1, 2, TOKEN, 10).await;
        update(&mut b, &relay.b_client, &a).await.unwrap();
        let mut stranger = packet.clone();
        stranger.source_client = id("client-9");
        let msg = InterchainMsg::RecvPacket {
            packet: stranger,
            proof: recv_msg(&a, &packet)
                .await
                .map(|m| match m {
                    InterchainMsg::RecvPacket { proof, .. } => proof,
                    _ => unreachable!(),
                })
                .unwrap(),
            proof_height: Height(a.height()),
        };
        assert_eq!(code(&b.call(&account(5), &msg).await.unwrap()), Some(7));
        // A client with no counterparty sends nothing.
        let lonely = a.call(&account(5), &b.create_client()).await.unwrap();
        let client = a.created_client(&lonely).unwrap();
        let relay2 = Relay {
            a_client: client,
            b_client: relay.b_client.clone(),
        };
        let msg = relay2.transfer(2, TOKEN, 5, 600);
        assert_eq!(code(&a.call(&account(1), &msg).await.unwrap()), Some(7));
        // An acknowledgement of a packet never sent.
        let mut never = packet.clone();
        never.sequence = 42;
        update(&mut b, &relay.b_client, &a).await.unwrap();
        let recv = b
            .call(&account(5), &recv_msg(&a, &packet).await.unwrap())
            .await
            .unwrap();
        let ack = b.written_ack(&recv).unwrap();
        update(&mut a, &relay.a_client, &b).await.unwrap();
        let mut msg = ack_msg(&b, &packet, &ack).await.unwrap();
        if let InterchainMsg::Acknowledge { packet, .. } = &mut msg {
            *packet = never;
        }
        assert_eq!(code(&a.call(&account(5), &msg).await.unwrap()), Some(17));
    });
}

#[test]
fn a_forged_or_stale_commitment_proof_is_refused() {
    run(|ctx| async move {
        let (mut a, mut b, relay) = two(&ctx).await;
        // Stale: the proof is taken before the packet is committed (an absence).
        let next = commitment_path(&relay.a_client, 1);
        let stale = a.prove(&next).await.unwrap();
        let stale_height = Height(a.height());
        update(&mut b, &relay.b_client, &a).await.unwrap();
        let first = send(&mut a, &relay, 1, 2, TOKEN, 10).await;
        let second = send(&mut a, &relay, 1, 2, TOKEN, 20).await;
        update(&mut b, &relay.b_client, &a).await.unwrap();
        let msg = InterchainMsg::RecvPacket {
            packet: first.clone(),
            proof: stale,
            proof_height: stale_height,
        };
        assert_eq!(code(&b.call(&account(5), &msg).await.unwrap()), Some(13));
        // Forged: the second packet's genuine proof for the first, and a packet whose amount
        // was changed after it was committed.
        let InterchainMsg::RecvPacket {
            proof,
            proof_height,
            ..
        } = recv_msg(&a, &second).await.unwrap()
        else {
            unreachable!()
        };
        let swapped = InterchainMsg::RecvPacket {
            packet: first.clone(),
            proof: proof.clone(),
            proof_height,
        };
        assert_eq!(
            code(&b.call(&account(5), &swapped).await.unwrap()),
            Some(13)
        );
        let mut richer = second.clone();
        let mut payloads = richer.payloads.clone().into_inner();
        payloads[0].value = BoundedBytes::try_from_vec(
            String::from_utf8(payloads[0].value.clone().into_inner())
                .unwrap()
                .replace("\"20\"", "\"20000\"")
                .into_bytes(),
        )
        .unwrap();
        richer.payloads = lamina_interop::codec::BoundedVec::try_from_vec(payloads).unwrap();
        assert_ne!(commit_packet(&richer), commit_packet(&second));
        let inflated = InterchainMsg::RecvPacket {
            packet: richer,
            proof,
            proof_height,
        };
        assert_eq!(
            code(&b.call(&account(5), &inflated).await.unwrap()),
            Some(13)
        );
    });
}

#[test]
fn a_voucher_cannot_claim_another_clients_escrow() {
    run(|ctx| async move {
        let (mut a, mut b, one) = two(&ctx).await;
        let two_ = connect(&mut a, &mut b).await.unwrap();
        // A's token to B over the first link.
        let packet = send(&mut a, &one, 1, 2, TOKEN, 1_000).await;
        one.deliver(&mut a, &mut b, &packet).await.unwrap();
        let v = voucher(&b, &format!("transfer/{}/asset-{TOKEN}", one.b_client)).unwrap();
        // B sends that voucher to A over the second link: it is not coming home there.
        let back = two_.reversed();
        let packet = send(&mut b, &back, 2, 3, v, 600).await;
        let (recv, _) = back.deliver(&mut b, &mut a, &packet).await.unwrap();
        assert_eq!(code(&recv), None);
        assert_eq!(
            a.balance(TOKEN, &address(3)),
            FUNDS,
            "the first link's escrow is untouched"
        );
        assert_eq!(escrowed(&a, &one.a_client, TOKEN), 1_000);
        let nested = format!(
            "transfer/{}/transfer/{}/asset-{TOKEN}",
            two_.a_client, one.b_client
        );
        let w = voucher(&a, &nested).unwrap();
        assert_eq!(a.balance(w, &address(3)), 600);

        // A lying B commits a packet on the second link whose denomination claims to come
        // home: nothing was escrowed for that link, so A answers with an error.
        let data = lamina_interop::interchain::TokenData {
            amount: "500".into(),
            denom: format!("transfer/{}/asset-{TOKEN}", two_.b_client),
            memo: String::new(),
            receiver: address(3).to_string(),
            sender: address(2).to_string(),
        };
        let mut forged = packet.clone();
        forged.sequence = 99;
        let mut payloads = forged.payloads.clone().into_inner();
        payloads[0].value = BoundedBytes::try_from_vec(data.encode()).unwrap();
        forged.payloads = lamina_interop::codec::BoundedVec::try_from_vec(payloads).unwrap();
        b.forge(vec![StateChange {
            key: prefixed(LAMINA_PREFIX, &commitment_path(&two_.b_client, 99)),
            value: Some(commit_packet(&forged).0.to_vec()),
        }])
        .await
        .unwrap();
        update(&mut a, &two_.a_client, &b).await.unwrap();
        let recv = a
            .call(&account(5), &recv_msg(&b, &forged).await.unwrap())
            .await
            .unwrap();
        assert_eq!(code(&recv), None);
        assert!(a.written_ack(&recv).unwrap().is_error());
        assert_eq!(a.balance(TOKEN, &address(3)), FUNDS);
        assert_eq!(escrowed(&a, &one.a_client, TOKEN), 1_000);
    });
}

#[test]
fn the_authority_recovers_an_expired_client_and_packets_flow_again() {
    run(|ctx| async move {
        let (mut a, mut b, relay) = two(&ctx).await;
        // An active client is not the authority's to replace.
        let subject = id(&relay.a_client);
        let active = InterchainMsg::RecoverClient {
            subject: subject.clone(),
            substitute: subject.clone(),
        };
        assert_eq!(code(&a.call(&account(0), &active).await.unwrap()), Some(27));
        // Nobody relays for longer than the trusting period.
        a.time_ms += TRUSTING_PERIOD_MS + 1_000;
        b.time_ms = a.time_ms;
        b.block(&[]).await.unwrap();
        let stale = b.update_from(&relay.a_client, b.height()).unwrap();
        assert_eq!(code(&a.call(&account(5), &stale).await.unwrap()), Some(3));
        // Anyone makes a fresh client from a recent checkpoint and updates it once; only
        // the authority swaps it in. Both directions expired, so both chains recover.
        recover(&mut a, &relay.a_client, &mut b, Some(3)).await;
        a.block(&[]).await.unwrap();
        recover(&mut b, &relay.b_client, &mut a, None).await;
        // The old client's id, its counterparty and its packets carry on.
        let packet = send(&mut a, &relay, 1, 2, TOKEN, 10).await;
        let (recv, acked) = relay.deliver(&mut a, &mut b, &packet).await.unwrap();
        assert_eq!(
            (code(&recv), code(&acked)),
            (None, None),
            "{:?}",
            acked.outcome
        );
    });
}

/// Recovers `on`'s client `subject` of `of` from a fresh substitute; `intruder` tries first.
async fn recover(on: &mut Chain, subject: &str, of: &mut Chain, intruder: Option<u64>) {
    of.block(&[]).await.unwrap();
    let h = of.header(of.height()).unwrap().clone();
    let InterchainMsg::CreateClient { set, .. } = of.create_client() else {
        unreachable!()
    };
    let fresh = InterchainMsg::CreateClient {
        chain_id: of.chain_id,
        epoch_blocks: None,
        trusting_period_ms: TRUSTING_PERIOD_MS,
        checkpoint_height: h.height,
        checkpoint_block: h.id(),
        checkpoint_time: h.timestamp,
        set,
    };
    let created = on.call(&account(5), &fresh).await.unwrap();
    let substitute = on.created_client(&created).unwrap();
    of.block(&[]).await.unwrap();
    update(on, &substitute, of).await.unwrap();
    let recover = InterchainMsg::RecoverClient {
        subject: id(subject),
        substitute: id(&substitute),
    };
    if let Some(intruder) = intruder {
        assert_eq!(
            code(&on.call(&account(intruder), &recover).await.unwrap()),
            Some(9)
        );
    }
    let done = on.call(&account(0), &recover).await.unwrap();
    assert_eq!(code(&done), None, "{:?}", done.outcome);
}

#[test]
fn a_rate_limit_bounds_what_leaves_per_window() {
    run(|ctx| async move {
        let (mut a, _b, relay) = two(&ctx).await;
        let limit = InterchainMsg::SetRateLimit {
            asset: TOKEN,
            max_per_window: lamina_interop::module::Amount(1_500),
            window_blocks: 10,
        };
        assert_eq!(code(&a.call(&account(1), &limit).await.unwrap()), Some(9));
        assert_eq!(code(&a.call(&account(0), &limit).await.unwrap()), None);
        send(&mut a, &relay, 1, 2, TOKEN, 1_000).await;
        let over = relay.transfer(2, TOKEN, 600, 600);
        assert_eq!(code(&a.call(&account(1), &over).await.unwrap()), Some(23));
        for _ in 0..10 {
            a.block(&[]).await.unwrap();
        }
        assert_eq!(code(&a.call(&account(1), &over).await.unwrap()), None);
    });
}

/// Random transfers both ways, relayed in random order, some left to time out: what A
/// escrows for B never falls below B's vouchers, equals them once everything is settled, and
/// A's token is neither made nor lost.
#[test]
fn escrow_equals_vouchers_over_random_sequences() {
    for seed in 1..=6u64 {
        run(move |ctx| async move {
            let mut rng = Rng::new(seed);
            let (mut a, mut b, relay) = two(&ctx).await;
            let back = relay.reversed();
            let denom = format!("transfer/{}/asset-{TOKEN}", relay.b_client);
            // Packets in flight: (from A, packet).
            let mut flight: Vec<(bool, Packet)> = Vec::new();
            for _ in 0..30 {
                match rng.below(5) {
                    0 | 1 => {
                        let from = 1 + rng.below(4);
                        let to = 1 + rng.below(4);
                        let amount = 1 + u128::from(rng.below(1_000));
                        let ttl = if rng.below(4) == 0 { 3 } else { 600 };
                        let p = send_with(&mut a, &relay, from, to, TOKEN, amount, ttl).await;
                        flight.push((true, p));
                    }
                    2 => {
                        let Some(v) = voucher(&b, &denom) else {
                            continue;
                        };
                        let from = 1 + rng.below(4);
                        let held = b.balance(v, &address(from));
                        if held == 0 {
                            continue;
                        }
                        let amount = 1 + u128::from(rng.below(held.min(1_000) as u64));
                        let msg = back.transfer(1 + rng.below(4), v, amount, 600);
                        let r = b.call(&account(from), &msg).await.unwrap();
                        assert_eq!(code(&r), None);
                        flight.push((false, b.sent(&[r]).pop().unwrap()));
                    }
                    _ => {
                        if flight.is_empty() {
                            b.block(&[]).await.unwrap();
                            continue;
                        }
                        let i = rng.below(flight.len() as u64) as usize;
                        let (from_a, p) = flight.remove(i);
                        settle(&mut a, &mut b, &relay, from_a, &p).await;
                    }
                }
                check(&a, &b, &relay, &denom, false);
            }
            while let Some((from_a, p)) = flight.pop() {
                settle(&mut a, &mut b, &relay, from_a, &p).await;
                check(&a, &b, &relay, &denom, false);
            }
            check(&a, &b, &relay, &denom, true);
        });
    }
}

/// Delivers and acknowledges `p`, or times it out when its time has passed.
async fn settle(a: &mut Chain, b: &mut Chain, relay: &Relay, from_a: bool, p: &Packet) {
    let (r, src, dst) = if from_a {
        (relay.reversed().reversed(), &mut *a, &mut *b)
    } else {
        (relay.reversed(), &mut *b, &mut *a)
    };
    // The receive would run two blocks from now (after the client's update).
    if (dst.time_ms + BLOCK_MS) / 1000 >= p.timeout {
        while dst.header(dst.height()).unwrap().timestamp.0 / 1000 < p.timeout {
            dst.block(&[]).await.unwrap();
        }
        update(src, &r.a_client, dst).await.unwrap();
        let msg = timeout_msg(dst, p).await.unwrap();
        let done = src.call(&account(5), &msg).await.unwrap();
        assert_eq!(code(&done), None, "timeout: {:?}", done.outcome);
    } else {
        let (recv, acked) = r.deliver(src, dst, p).await.unwrap();
        assert_eq!(code(&recv), None, "recv: {:?}", recv.outcome);
        assert_eq!(code(&acked), None, "ack: {:?}", acked.outcome);
    }
}

fn check(a: &Chain, b: &Chain, relay: &Relay, denom: &str, settled: bool) {
    let escrow = escrowed(a, &relay.a_client, TOKEN);
    let vouchers = voucher(b, denom).map_or(0, |v| b.supply(v));
    assert_eq!(
        a.balance(TOKEN, &escrow_account(&relay.a_client)),
        escrow,
        "the escrow account holds what is counted"
    );
    assert!(escrow >= vouchers, "escrow {escrow} < vouchers {vouchers}");
    if settled {
        assert_eq!(escrow, vouchers);
    }
    let total: u128 = (0..6)
        .map(|i| a.balance(TOKEN, &lamina_simulation::interchain::address(i)))
        .sum::<u128>()
        + escrow;
    assert_eq!(total, 6 * FUNDS, "A's token is neither made nor lost");
}
