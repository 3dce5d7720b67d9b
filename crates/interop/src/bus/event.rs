//! Events: fan-out to every subscriber, with lag reported rather than hidden.
//!
//! Each published event gets the next sequence number of its type. A subscriber expects
//! sequence numbers one after another; a gap means its queue was full when events were
//! published, and its next receive reports the size of the gap as [`RecvError::Lagged`]
//! before handing over the event after the gap. Publication of one event type is serialized,
//! so every subscriber sees the same order.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use async_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use super::metrics::MessageMetrics;
use super::{ErasedSlot, Event, Kind, Shared};

/// What a subscriber's queue does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// The subscriber misses the event and is told how many it missed.
    Lag,
    /// The publisher waits until the subscriber has room.
    Backpressure,
}

struct Stamped<E> {
    seq: u64,
    sent_at_ns: u64,
    event: E,
}

struct Subscriber<E> {
    sender: Sender<Stamped<E>>,
    overflow: Overflow,
}

struct State<E> {
    next_seq: u64,
    subscribers: Vec<Subscriber<E>>,
}

/// The registry's record of one event type.
pub(crate) struct EventSlot<E: Event> {
    state: Mutex<State<E>>,
    /// Held for a whole publication, so that concurrent publishers cannot interleave their
    /// events differently at different subscribers.
    publishing: async_lock::Mutex<()>,
    /// Sequence number after the last completed publication.
    published: AtomicU64,
    closed: AtomicBool,
    metrics: Arc<MessageMetrics>,
}

impl<E: Event> EventSlot<E> {
    pub(crate) fn new(closed: bool) -> EventSlot<E> {
        EventSlot {
            state: Mutex::new(State {
                next_seq: 0,
                subscribers: Vec::new(),
            }),
            publishing: async_lock::Mutex::new(()),
            published: AtomicU64::new(0),
            closed: AtomicBool::new(closed),
            metrics: MessageMetrics::new(E::NAME, Kind::Event),
        }
    }

    pub(crate) fn subscribe(
        self: Arc<Self>,
        capacity: usize,
        overflow: Overflow,
        shared: Arc<Shared>,
    ) -> Subscription<E> {
        let (sender, receiver) = async_channel::bounded(capacity);
        let mut state = self.state.lock();
        // Checked under the lock that `close` takes, so a subscription is either closed here
        // or closed by `close`.
        if self.closed.load(Ordering::SeqCst) {
            sender.close();
        } else {
            state.subscribers.push(Subscriber { sender, overflow });
        }
        let next_seq = state.next_seq;
        drop(state);
        Subscription {
            receiver,
            next_seq,
            held: None,
            slot: self,
            shared,
        }
    }
}

impl<E: Event> ErasedSlot for EventSlot<E> {
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn close(&self) {
        let state = self.state.lock();
        self.closed.store(true, Ordering::SeqCst);
        for subscriber in &state.subscribers {
            subscriber.sender.close();
        }
    }

    fn missing_handler(&self) -> Option<&'static str> {
        None
    }

    fn metrics(&self) -> &MessageMetrics {
        &self.metrics
    }
}

/// The outcome of one publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Published {
    /// Subscribers the event was queued for.
    pub delivered: usize,
    /// Lagging subscribers that missed it (and will be told).
    pub missed: usize,
}

/// Why an event was not published. The event is handed back.
pub enum PublishError<E> {
    /// The bus was closed.
    Closed(E),
}

impl<E: Event> PublishError<E> {
    /// The event that was not published.
    pub fn into_event(self) -> E {
        match self {
            PublishError::Closed(event) => event,
        }
    }
}

impl<E: Event> fmt::Debug for PublishError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Closed({})", E::NAME)
    }
}

impl<E: Event> fmt::Display for PublishError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bus closed while publishing {}", E::NAME)
    }
}

impl<E: Event> std::error::Error for PublishError<E> {}

impl<E: Event> From<PublishError<E>> for super::BusError {
    fn from(_: PublishError<E>) -> super::BusError {
        super::BusError::Closed { message: E::NAME }
    }
}

/// Publishes event `E` to every subscriber. Cheap to clone.
pub struct Publisher<E: Event> {
    slot: Arc<EventSlot<E>>,
    shared: Arc<Shared>,
}

impl<E: Event> Clone for Publisher<E> {
    fn clone(&self) -> Self {
        Publisher {
            slot: self.slot.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<E: Event> Publisher<E> {
    pub(crate) fn new(slot: Arc<EventSlot<E>>, shared: Arc<Shared>) -> Publisher<E> {
        Publisher { slot, shared }
    }

    /// Publishes `event` to every current subscriber: queued at once for those with room,
    /// missed (and later reported) by lagging [`Overflow::Lag`] subscribers, and waited for
    /// by full [`Overflow::Backpressure`] subscribers.
    ///
    /// Cancel safety: not cancel safe once started; dropping the future while it waits for a
    /// backpressure subscriber leaves that subscriber without the event, and it will see a
    /// gap reported as [`RecvError::Lagged`].
    pub async fn publish(&self, event: E) -> Result<Published, PublishError<E>> {
        let _publishing = self.slot.publishing.lock().await;
        if self.slot.closed.load(Ordering::SeqCst) {
            MessageMetrics::bump(&self.slot.metrics.closed, 1);
            return Err(PublishError::Closed(event));
        }
        let sent_at_ns = self.shared.clock.now_ns();
        let items = event.items();
        self.shared
            .tap(Kind::Event, E::NAME, items, sent_at_ns, &event);

        let mut outcome = Published::default();
        let mut waiting = Vec::new();
        let seq = {
            let mut state = self.slot.state.lock();
            let seq = state.next_seq;
            state.next_seq += 1;
            state.subscribers.retain(|subscriber| {
                let stamped = Stamped {
                    seq,
                    sent_at_ns,
                    event: event.clone(),
                };
                match subscriber.sender.try_send(stamped) {
                    Ok(()) => outcome.delivered += 1,
                    Err(TrySendError::Full(stamped)) => match subscriber.overflow {
                        Overflow::Lag => outcome.missed += 1,
                        Overflow::Backpressure => {
                            waiting.push((subscriber.sender.clone(), stamped));
                        }
                    },
                    Err(TrySendError::Closed(_)) => return false,
                }
                true
            });
            seq
        };
        for (sender, stamped) in waiting {
            // Fails only when the subscriber dropped meanwhile; it is removed next time.
            if sender.send(stamped).await.is_ok() {
                outcome.delivered += 1;
            }
        }
        self.slot.published.store(seq + 1, Ordering::SeqCst);
        MessageMetrics::bump(&self.slot.metrics.sent, 1);
        MessageMetrics::bump(&self.slot.metrics.items, items as u64);
        MessageMetrics::bump(&self.slot.metrics.missed, outcome.missed as u64);
        Ok(outcome)
    }
}

/// Why a subscriber received no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The subscriber fell behind and missed `missed` events. The next receive continues
    /// with the first event after the gap.
    #[error("missed {missed} events")]
    Lagged {
        /// How many events were missed.
        missed: u64,
    },
    /// The bus was closed and every queued event has been received.
    #[error("bus closed")]
    Closed,
}

/// One subscriber's stream of event `E`.
pub struct Subscription<E: Event> {
    receiver: Receiver<Stamped<E>>,
    /// Sequence number of the next event this subscriber expects.
    next_seq: u64,
    /// The event after a gap, kept while the gap is reported.
    held: Option<Stamped<E>>,
    slot: Arc<EventSlot<E>>,
    shared: Arc<Shared>,
}

impl<E: Event> Subscription<E> {
    /// The next event; [`RecvError::Lagged`] when events were missed since the last one;
    /// [`RecvError::Closed`] at the end.
    ///
    /// Cancel safety: safe; no event is lost when the future is dropped.
    pub async fn recv(&mut self) -> Result<E, RecvError> {
        if let Some(stamped) = self.held.take() {
            return Ok(self.accept(stamped));
        }
        match self.receiver.recv().await {
            Ok(stamped) => self.admit(stamped),
            Err(_) => self.end(),
        }
    }

    /// Like [`Subscription::recv`] without waiting: `Ok(None)` when nothing is queued.
    pub fn try_recv(&mut self) -> Result<Option<E>, RecvError> {
        if let Some(stamped) = self.held.take() {
            return Ok(Some(self.accept(stamped)));
        }
        match self.receiver.try_recv() {
            Ok(stamped) => self.admit(stamped).map(Some),
            Err(async_channel::TryRecvError::Empty) => Ok(None),
            Err(async_channel::TryRecvError::Closed) => self.end().map(Some),
        }
    }

    fn admit(&mut self, stamped: Stamped<E>) -> Result<E, RecvError> {
        debug_assert!(
            stamped.seq >= self.next_seq,
            "events arrive in publication order"
        );
        if stamped.seq > self.next_seq {
            let missed = stamped.seq - self.next_seq;
            self.next_seq = stamped.seq;
            self.held = Some(stamped);
            return Err(RecvError::Lagged { missed });
        }
        Ok(self.accept(stamped))
    }

    fn accept(&mut self, stamped: Stamped<E>) -> E {
        self.next_seq = stamped.seq + 1;
        let elapsed = self
            .shared
            .clock
            .now_ns()
            .saturating_sub(stamped.sent_at_ns);
        self.slot.metrics.latency.record(elapsed);
        MessageMetrics::bump(&self.slot.metrics.delivered, 1);
        stamped.event
    }

    /// At the end of the stream, a trailing gap is reported before `Closed`.
    fn end(&mut self) -> Result<E, RecvError> {
        let published = self.slot.published.load(Ordering::SeqCst);
        if published > self.next_seq {
            let missed = published - self.next_seq;
            self.next_seq = published;
            return Err(RecvError::Lagged { missed });
        }
        Err(RecvError::Closed)
    }
}
