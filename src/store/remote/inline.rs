//! The Redis tier where the host forbids threads (haproxy's workers run
//! with `RLIMIT_NPROC` 0): with no Redis thread to connect and write, each
//! session event moves one per-process connection along itself, never
//! waiting: it starts a non-blocking connect, sees it complete, sends
//! AUTH/SELECT/PING and reads their replies at later events, sends the
//! queued writes (`SET … PXAT … NX`, `DEL`) without awaiting their replies,
//! and counts those replies as they arrive.
//!
//! Only a lookup waits, for its own replies (after the writes' still
//! outstanding, read first so that no reply answers the wrong command),
//! and never past the deadline. Any failure drops the connection; the next
//! attempt waits out a growing back-off. One event at a time drives the
//! connection (`try_lock`): an event that finds it busy does without
//! Redis rather than wait for another thread's I/O.
//!
//! Name lookups may block and rustls would need its own non-blocking
//! driver: a host name or `rediss://` keeps the tier off in such a process
//! (one line).

mod frame;
mod socket;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Mutex, TryLockError};
use std::time::{Duration, Instant};

use redis::Value;

use self::socket::Socket;
use super::commands;
use super::conn::Failure;
use super::links::Backoff;
use super::shared::Shared;
use super::url::{Address, Target};
use crate::observe::trace;
use crate::store::counters::{self, COUNTERS};
use crate::store::lmdb::Write;
use crate::store::subkeys::StoreKey;

/// Connect, AUTH, SELECT and PING must be done by then.
const SETUP_LIMIT: Duration = Duration::from_millis(500);
/// Bytes of writes the kernel has not taken yet; past this, writes are
/// dropped (counted): Redis is not reading.
const UNSENT_LIMIT: usize = 1 << 20;

/// The per-process connection the session events drive.
pub struct Inline {
    target: Target,
    link: Mutex<Link>,
}

impl Inline {
    /// The inline tier for `target`, or None (one line) where it cannot
    /// run without a thread.
    pub fn for_target(target: &Target) -> Option<Inline> {
        let refused = match &target.address {
            _ if target.tls => Some("rediss:// needs the Redis thread"),
            _ if target.is_cluster() => Some("Redis Cluster needs the Redis thread"),
            Address::Tcp { host, .. } if host.parse::<IpAddr>().is_err() => {
                Some("a Redis host name needs the Redis thread (name lookups may block); give its IP address")
            }
            _ => None,
        };
        if let Some(why) = refused {
            let line =
                format!("sesscb: this process may not start threads and {why}: the Redis tier is off here");
            eprintln!("{line}");
            trace::note("store", &line);
            return None;
        }
        trace::note("store", "redis inline: this process may not start threads; session events drive Redis");
        Some(Inline { target: target.clone(), link: Mutex::new(Link::new(Instant::now())) })
    }

    /// Moves the connection along and sends the queued writes, waiting for
    /// nothing; does nothing while another thread drives it.
    pub fn progress(&self, shared: &Shared) {
        if let Some(mut link) = self.try_link() {
            link.progress(&self.target, shared, Instant::now());
        }
    }

    /// Sends `packed` and reads its `replies` replies by `deadline`. None:
    /// no ready connection (or another thread is using it): Redis was not
    /// called.
    pub fn call(
        &self,
        shared: &Shared,
        packed: &[u8],
        replies: usize,
        deadline: Instant,
    ) -> Option<Result<Vec<Value>, Failure>> {
        let mut link = self.try_link()?;
        link.progress(&self.target, shared, Instant::now());
        let Phase::Ready(wire) = &mut link.phase else { return None };
        let result = wire.call(packed, replies, deadline);
        if result.is_err() {
            // Its replies may still arrive: never reused. The caller tells
            // the breaker.
            link.dropped(None, Instant::now());
        }
        Some(result)
    }

    fn try_link(&self) -> Option<std::sync::MutexGuard<'_, Link>> {
        match self.link.try_lock() {
            Ok(guard) => Some(guard),
            // Nothing panics while holding it; a poisoned one is still valid.
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

/// Where the connection is.
enum Phase {
    Down,
    Connecting { socket: Socket, since: Instant },
    SettingUp { wire: Wire, since: Instant },
    Ready(Wire),
}

struct Link {
    phase: Phase,
    backoff: Backoff,
}

impl Link {
    fn new(now: Instant) -> Self {
        Link { phase: Phase::Down, backoff: Backoff::new(now) }
    }

    fn progress(&mut self, target: &Target, shared: &Shared, now: Instant) {
        let phase = std::mem::replace(&mut self.phase, Phase::Down);
        match self.advance(phase, target, shared, now) {
            Ok(next) => self.phase = next,
            Err(_) => self.dropped(Some(shared), now),
        }
    }

    /// As far as the connection gets now, from `phase`.
    fn advance(
        &mut self,
        phase: Phase,
        target: &Target,
        shared: &Shared,
        now: Instant,
    ) -> Result<Phase, Failure> {
        let phase = match phase {
            Phase::Down if self.backoff.ready(now) => {
                Phase::Connecting { socket: Socket::start(&target.address)?, since: now }
            }
            other => other,
        };
        let phase = match phase {
            Phase::Connecting { socket, since } if socket.connected()? => {
                Phase::SettingUp { wire: Wire::set_up(socket, target), since }
            }
            other => other,
        };
        match phase {
            Phase::Connecting { since, .. } | Phase::SettingUp { since, .. } if now > since + SETUP_LIMIT => {
                Err(Failure::Timeout)
            }
            Phase::SettingUp { mut wire, since } => {
                wire.exchange_now()?;
                if !wire.expected.is_empty() {
                    return Ok(Phase::SettingUp { wire, since });
                }
                self.backoff.succeeded();
                ready(wire, shared)
            }
            Phase::Ready(wire) => ready(wire, shared),
            other => Ok(other),
        }
    }

    /// The connection failed: closed, and the next attempt waits; a
    /// failure found while driving it (`shared`) counts for the breaker.
    fn dropped(&mut self, shared: Option<&Shared>, now: Instant) {
        if let Phase::Ready(wire) | Phase::SettingUp { wire, .. } = &mut self.phase {
            wire.abandon();
        }
        self.phase = Phase::Down;
        self.backoff.failed(now);
        if let Some(shared) = shared {
            shared.record(false);
        }
    }
}

/// A set-up connection after it sent the queued writes; a failure counts
/// the writes it still owed a reply.
fn ready(mut wire: Wire, shared: &Shared) -> Result<Phase, Failure> {
    match wire.send_writes(shared) {
        Ok(()) => Ok(Phase::Ready(wire)),
        Err(failure) => {
            wire.abandon();
            Err(failure)
        }
    }
}

/// A reply the connection still owes, in the order the commands went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Setup,
    Ping,
    Put(StoreKey),
    Delete(StoreKey),
}

/// A connected socket, what it has not sent yet, what it has read and not
/// parsed, and the replies it still owes.
struct Wire {
    socket: Socket,
    unsent: Vec<u8>,
    input: Vec<u8>,
    expected: VecDeque<Expect>,
}

impl Wire {
    /// AUTH (with the ACL user if any), SELECT, then PING, queued to send.
    fn set_up(socket: Socket, target: &Target) -> Self {
        let setup = super::conn::setup_commands(target);
        let mut expected: VecDeque<Expect> = (1..setup.len()).map(|_| Expect::Setup).collect();
        expected.push_back(Expect::Ping);
        Wire { socket, unsent: setup.get_packed_pipeline(), input: Vec::new(), expected }
    }

    /// Sends what the kernel takes and settles every reply that arrived.
    fn exchange_now(&mut self) -> Result<(), Failure> {
        self.socket.send_some(&mut self.unsent)?;
        self.socket.read_some(&mut self.input)?;
        while let Some(reply) = frame::next_reply(&mut self.input)? {
            settle(self.expected.pop_front().ok_or(Failure::Protocol)?, reply)?;
        }
        Ok(())
    }

    /// Moves the queued writes onto the wire, then exchanges what it can.
    fn send_writes(&mut self, shared: &Shared) -> Result<(), Failure> {
        for outgoing in shared.outbox.take(Instant::now()) {
            let key = written_key(&outgoing.write);
            if self.unsent.len() >= UNSENT_LIMIT {
                dropped_write(&outgoing.write, &key);
                continue;
            }
            self.unsent.extend(commands::writes(std::slice::from_ref(&outgoing)));
            self.expected.push_back(match outgoing.write {
                Write::Put { .. } => Expect::Put(key),
                Write::Delete(_) => Expect::Delete(key),
            });
        }
        self.exchange_now()
    }

    /// A lookup: `packed` sent and its `replies` read by `deadline`, after
    /// the replies still owed to earlier writes.
    fn call(&mut self, packed: &[u8], replies: usize, deadline: Instant) -> Result<Vec<Value>, Failure> {
        self.unsent.extend_from_slice(packed);
        self.socket.send_some(&mut self.unsent)?;
        while !self.unsent.is_empty() {
            self.socket.wait(libc::POLLOUT, deadline)?;
            self.socket.send_some(&mut self.unsent)?;
        }
        let mut got = Vec::with_capacity(replies);
        loop {
            while got.len() < replies {
                let Some(reply) = frame::next_reply(&mut self.input)? else { break };
                match self.expected.pop_front() {
                    Some(owed) => settle(owed, reply)?,
                    None => got.push(reply),
                }
            }
            if got.len() == replies {
                return Ok(got);
            }
            self.socket.wait(libc::POLLIN, deadline)?;
            self.socket.read_some(&mut self.input)?;
        }
    }

    /// The writes still owed a reply will not get one: counted as errors.
    fn abandon(&mut self) {
        for owed in self.expected.drain(..) {
            count_write(owed, false);
        }
    }
}

/// Checks a reply against what it answers; a write's is counted.
fn settle(owed: Expect, reply: Value) -> Result<(), Failure> {
    match (owed, reply) {
        (Expect::Setup, Value::ServerError(_)) => Err(Failure::Server),
        (Expect::Setup, _) => Ok(()),
        (Expect::Ping, Value::SimpleString(pong)) if pong == "PONG" => Ok(()),
        (Expect::Ping, Value::ServerError(_)) => Err(Failure::Server),
        (Expect::Ping, _) => Err(Failure::Protocol),
        (Expect::Put(_), Value::Okay | Value::Nil) | (Expect::Delete(_), Value::Int(_)) => {
            count_write(owed, true);
            Ok(())
        }
        (Expect::Put(_), Value::SimpleString(ok)) if ok == "OK" => {
            count_write(owed, true);
            Ok(())
        }
        // A refused write (OOM, READONLY) is no broken connection.
        _ => {
            count_write(owed, false);
            Ok(())
        }
    }
}

/// Counts a write's outcome as the Redis thread does.
fn count_write(owed: Expect, applied: bool) {
    match (owed, applied) {
        (Expect::Put(key), true) => {
            counters::outcome("put", &COUNTERS.stores_remote_ok, "remote_ok", Some(&key))
        }
        (Expect::Put(key), false) => {
            counters::outcome("put", &COUNTERS.stores_remote_error, "remote_error", Some(&key))
        }
        (Expect::Delete(key), false) => {
            counters::outcome("remove", &COUNTERS.removes_error, "error", Some(&key))
        }
        _ => {}
    }
}

/// A write the wire had no room for.
fn dropped_write(write: &Write, key: &StoreKey) {
    match write {
        Write::Put { .. } => {
            counters::outcome("put", &COUNTERS.stores_queue_dropped, "queue_dropped", Some(key))
        }
        Write::Delete(_) => counters::outcome("remove", &COUNTERS.removes_error, "error", Some(key)),
    }
}

fn written_key(write: &Write) -> StoreKey {
    match write {
        Write::Put { key, .. } | Write::Delete(key) => *key,
    }
}

#[cfg(test)]
mod tests;
