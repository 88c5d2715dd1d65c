//! MySQL and MariaDB, through the `mysql` crate (no TLS: on loopback or a trusted network).

use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Params, TxOpts};
use parking_lot::Mutex;
use spate_streaming::OutputMode;

use crate::error::{Error, RefusalClass, Result};
use crate::statements::Dialect;
use crate::{BatchWrite, Database, Failure, Outcome, Table, Value, with_retries};

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
    opts: Opts,
    shown: String,
    conn: Mutex<Option<Conn>>,
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
            opts,
            shown,
            conn: Mutex::new(None),
        })
    }

    fn connect(&self) -> std::result::Result<Conn, Failure> {
        let mut conn = Conn::new(self.opts.clone()).map_err(classify)?;
        // DDL commits implicitly in MySQL: before any batch's transaction.
        conn.query_drop(Dialect::MySql.create_progress())
            .map_err(classify)?;
        Ok(conn)
    }
}

/// Connection trouble (and deadlocks, lock timeouts) is retried; what the server refuses is not.
fn classify(e: mysql::Error) -> Failure {
    match e {
        mysql::Error::MySqlError(ref m) => match m.code {
            1044 | 1045 | 1049 | 1698 => Failure::Refused(RefusalClass::Auth, m.message.clone()),
            1146 => Failure::Refused(RefusalClass::MissingTable, m.message.clone()),
            1205 | 1213 | 1040 | 1053 => Failure::Transient(m.message.clone()),
            _ => Failure::Refused(RefusalClass::Other, m.message.clone()),
        },
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

impl Database for MySql {
    fn write_batch(&self, w: &BatchWrite<'_>) -> Result<Outcome> {
        with_retries(
            w.sink,
            w.table,
            &self.shown,
            &self.conn,
            || self.connect(),
            |conn| write(conn, w).map_err(classify),
        )
    }

    fn committed(&self, sink: &str, table: &Table) -> Result<Option<i64>> {
        with_retries(
            sink,
            table,
            &self.shown,
            &self.conn,
            || self.connect(),
            |conn| {
                conn.exec_first(
                    "SELECT batch_time FROM spate_sink_progress WHERE sink = ?",
                    (sink,),
                )
                .map_err(classify)
            },
        )
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }
}

fn write(conn: &mut Conn, w: &BatchWrite<'_>) -> std::result::Result<Outcome, mysql::Error> {
    let d = Dialect::MySql;
    let mut tx = conn.start_transaction(TxOpts::default())?;
    let done: Option<i64> = tx.exec_first(d.select_progress(), (w.sink,))?;
    if done.is_some_and(|t| t >= w.batch_time) {
        tx.rollback()?;
        return Ok(Outcome::AlreadyWritten);
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
    tx.exec_drop(d.upsert_progress(), (w.sink, w.batch_time))?;
    tx.commit()?;
    Ok(Outcome::Written)
}
