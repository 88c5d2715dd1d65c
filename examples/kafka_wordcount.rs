//! A word count from Kafka, written to PostgreSQL exactly once: Spark's
//! DirectKafkaWordCount, with the offsets kept in the results' transaction.
//!
//! ```text
//! spate-submit --master 'local[2]' --example kafka_wordcount 127.0.0.1:9092 events \
//!     postgres://spate:secret@127.0.0.1:5432/spate [batch-ms]
//! ```
//!
//! Every batch (1 s unless `batch-ms` says otherwise) counts the words of the records of
//! `<topic>` produced since the previous one and appends `(word, n)` rows to table
//! `kafka_word_counts`, which you create:
//!
//! ```sql
//! CREATE TABLE kafka_word_counts (word TEXT NOT NULL, n BIGINT NOT NULL);
//! ```
//!
//! The rows and the batch's offset ranges commit in one transaction (`Sink::keep_kafka_offsets`),
//! and the stream starts from the offsets the database holds (`Sink::committed_kafka_offsets`;
//! partitions it does not hold yet start at their earliest record). Kill it with `kill -9`
//! anywhere and start it again: `SELECT word, SUM(n) FROM kafka_word_counts GROUP BY word`
//! counts every record exactly once. No checkpoint directory is needed.

use std::process::ExitCode;
use std::time::Duration;

use spate::prelude::*;
use spate::sql::{Postgres, SaveToDatabase, Sink, Table};
use spate::streaming::OutputMode;
use spate::streaming::kafka::{KafkaParams, StartingOffsets};

fn main() -> ExitCode {
    spate::init_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "Usage: kafka_wordcount <brokers> <topic> <postgres-url> [batch-ms]";
    let (brokers, topic, url, batch_ms) = match args.as_slice() {
        [b, t, u] => (b, t, u, 1000),
        [b, t, u, ms] => match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => (b, t, u, ms),
            _ => {
                eprintln!(
                    "kafka_wordcount: batch-ms {ms:?} is not a positive number of milliseconds\n{usage}"
                );
                return ExitCode::from(1);
            }
        },
        _ => {
            eprintln!("kafka_wordcount: expected three or four arguments\n{usage}");
            return ExitCode::from(1);
        }
    };
    match run(brokers, topic, url, Duration::from_millis(batch_ms)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafka_wordcount: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(
    brokers: &str,
    topic: &str,
    url: &str,
    interval: Duration,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let conf = Conf::from_env().set_app_name("KafkaWordCount");
    let ssc = StreamingContext::new(conf, interval)?;
    let sink = Sink::new(
        "kafka_word_counts",
        Postgres::new(url)?,
        Table::new("kafka_word_counts", &["word", "n"]),
        OutputMode::Append,
        |(w, n): &(String, i64)| vec![w.as_str().into(), (*n).into()],
    )?;
    let params = KafkaParams::new(brokers)
        .starting_offsets(StartingOffsets::Earliest)
        .from_offsets(sink.committed_kafka_offsets()?);
    let events = ssc.kafka_direct_stream(params, &[topic])?;
    let sink = sink.keep_kafka_offsets(&events);
    events
        .flat_map(|r| r.text().split(' '))
        .filter(|w| !w.is_empty())
        .map(|w| (w.to_string(), 1i64))
        .reduce_by_key(|a, b| a + b)
        .save_to_database(sink)?;
    ssc.start()?;
    ssc.await_termination()?;
    Ok(())
}
