//! The SQL a batch's transaction runs, for both dialects.

use spate_streaming::OutputMode;

use crate::Table;

/// Where the two databases' SQL differs (both kept, and unit-tested, whichever drivers are built).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(all(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) enum Dialect {
    Postgres,
    MySql,
}

/// Most bind parameters one statement may carry (both protocols count them in 16 bits).
const MAX_PARAMS: usize = 60_000;

impl Dialect {
    /// An identifier, quoted (each dot-separated part: `schema.table` stays two parts).
    pub(crate) fn quote(self, name: &str) -> String {
        let q = match self {
            Dialect::Postgres => '"',
            Dialect::MySql => '`',
        };
        name.split('.')
            .map(|part| format!("{q}{}{q}", part.replace(q, &format!("{q}{q}"))))
            .collect::<Vec<_>>()
            .join(".")
    }

    fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::MySql => "?".into(),
        }
    }

    /// The progress table: the last batch each sink committed.
    pub(crate) fn create_progress(self) -> &'static str {
        match self {
            Dialect::Postgres => {
                "CREATE TABLE IF NOT EXISTS spate_sink_progress (sink TEXT PRIMARY KEY, batch_time BIGINT NOT NULL)"
            }
            Dialect::MySql => {
                "CREATE TABLE IF NOT EXISTS spate_sink_progress (sink VARCHAR(255) PRIMARY KEY, batch_time BIGINT NOT NULL) ENGINE=InnoDB"
            }
        }
    }

    /// Reads (and locks) a sink's progress row.
    pub(crate) fn select_progress(self) -> String {
        format!(
            "SELECT batch_time FROM spate_sink_progress WHERE sink = {} FOR UPDATE",
            self.placeholder(1)
        )
    }

    /// Sets a sink's progress row.
    pub(crate) fn upsert_progress(self) -> String {
        let (a, b) = (self.placeholder(1), self.placeholder(2));
        match self {
            Dialect::Postgres => format!(
                "INSERT INTO spate_sink_progress (sink, batch_time) VALUES ({a}, {b}) ON CONFLICT (sink) DO UPDATE SET batch_time = EXCLUDED.batch_time"
            ),
            Dialect::MySql => format!(
                "INSERT INTO spate_sink_progress (sink, batch_time) VALUES ({a}, {b}) ON DUPLICATE KEY UPDATE batch_time = VALUES(batch_time)"
            ),
        }
    }

    /// Complete mode: the table's rows go before the batch's whole table is written.
    pub(crate) fn delete_all(self, table: &Table) -> String {
        format!("DELETE FROM {}", self.quote(&table.name))
    }

    /// How many rows one INSERT statement takes.
    pub(crate) fn rows_per_insert(table: &Table) -> usize {
        (MAX_PARAMS / table.columns.len().max(1)).max(1)
    }

    /// An INSERT of `rows` rows: plain (Append, Complete) or an upsert on the key (Update).
    pub(crate) fn insert(self, table: &Table, rows: usize, mode: OutputMode) -> String {
        let cols: Vec<String> = table.columns.iter().map(|c| self.quote(c)).collect();
        let n = cols.len();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            self.quote(&table.name),
            cols.join(", ")
        );
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            let row: Vec<String> = (1..=n).map(|c| self.placeholder(r * n + c)).collect();
            sql.push_str(&row.join(", "));
            sql.push(')');
        }
        if mode == OutputMode::Update {
            let others: Vec<&String> = table
                .columns
                .iter()
                .filter(|c| !table.key.contains(c))
                .collect();
            match self {
                Dialect::Postgres => {
                    let key: Vec<String> = table.key.iter().map(|c| self.quote(c)).collect();
                    sql.push_str(&format!(" ON CONFLICT ({}) DO ", key.join(", ")));
                    if others.is_empty() {
                        sql.push_str("NOTHING");
                    } else {
                        let set: Vec<String> = others
                            .iter()
                            .map(|c| format!("{0} = EXCLUDED.{0}", self.quote(c)))
                            .collect();
                        sql.push_str(&format!("UPDATE SET {}", set.join(", ")));
                    }
                }
                Dialect::MySql => {
                    // With no other column, re-setting the first key column keeps the row.
                    let set: Vec<String> = if others.is_empty() {
                        vec![format!("{0} = {0}", self.quote(&table.key[0]))]
                    } else {
                        others
                            .iter()
                            .map(|c| format!("{0} = VALUES({0})", self.quote(c)))
                            .collect()
                    };
                    sql.push_str(&format!(" ON DUPLICATE KEY UPDATE {}", set.join(", ")));
                }
            }
        }
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table::new("word_counts", &["window_start", "word", "count"]).key(&["window_start", "word"])
    }

    #[test]
    fn statements_of_both_dialects() {
        let t = table();
        assert_eq!(
            Dialect::Postgres.insert(&t, 2, OutputMode::Append),
            r#"INSERT INTO "word_counts" ("window_start", "word", "count") VALUES ($1, $2, $3), ($4, $5, $6)"#
        );
        assert_eq!(
            Dialect::Postgres.insert(&t, 1, OutputMode::Update),
            r#"INSERT INTO "word_counts" ("window_start", "word", "count") VALUES ($1, $2, $3) ON CONFLICT ("window_start", "word") DO UPDATE SET "count" = EXCLUDED."count""#
        );
        assert_eq!(
            Dialect::MySql.insert(&t, 1, OutputMode::Update),
            "INSERT INTO `word_counts` (`window_start`, `word`, `count`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `count` = VALUES(`count`)"
        );
        assert_eq!(Dialect::Postgres.quote(r#"odd"name"#), r#""odd""name""#);
        assert_eq!(Dialect::MySql.quote("db.t"), "`db`.`t`");
        assert_eq!(Dialect::rows_per_insert(&t), 20_000);
    }
}
