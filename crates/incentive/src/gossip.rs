//! Transaction gossip: a transaction a client submits to any validator reaches every
//! validator's mempool, so whichever proposes next can include it.
//!
//! ```text
//! client --SubmitTxs(client)--> agreement ==TxsAdmitted==> TxGossip --[TXS channel]--> peers
//! peer   --[TXS channel]------> TxGossip --SubmitTxs(peer)--> agreement   (not relayed again)
//! ```
//!
//! Validators are fully connected, so one hop reaches them all and a peer's transactions are
//! never forwarded: no loops, no duplicate floods. A message is a canonical
//! `BoundedVec<RawTx, MAX_GOSSIP_TXS>`, decoded under the channel's size limit; the network
//! enforces a per-peer rate on the channel. A message that does not decode gets its sender
//! blocked; transactions that fail admission are only dropped (an honest peer may relay one
//! that became stale on the way).

use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use futures::FutureExt as _;
use lamina_interop::block::RawTx;
use lamina_interop::bus::{Bus, Requester, Subscription, WiringError};
use lamina_interop::codec::{self, BoundedVec};
use lamina_interop::messages::{SubmitTxs, TxsAdmitted};

/// Channel of relayed transactions.
pub const TXS: u64 = 4;

/// Transaction batches per second each peer may send, in nodes and in the simulation alike.
pub const GOSSIP_RATE: std::num::NonZeroU32 = std::num::NonZeroU32::new(500).unwrap();

/// Most transactions in one gossip message.
pub const MAX_GOSSIP_TXS: usize = 1024;

type Batch = BoundedVec<RawTx, MAX_GOSSIP_TXS>;

/// Relays clients' transactions to peers and peers' transactions to the mempool.
pub struct TxGossip<S, R, B> {
    admitted: Subscription<TxsAdmitted>,
    submit: Requester<SubmitTxs>,
    sender: S,
    receiver: R,
    blocker: B,
    max_message: usize,
}

impl<S, R, B> TxGossip<S, R, B>
where
    S: Sender,
    R: Receiver<PublicKey = S::PublicKey>,
    B: Blocker<PublicKey = S::PublicKey>,
{
    /// Gossip on the channel (`sender`, `receiver`), whose messages are at most
    /// `max_message` bytes; peers that send garbage go to `blocker`.
    pub fn new(
        bus: &Bus,
        (sender, receiver): (S, R),
        blocker: B,
        max_message: usize,
    ) -> Result<Self, WiringError> {
        Ok(TxGossip {
            admitted: bus.subscribe::<TxsAdmitted>(),
            submit: bus.requester::<SubmitTxs>(),
            sender,
            receiver,
            blocker,
            max_message,
        })
    }

    /// Relays until the bus or the network closes.
    pub async fn run(mut self) {
        loop {
            futures::select_biased! {
                event = self.admitted.recv().fuse() => match event {
                    Ok(event) => self.relay(&event),
                    // Missed batches stay in this node's pool and are proposed by it.
                    Err(lamina_interop::bus::RecvError::Lagged { .. }) => {}
                    Err(_) => return,
                },
                message = self.receiver.recv().fuse() => match message {
                    Ok((peer, bytes)) => {
                        match codec::decode_limited::<Batch>(bytes.as_ref(), "gossiped transactions", self.max_message) {
                            Ok(batch) => {
                                if self.submit.request(SubmitTxs::from_peer(batch.into_inner())).await.is_err() {
                                    return;
                                }
                            }
                            Err(err) => {
                                tracing::debug!(%peer, %err, "undecodable transactions; blocking the peer");
                                let _ = self.blocker.block(peer);
                            }
                        }
                    }
                    Err(_) => return,
                },
            }
        }
    }

    /// Sends the accepted transactions of `event` to every peer, in messages that fit.
    fn relay(&mut self, event: &TxsAdmitted) {
        let mut batch = Vec::new();
        let mut bytes = 16;
        for tx in event.txs() {
            let size = tx.len() + 8;
            if !batch.is_empty()
                && (batch.len() == MAX_GOSSIP_TXS || bytes + size > self.max_message)
            {
                self.send(std::mem::take(&mut batch));
                bytes = 16;
            }
            batch.push(tx.clone());
            bytes += size;
        }
        if !batch.is_empty() {
            self.send(batch);
        }
    }

    fn send(&mut self, txs: Vec<RawTx>) {
        let Ok(batch) = Batch::try_from_vec(txs) else {
            return;
        };
        // Best effort: a peer whose send queue is full misses this batch, which stays in
        // this node's pool.
        let _ = self
            .sender
            .send(Recipients::All, codec::encode(&batch), false);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use commonware_codec::DecodeExt as _;
    use commonware_cryptography::ed25519;
    use commonware_p2p::simulated::{self, Link};
    use commonware_runtime::{
        deterministic, Clock as _, Quota, Runner as _, Spawner as _, Supervisor as _,
    };
    use commonware_utils::{NZUsize, NZU32};
    use lamina_interop::bus::BusConfig;
    use lamina_interop::crypto::SecretKey;
    use lamina_interop::messages::{Admission, TxOrigin};
    use lamina_interop::Hash;

    use super::*;

    fn peer(seed: u8) -> ed25519::PublicKey {
        let key = SecretKey::from_seed([seed; 32]).public_key();
        ed25519::PublicKey::decode(key.0.to_vec()).unwrap()
    }

    fn tx(n: u8) -> RawTx {
        RawTx::try_from_vec(vec![n; 100]).unwrap()
    }

    /// Two validators: what a client submits to the first reaches the second's mempool as
    /// a peer's, once; what the second receives is not relayed back; garbage is refused.
    #[test]
    fn clients_transactions_reach_peers_once() {
        deterministic::Runner::seeded(7).start(|ctx| async move {
            let (a, b) = (peer(1), peer(2));
            let (network, oracle) = simulated::Network::new_with_peers(
                ctx.child("network"),
                simulated::Config {
                    max_size: 1 << 20,
                    max_peers_per_set: NZUsize!(3),
                    disconnect_on_block: true,
                    tracked_peer_sets: NZUsize!(1),
                },
                vec![a.clone(), b.clone(), peer(3)],
            )
            .await;
            network.start();
            let link = Link {
                latency: Duration::from_millis(10),
                jitter: Duration::ZERO,
                success_rate: commonware_utils::Probability::from_f64(1.0).unwrap(),
            };
            oracle
                .add_link(a.clone(), b.clone(), link.clone())
                .await
                .unwrap();
            oracle
                .add_link(b.clone(), a.clone(), link.clone())
                .await
                .unwrap();
            let quota = Quota::per_second(NZU32!(1_000));
            let mut channels = Vec::new();
            let mut buses = Vec::new();
            for key in [&a, &b] {
                let control = oracle.control(key.clone());
                let channel = control.register(TXS, quota).await.unwrap();
                let bus = Bus::new(BusConfig::default()).unwrap();
                let gossip = TxGossip::new(&bus, channel, control, 1 << 20).unwrap();
                channels.push(gossip);
                buses.push(bus);
            }
            // Each node's mempool is the test: it records what reaches it and accepts all.
            let mut inboxes = Vec::new();
            for bus in &buses {
                inboxes.push(bus.handle::<SubmitTxs>().unwrap());
            }
            for gossip in channels {
                ctx.child("gossip").spawn(|_| gossip.run());
            }
            let announce = buses[0].publisher::<TxsAdmitted>();
            announce
                .publish(TxsAdmitted {
                    submitted: std::sync::Arc::new(vec![tx(1), tx(2), tx(3)]),
                    accepted: std::sync::Arc::new(vec![true, false, true]),
                })
                .await
                .unwrap();
            let request = inboxes[1].recv().await.unwrap();
            assert_eq!(request.command.origin, TxOrigin::Peer);
            assert_eq!(
                request.command.txs,
                vec![tx(1), tx(3)],
                "only the accepted ones"
            );
            let verdicts = request
                .command
                .txs
                .iter()
                .map(|t| Admission::Accepted {
                    id: Hash::of(t.as_ref()),
                })
                .collect();
            let _ = request.responder.send(verdicts);
            ctx.sleep(Duration::from_secs(1)).await;
            assert!(
                inboxes[0].try_recv().is_none(),
                "a peer's transactions are not relayed back"
            );

            // Bytes that are no batch, from a third peer: blocked, nothing reaches the pool.
            let c = peer(3);
            for (x, y) in [(&c, &a), (&a, &c)] {
                oracle
                    .add_link(x.clone(), y.clone(), link.clone())
                    .await
                    .unwrap();
            }
            let (mut raw, _) = oracle
                .control(c.clone())
                .register(TXS, quota)
                .await
                .unwrap();
            let _ = raw.send(Recipients::One(a.clone()), vec![0xff; 10], false);
            ctx.sleep(Duration::from_secs(1)).await;
            assert!(inboxes[0].try_recv().is_none());
            assert_eq!(
                oracle.blocked().await.unwrap(),
                vec![(a.clone(), c.clone())]
            );
        });
    }
}
