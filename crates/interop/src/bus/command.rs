//! Commands: one handler, a typed reply.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use async_channel::{Receiver, Sender, TrySendError};
use futures::channel::oneshot;

use super::metrics::MessageMetrics;
use super::{Command, ErasedSlot, Kind, Shared, WiringError};

/// The registry's record of one command type.
pub(crate) struct CommandSlot<C: Command> {
    /// Set once, when the handler registers.
    sender: OnceLock<Sender<Request<C>>>,
    /// Whether anybody asked for a requester, so that a missing handler is reported.
    requested: AtomicBool,
    metrics: Arc<MessageMetrics>,
}

impl<C: Command> CommandSlot<C> {
    pub(crate) fn new() -> CommandSlot<C> {
        CommandSlot {
            sender: OnceLock::new(),
            requested: AtomicBool::new(false),
            metrics: MessageMetrics::new(C::NAME, Kind::Command),
        }
    }

    pub(crate) fn bind(
        &self,
        capacity: usize,
        shared: Arc<Shared>,
    ) -> Result<Inbox<C>, WiringError> {
        let (sender, receiver) = async_channel::bounded(capacity);
        self.sender
            .set(sender)
            .map_err(|_| WiringError::DuplicateHandler { command: C::NAME })?;
        Ok(Inbox { receiver, shared })
    }
}

impl<C: Command> ErasedSlot for CommandSlot<C> {
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn close(&self) {
        if let Some(sender) = self.sender.get() {
            sender.close();
        }
    }

    fn missing_handler(&self) -> Option<&'static str> {
        let requested = self.requested.load(Ordering::Relaxed);
        (requested && self.sender.get().is_none()).then_some(C::NAME)
    }

    fn metrics(&self) -> &MessageMetrics {
        &self.metrics
    }
}

/// Why a command was not answered. Where the command was not delivered, it is handed back.
pub enum RequestError<C> {
    /// No handler is registered for the command.
    NoHandler(C),
    /// The mailbox is full (only from [`Requester::try_send`]).
    Full(C),
    /// The bus was closed, or the handler's mailbox is gone.
    Closed(C),
    /// The handler received the command but dropped it without replying.
    HandlerDropped,
}

impl<C: Command> RequestError<C> {
    /// The command, when it was not delivered.
    pub fn into_command(self) -> Option<C> {
        match self {
            RequestError::NoHandler(c) | RequestError::Full(c) | RequestError::Closed(c) => Some(c),
            RequestError::HandlerDropped => None,
        }
    }

    /// The same error without the command.
    pub fn without_command(&self) -> super::BusError {
        let message = C::NAME;
        match self {
            RequestError::NoHandler(_) => super::BusError::NoHandler { message },
            RequestError::Full(_) => super::BusError::Full { message },
            RequestError::Closed(_) => super::BusError::Closed { message },
            RequestError::HandlerDropped => super::BusError::HandlerDropped { message },
        }
    }
}

impl<C: Command> fmt::Debug for RequestError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.without_command(), f)
    }
}

impl<C: Command> fmt::Display for RequestError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.without_command(), f)
    }
}

impl<C: Command> std::error::Error for RequestError<C> {}

impl<C: Command> From<RequestError<C>> for super::BusError {
    fn from(err: RequestError<C>) -> super::BusError {
        err.without_command()
    }
}

/// Sends command `C` to its handler. Cheap to clone.
pub struct Requester<C: Command> {
    slot: Arc<CommandSlot<C>>,
    shared: Arc<Shared>,
}

impl<C: Command> Clone for Requester<C> {
    fn clone(&self) -> Self {
        Requester {
            slot: self.slot.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<C: Command> Requester<C> {
    pub(crate) fn new(slot: Arc<CommandSlot<C>>, shared: Arc<Shared>) -> Requester<C> {
        slot.requested.store(true, Ordering::Relaxed);
        Requester { slot, shared }
    }

    /// Sends `command` and waits for the reply, waiting for mailbox room first.
    ///
    /// Cancel safety: if dropped before the command is queued, the command is dropped with
    /// it; if dropped after, the handler still runs the command and its reply is discarded.
    pub async fn request(&self, command: C) -> Result<C::Reply, RequestError<C>> {
        self.send(command).await?.await
    }

    /// Queues `command`, waiting while the mailbox is full (backpressure), and returns a
    /// future of the reply.
    ///
    /// Cancel safety: as for [`Requester::request`].
    pub async fn send(&self, command: C) -> Result<Pending<C>, RequestError<C>> {
        let Some(sender) = self.sender() else {
            return Err(RequestError::NoHandler(command));
        };
        let items = command.items();
        let (request, pending) = self.prepare(command);
        match sender.send(request).await {
            Ok(()) => Ok(self.sent(items, pending)),
            Err(async_channel::SendError(request)) => Err(self.closed(request)),
        }
    }

    /// Queues `command` if the mailbox has room, and returns a future of the reply; hands the
    /// command back in [`RequestError::Full`] otherwise. Never waits.
    pub fn try_send(&self, command: C) -> Result<Pending<C>, RequestError<C>> {
        let Some(sender) = self.sender() else {
            return Err(RequestError::NoHandler(command));
        };
        let items = command.items();
        let (request, pending) = self.prepare(command);
        match sender.try_send(request) {
            Ok(()) => Ok(self.sent(items, pending)),
            Err(TrySendError::Full(request)) => {
                MessageMetrics::bump(&self.slot.metrics.full, 1);
                Err(RequestError::Full(request.into_command_quietly()))
            }
            Err(TrySendError::Closed(request)) => Err(self.closed(request)),
        }
    }

    fn sender(&self) -> Option<&Sender<Request<C>>> {
        let sender = self.slot.sender.get();
        if sender.is_none() {
            MessageMetrics::bump(&self.slot.metrics.no_handler, 1);
        }
        sender
    }

    fn prepare(&self, command: C) -> (Request<C>, Pending<C>) {
        let (tx, rx) = oneshot::channel();
        let sent_at_ns = self.shared.clock.now_ns();
        let request = Request {
            command,
            responder: Responder {
                tx: Some(tx),
                metrics: self.slot.metrics.clone(),
                shared: self.shared.clone(),
            },
            sent_at_ns,
        };
        let pending = Pending {
            rx,
            sent_at_ns,
            metrics: self.slot.metrics.clone(),
            shared: self.shared.clone(),
        };
        (request, pending)
    }

    fn sent(&self, items: usize, pending: Pending<C>) -> Pending<C> {
        MessageMetrics::bump(&self.slot.metrics.sent, 1);
        MessageMetrics::bump(&self.slot.metrics.items, items as u64);
        pending
    }

    fn closed(&self, request: Request<C>) -> RequestError<C> {
        MessageMetrics::bump(&self.slot.metrics.closed, 1);
        RequestError::Closed(request.into_command_quietly())
    }
}

/// The reply to a queued command. Resolves to [`RequestError::HandlerDropped`] when the
/// handler drops the request without replying, including when the bus closes with the
/// command still queued.
pub struct Pending<C: Command> {
    rx: oneshot::Receiver<C::Reply>,
    sent_at_ns: u64,
    metrics: Arc<MessageMetrics>,
    shared: Arc<Shared>,
}

impl<C: Command> Future for Pending<C> {
    type Output = Result<C::Reply, RequestError<C>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(reply)) => {
                let elapsed = this.shared.clock.now_ns().saturating_sub(this.sent_at_ns);
                this.metrics.latency.record(elapsed);
                Poll::Ready(Ok(reply))
            }
            Poll::Ready(Err(oneshot::Canceled)) => Poll::Ready(Err(RequestError::HandlerDropped)),
        }
    }
}

/// A command as the handler receives it, with the means to reply.
pub struct Request<C: Command> {
    /// The command.
    pub command: C,
    /// Where the reply goes.
    pub responder: Responder<C>,
    sent_at_ns: u64,
}

impl<C: Command> Request<C> {
    /// Takes the command out without counting the request as unanswered: it was never
    /// delivered, and the error that hands it back says so.
    fn into_command_quietly(self) -> C {
        let Request {
            command,
            mut responder,
            ..
        } = self;
        responder.tx = None;
        command
    }
}

/// Sends the reply to one command. Dropping it without replying fails the request with
/// [`RequestError::HandlerDropped`] and counts it as unanswered.
pub struct Responder<C: Command> {
    tx: Option<oneshot::Sender<C::Reply>>,
    metrics: Arc<MessageMetrics>,
    shared: Arc<Shared>,
}

impl<C: Command> Responder<C> {
    /// Sends the reply. Hands it back when the requester stopped waiting.
    pub fn send(mut self, reply: C::Reply) -> Result<(), C::Reply> {
        let Some(tx) = self.tx.take() else {
            return Err(reply);
        };
        self.shared
            .tap(Kind::Reply, C::NAME, 1, self.shared.clock.now_ns(), &reply);
        MessageMetrics::bump(&self.metrics.delivered, 1);
        tx.send(reply)
    }
}

impl<C: Command> Drop for Responder<C> {
    fn drop(&mut self) {
        if self.tx.is_some() {
            MessageMetrics::bump(&self.metrics.unanswered, 1);
        }
    }
}

/// The handler's mailbox for command `C`. Clones share the mailbox, so several tasks can
/// serve one command type as a pool.
pub struct Inbox<C: Command> {
    receiver: Receiver<Request<C>>,
    shared: Arc<Shared>,
}

impl<C: Command> Clone for Inbox<C> {
    fn clone(&self) -> Self {
        Inbox {
            receiver: self.receiver.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<C: Command> Inbox<C> {
    /// The next command, or `None` once the bus is closed and the mailbox drained.
    ///
    /// Cancel safety: safe; a command is removed from the mailbox only when this returns it.
    pub async fn recv(&self) -> Option<Request<C>> {
        let request = self.receiver.recv().await.ok()?;
        Some(self.delivered(request))
    }

    /// The next command if one is queued.
    pub fn try_recv(&self) -> Option<Request<C>> {
        let request = self.receiver.try_recv().ok()?;
        Some(self.delivered(request))
    }

    /// Shows the command to the tap as it crosses into the handler.
    fn delivered(&self, request: Request<C>) -> Request<C> {
        let items = request.command.items();
        self.shared.tap(
            Kind::Command,
            C::NAME,
            items,
            request.sent_at_ns,
            &request.command,
        );
        request
    }

    /// Commands waiting in the mailbox.
    pub fn len(&self) -> usize {
        self.receiver.len()
    }

    /// Whether the mailbox is empty.
    pub fn is_empty(&self) -> bool {
        self.receiver.is_empty()
    }

    pub(crate) fn close_mailbox(&self) {
        self.receiver.close();
    }
}

impl<C: Command> Drop for Inbox<C> {
    /// When the last handle of the mailbox goes, the commands still queued can never be
    /// answered: close the mailbox and drop them, so that each requester learns
    /// [`RequestError::HandlerDropped`] instead of waiting forever.
    fn drop(&mut self) {
        if self.receiver.receiver_count() == 1 {
            self.receiver.close();
            while let Ok(request) = self.receiver.try_recv() {
                drop(request);
            }
        }
    }
}
