//! Where receivers run in a cluster application: the placement policy (after Spark's
//! `ReceiverSchedulingPolicy`). Each receiver runs on one executor and its blocks are copied to
//! a second (the replica). A receiver stays where it is while its executor lives — moving one
//! would cut its connection —, so a new executor gets no running receiver, only the next one
//! placed. A receiver whose executor is lost goes to the live executor running the fewest
//! receivers (one whose host or `executor-N` matches `Receiver::preferred_location`, when one
//! does), with a new generation, so its block ids never collide with the lost run's. A replica
//! is the executor holding the fewest replicas, on another host when there is one.

use serde::{Deserialize, Serialize};
use spate_core::ExecutorInfo;

/// Where one receiver runs and where its blocks are copied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Placement {
    pub(crate) stream: u32,
    pub(crate) executor: u32,
    pub(crate) host: String,
    /// Bumped whenever the receiver starts on another executor.
    pub(crate) generation: u64,
    /// The executor keeping a copy of its blocks (id, service address).
    pub(crate) replica: Option<(u32, String)>,
}

/// A receiver to place: its stream and its preferred location.
#[derive(Clone, Debug)]
pub(crate) struct Wish {
    pub(crate) stream: u32,
    pub(crate) preferred: Option<String>,
}

fn matches(preferred: &str, e: &ExecutorInfo) -> bool {
    preferred == e.host || preferred == format!("executor-{}", e.id)
}

/// Places every receiver in `wishes` on the `live` executors, keeping what `current` says
/// where its executor lives; `replication` is 1 or 2 copies of each block. A receiver is left
/// out when no executor is alive. `next_generation` numbers new placements.
pub(crate) fn place(
    current: &[Placement],
    wishes: &[Wish],
    live: &[ExecutorInfo],
    replication: usize,
    next_generation: &mut u64,
) -> Vec<Placement> {
    let alive = |id: u32| live.iter().any(|e| e.id == id);
    let mut placed: Vec<Placement> = Vec::with_capacity(wishes.len());
    // Kept placements first, so the counts new ones balance against are complete.
    let kept: Vec<Option<Placement>> = wishes
        .iter()
        .map(|w| {
            current
                .iter()
                .find(|p| p.stream == w.stream && alive(p.executor))
                .cloned()
        })
        .collect();
    let receivers_on = |id: u32, placed: &[Placement], kept: &[Option<Placement>]| {
        placed.iter().filter(|p| p.executor == id).count()
            + kept.iter().flatten().filter(|p| p.executor == id).count()
    };
    for (i, wish) in wishes.iter().enumerate() {
        let p = match &kept[i] {
            Some(p) => p.clone(),
            None => {
                let preferred: Vec<&ExecutorInfo> = wish
                    .preferred
                    .as_deref()
                    .map(|want| live.iter().filter(|e| matches(want, e)).collect())
                    .unwrap_or_default();
                let candidates: Vec<&ExecutorInfo> = if preferred.is_empty() {
                    live.iter().collect()
                } else {
                    preferred
                };
                let rest = &kept[i + 1..];
                let Some(e) = candidates
                    .into_iter()
                    .min_by_key(|e| (receivers_on(e.id, &placed, rest), e.id))
                else {
                    continue;
                };
                *next_generation += 1;
                Placement {
                    stream: wish.stream,
                    executor: e.id,
                    host: e.host.clone(),
                    generation: *next_generation,
                    replica: None,
                }
            }
        };
        placed.push(p);
    }
    // Replicas, once every receiver's executor is known.
    for i in 0..placed.len() {
        let executor = placed[i].executor;
        let keep = replication >= 2
            && placed[i]
                .replica
                .as_ref()
                .is_some_and(|(r, _)| *r != executor && alive(*r));
        if keep {
            continue;
        }
        placed[i].replica = None;
        if replication < 2 {
            continue;
        }
        let host = placed[i].host.clone();
        let replicas_on = |id: u32| {
            placed
                .iter()
                .filter(|p| p.replica.as_ref().is_some_and(|r| r.0 == id))
                .count()
        };
        placed[i].replica = live
            .iter()
            .filter(|e| e.id != executor)
            .min_by_key(|e| (e.host == host, replicas_on(e.id), e.id))
            .map(|e| (e.id, e.address.clone()));
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(id: u32, host: &str) -> ExecutorInfo {
        ExecutorInfo {
            id,
            host: host.into(),
            address: format!("10.0.0.{id}:1"),
        }
    }

    fn wish(stream: u32) -> Wish {
        Wish {
            stream,
            preferred: None,
        }
    }

    #[test]
    fn receivers_spread_and_replicas_go_elsewhere() {
        let live = [exec(0, "a"), exec(1, "b")];
        let mut generation = 0;
        let p = place(&[], &[wish(0), wish(1)], &live, 2, &mut generation);
        assert_eq!((p[0].executor, p[1].executor), (0, 1));
        assert_eq!(p[0].replica.as_ref().map(|r| r.0), Some(1));
        assert_eq!(p[1].replica.as_ref().map(|r| r.0), Some(0));
        assert_eq!((p[0].generation, p[1].generation), (1, 2));
        // Nothing changed: the same placement.
        assert_eq!(place(&p, &[wish(0), wish(1)], &live, 2, &mut generation), p);
    }

    #[test]
    fn a_lost_executors_receiver_moves_with_a_new_generation() {
        let live = [exec(0, "a"), exec(1, "b")];
        let mut generation = 0;
        let p = place(&[], &[wish(0)], &live, 2, &mut generation);
        assert_eq!(p[0].executor, 0);
        let after = place(&p, &[wish(0)], &[exec(1, "b")], 2, &mut generation);
        assert_eq!(after[0].executor, 1);
        assert_eq!(after[0].generation, 2);
        assert_eq!(after[0].replica, None, "no other executor is left");
        // A replacement arrives: it becomes the replica; the receiver stays.
        let later = place(
            &after,
            &[wish(0)],
            &[exec(1, "b"), exec(2, "c")],
            2,
            &mut generation,
        );
        assert_eq!(later[0].executor, 1);
        assert_eq!(later[0].generation, 2);
        assert_eq!(later[0].replica.as_ref().map(|r| r.0), Some(2));
    }

    #[test]
    fn a_preferred_location_is_honoured_when_alive() {
        let live = [exec(0, "a"), exec(1, "b"), exec(2, "b")];
        let mut generation = 0;
        let wishes = [Wish {
            stream: 0,
            preferred: Some("b".into()),
        }];
        let p = place(&[], &wishes, &live, 2, &mut generation);
        assert_eq!(p[0].executor, 1);
        assert_eq!(
            p[0].replica.as_ref().map(|r| r.0),
            Some(0),
            "another host first"
        );
        let by_id = [Wish {
            stream: 0,
            preferred: Some("executor-2".into()),
        }];
        assert_eq!(place(&[], &by_id, &live, 1, &mut generation)[0].executor, 2);
        let gone = [Wish {
            stream: 0,
            preferred: Some("nowhere".into()),
        }];
        assert_eq!(
            place(&[], &gone, &live, 1, &mut generation)[0].replica,
            None
        );
    }

    #[test]
    fn nothing_is_placed_without_executors() {
        let mut generation = 0;
        assert!(place(&[], &[wish(0)], &[], 2, &mut generation).is_empty());
    }
}
