//! The status page's cost to serve: `GET /` (the index page: summary, timelines and
//! histograms, receivers, checkpoint, the batch tables) with 1,000 batches retained, over one
//! keep-alive HTTP/1.1 connection on loopback, as a browser's reload would.

#![allow(missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use spate_core::{Conf, Context};
use spate_streaming::testing::BatchCounter;
use spate_streaming::{ManualClock, RddQueue, StopOptions, StreamingContext, Time};

/// One GET on `conn`; the body's length.
fn get(conn: &mut BufReader<TcpStream>, host: &str, path: &str) -> usize {
    write!(
        conn.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n"
    )
    .unwrap();
    let mut length = None;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length.expect("a Content-Length")];
    conn.read_exact(&mut body).unwrap();
    body.len()
}

fn index_page(c: &mut Criterion) {
    let conf = Conf::new()
        .set_master("local[2]")
        .set("spate.ui.port", "0")
        .set("spate.streaming.stopGracefullyOnShutdown", "false");
    let ctx = Context::new(conf).unwrap();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::with_clock(ctx.clone(), Duration::from_millis(100), clock.clone())
        .unwrap();
    let one = ctx.parallelize(vec![1u8], 1);
    ssc.queue_stream(RddQueue::new(), true, Some(one))
        .foreach_rdd(|rdd, _| rdd.count().map(drop))
        .unwrap();
    let done = Arc::new(BatchCounter::default());
    ssc.add_streaming_listener(done.clone());
    ssc.start().unwrap();
    for n in 1..=1000 {
        clock.advance(Duration::from_millis(100));
        done.wait(n);
    }
    let url = ssc.ui_url().expect("the UI is on");
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut conn = BufReader::new(TcpStream::connect(&host).unwrap());
    assert!(get(&mut conn, &host, "/") > 10_000);
    c.bench_function("ui_index_page_1000_batches", |b| {
        b.iter(|| get(&mut conn, &host, "/"))
    });
    ssc.stop(StopOptions::default()).unwrap();
}

criterion_group!(benches, index_page);
criterion_main!(benches);
