//! Exactly-once database sinks against real servers (PostgreSQL and MariaDB, started by the
//! tests): every output mode, batches written once however often they run, typed errors for
//! an unreachable server, a wrong password and a missing table, and an event-time word count
//! killed with SIGKILL at random points that ends with exact counts.

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use spate::prelude::*;
use spate::sql::drivers::mysql::prelude::Queryable;
use spate::sql::{Database, MySql, Outcome, Postgres, Sink, Table};
use support::databases::{MariaDb, PgServer, TestPki};
use support::{Reaped, example_path, move_in, sigterm, wait_exit, wait_for};

const DDL: &str =
    "CREATE TABLE counts (word VARCHAR(64) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (word))";

fn counts_table() -> Table {
    Table::new("counts", &["word", "n"]).key(&["word"])
}

fn sink(db: impl Database, name: &str, mode: OutputMode) -> Sink<(String, u64)> {
    Sink::new(name, db, counts_table(), mode, |(w, n): &(String, u64)| {
        vec![w.as_str().into(), (*n).into()]
    })
    .unwrap()
}

fn rows(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(w, n)| (w.to_string(), *n)).collect()
}

/// Every mode against one database; `table` reads the counts table back, sorted.
fn modes_write_each_batch_once(
    db: impl Fn() -> Box<dyn Database>,
    table: impl Fn() -> Vec<(String, u64)>,
    reset: impl Fn(),
) {
    // Append: a batch written twice (a re-run after a crash) lands once; older ones are no-ops.
    let append = sink(BoxedDb(db()), "append", OutputMode::Append);
    assert_eq!(append.committed().unwrap(), None);
    assert_eq!(
        append.write(1000, &rows(&[("a", 1), ("b", 2)])).unwrap(),
        Outcome::Written
    );
    assert_eq!(
        append.write(1000, &rows(&[("a", 1), ("b", 2)])).unwrap(),
        Outcome::AlreadyWritten
    );
    assert_eq!(
        append.write(500, &rows(&[("z", 9)])).unwrap(),
        Outcome::AlreadyWritten
    );
    assert_eq!(
        append.write(2000, &rows(&[("c", 3)])).unwrap(),
        Outcome::Written
    );
    assert_eq!(table(), rows(&[("a", 1), ("b", 2), ("c", 3)]));
    assert_eq!(append.committed().unwrap(), Some(2000));
    reset();
    // A large batch (PostgreSQL appends it with COPY): every row, once.
    let many: Vec<(String, u64)> = (0..5000).map(|i| (format!("w{i:05}\ttab"), i)).collect();
    assert_eq!(append.write(3000, &many).unwrap(), Outcome::Written);
    assert_eq!(append.write(3000, &many).unwrap(), Outcome::AlreadyWritten);
    let mut sorted = many.clone();
    sorted.sort();
    assert_eq!(table(), sorted);
    reset();
    // Update: upserts on the key; its own progress row.
    let update = sink(BoxedDb(db()), "update", OutputMode::Update);
    update.write(1000, &rows(&[("a", 1), ("b", 1)])).unwrap();
    update.write(2000, &rows(&[("b", 5), ("c", 1)])).unwrap();
    assert_eq!(
        update.write(2000, &rows(&[("b", 99)])).unwrap(),
        Outcome::AlreadyWritten
    );
    assert_eq!(table(), rows(&[("a", 1), ("b", 5), ("c", 1)]));
    // Complete: the table is the batch's table.
    let complete = sink(BoxedDb(db()), "complete", OutputMode::Complete);
    complete.write(1000, &rows(&[("x", 7)])).unwrap();
    assert_eq!(table(), rows(&[("x", 7)]));
    complete.write(2000, &rows(&[("x", 8), ("y", 1)])).unwrap();
    assert_eq!(table(), rows(&[("x", 8), ("y", 1)]));
    reset();
    offsets_commit_with_the_rows(&*db(), &table);
}

/// Kafka offsets in the rows' transaction: stored with them, a batch that does not continue
/// them refused (nothing written), one that is already in skipped.
fn offsets_commit_with_the_rows(db: &dyn Database, table: &dyn Fn() -> Vec<(String, u64)>) {
    use spate::sql::BatchWrite;
    use spate::streaming::kafka::{OffsetRange, TopicPartition};
    let t = counts_table();
    let write = |time: i64, word: &str, offsets: &[OffsetRange]| {
        let rows = vec![vec![word.into(), 1i64.into()]];
        db.write_batch(&BatchWrite {
            sink: "kafka",
            batch_time: time,
            table: &t,
            mode: OutputMode::Append,
            rows: &rows,
            offsets,
        })
    };
    let range = |p, from, until| OffsetRange::new("events", p, from, until);
    assert!(db.committed_offsets("kafka", &t).unwrap().is_empty());
    assert_eq!(
        write(1000, "a", &[range(0, 0, 10)]).unwrap(),
        Outcome::Written
    );
    assert_eq!(
        db.committed_offsets("kafka", &t).unwrap(),
        BTreeMap::from([(TopicPartition::new("events", 0), 10)])
    );
    // Overlapping what is committed: refused, nothing written.
    let err = write(2000, "b", &[range(0, 5, 15)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("events-0 [5, 15)") && err.contains("from_offsets"),
        "{err}"
    );
    // Already committed under another batch time (a stream restarted without the database's
    // offsets): skipped.
    assert_eq!(
        write(2000, "c", &[range(0, 0, 10)]).unwrap(),
        Outcome::AlreadyWritten
    );
    assert_eq!(
        write(3000, "d", &[range(0, 10, 20), range(1, 0, 3)]).unwrap(),
        Outcome::Written
    );
    assert_eq!(
        db.committed_offsets("kafka", &t).unwrap(),
        BTreeMap::from([
            (TopicPartition::new("events", 0), 20),
            (TopicPartition::new("events", 1), 3)
        ])
    );
    assert_eq!(table(), rows(&[("a", 1), ("d", 1)]));
}

#[test]
fn postgres_sink_writes_each_batch_once_in_every_mode() {
    let pg = PgServer::start();
    pg.client().batch_execute(DDL).unwrap();
    let read = || {
        pg.client()
            .query("SELECT word, n FROM counts ORDER BY word", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
            .collect()
    };
    modes_write_each_batch_once(
        || Box::new(Postgres::new(&pg.url()).unwrap()),
        read,
        || pg.client().batch_execute("DELETE FROM counts").unwrap(),
    );
}

#[test]
fn mariadb_sink_writes_each_batch_once_in_every_mode() {
    let db = MariaDb::start();
    db.client().query_drop(DDL).unwrap();
    let read = || {
        db.client()
            .query_map(
                "SELECT word, n FROM counts ORDER BY word",
                |(w, n): (String, i64)| (w, n as u64),
            )
            .unwrap()
    };
    modes_write_each_batch_once(
        || Box::new(MySql::new(&db.url()).unwrap()),
        read,
        || db.client().query_drop("DELETE FROM counts").unwrap(),
    );
}

/// Unreachable, wrong password, missing table: typed errors that name the sink and say what
/// to do; nothing is marked written.
fn failures_are_clear(
    url_for: impl Fn(&str, u16) -> String,
    port: u16,
    db: impl Fn(&str) -> Box<dyn Database>,
) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().port();
    drop(closed);
    let write = |url: &str, table: &str| {
        let s = Sink::new(
            "probe",
            BoxedDb(db(url)),
            Table::new(table, &["word", "n"]).key(&["word"]),
            OutputMode::Append,
            |(w, n): &(String, u64)| vec![w.as_str().into(), (*n).into()],
        )
        .unwrap();
        s.write(1000, &rows(&[("a", 1)])).unwrap_err().to_string()
    };
    let e = write(&url_for("secret", dead), "counts");
    assert!(
        e.contains("\"probe\"") && e.contains("cannot reach") && e.contains("nothing is lost"),
        "{e}"
    );
    let e = write(&url_for("wrong", port), "counts");
    assert!(e.contains("refused") && e.contains("password"), "{e}");
    let e = write(&url_for("secret", port), "no_such_table");
    assert!(
        e.contains("no_such_table") && e.contains("Create the table"),
        "{e}"
    );
}

/// A boxed database, as a `Database` (so one test body serves both).
struct BoxedDb(Box<dyn Database>);

impl Database for BoxedDb {
    fn write_batch(&self, w: &spate::sql::BatchWrite<'_>) -> spate::sql::Result<Outcome> {
        self.0.write_batch(w)
    }
    fn committed(&self, s: &str, t: &Table) -> spate::sql::Result<Option<i64>> {
        self.0.committed(s, t)
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn committed_offsets(
        &self,
        s: &str,
        t: &Table,
    ) -> spate::sql::Result<BTreeMap<spate::streaming::kafka::TopicPartition, i64>> {
        self.0.committed_offsets(s, t)
    }
}

#[test]
fn postgres_failures_are_typed_errors_that_say_what_to_do() {
    let pg = PgServer::start();
    failures_are_clear(
        |pw, port| format!("postgres://spate:{pw}@127.0.0.1:{port}/postgres"),
        pg.port,
        |url| Box::new(Postgres::new(url).unwrap()),
    );
}

#[test]
fn mariadb_failures_are_typed_errors_that_say_what_to_do() {
    let db = MariaDb::start();
    failures_are_clear(
        |pw, port| format!("mysql://spate:{pw}@127.0.0.1:{port}/spate"),
        db.port,
        |url| Box::new(MySql::new(url).unwrap()),
    );
}

/// Issue 30, finding 13: the sinks reach servers over TLS, checking their certificate against
/// the CA; a server that takes TLS only refuses plain text; another CA is refused, saying why.
fn tls_sinks_check_the_server(
    db: impl Fn(&str) -> Box<dyn Database>,
    verified: &str,
    plain: &str,
    other_ca: &str,
    ddl: impl FnOnce(),
) {
    ddl();
    let s = sink(BoxedDb(db(verified)), "tls", OutputMode::Append);
    assert_eq!(s.write(1000, &rows(&[("a", 1)])).unwrap(), Outcome::Written);
    assert_eq!(s.committed().unwrap(), Some(1000));
    let e = sink(BoxedDb(db(plain)), "plain", OutputMode::Append)
        .write(1000, &rows(&[("b", 1)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"plain\""), "{e}");
    let e = sink(BoxedDb(db(other_ca)), "other", OutputMode::Append)
        .write(1000, &rows(&[("c", 1)]))
        .unwrap_err()
        .to_string();
    assert!(
        e.to_lowercase().contains("certificate") && e.contains("Check the server's certificate"),
        "{e}"
    );
    assert!(!e.contains("secret"), "the password is never echoed: {e}");
}

#[test]
fn postgres_sink_over_tls_checks_the_server_certificate() {
    let pki = TestPki::new();
    let pg = PgServer::start_tls(&pki);
    let base = format!("postgres://spate:secret@127.0.0.1:{}/postgres", pg.port);
    tls_sinks_check_the_server(
        |url| Box::new(Postgres::new(url).unwrap()),
        &format!(
            "{base}?sslmode=verify-full&sslrootcert={}",
            pki.ca.display()
        ),
        &format!("{base}?sslmode=disable"),
        &format!(
            "{base}?sslmode=verify-ca&sslrootcert={}",
            pki.other_ca.display()
        ),
        || {
            // psql over TLS (libpq, the same URL form): the table, and proof of encryption.
            let psql = |sql: &str| {
                let out = std::process::Command::new("psql")
                    .arg(format!("{base}?sslmode=require"))
                    .args(["-tA", "-c", sql])
                    .output()
                    .expect("psql (postgresql-client) is needed");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            };
            psql(DDL);
            assert_eq!(
                psql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
                "t"
            );
        },
    );
}

#[test]
fn mariadb_sink_over_tls_checks_the_server_certificate() {
    let pki = TestPki::new();
    let db = MariaDb::start_tls(&pki);
    let base = format!("mysql://spate:secret@127.0.0.1:{}/spate", db.port);
    let verified = format!("{base}?root_cert_path={}", pki.ca.display());
    tls_sinks_check_the_server(
        |url| Box::new(MySql::new(url).unwrap()),
        &verified,
        &base,
        &format!("{base}?root_cert_path={}", pki.other_ca.display()),
        || {
            use spate::sql::drivers::mysql::{Conn, Opts};
            let mut c = Conn::new(Opts::from_url(&verified).unwrap()).unwrap();
            c.query_drop(DDL).unwrap();
            let cipher: Option<(String, String)> = c
                .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
                .unwrap();
            assert!(cipher.is_some_and(|(_, v)| !v.is_empty()), "not over TLS");
        },
    );
}

const WORD_COUNTS: &str = "CREATE TABLE word_counts (window_start BIGINT, window_end BIGINT, word TEXT, count BIGINT, PRIMARY KEY (window_start, word))";

fn word_counts(pg: &PgServer) -> BTreeMap<(i64, String), u64> {
    pg.client()
        .query("SELECT window_start, word, count FROM word_counts", &[])
        .unwrap()
        .iter()
        .map(|r| {
            (
                (r.get::<_, i64>(0), r.get::<_, String>(1)),
                r.get::<_, i64>(2) as u64,
            )
        })
        .collect()
}

#[test]
fn event_time_wordcount_into_postgres_survives_kill_9_with_exact_counts() {
    let pg = PgServer::start();
    pg.client().batch_execute(WORD_COUNTS).unwrap();
    let seed: u64 = rand::random();
    eprintln!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let root = tempfile::tempdir().unwrap();
    let (input, ck) = (root.path().join("in"), root.path().join("ck"));
    std::fs::create_dir_all(&input).unwrap();
    let args = [
        input.display().to_string(),
        pg.url(),
        ck.display().to_string(),
    ];
    let start = || {
        Reaped(
            Command::new(example_path("event_time_wordcount"))
                .args(&args)
                .env("SPATE_MASTER", "local[2]")
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let mut app = start();
    // Files already there when a file stream is first created are not its input.
    assert!(wait_for(30, || ck
        .join("metadata")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some())));
    // Event times within the first 4 minutes: with a 10-minute watermark nothing is late, and
    // every word falls in the windows starting at -5 and 0 minutes.
    let feeder = {
        let input = input.clone();
        let mut rng = StdRng::seed_from_u64(seed ^ 1);
        thread::spawn(move || {
            let words = ["alpha", "beta", "gamma", "delta"];
            let mut expected: BTreeMap<String, u64> = BTreeMap::new();
            for i in 0..30 {
                let mut text = String::new();
                for _ in 0..rng.random_range(1..4) {
                    let ms: i64 = rng.random_range(0..240_000);
                    let line: Vec<&str> = (0..rng.random_range(1..5))
                        .map(|_| words[rng.random_range(0..words.len())])
                        .collect();
                    for w in &line {
                        *expected.entry(w.to_string()).or_default() += 1;
                    }
                    text.push_str(&format!("{ms} {}\n", line.join(" ")));
                }
                move_in(&input, &format!("f{i:03}.txt"), &text);
                thread::sleep(Duration::from_millis(120));
            }
            expected
        })
    };
    for run in 0..4 {
        if run > 0 {
            app = start();
        }
        thread::sleep(Duration::from_millis(rng.random_range(300..2000)));
        app.0.kill().unwrap(); // SIGKILL: between any two steps, commits and checkpoints included
        app.0.wait().unwrap();
    }
    let expected = feeder.join().unwrap();
    let want: BTreeMap<(i64, String), u64> = expected
        .iter()
        .flat_map(|(w, n)| [((-300_000, w.clone()), *n), ((0, w.clone()), *n)])
        .collect();
    let mut app = start();
    let exact = wait_for(60, || word_counts(&pg) == want);
    sigterm(&app.0);
    let status = wait_exit(&mut app.0, 60);
    assert!(exact, "seed {seed}: {:?} != {want:?}", word_counts(&pg));
    assert!(status.success(), "{status:?}");
}

/// Words of the files moved into `input`, counted per batch and appended to `seen`.
fn counting_program(
    input: &std::path::Path,
    url: &str,
    clock: std::sync::Arc<spate::streaming::ManualClock>,
) -> Result<StreamingContext> {
    use spate::sql::SaveToDatabase;
    let conf = Conf::new()
        .set_master("local[2]")
        .set("spate.streaming.stopGracefullyOnShutdown", "false");
    let ssc = StreamingContext::with_clock(Context::new(conf)?, Duration::from_secs(1), clock)?;
    let sink = Sink::new(
        "seen",
        Postgres::new(url).unwrap(),
        Table::new("seen", &["word", "n"]),
        OutputMode::Append,
        |(w, n): &(String, u64)| vec![w.as_str().into(), (*n).into()],
    )
    .unwrap();
    ssc.text_file_stream(input)
        .flat_map(|l| l.split(' '))
        .map(|w| (w.to_string(), 1u64))
        .reduce_by_key(|a, b| a + b)
        .save_to_database(sink)?;
    Ok(ssc)
}

#[test]
fn a_batch_that_failed_on_a_dead_database_or_ran_after_its_commit_is_written_exactly_once() {
    use spate::streaming::ManualClock;
    use std::sync::Arc;
    let pg = PgServer::start();
    pg.client()
        .batch_execute("CREATE TABLE seen (word TEXT NOT NULL, n BIGINT NOT NULL)")
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let (ck, input) = (root.path().join("ck"), root.path().join("in"));
    std::fs::create_dir_all(&input).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!(
        "postgres://spate:secret@127.0.0.1:{}/postgres",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let seen = || -> Vec<(String, i64)> {
        pg.client()
            .query("SELECT word, n FROM seen ORDER BY word", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    };
    let want = vec![("a".to_string(), 2), ("b".to_string(), 1)];

    // The database is down: the batch fails naming the sink; nothing is marked written.
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc =
        StreamingContext::get_or_create(&ck, || counting_program(&input, &dead, clock.clone()))
            .unwrap();
    ssc.start().unwrap();
    // Files there before the first batch are not input; an empty batch writes nothing.
    clock.advance(Duration::from_secs(1));
    assert!(wait_for(30, || ck
        .join("metadata")
        .read_dir()
        .is_ok_and(|d| d.count() >= 2)));
    move_in(&input, "1.txt", "a b a\n");
    clock.advance(Duration::from_secs(1));
    let err = match ssc.await_termination_timeout(Duration::from_secs(60)) {
        Err(e) => e.to_string(),
        Ok(stopped) => panic!("the batch did not fail (stopped: {stopped})"),
    };
    assert!(
        err.contains("2000 ms") && err.contains("\"seen\"") && err.contains("cannot reach"),
        "{err}"
    );
    let _ = ssc.stop(StopOptions::default());

    // Up again: the restart re-runs the failed batch from the checkpoint and writes it.
    let rerun = |clock: Arc<ManualClock>| {
        let ssc = StreamingContext::get_or_create(&ck, || {
            counting_program(&input, &pg.url(), clock.clone())
        })
        .unwrap();
        ssc.start().unwrap();
        ssc
    };
    let ssc = rerun(Arc::new(ManualClock::new(Time::from_millis(2000))));
    let ok = wait_for(30, || seen() == want);

    assert!(ok, "{:?}", seen());
    ssc.stop(StopOptions::default()).unwrap();

    // Killed after the commit, before the metadata said the batch was done: the newest
    // metadata files (the batch's completion) are gone, so the restart runs it again, and
    // the database's progress row makes that a no-op.
    let metadata = ck.join("metadata");
    let mut files: Vec<_> = std::fs::read_dir(&metadata)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let completed = files.len() - 1;
    std::fs::remove_file(&files[completed]).unwrap();
    let ssc = rerun(Arc::new(ManualClock::new(Time::from_millis(2000))));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    struct Done(Arc<std::sync::atomic::AtomicBool>);
    impl StreamingListener for Done {
        fn on_batch_completed(&self, info: &BatchInfo) {
            if info.batch_time.millis() == 2000 && info.succeeded {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }
    ssc.add_streaming_listener(Arc::new(Done(done.clone())));
    assert!(
        wait_for(30, || done.load(std::sync::atomic::Ordering::SeqCst)),
        "batch 2000 was not re-run"
    );
    ssc.stop(StopOptions::default()).unwrap();
    assert_eq!(seen(), want);
}
