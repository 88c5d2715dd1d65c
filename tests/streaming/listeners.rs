//! Listener events.

use super::*;

/// Every event, as a line.
#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl StreamingListener for Events {
    fn on_streaming_started(&self, _: Time) {
        self.0.lock().unwrap().push("streaming started".into());
    }
    fn on_batch_submitted(&self, b: &BatchInfo) {
        self.0.lock().unwrap().push(format!(
            "submitted {} records {} ops {:?}",
            b.batch_time.millis(),
            b.records,
            b.output_operations
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
        ));
    }
    fn on_batch_started(&self, b: &BatchInfo) {
        self.0
            .lock()
            .unwrap()
            .push(format!("started {}", b.batch_time.millis()));
    }
    fn on_output_operation_started(&self, o: &OutputOperationInfo) {
        self.0.lock().unwrap().push(format!(
            "op started {} #{} {}",
            o.batch_time.millis(),
            o.id,
            o.description
        ));
    }
    fn on_output_operation_completed(&self, o: &OutputOperationInfo) {
        self.0.lock().unwrap().push(format!(
            "op completed {} #{} failed {}",
            o.batch_time.millis(),
            o.id,
            o.failure_reason.is_some()
        ));
    }
    fn on_batch_completed(&self, b: &BatchInfo) {
        let ops: Vec<(String, bool)> = b
            .output_operations
            .iter()
            .map(|o| (o.name.clone(), o.duration().is_some()))
            .collect();
        self.0.lock().unwrap().push(format!(
            "completed {} ok {} records {:?} ops {ops:?} times {}",
            b.batch_time.millis(),
            b.succeeded,
            b.stream_records.values().collect::<Vec<_>>(),
            b.processing_start_time.is_some() && b.processing_end_time >= b.processing_start_time
        ));
    }
    fn on_receiver_started(&self, r: &ReceiverInfo) {
        self.0
            .lock()
            .unwrap()
            .push(format!("receiver started {}", r.stream));
    }
    fn on_receiver_stopped(&self, r: &ReceiverInfo) {
        self.0
            .lock()
            .unwrap()
            .push(format!("receiver stopped {}", r.stream));
    }
}

impl Receiver<u64> for Stores {
    fn on_start(&mut self, handle: ReceiverHandle<u64>) {
        handle.store_all((0..self.0).collect());
    }
    fn on_stop(&mut self) {}
}

#[test]
fn listeners_hear_every_event_of_a_batch_in_order_with_its_operations() {
    let (_ctx, clock, ssc) = manual();
    let stream = ssc.receiver_stream(Stores(3));
    let line = line!() + 1;
    stream.count().foreach_rdd(|_, _| Ok(())).unwrap();
    stream.print(1).unwrap();
    let events = Arc::new(Events::default());
    ssc.add_streaming_listener(events.clone());
    let done = Arc::new(Completed::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start().unwrap();
    assert!(wait_for(30, || stats(&ssc).records >= 3));
    clock.advance(Duration::from_secs(1));
    done.wait(1);
    ssc.stop(StopOptions::default()).unwrap();
    let got = events.0.lock().unwrap().clone();
    let site = format!("foreachRDD at tests/streaming/listeners.rs:{line}");
    let want = [
        "receiver started stream 0".to_string(),
        "submitted 1000 records 3 ops [\"foreachRDD\", \"print\"]".into(),
        "started 1000".into(),
        format!("op started 1000 #0 {site}"),
        "op completed 1000 #0 failed false".into(),
        format!("op started 1000 #1 print at tests/streaming/listeners.rs:{}", line + 1),
        "op completed 1000 #1 failed false".into(),
        "completed 1000 ok true records [3] ops [(\"foreachRDD\", true), (\"print\", true)] times true".into(),
        "receiver stopped stream 0".into(),
    ];
    assert_eq!(got[0], "streaming started", "{got:#?}");
    assert_eq!(got[1..], want, "{got:#?}");
}

/// Blocks in `on_batch_completed` until released; notes the first batch it blocked on.
struct Stuck(Arc<(Mutex<bool>, std::sync::Condvar)>, Mutex<Option<i64>>);

impl StreamingListener for Stuck {
    fn on_batch_completed(&self, b: &BatchInfo) {
        self.1.lock().unwrap().get_or_insert(b.batch_time.millis());
        let (released, cv) = &*self.0;
        let mut r = released.lock().unwrap();
        while !*r {
            r = cv.wait(r).unwrap();
        }
    }
}

#[test]
fn a_stuck_listener_never_slows_the_job_and_its_dropped_events_are_counted() {
    let ctx = Context::new(conf(&[("spate.streaming.listenerBus.capacity", "4")])).unwrap();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc =
        StreamingContext::with_clock(ctx.clone(), Duration::from_secs(1), clock.clone()).unwrap();
    let ran: Arc<Mutex<Vec<i64>>> = Arc::default();
    let sink = Arc::clone(&ran);
    ssc.queue_stream(RddQueue::new(), true, Some(ctx.parallelize(vec![1u8], 1)))
        .foreach_rdd(move |_, t| {
            sink.lock().unwrap().push(t.millis());
            Ok(())
        })
        .unwrap();
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let stuck = Arc::new(Stuck(gate.clone(), Mutex::new(None)));
    ssc.add_streaming_listener(stuck.clone());
    let events = Arc::new(Events::default());
    ssc.add_streaming_listener(events.clone());
    ssc.start().unwrap();
    // 20 batches run while the listener is stuck in the first batch's completion.
    for i in 1..=20 {
        clock.advance(Duration::from_secs(1));
        assert!(
            wait_for(30, || ran.lock().unwrap().len() >= i),
            "batch {i} was held up by a listener"
        );
    }
    assert!(ssc.dropped_listener_events() > 0);
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    ssc.stop(StopOptions::default()).unwrap();
    // What was queued was delivered before stop() returned: the other listener heard the
    // batch the stuck one was stuck on (events that found the queue full are gone).
    let blocked_on = stuck
        .1
        .lock()
        .unwrap()
        .expect("the listener was never called");
    let got = events.0.lock().unwrap();
    assert!(
        got.iter()
            .any(|e| e.starts_with(&format!("completed {blocked_on} "))),
        "{got:?}"
    );
}

/// Panics on every batch.
struct Panicky;

impl StreamingListener for Panicky {
    fn on_batch_completed(&self, _: &BatchInfo) {
        panic!("a listener's bug");
    }
}

#[test]
fn a_panicking_listener_is_logged_and_the_others_and_the_job_go_on() {
    let (ctx, clock, ssc) = manual();
    let ran: Arc<Mutex<usize>> = Arc::default();
    let sink = Arc::clone(&ran);
    ssc.queue_stream(RddQueue::new(), true, Some(ctx.parallelize(vec![1u8], 1)))
        .foreach_rdd(move |_, _| {
            *sink.lock().unwrap() += 1;
            Ok(())
        })
        .unwrap();
    ssc.add_streaming_listener(Arc::new(Panicky));
    let done = Arc::new(Completed::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start().unwrap();
    for i in 1..=3 {
        clock.advance(Duration::from_secs(1));
        done.wait(i);
    }
    ssc.stop(StopOptions::default()).unwrap();
    assert_eq!(*ran.lock().unwrap(), 3);
}
