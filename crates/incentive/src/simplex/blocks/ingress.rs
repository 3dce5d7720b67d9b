//! How the application side, the finalizer and peers reach the block cache.

use std::sync::Arc;
use std::time::Duration;

use commonware_p2p::{Receiver, Recipients};
use commonware_runtime::Clock;
use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use lamina_interop::block::Block;
use lamina_interop::Hash;

use crate::engine::ChainTip;
use crate::simplex::app::Key;
use crate::simplex::finalizer::Note;
use crate::simplex::wire::Wire;

/// What the block cache is asked.
pub(super) enum Message {
    /// A block built here or received: kept if wanted, and given to whoever waits for it.
    Insert(Arc<Block>),
    /// Block `id` once the cache or the chain has it.
    Subscribe {
        id: Hash,
        reply: oneshot::Sender<Arc<Block>>,
    },
    /// Send block `id` (if held) to `recipients`.
    Send {
        id: Hash,
        recipients: Recipients<Key>,
    },
    /// Ask every peer for block `id`.
    AskPeers(Hash),
    /// The finalized tip moved.
    Delivered(ChainTip),
    /// The finalized tip.
    Tip(oneshot::Sender<ChainTip>),
}

/// A handle to the block cache.
#[derive(Clone)]
pub(crate) struct Mailbox(pub(super) mpsc::Sender<Message>);

impl Mailbox {
    /// Queues `message` without waiting: a full mailbox drops it (the asker retries, a
    /// peer's block comes again or is fetched).
    fn post(&self, message: Message) {
        let _ = self.0.clone().try_send(message);
    }

    /// Keeps `block` (see [`Message::Insert`]), waiting for room in the mailbox.
    pub(crate) async fn insert(&mut self, block: Arc<Block>) {
        use futures::SinkExt as _;
        let _ = self.0.send(Message::Insert(block)).await;
    }

    /// Sends block `id` to `recipients`.
    pub(crate) fn send(&self, id: Hash, recipients: Recipients<Key>) {
        self.post(Message::Send { id, recipients });
    }

    /// Records the finalized tip.
    pub(crate) async fn delivered(&mut self, tip: ChainTip) {
        use futures::SinkExt as _;
        let _ = self.0.send(Message::Delivered(tip)).await;
    }

    /// The finalized tip, as last recorded; `None` once the cache stopped.
    pub(crate) async fn tip(&mut self) -> Option<ChainTip> {
        use futures::SinkExt as _;
        let (reply, answer) = oneshot::channel();
        self.0.send(Message::Tip(reply)).await.ok()?;
        answer.await.ok()
    }

    /// Block `id`: from the cache or the chain at once, else as it arrives; peers are asked
    /// after `wait` and again after each `retry`. `None` once `stopped` says so (checked at
    /// each timeout) or the cache stopped.
    pub(crate) async fn fetch(
        &mut self,
        clock: &impl Clock,
        id: Hash,
        (wait, retry): (Duration, Duration),
        stopped: impl Fn() -> bool,
    ) -> Option<Arc<Block>> {
        use futures::SinkExt as _;
        let (reply, mut arrived) = oneshot::channel();
        self.0.send(Message::Subscribe { id, reply }).await.ok()?;
        let mut wait = wait;
        loop {
            let timer = clock.sleep(wait);
            futures::pin_mut!(timer);
            match future::select(&mut arrived, timer).await {
                Either::Left((Ok(block), _)) => return Some(block),
                Either::Left((Err(_), _)) => return None,
                Either::Right(_) => {}
            }
            if stopped() {
                return None;
            }
            self.0.send(Message::AskPeers(id)).await.ok()?;
            wait = retry;
        }
    }
}

/// Reads the blocks channel until it closes: blocks and requests go to the cache, requests
/// for finalizations and finalizations to the finalizer.
pub(crate) async fn route(
    mut receiver: impl Receiver<PublicKey = Key>,
    mut blocks: Mailbox,
    notes: mpsc::Sender<Note>,
) {
    while let Ok((peer, bytes)) = receiver.recv().await {
        match Wire::decode(bytes.as_ref()) {
            Ok(Wire::Block(block)) => blocks.insert(Arc::new(block)).await,
            Ok(Wire::Request(id)) => blocks.send(id, Recipients::One(peer)),
            Ok(Wire::Tip(epoch)) => {
                let _ = notes.clone().try_send(Note::TipAsked { peer, epoch });
            }
            Ok(Wire::Finalized(certificate)) => {
                let _ = notes
                    .clone()
                    .try_send(Note::Finalized { peer, certificate });
            }
            Ok(Wire::Closed(certificate)) => {
                let _ = notes.clone().try_send(Note::Closed { peer, certificate });
            }
            Err(err) => tracing::debug!(%peer, %err, "undecodable block message"),
        }
    }
}
