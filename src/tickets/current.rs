//! The keys a ticket operation uses now, whichever the mode: derived from
//! the keyring (`keyring`), or the random epoch keys the Redis thread holds
//! (`redis`, whose thread this starts when the process has none).

use std::sync::Arc;

use super::config::Source;
use super::schedule::Window;
use super::{fetcher, held, keys};

/// The window of the epoch holding `now`; None when ticket keys are off or
/// the keyring cannot be read (reported once per reason).
pub fn window(now: u64) -> Option<Arc<Window>> {
    let config = keys::config()?;
    match &config.source {
        Source::Keyring => keys::derived_window(config, now),
        Source::Redis(redis) => {
            // Held keys are useless without a keyring to have opened them.
            keys::ring()?;
            fetcher::ensure(config, redis);
            Some(held::window(config.rotate, config.lifetime, now))
        }
    }
}
