//! Redis Cluster's key space: the slot of a key (CRC16/XMODEM of the key,
//! or of its `{hash tag}`, modulo 16384) and the slot map a node reports
//! (`CLUSTER SLOTS`): which master serves each slot.

use std::fmt;

use redis::Value;

/// Slots in a Redis Cluster.
pub(crate) const SLOTS: u16 = 16384;

/// A master node: where its clients connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// CRC16 with polynomial 0x1021, initial value 0, no reflection (XMODEM):
/// the checksum Redis Cluster hashes keys with.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The slot of `key`: only the part between the first `{` and the next
/// `}` counts, when that part is not empty.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key).unwrap_or(key)) % SLOTS
}

fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|b| *b == b'{')?;
    let after = &key[open + 1..];
    let close = after.iter().position(|b| *b == b'}')?;
    (close > 0).then(|| &after[..close])
}

/// Which master serves each slot; slots no master serves are absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlotMap {
    /// (first slot, last slot, master), sorted by first slot.
    ranges: Vec<(u16, u16, Node)>,
}

impl SlotMap {
    pub fn master_of(&self, slot: u16) -> Option<&Node> {
        let after = self.ranges.partition_point(|(first, _, _)| *first <= slot);
        let (_, last, node) = self.ranges.get(after.checked_sub(1)?)?;
        (slot <= *last).then_some(node)
    }

    /// Every master, each once.
    pub fn masters(&self) -> Vec<Node> {
        let mut nodes: Vec<Node> = self.ranges.iter().map(|(_, _, node)| node.clone()).collect();
        nodes.sort();
        nodes.dedup();
        nodes
    }
}

/// The map in a `CLUSTER SLOTS` reply from the node at `asked` (a master
/// announced with an empty address is that node's host). Replicas are
/// ignored: the store reads and writes masters only.
pub fn parse_slots(reply: &Value, asked: &str) -> Result<SlotMap, String> {
    let Value::Array(entries) = reply else { return Err("CLUSTER SLOTS: not an array".into()) };
    let mut ranges = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(fields) = entry else {
            return Err("CLUSTER SLOTS: an entry is not an array".into());
        };
        let [first, last, master, ..] = fields.as_slice() else {
            return Err("CLUSTER SLOTS: an entry without its master".into());
        };
        let (first, last) = (slot(first)?, slot(last)?);
        if first > last {
            return Err("CLUSTER SLOTS: a range that ends before it starts".into());
        }
        ranges.push((first, last, node(master, asked)?));
    }
    ranges.sort_by_key(|(first, _, _)| *first);
    if ranges.windows(2).any(|pair| pair[1].0 <= pair[0].1) {
        return Err("CLUSTER SLOTS: overlapping ranges".into());
    }
    Ok(SlotMap { ranges })
}

fn slot(value: &Value) -> Result<u16, String> {
    match value {
        Value::Int(n) if (0..i64::from(SLOTS)).contains(n) => Ok(*n as u16),
        _ => Err("CLUSTER SLOTS: a slot is not 0-16383".into()),
    }
}

fn node(value: &Value, asked: &str) -> Result<Node, String> {
    let Value::Array(fields) = value else { return Err("CLUSTER SLOTS: a node is not an array".into()) };
    let host = match fields.first() {
        Some(Value::BulkString(bytes)) => String::from_utf8(bytes.clone()).ok(),
        Some(Value::SimpleString(text)) => Some(text.clone()),
        _ => None,
    };
    let host = host.ok_or("CLUSTER SLOTS: a node's address is not text")?;
    let host = if host.is_empty() || host == "?" { asked.to_string() } else { host };
    match fields.get(1) {
        Some(Value::Int(port)) if (1..=65535).contains(port) => Ok(Node { host, port: *port as u16 }),
        _ => Err("CLUSTER SLOTS: a node's port is not 1-65535".into()),
    }
}

#[cfg(test)]
mod tests;
