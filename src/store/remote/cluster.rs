//! Redis Cluster (`redis+cluster://`): what lookups and the Redis thread
//! share about the cluster, and the lookup itself.
//!
//! The thread reads the slot map and keeps ready connections for each
//! master (cluster_thread.rs); a lookup routes each key to its slot's
//! master, asks each master once (a pipeline of `GET`s, never a
//! cross-slot `MGET`) within the one deadline, and never follows a
//! redirect: `MOVED`, `ASK` or a failed node is a miss counted as an error,
//! and asks the thread for a fresh map. Each master has its own breaker: a
//! dead master's keys miss while the others keep serving.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::breaker::{Admit, Breaker, Change, jitter};
use super::commands::{self, Naming};
use super::conn::{Conn, Failure};
use super::fetched::Fetched;
use super::locking::locked;
use super::slots::{self, Node, SlotMap};
use crate::observe::trace;
use crate::store::subkeys::StoreKey;

/// A master's side of the lookups: its ready connections and its breaker.
#[derive(Default)]
struct NodeSide {
    pool: Vec<Conn>,
    breaker: Breaker,
}

/// The cluster as lookups see it.
#[derive(Default)]
pub struct Cluster {
    map: Mutex<Option<Arc<SlotMap>>>,
    nodes: Mutex<HashMap<Node, NodeSide>>,
    refresh_wanted: AtomicBool,
}

/// The slot of a store key (both of its forms share it: see [`Naming`]).
pub fn slot_of(key: &StoreKey) -> u16 {
    slots::key_slot(&commands::named(key, false, Naming::Tagged))
}

/// Keys (of a lookup, or of a batch of writes) grouped by master, each
/// group with the keys' indices in order, and whether some key's slot has
/// no master.
pub fn route<'a>(
    keys: impl IntoIterator<Item = &'a StoreKey>,
    map: &SlotMap,
) -> (Vec<(Node, Vec<usize>)>, bool) {
    let mut groups: Vec<(Node, Vec<usize>)> = Vec::new();
    let mut uncovered = false;
    for (index, key) in keys.into_iter().enumerate() {
        let Some(node) = map.master_of(slot_of(key)) else {
            uncovered = true;
            continue;
        };
        match groups.iter_mut().find(|(n, _)| n == node) {
            Some((_, indices)) => indices.push(index),
            None => groups.push((node.clone(), vec![index])),
        }
    }
    (groups, uncovered)
}

/// One answer for a lookup out of the answers of its masters: a hit wins
/// (a taken single-use entry first: it is gone from Redis, losing it would
/// lose the session), then the first key's; else any failure, the worst
/// first; else a miss.
pub fn merge(answers: Vec<Fetched>) -> Fetched {
    let rank = |answer: &Fetched| match answer {
        Fetched::Hit { taken, index, .. } => (0, usize::from(!taken), *index),
        Fetched::Timeout => (1, 0, 0),
        Fetched::Error => (2, 0, 0),
        Fetched::Unavailable => (3, 0, 0),
        Fetched::BreakerOpen => (4, 0, 0),
        Fetched::RateLimited => (5, 0, 0),
        Fetched::Miss => (6, 0, 0),
    };
    answers.into_iter().min_by_key(rank).unwrap_or(Fetched::Miss)
}

impl Cluster {
    /// Looks `keys` up on their masters, all by one deadline `timeout`
    /// from now.
    pub fn fetch(&self, keys: &[StoreKey], single_use: bool, timeout: Duration) -> Fetched {
        let Some(map) = self.map() else { return Fetched::Unavailable };
        let deadline = Instant::now() + timeout;
        let (groups, uncovered) = route(keys, &map);
        let mut answers: Vec<Fetched> = groups
            .into_iter()
            .map(|(node, indices)| {
                let subset: Vec<StoreKey> = indices.iter().map(|i| keys[*i]).collect();
                match self.ask(&node, &subset, single_use, deadline) {
                    Fetched::Hit { index, value, taken } => {
                        Fetched::Hit { index: indices[index], value, taken }
                    }
                    other => other,
                }
            })
            .collect();
        if uncovered {
            answers.push(Fetched::Unavailable);
        }
        merge(answers)
    }

    /// One master's answer for `keys`, by `deadline`.
    fn ask(&self, node: &Node, keys: &[StoreKey], single_use: bool, deadline: Instant) -> Fetched {
        let Some(mut conn) = self.admitted(node) else {
            return if self.breaker_open(node) { Fetched::BreakerOpen } else { Fetched::Unavailable };
        };
        let (packed, replies) = commands::lookup_each(keys, single_use);
        // `moved`: the master answered, but for a map that changed.
        let (found, moved) = match conn.call(&packed, replies, deadline) {
            Ok(replies) => {
                let moved = commands::redirected(&replies);
                // Every reply was read: the connection is in step.
                self.pool_add(node, conn);
                (commands::found_each(replies, keys.len()), moved)
            }
            // Dropped: a late reply must never answer the next lookup.
            Err(failure) => (Err(failure), false),
        };
        if moved || found.is_err() {
            self.want_refresh();
        }
        // A redirect is no sign of a sick master: its breaker stays closed.
        self.record(node, found.is_ok() || moved);
        match found {
            Ok(Some((index, value, taken))) => Fetched::Hit { index, value, taken },
            Ok(None) => Fetched::Miss,
            Err(Failure::Timeout) => Fetched::Timeout,
            Err(_) => Fetched::Error,
        }
    }

    /// A ready connection to `node` if its breaker admits a call; a probe
    /// that finds none is given back.
    fn admitted(&self, node: &Node) -> Option<Conn> {
        let now = Instant::now();
        let mut nodes = locked(&self.nodes);
        let side = nodes.entry(node.clone()).or_default();
        let admit = side.breaker.admit(now);
        if admit == Admit::Refuse {
            return None;
        }
        let conn = side.pool.pop();
        if conn.is_none() {
            side.breaker.abandoned(admit, now);
        }
        conn
    }

    /// Whether `node`'s breaker refuses lookups (or one probes it).
    pub fn breaker_open(&self, node: &Node) -> bool {
        locked(&self.nodes).get(node).is_some_and(|side| side.breaker.is_open())
    }

    /// A call's (or the thread's connection attempt's) outcome, for the
    /// master's breaker.
    pub fn record(&self, node: &Node, success: bool) {
        let mut nodes = locked(&self.nodes);
        let breaker = &mut nodes.entry(node.clone()).or_default().breaker;
        let change = if success { breaker.succeeded() } else { breaker.failed(Instant::now(), jitter()) };
        drop(nodes);
        match change {
            Some(Change::Opened) => trace::note("store", &format!("redis breaker opened for {node}")),
            Some(Change::Closed) => trace::note("store", &format!("redis breaker closed for {node}")),
            None => {}
        }
    }

    pub fn map(&self) -> Option<Arc<SlotMap>> {
        locked(&self.map).clone()
    }

    /// A fresh map: masters no longer in it lose their connections.
    pub fn set_map(&self, map: SlotMap) {
        let masters = map.masters();
        locked(&self.nodes).retain(|node, _| masters.contains(node));
        *locked(&self.map) = Some(Arc::new(map));
    }

    pub fn pooled(&self, node: &Node) -> usize {
        locked(&self.nodes).get(node).map_or(0, |side| side.pool.len())
    }

    pub fn pool_add(&self, node: &Node, conn: Conn) {
        locked(&self.nodes).entry(node.clone()).or_default().pool.push(conn);
    }

    pub fn want_refresh(&self) {
        self.refresh_wanted.store(true, Relaxed);
    }

    /// Whether a refresh was asked for since the last one began.
    pub fn refresh_wanted(&self) -> bool {
        self.refresh_wanted.load(Relaxed)
    }

    /// A refresh begins: what was asked for so far is being done.
    pub fn refreshing(&self) {
        self.refresh_wanted.store(false, Relaxed);
    }
}

#[cfg(test)]
mod tests;
