//! The typed cross-layer message bus: the composition contract between Lamina's layers.
//!
//! # Two kinds of message
//!
//! ```text
//!   commands: exactly one handler, a typed reply
//!
//!   Requester<C> --C--> [ mailbox: bounded ] --> Inbox<C> (handler task)
//!        ^                                            |
//!        +------------- C::Reply (oneshot) -----------+
//!
//!   events: fan-out to every subscriber
//!
//!                        +--> [ queue ] --> Subscription<E>
//!   Publisher<E> --E-->--+--> [ queue ] --> Subscription<E>
//!                        +--> [ queue ] --> Subscription<E>
//! ```
//!
//! A message is a Rust type: a [`Command`] fixes its reply type, an [`Event`] is cloned to each
//! subscriber. Handles are typed by the message, so no call site names a topic string or
//! downcasts.
//!
//! # Limits and errors
//!
//! Every mailbox and subscriber queue is bounded ([`BusConfig`]). Nothing is dropped without
//! somebody being told:
//!
//! | situation | what happens |
//! |---|---|
//! | command mailbox full | [`Requester::send`] waits (backpressure); [`Requester::try_send`] returns [`RequestError::Full`] with the command |
//! | no handler registered | [`Bus::check_wiring`] fails at assembly; a request fails at once with [`RequestError::NoHandler`] and the command |
//! | second handler for a command | [`Bus::handle`] fails with [`WiringError::DuplicateHandler`] |
//! | bus closed, or handler gone | [`RequestError::Closed`] with the command |
//! | handler dropped the request unanswered | [`RequestError::HandlerDropped`] |
//! | lossy subscriber's queue full | that subscriber's next receive is [`RecvError::Lagged`] with the count missed |
//! | backpressure subscriber's queue full | [`Publisher::publish`] waits for room |
//!
//! # Cost
//!
//! The bus moves batches: one message carries a block or thousands of transactions, and the
//! hot path never crosses the bus once per transaction. A command round trip costs one
//! bounded-channel send, one oneshot reply and two task wake-ups; see `benches/bus.rs`.
//!
//! # Runtime
//!
//! The bus uses only executor-independent primitives (`async-channel`, `futures` oneshot,
//! `async-lock`) and an injected [`Clock`], so it runs the same on tokio and on
//! commonware-runtime's deterministic executor.

mod command;
mod event;
mod metrics;
mod tap;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

pub use command::{Inbox, Pending, Request, RequestError, Requester, Responder};
pub use event::{Overflow, PublishError, Published, Publisher, RecvError, Subscription};
pub use metrics::{Clock, LatencySummary, MessageStats, SystemClock};
pub use tap::{Entry, Recorder, Tap, TapRecord, TracingTap};

use command::CommandSlot;
use event::EventSlot;
use metrics::MessageMetrics;

/// Anything that crosses the bus.
pub trait Message: Send + 'static {
    /// A stable name for metrics, taps and errors.
    const NAME: &'static str;

    /// How many items the message carries, for metrics: the transactions of a batch, for
    /// example. One by default.
    fn items(&self) -> usize {
        1
    }
}

/// A message with exactly one handler and a typed reply.
pub trait Command: Message {
    /// What the handler answers.
    type Reply: Send + 'static;
}

/// A message delivered to every subscriber. Cloned once per subscriber, so large payloads
/// should sit behind an `Arc`.
pub trait Event: Message + Clone + Sync {}

/// Whether a message is a command, a command's reply, or an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A command, on its way to the handler.
    Command,
    /// A command's reply, on its way back.
    Reply,
    /// An event.
    Event,
}

/// Largest mailbox or queue the bus accepts, in messages.
pub const MAX_CAPACITY: usize = 1 << 20;

/// Capacities of the bus's mailboxes and queues, checked when the bus is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// Capacity of each command mailbox, in commands.
    pub command_capacity: usize,
    /// Capacity of each subscriber's queue, in events.
    pub event_capacity: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            command_capacity: 1024,
            event_capacity: 1024,
        }
    }
}

impl BusConfig {
    /// Checks every capacity is within `1..=MAX_CAPACITY`.
    pub fn validate(&self) -> Result<(), WiringError> {
        check_capacity("command_capacity", self.command_capacity)?;
        check_capacity("event_capacity", self.event_capacity)
    }
}

pub(crate) fn check_capacity(what: &'static str, capacity: usize) -> Result<(), WiringError> {
    if capacity == 0 || capacity > MAX_CAPACITY {
        return Err(WiringError::InvalidCapacity {
            what,
            capacity,
            max: MAX_CAPACITY,
        });
    }
    Ok(())
}

/// A mistake in how parts were wired to the bus, found at assembly time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WiringError {
    /// A second handler was registered for a command.
    #[error("command {command} already has a handler")]
    DuplicateHandler {
        /// The command.
        command: &'static str,
    },
    /// Commands were requested that no part handles.
    #[error("no handler for command(s): {}", commands.join(", "))]
    NoHandler {
        /// The commands, sorted by name.
        commands: Vec<&'static str>,
    },
    /// A capacity outside `1..=max`.
    #[error("{what} = {capacity} is outside 1..={max}")]
    InvalidCapacity {
        /// Which capacity.
        what: &'static str,
        /// The value given.
        capacity: usize,
        /// The largest allowed.
        max: usize,
    },
}

/// A bus error with the message taken out, for code that reports rather than retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// See [`RequestError::NoHandler`].
    #[error("no handler for command {message}")]
    NoHandler {
        /// The command.
        message: &'static str,
    },
    /// See [`RequestError::Full`].
    #[error("mailbox of {message} is full")]
    Full {
        /// The command.
        message: &'static str,
    },
    /// See [`RequestError::Closed`] and [`PublishError::Closed`].
    #[error("bus closed while sending {message}")]
    Closed {
        /// The message.
        message: &'static str,
    },
    /// See [`RequestError::HandlerDropped`].
    #[error("handler of {message} dropped the request without replying")]
    HandlerDropped {
        /// The command.
        message: &'static str,
    },
    /// See [`RecvError::Lagged`].
    #[error("subscriber of {message} missed {missed} events")]
    Lagged {
        /// The event.
        message: &'static str,
        /// How many events were missed.
        missed: u64,
    },
    /// See [`WiringError`].
    #[error(transparent)]
    Wiring(#[from] WiringError),
}

/// What every handle shares: the clock and the tap.
pub(crate) struct Shared {
    pub(crate) clock: Arc<dyn Clock>,
    tap: Option<Arc<dyn Tap>>,
    tap_seq: AtomicU64,
}

impl Shared {
    /// Shows `message` to the tap, if there is one.
    #[inline]
    pub(crate) fn tap<T: Send + 'static>(
        &self,
        kind: Kind,
        name: &'static str,
        items: usize,
        at_ns: u64,
        message: &T,
    ) {
        if let Some(tap) = &self.tap {
            let seq = self.tap_seq.fetch_add(1, Ordering::Relaxed);
            tap.record(&TapRecord {
                seq,
                kind,
                name,
                items,
                at_ns,
                message,
            });
        }
    }
}

/// A slot of the registry, seen without its message type.
trait ErasedSlot: Send + Sync {
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    fn close(&self);
    /// The command's name when it was requested but has no handler.
    fn missing_handler(&self) -> Option<&'static str>;
    fn metrics(&self) -> &MessageMetrics;
}

struct Inner {
    config: BusConfig,
    shared: Arc<Shared>,
    slots: Mutex<HashMap<TypeId, Arc<dyn ErasedSlot>>>,
    closed: AtomicBool,
}

/// The bus. Cloning is cheap and every clone is the same bus.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

/// Builds a [`Bus`].
pub struct BusBuilder {
    config: BusConfig,
    clock: Arc<dyn Clock>,
    tap: Option<Arc<dyn Tap>>,
}

impl BusBuilder {
    /// Sets the capacities.
    pub fn config(mut self, config: BusConfig) -> BusBuilder {
        self.config = config;
        self
    }

    /// Sets the clock used for latency metrics.
    pub fn clock(mut self, clock: impl Clock) -> BusBuilder {
        self.clock = Arc::new(clock);
        self
    }

    /// Installs a tap that sees every message.
    pub fn tap(mut self, tap: impl Tap) -> BusBuilder {
        self.tap = Some(Arc::new(tap));
        self
    }

    /// Checks the configuration and builds the bus.
    pub fn build(self) -> Result<Bus, WiringError> {
        self.config.validate()?;
        Ok(Bus {
            inner: Arc::new(Inner {
                config: self.config,
                shared: Arc::new(Shared {
                    clock: self.clock,
                    tap: self.tap,
                    tap_seq: AtomicU64::new(0),
                }),
                slots: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
            }),
        })
    }
}

impl Bus {
    /// A builder with the default configuration, the system clock and no tap.
    pub fn builder() -> BusBuilder {
        BusBuilder {
            config: BusConfig::default(),
            clock: Arc::new(SystemClock::default()),
            tap: None,
        }
    }

    /// A bus with `config`, the system clock and no tap.
    pub fn new(config: BusConfig) -> Result<Bus, WiringError> {
        Bus::builder().config(config).build()
    }

    /// Registers the handler of command `C` and returns its mailbox, with the configured
    /// capacity. Fails when `C` already has a handler.
    pub fn handle<C: Command>(&self) -> Result<Inbox<C>, WiringError> {
        self.handle_with_capacity(self.inner.config.command_capacity)
    }

    /// Like [`Bus::handle`] with a mailbox of `capacity` commands.
    pub fn handle_with_capacity<C: Command>(
        &self,
        capacity: usize,
    ) -> Result<Inbox<C>, WiringError> {
        check_capacity("command mailbox capacity", capacity)?;
        let inbox = self
            .command_slot::<C>()
            .bind(capacity, self.inner.shared.clone())?;
        if self.is_closed() {
            inbox.close_mailbox();
        }
        Ok(inbox)
    }

    /// A handle that sends command `C`. Creating it before the handler is registered is fine;
    /// [`Bus::check_wiring`] reports requested commands that never got a handler.
    pub fn requester<C: Command>(&self) -> Requester<C> {
        Requester::new(self.command_slot::<C>(), self.inner.shared.clone())
    }

    /// A handle that publishes event `E`.
    pub fn publisher<E: Event>(&self) -> Publisher<E> {
        Publisher::new(self.event_slot::<E>(), self.inner.shared.clone())
    }

    /// Subscribes to event `E` with the configured queue capacity. A subscriber that falls
    /// behind misses events and is told how many ([`Overflow::Lag`]).
    pub fn subscribe<E: Event>(&self) -> Subscription<E> {
        self.event_slot::<E>().subscribe(
            self.inner.config.event_capacity,
            Overflow::Lag,
            self.inner.shared.clone(),
        )
    }

    /// Subscribes to event `E` with a queue of `capacity` events and the given overflow
    /// policy. [`Overflow::Backpressure`] makes publishers wait for this subscriber: use it
    /// for subscribers that must see every event, and keep them fast.
    pub fn subscribe_with<E: Event>(
        &self,
        capacity: usize,
        overflow: Overflow,
    ) -> Result<Subscription<E>, WiringError> {
        check_capacity("subscriber queue capacity", capacity)?;
        Ok(self
            .event_slot::<E>()
            .subscribe(capacity, overflow, self.inner.shared.clone()))
    }

    /// Fails when a command was requested that no part handles. Call it once every part is
    /// wired, before starting: a missing handler is then an assembly error, not a hang.
    pub fn check_wiring(&self) -> Result<(), WiringError> {
        let mut commands: Vec<&'static str> = self
            .inner
            .slots
            .lock()
            .values()
            .filter_map(|slot| slot.missing_handler())
            .collect();
        if commands.is_empty() {
            return Ok(());
        }
        commands.sort_unstable();
        Err(WiringError::NoHandler { commands })
    }

    /// Closes the bus: requests and publications fail with `Closed`, handlers and subscribers
    /// receive what was already queued and then see the end of their stream.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        for slot in self.inner.slots.lock().values() {
            slot.close();
        }
    }

    /// Whether [`Bus::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// Counters and latency of every message type seen so far, sorted by name.
    pub fn metrics(&self) -> Vec<MessageStats> {
        let mut stats: Vec<MessageStats> = self
            .inner
            .slots
            .lock()
            .values()
            .map(|slot| slot.metrics().snapshot())
            .collect();
        stats.sort_by_key(|s| s.name);
        stats
    }

    fn command_slot<C: Command>(&self) -> Arc<CommandSlot<C>> {
        self.slot(|| CommandSlot::<C>::new())
    }

    fn event_slot<E: Event>(&self) -> Arc<EventSlot<E>> {
        let closed = self.is_closed();
        self.slot(|| EventSlot::<E>::new(closed))
    }

    fn slot<S: ErasedSlot + 'static>(&self, make: impl FnOnce() -> S) -> Arc<S> {
        let mut slots = self.inner.slots.lock();
        let erased = slots
            .entry(TypeId::of::<S>())
            .or_insert_with(|| Arc::new(make()))
            .clone();
        match erased.as_any().downcast::<S>() {
            Ok(slot) => slot,
            // Slots are keyed by their own TypeId, so the entry always has type S.
            Err(_) => unreachable!("bus slot keyed by a different type"),
        }
    }
}

#[cfg(test)]
mod tests;
