//! A feature switched on by a setting read once (from the environment):
//! its value when on, none when off, and after the first read the on/off
//! answer costs one relaxed load, which the hot paths ask on every event.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

const UNKNOWN: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

pub struct Switch<T> {
    state: AtomicU8,
    value: OnceLock<Option<T>>,
}

impl<T> Default for Switch<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Switch<T> {
    pub const fn new() -> Self {
        Switch { state: AtomicU8::new(UNKNOWN), value: OnceLock::new() }
    }

    /// Whether the feature is on, reading the setting with `read` the first
    /// time.
    #[inline]
    pub fn is_on(&self, read: impl FnOnce() -> Option<T>) -> bool {
        match self.state.load(Ordering::Relaxed) {
            ON => true,
            OFF => false,
            _ => self.get(read).is_some(),
        }
    }

    /// The setting's value when on, reading it with `read` the first time.
    pub fn get(&self, read: impl FnOnce() -> Option<T>) -> Option<&T> {
        let value = self.value.get_or_init(read);
        // Written once: a store on every call would bounce the cache line
        // between the threads doing handshakes.
        if self.state.load(Ordering::Relaxed) == UNKNOWN {
            self.state.store(if value.is_some() { ON } else { OFF }, Ordering::Relaxed);
        }
        value.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::Switch;

    #[test]
    fn reads_once_and_answers_from_then_on() {
        let on: Switch<u32> = Switch::new();
        assert!(on.is_on(|| Some(7)));
        assert_eq!(on.get(|| unreachable!("read twice")), Some(&7));
        assert!(on.is_on(|| unreachable!("read twice")));
        let off: Switch<u32> = Switch::new();
        assert_eq!(off.get(|| None), None);
        assert!(!off.is_on(|| unreachable!("read twice")));
    }
}
