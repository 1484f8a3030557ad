//! What the store says to Redis and how it reads the answers: the Redis
//! key of an entry, `MGET` for a lookup (after a `GETDEL` of each
//! single-use key when single use is on), `SET … PXAT … NX` and `DEL` for
//! the writes. Pure functions over redis-rs's packed commands and `Value`s.

use redis::Value;

use super::conn::Failure;
use crate::store::lmdb::Write;
use crate::store::subkeys::StoreKey;

/// Every key the store writes starts with this: an operator can tell them
/// apart (`SCAN 0 MATCH sesscb:*`), and the hex store key is no session id.
pub const KEY_PREFIX: &str = "sesscb:";

/// Single-use entries (TLS 1.3 with `SESSCB_STORE_SINGLE_USE=tls13`) live
/// apart: a lookup takes them (`GETDEL`), and reads the others.
pub const ONCE_PREFIX: &str = "sesscb:once:";

/// A write for Redis: single-use puts go under [`ONCE_PREFIX`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub write: Write,
    pub single_use: bool,
}

/// How entries are named. A Cluster puts the hex in a hash tag
/// (`sesscb:{…}`): an entry and its single-use form share a slot, so one
/// `DEL` removes both and a lookup of one key asks one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Plain,
    Tagged,
}

/// The Redis key of a store key.
pub fn redis_key(key: &StoreKey) -> Vec<u8> {
    prefixed(KEY_PREFIX, key, Naming::Plain)
}

/// The Redis key of a single-use entry.
pub fn once_key(key: &StoreKey) -> Vec<u8> {
    prefixed(ONCE_PREFIX, key, Naming::Plain)
}

/// The Redis key of an entry (`once`: its single-use form) under `naming`.
pub fn named(key: &StoreKey, once: bool, naming: Naming) -> Vec<u8> {
    prefixed(if once { ONCE_PREFIX } else { KEY_PREFIX }, key, naming)
}

fn prefixed(prefix: &str, key: &StoreKey, naming: Naming) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 2 * key.len() + 2);
    out.extend_from_slice(prefix.as_bytes());
    let tagged = naming == Naming::Tagged;
    if tagged {
        out.push(b'{');
    }
    for b in key {
        out.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    if tagged {
        out.push(b'}');
    }
    out
}

/// One `MGET` of every key that may hold the entry (one per opening key),
/// after, with `single_use`, a `GETDEL` of each single-use key: one round
/// trip whatever the keyring holds. Returns the pipeline and its replies.
pub fn lookup(keys: &[StoreKey], single_use: bool) -> (Vec<u8>, usize) {
    let mut pipe = redis::pipe();
    if single_use {
        for key in keys {
            pipe.cmd("GETDEL").arg(once_key(key));
        }
    }
    let mget = pipe.cmd("MGET");
    for key in keys {
        mget.arg(redis_key(key));
    }
    (pipe.get_packed_pipeline(), if single_use { keys.len() + 1 } else { 1 })
}

/// What a lookup's replies hold: the first value, the index of its key,
/// and whether it was taken (single use); None: no entry.
pub fn found_in(mut replies: Vec<Value>, keys: usize) -> Result<Option<(usize, Vec<u8>, bool)>, Failure> {
    let mget = replies.pop().ok_or(Failure::Protocol)?;
    for (index, reply) in replies.into_iter().enumerate() {
        match reply {
            Value::Nil => continue,
            Value::BulkString(bytes) if index < keys => return Ok(Some((index, bytes, true))),
            Value::ServerError(_) => return Err(Failure::Server),
            _ => return Err(Failure::Protocol),
        }
    }
    Ok(found(mget, keys)?.map(|(index, value)| (index, value, false)))
}

/// The first value of an `MGET`, with the index of its key; None: no entry.
pub fn found(reply: Value, keys: usize) -> Result<Option<(usize, Vec<u8>)>, Failure> {
    let items = match reply {
        Value::Array(items) if items.len() == keys => items,
        Value::ServerError(_) => return Err(Failure::Server),
        _ => return Err(Failure::Protocol),
    };
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Value::Nil => continue,
            Value::BulkString(bytes) => return Ok(Some((index, bytes))),
            _ => return Err(Failure::Protocol),
        }
    }
    Ok(None)
}

/// A Cluster lookup of `keys` (all on one node, in any slots): a `GETDEL`
/// of each single-use key with `single_use`, then a `GET` of each key (an
/// `MGET` across slots is refused by a Cluster). Returns the pipeline and
/// its replies; [`found_each`] reads them.
pub fn lookup_each(keys: &[StoreKey], single_use: bool) -> (Vec<u8>, usize) {
    let mut pipe = redis::pipe();
    if single_use {
        for key in keys {
            pipe.cmd("GETDEL").arg(named(key, true, Naming::Tagged));
        }
    }
    for key in keys {
        pipe.cmd("GET").arg(named(key, false, Naming::Tagged));
    }
    (pipe.get_packed_pipeline(), keys.len() * if single_use { 2 } else { 1 })
}

/// What the replies of [`lookup_each`] hold, as [`found_in`] tells.
pub fn found_each(mut replies: Vec<Value>, keys: usize) -> Result<Option<(usize, Vec<u8>, bool)>, Failure> {
    let Some(split) = replies.len().checked_sub(keys) else { return Err(Failure::Protocol) };
    let gets = replies.split_off(split);
    if gets.iter().any(|reply| matches!(reply, Value::ServerError(_))) {
        return Err(Failure::Server);
    }
    replies.push(Value::Array(gets));
    found_in(replies, keys)
}

/// Whether a Cluster's reply says the client's slot map is stale or the
/// cluster is changing (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`).
pub fn redirected(replies: &[Value]) -> bool {
    replies.iter().any(|reply| match reply {
        Value::ServerError(e) => ["MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"].contains(&e.code()),
        _ => false,
    })
}

/// The pipeline that applies `writes` in order: a put never replaces an
/// entry (`NX`: the first host's session wins) and expires with the entry
/// (`PXAT`, milliseconds); a delete is a `DEL`.
pub fn writes(writes: &[Outgoing]) -> Vec<u8> {
    writes_named(writes, Naming::Plain)
}

/// [`writes`] under `naming`.
pub fn writes_named(writes: &[Outgoing], naming: Naming) -> Vec<u8> {
    let mut pipe = redis::pipe();
    for Outgoing { write, single_use } in writes {
        match write {
            Write::Put { key, value, expiry } => {
                let name = named(key, *single_use, naming);
                pipe.cmd("SET")
                    .arg(name)
                    .arg(value.as_slice())
                    .arg("PXAT")
                    .arg(expiry.saturating_mul(1000))
                    .arg("NX");
            }
            // Whichever kind it was stored as.
            Write::Delete(key) => {
                pipe.cmd("DEL").arg(named(key, false, naming)).arg(named(key, true, naming));
            }
        }
    }
    pipe.get_packed_pipeline()
}

/// Whether each write of a pipeline was applied: `OK`, or nil for a put
/// whose key already held an entry (not an error); an integer for a `DEL`.
pub fn applied(writes: &[Outgoing], replies: &[Value]) -> Vec<bool> {
    writes
        .iter()
        .zip(replies)
        .map(|(out, reply)| match (&out.write, reply) {
            (Write::Put { .. }, Value::Okay | Value::Nil) => true,
            (Write::Put { .. }, Value::SimpleString(s)) => s == "OK",
            (Write::Delete(_), Value::Int(_)) => true,
            _ => false,
        })
        .collect()
}

#[cfg(test)]
mod tests;
