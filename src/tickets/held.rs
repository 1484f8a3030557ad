//! The `redis` mode's epoch keys in this process's memory: put there by the
//! Redis thread (src/tickets/fetcher.rs), read by the ticket callback, which
//! never waits on the network. Epochs past the lifetime are forgotten, so a
//! key lives in memory no longer than Redis keeps it.
//!
//! A forked child inherits the keys its parent held (they stay valid) and
//! its own thread keeps them up to date from then on.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::schedule::{EXPIRED_EPOCHS, EpochKeys, Window};
use crate::sync::fork_aware_lock::ForkAwareLock;

struct Held {
    keys: BTreeMap<u64, EpochKeys>,
    /// Bumped by every change, so the window is rebuilt only then.
    generation: u64,
    /// The last window built: its epoch, generation and value.
    window: Option<(u64, u64, Arc<Window>)>,
}

struct Cell(std::cell::UnsafeCell<Held>);
// SAFETY: only touched under LOCK.
unsafe impl Sync for Cell {}
static HELD: Cell =
    Cell(std::cell::UnsafeCell::new(Held { keys: BTreeMap::new(), generation: 0, window: None }));
static LOCK: ForkAwareLock = ForkAwareLock::new();

fn with<R>(f: impl FnOnce(&mut Held) -> R) -> R {
    let _guard = LOCK.lock();
    // SAFETY: HELD is only touched under LOCK, held here.
    f(unsafe { &mut *HELD.0.get() })
}

/// Whether the keys of `epoch` are held.
pub fn has(epoch: u64) -> bool {
    with(|h| h.keys.contains_key(&epoch))
}

/// Holds `keys` (of their epoch).
pub fn put(keys: EpochKeys) {
    with(|h| {
        h.keys.insert(keys.epoch, keys);
        h.generation += 1;
    });
}

/// Forgets every epoch whose tickets can no longer be accepted at `now`
/// (keeping a few to tell "expired" from "unknown").
pub fn forget_expired(rotate: u64, lifetime: u64, now: u64) {
    let rotate = rotate.max(1);
    let oldest = (now / rotate).saturating_sub(lifetime.div_ceil(rotate) + EXPIRED_EPOCHS);
    with(|h| {
        let before = h.keys.len();
        h.keys.retain(|&epoch, _| epoch >= oldest);
        if h.keys.len() != before {
            h.generation += 1;
        }
    });
}

/// The window of the epoch holding `now` over the keys held; rebuilt only
/// when the epoch or the keys changed.
pub fn window(rotate: u64, lifetime: u64, now: u64) -> Arc<Window> {
    let epoch = now / rotate.max(1);
    with(|h| {
        if let Some((e, generation, window)) = &h.window
            && *e == epoch
            && *generation == h.generation
        {
            return window.clone();
        }
        let keys: Vec<EpochKeys> = h.keys.values().cloned().collect();
        let window = Arc::new(Window::from_held(&keys, rotate, lifetime, now));
        h.window = Some((epoch, h.generation, window.clone()));
        window
    })
}
