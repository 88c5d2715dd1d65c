//! Kafka offsets kept in the results' transaction: the table, and the check that a batch
//! continues exactly where the committed offsets end.

use std::collections::BTreeMap;

use spate_streaming::kafka::{OffsetRange, TopicPartition};

use crate::statements::Dialect;

/// What a batch's ranges are, next to the offsets the database holds for the sink.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Continuity {
    /// Each range starts where the database's offset is (or the partition is new): write.
    Continues,
    /// The database already holds every range's records: nothing to write.
    AlreadyWritten,
    /// A gap or an overlap: the batch would lose or double records.
    Breaks(String),
}

/// Compares a batch's `ranges` with the `stored` next offsets.
pub(crate) fn continuity(
    stored: &BTreeMap<TopicPartition, i64>,
    ranges: &[OffsetRange],
) -> Continuity {
    let with_stored: Vec<(&OffsetRange, i64)> = ranges
        .iter()
        .filter_map(|r| Some((r, *stored.get(&r.topic_partition())?)))
        .collect();
    if with_stored.iter().all(|(r, s)| *s == r.from) {
        return Continuity::Continues;
    }
    let non_empty: Vec<&OffsetRange> = ranges.iter().filter(|r| r.count() > 0).collect();
    if !non_empty.is_empty()
        && non_empty.iter().all(|r| {
            stored
                .get(&r.topic_partition())
                .is_some_and(|s| *s >= r.until)
        })
    {
        return Continuity::AlreadyWritten;
    }
    let (r, s) = with_stored
        .iter()
        .find(|(r, s)| *s != r.from)
        .expect("some range does not start at its stored offset");
    let what = if *s > r.from {
        "overlaps"
    } else {
        "leaves a gap after"
    };
    Continuity::Breaks(format!(
        "the batch reads {r} but the database's next offset of {} is {s}: it {what} what was committed",
        r.topic_partition()
    ))
}

/// Whether a batch's transaction ends before writing, and how: `None` writes; else it rolls
/// back with the outcome (already written) or why it is refused.
pub(crate) fn ends_early(
    stored: &BTreeMap<TopicPartition, i64>,
    ranges: &[OffsetRange],
) -> Option<Result<crate::Outcome, String>> {
    match continuity(stored, ranges) {
        Continuity::Continues => None,
        Continuity::AlreadyWritten => Some(Ok(crate::Outcome::AlreadyWritten)),
        Continuity::Breaks(why) => Some(Err(why)),
    }
}

impl Dialect {
    /// The offsets table: each sink's next offset per topic partition.
    pub(crate) fn create_offsets(self) -> &'static str {
        match self {
            Dialect::Postgres => {
                "CREATE TABLE IF NOT EXISTS spate_kafka_offsets (sink TEXT NOT NULL, topic TEXT NOT NULL, kafka_partition INT NOT NULL, next_offset BIGINT NOT NULL, PRIMARY KEY (sink, topic, kafka_partition))"
            }
            Dialect::MySql => {
                "CREATE TABLE IF NOT EXISTS spate_kafka_offsets (sink VARCHAR(255) NOT NULL, topic VARCHAR(249) NOT NULL, kafka_partition INT NOT NULL, next_offset BIGINT NOT NULL, PRIMARY KEY (sink, topic, kafka_partition)) ENGINE=InnoDB"
            }
        }
    }

    /// A sink's offsets (locked with `for_update`, inside the batch's transaction).
    pub(crate) fn select_offsets(self, for_update: bool) -> String {
        let p = match self {
            Dialect::Postgres => "$1",
            Dialect::MySql => "?",
        };
        let lock = if for_update { " FOR UPDATE" } else { "" };
        format!(
            "SELECT topic, kafka_partition, next_offset FROM spate_kafka_offsets WHERE sink = {p}{lock}"
        )
    }

    /// Sets one partition's next offset.
    pub(crate) fn upsert_offset(self) -> &'static str {
        match self {
            Dialect::Postgres => {
                "INSERT INTO spate_kafka_offsets (sink, topic, kafka_partition, next_offset) VALUES ($1, $2, $3, $4) ON CONFLICT (sink, topic, kafka_partition) DO UPDATE SET next_offset = EXCLUDED.next_offset"
            }
            Dialect::MySql => {
                "INSERT INTO spate_kafka_offsets (sink, topic, kafka_partition, next_offset) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE next_offset = VALUES(next_offset)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(pairs: &[(i32, i64)]) -> BTreeMap<TopicPartition, i64> {
        pairs
            .iter()
            .map(|(p, o)| (TopicPartition::new("t", *p), *o))
            .collect()
    }

    #[test]
    fn a_batch_must_start_where_the_committed_offsets_end() {
        let ranges = [
            OffsetRange::new("t", 0, 10, 20),
            OffsetRange::new("t", 1, 5, 5),
        ];
        assert_eq!(continuity(&stored(&[]), &ranges), Continuity::Continues);
        assert_eq!(
            continuity(&stored(&[(0, 10), (1, 5)]), &ranges),
            Continuity::Continues
        );
        // A partition the database has not seen yet.
        assert_eq!(
            continuity(&stored(&[(1, 5)]), &ranges),
            Continuity::Continues
        );
        assert_eq!(
            continuity(&stored(&[(0, 20), (1, 5)]), &ranges),
            Continuity::AlreadyWritten
        );
        let Continuity::Breaks(why) = continuity(&stored(&[(0, 15)]), &ranges) else {
            panic!("an overlap must be refused")
        };
        assert!(
            why.contains("t-0 [10, 20)") && why.contains("overlaps"),
            "{why}"
        );
        let Continuity::Breaks(why) = continuity(&stored(&[(0, 8)]), &ranges) else {
            panic!("a gap must be refused")
        };
        assert!(why.contains("gap"), "{why}");
    }
}
