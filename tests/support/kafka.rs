//! A real Kafka-compatible broker for the tests: `tansu` (crates.io, `cargo install --locked
//! tansu --version 0.6.0 --features libsql`, as `scripts/setup` does) with its SQLite storage in a
//! temp directory, on a free loopback port, stopped on drop. A missing `tansu` fails the test
//! saying so, never skips it. Topics are created here (tansu 0.6 does not create them on use);
//! records are produced with `rskafka`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

use super::databases::free_port;

/// Where `tansu` is: on the PATH, or where `cargo install` puts it.
fn tansu() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(std::env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin")))
        .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin")));
    for dir in candidates {
        let path = dir.join("tansu");
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "the Kafka-compatible broker `tansu` is not installed: `cargo install --locked tansu --version 0.6.0 --features libsql`, as scripts/setup does"
    )
}

/// A tansu broker; its data survives [`Broker::stop`] and [`Broker::restart`].
pub struct Broker {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
    runtime: tokio::runtime::Runtime,
}

impl Broker {
    pub fn start() -> Broker {
        let mut b = Broker {
            dir: tempfile::tempdir().unwrap(),
            child: None,
            port: free_port(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        };
        b.restart();
        b
    }

    /// `host:port`, as `KafkaParams::new` takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker (SIGKILL), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the broker (again) on the same port and data, and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self.dir.path().join("tansu.log")).unwrap();
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            // tansu reads the path after `sqlite://` as relative: run it in the data directory.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.runtime.block_on(self.client()).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "tansu exited ({status}): {}",
                    std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "tansu did not answer within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn client(&self) -> Result<Client, rskafka::client::error::Error> {
        ClientBuilder::new(vec![self.address()])
            .backoff_config(rskafka::BackoffConfig {
                init_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(200),
                base: 2.0,
                deadline: Some(Duration::from_secs(2)),
            })
            .build()
            .await
    }

    pub fn create_topic(&self, topic: &str, partitions: i32) {
        self.runtime.block_on(async {
            let c = self.client().await.unwrap();
            c.controller_client()
                .unwrap()
                .create_topic(topic, partitions, 1, 5_000)
                .await
                .unwrap_or_else(|e| panic!("creating topic {topic}: {e}"));
        })
    }

    /// Produces `values` to `topic`/`partition` in one request; their offsets.
    pub fn produce(&self, topic: &str, partition: i32, values: &[String]) -> Vec<i64> {
        self.runtime
            .block_on(produce_to(&self.address(), topic, partition, values))
    }
}

/// Produces `values` to `topic`/`partition` of the broker at `address` in one request (a
/// connection of its own, so any thread can produce); their offsets.
pub async fn produce_to(address: &str, topic: &str, partition: i32, values: &[String]) -> Vec<i64> {
    let c = ClientBuilder::new(vec![address.to_string()])
        .build()
        .await
        .unwrap();
    let p = c
        .partition_client(topic, partition, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let records = values
        .iter()
        .map(|v| Record {
            key: None,
            value: Some(v.as_bytes().to_vec()),
            headers: Default::default(),
            timestamp: chrono::Utc::now(),
        })
        .collect();
    p.produce(records, Compression::NoCompression)
        .await
        .unwrap_or_else(|e| panic!("producing to {topic}-{partition}: {e}"))
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
