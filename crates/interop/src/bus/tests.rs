//! Tests of every bus path, the error paths first. Each asserts the exact error and that the
//! message is handed back where the contract says so.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;

use super::*;

/// Runs a future that can complete on this thread alone, polling it a bounded number of
/// times: a bus that fails to make progress fails the test instead of hanging it.
fn settle<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    for _ in 0..10_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("future did not complete: the bus stopped making progress");
}

#[derive(Debug, Clone, PartialEq)]
struct Ping(u32);

impl Message for Ping {
    const NAME: &'static str = "Ping";
}

impl Command for Ping {
    type Reply = u32;
}

#[derive(Debug, Clone, PartialEq)]
struct Batch(Vec<u8>);

impl Message for Batch {
    const NAME: &'static str = "Batch";
    fn items(&self) -> usize {
        self.0.len()
    }
}

impl Command for Batch {
    type Reply = usize;
}

#[derive(Debug, Clone, PartialEq)]
struct Tick(u32);

impl Message for Tick {
    const NAME: &'static str = "Tick";
}

impl Event for Tick {}

fn bus() -> Bus {
    Bus::new(BusConfig::default()).unwrap()
}

fn stats(bus: &Bus, name: &str) -> MessageStats {
    bus.metrics().into_iter().find(|s| s.name == name).unwrap()
}

/// Serves `count` requests of `Ping(n)` with `n + 1`.
async fn serve(inbox: Inbox<Ping>, count: usize) {
    for _ in 0..count {
        let request = inbox.recv().await.unwrap();
        let n = request.command.0;
        request.responder.send(n + 1).unwrap();
    }
}

#[test]
fn request_gets_typed_reply() {
    let bus = bus();
    let inbox = bus.handle::<Ping>().unwrap();
    let requester = bus.requester::<Ping>();
    let (reply, ()) =
        settle(async { futures::join!(requester.request(Ping(41)), serve(inbox, 1)) });
    assert_eq!(reply.unwrap(), 42);
    let s = stats(&bus, "Ping");
    assert_eq!((s.sent, s.delivered, s.latency.count), (1, 1, 1));
}

#[test]
fn request_without_handler_fails_at_once_and_hands_command_back() {
    let bus = bus();
    let requester = bus.requester::<Ping>();
    let outcome = requester
        .request(Ping(7))
        .now_or_never()
        .expect("must not wait");
    assert!(matches!(outcome, Err(RequestError::NoHandler(Ping(7)))));
    assert!(matches!(
        requester.try_send(Ping(8)),
        Err(RequestError::NoHandler(Ping(8)))
    ));
    assert_eq!(stats(&bus, "Ping").no_handler, 2);
}

#[test]
fn check_wiring_reports_requested_commands_without_handler() {
    let bus = bus();
    let _ping = bus.requester::<Ping>();
    let _batch = bus.requester::<Batch>();
    assert_eq!(
        bus.check_wiring(),
        Err(WiringError::NoHandler {
            commands: vec!["Batch", "Ping"]
        })
    );
    let _inbox = bus.handle::<Ping>().unwrap();
    assert_eq!(
        bus.check_wiring(),
        Err(WiringError::NoHandler {
            commands: vec!["Batch"]
        })
    );
    let _inbox = bus.handle::<Batch>().unwrap();
    assert_eq!(bus.check_wiring(), Ok(()));
}

#[test]
fn handler_registered_after_requester_is_found() {
    let bus = bus();
    let requester = bus.requester::<Ping>();
    let inbox = bus.handle::<Ping>().unwrap();
    let (reply, ()) = settle(async { futures::join!(requester.request(Ping(1)), serve(inbox, 1)) });
    assert_eq!(reply.unwrap(), 2);
}

#[test]
fn second_handler_is_refused() {
    let bus = bus();
    let _first = bus.handle::<Ping>().unwrap();
    assert_eq!(
        bus.handle::<Ping>().err(),
        Some(WiringError::DuplicateHandler { command: "Ping" })
    );
    // A clone of the inbox is the sanctioned way to run a pool of handlers.
    let _pool_member = _first.clone();
}

#[test]
fn full_mailbox_hands_command_back_on_try_send() {
    let bus = bus();
    let inbox = bus.handle_with_capacity::<Ping>(1).unwrap();
    let requester = bus.requester::<Ping>();
    let first = requester.try_send(Ping(1));
    assert!(first.is_ok());
    assert!(matches!(
        requester.try_send(Ping(2)),
        Err(RequestError::Full(Ping(2)))
    ));
    assert_eq!(stats(&bus, "Ping").full, 1);
    // Once the handler takes the first command there is room again.
    let taken = inbox.try_recv().unwrap();
    assert_eq!(taken.command, Ping(1));
    assert!(requester.try_send(Ping(3)).is_ok());
}

#[test]
fn full_mailbox_applies_backpressure_on_send() {
    let bus = bus();
    let inbox = bus.handle_with_capacity::<Ping>(1).unwrap();
    let requester = bus.requester::<Ping>();
    let _first = requester.try_send(Ping(1)).unwrap();
    let mut second = Box::pin(requester.send(Ping(2)));
    assert!(
        (&mut second).now_or_never().is_none(),
        "send must wait while the mailbox is full"
    );
    assert_eq!(inbox.try_recv().map(|r| r.command), Some(Ping(1)));
    let pending = (&mut second)
        .now_or_never()
        .expect("room was made")
        .unwrap();
    let request = inbox.try_recv().unwrap();
    assert_eq!(request.command, Ping(2));
    request.responder.send(20).unwrap();
    assert_eq!(settle(pending).unwrap(), 20);
}

#[test]
fn closed_bus_refuses_requests_and_hands_command_back() {
    let bus = bus();
    let inbox = bus.handle::<Ping>().unwrap();
    let requester = bus.requester::<Ping>();
    let queued = requester.try_send(Ping(1)).unwrap();
    bus.close();
    assert!(bus.is_closed());
    assert!(matches!(
        requester.try_send(Ping(2)),
        Err(RequestError::Closed(Ping(2)))
    ));
    let outcome = requester
        .request(Ping(3))
        .now_or_never()
        .expect("must not wait");
    assert!(matches!(outcome, Err(RequestError::Closed(Ping(3)))));
    // The handler still drains what was queued before the close, then sees the end.
    let request = settle(inbox.recv()).unwrap();
    request.responder.send(10).unwrap();
    assert_eq!(settle(queued).unwrap(), 10);
    assert!(settle(inbox.recv()).is_none());
    assert_eq!(stats(&bus, "Ping").closed, 2);
}

#[test]
fn handler_registered_after_close_sees_the_end() {
    let bus = bus();
    bus.close();
    let inbox = bus.handle::<Ping>().unwrap();
    assert!(settle(inbox.recv()).is_none());
}

#[test]
fn dropped_inbox_closes_the_command() {
    let bus = bus();
    let inbox = bus.handle::<Ping>().unwrap();
    let requester = bus.requester::<Ping>();
    let queued = requester.try_send(Ping(1)).unwrap();
    drop(inbox);
    // The queued command's reply can never come.
    assert!(matches!(settle(queued), Err(RequestError::HandlerDropped)));
    assert!(matches!(
        requester.try_send(Ping(2)),
        Err(RequestError::Closed(Ping(2)))
    ));
}

#[test]
fn handler_dropping_the_request_is_reported() {
    let bus = bus();
    let inbox = bus.handle::<Ping>().unwrap();
    let requester = bus.requester::<Ping>();
    let pending = requester.try_send(Ping(1)).unwrap();
    drop(inbox.try_recv().unwrap());
    assert!(matches!(settle(pending), Err(RequestError::HandlerDropped)));
    assert_eq!(stats(&bus, "Ping").unanswered, 1);
}

#[test]
fn reply_to_departed_requester_is_handed_back() {
    let bus = bus();
    let inbox = bus.handle::<Ping>().unwrap();
    let requester = bus.requester::<Ping>();
    drop(requester.try_send(Ping(1)).unwrap());
    let request = inbox.try_recv().unwrap();
    assert_eq!(request.responder.send(5), Err(5));
}

#[test]
fn request_error_converts_to_bus_error_without_the_message() {
    let err: BusError = RequestError::Full(Ping(1)).into();
    assert_eq!(err, BusError::Full { message: "Ping" });
    assert_eq!(err.to_string(), "mailbox of Ping is full");
    assert_eq!(RequestError::Closed(Ping(4)).into_command(), Some(Ping(4)));
    assert_eq!(RequestError::<Ping>::HandlerDropped.into_command(), None);
}

#[test]
fn events_fan_out_to_every_subscriber() {
    let bus = bus();
    let mut a = bus.subscribe::<Tick>();
    let mut b = bus.subscribe::<Tick>();
    let publisher = bus.publisher::<Tick>();
    let published = settle(publisher.publish(Tick(1))).unwrap();
    assert_eq!(
        published,
        Published {
            delivered: 2,
            missed: 0
        }
    );
    assert_eq!(settle(a.recv()), Ok(Tick(1)));
    assert_eq!(settle(b.recv()), Ok(Tick(1)));
    let s = stats(&bus, "Tick");
    assert_eq!((s.sent, s.delivered, s.latency.count), (1, 2, 2));
}

#[test]
fn lagging_subscriber_is_told_how_many_it_missed() {
    let bus = bus();
    let mut slow = bus.subscribe_with::<Tick>(2, Overflow::Lag).unwrap();
    let mut fast = bus.subscribe_with::<Tick>(16, Overflow::Lag).unwrap();
    let publisher = bus.publisher::<Tick>();
    for i in 0..6 {
        settle(publisher.publish(Tick(i))).unwrap();
    }
    // The slow queue holds Tick(0) and Tick(1); Tick(2) to Tick(5) found it full.
    assert_eq!(settle(slow.recv()), Ok(Tick(0)));
    assert_eq!(settle(slow.recv()), Ok(Tick(1)));
    assert_eq!(
        slow.try_recv(),
        Ok(None),
        "the gap is known only when the next event comes"
    );
    settle(publisher.publish(Tick(6))).unwrap();
    assert_eq!(settle(slow.recv()), Err(RecvError::Lagged { missed: 4 }));
    assert_eq!(settle(slow.recv()), Ok(Tick(6)));
    for i in 0..7 {
        assert_eq!(settle(fast.recv()), Ok(Tick(i)));
    }
    assert_eq!(stats(&bus, "Tick").missed, 4);
}

#[test]
fn lag_is_reported_before_the_event_after_the_gap() {
    let bus = bus();
    let mut sub = bus.subscribe_with::<Tick>(1, Overflow::Lag).unwrap();
    let publisher = bus.publisher::<Tick>();
    settle(publisher.publish(Tick(0))).unwrap();
    let missed = settle(publisher.publish(Tick(1))).unwrap();
    assert_eq!(
        missed,
        Published {
            delivered: 0,
            missed: 1
        }
    );
    assert_eq!(sub.try_recv(), Ok(Some(Tick(0))));
    settle(publisher.publish(Tick(2))).unwrap();
    assert_eq!(sub.try_recv(), Err(RecvError::Lagged { missed: 1 }));
    assert_eq!(sub.try_recv(), Ok(Some(Tick(2))));
    assert_eq!(sub.try_recv(), Ok(None));
}

#[test]
fn trailing_gap_is_reported_before_closed() {
    let bus = bus();
    let mut sub = bus.subscribe_with::<Tick>(1, Overflow::Lag).unwrap();
    let publisher = bus.publisher::<Tick>();
    settle(publisher.publish(Tick(0))).unwrap();
    settle(publisher.publish(Tick(1))).unwrap();
    settle(publisher.publish(Tick(2))).unwrap();
    bus.close();
    assert_eq!(settle(sub.recv()), Ok(Tick(0)));
    assert_eq!(settle(sub.recv()), Err(RecvError::Lagged { missed: 2 }));
    assert_eq!(settle(sub.recv()), Err(RecvError::Closed));
}

#[test]
fn backpressure_subscriber_makes_publisher_wait() {
    let bus = bus();
    let mut sub = bus
        .subscribe_with::<Tick>(1, Overflow::Backpressure)
        .unwrap();
    let publisher = bus.publisher::<Tick>();
    settle(publisher.publish(Tick(0))).unwrap();
    let mut second = Box::pin(publisher.publish(Tick(1)));
    assert!(
        (&mut second).now_or_never().is_none(),
        "publish must wait for the full subscriber"
    );
    assert_eq!(sub.try_recv(), Ok(Some(Tick(0))));
    let published = (&mut second)
        .now_or_never()
        .expect("room was made")
        .unwrap();
    assert_eq!(
        published,
        Published {
            delivered: 1,
            missed: 0
        }
    );
    assert_eq!(sub.try_recv(), Ok(Some(Tick(1))));
    assert_eq!(stats(&bus, "Tick").missed, 0);
}

#[test]
fn publish_after_close_hands_event_back() {
    let bus = bus();
    let mut sub = bus.subscribe::<Tick>();
    let publisher = bus.publisher::<Tick>();
    bus.close();
    let outcome = settle(publisher.publish(Tick(9)));
    assert_eq!(outcome.map_err(PublishError::into_event), Err(Tick(9)));
    assert_eq!(settle(sub.recv()), Err(RecvError::Closed));
    assert_eq!(stats(&bus, "Tick").closed, 1);
    // Subscribing after the close gives a stream that has already ended.
    let mut late = bus.subscribe::<Tick>();
    assert_eq!(settle(late.recv()), Err(RecvError::Closed));
}

#[test]
fn dropped_subscriber_is_removed() {
    let bus = bus();
    let a = bus.subscribe::<Tick>();
    let mut b = bus.subscribe::<Tick>();
    let publisher = bus.publisher::<Tick>();
    drop(a);
    assert_eq!(settle(publisher.publish(Tick(1))).unwrap().delivered, 1);
    assert_eq!(settle(b.recv()), Ok(Tick(1)));
}

#[test]
fn late_subscriber_starts_at_the_next_event() {
    let bus = bus();
    let publisher = bus.publisher::<Tick>();
    settle(publisher.publish(Tick(0))).unwrap();
    let mut sub = bus.subscribe::<Tick>();
    settle(publisher.publish(Tick(1))).unwrap();
    assert_eq!(
        sub.try_recv(),
        Ok(Some(Tick(1))),
        "no lag reported for events before joining"
    );
}

#[test]
fn capacities_are_checked() {
    let zero = BusConfig {
        command_capacity: 0,
        ..BusConfig::default()
    };
    assert_eq!(
        Bus::new(zero).err(),
        Some(WiringError::InvalidCapacity {
            what: "command_capacity",
            capacity: 0,
            max: MAX_CAPACITY
        })
    );
    let huge = BusConfig {
        event_capacity: MAX_CAPACITY + 1,
        ..BusConfig::default()
    };
    assert!(matches!(
        Bus::new(huge),
        Err(WiringError::InvalidCapacity {
            what: "event_capacity",
            ..
        })
    ));
    let bus = bus();
    assert!(bus.handle_with_capacity::<Ping>(0).is_err());
    assert!(bus.subscribe_with::<Tick>(0, Overflow::Lag).is_err());
    // A refused registration leaves the command free for a valid one.
    assert!(bus.handle_with_capacity::<Ping>(1).is_ok());
}

#[test]
fn tap_records_every_message_in_bus_order() {
    let recorder = Recorder::new(100);
    recorder
        .capture::<Ping>()
        .capture::<u32>()
        .capture::<Tick>();
    let bus = Bus::builder().tap(recorder.clone()).build().unwrap();
    let inbox = bus.handle::<Ping>().unwrap();
    let requester = bus.requester::<Ping>();
    let publisher = bus.publisher::<Tick>();
    let _sub = bus.subscribe::<Tick>();
    settle(async {
        futures::join!(requester.request(Ping(1)), serve(inbox, 1))
            .0
            .unwrap();
        publisher.publish(Tick(3)).await.unwrap();
    });
    let entries: Vec<(Kind, &str)> = recorder
        .entries()
        .iter()
        .map(|e| (e.kind, e.name))
        .collect();
    assert_eq!(
        entries,
        vec![
            (Kind::Command, "Ping"),
            (Kind::Reply, "Ping"),
            (Kind::Event, "Tick")
        ]
    );
    assert_eq!(
        recorder.entries().iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(recorder.messages::<Ping>(), vec![Ping(1)]);
    assert_eq!(recorder.messages::<u32>(), vec![2]);
    assert_eq!(recorder.messages::<Tick>(), vec![Tick(3)]);
}

#[test]
fn tap_does_not_record_commands_that_never_crossed() {
    let recorder = Recorder::new(100);
    let bus = Bus::builder().tap(recorder.clone()).build().unwrap();
    let requester = bus.requester::<Ping>();
    assert!(requester.try_send(Ping(1)).is_err());
    assert!(recorder.entries().is_empty());
}

#[test]
fn recorder_counts_what_it_could_not_keep() {
    let recorder = Recorder::new(2);
    let bus = Bus::builder().tap(recorder.clone()).build().unwrap();
    let publisher = bus.publisher::<Tick>();
    for i in 0..5 {
        settle(publisher.publish(Tick(i))).unwrap();
    }
    assert_eq!(recorder.entries().len(), 2);
    assert_eq!(recorder.overflowed(), 3);
}

#[test]
fn metrics_count_items_of_batches() {
    let bus = bus();
    let inbox = bus.handle::<Batch>().unwrap();
    let requester = bus.requester::<Batch>();
    let serve_batch = async {
        let request = inbox.recv().await.unwrap();
        let n = request.command.0.len();
        request.responder.send(n).unwrap();
    };
    let (reply, ()) =
        settle(async { futures::join!(requester.request(Batch(vec![0; 500])), serve_batch) });
    assert_eq!(reply.unwrap(), 500);
    let s = stats(&bus, "Batch");
    assert_eq!((s.kind, s.sent, s.items), (Kind::Command, 1, 500));
}

/// A clock that only moves when told, to check latency is measured on the bus's clock.
#[derive(Clone, Default)]
struct ManualClock(Arc<AtomicU64>);

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[test]
fn latency_is_measured_on_the_injected_clock() {
    let clock = ManualClock::default();
    let bus = Bus::builder().clock(clock.clone()).build().unwrap();
    let inbox = bus.handle::<Ping>().unwrap();
    let requester = bus.requester::<Ping>();
    let pending = requester.try_send(Ping(1)).unwrap();
    clock.0.store(1_000, Ordering::SeqCst);
    inbox.try_recv().unwrap().responder.send(0).unwrap();
    settle(pending).unwrap();
    let latency = stats(&bus, "Ping").latency;
    assert_eq!(
        (latency.count, latency.max_ns, latency.mean_ns),
        (1, 1_000, 1_000)
    );
}

#[test]
fn concurrent_publishers_give_every_subscriber_the_same_order() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let bus = bus();
    let mut a = bus
        .subscribe_with::<Tick>(4096, Overflow::Backpressure)
        .unwrap();
    let mut b = bus
        .subscribe_with::<Tick>(4096, Overflow::Backpressure)
        .unwrap();
    let work = async {
        let tasks: Vec<_> = (0..4u32)
            .map(|p| {
                let publisher = bus.publisher::<Tick>();
                tokio::spawn(async move {
                    for i in 0..250 {
                        publisher.publish(Tick(p * 1000 + i)).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    };
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), work)
            .await
            .unwrap()
    });
    bus.close();
    let drain = |sub: &mut Subscription<Tick>| {
        let mut seen = Vec::new();
        while let Ok(Some(t)) = sub.try_recv() {
            seen.push(t.0);
        }
        seen
    };
    let (seen_a, seen_b) = (drain(&mut a), drain(&mut b));
    assert_eq!(seen_a.len(), 1000);
    assert_eq!(seen_a, seen_b);
}

#[test]
fn round_trips_across_tokio_worker_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let bus = bus();
    let inbox = bus.handle::<Ping>().unwrap();
    let requester = bus.requester::<Ping>();
    let work = async move {
        let server = tokio::spawn(serve(inbox, 1000));
        for i in 0..1000 {
            assert_eq!(requester.request(Ping(i)).await.unwrap(), i + 1);
        }
        server.await.unwrap();
    };
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), work)
            .await
            .unwrap()
    });
}

/// The same traffic on commonware-runtime's deterministic executor, twice with one seed:
/// the bus must work there and must not add nondeterminism of its own.
#[test]
fn runs_deterministically_on_commonware_runtime() {
    use commonware_runtime::{
        deterministic, Clock as _, Runner as _, Spawner as _, Supervisor as _,
    };

    struct RuntimeClock(deterministic::Context);

    impl Clock for RuntimeClock {
        fn now_ns(&self) -> u64 {
            let since_epoch = self.0.current().duration_since(std::time::UNIX_EPOCH);
            since_epoch.map(|d| d.as_nanos() as u64).unwrap_or(0)
        }
    }

    /// The tapped trace: every message's kind and name in bus order, then the values of the
    /// commands and events in bus order.
    type Trace = (Vec<(Kind, &'static str)>, Vec<u32>, Vec<u32>);

    fn run(seed: u64) -> Trace {
        deterministic::Runner::seeded(seed).start(|context| async move {
            let recorder = Recorder::new(10_000);
            recorder.capture::<Ping>().capture::<Tick>();
            let bus = Bus::builder()
                .clock(RuntimeClock(context.child("clock")))
                .tap(recorder.clone())
                .build()
                .unwrap();
            let inbox = bus.handle::<Ping>().unwrap();
            let mut sub = bus.subscribe::<Tick>();
            let server = context.child("server").spawn(|_| serve(inbox, 20));
            let listener = context.child("listener").spawn(|_| async move {
                let mut got = Vec::new();
                while let Ok(tick) = sub.recv().await {
                    got.push(tick.0);
                }
                got
            });
            let clients: Vec<_> = (0..4u32)
                .map(|c| {
                    let requester = bus.requester::<Ping>();
                    let publisher = bus.publisher::<Tick>();
                    context.child("client").spawn(move |ctx| async move {
                        for i in 0..5 {
                            ctx.sleep(std::time::Duration::from_millis(u64::from(c + i)))
                                .await;
                            requester.request(Ping(c * 10 + i)).await.unwrap();
                            publisher.publish(Tick(c * 10 + i)).await.unwrap();
                        }
                    })
                })
                .collect();
            for client in clients {
                client.await.unwrap();
            }
            server.await.unwrap();
            bus.close();
            assert_eq!(listener.await.unwrap().len(), 20);
            let kinds = recorder
                .entries()
                .iter()
                .map(|e| (e.kind, e.name))
                .collect();
            let pings = recorder.messages::<Ping>().iter().map(|p| p.0).collect();
            let ticks = recorder.messages::<Tick>().iter().map(|t| t.0).collect();
            (kinds, pings, ticks)
        })
    }

    let first = run(7);
    assert_eq!(first.0.len(), 60);
    assert_eq!((first.1.len(), first.2.len()), (20, 20));
    assert_eq!(first, run(7));
}
