//! The block cache's actor: its loop and state.

use std::collections::HashMap;
use std::sync::Arc;

use commonware_p2p::{Recipients, Sender};
use futures::channel::{mpsc, oneshot};
use futures::StreamExt as _;
use lamina_interop::block::Block;
use lamina_interop::chain::ChainReader;
use lamina_interop::Hash;

use super::ingress::{Mailbox, Message};
use crate::engine::ChainTip;
use crate::simplex::app::Key;
use crate::simplex::wire::Wire;

/// Messages queued for the actor before a sender waits.
const MAILBOX: usize = 1024;

/// The block cache's actor; see the module docs.
pub(crate) struct BlocksActor<S> {
    /// Blocks kept.
    capacity: usize,
    /// Largest message the blocks channel carries.
    max_message: usize,
    chain: Arc<dyn ChainReader>,
    sender: S,
    blocks: HashMap<Hash, Arc<Block>>,
    waiters: HashMap<Hash, Vec<oneshot::Sender<Arc<Block>>>>,
    /// The last block published as finalized.
    delivered: ChainTip,
    mailbox: mpsc::Receiver<Message>,
}

impl<S: Sender<PublicKey = Key>> BlocksActor<S> {
    /// A cache of `capacity` blocks above `delivered`, the finalized tip, serving the
    /// finalized chain from `chain` and sending on the blocks channel through `sender`
    /// (messages up to `max_message` bytes); and its mailbox.
    pub(crate) fn new(
        capacity: usize,
        max_message: usize,
        chain: Arc<dyn ChainReader>,
        sender: S,
        delivered: ChainTip,
    ) -> (BlocksActor<S>, Mailbox) {
        let (send, mailbox) = mpsc::channel(MAILBOX);
        let actor = BlocksActor {
            capacity: capacity.max(1),
            max_message,
            chain,
            sender,
            blocks: HashMap::new(),
            waiters: HashMap::new(),
            delivered,
            mailbox,
        };
        (actor, Mailbox(send))
    }

    /// Serves until every mailbox is dropped.
    pub(crate) async fn run(mut self) {
        while let Some(message) = self.mailbox.next().await {
            match message {
                Message::Insert(block) => self.insert(block),
                Message::Subscribe { id, reply } => match self.lookup(&id) {
                    Some(block) => {
                        let _ = reply.send(block);
                    }
                    None => {
                        let waiters = self.waiters.entry(id).or_default();
                        waiters.retain(|w| !w.is_canceled());
                        waiters.push(reply);
                    }
                },
                Message::Send { id, recipients } => {
                    if let Some(block) = self.lookup(&id) {
                        self.send_block(recipients, &block);
                    }
                }
                Message::AskPeers(id) => {
                    tracing::debug!(block = %id, "asking peers for a block");
                    let _ = self
                        .sender
                        .send(Recipients::All, Wire::Request(id).encode(), false);
                }
                Message::Delivered(tip) => self.delivered = tip,
                Message::Tip(reply) => {
                    let _ = reply.send(self.delivered);
                }
            }
        }
    }

    /// Keeps `block` if someone waits for it, or if it is above the finalized tip by at most
    /// half the cache; the lowest blocks leave first when the cache is full.
    fn insert(&mut self, block: Arc<Block>) {
        let id = block.id();
        let waited = self.waiters.remove(&id);
        // Unasked-for blocks only near the tip, so a peer cannot fill the cache with blocks
        // far ahead.
        let ahead = block
            .header
            .height
            .0
            .saturating_sub(self.delivered.height.0);
        let wanted = waited.is_some() || (1..=self.capacity as u64 / 2).contains(&ahead);
        if let Some(waiters) = waited {
            for waiter in waiters {
                let _ = waiter.send(block.clone());
            }
        }
        if !wanted || self.blocks.contains_key(&id) {
            return;
        }
        while self.blocks.len() >= self.capacity {
            let Some(lowest) = self
                .blocks
                .iter()
                .min_by_key(|(_, b)| b.header.height)
                .map(|(id, _)| *id)
            else {
                break;
            };
            self.blocks.remove(&lowest);
        }
        self.blocks.insert(id, block);
    }

    /// The block with id `id` from the cache or the finalized chain.
    fn lookup(&self, id: &Hash) -> Option<Arc<Block>> {
        if let Some(block) = self.blocks.get(id) {
            return Some(block.clone());
        }
        let height = self.chain.height_of(id).ok()??;
        let block = self.chain.block(height).ok()??;
        (block.id() == *id).then(|| Arc::new(block))
    }

    /// Sends `block` on the blocks channel. The network refuses (by panicking) a message
    /// over the channel's limit, so a block too large to send is logged and kept here; the
    /// builder's size limit is meant to make that impossible.
    fn send_block(&mut self, recipients: Recipients<Key>, block: &Block) {
        let bytes = Wire::Block(block.clone()).encode();
        if bytes.len() > self.max_message {
            tracing::error!(
                height = %block.header.height,
                size = bytes.len(),
                limit = self.max_message,
                "block too large for the blocks channel; not sent"
            );
            return;
        }
        let _ = self.sender.send(recipients, bytes, false);
    }
}
