//! How the verification and execution loops reach the chain actor.

use std::sync::Arc;

use futures::channel::{mpsc, oneshot};
use futures::SinkExt as _;
use lamina_interop::block::Header;
use lamina_interop::messages::ProposalError;
use lamina_interop::{Hash, Height};

use super::actor::Known;
use crate::tx::VerifiedTx;

/// What the chain actor is asked.
pub(super) enum Message {
    /// Whether a proposed block's header fits: its parent known at the height below, its
    /// state root the one recorded at its state height.
    CheckHeader {
        header: Header,
        reply: oneshot::Sender<Result<(), ProposalError>>,
    },
    /// A block verified here, remembered until executed.
    Remember { id: Hash, known: Known },
    /// The verified transactions of block `id`, if this node built or verified it.
    Take {
        id: Hash,
        reply: oneshot::Sender<Option<Arc<Vec<VerifiedTx>>>>,
    },
    /// Block `id` at `height` is durable, with state root `root`.
    Committed {
        height: Height,
        id: Hash,
        root: Hash,
    },
}

/// A handle to the chain actor; cloned by each loop that asks it.
#[derive(Clone)]
pub(in crate::service) struct Mailbox(pub(super) mpsc::Sender<Message>);

impl Mailbox {
    /// See [`Message::CheckHeader`]; `Unavailable` once the actor stopped.
    pub(in crate::service) async fn check_header(
        &mut self,
        header: Header,
    ) -> Result<(), ProposalError> {
        let stopped = || ProposalError::Unavailable {
            detail: "the chain actor stopped".into(),
        };
        let (reply, answer) = oneshot::channel();
        self.0
            .send(Message::CheckHeader { header, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// See [`Message::Remember`]; nothing once the actor stopped.
    pub(in crate::service) async fn remember(&mut self, id: Hash, known: Known) {
        let _ = self.0.send(Message::Remember { id, known }).await;
    }

    /// See [`Message::Take`]; `None` once the actor stopped (the caller verifies the block
    /// itself).
    pub(in crate::service) async fn take(&mut self, id: Hash) -> Option<Arc<Vec<VerifiedTx>>> {
        let (reply, answer) = oneshot::channel();
        self.0.send(Message::Take { id, reply }).await.ok()?;
        answer.await.ok().flatten()
    }

    /// See [`Message::Committed`]; nothing once the actor stopped (no one builds then).
    pub(in crate::service) async fn committed(&mut self, height: Height, id: Hash, root: Hash) {
        let _ = self.0.send(Message::Committed { height, id, root }).await;
    }
}
