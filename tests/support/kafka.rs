//! A real Kafka-compatible broker for the tests: `tansu` (crates.io, `cargo install --locked
//! tansu --version 0.6.0 --features libsql`, as `scripts/setup` does) with its SQLite storage in a
//! temp directory, on a free loopback port, stopped on drop. A missing `tansu` fails the test
//! saying so, never skips it. Topics are created here (tansu 0.6 does not create them on use);
//! records are produced with `rskafka`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

pub use rskafka::client::partition::Compression;
use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
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
    secure: Option<Secure>,
}

/// A broker that takes SASL/SCRAM-SHA-512 (user `spate`, password `secret`) over TLS only: tansu
/// 0.6 checks SCRAM itself; its own TLS options do not work, so OpenSSL (`socat`) terminates
/// TLS in front of it, and tansu advertises that port.
struct Secure {
    tls_port: u16,
    ca: PathBuf,
    /// Certificate and key in one PEM, as socat takes them.
    server_pem: PathBuf,
    socat: Option<Child>,
}

impl Broker {
    pub fn start() -> Broker {
        let mut b = Broker::new(None);
        b.restart();
        b
    }

    /// A broker reached over TLS (a certificate of `pki` for localhost) with SASL/SCRAM-SHA-512,
    /// user `spate`, password `secret`.
    pub fn start_secure(pki: &super::databases::TestPki) -> Broker {
        let mut b = Broker::new(None);
        let server_pem = b.dir.path().join("server.pem");
        let both = std::fs::read_to_string(&pki.cert).unwrap()
            + &std::fs::read_to_string(&pki.key).unwrap();
        std::fs::write(&server_pem, both).unwrap();
        b.secure = Some(Secure {
            tls_port: free_port(),
            ca: pki.ca.clone(),
            server_pem,
            socat: None,
        });
        // The user is made on a broker without authentication, over the same storage.
        b.launch(false);
        let out = Command::new(tansu())
            .args(["user", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", b.port))
            .args(["--mechanism", "scram512", "spate", "secret"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tansu user create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        b.restart();
        b
    }

    fn new(secure: Option<Secure>) -> Broker {
        Broker {
            dir: tempfile::tempdir().unwrap(),
            child: None,
            port: free_port(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            secure,
        }
    }

    /// `host:port`, as `KafkaParams::new` takes it (the TLS port of a secure broker).
    pub fn address(&self) -> String {
        match &self.secure {
            Some(s) => format!("localhost:{}", s.tls_port),
            None => format!("127.0.0.1:{}", self.port),
        }
    }

    /// The CA that signed a secure broker's certificate.
    pub fn ca(&self) -> Option<&std::path::Path> {
        self.secure.as_ref().map(|s| s.ca.as_path())
    }

    /// Kills the broker (SIGKILL), keeping its data.
    pub fn stop(&mut self) {
        let socat = self.secure.as_mut().and_then(|s| s.socat.take());
        for mut c in self.child.take().into_iter().chain(socat) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the broker (again) on the same port and data, and waits until it answers.
    pub fn restart(&mut self) {
        self.launch(self.secure.is_some());
    }

    fn launch(&mut self, secured: bool) {
        self.stop();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = match &self.secure {
            Some(s) if secured => format!("tcp://localhost:{}", s.tls_port),
            _ => url.clone(),
        };
        if let Some(s) = self.secure.as_mut().filter(|_| secured) {
            s.socat = Some(
                Command::new("socat")
                    .arg(format!(
                        "OPENSSL-LISTEN:{},bind=127.0.0.1,reuseaddr,fork,cert={},verify=0",
                        s.tls_port,
                        s.server_pem.display()
                    ))
                    .arg(format!("TCP:127.0.0.1:{}", self.port))
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("socat is needed (apt-get install socat, as scripts/setup does)"),
            );
        }
        let log = std::fs::File::create(self.dir.path().join("tansu.log")).unwrap();
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(secured.then_some("--authentication"))
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
            if self.runtime.block_on(self.client_as(secured)).is_ok() {
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
        self.client_as(self.secure.is_some()).await
    }

    /// A client of the broker: over TLS with SCRAM when `secured`, else plain to its own port.
    async fn client_as(&self, secured: bool) -> Result<Client, rskafka::client::error::Error> {
        let mut builder = ClientBuilder::new(vec![if secured {
            self.address()
        } else {
            format!("127.0.0.1:{}", self.port)
        }])
        .backoff_config(rskafka::BackoffConfig {
            init_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            base: 2.0,
            deadline: Some(Duration::from_secs(2)),
        });
        if let Some(s) = self.secure.as_ref().filter(|_| secured) {
            builder = builder
                .tls_config(Arc::new(tls_trusting(&s.ca)))
                .sasl_config(SaslConfig::ScramSha512(Credentials::new(
                    "spate".into(),
                    "secret".into(),
                )));
        }
        builder.build().await
    }

    /// Produces `values` to `topic`/`partition` in one request, compressed with `compression`.
    pub fn produce_compressed(
        &self,
        topic: &str,
        partition: i32,
        values: &[String],
        compression: Compression,
    ) -> Vec<i64> {
        self.runtime.block_on(async {
            let c = self.client().await.unwrap();
            let p = c
                .partition_client(topic, partition, UnknownTopicHandling::Retry)
                .await
                .unwrap();
            p.produce(records(values), compression)
                .await
                .unwrap_or_else(|e| panic!("producing to {topic}-{partition}: {e}"))
        })
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
    p.produce(records(values), Compression::NoCompression)
        .await
        .unwrap_or_else(|e| panic!("producing to {topic}-{partition}: {e}"))
}

fn records(values: &[String]) -> Vec<Record> {
    values
        .iter()
        .map(|v| Record {
            key: None,
            value: Some(v.as_bytes().to_vec()),
            headers: Default::default(),
            timestamp: chrono::Utc::now(),
        })
        .collect()
}

/// A TLS client configuration trusting the CA in `ca` (PEM).
fn tls_trusting(ca: &std::path::Path) -> rustls::ClientConfig {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
