//! The Redis thread's loop for a Redis Cluster: it reads the slot map
//! (`CLUSTER SLOTS`, from a known master or a seed) at start, every
//! [`REFRESH_EVERY`] and soon after a lookup or a write met `MOVED`, `ASK`,
//! `CLUSTERDOWN` or a failed node; it keeps [`POOL_SIZE`] ready
//! connections to each master for the lookups and sends the queued writes
//! to each key's master on one connection per master, in order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cluster::{Cluster, route};
use super::commands::{self, Naming, Outgoing};
use super::conn::Conn;
use super::links::{BATCH, Backoff, NoConn, SETUP_TIMEOUT, TICK, WRITE_TIMEOUT, connect_to, count};
use super::shared::{POOL_SIZE, Shared};
use super::slots::{self, Node, SlotMap};
use super::url::Address;
use crate::store::lmdb::Write;

/// The map is read again this often even when nothing failed.
const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// Refreshes asked for by failures are at least this far apart.
const REFRESH_SOONEST: Duration = Duration::from_millis(200);

/// The thread's connections to one master.
struct Link {
    writer: Option<Conn>,
    write_backoff: Backoff,
    pool_backoff: Backoff,
}

impl Link {
    fn new() -> Self {
        Link {
            writer: None,
            write_backoff: Backoff::new(Instant::now()),
            pool_backoff: Backoff::new(Instant::now()),
        }
    }
}

struct State {
    links: HashMap<Node, Link>,
    refreshed: Option<Instant>,
    /// Paces the attempts while no map is known.
    no_map_backoff: Backoff,
}

impl State {
    fn link(&mut self, node: &Node) -> &mut Link {
        self.links.entry(node.clone()).or_insert_with(Link::new)
    }
}

pub fn run(shared: Arc<Shared>) {
    let mut state =
        State { links: HashMap::new(), refreshed: None, no_map_backoff: Backoff::new(Instant::now()) };
    // The Remote holds the other reference: alone, this thread is done.
    while Arc::strong_count(&shared) > 1 {
        let writes = shared.outbox.take(Instant::now() + TICK);
        let Some(cluster) = shared.cluster.as_ref() else { return };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            refresh_if_due(&shared, cluster, &mut state);
            for batch in writes.chunks(BATCH) {
                send(&shared, cluster, &mut state, batch);
            }
        }));
        shared.unsent_done(writes.len());
        let _ =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| refill(&shared, cluster, &mut state)));
    }
}

fn refresh_if_due(shared: &Shared, cluster: &Cluster, state: &mut State) {
    let now = Instant::now();
    let due = match (cluster.map(), state.refreshed) {
        (None, _) | (_, None) => state.no_map_backoff.ready(now),
        (Some(_), Some(at)) => {
            let since = now.saturating_duration_since(at);
            since >= REFRESH_EVERY || (cluster.refresh_wanted() && since >= REFRESH_SOONEST)
        }
    };
    if !due {
        return;
    }
    cluster.refreshing();
    state.refreshed = Some(now);
    match fresh_map(shared, cluster) {
        Some(map) => {
            let masters = map.masters();
            state.links.retain(|node, _| masters.contains(node));
            cluster.set_map(map);
            state.no_map_backoff.succeeded();
        }
        None if cluster.map().is_none() => state.no_map_backoff.failed(Instant::now()),
        None => {}
    }
}

/// The map as the first node that answers tells it: the known masters
/// first, then the seeds, a node whose breaker is open last (a stopped
/// node would hold the thread for the setup timeout). A map with no slot
/// served is no map.
fn fresh_map(shared: &Shared, cluster: &Cluster) -> Option<SlotMap> {
    let mut candidates = cluster.map().map(|map| map.masters()).unwrap_or_default();
    for seed in &shared.settings.target.seeds {
        if let Address::Tcp { host, port } = seed {
            let node = Node { host: host.clone(), port: *port };
            if !candidates.contains(&node) {
                candidates.push(node);
            }
        }
    }
    candidates.sort_by_key(|node| cluster.breaker_open(node));
    candidates.iter().find_map(|node| read_map(shared, node)).filter(|map| !map.masters().is_empty())
}

fn read_map(shared: &Shared, node: &Node) -> Option<SlotMap> {
    let target = shared.settings.target.at(&node.host, node.port);
    let mut conn = Conn::open(&target, shared.tls.as_ref(), Instant::now() + SETUP_TIMEOUT).ok()?;
    let packed = redis::cmd("CLUSTER").arg("SLOTS").get_packed_command();
    let reply = conn.call(&packed, 1, Instant::now() + WRITE_TIMEOUT).ok()?.pop()?;
    slots::parse_slots(&reply, &node.host).ok()
}

fn key_of(write: &Write) -> &crate::store::subkeys::StoreKey {
    match write {
        Write::Put { key, .. } | Write::Delete(key) => key,
    }
}

/// Sends a batch, each write to its key's master, and counts each one; a
/// write no master serves (or with no map yet) fails.
fn send(shared: &Shared, cluster: &Cluster, state: &mut State, batch: &[Outgoing]) {
    let mut applied = vec![false; batch.len()];
    if let Some(map) = cluster.map() {
        let (groups, _) = route(batch.iter().map(|out| key_of(&out.write)), &map);
        for (node, indices) in groups {
            let part: Vec<Outgoing> = indices.iter().map(|i| batch[*i].clone()).collect();
            for (index, ok) in indices.iter().zip(send_to(shared, cluster, state.link(&node), &node, &part)) {
                applied[*index] = ok;
            }
        }
    }
    count(batch, applied);
}

/// Sends `part` on the writer connection to `node`: whether each applied.
fn send_to(shared: &Shared, cluster: &Cluster, link: &mut Link, node: &Node, part: &[Outgoing]) -> Vec<bool> {
    if link.writer.is_none() {
        link.writer = connected(shared, cluster, node, &mut link.write_backoff);
    }
    let Some(conn) = link.writer.as_mut() else { return vec![false; part.len()] };
    let packed = commands::writes_named(part, Naming::Tagged);
    match conn.call(&packed, part.len(), Instant::now() + WRITE_TIMEOUT) {
        Ok(replies) => {
            if commands::redirected(&replies) {
                cluster.want_refresh();
            }
            commands::applied(part, &replies)
        }
        Err(_) => {
            // Never reused: replies of this batch may still arrive.
            link.writer = None;
            link.write_backoff.failed(Instant::now());
            cluster.want_refresh();
            vec![false; part.len()]
        }
    }
}

/// A set-up connection to `node`; a failed attempt counts against its
/// breaker and asks for a fresh map.
fn connected(shared: &Shared, cluster: &Cluster, node: &Node, backoff: &mut Backoff) -> Option<Conn> {
    match connect_to(shared, &shared.settings.target.at(&node.host, node.port), backoff) {
        Ok(conn) => Some(conn),
        Err(NoConn::NotYet) => None,
        Err(NoConn::Failed) => {
            cluster.record(node, false);
            cluster.want_refresh();
            None
        }
    }
}

/// Tops up each master's ready connections to [`POOL_SIZE`].
fn refill(shared: &Shared, cluster: &Cluster, state: &mut State) {
    let Some(map) = cluster.map() else { return };
    for node in map.masters() {
        let link = state.link(&node);
        while cluster.pooled(&node) < POOL_SIZE {
            match connected(shared, cluster, &node, &mut link.pool_backoff) {
                Some(conn) => cluster.pool_add(&node, conn),
                None => break,
            }
        }
    }
}
