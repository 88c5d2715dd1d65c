//! MySQL and MariaDB, through the `mysql` crate (no TLS: on loopback or a trusted network).

use std::collections::BTreeMap;
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Params, TxOpts};
use spate_streaming::OutputMode;
use spate_streaming::kafka::TopicPartition;

use crate::connection::{Connected, Connection, Driver};
use crate::error::{Error, RefusalClass, Result};
use crate::offsets::ends_early;
use crate::statements::Dialect;
use crate::{BatchWrite, Failure, Outcome, Value};

/// A MySQL or MariaDB database: `mysql://user:password@host:port/database`. Connects on the
/// first write and keeps the connection; reconnects after a failure. Tables must be InnoDB
/// (transactions).
///
/// # Examples
///
/// ```
/// use spate_sql::{Database, MySql};
/// let db = MySql::new("mysql://spate:secret@127.0.0.1:3306/spate").unwrap();
/// assert_eq!(db.describe(), "mysql://spate@127.0.0.1:3306/spate"); // no password
/// assert!(MySql::new("postgres://u@h/db").is_err());
/// ```
pub struct MySql {
    conn: Connection<MySqlDriver>,
}

/// How spate reaches MySql.
pub(crate) struct MySqlDriver {
    opts: Opts,
}

impl MySql {
    /// The database at `url` (nothing is connected yet).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(spate_sql::MySql::new("mysql://u@localhost/db").is_ok());
    /// ```
    pub fn new(url: &str) -> Result<MySql> {
        let opts = Opts::from_url(url).map_err(|e| Error::InvalidUrl {
            url: url.split('@').next_back().unwrap_or_default().to_string(),
            reason: e.to_string(),
            example: "mysql://user:password@127.0.0.1:3306/database",
        })?;
        let shown = format!(
            "mysql://{}@{}:{}/{}",
            opts.get_user().unwrap_or_default(),
            opts.get_ip_or_hostname(),
            opts.get_tcp_port(),
            opts.get_db_name().unwrap_or_default()
        );
        let opts: Opts = OptsBuilder::from_opts(opts)
            .tcp_connect_timeout(Some(Duration::from_secs(5)))
            .into();
        Ok(MySql {
            conn: Connection::new(MySqlDriver { opts }, shown),
        })
    }
}

/// Connection trouble (and deadlocks, lock timeouts) is retried; what the server refuses is not.
fn classify(e: mysql::Error) -> Failure {
    // The driver's error gives no `source` chain: its I/O parts are looked into here.
    let tls = match &e {
        mysql::Error::CodecError(codec) => crate::connection::tls_refusal(codec),
        mysql::Error::IoError(io) => crate::connection::tls_refusal(io),
        _ => None,
    };
    if let Some(why) = tls {
        return Failure::Refused(RefusalClass::Tls, why);
    }
    match e {
        mysql::Error::MySqlError(ref m) => match m.code {
            1044 | 1045 | 1049 | 1698 => Failure::Refused(RefusalClass::Auth, m.message.clone()),
            1146 => Failure::Refused(RefusalClass::MissingTable, m.message.clone()),
            1205 | 1213 | 1040 | 1053 => Failure::Transient(m.message.clone()),
            _ => Failure::Refused(RefusalClass::Other, m.message.clone()),
        },
        mysql::Error::TlsError(_) => Failure::Refused(RefusalClass::Tls, e.to_string()),
        mysql::Error::IoError(_) | mysql::Error::DriverError(_) => {
            Failure::Transient(e.to_string())
        }
        other => Failure::Refused(RefusalClass::Other, other.to_string()),
    }
}

fn param(v: &Value) -> mysql::Value {
    match v {
        Value::Null => mysql::Value::NULL,
        Value::Int(i) => mysql::Value::Int(*i),
        Value::Float(f) => mysql::Value::Double(*f),
        Value::Text(s) => mysql::Value::Bytes(s.as_bytes().to_vec()),
        Value::Bool(b) => mysql::Value::Int(i64::from(*b)),
    }
}

impl Connected for MySql {
    type Driver = MySqlDriver;
    fn connection(&self) -> &Connection<MySqlDriver> {
        &self.conn
    }
}

impl Driver for MySqlDriver {
    type Conn = Conn;
    type Error = mysql::Error;

    fn connect(&self) -> std::result::Result<Conn, Failure> {
        let mut conn = Conn::new(self.opts.clone()).map_err(classify)?;
        // DDL commits implicitly in MySQL: before any batch's transaction.
        conn.query_drop(Dialect::MySql.create_progress())
            .map_err(classify)?;
        conn.query_drop(Dialect::MySql.create_offsets())
            .map_err(classify)?;
        Ok(conn)
    }

    fn classify(e: mysql::Error) -> Failure {
        classify(e)
    }

    fn write(
        conn: &mut Conn,
        w: &BatchWrite<'_>,
    ) -> std::result::Result<std::result::Result<Outcome, String>, mysql::Error> {
        write(conn, w)
    }

    fn committed(conn: &mut Conn, sink: &str) -> std::result::Result<Option<i64>, mysql::Error> {
        conn.exec_first(
            "SELECT batch_time FROM spate_sink_progress WHERE sink = ?",
            (sink,),
        )
    }

    fn offsets(
        conn: &mut Conn,
        sink: &str,
    ) -> std::result::Result<BTreeMap<TopicPartition, i64>, mysql::Error> {
        stored_offsets(conn, sink, false)
    }
}

/// A sink's stored Kafka offsets (locked for the transaction with `for_update`).
fn stored_offsets(
    conn: &mut impl Queryable,
    sink: &str,
    for_update: bool,
) -> std::result::Result<BTreeMap<TopicPartition, i64>, mysql::Error> {
    let rows: Vec<(String, i32, i64)> =
        conn.exec(Dialect::MySql.select_offsets(for_update), (sink,))?;
    Ok(rows
        .into_iter()
        .map(|(t, p, o)| (TopicPartition::new(t, p), o))
        .collect())
}

/// One batch's transaction; `Ok(Err(why))`: its Kafka ranges do not continue the stored ones.
fn write(
    conn: &mut Conn,
    w: &BatchWrite<'_>,
) -> std::result::Result<std::result::Result<Outcome, String>, mysql::Error> {
    let d = Dialect::MySql;
    let mut tx = conn.start_transaction(TxOpts::default())?;
    let done: Option<i64> = tx.exec_first(d.select_progress(), (w.sink,))?;
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
        tx.query_drop(d.delete_all(w.table))?;
    }
    for chunk in w.rows.chunks(Dialect::rows_per_insert(w.table)) {
        let params: Vec<mysql::Value> = chunk.iter().flatten().map(param).collect();
        tx.exec_drop(
            d.insert(w.table, chunk.len(), w.mode),
            Params::Positional(params),
        )?;
    }
    for r in w.offsets {
        tx.exec_drop(
            d.upsert_offset(),
            (w.sink, r.topic.as_str(), r.partition, r.until),
        )?;
    }
    tx.exec_drop(d.upsert_progress(), (w.sink, w.batch_time))?;
    tx.commit()?;
    Ok(Ok(Outcome::Written))
}
