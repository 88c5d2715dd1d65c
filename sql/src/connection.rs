//! The one [`Database`] implementation of the SQL databases: a [`Driver`] says what differs
//! (the connection, how it opens, how its errors classify, each operation's statements), a
//! [`Connection`] holds one connection and runs every operation through the one retry loop
//! (`with_retries`: reconnect and retry what is transient, report what the database refused).

use std::collections::BTreeMap;

use parking_lot::Mutex;
use spate_streaming::kafka::TopicPartition;

use crate::error::Result;
use crate::{BatchWrite, Database, Failure, Outcome, Table, with_retries};

/// What differs between two SQL databases.
pub(crate) trait Driver: Send + Sync + 'static {
    type Conn: Send + 'static;
    type Error;
    /// Opens a connection (and makes the progress and offset tables when missing).
    fn connect(&self) -> std::result::Result<Self::Conn, Failure>;
    /// Whether an error is worth a reconnect, or the database's refusal.
    fn classify(e: Self::Error) -> Failure;
    /// One batch's transaction; `Ok(Err(why))`: its Kafka ranges do not continue the stored
    /// ones.
    fn write(
        conn: &mut Self::Conn,
        w: &BatchWrite<'_>,
    ) -> std::result::Result<std::result::Result<Outcome, String>, Self::Error>;
    /// The sink's committed batch time.
    fn committed(
        conn: &mut Self::Conn,
        sink: &str,
    ) -> std::result::Result<Option<i64>, Self::Error>;
    /// The sink's stored Kafka offsets.
    fn offsets(
        conn: &mut Self::Conn,
        sink: &str,
    ) -> std::result::Result<BTreeMap<TopicPartition, i64>, Self::Error>;
}

/// A database reached through driver `D`: one connection, reopened when it fails.
pub(crate) struct Connection<D: Driver> {
    driver: D,
    /// The database as messages name it (never its password).
    shown: String,
    conn: Mutex<Option<D::Conn>>,
}

impl<D: Driver> Connection<D> {
    pub(crate) fn new(driver: D, shown: String) -> Connection<D> {
        Connection {
            driver,
            shown,
            conn: Mutex::new(None),
        }
    }

    /// Runs `attempt` on the connection, with `with_retries`'s reconnects.
    fn retrying<R>(
        &self,
        sink: &str,
        table: &Table,
        mut attempt: impl FnMut(&mut D::Conn) -> std::result::Result<R, D::Error>,
    ) -> Result<R> {
        with_retries(
            sink,
            table,
            &self.shown,
            &self.conn,
            || self.driver.connect(),
            |c| attempt(c).map_err(D::classify),
        )
    }
}

/// A public database type ([`crate::Postgres`], [`crate::MySql`]) over its [`Connection`].
pub(crate) trait Connected: Send + Sync + 'static {
    type Driver: Driver;
    fn connection(&self) -> &Connection<Self::Driver>;
}

impl<T: Connected> Database for T {
    fn write_batch(&self, w: &BatchWrite<'_>) -> Result<Outcome> {
        self.connection()
            .retrying(w.sink, w.table, |conn| T::Driver::write(conn, w))?
            .map_err(|reason| crate::Error::OffsetsBreak {
                sink: w.sink.to_string(),
                reason,
            })
    }

    fn committed(&self, sink: &str, table: &Table) -> Result<Option<i64>> {
        self.connection()
            .retrying(sink, table, |conn| T::Driver::committed(conn, sink))
    }

    fn describe(&self) -> String {
        self.connection().shown.clone()
    }

    fn committed_offsets(
        &self,
        sink: &str,
        table: &Table,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.connection()
            .retrying(sink, table, |conn| T::Driver::offsets(conn, sink))
    }
}

/// The TLS refusal somewhere in `e`'s source chain (a server certificate not trusted), if any:
/// the drivers wrap it in their own errors, and retrying cannot help.
pub(crate) fn tls_refusal(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(format!("TLS handshake refused: {tls}"));
        }
        if let Some(tls) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(format!("TLS handshake refused: {tls}"));
        }
        next = err.source();
    }
    None
}
