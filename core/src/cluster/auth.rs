//! The application's secret: every RPC carries it, every server checks it.
//!
//! `spate-submit` generates a secret per application and hands it to the driver in the
//! environment (`SPATE_AUTH_SECRET`), or a user points `SPATE_AUTH_SECRET_FILE` at a file only
//! its owner can read; the driver passes it to its executors the same way. It is never on a
//! command line, where `ps` would show it. A peer without it is refused and logged.

use std::path::Path;
use std::sync::Arc;

use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

use crate::error::{Error, Result};

/// The metadata entry that carries the secret.
const HEADER: &str = "x-spate-secret";
/// The environment variable that carries the secret itself.
pub(crate) const SECRET_ENV: &str = "SPATE_AUTH_SECRET";
/// The environment variable that names a 0600 file holding the secret.
pub(crate) const SECRET_FILE_ENV: &str = "SPATE_AUTH_SECRET_FILE";

/// The longest secret accepted: every call carries it in a header, and a 20,000-character
/// one made every call fail (HTTP 431) without the cause being named.
pub(crate) const MAX_SECRET_LEN: usize = 1024;

/// Checks the application secret set in this process's environment — `SPATE_AUTH_SECRET`, or
/// the file `SPATE_AUTH_SECRET_FILE` names — as every process of a cluster application will:
/// at least 16 and at most 1,024 printable characters, a file that is a regular file only its
/// owner can read. `spate-submit` calls it before it starts anything. Nothing set is fine (a
/// secret is then generated).
///
/// # Examples
///
/// ```
/// // No secret in the environment: nothing to check.
/// if std::env::var_os("SPATE_AUTH_SECRET").is_none()
///     && std::env::var_os("SPATE_AUTH_SECRET_FILE").is_none()
/// {
///     assert!(spate_core::check_secret_env().is_ok());
/// }
/// ```
pub fn check_secret_env() -> Result<()> {
    Secret::from_env().map(|_| ())
}

/// An application secret.
#[derive(Clone)]
pub(crate) struct Secret(Arc<str>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A new random secret (256 bits, hex).
    pub(crate) fn generate() -> Secret {
        let bytes: [u8; 32] = rand::random();
        Secret(
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
        )
    }

    /// The secret from `SPATE_AUTH_SECRET` or the file `SPATE_AUTH_SECRET_FILE` names; `None`
    /// when neither is set.
    pub(crate) fn from_env() -> Result<Option<Secret>> {
        if let Ok(s) = std::env::var(SECRET_ENV) {
            return Secret::parse(&s, SECRET_ENV).map(Some);
        }
        match std::env::var_os(SECRET_FILE_ENV) {
            Some(path) => Secret::from_file(Path::new(&path)).map(Some),
            None => Ok(None),
        }
    }

    fn from_file(path: &Path) -> Result<Secret> {
        use std::io::Read;
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            // A device or a FIFO would be read without end (a copy of /dev/zero: 1.3 GB).
            return Err(Error::cluster(format!(
                "the secret file {} is not a regular file",
                path.display()
            )));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(Error::cluster(format!(
                "the secret file {} can be read by others (mode {:o}); chmod 600 it",
                path.display(),
                meta.permissions().mode() & 0o777
            )));
        }
        // Bounded: at most the longest secret and a line end, whatever the file's size.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_SECRET_LEN as u64 + 3).read_to_end(&mut bytes))
            .map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8_lossy(&bytes);
        Secret::parse(text.trim(), &path.display().to_string())
    }

    fn parse(s: &str, origin: &str) -> Result<Secret> {
        if s.len() < 16 || s.len() > MAX_SECRET_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::cluster(format!(
                "the application secret from {origin} must be 16 to {MAX_SECRET_LEN} printable \
                 characters ({} given; spate-submit generates one)",
                s.len()
            )));
        }
        Ok(Secret(s.into()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The application's hash seed, derived from its secret: every process of the application
    /// has the secret (it is how they authenticate), so they all hash keys alike, and nobody
    /// without it can predict the hash. A one-way digest, so the seed reveals nothing of the
    /// secret.
    pub(crate) fn hash_seed(&self) -> crate::hash::HashSeed {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"spate hash seed\0");
        ctx.update(self.0.as_bytes());
        let d = ctx.finish();
        let mut word = [0u8; 8];
        word.copy_from_slice(&d.as_ref()[..8]);
        crate::hash::HashSeed::from_u64(u64::from_le_bytes(word))
    }

    /// Compares in time independent of where the first difference is (`subtle`).
    fn matches(&self, other: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other).into()
    }
}

/// Adds the secret to every outgoing call.
#[derive(Clone)]
pub(crate) struct AddSecret(pub(crate) Secret);

impl tonic::service::Interceptor for AddSecret {
    fn call(&mut self, mut req: Request<()>) -> std::result::Result<Request<()>, Status> {
        let value = MetadataValue::try_from(self.0.expose())
            .map_err(|_| Status::internal("the secret is not a valid header value"))?;
        req.metadata_mut().insert(HEADER, value);
        Ok(req)
    }
}

/// Refuses every incoming call without the secret, and logs who tried (rate-limited).
#[derive(Clone)]
pub(crate) struct CheckSecret {
    pub(crate) secret: Secret,
    /// Which server this is, for the log line.
    pub(crate) server: &'static str,
    pub(crate) refusals: Arc<super::tls::Refusals>,
}

impl CheckSecret {
    pub(crate) fn new(secret: Secret, server: &'static str) -> CheckSecret {
        CheckSecret {
            secret,
            server,
            refusals: Arc::new(super::tls::Refusals::new(server)),
        }
    }
}

impl tonic::service::Interceptor for CheckSecret {
    fn call(&mut self, req: Request<()>) -> std::result::Result<Request<()>, Status> {
        let given = req.metadata().get(HEADER).map(|v| v.as_bytes());
        if given.is_some_and(|g| self.secret.matches(g)) {
            return Ok(req);
        }
        let peer = req
            .remote_addr()
            .map_or_else(|| "an unknown peer".to_string(), |a| a.to_string());
        let what = if given.is_some() {
            "a wrong application secret"
        } else {
            "no application secret"
        };
        self.refusals.refused_call(&peer, what);
        Err(Status::unauthenticated(format!(
            "refused by the {}: {what}; every process of an application must be started with \
             its secret (SPATE_AUTH_SECRET or SPATE_AUTH_SECRET_FILE, as spate-submit sets them)",
            self.server
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::service::Interceptor;

    /// Every process of an application (one secret) hashes keys alike; another application
    /// (another secret) does not, and the seed is not the secret's bytes.
    #[test]
    fn the_hash_seed_follows_the_secret() {
        let a = Secret::parse("0123456789abcdef0123", "test").unwrap();
        let again = Secret::parse("0123456789abcdef0123", "test").unwrap();
        let b = Secret::parse("0123456789abcdef0124", "test").unwrap();
        assert_eq!(a.hash_seed(), again.hash_seed());
        assert_ne!(a.hash_seed(), b.hash_seed());
        assert_ne!(a.hash_seed(), crate::hash::HashSeed::FIXED);
        assert_eq!(
            a.hash_seed().partition_hash(&"word"),
            again.hash_seed().partition_hash(&"word")
        );
    }

    #[test]
    fn a_call_needs_the_right_secret() {
        let secret = Secret::parse("0123456789abcdef0123", "test").unwrap();
        let mut check = CheckSecret::new(secret.clone(), "test server");
        let signed = AddSecret(secret).call(Request::new(())).unwrap();
        assert!(check.call(signed).is_ok());
        let wrong = Secret::parse("fedcba9876543210fedc", "test").unwrap();
        let err = check
            .call(AddSecret(wrong).call(Request::new(())).unwrap())
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        assert!(err.message().contains("wrong application secret"), "{err}");
        let err = check.call(Request::new(())).unwrap_err();
        assert!(err.message().contains("no application secret"), "{err}");
        // Issue 30, finding 3: every refused call wrote two lines, unthrottled.
        for _ in 0..5000 {
            assert!(check.call(Request::new(())).is_err());
        }
        assert_eq!(check.refusals.total(), 5002);
        check.refusals.expire_for_test();
        let line = check
            .refusals
            .refused_call("an unknown peer", "no application secret");
        assert!(line.unwrap().contains("5000 more refused"));
    }

    #[test]
    fn weak_or_exposed_secrets_are_refused() {
        assert!(Secret::parse("short", "test").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Secret::from_file(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            Secret::from_file(&path).unwrap().expose(),
            "0123456789abcdef0123"
        );
        assert_eq!(Secret::generate().expose().len(), 64);
    }

    /// Issue 30, finding 6: no bound on the secret or on what its file may make us read.
    #[test]
    fn huge_secrets_and_files_that_are_not_regular_are_refused_before_reading_them() {
        let err = Secret::parse(&"x".repeat(20_000), "test").unwrap_err();
        assert!(err.to_string().contains("16 to 1024"), "{err}");
        assert!(Secret::parse(&"x".repeat(MAX_SECRET_LEN), "test").is_ok());
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(300 << 20).unwrap(); // 300 MB, sparse: only a bounded prefix is read
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Secret::from_file(&big).is_err());
        let err = Secret::from_file(Path::new("/dev/zero")).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
