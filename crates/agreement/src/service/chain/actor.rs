//! The chain actor's loop and state.

use std::collections::HashMap;
use std::sync::Arc;

use futures::channel::mpsc;
use futures::future::Either;
use futures::StreamExt as _;
use lamina_interop::block::{Block, Header, RawTx, MAX_BLOCK_LEN, MAX_BLOCK_TXS};
use lamina_interop::bus::{Inbox, Request};
use lamina_interop::codec::BoundedVec;
use lamina_interop::messages::{BuildProposal, ProposalError};
use lamina_interop::profile::{span, Stage};
use lamina_interop::{Address, Hash, Height};
use parking_lot::Mutex;

use super::ingress::{Mailbox, Message};
use crate::pool::{BlockLimits, Mempool};
use crate::runtime::Runtime;
use crate::tx::VerifiedTx;

/// Messages queued for the actor before a sender waits.
const MAILBOX: usize = 64;

/// A block built or verified here, not yet executed.
pub(in crate::service) struct Known {
    pub(in crate::service) height: Height,
    pub(in crate::service) parent: Hash,
    pub(in crate::service) txs: Arc<Vec<VerifiedTx>>,
}

/// What the actor knows of the chain.
struct Chain {
    /// Last executed and committed block: height, id, state root.
    height: Height,
    block: Hash,
    root: Hash,
    /// State roots of recent heights, for checking proposals' headers.
    roots: HashMap<Height, Hash>,
    known: HashMap<Hash, Known>,
    /// Most blocks remembered, and most heights of roots.
    limit: usize,
}

impl Chain {
    /// Each sender's next nonce after the not-yet-executed ancestors of `parent`, and
    /// whether `parent` is a block this node can build on at `height`.
    fn pending(
        &self,
        parent: &Hash,
        height: Height,
    ) -> Result<HashMap<Address, u64>, ProposalError> {
        let mut pending = HashMap::new();
        let mut cursor = *parent;
        let mut expected = Height(height.0.saturating_sub(1));
        loop {
            if cursor == self.block && expected == self.height {
                return Ok(pending);
            }
            let Some(known) = self.known.get(&cursor).filter(|k| k.height == expected) else {
                return Err(ProposalError::UnknownParent { parent: *parent });
            };
            for tx in known.txs.iter() {
                let next = pending.entry(tx.sender).or_insert(0);
                *next = (*next).max(tx.tx.body.nonce + 1);
            }
            cursor = known.parent;
            expected = Height(expected.0.saturating_sub(1));
        }
    }

    fn remember(&mut self, id: Hash, known: Known) {
        self.known.insert(id, known);
        while self.known.len() > self.limit {
            let Some(oldest) = self
                .known
                .iter()
                .min_by_key(|(_, k)| k.height)
                .map(|(id, _)| *id)
            else {
                break;
            };
            self.known.remove(&oldest);
        }
    }

    fn check_header(&self, header: &Header) -> Result<(), ProposalError> {
        self.pending(&header.parent, header.height)?;
        match self.roots.get(&header.state_height) {
            Some(root) if *root == header.state_root => Ok(()),
            Some(root) => Err(ProposalError::StateRootMismatch {
                height: header.state_height,
                expected: *root,
                got: header.state_root,
            }),
            None => Err(ProposalError::Unavailable {
                detail: format!("no state root known at height {}", header.state_height),
            }),
        }
    }

    fn committed(&mut self, height: Height, id: Hash, root: Hash) {
        self.height = height;
        self.block = id;
        self.root = root;
        self.roots.insert(height, root);
        let keep_from = Height(height.0.saturating_sub(self.limit as u64));
        self.roots.retain(|h, _| *h >= keep_from);
        self.known.retain(|_, k| k.height > height);
    }
}

/// The chain actor; see the module docs.
pub(in crate::service) struct ChainActor {
    runtime: Arc<Runtime>,
    pool: Arc<Mutex<Mempool>>,
    chain: Chain,
    build: Inbox<BuildProposal>,
    mailbox: mpsc::Receiver<Message>,
}

impl ChainActor {
    /// The actor over `executed`, the last block the store holds (height, id, state root),
    /// remembering at most `limit` blocks, and its mailbox.
    pub(in crate::service) fn new(
        runtime: Arc<Runtime>,
        pool: Arc<Mutex<Mempool>>,
        build: Inbox<BuildProposal>,
        executed: (Height, Hash, Hash),
        limit: usize,
    ) -> (ChainActor, Mailbox) {
        let (height, block, root) = executed;
        let (sender, mailbox) = mpsc::channel(MAILBOX);
        let actor = ChainActor {
            runtime,
            pool,
            chain: Chain {
                height,
                block,
                root,
                roots: HashMap::from([(height, root)]),
                known: HashMap::new(),
                limit,
            },
            build,
            mailbox,
        };
        (actor, Mailbox(sender))
    }

    /// Serves until the bus closes and every mailbox is dropped.
    pub(in crate::service) async fn run(mut self) {
        let mut building = true;
        loop {
            let next = if building {
                let request = self.build.recv();
                let message = self.mailbox.next();
                futures::pin_mut!(request);
                // Both are cancel safe: the one that loses keeps its item queued.
                match futures::future::select(message, request).await {
                    Either::Left((message, _)) => Either::Left(message),
                    Either::Right((request, _)) => Either::Right(request),
                }
            } else {
                Either::Left(self.mailbox.next().await)
            };
            match next {
                Either::Right(Some(Request {
                    command, responder, ..
                })) => {
                    let _ = responder.send(span(Stage::Build, || self.build_block(command)));
                }
                Either::Right(None) => building = false,
                Either::Left(Some(message)) => self.handle(message),
                Either::Left(None) => return,
            }
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::CheckHeader { header, reply } => {
                let _ = reply.send(self.chain.check_header(&header));
            }
            Message::Remember { id, known } => self.chain.remember(id, known),
            Message::Take { id, reply } => {
                let _ = reply.send(self.chain.known.get(&id).map(|k| k.txs.clone()));
            }
            Message::Committed { height, id, root } => self.chain.committed(height, id, root),
        }
    }

    fn build_block(&mut self, command: BuildProposal) -> Result<Arc<Block>, ProposalError> {
        let chain = &mut self.chain;
        let pending = chain.pending(&command.parent, command.height)?;
        let limits = BlockLimits {
            max_gas: command.max_gas,
            // Room for the header and the length prefixes of the body.
            max_bytes: command.max_bytes.min(MAX_BLOCK_LEN).saturating_sub(1024),
            max_txs: MAX_BLOCK_TXS,
        };
        let selected = self.pool.lock().select_after(limits, &pending);
        let txs: Vec<VerifiedTx> = selected.iter().map(|tx| (**tx).clone()).collect();
        // The bytes admission received, as they arrived.
        let raw: Vec<RawTx> = txs.iter().map(|tx| tx.raw.clone()).collect();
        let body = BoundedVec::try_from_vec(raw).map_err(|_| ProposalError::OverLimit)?;
        let header = Header {
            chain_id: self.runtime.config().chain_id,
            height: command.height,
            parent: command.parent,
            timestamp: command.timestamp,
            proposer: command.proposer,
            // The ids admission computed are the hashes of these encodings.
            tx_root: lamina_interop::block::merkle_root(
                &txs.iter().map(|tx| tx.id).collect::<Vec<_>>(),
            ),
            tx_count: body.len() as u32,
            state_height: chain.height,
            state_root: chain.root,
        };
        let block = Arc::new(Block { header, txs: body });
        let known = Known {
            height: command.height,
            parent: command.parent,
            txs: Arc::new(txs),
        };
        chain.remember(block.id(), known);
        Ok(block)
    }
}
