//! PostgreSQL, through the `postgres` crate; TLS as libpq does it (`sslmode`, `sslrootcert`:
//! see `crate::tls`).

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::io::Write;
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Config, GenericClient};
use spate_streaming::OutputMode;
use spate_streaming::kafka::TopicPartition;

use crate::connection::{Connected, Connection, Driver};
use crate::error::{Error, RefusalClass, Result};
use crate::offsets::ends_early;
use crate::statements::Dialect;
use crate::{BatchWrite, Failure, Outcome, Value};

/// Batches of more rows than this are appended with `COPY` (one round trip, no parameters).
const COPY_ABOVE: usize = 1_000;

/// A PostgreSQL database: `postgres://user:password@host:port/database`. Connects on the first
/// write and keeps the connection; reconnects after a failure.
///
/// TLS as libpq: `?sslmode=verify-full&sslrootcert=/path/ca.pem` checks the server's
/// certificate against the CA and its name; `verify-ca` the CA only; `require` and the default
/// `prefer` encrypt without checking (`prefer` falls back to plain text), `disable` never
/// encrypts.
///
/// # Examples
///
/// ```
/// use spate_sql::{Database, Postgres};
/// let db = Postgres::new("postgres://spate:secret@127.0.0.1:5432/spate").unwrap();
/// assert_eq!(db.describe(), "postgres://spate@127.0.0.1:5432/spate"); // no password
/// assert!(Postgres::new("postgres://[bad").is_err());
/// ```
pub struct Postgres {
    conn: Connection<PgDriver>,
}

/// How spate reaches Postgres.
pub(crate) struct PgDriver {
    config: Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
}

impl Postgres {
    /// The database at `url` (nothing is connected yet).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_sql::Postgres::new("postgres://u@localhost/db").is_ok());
    /// ```
    pub fn new(url: &str) -> Result<Postgres> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: without_password(url),
            reason,
            example: "postgres://user:password@127.0.0.1:5432/database?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem",
        };
        let tls = crate::tls::PgTls::from_url(url).map_err(invalid)?;
        let connector =
            tokio_postgres_rustls::MakeRustlsConnect::new(tls.client_config().map_err(invalid)?);
        let mut config: Config =
            tls.url
                .parse()
                .map_err(|e: postgres::Error| Error::InvalidUrl {
                    url: without_password(url),
                    reason: e.to_string(),
                    example: "postgres://user:password@127.0.0.1:5432/database",
                })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let shown = format!(
            "postgres://{}@{host}:{port}/{}",
            config.get_user().unwrap_or_default(),
            config.get_dbname().unwrap_or_default()
        );
        Ok(Postgres {
            conn: Connection::new(
                PgDriver {
                    config,
                    tls: connector,
                },
                shown,
            ),
        })
    }
}

/// Connection trouble is retried; what the server refuses is not.
fn classify(e: postgres::Error) -> Failure {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let message = db.message().to_string();
        return if code.starts_with("08") || code.starts_with("57P") || code.starts_with("40") {
            Failure::Transient(message)
        } else if code.starts_with("28") {
            Failure::Refused(RefusalClass::Auth, message)
        } else if *db.code() == SqlState::UNDEFINED_TABLE {
            Failure::Refused(RefusalClass::MissingTable, message)
        } else {
            Failure::Refused(RefusalClass::Other, message)
        };
    }
    // A certificate the client does not trust: no retry helps, and the cause (deep in the
    // source chain, which `postgres::Error` does not print) is what to fix.
    if let Some(why) = crate::connection::tls_refusal(&e) {
        return Failure::Refused(RefusalClass::Tls, why);
    }
    let io = e.source().is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io || e.to_string().contains("timed out") {
        Failure::Transient(e.to_string())
    } else {
        Failure::Refused(RefusalClass::Other, e.to_string())
    }
}

impl Connected for Postgres {
    type Driver = PgDriver;
    fn connection(&self) -> &Connection<PgDriver> {
        &self.conn
    }
}

impl Driver for PgDriver {
    type Conn = Client;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<Client, Failure> {
        let mut client = self.config.connect(self.tls.clone()).map_err(classify)?;
        client
            .batch_execute(Dialect::Postgres.create_progress())
            .map_err(classify)?;
        client
            .batch_execute(Dialect::Postgres.create_offsets())
            .map_err(classify)?;
        Ok(client)
    }

    fn classify(e: postgres::Error) -> Failure {
        classify(e)
    }

    fn write(
        conn: &mut Client,
        w: &BatchWrite<'_>,
    ) -> std::result::Result<std::result::Result<Outcome, String>, postgres::Error> {
        write(conn, w)
    }

    fn committed(
        conn: &mut Client,
        sink: &str,
    ) -> std::result::Result<Option<i64>, postgres::Error> {
        conn.query_opt(
            "SELECT batch_time FROM spate_sink_progress WHERE sink = $1",
            &[&sink],
        )
        .map(|row| row.map(|r| r.get::<_, i64>(0)))
    }

    fn offsets(
        conn: &mut Client,
        sink: &str,
    ) -> std::result::Result<BTreeMap<TopicPartition, i64>, postgres::Error> {
        stored_offsets(conn, sink, false)
    }
}

/// A sink's stored Kafka offsets (locked for the transaction with `for_update`).
fn stored_offsets(
    client: &mut impl GenericClient,
    sink: &str,
    for_update: bool,
) -> std::result::Result<BTreeMap<TopicPartition, i64>, postgres::Error> {
    Ok(client
        .query(&Dialect::Postgres.select_offsets(for_update), &[&sink])?
        .iter()
        .map(|r| {
            (
                TopicPartition::new(r.get::<_, String>(0), r.get(1)),
                r.get(2),
            )
        })
        .collect())
}

/// One batch's transaction; `Ok(Err(why))`: its Kafka ranges do not continue the stored ones.
fn write(
    client: &mut Client,
    w: &BatchWrite<'_>,
) -> std::result::Result<std::result::Result<Outcome, String>, postgres::Error> {
    let d = Dialect::Postgres;
    let mut tx = client.transaction()?;
    let done: Option<i64> = tx
        .query_opt(&d.select_progress(), &[&w.sink])?
        .map(|r| r.get(0));
    if done.is_some_and(|t| t >= w.batch_time) {
        tx.rollback()?;
        return Ok(Ok(Outcome::AlreadyWritten));
    }
    if !w.offsets.is_empty() {
        let stored = stored_offsets(&mut tx, w.sink, true)?;
        if let Some(end) = ends_early(&stored, w.offsets) {
            tx.rollback()?;
            return Ok(end);
        }
    }
    if w.mode == OutputMode::Complete {
        tx.batch_execute(&d.delete_all(w.table))?;
    }
    if w.mode != OutputMode::Update && w.rows.len() > COPY_ABOVE {
        copy_in(&mut tx, w)?;
    } else {
        for chunk in w.rows.chunks(Dialect::rows_per_insert(w.table)) {
            let params: Vec<&(dyn ToSql + Sync)> = chunk
                .iter()
                .flatten()
                .map(|v| v as &(dyn ToSql + Sync))
                .collect();
            tx.execute(&d.insert(w.table, chunk.len(), w.mode), &params)?;
        }
    }
    for r in w.offsets {
        tx.execute(
            d.upsert_offset(),
            &[&w.sink, &r.topic, &r.partition, &r.until],
        )?;
    }
    tx.execute(&d.upsert_progress(), &[&w.sink, &w.batch_time])?;
    tx.commit()?;
    Ok(Ok(Outcome::Written))
}

/// Appends the rows with `COPY ... FROM STDIN` in text format.
fn copy_in(
    tx: &mut postgres::Transaction<'_>,
    w: &BatchWrite<'_>,
) -> std::result::Result<(), postgres::Error> {
    let d = Dialect::Postgres;
    let cols: Vec<String> = w.table.columns().iter().map(|c| d.quote(c)).collect();
    let sql = format!(
        "COPY {} ({}) FROM STDIN",
        d.quote(w.table.name()),
        cols.join(", ")
    );
    let mut writer = tx.copy_in(&sql)?;
    let mut line = String::new();
    for row in w.rows {
        line.clear();
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                line.push('\t');
            }
            copy_text(v, &mut line);
        }
        line.push('\n');
        // A failed write shows as the COPY's error at finish().
        if writer.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
    writer.finish()?;
    Ok(())
}

/// A value in COPY's text format: `\N` for NULL, backslash escapes for the separators.
fn copy_text(v: &Value, out: &mut String) {
    use std::fmt::Write as _;
    match v {
        Value::Null => out.push_str("\\N"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Text(s) => {
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let mismatch = |what: &str| -> Box<dyn StdError + Sync + Send> {
            format!("cannot write {what} into a column of type {ty}").into()
        };
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT8 => i.to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ if <String as ToSql>::accepts(ty) => i.to_string().to_sql(ty, out),
                _ => Err(mismatch("an integer")),
            },
            Value::Float(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::FLOAT8 => f.to_sql(ty, out),
                _ => Err(mismatch("a float")),
            },
            Value::Bool(b) if *ty == Type::BOOL => b.to_sql(ty, out),
            Value::Bool(_) => Err(mismatch("a boolean")),
            Value::Text(s) if <String as ToSql>::accepts(ty) => s.to_sql(ty, out),
            Value::Text(_) => Err(mismatch("text")),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// `url` as an error may show it: a URL without its user info, a `key=value` string with its
/// password's value masked (quoted or not).
fn without_password(url: &str) -> String {
    if url.contains("://") {
        return url.split('@').next_back().unwrap_or_default().to_string();
    }
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(at) = rest.find("password") {
        let (before, after) = rest.split_at(at + "password".len());
        out.push_str(before);
        let value = after.trim_start();
        let Some(value) = value.strip_prefix('=') else {
            rest = after;
            continue;
        };
        let value = value.trim_start();
        // The value: up to its closing quote (backslash escapes one), or to a space.
        let end = if let Some(quoted) = value.strip_prefix('\'') {
            let mut chars = quoted.char_indices();
            let mut end = value.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '\'' => {
                        end = i + 2;
                        break;
                    }
                    _ => {}
                }
            }
            end
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        out.push_str("=***");
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 30, finding 13: a malformed `key=value` string echoed its password.
    #[test]
    fn a_bad_connection_string_never_shows_its_password() {
        for url in [
            "host=db password=hunter2 dbname=x bogus",
            "host=db password = 'hunter2 with spaces' dbname=x bogus",
            "host=db password='hun\\'ter2' bogus",
            "postgres://u:hunter2@db:99999/x",
        ] {
            let Err(err) = Postgres::new(url) else {
                panic!("{url} was accepted")
            };
            let err = err.to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(!err.contains("ter2"), "{err}");
        }
        assert_eq!(
            without_password("host=db password=a'b port=1"),
            "host=db password=*** port=1"
        );
    }

    #[test]
    fn copy_text_escapes_what_would_split_a_row() {
        let mut s = String::new();
        for v in [
            Value::Text("a\tb\\c\nd".into()),
            Value::Null,
            Value::Int(-3),
            Value::Bool(true),
        ] {
            copy_text(&v, &mut s);
            s.push('|');
        }
        assert_eq!(s, "a\\tb\\\\c\\nd|\\N|-3|t|");
    }
}
