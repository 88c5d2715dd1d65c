//! The intake's own tests: the log's round trip, backpressure's start, block cuts.

use super::received::LOGGED_LINES;
use super::*;
use spate_core::Text;

fn lines(n: usize) -> Received<Text> {
    let text: String = (0..n).map(|i| format!("line {i}\n")).collect();
    let buf = Arc::new(text.into_bytes());
    let mut l = TextLines::new();
    l.push(&buf, 0..buf.len(), 100).unwrap();
    Received::Lines(l)
}

fn texts(v: &[&str]) -> Vec<Text> {
    v.iter().map(|s| Text::from(*s)).collect()
}

fn read(intake: &Intake<Text>, ctx: &Context, time: Time) -> Vec<Text> {
    let rdd = ctx.input_block_rdd::<Text>(intake.blocks_of(time));
    rdd.collect().unwrap()
}

#[test]
fn logged_lines_and_records_read_back_the_same_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::local(2).unwrap();
    let intake = Intake::<Text>::new(StreamId(0), 1000, ctx.clone(), RateSettings::default());
    intake
        .enable_wal(dir.path(), Duration::from_secs(60))
        .unwrap();
    let buf = Arc::new("ä b\r\n\nc d e\n".as_bytes().to_vec());
    let mut l = TextLines::new();
    l.push(&buf, 0..buf.len(), 100).unwrap();
    assert!(intake.push(Received::Lines(l)));
    intake.cut_block();
    let t1 = Time::from_millis(1000);
    assert_eq!(intake.allocate(t1), 3);
    assert!(intake.push(Received::Records(texts(&["r1", "r2"]))));
    intake.cut_block();
    let (saved, files) = intake.snapshot_log(Time::from_millis(0)).unwrap();
    assert_eq!(files.len(), 1);
    // A restarted driver, in a new context, reads both back from the log: the batch as
    // it was, and the records not yet in a batch for the next one.
    let ctx2 = Context::local(2).unwrap();
    let back = Intake::<Text>::new(StreamId(0), 1000, ctx2.clone(), RateSettings::default());
    back.restore_log(&saved).unwrap();
    assert_eq!(read(&back, &ctx2, t1), texts(&["ä b", "", "c d e"]));
    assert_eq!(read(&back, &ctx2, t1), read(&intake, &ctx, t1));
    let t2 = Time::from_millis(2000);
    assert_eq!(back.allocate(t2), 2);
    assert_eq!(read(&back, &ctx2, t2), texts(&["r1", "r2"]));
}

#[test]
fn a_damaged_block_of_logged_lines_is_named_not_read() {
    let bad = [LOGGED_LINES, b"no final newline"].concat();
    let err = match Received::<Text>::from_log(bad, "/ck/wal/0") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("read back"),
    };
    assert!(
        err.contains("/ck/wal/0") && err.contains("newline"),
        "{err}"
    );
}

#[test]
fn until_backpressure_sets_a_rate_a_receiver_holds_half_the_pending_bound() {
    let ctx = Context::local(2).unwrap();
    let rates = RateSettings {
        backpressure: true,
        batch_interval_ms: 1000,
        ..RateSettings::default()
    };
    let intake = Arc::new(Intake::<Text>::new(StreamId(0), 10, ctx, rates));
    assert!(intake.push(lines(5)));
    // A sixth line waits: half of 10 is pending.
    let pusher = {
        let intake = Arc::clone(&intake);
        std::thread::spawn(move || intake.push(lines(1)))
    };
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(intake.stats().records, 5, "still waiting");
    // An empty batch completes (with the log on the first often is): no rate yet.
    intake.batch_completed(&crate::listener::BatchInfo {
        batch_time: Time::from_millis(500),
        ..Default::default()
    });
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        !pusher.is_finished(),
        "an empty batch does not lift the half bound"
    );
    // A loaded batch completes and backpressure sets a rate: the whole bound applies, the
    // line goes in although the batch's five are still pending.
    let t = Time::from_millis(1000);
    assert_eq!(intake.allocate(t), 5);
    intake.batch_completed(&crate::listener::BatchInfo {
        batch_time: t,
        processing_time: Duration::from_millis(900),
        ..Default::default()
    });
    assert!(intake.rate().is_some());
    assert!(pusher.join().unwrap());
    assert!(intake.push(lines(3)), "nine pending: under the whole bound");
    assert!(!intake.must_wait(&intake.state.lock()));
    assert!(intake.push(lines(1)));
    assert!(
        intake.must_wait(&intake.state.lock()),
        "ten pending: at the whole bound"
    );
    // Without backpressure the bound is whole from the start.
    let plain = Intake::<Text>::new(
        StreamId(1),
        10,
        Context::local(1).unwrap(),
        RateSettings::default(),
    );
    assert!(plain.push(lines(9)));
    assert!(!plain.must_wait(&plain.state.lock()));
}

fn block_sizes(intake: &Intake<Text>, ctx: &Context, time: Time) -> Vec<usize> {
    let rdd = ctx.input_block_rdd::<Text>(intake.blocks_of(time));
    rdd.glom().collect().unwrap().iter().map(Vec::len).collect()
}

#[test]
fn a_cut_is_a_block_per_core_of_equal_size_logged_with_one_write() {
    let ctx = Context::local(3).unwrap();
    let intake = Intake::<Text>::new(StreamId(0), 1000, ctx.clone(), RateSettings::default());
    // Without the log: the tick's cut, then what came after it flushed at allocation (one
    // block: every core has one already).
    assert!(intake.push(lines(10)));
    intake.cut_block();
    assert!(intake.push(lines(2)));
    let t1 = Time::from_millis(1000);
    assert_eq!(intake.allocate(t1), 12);
    assert_eq!(block_sizes(&intake, &ctx, t1), [3, 3, 4, 2]);

    // With the log: the three blocks of a cut are consecutive records of one write.
    let dir = tempfile::tempdir().unwrap();
    intake
        .enable_wal(dir.path(), Duration::from_secs(60))
        .unwrap();
    assert!(intake.push(lines(7)));
    intake.cut_block();
    let t2 = Time::from_millis(2000);
    assert_eq!(intake.allocate(t2), 7);
    assert_eq!(block_sizes(&intake, &ctx, t2), [2, 2, 3]);
    let logged = crate::recovery::wal::records_after(dir.path(), None);
    assert_eq!(logged.len(), 3);
    let offsets: Vec<u64> = logged.iter().map(|(at, _)| at.offset).collect();
    assert_eq!(
        offsets,
        [4096, 8192, 12288],
        "one page each, one after another"
    );
}

#[test]
fn a_remote_receivers_reported_blocks_wait_for_a_batch_and_count_as_pending() {
    let ctx = Context::local(2).unwrap();
    let intake = Intake::<Text>::new(StreamId(3), 1000, ctx, RateSettings::default());
    intake.run_remotely();
    let block = |seq| spate_core::ReportedBlock {
        id: InputBlockId { stream: 3, seq },
        records: 40,
        holders: vec![0, 1],
    };
    let report = |records, finished| HostedReport {
        generation: 1,
        stats: hosted::RemoteStats {
            records,
            errors: 2,
            ..Default::default()
        },
        events: Vec::new(),
        finished,
        logged: Vec::new(),
    };
    intake.reported(&[block(1), block(2)], &report(80, false));
    assert_eq!(intake.stats().pending_records, 80);
    assert_eq!(intake.stats().records, 80, "the executor's count");
    assert_eq!(intake.stats().errors, 2);
    assert!(
        !intake.all_allocated(),
        "blocks wait, and the receiver may send more"
    );
    let t = Time::from_millis(1000);
    assert_eq!(intake.allocate(t), 80);
    assert_eq!(intake.allocation_of(t).0.len(), 2);
    assert!(!intake.all_allocated(), "its executor has not finished");
    assert!(intake.awaiting_last_report());
    intake.reported(&[], &report(80, true));
    assert!(intake.all_allocated());
    assert!(!intake.awaiting_last_report());
    intake.batch_done(t);
    assert_eq!(intake.stats().pending_records, 0);
}

#[test]
fn a_hosted_intake_releases_its_pending_records_with_the_batch_that_takes_its_blocks() {
    let ctx = Context::local(2).unwrap();
    let intake = Intake::<Text>::new(StreamId(0), 1000, ctx, RateSettings::default());
    let mut st = intake.state.lock();
    st.pending = 30;
    st.cluster.unallocated.insert(7, 10);
    st.cluster.unallocated.insert(8, 20);
    drop(st);
    let ids = |seqs: &[u64]| -> Vec<InputBlockId> {
        seqs.iter()
            .map(|&seq| InputBlockId { stream: 0, seq })
            .collect()
    };
    let t = Time::from_millis(1000);
    intake.follow_allocation(t, ids(&[7, 99]), 10);
    intake.batch_done(t);
    assert_eq!(intake.stats().pending_records, 20);
    intake.follow_allocation(t + Duration::from_secs(1), ids(&[8]), 20);
    intake.release_through(t + Duration::from_secs(1));
    assert_eq!(intake.stats().pending_records, 0);
}
