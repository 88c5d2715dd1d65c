//! TLS to PostgreSQL, as libpq configures it: `sslmode` (`disable`, `prefer` — the default —,
//! `require`, `verify-ca`, `verify-full`) and `sslrootcert` (the CA's PEM file) in the URL.
//!
//! As in libpq, `prefer` and `require` encrypt without checking the server's certificate
//! (unless `sslrootcert` is given, which makes them `verify-ca`); `verify-ca` checks it was
//! signed by the CA; `verify-full` checks the host name too. tokio-postgres itself knows only
//! `disable`/`prefer`/`require`, so the verification is chosen here and the rest handed on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// How much of the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Encrypted, certificate not checked (libpq's `prefer` and `require`).
    Nothing,
    /// Signed by the CA of `sslrootcert` (`verify-ca`).
    Chain,
    /// Signed by the CA and issued to the host connected to (`verify-full`).
    Full,
}

/// The TLS parameters taken out of a PostgreSQL URL (both `postgres://…?k=v&…` and
/// `k=v k=v` forms), and the URL left for tokio-postgres.
#[derive(Debug)]
pub(crate) struct PgTls {
    pub(crate) url: String,
    pub(crate) verify: Verify,
    pub(crate) root: Option<PathBuf>,
}

impl PgTls {
    pub(crate) fn from_url(url: &str) -> Result<PgTls, String> {
        let (url, mode) = take_param(url, "sslmode");
        let (url, root) = take_param(&url, "sslrootcert");
        let root = root.map(PathBuf::from);
        let (mode, verify) = match mode.as_deref() {
            Some("verify-full") => ("require", Verify::Full),
            Some("verify-ca") => ("require", Verify::Chain),
            Some(m @ ("disable" | "allow" | "prefer" | "require")) | Some(m) => {
                // Anything else is tokio-postgres's to refuse, with its message.
                let v = if root.is_some() {
                    Verify::Chain
                } else {
                    Verify::Nothing
                };
                (m, v)
            }
            None => (
                "prefer",
                if root.is_some() {
                    Verify::Chain
                } else {
                    Verify::Nothing
                },
            ),
        };
        if verify != Verify::Nothing && root.is_none() {
            return Err(format!(
                "sslmode={} needs sslrootcert=<the CA's PEM file> to check the server against",
                if verify == Verify::Full {
                    "verify-full"
                } else {
                    "verify-ca"
                }
            ));
        }
        let url = put_param(&url, "sslmode", mode);
        Ok(PgTls { url, verify, root })
    }

    /// The rustls client configuration for these parameters.
    pub(crate) fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        // ring, as cluster RPC (aws-lc-rs, rustls's default, needs cmake and doubles the build).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let config = match (&self.root, self.verify) {
            (Some(root), verify) if verify != Verify::Nothing => {
                let roots = Arc::new(read_roots(root)?);
                let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    roots,
                    Arc::clone(&provider),
                )
                .build()
                .map_err(|e| e.to_string())?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(CaVerifier {
                        webpki,
                        check_name: verify == Verify::Full,
                    }))
                    .with_no_client_auth()
            }
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                .with_no_client_auth(),
        };
        Ok(config)
    }
}

fn read_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "sslrootcert {}: no certificate in it (a PEM file with the CA's certificate)",
            path.display()
        ));
    }
    Ok(roots)
}

/// `verify-ca` and `verify-full`: the chain to the CA, and (for `verify-full`) the name.
#[derive(Debug)]
struct CaVerifier {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for CaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // The chain is checked before the name: a wrong name means a good chain.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `prefer` and `require` as libpq does them: encrypted, whoever the server is (the handshake's
/// signatures are still checked against the certificate it shows).
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Removes `key` from a URL's query (`postgres://…?key=v`) or a `key=value` string, returning
/// what is left and its value.
fn take_param(url: &str, key: &str) -> (String, Option<String>) {
    // `key=value` items, the value of `key` taken out.
    fn take<'a>(items: impl Iterator<Item = &'a str>, key: &str) -> (Vec<&'a str>, Option<String>) {
        let mut value = None;
        let rest = items
            .filter(|item| match item.split_once('=') {
                Some((k, v)) if k == key => {
                    value = Some(v.trim_matches('\'').to_string());
                    false
                }
                _ => true,
            })
            .collect();
        (rest, value)
    }
    if !url.contains("://") {
        let (rest, value) = take(url.split_whitespace(), key);
        return (rest.join(" "), value);
    }
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let (rest, value) = take(query.split('&'), key);
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, value)
}

/// Sets `key=value` in a URL's query or a `key=value` string.
fn put_param(url: &str, key: &str, value: &str) -> String {
    if url.contains("://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{key}={value}")
    } else {
        format!("{url} {key}={value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_modes_map_to_a_verification_and_a_mode_tokio_postgres_knows() {
        let t =
            PgTls::from_url("postgres://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem").unwrap();
        assert_eq!(t.verify, Verify::Full);
        assert_eq!(t.root.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(t.url, "postgres://u@h/db?sslmode=require");
        let t = PgTls::from_url("host=h user=u sslmode=verify-ca sslrootcert=/ca.pem").unwrap();
        assert_eq!(
            (t.verify, t.url.as_str()),
            (Verify::Chain, "host=h user=u sslmode=require")
        );
        let t = PgTls::from_url("postgres://u@h/db").unwrap();
        assert_eq!(
            (t.verify, t.url.as_str()),
            (Verify::Nothing, "postgres://u@h/db?sslmode=prefer")
        );
        let t = PgTls::from_url("postgres://u@h/db?sslmode=disable").unwrap();
        assert_eq!(t.url, "postgres://u@h/db?sslmode=disable");
        let e = PgTls::from_url("postgres://u@h/db?sslmode=verify-full").unwrap_err();
        assert!(e.contains("sslrootcert"), "{e}");
    }
}
