//! The store's per-process state: the settings (read once), and the open
//! tier and keyring, made on the first session event of each process and
//! made again in a forked child, whose inherited LMDB environment must not
//! be used.
//!
//! Nothing happens at load time: the first call of [`active`] (from a
//! trampoline, i.e. a data event) reads the environment; [`runtime`] opens
//! files only when a session is actually stored or looked up.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::config::{self, Backend, Config, Mode};
use super::keyring::Keyring;
use super::lmdb::Tier;
use super::remote::Remote;
use super::writer::Queue;
use super::{keysource, location};
use crate::observe::trace;
use crate::sync::fork_aware_lock::ForkAwareLock;
use crate::sync::process_ids::current_pid;
use crate::sync::switch::Switch;

/// How often a keyring file is checked for a change, at most.
const KEYRING_CHECK: Duration = Duration::from_secs(5);

static CONFIG: Switch<Config> = Switch::new();

/// Whether the store is configured: one relaxed load once known.
#[inline]
pub fn active() -> bool {
    CONFIG.is_on(read_config)
}

/// Whether new ctxs get the store's callbacks (mode auto or provide).
pub fn provides() -> bool {
    config().is_some_and(|c| matches!(c.mode, Mode::Auto | Mode::Provide))
}

/// Whether the store serves a ctx whose application set (`has_app`) or did
/// not set its own callbacks.
#[inline]
pub fn serves(has_app: bool) -> bool {
    active()
        && config().is_some_and(|c| match c.mode {
            Mode::Auto => true,
            Mode::Augment => has_app,
            Mode::Provide => !has_app,
        })
}

/// The settings, read from the environment on first use. A bad value is
/// reported once and leaves the store off.
pub fn config() -> Option<&'static Config> {
    CONFIG.get(read_config)
}

fn read_config() -> Option<Config> {
    if std::env::var_os("SESSCB_STORE").is_none_or(|v| v.is_empty() || v == "off") {
        return None;
    }
    let exe = std::env::current_exe().ok();
    let name = exe.as_ref().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("default");
    config::from_vars(|name| std::env::var(name).ok(), name).unwrap_or_else(|e| {
        report(&format!("store off: {e}"));
        None
    })
}

/// What a process needs to store and look up.
pub struct Runtime {
    pid: u32,
    pub config: &'static Config,
    /// The embedded tier: entries unless the backend is Redis alone, and
    /// always the host-wide counter totals.
    pub tier: Tier,
    /// Writes waiting for the store's thread (shared with it, so that it
    /// holds no `Runtime` while it waits: see `flusher::write_queued`).
    pub writes: Arc<Queue>,
    /// The Redis tier, this process's own (a forked child makes its own).
    pub remote: Option<Remote>,
    keys: ForkAwareLock,
    ring: std::cell::UnsafeCell<(Arc<Keyring>, Option<keysource::Stamp>, Instant)>,
}

// SAFETY: `ring` is only touched under `keys`; Tier is Sync (LMDB env).
unsafe impl Sync for Runtime {}
// SAFETY: as above; nothing in Runtime is tied to a thread.
unsafe impl Send for Runtime {}

/// The process's runtime: None while no session needs it, or when the
/// store could not start in this process (reported once per process).
struct Current(std::cell::UnsafeCell<Option<Result<Arc<Runtime>, u32>>>);
// SAFETY: only touched under CURRENT_LOCK.
unsafe impl Sync for Current {}
static CURRENT: Current = Current(std::cell::UnsafeCell::new(None));
static CURRENT_LOCK: ForkAwareLock = ForkAwareLock::new();

/// This process's runtime, started on first use (and anew after fork).
pub fn runtime() -> Option<Arc<Runtime>> {
    let config = config()?;
    let pid = current_pid();
    let _guard = CURRENT_LOCK.lock();
    // SAFETY: CURRENT is only touched under CURRENT_LOCK, held here.
    let current = unsafe { &mut *CURRENT.0.get() };
    match current {
        Some(Ok(rt)) if rt.pid == pid => return Some(rt.clone()),
        Some(Err(failed_pid)) if *failed_pid == pid => return None,
        // Inherited across fork: LMDB forbids using the parent's
        // environment, and dropping it closes only this process's copy.
        _ => {}
    }
    // Dropped before starting anew: heed refuses to open an environment
    // whose path is still open (registered) in this process.
    *current = None;
    *current = Some(start(config, pid).map(Arc::new).map_err(|why| {
        report(&format!("store off in process {pid}: {why}"));
        pid
    }));
    current.as_ref().and_then(|r| r.as_ref().ok()).cloned()
}

/// This process's runtime if it has started one; never starts it.
pub fn started() -> Option<Arc<Runtime>> {
    let pid = current_pid();
    let _guard = CURRENT_LOCK.lock();
    // SAFETY: CURRENT is only touched under CURRENT_LOCK, held here.
    match unsafe { &*CURRENT.0.get() } {
        Some(Ok(rt)) if rt.pid == pid => Some(rt.clone()),
        _ => None,
    }
}

fn start(config: &'static Config, pid: u32) -> Result<Runtime, String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let base = location::base_dir(config.dir.as_deref(), euid, |name| std::env::var(name).ok());
    location::ensure_base(&base, euid)?;
    let (ring, stamp) = match &config.keyring {
        Some(path) => keysource::load_file(path).map(|(ring, stamp)| (ring, Some(stamp)))?,
        None => (keysource::boot_keyring(&keysource::boot_key_path(&base, euid), unix_now())?, None),
    };
    let dir = location::env_dir(&base, euid, &config.domain);
    location::ensure_private_dir(&dir, euid)?;
    let tier = Tier::open(&dir, config.map_size).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(Runtime {
        pid,
        config,
        tier,
        writes: Arc::new(Queue::new()),
        remote: match &config.backend {
            Backend::Redis(settings) => Some(Remote::new(settings.clone())),
            Backend::Local => None,
        },
        keys: ForkAwareLock::new(),
        ring: std::cell::UnsafeCell::new((Arc::new(ring), stamp, Instant::now())),
    })
}

impl Runtime {
    /// The keyring, re-read when its file changed (checked at most every
    /// few seconds; a bad new file keeps the old ring and is reported).
    pub fn keyring(&self) -> Arc<Keyring> {
        let _guard = self.keys.lock();
        // SAFETY: `ring` is only touched under `keys`, held here.
        let (ring, stamp, checked) = unsafe { &mut *self.ring.get() };
        if let (Some(path), Some(old)) = (&self.config.keyring, *stamp)
            && checked.elapsed() >= KEYRING_CHECK
        {
            *checked = Instant::now();
            if keysource::stamp(path).is_ok_and(|now| now != old) {
                match keysource::load_file(path) {
                    Ok((new_ring, new_stamp)) => (*ring, *stamp) = (Arc::new(new_ring), Some(new_stamp)),
                    Err(why) => report(&format!("keyring not reloaded: {why}")),
                }
            }
        }
        ring.clone()
    }
}

/// Wall-clock seconds, for expiry fields.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// One line on stderr and in the trace: the operator must see why the
/// store is not working, and nothing else is printed.
fn report(line: &str) {
    eprintln!("sesscb: {line}");
    // The trace writes `detail` as it is: keep it a plain JSON string.
    let plain: String = line.chars().filter(|c| !matches!(c, '"' | '\\') && !c.is_control()).collect();
    trace::note("store", &plain);
}
