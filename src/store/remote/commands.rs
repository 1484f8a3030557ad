//! What the store says to Redis and how it reads the answers: the Redis
//! key of an entry, `MGET` for a lookup, `SET … PXAT … NX` and `DEL` for
//! the writes. Pure functions over redis-rs's packed commands and `Value`s.

use redis::Value;

use super::conn::Failure;
use crate::store::lmdb::Write;
use crate::store::subkeys::StoreKey;

/// Every key the store writes starts with this: an operator can tell them
/// apart (`SCAN 0 MATCH sesscb:*`), and the hex store key is no session id.
pub const KEY_PREFIX: &str = "sesscb:";

/// The Redis key of a store key.
pub fn redis_key(key: &StoreKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(KEY_PREFIX.len() + 2 * key.len());
    out.extend_from_slice(KEY_PREFIX.as_bytes());
    for b in key {
        out.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    out
}

/// One `MGET` of every key that may hold the entry (one per opening key):
/// one round trip whatever the keyring holds.
pub fn lookup(keys: &[StoreKey]) -> Vec<u8> {
    let mut cmd = redis::cmd("MGET");
    for key in keys {
        cmd.arg(redis_key(key));
    }
    cmd.get_packed_command()
}

/// The first value found, with the index of its key; None: no entry.
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

/// The pipeline that applies `writes` in order: a put never replaces an
/// entry (`NX`: the first host's session wins) and expires with the entry
/// (`PXAT`, milliseconds); a delete is a `DEL`.
pub fn writes(writes: &[Write]) -> Vec<u8> {
    let mut pipe = redis::pipe();
    for write in writes {
        match write {
            Write::Put { key, value, expiry } => {
                pipe.cmd("SET")
                    .arg(redis_key(key))
                    .arg(value.as_slice())
                    .arg("PXAT")
                    .arg(expiry.saturating_mul(1000))
                    .arg("NX");
            }
            Write::Delete(key) => {
                pipe.cmd("DEL").arg(redis_key(key));
            }
        }
    }
    pipe.get_packed_pipeline()
}

/// Whether each write of a pipeline was applied: `OK`, or nil for a put
/// whose key already held an entry (not an error); an integer for a `DEL`.
pub fn applied(writes: &[Write], replies: &[Value]) -> Vec<bool> {
    writes
        .iter()
        .zip(replies)
        .map(|(write, reply)| match (write, reply) {
            (Write::Put { .. }, Value::Okay | Value::Nil) => true,
            (Write::Put { .. }, Value::SimpleString(s)) => s == "OK",
            (Write::Delete(_), Value::Int(_)) => true,
            _ => false,
        })
        .collect()
}

#[cfg(test)]
mod tests;
