//! Real database servers for the tests, started in a temp directory on a free loopback port and
//! stopped on drop: PostgreSQL (`initdb` + `pg_ctl`, as the `postgres` user when root) and
//! MariaDB (`mariadb-install-db` + `mariadbd`). `scripts/setup` installs both; a missing one fails
//! the test saying so, never skips it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs `cmd`, panicking with its output when it fails.
fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Certificates for servers started with TLS: a CA, a server certificate it signs for
/// `localhost` and 127.0.0.1, and another CA that signed nothing of theirs.
pub struct TestPki {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub other_ca: PathBuf,
}

impl TestPki {
    pub fn new() -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let cert = params.self_signed(&key).unwrap();
            (cert, Issuer::new(params, key))
        };
        let (ca_cert, issuer) = ca("spate test CA");
        let (other, _) = ca("another CA");
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        TestPki {
            ca: write("ca.pem", ca_cert.pem()),
            cert: write("server.pem", leaf.pem()),
            key: write("server.key", key.serialize_pem()),
            other_ca: write("other-ca.pem", other.pem()),
            _dir: dir,
        }
    }
}

/// A PostgreSQL server; user `spate`, password `secret`, database `postgres`.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PgServer {
    pub fn start() -> PgServer {
        PgServer::start_with(None)
    }

    /// A server that takes TCP connections over TLS only (`hostssl`), with `pki`'s certificate.
    pub fn start_tls(pki: &TestPki) -> PgServer {
        PgServer::start_with(Some(pki))
    }

    fn start_with(pki: Option<&TestPki>) -> PgServer {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| {
                let mut v: Vec<PathBuf> = d.flatten().map(|e| e.path().join("bin")).collect();
                v.sort();
                v.pop()
            })
            .filter(|b| b.join("initdb").exists())
            .unwrap_or_else(|| {
                panic!("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): `apt-get install postgresql`, as scripts/setup does")
            });
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "secret\n").unwrap();
        let mut ssl = String::new();
        if let Some(pki) = pki {
            use std::os::unix::fs::PermissionsExt;
            std::fs::copy(&pki.cert, dir.path().join("server.pem")).unwrap();
            std::fs::copy(&pki.key, dir.path().join("server.key")).unwrap();
            // The server refuses a key others can read.
            std::fs::set_permissions(
                dir.path().join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            ssl = format!(
                " -c ssl=on -c ssl_cert_file={0}/server.pem -c ssl_key_file={0}/server.key",
                dir.path().display()
            );
        }
        if is_root() {
            run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path()),
                "chown",
            );
        }
        let data = dir.path().join("data");
        let server = PgServer {
            port: free_port(),
            bin,
            dir,
        };
        run(
            &mut server.as_postgres("initdb", |c| {
                c.arg("-D")
                    .arg(&data)
                    .args([
                        "-U",
                        "spate",
                        "--auth=scram-sha-256",
                        "-E",
                        "UTF8",
                        "--no-sync",
                    ])
                    .arg(format!(
                        "--pwfile={}",
                        server.dir.path().join("pw").display()
                    ));
            }),
            "initdb",
        );
        if pki.is_some() {
            // TCP over TLS only: a plain-text client is refused.
            let hba = "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n";
            std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        }
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c fsync=off -c synchronous_commit=off -k {}{ssl}",
            server.port,
            server.dir.path().display()
        );
        run(
            &mut server.as_postgres("pg_ctl", |c| {
                c.arg("-D")
                    .arg(&data)
                    .arg("-l")
                    .arg(server.dir.path().join("log"))
                    .args(["-w", "-t", "60", "-o", &options, "start"]);
            }),
            "pg_ctl start",
        );
        server
    }

    fn as_postgres(&self, tool: &str, args: impl FnOnce(&mut Command)) -> Command {
        let path = self.bin.join(tool);
        let mut c = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        args(&mut c);
        c.stdin(Stdio::null());
        c
    }

    pub fn url(&self) -> String {
        format!("postgres://spate:secret@127.0.0.1:{}/postgres", self.port)
    }

    #[cfg(feature = "postgres")]
    pub fn client(&self) -> spate::sql::drivers::postgres::Client {
        use spate::sql::drivers::postgres::{Client, NoTls};
        Client::connect(&self.url(), NoTls).unwrap()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self
            .as_postgres("pg_ctl", |c| {
                c.arg("-D")
                    .arg(&data)
                    .args(["-m", "immediate", "-w", "stop"]);
            })
            .output();
    }
}

/// A MariaDB server; user `spate`, password `secret`, database `spate`.
pub struct MariaDb {
    dir: tempfile::TempDir,
    server: Child,
    pub port: u16,
}

impl MariaDb {
    pub fn start() -> MariaDb {
        MariaDb::start_with(None)
    }

    /// A server that takes TCP connections over TLS only, with `pki`'s certificate.
    pub fn start_tls(pki: &TestPki) -> MariaDb {
        MariaDb::start_with(Some(pki))
    }

    fn start_with(pki: Option<&TestPki>) -> MariaDb {
        for tool in ["mariadb-install-db", "mariadbd", "mariadb"] {
            let found = ["/usr/bin", "/usr/sbin"]
                .iter()
                .any(|d| Path::new(d).join(tool).exists());
            assert!(
                found,
                "MariaDB is not installed ({tool} is missing): `apt-get install mariadb-server`, as scripts/setup does"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let user = if is_root() { "root" } else { "mysql" };
        run(
            Command::new("mariadb-install-db")
                .args([
                    "--no-defaults",
                    "--skip-test-db",
                    "--auth-root-authentication-method=socket",
                ])
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--user={user}")),
            "mariadb-install-db",
        );
        let port = free_port();
        let socket = dir.path().join("sock");
        let server = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--log-error={}", dir.path().join("err").display()))
            .arg(format!("--user={user}"))
            .args(["--skip-log-bin", "--innodb-flush-log-at-trx-commit=2"])
            .args(pki.map_or_else(Vec::new, |p| {
                vec![
                    format!("--ssl-cert={}", p.cert.display()),
                    format!("--ssl-key={}", p.key.display()),
                    format!("--ssl-ca={}", p.ca.display()),
                    "--require-secure-transport=ON".to_string(),
                ]
            }))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start mariadbd");
        let db = MariaDb { dir, server, port };
        let sql = |statement: &str| {
            Command::new("mariadb")
                .arg(format!("--socket={}", socket.display()))
                .args(["-u", "root", "-e", statement])
                .stdin(Stdio::null())
                .output()
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !sql("SELECT 1").is_ok_and(|o| o.status.success()) {
            assert!(
                Instant::now() < deadline,
                "mariadbd did not come up in 60 s: {}",
                std::fs::read_to_string(db.dir.path().join("err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let setup = sql("CREATE DATABASE spate; CREATE USER 'spate'@'127.0.0.1' IDENTIFIED BY 'secret'; GRANT ALL ON spate.* TO 'spate'@'127.0.0.1';").unwrap();
        assert!(
            setup.status.success(),
            "{}",
            String::from_utf8_lossy(&setup.stderr)
        );
        db
    }

    pub fn url(&self) -> String {
        format!("mysql://spate:secret@127.0.0.1:{}/spate", self.port)
    }

    #[cfg(feature = "mysql")]
    pub fn client(&self) -> spate::sql::drivers::mysql::Conn {
        use spate::sql::drivers::mysql::{Conn, Opts};
        Conn::new(Opts::from_url(&self.url()).unwrap()).unwrap()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.server.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while matches!(self.server.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
