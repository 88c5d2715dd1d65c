//! # spate-sql: exactly-once results in PostgreSQL and MySQL
//!
//! A [`Sink`] writes each batch of a stream into a table in **one transaction** that also
//! advances a progress row `(sink name, last batch time)` in `spate_sink_progress`. A batch
//! whose time is not after the stored one is skipped, so a batch that runs again after a crash
//! (a restarted driver replays the batches since its checkpoint) never doubles or loses a row,
//! and the table always holds a prefix of the batches. With a replayable source (file
//! streams, or receivers with the write-ahead log) the whole pipeline is exactly-once.
//!
//! The rows: [`OutputMode::Append`] inserts (PostgreSQL `COPY` for large batches),
//! [`OutputMode::Update`] upserts on the key columns, [`OutputMode::Complete`] replaces the
//! table's rows. The mapping from a record to its columns is a closure; the table (its DDL) is
//! yours:
//!
//! ```sql
//! CREATE TABLE word_counts (window_start BIGINT, window_end BIGINT, word TEXT, count BIGINT,
//!                           PRIMARY KEY (window_start, word));
//! ```
//!
//! ```no_run
//! use spate_sql::{Postgres, SaveToDatabase, Sink, Table};
//! use spate_streaming::{DStream, OutputMode, Window};
//! # fn counts() -> DStream<(Window, String, u64)> { unimplemented!() }
//! let counts: DStream<(Window, String, u64)> = counts(); // e.g. an event-time count_by_key
//! let db = Postgres::new("postgres://spate:secret@127.0.0.1:5432/spate")?;
//! let table = Table::new("word_counts", &["window_start", "window_end", "word", "count"])
//!     .key(&["window_start", "word"]);
//! counts.save_to_database(Sink::new("word_counts", db, table, OutputMode::Update, |(w, word, n): &(Window, String, u64)| {
//!     vec![w.start.into(), w.end.into(), word.as_str().into(), (*n).into()]
//! })?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Failures: an unreachable database is retried a few times (100 ms doubling, 5 attempts),
//! then the batch fails with [`Error::Unreachable`]; a refusal (wrong password, missing table)
//! is [`Error::Refused`] at once, with what to do. Either way the batch is not marked written:
//! the context stops with the batch's error, and a restart from the checkpoint writes it.

// Without a bundled driver (features `postgres`, `mysql`) the crate is the `Database` trait and
// `Sink` for a database of the application's own; the drivers' shared helpers go unused.
#![cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod connection;
mod error;
#[cfg(feature = "mysql")]
mod mysql;
mod offsets;
#[cfg(feature = "postgres")]
mod postgres;
mod statements;
#[cfg(feature = "postgres")]
mod tls;
mod value;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use spate_core::Data;
#[cfg(feature = "kafka")]
use spate_streaming::kafka::KafkaStream;
use spate_streaming::kafka::{OffsetRange, TopicPartition};
use spate_streaming::{DStream, OutputMode, Time};

pub use error::{Error, Result};

/// The client crates the bundled databases are built on, re-exported so that an application
/// (or a test) runs its own statements — its tables' DDL, checks — with the same versions.
///
/// # Examples
///
/// ```no_run
/// use spate_sql::drivers::postgres::{Client, NoTls};
/// let mut db = Client::connect("postgres://spate@127.0.0.1/spate", NoTls)?;
/// db.batch_execute("CREATE TABLE IF NOT EXISTS counts (word TEXT PRIMARY KEY, n BIGINT)")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod drivers {
    #[cfg(feature = "mysql")]
    pub use ::mysql;
    #[cfg(feature = "postgres")]
    pub use ::postgres;
}
#[cfg(feature = "mysql")]
pub use mysql::MySql;
#[cfg(feature = "postgres")]
pub use postgres::Postgres;
pub use value::Value;

/// The table a sink writes: its name, the columns a record maps to (in order), and the key
/// columns an Update upserts on.
///
/// # Examples
///
/// ```
/// use spate_sql::Table;
/// let t = Table::new("word_counts", &["window_start", "word", "count"]).key(&["window_start", "word"]);
/// assert_eq!(t.columns().len(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    name: String,
    columns: Vec<String>,
    key: Vec<String>,
}

impl Table {
    /// A table and the columns a record's values go to, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_sql::Table::new("t", &["a", "b"]).name(), "t");
    /// ```
    pub fn new(name: &str, columns: &[&str]) -> Table {
        Table {
            name: name.to_string(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            key: Vec::new(),
        }
    }

    /// The key columns (an Update upserts on them; the table needs a unique index on them).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = spate_sql::Table::new("t", &["k", "v"]).key(&["k"]);
    /// assert_eq!(t.key_columns(), ["k"]);
    /// ```
    pub fn key(mut self, columns: &[&str]) -> Table {
        self.key = columns.iter().map(|c| c.to_string()).collect();
        self
    }

    /// The table's name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_sql::Table::new("t", &["a"]).name(), "t");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The columns written, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(spate_sql::Table::new("t", &["a"]).columns(), ["a"]);
    /// ```
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The key columns.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_sql::Table::new("t", &["a"]).key_columns().is_empty());
    /// ```
    pub fn key_columns(&self) -> &[String] {
        &self.key
    }
}

/// One batch's write, as a [`Database`] receives it.
///
/// # Examples
///
/// ```
/// use spate_sql::{BatchWrite, Table, Value};
/// let table = Table::new("t", &["n"]);
/// let rows = vec![vec![Value::Int(1)]];
/// let w = BatchWrite { sink: "s", batch_time: 1000, table: &table, mode: spate_streaming::OutputMode::Append, rows: &rows, offsets: &[] };
/// assert_eq!(w.rows.len(), 1);
/// ```
#[derive(Debug)]
pub struct BatchWrite<'a> {
    /// The sink's name (its progress row).
    pub sink: &'a str,
    /// The batch time, ms.
    pub batch_time: i64,
    /// Where the rows go.
    pub table: &'a Table,
    /// How they are written.
    pub mode: OutputMode,
    /// The rows, one value per column.
    pub rows: &'a [Vec<Value>],
    /// The Kafka offset ranges the batch read, committed with the rows (empty unless the
    /// sink keeps offsets, [`Sink::keep_kafka_offsets`]): each range must start where the
    /// sink's stored offset is, and its end becomes the stored offset.
    pub offsets: &'a [OffsetRange],
}

/// What happened to a batch's write.
///
/// # Examples
///
/// ```
/// assert_ne!(spate_sql::Outcome::Written, spate_sql::Outcome::AlreadyWritten);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Written and committed with the batch's progress.
    Written,
    /// The progress row says this batch (or a later one) was committed already: nothing done.
    AlreadyWritten,
    /// No rows in Append or Update mode: nothing to write, the database is not asked (a re-run
    /// of an empty batch is a no-op anyway). Complete mode writes an empty table instead.
    Nothing,
}

/// A database a [`Sink`] writes to, one transaction per batch (a trait per database; spate
/// has [`Postgres`] and [`MySql`]).
///
/// # Examples
///
/// ```
/// use spate_sql::{BatchWrite, Database, Outcome, Result};
/// /// Accepts every batch and keeps nothing.
/// struct Nowhere;
/// impl Database for Nowhere {
///     fn write_batch(&self, _: &BatchWrite<'_>) -> Result<Outcome> { Ok(Outcome::Written) }
///     fn committed(&self, _: &str, _: &spate_sql::Table) -> Result<Option<i64>> { Ok(None) }
///     fn describe(&self) -> String { "nowhere".into() }
/// }
/// assert_eq!(Nowhere.describe(), "nowhere");
/// ```
pub trait Database: Send + Sync + 'static {
    /// In one transaction: unless the sink's progress is at or past `w.batch_time`, write the
    /// rows as `w.mode` says and set the progress to `w.batch_time`.
    fn write_batch(&self, w: &BatchWrite<'_>) -> Result<Outcome>;

    /// The last batch time the sink committed (`None`: never).
    fn committed(&self, sink: &str, table: &Table) -> Result<Option<i64>>;

    /// The database, for messages (never its password).
    fn describe(&self) -> String;

    /// The next Kafka offset of each partition the sink committed with its rows (empty:
    /// none yet). A database that cannot keep offsets says so.
    fn committed_offsets(
        &self,
        sink: &str,
        _table: &Table,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        Err(Error::Invalid {
            sink: sink.to_string(),
            reason: format!("{} does not keep Kafka offsets", self.describe()),
        })
    }
}

/// A stream's rows into a table of a [`Database`], exactly once per batch.
///
/// # Examples
///
/// ```
/// use spate_sql::{MySql, Sink, Table};
/// let db = MySql::new("mysql://spate:secret@127.0.0.1:3306/spate").unwrap(); // connects on first write
/// let sink = Sink::new("totals", db, Table::new("totals", &["word", "n"]).key(&["word"]),
///     spate_streaming::OutputMode::Update, |(w, n): &(String, u64)| vec![w.as_str().into(), (*n).into()]).unwrap();
/// assert_eq!(sink.name(), "totals");
/// ```
pub struct Sink<T> {
    name: String,
    table: Table,
    mode: OutputMode,
    row: Arc<dyn Fn(&T) -> Vec<Value> + Send + Sync>,
    db: Arc<dyn Database>,
    /// The batch's Kafka ranges, kept in the rows' transaction (see `keep_kafka_offsets`).
    offsets: Option<OffsetsOf>,
}

/// Looks up the Kafka offset ranges a batch read (`None`: not known here).
type OffsetsOf = Arc<dyn Fn(Time) -> Option<Vec<OffsetRange>> + Send + Sync>;

impl<T: Data> Sink<T> {
    /// A sink named `name` (its progress row; unique per table and job) writing `table` of
    /// `db` as `mode` says, each record mapped to its columns by `row`.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_sql::{Postgres, Sink, Table};
    /// let db = Postgres::new("postgres://u:p@127.0.0.1:5432/db").unwrap();
    /// let err = Sink::new("s", db, Table::new("t", &["a"]), spate_streaming::OutputMode::Update, |x: &i64| vec![(*x).into()]).err().unwrap();
    /// assert!(err.to_string().contains("key columns"), "{err}");
    /// ```
    pub fn new(
        name: &str,
        db: impl Database,
        table: Table,
        mode: OutputMode,
        row: impl Fn(&T) -> Vec<Value> + Send + Sync + 'static,
    ) -> Result<Sink<T>> {
        let invalid = |reason: String| Error::Invalid {
            sink: name.to_string(),
            reason,
        };
        if name.is_empty() || name.len() > 255 {
            return Err(invalid("a sink needs a name of 1 to 255 bytes".into()));
        }
        if table.columns.is_empty() {
            return Err(invalid(format!(
                "table {} has no columns to write",
                table.name
            )));
        }
        if let Some(k) = table.key.iter().find(|k| !table.columns.contains(k)) {
            return Err(invalid(format!(
                "key column {k} is not among the columns {:?}",
                table.columns
            )));
        }
        if mode == OutputMode::Update && table.key.is_empty() {
            return Err(invalid(
                "Update mode upserts on key columns: name them with Table::key(..)".into(),
            ));
        }
        Ok(Sink {
            name: name.to_string(),
            table,
            mode,
            row: Arc::new(row),
            db: Arc::new(db),
            offsets: None,
        })
    }

    /// The sink's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use spate_sql::{Postgres, Sink, Table};
    /// let s = Sink::new("n", Postgres::new("postgres://u@127.0.0.1/db").unwrap(), Table::new("t", &["a"]), spate_streaming::OutputMode::Append, |x: &i64| vec![(*x).into()]).unwrap();
    /// assert_eq!(s.name(), "n");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes batch `batch_time`'s records (see [`Database::write_batch`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use spate_sql::{Outcome, Postgres, Sink, Table};
    /// let s = Sink::new("n", Postgres::new("postgres://u@127.0.0.1/db")?, Table::new("t", &["a"]), spate_streaming::OutputMode::Append, |x: &i64| vec![(*x).into()])?;
    /// assert_eq!(s.write(1000, &[1, 2, 3])?, Outcome::Written);
    /// assert_eq!(s.write(1000, &[1, 2, 3])?, Outcome::AlreadyWritten);
    /// # Ok::<(), spate_sql::Error>(())
    /// ```
    pub fn write(&self, batch_time: i64, records: &[T]) -> Result<Outcome> {
        let offsets = match &self.offsets {
            Some(ranges_of) => ranges_of(Time::from_millis(batch_time)).ok_or_else(|| Error::Invalid {
                    sink: self.name.clone(),
                    reason: format!(
                        "the Kafka offsets of the batch of {batch_time} ms are not known: write a batch of the stream the sink keeps offsets of, from its own output operation"
                    ),
                })?,
            None => Vec::new(),
        };
        if records.is_empty()
            && self.mode != OutputMode::Complete
            && offsets.iter().all(|r| r.count() == 0)
        {
            return Ok(Outcome::Nothing);
        }
        let rows: Vec<Vec<Value>> = records.iter().map(|r| (self.row)(r)).collect();
        if let Some(bad) = rows.iter().find(|r| r.len() != self.table.columns.len()) {
            return Err(Error::Invalid {
                sink: self.name.clone(),
                reason: format!(
                    "the row mapping gave {} values for the {} columns {:?}",
                    bad.len(),
                    self.table.columns.len(),
                    self.table.columns
                ),
            });
        }
        self.db.write_batch(&BatchWrite {
            sink: &self.name,
            batch_time,
            table: &self.table,
            mode: self.mode,
            rows: &rows,
            offsets: &offsets,
        })
    }

    /// Commits the Kafka offset ranges each batch of `stream` read in the same transaction
    /// as the batch's rows (table `spate_kafka_offsets`): the rows and the position never
    /// disagree. Start the stream from [`Sink::committed_kafka_offsets`] and the job is
    /// exactly-once end to end, after any crash, with or without a checkpoint. A batch that
    /// does not start where the stored offsets end is refused ([`Error::OffsetsBreak`]: two
    /// jobs writing one sink, or a stream not started from the stored offsets).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use spate_sql::{Postgres, SaveToDatabase, Sink, Table};
    /// use spate_streaming::{OutputMode, StreamingContext};
    /// use spate_streaming::kafka::KafkaParams;
    /// let ssc = StreamingContext::new(spate_core::Conf::from_env(), std::time::Duration::from_secs(1))?;
    /// let db = Postgres::new("postgres://spate@127.0.0.1/spate")?;
    /// let table = Table::new("word_counts", &["word", "count"]).key(&["word"]);
    /// let sink = Sink::new("counts", db, table, OutputMode::Update, |(w, n): &(String, i64)| vec![w.as_str().into(), (*n).into()])?;
    /// let start = sink.committed_kafka_offsets()?;
    /// let events = ssc.kafka_direct_stream(KafkaParams::new("127.0.0.1:9092").from_offsets(start), &["events"])?;
    /// let sink = sink.keep_kafka_offsets(&events);
    /// events.flat_map(|r| r.text().split(' ')).map(|w| (w.to_string(), 1i64)).reduce_by_key(|a, b| a + b)
    ///     .save_to_database(sink)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "kafka")]
    pub fn keep_kafka_offsets(mut self, stream: &KafkaStream) -> Sink<T> {
        let stream = stream.clone();
        self.offsets = Some(Arc::new(move |time| stream.offset_ranges(time)));
        self
    }

    /// The next offset of each Kafka partition this sink committed (empty: none yet) — where
    /// a job that keeps offsets in the database starts ([`spate_streaming::kafka::KafkaParams::from_offsets`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use spate_sql::{Postgres, Sink, Table};
    /// let s = Sink::new("n", Postgres::new("postgres://u@127.0.0.1/db")?, Table::new("t", &["a"]), spate_streaming::OutputMode::Append, |x: &i64| vec![(*x).into()])?;
    /// println!("{:?}", s.committed_kafka_offsets()?);
    /// # Ok::<(), spate_sql::Error>(())
    /// ```
    pub fn committed_kafka_offsets(&self) -> Result<BTreeMap<TopicPartition, i64>> {
        self.db.committed_offsets(&self.name, &self.table)
    }

    /// The last batch time this sink committed (`None`: never) — where a job that keeps its
    /// position in the database resumes.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use spate_sql::{Postgres, Sink, Table};
    /// let s = Sink::new("n", Postgres::new("postgres://u@127.0.0.1/db")?, Table::new("t", &["a"]), spate_streaming::OutputMode::Append, |x: &i64| vec![(*x).into()])?;
    /// println!("{:?}", s.committed()?);
    /// # Ok::<(), spate_sql::Error>(())
    /// ```
    pub fn committed(&self) -> Result<Option<i64>> {
        self.db.committed(&self.name, &self.table)
    }
}

/// Writes a stream into a database, one transaction per batch ([`Sink`]).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use spate_core::Conf;
/// use spate_sql::{Postgres, SaveToDatabase, Sink, Table};
/// use spate_streaming::{OutputMode, StreamingContext};
/// let ssc = StreamingContext::new(Conf::from_env(), Duration::from_secs(1))?;
/// let words = ssc.text_file_stream("/tmp/in").flat_map(|l| l.split(' ')).map(|w| w.to_string());
/// let db = Postgres::new("postgres://spate@127.0.0.1/spate")?;
/// words.save_to_database(Sink::new("words", db, Table::new("words", &["word"]), OutputMode::Append, |w: &String| vec![w.as_str().into()])?)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait SaveToDatabase<T> {
    /// An output operation: every batch's records go through `sink` (collected to the driver,
    /// written there; executors of a cluster application only follow).
    fn save_to_database(&self, sink: Sink<T>) -> spate_streaming::Result<()>;
}

impl<T: Data> SaveToDatabase<T> for DStream<T> {
    fn save_to_database(&self, sink: Sink<T>) -> spate_streaming::Result<()> {
        let sink = Arc::new(sink);
        self.foreach_rdd(move |rdd, time| {
            // Only the driver writes: executors are not sent the batch's rows.
            let Some(records) = rdd.collect_on_driver()? else {
                return Ok(());
            };
            match sink.write(time.millis(), &records) {
                Ok(Outcome::Written | Outcome::Nothing) => Ok(()),
                Ok(Outcome::AlreadyWritten) => {
                    tracing::info!(
                        "sink {:?}: the batch of {time} was committed before; not written again",
                        sink.name
                    );
                    Ok(())
                }
                Err(e) => Err(spate_core::Error::Output(Box::new(e))),
            }
        })
    }
}

/// Why one attempt failed.
pub(crate) enum Failure {
    /// Connection-level: reconnect and try again.
    Transient(String),
    /// The database said no: report it.
    Refused(error::RefusalClass, String),
}

/// Backoff before each retry of a transient failure (5 attempts in all, ~1.5 s).
const BACKOFF: [Duration; 4] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
];

/// Runs `attempt` on a connection (made with `connect` when there is none), reconnecting and
/// retrying transient failures; a connection that failed is dropped.
pub(crate) fn with_retries<C, R>(
    sink: &str,
    table: &Table,
    database: &str,
    conn: &Mutex<Option<C>>,
    connect: impl Fn() -> std::result::Result<C, Failure>,
    mut attempt: impl FnMut(&mut C) -> std::result::Result<R, Failure>,
) -> Result<R> {
    let mut conn = conn.lock();
    let mut tries = 0u32;
    loop {
        tries += 1;
        let result = match conn.as_mut() {
            Some(c) => attempt(c),
            None => connect().and_then(|mut c| {
                let r = attempt(&mut c);
                *conn = Some(c);
                r
            }),
        };
        match result {
            Ok(r) => return Ok(r),
            Err(Failure::Refused(class, reason)) => {
                return Err(Error::Refused {
                    sink: sink.to_string(),
                    database: database.to_string(),
                    reason,
                    hint: error::hint_for(class, &table.name),
                });
            }
            Err(Failure::Transient(reason)) => {
                *conn = None;
                let Some(wait) = BACKOFF.get(tries as usize - 1) else {
                    return Err(Error::Unreachable {
                        sink: sink.to_string(),
                        database: database.to_string(),
                        attempts: tries,
                        reason,
                    });
                };
                tracing::warn!(
                    "sink {sink:?}: {database}: {reason}; retrying in {wait:?} (attempt {tries})"
                );
                std::thread::sleep(*wait);
            }
        }
    }
}
