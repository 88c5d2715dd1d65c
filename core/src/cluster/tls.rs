//! Encrypted, mutually authenticated RPC: every connection between the processes of a cluster
//! application is TLS 1.3 (rustls, ring), and both ends present a certificate of the
//! application's own certificate authority.
//!
//! The key material is derived from the application secret, which `spate-submit` already
//! generates per application and hands to the driver and its executors in the environment:
//! every process derives the same CA key from it (HKDF-SHA256 → an Ed25519 seed), builds the CA
//! certificate and signs a fresh leaf certificate for itself. Nothing new crosses a process
//! boundary, and a peer without the secret cannot complete a handshake: a plaintext or
//! wrong-key peer is refused before any RPC is read, with a rate-limited log line
//! ([`Refusals`]). Users who run their own PKI set `spate.rpc.tls.caFile`, `certFile` and
//! `keyFile` instead (PEM); `spate.rpc.tls.enabled=false` turns TLS off (plain HTTP/2, for a
//! trusted network and for measuring what TLS costs).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ED25519,
};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::auth::Secret;
use crate::conf::Conf;
use crate::error::{Error, Result};

/// The name every derived certificate is issued for, and what clients verify: hosts change
/// (Slurm nodes, executors' addresses), the application does not.
const DERIVED_SERVER_NAME: &str = "spate";

/// How long a connection may take to complete its handshake before it is dropped (a client
/// that connects and says nothing must not hold a task of the server).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The application's TLS identity: its CA, this process's certificate and key.
#[derive(Clone)]
pub(crate) struct TlsMaterial {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    /// PEM copies for tonic's client configuration.
    ca_pem: String,
    chain_pem: String,
    key_pem: String,
    server_name: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsMaterial({})", self.server_name)
    }
}

impl TlsMaterial {
    /// The material `conf` asks for: `None` when `spate.rpc.tls.enabled` is false, the user's
    /// files when `spate.rpc.tls.caFile` is set, else derived from `secret`.
    pub(crate) fn from_conf(conf: &Conf, secret: &Secret) -> Result<Option<TlsMaterial>> {
        if conf.get_bool("spate.rpc.tls.enabled")? == Some(false) {
            return Ok(None);
        }
        let files = [
            "spate.rpc.tls.caFile",
            "spate.rpc.tls.certFile",
            "spate.rpc.tls.keyFile",
        ]
        .map(|k| conf.get(k).map(str::to_string));
        match files {
            [None, None, None] => TlsMaterial::derived(secret).map(Some),
            [Some(ca), Some(cert), Some(key)] => {
                let name = conf
                    .get("spate.rpc.tls.serverName")
                    .unwrap_or(DERIVED_SERVER_NAME);
                TlsMaterial::from_files(&ca, &cert, &key, name).map(Some)
            }
            _ => Err(Error::cluster(
                "spate.rpc.tls.caFile, spate.rpc.tls.certFile and spate.rpc.tls.keyFile go \
                 together: set all three (your own certificates) or none (certificates derived \
                 from the application secret)",
            )),
        }
    }

    /// The application CA derived from the secret, and a new leaf it signs for this process.
    pub(crate) fn derived(secret: &Secret) -> Result<TlsMaterial> {
        let fail =
            |e: rcgen::Error| Error::cluster(format!("cannot make the TLS certificates: {e}"));
        let ca_key = derived_ed25519(secret.expose().as_bytes()).map_err(fail)?;
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "spate application CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(fail)?;

        let leaf_key = KeyPair::generate_for(&PKCS_ED25519).map_err(fail)?;
        let mut leaf =
            CertificateParams::new(vec![DERIVED_SERVER_NAME.to_string()]).map_err(fail)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "spate process");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(fail)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        Ok(TlsMaterial {
            ca: ca_cert.der().clone(),
            chain: vec![leaf_cert.der().clone()],
            key: Arc::new(key),
            ca_pem: ca_cert.pem(),
            chain_pem: leaf_cert.pem(),
            key_pem: leaf_key.serialize_pem(),
            server_name: DERIVED_SERVER_NAME.to_string(),
        })
    }

    /// The user's own CA, certificate chain and key (PEM files).
    fn from_files(ca: &str, cert: &str, key: &str, server_name: &str) -> Result<TlsMaterial> {
        let read = |path: &str| -> Result<String> {
            let p = std::path::Path::new(path);
            let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
            if !meta.is_file() || meta.len() > 1 << 20 {
                return Err(Error::cluster(format!(
                    "{path} is not a PEM file of at most 1 MiB"
                )));
            }
            std::fs::read_to_string(p).map_err(|e| Error::io(p, e))
        };
        let certs = |text: &str, path: &str| -> Result<Vec<CertificateDer<'static>>> {
            let certs: Vec<_> = CertificateDer::pem_slice_iter(text.as_bytes())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| Error::cluster(format!("{path}: not a PEM certificate: {e}")))?;
            if certs.is_empty() {
                return Err(Error::cluster(format!("{path} holds no PEM certificate")));
            }
            Ok(certs)
        };
        let (ca_pem, chain_pem, key_pem) = (read(ca)?, read(cert)?, read(key)?);
        let ca_der = certs(&ca_pem, ca)?.remove(0);
        let chain = certs(&chain_pem, cert)?;
        let key_der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| Error::cluster(format!("{key}: not a PEM private key: {e}")))?;
        Ok(TlsMaterial {
            ca: ca_der,
            chain,
            key: Arc::new(key_der),
            ca_pem,
            chain_pem,
            key_pem,
            server_name: server_name.to_string(),
        })
    }

    /// A server configuration that requires a client certificate of the application's CA.
    pub(crate) fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor> {
        let fail = |e: &dyn std::fmt::Display| {
            Error::cluster(format!("cannot configure the RPC server's TLS: {e}"))
        };
        // ring, not aws-lc-rs (rustls's default, with post-quantum key exchange): aws-lc-rs
        // needs cmake and a C toolchain and doubles the build; tonic's client uses ring too.
        #[allow(deprecated)]
        let mut provider = rustls::crypto::ring::default_provider();
        // AES-128-GCM first (rustls lists AES-256 first): every shuffle block and received
        // line is encrypted, and with AES instructions it costs about two thirds as much.
        provider
            .cipher_suites
            .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        let provider = Arc::new(provider);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).map_err(|e| fail(&e))?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .build()
        .map_err(|e| fail(&e))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| fail(&e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| fail(&e))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        // The server's order decides (the client is tonic's, with rustls's default order).
        config.ignore_client_order = true;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }

    /// A client configuration that verifies the server against the application's CA and
    /// presents this process's certificate.
    pub(crate) fn client_config(&self) -> tonic::transport::ClientTlsConfig {
        tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&self.ca_pem))
            .identity(tonic::transport::Identity::from_pem(
                &self.chain_pem,
                &self.key_pem,
            ))
            .domain_name(self.server_name.clone())
    }
}

/// The URL scheme of a cluster RPC address: `https` with TLS.
pub(crate) fn scheme(tls: Option<&TlsMaterial>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// A tonic endpoint for `url`, with TLS when `tls` is given.
pub(crate) fn endpoint(
    url: String,
    tls: Option<&TlsMaterial>,
) -> Result<tonic::transport::Endpoint> {
    let e = tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|e| Error::cluster(format!("bad RPC address {url:?}: {e}")))?;
    match tls {
        Some(t) => e
            .tls_config(t.client_config())
            .map_err(|e| Error::cluster(format!("TLS for {url}: {e}"))),
        None => Ok(e),
    }
}

/// An Ed25519 key derived from the application secret: the same in every process that has
/// the secret, and nowhere else.
fn derived_ed25519(secret: &[u8]) -> std::result::Result<KeyPair, rcgen::Error> {
    use ring::hkdf;
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"spate cluster rpc tls v1").extract(secret);
    let mut seed = [0u8; 32];
    prk.expand(&[b"application CA key"], hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut seed))
        .map_err(|_| rcgen::Error::RingUnspecified)?;
    // A PKCS#8 v1 Ed25519 key (RFC 8410): a fixed prefix, then the 32-byte seed.
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&seed);
    KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(pkcs8), &PKCS_ED25519)
}

/// Connections and calls a server refused, logged at most once per [`Refusals::EVERY`] for each
/// peer host and reason, with how many were not: whoever can reach a port must not be able to
/// fill the log, and a second peer's refusals are not hidden behind the first's. At most
/// [`Refusals::MAX_KEYS`] peer-and-reason pairs are tracked; past that, the rest share one.
pub(crate) struct Refusals {
    server: &'static str,
    state: Mutex<RefusalState>,
}

#[derive(Default)]
struct RefusalState {
    keys: std::collections::HashMap<String, Logged>,
    total: u64,
}

/// One peer-and-reason pair: when it last logged a line, and how many since.
struct Logged {
    last: Instant,
    suppressed: u64,
}

impl Refusals {
    /// At most one line per peer and reason per this long.
    pub(crate) const EVERY: Duration = Duration::from_secs(10);
    /// Peer-and-reason pairs tracked at once (a bound on memory and on lines per period).
    pub(crate) const MAX_KEYS: usize = 64;

    pub(crate) fn new(server: &'static str) -> Refusals {
        Refusals {
            server,
            state: Mutex::new(RefusalState::default()),
        }
    }

    /// Counts a refused connection and logs it unless one from the same host for the same
    /// reason was logged less than [`Self::EVERY`] ago; returns the line when it was logged.
    pub(crate) fn refused(&self, peer: &str, why: &str) -> Option<String> {
        self.limited(peer, why, |server, more| {
            format!("spate: {server}: refused a connection from {peer}: {why}{more}")
        })
    }

    /// [`Refusals::refused`] for a call refused inside a connection (its secret was wrong or
    /// missing): 5,000 on one HTTP/2 connection once wrote 10,000 lines in 0.23 s.
    pub(crate) fn refused_call(&self, peer: &str, what: &str) -> Option<String> {
        self.limited(peer, what, |server, more| {
            format!("spate: {server}: refused a call from {peer} with {what}{more}")
        })
    }

    /// Counts a failed `accept` (out of file descriptors, typically) and logs it at most once
    /// per period.
    pub(crate) fn accept_failed(&self, why: &str) -> Option<String> {
        self.limited("", "accept", |server, more| {
            format!("spate: {server}: cannot accept a connection: {why}{more}")
        })
    }

    fn limited(
        &self,
        peer: &str,
        reason: &str,
        line: impl FnOnce(&str, &str) -> String,
    ) -> Option<String> {
        // The host, not its port: each connection comes from a new port.
        let host = peer.rsplit_once(':').map_or(peer, |(h, _)| h);
        let mut key = format!("{host} {reason}");
        let mut st = self.state.lock();
        st.total += 1;
        let now = Instant::now();
        if !st.keys.contains_key(&key) && st.keys.len() >= Self::MAX_KEYS {
            st.keys
                .retain(|_, k| now.duration_since(k.last) < Self::EVERY);
            if st.keys.len() >= Self::MAX_KEYS {
                key = "other peers".into();
            }
        }
        let logged = st.keys.entry(key).or_insert(Logged {
            last: now - Self::EVERY,
            suppressed: 0,
        });
        if now.duration_since(logged.last) < Self::EVERY {
            logged.suppressed += 1;
            return None;
        }
        let more = match std::mem::take(&mut logged.suppressed) {
            0 => String::new(),
            n => format!(" ({n} more refused since the last line)"),
        };
        logged.last = now;
        drop(st);
        let line = line(self.server, &more);
        tracing::warn!("{line}");
        eprintln!("{line}");
        Some(line)
    }

    /// Refusals so far, logged or not.
    #[cfg(test)]
    pub(crate) fn total(&self) -> u64 {
        self.state.lock().total
    }

    /// Makes the next refusal log a line, as if the period had passed.
    #[cfg(test)]
    pub(crate) fn expire_for_test(&self) {
        for k in self.state.lock().keys.values_mut() {
            k.last = Instant::now() - Self::EVERY;
        }
    }
}

/// Why a handshake failed, in words an operator can act on.
pub(crate) fn explain(e: &std::io::Error) -> String {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidMessage(_)) => {
            "it does not speak TLS (a plaintext client, or garbage); cluster RPC is TLS unless \
             spate.rpc.tls.enabled=false"
                .to_string()
        }
        Some(rustls::Error::NoCertificatesPresented) => {
            "it presented no client certificate (every process of the application must)".to_string()
        }
        Some(rustls::Error::InvalidCertificate(c)) => format!(
            "its certificate is not this application's ({c:?}): it was started with another \
             secret or another CA (spate.rpc.tls.caFile)"
        ),
        Some(rustls::Error::AlertReceived(alert)) => format!(
            "it does not trust this process's certificate ({alert:?}): it was started with \
             another secret or another CA (spate.rpc.tls.caFile)"
        ),
        Some(other) => format!("TLS handshake failed: {other}"),
        None => format!("TLS handshake failed: {e}"),
    }
}

/// A failed connection to `what` in words an operator can act on: a certificate this process
/// does not trust names its likely cause; anything else lists the error's chain of causes.
pub(crate) fn connect_error(what: &str, e: &(dyn std::error::Error + 'static)) -> String {
    let mut causes = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        // An `io::Error`'s `source` skips the error it wraps: look inside it too.
        let rustls_error = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(c)) = rustls_error {
            return format!(
                "{what} presented a certificate that is not this application's ({c:?}): this \
                 process was started with another secret (SPATE_AUTH_SECRET) or another CA \
                 (spate.rpc.tls.caFile) than the driver"
            );
        }
        causes.push(err.to_string());
        next = err.source();
    }
    causes.dedup();
    format!("cannot reach {what}: {}", causes.join(": "))
}

/// TLS over the `accepted` connections: each handshake runs in its own task (with a timeout),
/// a failed one is logged through `refusals`, a completed one is yielded.
pub(crate) fn incoming(
    mut accepted: tokio::sync::mpsc::Receiver<(
        super::accept::Idle<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    acceptor: tokio_rustls::TlsAcceptor,
    refusals: Arc<Refusals>,
) -> impl tokio_stream::Stream<
    Item = std::io::Result<
        tokio_rustls::server::TlsStream<super::accept::Idle<tokio::net::TcpStream>>,
    >,
> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        while let Some((tcp, peer)) = accepted.recv().await {
            if tx.is_closed() {
                return;
            }
            let (acceptor, tx, refusals) = (acceptor.clone(), tx.clone(), Arc::clone(&refusals));
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => {
                        refusals.refused(&peer.to_string(), &explain(&e));
                    }
                    Err(_) => {
                        refusals.refused(
                            &peer.to_string(),
                            &format!("no TLS handshake within {HANDSHAKE_TIMEOUT:?}"),
                        );
                    }
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_with_the_same_secret_trust_each_other_and_no_one_else() {
        let secret = Secret::generate();
        let (a, b) = (
            TlsMaterial::derived(&secret).unwrap(),
            TlsMaterial::derived(&secret).unwrap(),
        );
        // The same CA in every process; a leaf of its own.
        assert_eq!(a.ca, b.ca);
        assert_ne!(a.chain, b.chain);
        let other = TlsMaterial::derived(&Secret::generate()).unwrap();
        assert_ne!(a.ca, other.ca);
    }

    #[test]
    fn refusals_are_logged_at_most_once_per_period() {
        let r = Refusals::new("test");
        assert!(r.refused("1.2.3.4:5", "garbage").is_some());
        for _ in 0..1000 {
            assert!(r.refused("1.2.3.4:5", "garbage").is_none());
        }
        assert_eq!(r.total(), 1001);
        // Another port of the same host is the same peer; another host or reason is not.
        assert!(r.refused("1.2.3.4:6", "garbage").is_none());
        assert!(r.refused("5.6.7.8:5", "garbage").is_some());
        assert!(r.refused("1.2.3.4:5", "no TLS handshake").is_some());
        // The next line, once the period is over, says how many were not logged.
        r.expire_for_test();
        let line = r.refused("1.2.3.4:5", "garbage").unwrap();
        assert!(line.contains("1001 more refused"), "{line}");
        // Thousands of hosts: the lines per period stay bounded.
        r.expire_for_test();
        let lines = (0..5000)
            .filter(|i| {
                r.refused(&format!("10.0.{}.{}:1", i / 256, i % 256), "garbage")
                    .is_some()
            })
            .count();
        assert!(lines <= Refusals::MAX_KEYS + 1, "{lines} lines");
        assert!(r.state.lock().keys.len() <= Refusals::MAX_KEYS + 1);
    }

    #[test]
    fn half_given_certificate_settings_are_refused() {
        let conf = Conf::new().set("spate.rpc.tls.caFile", "/nonexistent/ca.pem");
        let err = TlsMaterial::from_conf(&conf, &Secret::generate()).unwrap_err();
        assert!(err.to_string().contains("go together"), "{err}");
        let conf = Conf::new().set("spate.rpc.tls.enabled", "false");
        assert!(
            TlsMaterial::from_conf(&conf, &Secret::generate())
                .unwrap()
                .is_none()
        );
    }
}
