//! Taps see every message that crosses the bus, in the order the bus handled them.
//!
//! A tap is installed when the bus is built. Without one, the bus pays a single branch per
//! message. [`Recorder`] keeps a bounded log that tests assert on; [`TracingTap`] writes each
//! message to `tracing` at TRACE level.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::Kind;

/// One message as seen by a tap.
pub struct TapRecord<'a> {
    /// Position in the bus-wide order of tapped messages, from 0.
    pub seq: u64,
    /// Command, reply or event.
    pub kind: Kind,
    /// The message type's name (for a reply, its command's name).
    pub name: &'static str,
    /// Items carried (see [`Message::items`](super::Message::items)).
    pub items: usize,
    /// The bus clock when the message was sent.
    pub at_ns: u64,
    /// The message itself.
    pub message: &'a (dyn Any + Send),
}

/// Receives every message that crosses the bus. Called on the sender's task, before the
/// message is delivered: it must be quick and must not block.
pub trait Tap: Send + Sync + 'static {
    /// Records one message.
    fn record(&self, record: &TapRecord<'_>);
}

/// One entry of a [`Recorder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Position in the bus-wide order.
    pub seq: u64,
    /// Command, reply or event.
    pub kind: Kind,
    /// Message name.
    pub name: &'static str,
    /// Items carried.
    pub items: usize,
}

type Cloner = Box<dyn Fn(&(dyn Any + Send)) -> Option<Box<dyn Any + Send>> + Send + Sync>;

struct Log {
    entries: Vec<(Entry, Option<Box<dyn Any + Send>>)>,
    overflowed: u64,
}

/// A tap that keeps the first `limit` messages: their names and kinds always, and a copy of
/// the message for the types registered with [`Recorder::capture`]. Messages past the limit
/// are counted in [`Recorder::overflowed`], never silently lost.
#[derive(Clone)]
pub struct Recorder {
    limit: usize,
    log: Arc<Mutex<Log>>,
    cloners: Arc<Mutex<HashMap<TypeId, Cloner>>>,
}

impl Recorder {
    /// A recorder that keeps at most `limit` entries.
    pub fn new(limit: usize) -> Recorder {
        Recorder {
            limit,
            log: Arc::new(Mutex::new(Log {
                entries: Vec::new(),
                overflowed: 0,
            })),
            cloners: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Also keep a copy of every message of type `T` (a command, a reply or an event type),
    /// for [`Recorder::messages`].
    pub fn capture<T: Clone + Send + 'static>(&self) -> &Recorder {
        let cloner: Cloner = Box::new(|message: &(dyn Any + Send)| {
            message
                .downcast_ref::<T>()
                .map(|m| Box::new(m.clone()) as Box<dyn Any + Send>)
        });
        self.cloners.lock().insert(TypeId::of::<T>(), cloner);
        self
    }

    /// Every entry, in bus order.
    pub fn entries(&self) -> Vec<Entry> {
        self.log
            .lock()
            .entries
            .iter()
            .map(|(entry, _)| *entry)
            .collect()
    }

    /// Copies of the recorded messages of type `T`, in bus order. Empty unless `T` was
    /// registered with [`Recorder::capture`] before the messages crossed.
    pub fn messages<T: Clone + 'static>(&self) -> Vec<T> {
        self.log
            .lock()
            .entries
            .iter()
            .filter_map(|(_, copy)| copy.as_ref()?.downcast_ref::<T>().cloned())
            .collect()
    }

    /// How many messages arrived after the log was full.
    pub fn overflowed(&self) -> u64 {
        self.log.lock().overflowed
    }
}

impl Tap for Recorder {
    fn record(&self, record: &TapRecord<'_>) {
        let mut log = self.log.lock();
        if log.entries.len() >= self.limit {
            log.overflowed += 1;
            return;
        }
        let copy = self
            .cloners
            .lock()
            .get(&(*record.message).type_id())
            .and_then(|clone| clone(record.message));
        let entry = Entry {
            seq: record.seq,
            kind: record.kind,
            name: record.name,
            items: record.items,
        };
        log.entries.push((entry, copy));
    }
}

/// A tap that logs every message with `tracing` at TRACE level, target `lamina::bus`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingTap;

impl Tap for TracingTap {
    fn record(&self, record: &TapRecord<'_>) {
        tracing::trace!(
            target: "lamina::bus",
            seq = record.seq,
            kind = ?record.kind,
            name = record.name,
            items = record.items,
            "message"
        );
    }
}
