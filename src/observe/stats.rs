//! Counters, per ctx (in its slot) and for the whole process, and the C view
//! of them.

use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::event::{EVENTS, Event};
use super::thread_counters;
use super::trace;

/// Status codes returned by `sesscb_stats`.
#[repr(C)]
#[allow(non_camel_case_types, dead_code)]
pub enum sesscb_status {
    /// Success.
    Ok = 0,
    /// `out` is NULL or `out->size` is smaller than the fixed header.
    BadArgument = -1,
    /// The ctx has no per-ctx counters: no callback was ever set on it through
    /// sesscb, or it uses a shared trampoline (more ctxs than slots).
    UntrackedCtx = -2,
    /// No real libssl has been found in this process yet.
    NoLibssl = -3,
    /// sesscb caught an internal error; nothing was written.
    InternalError = -4,
    /// A libssl is loaded, but none that sesscb can identify made this ctx:
    /// sesscb does not manage its callbacks.
    UnattributedCtx = -5,
}

pub(crate) const STATUS_OK: c_int = sesscb_status::Ok as c_int;
pub(crate) const STATUS_BAD_ARGUMENT: c_int = sesscb_status::BadArgument as c_int;
pub(crate) const STATUS_UNTRACKED_CTX: c_int = sesscb_status::UntrackedCtx as c_int;
pub(crate) const STATUS_NO_LIBSSL: c_int = sesscb_status::NoLibssl as c_int;
pub(crate) const STATUS_INTERNAL_ERROR: c_int = sesscb_status::InternalError as c_int;
pub(crate) const STATUS_UNATTRIBUTED_CTX: c_int = sesscb_status::UnattributedCtx as c_int;

/// Counters filled in by `sesscb_stats`.
///
/// ABI growth rule: the caller sets `size = sizeof(struct sesscb_stats)` as
/// compiled against its header; sesscb writes only the fields that fit in that
/// size and sets `size` to the number of bytes it wrote. New fields are only
/// ever appended.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct sesscb_stats {
    /// In: the size of the caller's struct. Out: bytes written.
    pub size: u32,
    /// Reserved, written as 0.
    pub flags: u32,
    /// New-session callbacks dispatched to the application.
    pub new_calls: u64,
    /// ... of which returned non-zero (the application kept the reference).
    pub new_kept: u64,
    /// Get-session callbacks dispatched to the application.
    pub get_calls: u64,
    /// ... of which returned a session (a hit).
    pub get_hits: u64,
    /// ... of which returned a session with `*copy` set to 0.
    pub get_copy0: u64,
    /// Remove-session callbacks dispatched to the application.
    pub remove_calls: u64,
    /// Trace lines that could not be written (process totals only; 0 for a
    /// ctx).
    pub log_lines_dropped: u64,
    /// Store lookups the application's own get callback answered (process totals only, as every `store_` field; 0 for a ctx).
    pub store_lookups_app_hit: u64,
    /// Store lookups the embedded tier answered.
    pub store_lookups_local_hit: u64,
    /// Store lookups that found no entry.
    pub store_lookups_miss: u64,
    /// Store lookups the tier failed.
    pub store_lookups_error: u64,
    /// Store lookups whose entry failed authentication.
    pub store_lookups_auth_fail: u64,
    /// Store lookups whose entry another OpenSSL major version or family made.
    pub store_lookups_incompatible: u64,
    /// Store lookups whose entry was past its lifetime.
    pub store_lookups_expired: u64,
    /// Sessions stored.
    pub store_stores_ok: u64,
    /// Sessions not stored: larger than `SESSCB_STORE_MAX_ENTRY`.
    pub store_stores_too_large: u64,
    /// Sessions not stored: TLS 1.3 stateless (the ticket is the session).
    pub store_stores_skipped_tls13_stateless: u64,
    /// Sessions not stored: no session id.
    pub store_stores_skipped_no_id: u64,
    /// Sessions not stored: the tier or the keyring failed.
    pub store_stores_backend_error: u64,
    /// Sessions not stored: the process's write queue was full.
    pub store_stores_queue_dropped: u64,
    /// Removals that deleted the shared entry.
    pub store_removes_propagated: u64,
    /// Removals that leave shared entries alone (ctx free, flush, expiry, eviction).
    pub store_removes_ignored: u64,
    /// Removals over the per-process budget (1000/s), left to expire.
    pub store_removes_rate_limited: u64,
    /// Removals whose delete failed.
    pub store_removes_error: u64,
    /// Entries this process's writes evicted from the embedded tier.
    pub store_evictions: u64,
    /// Session tickets encrypted under sesscb's current epoch key (`SESSCB_TICKET_KEYS`; process totals, as `store_` fields).
    pub tickets_issued: u64,
    /// Tickets decrypted under the current epoch key.
    pub tickets_decrypted: u64,
    /// Tickets decrypted under an older epoch or keyring key, and renewed.
    pub tickets_renewed: u64,
    /// Tickets refused as older than `SESSCB_TICKET_LIFETIME` (full handshake).
    pub tickets_expired: u64,
    /// Tickets refused as not named by sesscb's schedule (full handshake).
    pub tickets_unknown: u64,
    /// Ticket operations served with keys the application set itself.
    pub tickets_app_keys: u64,
    /// Ctxs or ticket operations left with OpenSSL's own keys.
    pub tickets_fallback: u64,
    /// Lookups Redis answered with a live session.
    pub store_lookups_remote_hit: u64,
    /// Redis lookups past `SESSCB_STORE_TIMEOUT_MS` (a miss).
    pub store_lookups_timeout: u64,
    /// Lookups that skipped Redis because its breaker was open (a miss).
    pub store_lookups_breaker_open: u64,
    /// Redis lookups that failed: I/O, protocol or server error (a miss).
    pub store_lookups_remote_error: u64,
    /// Lookups that found no established Redis connection (a miss).
    pub store_lookups_unavailable: u64,
    /// Writes Redis applied.
    pub store_stores_remote_ok: u64,
    /// Writes Redis failed or that could not be sent.
    pub store_stores_remote_error: u64,
    /// Lookups over the per-process cap on Redis lookups a second (a miss).
    pub store_lookups_rate_limited: u64,
    /// Epoch keys read from Redis that opened under the keyring (`SESSCB_TICKET_KEYS=redis`).
    pub tickets_redis_fetched: u64,
    /// Epoch keys this process made and Redis kept (`SET NX` won).
    pub tickets_redis_created: u64,
    /// Values in Redis that failed authentication or were malformed: ignored.
    pub tickets_redis_rejected: u64,
    /// Redis calls of the ticket-key thread that failed (connect, I/O, server error).
    pub tickets_redis_error: u64,
}

/// Atomic counters: for events of shared trampolines, for retired slots,
/// and for the rare thread that cannot have a shard (it is exiting).
pub struct Counters {
    counts: [AtomicU64; EVENTS],
}

/// Events dispatched through shared (function-keyed) trampolines.
static SHARED: Counters = Counters::new();
/// Counts of slots whose ctx has been freed.
static RETIRED: Counters = Counters::new();

impl Counters {
    pub const fn new() -> Self {
        Counters { counts: [const { AtomicU64::new(0) }; EVENTS] }
    }

    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Relaxed);
        }
    }

    #[inline]
    pub fn bump(&self, event: Event) {
        self.counts[event as usize].fetch_add(1, Relaxed);
    }

    fn add_into(&self, raw: &mut [u64; EVENTS]) {
        for (sum, c) in raw.iter_mut().zip(&self.counts) {
            *sum += c.load(Relaxed);
        }
    }

    #[cfg(test)]
    pub fn snapshot(&self) -> sesscb_stats {
        let mut raw = [0; EVENTS];
        self.add_into(&mut raw);
        to_view(raw)
    }
}

/// Counts one dispatched event: for a slot (its index and atomic counters),
/// in this thread's shard (a plain store, no atomic add); for a shared
/// trampoline, atomically.
#[inline]
pub fn record(slot: Option<(usize, &Counters)>, event: Event) {
    match slot {
        Some((index, counters)) => {
            if !thread_counters::bump(index, event) {
                counters.bump(event);
            }
        }
        None => SHARED.bump(event),
    }
}

fn to_view(
    [new_kept, new_dropped, get_miss, get_hit_copy, get_hit_copy0, remove]: [u64; EVENTS],
) -> sesscb_stats {
    sesscb_stats {
        size: size_of::<sesscb_stats>() as u32,
        flags: 0,
        new_calls: new_kept + new_dropped,
        new_kept,
        get_calls: get_miss + get_hit_copy + get_hit_copy0,
        get_hits: get_hit_copy + get_hit_copy0,
        get_copy0: get_hit_copy0,
        remove_calls: remove,
        log_lines_dropped: 0,
        ..Default::default()
    }
}

/// One slot's counts: its atomic counters plus every thread's shard.
pub fn slot_snapshot(index: usize, counters: &Counters) -> sesscb_stats {
    let mut raw = [0; EVENTS];
    counters.add_into(&mut raw);
    thread_counters::add_slot_into(index, &mut raw);
    to_view(raw)
}

/// Folds a dying ctx's counts (atomic and every thread's shard) into the
/// process totals, leaving the slot's counts at zero for its next ctx.
pub fn retire_slot(index: usize, counters: &Counters) {
    let mut raw = [0; EVENTS];
    for (sum, c) in raw.iter_mut().zip(&counters.counts) {
        *sum += c.swap(0, Relaxed);
    }
    thread_counters::drain_slot_into(index, &mut raw);
    for (n, to) in raw.into_iter().zip(&RETIRED.counts) {
        if n != 0 {
            to.fetch_add(n, Relaxed);
        }
    }
}

/// Process totals: shared trampolines, retired slots, every live slot and
/// every thread's shard (`slots` yields every slot's atomic counters). Exact
/// when no ctx is being freed during the read.
pub fn process_snapshot<'a>(slots: impl Iterator<Item = &'a Counters>) -> sesscb_stats {
    let mut raw = [0; EVENTS];
    SHARED.add_into(&mut raw);
    RETIRED.add_into(&mut raw);
    for counters in slots {
        counters.add_into(&mut raw);
    }
    thread_counters::add_all_into(&mut raw);
    sesscb_stats { log_lines_dropped: trace::DROPPED.load(Relaxed), ..to_view(raw) }
}

/// Bytes of `sesscb_stats` a caller must provide at least (size + flags).
pub(crate) const STATS_HEADER_SIZE: u32 = 8;

/// Copies `snapshot` into a caller buffer of `caller_size` bytes, writing only
/// what fits; returns the number of bytes written (0 when not even the
/// header fits: nothing is written then).
///
/// # Safety
/// `out` must point to at least `caller_size` writable bytes.
pub unsafe fn write_truncated(snapshot: &sesscb_stats, out: *mut u8, caller_size: u32) -> u32 {
    let ours = size_of::<sesscb_stats>() as u32;
    // Whole fields only: the layout is a u32 pair followed by u64s.
    let n = match caller_size.checked_sub(STATS_HEADER_SIZE) {
        None => return 0,
        Some(_) if caller_size >= ours => ours,
        Some(beyond_header) => STATS_HEADER_SIZE + beyond_header / 8 * 8,
    };
    let mut copy = *snapshot;
    copy.size = n;
    // SAFETY: the caller guarantees `out` has `caller_size >= n` bytes; the
    // source is a local of at least `n` bytes; the regions cannot overlap.
    unsafe { std::ptr::copy_nonoverlapping((&copy as *const sesscb_stats).cast::<u8>(), out, n as usize) };
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hits_and_copy0_only_for_hits() {
        let c = Counters::new();
        c.bump(Event::get_session(false, true));
        c.bump(Event::get_session(true, false));
        c.bump(Event::get_session(true, true));
        c.bump(Event::new_session(true));
        c.bump(Event::new_session(false));
        c.bump(Event::Remove);
        let s = c.snapshot();
        assert_eq!((s.get_calls, s.get_hits, s.get_copy0), (3, 2, 1));
        assert_eq!((s.new_calls, s.new_kept, s.remove_calls), (2, 1, 1));
        c.reset();
        assert_eq!(c.snapshot().new_calls, 0);
    }

    #[test]
    fn an_older_smaller_struct_gets_only_its_fields() {
        let c = Counters::new();
        c.bump(Event::NewKept);
        c.bump(Event::NewKept);
        let snap = c.snapshot();
        let mut buf = [0xAAu8; 64];
        // A caller that only knows size, flags and new_calls (16 bytes).
        // SAFETY: `buf` has 64 >= 20 writable bytes.
        let n = unsafe { write_truncated(&snap, buf.as_mut_ptr(), 20) };
        assert_eq!(n, 16);
        assert_eq!(u32::from_ne_bytes(buf[0..4].try_into().unwrap()), 16);
        assert_eq!(u64::from_ne_bytes(buf[8..16].try_into().unwrap()), 2);
        assert!(buf[16..].iter().all(|&b| b == 0xAA), "wrote past the caller's size");
    }

    #[test]
    fn a_buffer_smaller_than_the_header_gets_nothing() {
        let snap = Counters::new().snapshot();
        for size in 0..STATS_HEADER_SIZE {
            let mut buf = [0xAAu8; 16];
            // SAFETY: `buf` has 16 >= size writable bytes.
            let n = unsafe { write_truncated(&snap, buf.as_mut_ptr(), size) };
            assert_eq!(n, 0, "size {size}");
            assert!(buf.iter().all(|&b| b == 0xAA), "size {size}: wrote into the buffer");
        }
    }

    /// The struct before the store's fields: size, flags and seven u64s.
    const BEFORE_STORE: u32 = 8 + 7 * 8;

    #[test]
    fn a_caller_from_before_the_store_gets_exactly_what_it_got() {
        let snap = sesscb_stats {
            new_calls: 1,
            log_lines_dropped: 7,
            store_lookups_app_hit: 9,
            ..Default::default()
        };
        let mut buf = [0xAAu8; 256];
        // SAFETY: `buf` has 256 >= BEFORE_STORE writable bytes.
        let n = unsafe { write_truncated(&snap, buf.as_mut_ptr(), BEFORE_STORE) };
        assert_eq!(n, BEFORE_STORE);
        assert_eq!(u64::from_ne_bytes(buf[56..64].try_into().unwrap()), 7, "log_lines_dropped moved");
        assert!(buf[64..].iter().all(|&b| b == 0xAA), "wrote a store field into an old caller's memory");
        assert_eq!(std::mem::offset_of!(sesscb_stats, store_lookups_app_hit), BEFORE_STORE as usize);
    }

    #[test]
    fn a_caller_with_the_store_fields_gets_them_all() {
        let snap = sesscb_stats {
            store_lookups_app_hit: 9,
            store_evictions: 11,
            tickets_fallback: 13,
            store_lookups_rate_limited: 15,
            ..Default::default()
        };
        let mut buf = [0u8; 512];
        let size = size_of::<sesscb_stats>() as u32;
        // SAFETY: `buf` has 512 >= size writable bytes.
        let n = unsafe { write_truncated(&snap, buf.as_mut_ptr(), size) };
        assert_eq!(n, size);
        let at = |field: usize| u64::from_ne_bytes(buf[field..field + 8].try_into().unwrap());
        assert_eq!(at(std::mem::offset_of!(sesscb_stats, store_lookups_app_hit)), 9);
        assert_eq!(at(std::mem::offset_of!(sesscb_stats, store_evictions)), 11);
        assert_eq!(at(std::mem::offset_of!(sesscb_stats, tickets_fallback)), 13);
        assert_eq!(at(std::mem::offset_of!(sesscb_stats, store_lookups_rate_limited)), 15);
        assert_eq!(
            std::mem::offset_of!(sesscb_stats, tickets_issued),
            std::mem::offset_of!(sesscb_stats, store_evictions) + 8,
            "the ticket fields follow the store's"
        );
        assert_eq!(
            std::mem::offset_of!(sesscb_stats, store_lookups_remote_hit),
            std::mem::offset_of!(sesscb_stats, tickets_fallback) + 8,
            "the Redis fields follow the tickets'"
        );
        assert_eq!(
            std::mem::offset_of!(sesscb_stats, tickets_redis_fetched),
            std::mem::offset_of!(sesscb_stats, store_lookups_rate_limited) + 8,
            "the Redis ticket-key fields follow (growth rule)"
        );
        assert_eq!(
            std::mem::offset_of!(sesscb_stats, tickets_redis_error) + 8,
            size as usize,
            "tickets_redis_error is last (growth rule)"
        );
    }

    #[test]
    fn a_newer_larger_struct_learns_how_much_was_written() {
        let snap = Counters::new().snapshot();
        let mut buf = [0u8; 512];
        // SAFETY: `buf` has 512 writable bytes.
        let n = unsafe { write_truncated(&snap, buf.as_mut_ptr(), 512) };
        assert_eq!(n as usize, size_of::<sesscb_stats>());
    }
}
