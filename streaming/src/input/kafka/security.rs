//! How a direct stream authenticates to the brokers and encrypts: Kafka's own client
//! properties (`security.protocol`, `ssl.truststore.*`, `sasl.mechanism`, `sasl.jaas.config`),
//! as Spark passes them (`kafka.`-prefixed in Structured Streaming, plain in DStreams' params).
//!
//! TLS is rustls on ring (as cluster RPC and the database sinks): trust comes from PEM
//! (`ssl.truststore.type=PEM`, which Kafka clients accept since 2.7), never a JKS store, and the
//! broker's host name is always checked. SASL is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.

use std::collections::BTreeMap;
use std::sync::Arc;

use rskafka::client::{Credentials, SaslConfig};

/// The properties understood here, for the error that names an unknown one.
const KNOWN: &[&str] = &[
    "security.protocol",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.endpoint.identification.algorithm",
    "sasl.mechanism",
    "sasl.jaas.config",
    "isolation.level",
];

/// Where trust comes from when `ssl.truststore.location` is not set: the system's bundle.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// TLS, SASL and isolation settings of a client, checked.
#[derive(Clone)]
pub(crate) struct Security {
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) sasl: Option<SaslConfig>,
    /// `isolation.level`: `read_committed` (the default: transactions' markers and aborted
    /// records are never delivered, reads stop at the last stable offset) or
    /// `read_uncommitted`.
    pub(crate) read_committed: bool,
}

impl Default for Security {
    fn default() -> Security {
        Security {
            tls: None,
            sasl: None,
            read_committed: true,
        }
    }
}

impl Security {
    /// Reads Kafka client properties (keys with or without Spark's `kafka.` prefix).
    pub(crate) fn from_props(props: &BTreeMap<String, String>) -> Result<Security, String> {
        let mut p = BTreeMap::new();
        for (k, v) in props {
            let key = k.strip_prefix("kafka.").unwrap_or(k);
            if !KNOWN.contains(&key) {
                return Err(format!(
                    "unknown Kafka property {k:?}: spate's client takes {}",
                    KNOWN.join(", ")
                ));
            }
            p.insert(key, v.trim());
        }
        let protocol = p
            .get("security.protocol")
            .copied()
            .unwrap_or("PLAINTEXT")
            .to_ascii_uppercase();
        let (tls, sasl) = match protocol.as_str() {
            "PLAINTEXT" => (false, false),
            "SSL" => (true, false),
            "SASL_PLAINTEXT" => (false, true),
            "SASL_SSL" => (true, true),
            other => {
                return Err(format!(
                    "security.protocol={other} is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                ));
            }
        };
        if !tls && let Some(k) = p.keys().find(|k| k.starts_with("ssl.")) {
            return Err(format!(
                "{k} is set but security.protocol={protocol} does not use TLS (SSL or SASL_SSL)"
            ));
        }
        if !sasl && let Some(k) = p.keys().find(|k| k.starts_with("sasl.")) {
            return Err(format!(
                "{k} is set but security.protocol={protocol} does not use SASL (SASL_PLAINTEXT or SASL_SSL)"
            ));
        }
        let read_committed = match p.get("isolation.level").map(|l| l.to_ascii_lowercase()) {
            None => true,
            Some(l) if l == "read_committed" => true,
            Some(l) if l == "read_uncommitted" => false,
            Some(l) => {
                return Err(format!(
                    "isolation.level={l} is not read_committed or read_uncommitted"
                ));
            }
        };
        Ok(Security {
            tls: if tls {
                Some(Arc::new(tls_config(&p)?))
            } else {
                None
            },
            sasl: if sasl { Some(sasl_config(&p)?) } else { None },
            read_committed,
        })
    }
}

fn tls_config(p: &BTreeMap<&str, &str>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    match p.get("ssl.truststore.type").map(|t| t.to_ascii_uppercase()) {
        None => {}
        Some(t) if t == "PEM" => {}
        Some(t) => {
            return Err(format!(
                "ssl.truststore.type={t}: spate reads PEM only (convert a JKS or PKCS12 store: \
                 keytool -exportcert -rfc), and set ssl.truststore.type=PEM"
            ));
        }
    }
    if p.get("ssl.endpoint.identification.algorithm")
        .is_some_and(|a| !a.eq_ignore_ascii_case("https"))
    {
        return Err(
            "ssl.endpoint.identification.algorithm: spate always checks the broker's host name \
             (https); give the brokers certificates for the names they advertise"
                .into(),
        );
    }
    let certs: Vec<CertificateDer<'static>> = match (
        p.get("ssl.truststore.certificates"),
        p.get("ssl.truststore.location"),
    ) {
        (Some(pem), _) => CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("ssl.truststore.certificates: {e}"))?,
        (None, Some(path)) => CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| format!("ssl.truststore.location {path}: {e}"))?,
        (None, None) => CertificateDer::pem_file_iter(SYSTEM_ROOTS)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| {
                format!("no ssl.truststore.location, and the system's CAs ({SYSTEM_ROOTS}): {e}")
            })?,
    };
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(
            "the trust store holds no certificate (PEM, -----BEGIN CERTIFICATE-----)".into(),
        );
    }
    // ring, as everywhere in spate (aws-lc-rs needs cmake and doubles the build).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn sasl_config(p: &BTreeMap<&str, &str>) -> Result<SaslConfig, String> {
    let jaas = p.get("sasl.jaas.config").ok_or(
        "SASL needs sasl.jaas.config, e.g. org.apache.kafka.common.security.scram.ScramLoginModule \
         required username=\"u\" password=\"p\";",
    )?;
    let credentials =
        Credentials::new(jaas_value(jaas, "username")?, jaas_value(jaas, "password")?);
    let mechanism = p.get("sasl.mechanism").copied().unwrap_or("PLAIN");
    match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => Ok(SaslConfig::Plain(credentials)),
        "SCRAM-SHA-256" => Ok(SaslConfig::ScramSha256(credentials)),
        "SCRAM-SHA-512" => Ok(SaslConfig::ScramSha512(credentials)),
        other => Err(format!(
            "sasl.mechanism={other} is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
        )),
    }
}

/// `key="value"` from a JAAS line (`…LoginModule required username="u" password="p";`).
fn jaas_value(jaas: &str, key: &str) -> Result<String, String> {
    let missing = || format!("sasl.jaas.config has no {key}=\"…\"");
    let start = jaas
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .ok_or_else(missing)?;
    // From the opening quote to the closing one (a value may hold spaces; `\"` escapes).
    let offset = jaas.find(start).ok_or_else(missing)?;
    let rest = jaas[offset..].strip_prefix('"').ok_or_else(missing)?;
    let mut value = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.extend(chars.next()),
            '"' => return Ok(value),
            c => value.push(c),
        }
    }
    Err(format!(
        "sasl.jaas.config: the {key} value has no closing quote"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kafka_properties_become_tls_and_sasl_or_clear_errors() {
        let jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"spate\" password=\"p w\\\"d\";";
        let s = Security::from_props(&props(&[
            ("kafka.security.protocol", "SASL_PLAINTEXT"),
            ("kafka.sasl.mechanism", "SCRAM-SHA-512"),
            ("kafka.sasl.jaas.config", jaas),
        ]))
        .unwrap();
        assert!(s.tls.is_none());
        match s.sasl {
            Some(SaslConfig::ScramSha512(c)) => {
                assert_eq!(
                    (c.username.as_str(), c.password.as_str()),
                    ("spate", "p w\"d")
                );
            }
            _ => panic!("not SCRAM-SHA-512"),
        }
        assert!(Security::from_props(&props(&[])).unwrap().tls.is_none());
        let e = |pairs: &[(&str, &str)]| Security::from_props(&props(pairs)).err().unwrap();
        assert!(e(&[("bootstrap.servers", "x")]).contains("unknown Kafka property"));
        assert!(e(&[("isolation.level", "dirty")]).contains("read_uncommitted"));
        assert!(
            !Security::from_props(&props(&[("kafka.isolation.level", "read_uncommitted")]))
                .unwrap()
                .read_committed
        );
        assert!(e(&[("security.protocol", "TLS")]).contains("not PLAINTEXT"));
        assert!(e(&[("sasl.mechanism", "PLAIN")]).contains("does not use SASL"));
        assert!(e(&[("security.protocol", "SASL_PLAINTEXT")]).contains("sasl.jaas.config"));
        assert!(
            e(&[("security.protocol", "SSL"), ("ssl.truststore.type", "JKS")]).contains("PEM only")
        );
        assert!(
            e(&[
                ("security.protocol", "SSL"),
                ("ssl.truststore.location", "/nonexistent.pem")
            ])
            .contains("/nonexistent.pem")
        );
        let bad_jaas = e(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.jaas.config", "x required username=\"u\";"),
        ]);
        assert!(bad_jaas.contains("no password"), "{bad_jaas}");
    }
}
