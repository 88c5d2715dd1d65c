//! The error type of `spate-sql`.

/// `Result` with the sink [`Error`].
///
/// # Examples
///
/// ```
/// fn f() -> spate_sql::Result<()> { Ok(()) }
/// assert!(f().is_ok());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong writing a batch to a database. Every message names the sink and says
/// what to do; none loses data: a batch whose write failed is not marked done, so it is written
/// when it runs again (after a restart from the checkpoint).
///
/// # Examples
///
/// ```
/// let e = spate_sql::Error::Unreachable { sink: "counts".into(), database: "postgres://127.0.0.1:1/db".into(), attempts: 3, reason: "connection refused".into() };
/// assert!(e.to_string().contains("counts"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be reached (refused, reset, timed out) after retries.
    #[error(
        "sink {sink:?}: cannot reach the database at {database} after {attempts} attempts ({reason}): start it or fix the address; the batch is not marked written, so a restart from the checkpoint writes it (nothing is lost)"
    )]
    Unreachable {
        /// The sink's name.
        sink: String,
        /// The database, its password left out.
        database: String,
        /// Connection attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },

    /// The database refused the write: a wrong password, a missing table or column, a type
    /// that does not fit. Not retried: it needs a fix.
    #[error("sink {sink:?}: the database at {database} refused the write: {reason}. {hint}")]
    Refused {
        /// The sink's name.
        sink: String,
        /// The database, its password left out.
        database: String,
        /// The database's message.
        reason: String,
        /// What to do.
        hint: String,
    },

    /// A batch's Kafka ranges do not start where the sink's committed offsets end: writing it
    /// would lose or double records, so nothing is written. Another job writes this sink, or
    /// the stream was not started from [`crate::Sink::committed_kafka_offsets`].
    #[error(
        "sink {sink:?}: {reason}; nothing was written. Start the stream from the offsets the database holds (KafkaParams::from_offsets(sink.committed_kafka_offsets()?)) and let one job write each sink"
    )]
    OffsetsBreak {
        /// The sink's name.
        sink: String,
        /// Which range, and the stored offset.
        reason: String,
    },

    /// A database URL that does not parse.
    #[error("invalid database URL {url}: {reason} (expected e.g. {example})")]
    InvalidUrl {
        /// The URL, its password left out.
        url: String,
        /// What is wrong.
        reason: String,
        /// A URL of the right form.
        example: &'static str,
    },

    /// A sink that cannot work: a bad URL, no columns, key columns not among the columns, a
    /// row with the wrong number of values.
    #[error("sink {sink:?}: {reason}")]
    Invalid {
        /// The sink's name.
        sink: String,
        /// What is wrong.
        reason: String,
    },
}

/// What to do about a refusal, from the SQLSTATE / error class.
pub(crate) fn hint_for(class: RefusalClass, table: &str) -> String {
    match class {
        RefusalClass::Auth => "Check the user and password in the database URL".into(),
        RefusalClass::MissingTable => format!(
            "Create the table {table} first (the DDL is yours: see the sink's documentation) or fix its name"
        ),
        RefusalClass::Tls => "Check the server's certificate and the URL's TLS settings \
            (PostgreSQL: sslmode, sslrootcert; MySQL: root_cert_path); the batch is not marked \
            written, so a restart writes it"
            .into(),
        RefusalClass::Other => {
            "Fix the table or the row mapping; the batch is not marked written, so a restart writes it"
                .into()
        }
    }
}

/// Kinds of refusal that have their own advice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefusalClass {
    Auth,
    MissingTable,
    /// The server's TLS certificate was not trusted (retrying cannot help).
    Tls,
    Other,
}
