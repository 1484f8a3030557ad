//! The `redis` mode's thread: one per process (every signal blocked,
//! started on the first ctx or ticket event, never at load; started again
//! in a forked child, which never touches its parent's socket). Every tick
//! it makes sure this process holds the keys of each epoch whose tickets
//! are still accepted, from Redis:
//!
//! - an epoch not held: `GET <prefix>:<epoch>`; a value that opens under
//!   the keyring is held, one that does not is ignored and counted;
//! - the current or next epoch missing in Redis: 80 random bytes, sealed
//!   under the keyring, `SET … NX PXAT <end of its acceptance window>`,
//!   then `GET` again, so every process holds the winner;
//! - an older epoch missing: remembered as absent (no process makes it).
//!
//! Redis drops each epoch at the end of its window (PXAT) and the process
//! forgets it then too: forward secrecy bounded by the lifetime.
//!
//! Where the store does not run (whose thread writes the metrics file),
//! this thread writes `SESSCB_METRICS_FILE` with the process's counters.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::Value;
use rustls::ClientConfig;

use super::config::Config;
use super::fork_gate;
use super::held;
use super::keys;
use super::sealed::{self, Binding};
use crate::store::config::RedisSettings;
use crate::store::counters::{COUNTERS, count};
use crate::store::engine::{self, unix_now};
use crate::store::keyring::Keyring;
use crate::store::remote::conn::{self, Conn};
use crate::store::remote::spawn::spawn_quiet;
use crate::store::{flusher, metrics};
use crate::sync::process_ids::current_pid;

/// How often the thread looks at the schedule: the bound on adopting keys
/// once Redis is reachable, and on making the next epoch's.
const TICK: Duration = Duration::from_millis(250);
/// A tick's deadline for its Redis calls (never a handshake's; a fork
/// waits for a tick at most 10 ms: src/tickets/fork_gate.rs).
const TICK_DEADLINE: Duration = Duration::from_secs(1);

/// The pid whose thread runs (or was refused); another pid is a forked child.
static STARTED_IN: AtomicU32 = AtomicU32::new(0);

/// Starts this process's thread if it has none; where threads are
/// forbidden, nothing runs and every handshake falls back (counted).
pub fn ensure(config: &'static Config, redis: &'static RedisSettings) {
    let pid = current_pid();
    if STARTED_IN.load(Ordering::Relaxed) == pid || STARTED_IN.swap(pid, Ordering::AcqRel) == pid {
        return;
    }
    // A fork holds glibc's handler lock while it waits for the gate: the
    // thread must never register a fork handler while holding it. The pid
    // cache registers its own on first use: now; the counters register
    // theirs on a first count: the thread counts after releasing the gate.
    let _ = current_pid();
    fork_gate::register();
    let tls = if redis.target.tls { conn::tls_config(&redis.ca_certs) } else { None };
    let mut link = Link {
        config,
        redis,
        tls,
        conn: None,
        absent: BTreeSet::new(),
        metrics: metrics_file(),
        deadline: Instant::now(),
        tally: Vec::new(),
    };
    if !spawn_quiet("sesscb-tickets", move || link.run()) {
        keys::report_once("ticket keys: no thread allowed here: OpenSSL's own keys in this process");
    }
}

struct Link {
    config: &'static Config,
    redis: &'static RedisSettings,
    tls: Option<Arc<ClientConfig>>,
    conn: Option<Conn>,
    /// Past epochs Redis did not hold (none will be made).
    absent: BTreeSet<u64>,
    /// The metrics file and how often to write it, when the store's thread
    /// does not.
    metrics: Option<(PathBuf, Duration)>,
    /// The current tick's deadline for its Redis calls.
    deadline: Instant,
    /// What the tick counted, added once the gate is released.
    tally: Vec<&'static AtomicU64>,
}

/// `SESSCB_METRICS_FILE` when no store runs in this process to write it.
fn metrics_file() -> Option<(PathBuf, Duration)> {
    if engine::config().is_some() {
        return None;
    }
    let path = std::env::var_os("SESSCB_METRICS_FILE").filter(|p| !p.is_empty())?;
    let interval = flusher::interval_from(std::env::var(flusher::INTERVAL_VAR).ok().as_deref());
    Some((PathBuf::from(path), interval))
}

impl Link {
    fn run(&mut self) {
        let mut written: Option<Instant> = None;
        loop {
            let gate = fork_gate::hold();
            self.deadline = Instant::now() + TICK_DEADLINE;
            // A panic here would end the thread, never reach OpenSSL.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.tick()));
            if let Some((path, interval)) = &self.metrics
                && written.is_none_or(|t| t.elapsed() >= *interval)
            {
                let pid = current_pid();
                let text = metrics::render(pid, &COUNTERS.snapshot(), None, None);
                let _ = metrics::write_atomically(&metrics::expand(path, pid), &text);
                written = Some(Instant::now());
            }
            drop(gate);
            for counter in self.tally.drain(..) {
                count(counter);
            }
            std::thread::sleep(TICK.min(self.metrics.as_ref().map_or(TICK, |(_, i)| *i)));
        }
    }

    fn tick(&mut self) {
        let (rotate, lifetime, now) = (self.config.rotate.max(1), self.config.lifetime, unix_now());
        held::forget_expired(rotate, lifetime, now);
        let current = now / rotate;
        let first = current.saturating_sub(lifetime.div_ceil(rotate));
        self.absent.retain(|&e| e >= first);
        let wanted: Vec<u64> =
            (first..=current + 1).filter(|e| !held::has(*e) && !self.absent.contains(e)).collect();
        if wanted.is_empty() {
            return;
        }
        let Some(ring) = keys::ring() else { return };
        for epoch in wanted {
            if self.fill(&ring, epoch, epoch >= current, now).is_err() {
                // The connection is unusable after a failure; a new one next tick.
                self.conn = None;
                self.tally.push(&COUNTERS.tickets_redis_error);
                return;
            }
        }
    }

    /// Holds `epoch`'s keys from Redis, making them first when `make`.
    fn fill(&mut self, ring: &Keyring, epoch: u64, make: bool, now: u64) -> Result<(), ()> {
        let key = self.redis_key(epoch);
        let mut value = self.call(redis::cmd("GET").arg(&key).get_packed_command(), 1)?.pop();
        if matches!(value, Some(Value::Nil)) && make {
            value = self.make(ring, &key, epoch, now)?;
        }
        let binding =
            Binding { domain: self.config.domain.as_bytes(), rotate: self.config.rotate.max(1), epoch };
        match value {
            Some(Value::BulkString(bytes)) => match sealed::open(ring, &bytes, &binding, now) {
                Ok(keys) => {
                    self.tally.push(&COUNTERS.tickets_redis_fetched);
                    held::put(keys);
                }
                Err(_) => self.tally.push(&COUNTERS.tickets_redis_rejected),
            },
            Some(Value::Nil) if !make => {
                self.absent.insert(epoch);
            }
            Some(Value::Nil) => {}
            _ => return Err(()),
        }
        Ok(())
    }

    /// `SET … NX PXAT` of fresh sealed keys, then `GET`: the winner's value.
    fn make(&mut self, ring: &Keyring, key: &str, epoch: u64, now: u64) -> Result<Option<Value>, ()> {
        let (Some(seal_key), Some((secret, nonce))) = (ring.current(now), sealed::fresh()) else {
            return Ok(None);
        };
        let rotate = self.config.rotate.max(1);
        let binding = Binding { domain: self.config.domain.as_bytes(), rotate, epoch };
        let value = sealed::seal(seal_key, &binding, &secret, nonce);
        let end_ms = epoch.saturating_mul(rotate).saturating_add(self.config.lifetime).saturating_mul(1000);
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(key).arg(value).arg("NX").arg("PXAT").arg(end_ms);
        pipe.cmd("GET").arg(key);
        let mut replies = self.call(pipe.get_packed_pipeline(), 2)?;
        if matches!(replies.first(), Some(Value::Okay)) {
            self.tally.push(&COUNTERS.tickets_redis_created);
        }
        Ok(replies.pop())
    }

    fn call(&mut self, packed: Vec<u8>, replies: usize) -> Result<Vec<Value>, ()> {
        let deadline = self.deadline;
        if self.conn.is_none() {
            self.conn = Some(Conn::open(&self.redis.target, self.tls.as_ref(), deadline).map_err(|_| ())?);
        }
        let conn = self.conn.as_mut().ok_or(())?;
        let replies = conn.call(&packed, replies, deadline).map_err(|_| ())?;
        match replies.iter().any(|r| matches!(r, Value::ServerError(_))) {
            true => Err(()),
            false => Ok(replies),
        }
    }

    fn redis_key(&self, epoch: u64) -> String {
        format!("sesscb:tk:{}:{}:{}", self.config.domain, self.config.rotate, epoch)
    }
}
