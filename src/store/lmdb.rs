//! The embedded tier: one LMDB environment shared by every process of a
//! host with the same uid and cache domain.
//!
//! LMDB gives what a shared session cache needs and a home-made
//! shared-memory table would have to re-invent: readers never block the
//! writer (MVCC), a crashed writer does not wedge the others (robust
//! mutexes in the lock file), and the data outlives every process, so
//! sessions survive reloads and binary upgrades. Values arrive sealed
//! (see `envelope`): the tier stores opaque bytes under opaque keys.
//!
//! Databases: `entries` (store key → seq ‖ expiry ‖ value), and two indexes
//! for eviction, `by_expiry` (expiry ‖ store key) and `by_age`
//! (seq ‖ store key); `meta` holds the write sequence and the eviction
//! count; `counters` the outcome counters every process folds in (see
//! [`totals`]). The environment is bounded by its map size: a write that would
//! fill more than 60% of it first evicts, in the same transaction, the
//! expired entries, then the oldest. The rest is headroom: LMDB reuses a
//! freed page only two transactions later.
//!
//! An environment must not cross `fork`: the caller opens one lazily in
//! each process and drops the inherited one in a child.

use std::fmt;
use std::path::Path;

use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions, MdbError, RwTxn, WithoutTls};

use super::subkeys::{STORE_KEY_LEN, StoreKey};

type Db = Database<Bytes, Bytes>;

const RECORD_HEADER: usize = 16;
const SEQ_KEY: &[u8] = b"seq";
const EVICTIONS_KEY: &[u8] = b"evictions";
/// Entries evicted beyond the expired ones when the store is near its bound.
const MIN_EVICT_BATCH: usize = 16;
/// Share of the map that data may fill before writes evict.
const HIGH_WATER_PERCENT: u64 = 60;

/// Why the tier failed; every one is a cache miss for the handshake.
#[derive(Debug)]
pub enum TierError {
    /// The write does not fit even after eviction (entry larger than the map).
    Full,
    Lmdb(heed::Error),
}

impl fmt::Display for TierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => write!(f, "the embedded store is full even after eviction"),
            Self::Lmdb(e) => write!(f, "LMDB: {e}"),
        }
    }
}

impl From<heed::Error> for TierError {
    fn from(e: heed::Error) -> Self {
        Self::Lmdb(e)
    }
}

/// One change to the tier, as [`Tier::apply`] takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// `value` under `key` until `expiry`, replacing any entry there.
    Put { key: StoreKey, value: Vec<u8>, expiry: u64 },
    /// The entry under the key, if any, goes.
    Delete(StoreKey),
}

impl Write {
    /// Bytes the write adds to the map.
    fn size(&self) -> usize {
        match self {
            Write::Put { value, .. } => RECORD_HEADER + value.len(),
            Write::Delete(_) => 0,
        }
    }
}

/// How full the tier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occupancy {
    pub entries: u64,
    /// Bytes of the map in use (pages that hold data).
    pub bytes_used: u64,
    pub map_size: u64,
    pub evictions: u64,
}

/// One open environment.
pub struct Tier {
    env: Env<WithoutTls>,
    entries: Db,
    by_expiry: Db,
    by_age: Db,
    meta: Db,
    counters: Db,
}

impl Tier {
    /// Opens (creating if needed) the environment in `dir`, an existing
    /// directory the caller has vetted; LMDB creates its two files 0600.
    /// `map_size` 0 keeps the size the environment already has.
    pub fn open(dir: &Path, map_size: usize) -> Result<Self, TierError> {
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.max_dbs(5);
        if map_size > 0 {
            options.map_size(map_size);
        }
        // SAFETY: NO_SYNC only gives up durability against an OS crash: a
        // commit is then a memory write, not an fsync on the handshake
        // path. The store is a cache in a runtime directory (tmpfs as a
        // rule), so an OS crash loses it anyway; a process crash loses
        // nothing.
        unsafe { options.flags(EnvFlags::NO_SYNC) };
        // SAFETY: the files are private to this uid (0600 in a 0700
        // directory) and only ever changed through LMDB, whose lock file
        // serialises writers across processes.
        let env = unsafe { options.open(dir)? };
        let mut txn = env.write_txn()?;
        let entries = env.create_database(&mut txn, Some("entries"))?;
        let by_expiry = env.create_database(&mut txn, Some("by_expiry"))?;
        let by_age = env.create_database(&mut txn, Some("by_age"))?;
        let meta = env.create_database(&mut txn, Some("meta"))?;
        let counters = env.create_database(&mut txn, Some("counters"))?;
        txn.commit()?;
        Ok(Tier { env, entries, by_expiry, by_age, meta, counters })
    }

    /// Stores `value` under `key` until `expiry` (Unix seconds), replacing
    /// any entry there, after evicting if the store is near its bound.
    /// Returns how many entries were evicted to make room.
    pub fn put(&self, key: &StoreKey, value: &[u8], expiry: u64, now: u64) -> Result<u64, TierError> {
        self.apply(&[Write::Put { key: *key, value: value.to_vec(), expiry }], now)
    }

    /// Applies `writes` in order in one write transaction (one lock wait
    /// and one commit for a batch), after evicting if the store is near its
    /// bound. Returns how many entries were evicted to make room.
    pub fn apply(&self, writes: &[Write], now: u64) -> Result<u64, TierError> {
        match self.try_apply(writes, now) {
            // Pages freed by a transaction are reusable two transactions
            // later, so a write that still did not fit fails; the eviction
            // that follows makes room for the next ones.
            Err(TierError::Lmdb(heed::Error::Mdb(MdbError::MapFull))) => {
                let mut txn = self.env.write_txn()?;
                self.evict_in(&mut txn, now)?;
                txn.commit()?;
                Err(TierError::Full)
            }
            other => other,
        }
    }

    /// The value under `key`, unless absent or expired at `now`. Never
    /// blocks on a writer.
    pub fn get(&self, key: &StoreKey, now: u64) -> Result<Option<Vec<u8>>, TierError> {
        let txn = self.env.read_txn()?;
        Ok(self.entries.get(&txn, key)?.and_then(|record| live_value(record, now)))
    }

    /// The value under `key` even if it has expired (not yet evicted): how
    /// a lookup learns that a session's entry ended, not just that it is
    /// absent.
    pub fn get_even_expired(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, TierError> {
        let txn = self.env.read_txn()?;
        Ok(self.entries.get(&txn, key)?.and_then(|record| record.get(RECORD_HEADER..).map(<[u8]>::to_vec)))
    }

    /// Takes the value under `key` atomically: of two takers, one gets it.
    pub fn take(&self, key: &StoreKey, now: u64) -> Result<Option<Vec<u8>>, TierError> {
        let mut txn = self.env.write_txn()?;
        let value = self.entries.get(&txn, key)?.and_then(|record| live_value(record, now));
        let removed = self.remove_in(&mut txn, key)?;
        txn.commit()?;
        Ok(value.filter(|_| removed))
    }

    /// Removes the entry under `key`, if any.
    pub fn delete(&self, key: &StoreKey) -> Result<bool, TierError> {
        let mut txn = self.env.write_txn()?;
        let removed = self.remove_in(&mut txn, key)?;
        txn.commit()?;
        Ok(removed)
    }

    pub fn occupancy(&self) -> Result<Occupancy, TierError> {
        let txn = self.env.read_txn()?;
        let evictions = read_u64(self.meta.get(&txn, EVICTIONS_KEY)?);
        Ok(Occupancy {
            entries: self.entries.len(&txn)?,
            bytes_used: self.env.non_free_pages_size()?,
            map_size: self.env.info().map_size as u64,
            evictions,
        })
    }

    fn try_apply(&self, writes: &[Write], now: u64) -> Result<u64, TierError> {
        let mut txn = self.env.write_txn()?;
        let incoming = writes.iter().map(Write::size).sum();
        let evicted = if incoming > 0 { self.make_room(&mut txn, now, incoming)? } else { 0 };
        let mut seq = read_u64(self.meta.get(&txn, SEQ_KEY)?);
        for write in writes {
            match write {
                Write::Put { key, value, expiry } => {
                    self.remove_in(&mut txn, key)?;
                    seq += 1;
                    let mut record = Vec::with_capacity(RECORD_HEADER + value.len());
                    record.extend_from_slice(&seq.to_be_bytes());
                    record.extend_from_slice(&expiry.to_be_bytes());
                    record.extend_from_slice(value);
                    self.entries.put(&mut txn, key, &record)?;
                    self.by_expiry.put(&mut txn, &index_key(*expiry, key), &[])?;
                    self.by_age.put(&mut txn, &index_key(seq, key), &[])?;
                }
                Write::Delete(key) => {
                    self.remove_in(&mut txn, key)?;
                }
            }
        }
        self.meta.put(&mut txn, SEQ_KEY, &seq.to_be_bytes())?;
        txn.commit()?;
        Ok(evicted)
    }

    /// Evicts inside `txn` when the pages in use plus an `incoming` record
    /// would pass the high-water mark: the rest of the map is headroom for
    /// LMDB's copy-on-write and for pages freed but not yet reusable.
    fn make_room(&self, txn: &mut RwTxn, now: u64, incoming: usize) -> Result<u64, TierError> {
        let map_size = self.env.info().map_size as u64;
        let high_water = map_size / 100 * HIGH_WATER_PERCENT;
        // A record costs its bytes in a leaf, and up to twice that when it
        // lands in a page of its own.
        if self.bytes_in_pages(txn)? + 2 * incoming as u64 <= high_water {
            return Ok(0);
        }
        self.evict_in(txn, now)
    }

    fn bytes_in_pages(&self, txn: &RwTxn) -> Result<u64, TierError> {
        let mut bytes = 0;
        for db in [&self.entries, &self.by_expiry, &self.by_age, &self.meta, &self.counters] {
            let stat = db.stat(txn)?;
            let pages = stat.leaf_pages + stat.branch_pages + stat.overflow_pages;
            bytes += pages as u64 * u64::from(stat.page_size);
        }
        Ok(bytes)
    }

    /// Removes `key` and its index rows inside `txn`.
    fn remove_in(&self, txn: &mut RwTxn, key: &StoreKey) -> Result<bool, TierError> {
        let Some((seq, expiry)) = self.entries.get(txn, key)?.and_then(record_times) else {
            return Ok(false);
        };
        self.entries.delete(txn, key)?;
        self.by_expiry.delete(txn, &index_key(expiry, key))?;
        self.by_age.delete(txn, &index_key(seq, key))?;
        Ok(true)
    }

    /// Frees room inside `txn`: every entry expired at `now`, then the
    /// oldest entries until a batch (1/32 of the entries, at least 16) is
    /// gone, so a full store does not evict on every write.
    fn evict_in(&self, txn: &mut RwTxn, now: u64) -> Result<u64, TierError> {
        let expired = keys_of(&self.by_expiry, txn, |expiry| expiry <= now, usize::MAX)?;
        let batch = (self.entries.len(txn)? as usize / 32).max(MIN_EVICT_BATCH);
        let oldest = keys_of(&self.by_age, txn, |_| true, batch.saturating_sub(expired.len()))?;
        let mut evicted = 0;
        for key in expired.iter().chain(&oldest) {
            evicted += u64::from(self.remove_in(txn, key)?);
        }
        let total = read_u64(self.meta.get(txn, EVICTIONS_KEY)?) + evicted;
        self.meta.put(txn, EVICTIONS_KEY, &total.to_be_bytes())?;
        Ok(evicted)
    }
}

/// Up to `limit` store keys from an index, in index order, while the
/// index's leading number satisfies `take`.
fn keys_of(
    index: &Db,
    txn: &RwTxn,
    take: impl Fn(u64) -> bool,
    limit: usize,
) -> Result<Vec<StoreKey>, TierError> {
    let mut keys = Vec::new();
    for row in index.iter(txn)? {
        let (index_key, _) = row?;
        let Some((number, key)) = split_index_key(index_key) else { continue };
        if keys.len() >= limit || !take(number) {
            break;
        }
        keys.push(key);
    }
    Ok(keys)
}

fn index_key(number: u64, key: &StoreKey) -> [u8; 8 + STORE_KEY_LEN] {
    let mut out = [0u8; 8 + STORE_KEY_LEN];
    out[..8].copy_from_slice(&number.to_be_bytes());
    out[8..].copy_from_slice(key);
    out
}

fn split_index_key(bytes: &[u8]) -> Option<(u64, StoreKey)> {
    let number = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let key: StoreKey = bytes.get(8..)?.try_into().ok()?;
    Some((number, key))
}

fn record_times(record: &[u8]) -> Option<(u64, u64)> {
    let seq = u64::from_be_bytes(record.get(..8)?.try_into().ok()?);
    let expiry = u64::from_be_bytes(record.get(8..16)?.try_into().ok()?);
    Some((seq, expiry))
}

fn live_value(record: &[u8], now: u64) -> Option<Vec<u8>> {
    let (_, expiry) = record_times(record)?;
    (expiry > now).then(|| record[RECORD_HEADER..].to_vec())
}

fn read_u64(bytes: Option<&[u8]>) -> u64 {
    bytes.and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes)
}

pub mod totals;

#[cfg(test)]
mod tests;
