//! Taking a lock the Redis tier shares between lookups and its thread.

use std::sync::{Mutex, MutexGuard};

pub fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these; a poisoned one is still valid.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
