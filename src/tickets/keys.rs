//! The process's ticket keys: the settings (read once), the keyring (re-read
//! when its file changes) and the window of the current epoch (made again
//! when the epoch or the keyring changes). In `keyring` mode nothing is per
//! process but a cache: every value derives from the keyring, so a forked
//! child agrees with its parent and every other process. (`redis` mode's
//! window: src/tickets/current.rs.)

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::config::{self, Config};
use super::schedule::Window;
use crate::observe::trace;
use crate::store::keyring::Keyring;
use crate::store::keysource::{self, Stamp};
use crate::sync::fork_aware_lock::ForkAwareLock;
use crate::sync::switch::Switch;

/// How often the keyring file is checked for a change, at most.
const KEYRING_CHECK: Duration = Duration::from_secs(5);

static CONFIG: Switch<Config> = Switch::new();

/// Whether ticket keys are configured: one relaxed load once known.
#[inline]
pub fn active() -> bool {
    CONFIG.is_on(read_config)
}

/// The settings, when ticket keys are on.
pub fn config() -> Option<&'static Config> {
    CONFIG.get(read_config)
}

fn read_config() -> Option<Config> {
    // Off (the default): not even the executable's name is looked up.
    if std::env::var_os("SESSCB_TICKET_KEYS").is_none_or(|v| v.is_empty() || v == "off") {
        return None;
    }
    let exe = std::env::current_exe().ok();
    let name = exe.as_ref().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("default");
    config::from_vars(|name| std::env::var(name).ok(), name).unwrap_or_else(|e| {
        report(&format!("ticket keys off: {e}"));
        None
    })
}

struct State {
    ring: Option<(Arc<Keyring>, Stamp)>,
    checked: Option<Instant>,
    window: Option<Arc<Window>>,
}

struct Cell(std::cell::UnsafeCell<State>);
// SAFETY: only touched under LOCK.
unsafe impl Sync for Cell {}
static STATE_CELL: Cell = Cell(std::cell::UnsafeCell::new(State { ring: None, checked: None, window: None }));
static LOCK: ForkAwareLock = ForkAwareLock::new();

/// The keyring, loaded (and re-read when its file changed); None while it
/// cannot be read.
pub fn ring() -> Option<Arc<Keyring>> {
    let config = config()?;
    let _guard = LOCK.lock();
    // SAFETY: STATE_CELL is only touched under LOCK, held here.
    let state = unsafe { &mut *STATE_CELL.0.get() };
    refresh_ring(state, config);
    Some(state.ring.as_ref()?.0.clone())
}

/// `keyring` mode: the window of the epoch holding `now`, derived from the
/// keyring; None when it cannot be read (reported once per reason).
pub fn derived_window(config: &Config, now: u64) -> Option<Arc<Window>> {
    let _guard = LOCK.lock();
    // SAFETY: STATE_CELL is only touched under LOCK, held here.
    let state = unsafe { &mut *STATE_CELL.0.get() };
    let changed = refresh_ring(state, config);
    let ring = state.ring.as_ref()?.0.clone();
    let stale = state.window.as_ref().is_none_or(|w| w.epoch != now / config.rotate.max(1));
    if changed || stale {
        let domain = config.domain.as_bytes();
        state.window = Some(Arc::new(Window::build(&ring, domain, config.rotate, config.lifetime, now)));
    }
    state.window.clone()
}

/// Loads the keyring the first time, and again when its file changed
/// (checked at most every few seconds). True when the ring changed.
fn refresh_ring(state: &mut State, config: &Config) -> bool {
    if state.checked.is_some_and(|t| t.elapsed() < KEYRING_CHECK) {
        return false;
    }
    state.checked = Some(Instant::now());
    let old = state.ring.as_ref().map(|(_, stamp)| *stamp);
    if old.is_some() && keysource::stamp(&config.keyring).ok() == old {
        return false;
    }
    match keysource::load_file(&config.keyring) {
        Ok((ring, stamp)) => {
            state.ring = Some((Arc::new(ring), stamp));
            true
        }
        Err(why) => {
            // Once per process: the file is retried every few seconds.
            static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !REPORTED.swap(true, Ordering::Relaxed) {
                report(&format!("ticket keyring not (re)loaded: {why}"));
            }
            false
        }
    }
}

/// [`report`], once per process whatever the line.
pub fn report_once(line: &str) {
    static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !REPORTED.swap(true, Ordering::Relaxed) {
        report(line);
    }
}

/// One line on stderr and in the trace, as the store reports.
pub(super) fn report(line: &str) {
    eprintln!("sesscb: {line}");
    let plain: String = line.chars().filter(|c| !matches!(c, '"' | '\\') && !c.is_control()).collect();
    // The trace schema's notice for the store and its keys.
    trace::note("store", &plain);
}
