//! The metrics file where the ticket keys run without the store
//! (`keyring` mode): the store's thread writes it, started on the first
//! ticket operation (a data event, never at `SSL_CTX_new`), folding
//! nothing (there is no store) and writing the process's counters every
//! interval and at exit. `redis` mode's own thread writes it there; with a
//! store, the store's thread already does.

use std::sync::OnceLock;

use super::config::Source;
use super::keys;
use crate::store::{engine, flusher};

/// Starts the writer once per process where it is wanted; one load after.
pub fn ensure_written() {
    static WANTED: OnceLock<bool> = OnceLock::new();
    let wanted = *WANTED.get_or_init(|| {
        engine::config().is_none()
            && keys::config().is_some_and(|config| matches!(config.source, Source::Keyring))
            && std::env::var_os("SESSCB_METRICS_FILE").is_some_and(|v| !v.is_empty())
    });
    if wanted {
        flusher::ensure_running();
    }
}
