//! The keyring: the operator's secrets, one per line, each with a validity
//! window, so keys can be rotated without a flag day.
//!
//! File format (text, so an operator can read which keys exist without
//! seeing them; the secrets are the only sensitive part):
//!
//! ```text
//! sesscb-keyring 1
//! # key <id> <not_before> <not_after|-> <64 hex digits>
//! key 1 1764460800 - 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! ```
//!
//! Times are Unix seconds. New entries are sealed with the *current* key:
//! the valid key with the latest `not_before`. Entries are opened with any
//! key that has not expired, including one whose `not_before` is still ahead
//! (hosts that already switched write under it during a staged rollout).

use std::fmt;

/// Length of every secret, in bytes.
pub(crate) const SECRET_LEN: usize = 32;
const MAGIC_LINE: &str = "sesscb-keyring 1";

/// One key of the ring.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub id: u32,
    pub not_before: u64,
    /// `None`: never expires.
    pub not_after: Option<u64>,
    pub secret: [u8; SECRET_LEN],
}

// Secrets are never printed, not even in debug output.
impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Usable to open entries at `now`.
    pub fn opens_at(&self, now: u64) -> bool {
        self.not_after.is_none_or(|end| now < end)
    }

    /// Usable to seal new entries at `now`.
    pub fn seals_at(&self, now: u64) -> bool {
        self.not_before <= now && self.opens_at(now)
    }
}

/// Why a keyring was refused: one line an operator can act on. Never
/// contains secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyringError {
    Empty,
    BadHeader,
    BadLine { line: usize, why: &'static str },
    DuplicateId { line: usize, id: u32 },
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "keyring holds no key"),
            Self::BadHeader => write!(f, "keyring does not start with '{MAGIC_LINE}'"),
            Self::BadLine { line, why } => write!(f, "keyring line {line}: {why}"),
            Self::DuplicateId { line, id } => write!(f, "keyring line {line}: key id {id} appears twice"),
        }
    }
}

/// A parsed keyring, keys in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    /// A keyring of the given keys (ids must be unique).
    pub fn from_keys(keys: Vec<Key>) -> Result<Self, KeyringError> {
        let ring = Keyring { keys };
        ring.check_ids()?;
        if ring.keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(ring)
    }

    /// Parses the text form; refuses anything it does not fully understand.
    pub fn parse(text: &str) -> Result<Self, KeyringError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        match lines.find(|(_, l)| !l.is_empty() && !l.starts_with('#')) {
            Some((_, MAGIC_LINE)) => {}
            _ => return Err(KeyringError::BadHeader),
        }
        let mut keys = Vec::new();
        for (number, line) in lines {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            keys.push(parse_key_line(line).map_err(|why| KeyringError::BadLine { line: number, why })?);
        }
        Self::from_keys(keys)
    }

    /// The text form `parse` reads back.
    pub fn to_text(&self) -> String {
        let mut out =
            format!("{MAGIC_LINE}\n# key <id> <not_before> <not_after|-> <secret, 64 hex digits>\n");
        for key in &self.keys {
            let end = key.not_after.map_or_else(|| "-".to_string(), |t| t.to_string());
            out.push_str(&format!("key {} {} {} {}\n", key.id, key.not_before, end, hex(&key.secret)));
        }
        out
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The key new entries are sealed with at `now`: the latest `not_before`
    /// among keys valid now (ties: the highest id).
    pub fn current(&self, now: u64) -> Option<&Key> {
        self.keys.iter().filter(|k| k.seals_at(now)).max_by_key(|k| (k.not_before, k.id))
    }

    /// The key with `id`, if it may open entries at `now`.
    pub fn opener(&self, id: u32, now: u64) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id && k.opens_at(now))
    }

    /// Keys that may open entries at `now`, the current one first: the order
    /// in which a lookup tries store keys.
    pub fn openers(&self, now: u64) -> Vec<&Key> {
        let current = self.current(now).map(|k| k.id);
        let mut keys: Vec<&Key> = self.keys.iter().filter(|k| k.opens_at(now)).collect();
        keys.sort_by_key(|k| (Some(k.id) != current, std::cmp::Reverse((k.not_before, k.id))));
        keys
    }

    /// Adds `secret` as a new key valid from `now`, so it becomes current;
    /// keys without an end get `now + retire_after` as theirs, if given, so
    /// entries sealed under them stop opening then.
    pub fn rotate(&mut self, secret: [u8; SECRET_LEN], now: u64, retire_after: Option<u64>) -> u32 {
        let id = self.keys.iter().map(|k| k.id).max().unwrap_or(0).wrapping_add(1).max(1);
        if let Some(grace) = retire_after {
            for key in self.keys.iter_mut().filter(|k| k.not_after.is_none()) {
                key.not_after = Some(now.saturating_add(grace));
            }
        }
        self.keys.push(Key { id, not_before: now, not_after: None, secret });
        id
    }

    fn check_ids(&self) -> Result<(), KeyringError> {
        for (i, key) in self.keys.iter().enumerate() {
            if self.keys[..i].iter().any(|k| k.id == key.id) {
                return Err(KeyringError::DuplicateId { line: i + 1, id: key.id });
            }
        }
        Ok(())
    }
}

fn parse_key_line(line: &str) -> Result<Key, &'static str> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [tag, id, not_before, not_after, secret] = fields[..] else {
        return Err("expected 'key <id> <not_before> <not_after|-> <secret>'");
    };
    if tag != "key" {
        return Err("expected a line starting with 'key'");
    }
    let id: u32 = id.parse().map_err(|_| "key id is not a number")?;
    let not_before: u64 = not_before.parse().map_err(|_| "not_before is not a Unix time")?;
    let not_after = match not_after {
        "-" => None,
        t => Some(t.parse::<u64>().map_err(|_| "not_after is not a Unix time or '-'")?),
    };
    if not_after.is_some_and(|end| end <= not_before) {
        return Err("not_after is not later than not_before");
    }
    let secret = unhex(secret).ok_or("secret is not 64 hex digits")?;
    Ok(Key { id, not_before, not_after, secret })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; SECRET_LEN]> {
    if text.len() != 2 * SECRET_LEN || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; SECRET_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32, not_before: u64, not_after: Option<u64>) -> Key {
        Key { id, not_before, not_after, secret: [id as u8; SECRET_LEN] }
    }

    #[test]
    fn text_round_trip() {
        let ring = Keyring::from_keys(vec![key(1, 100, None), key(7, 200, Some(900))]).unwrap();
        assert_eq!(Keyring::parse(&ring.to_text()).unwrap(), ring);
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        let good = format!("key 1 5 - {}", "ab".repeat(32));
        let cases = [
            ("", KeyringError::BadHeader),
            ("sesscb-keyring 2\n", KeyringError::BadHeader),
            ("sesscb-keyring 1\n", KeyringError::Empty),
        ];
        for (text, want) in cases {
            assert_eq!(Keyring::parse(text).unwrap_err(), want, "{text:?}");
        }
        for bad in [
            format!("key 1 5 - {}", "ab".repeat(31)),
            format!("key 1 5 - {}", "zz".repeat(32)),
            format!("key x 5 - {}", "ab".repeat(32)),
            format!("key 1 5 4 {}", "ab".repeat(32)),
            format!("kye 1 5 - {}", "ab".repeat(32)),
            "key 1 5 -".to_string(),
        ] {
            let text = format!("sesscb-keyring 1\n{bad}\n");
            assert!(matches!(Keyring::parse(&text), Err(KeyringError::BadLine { line: 2, .. })), "{bad}");
        }
        let dup = format!("sesscb-keyring 1\n{good}\n{good}\n");
        assert!(matches!(Keyring::parse(&dup), Err(KeyringError::DuplicateId { id: 1, .. })));
    }

    #[test]
    fn errors_and_debug_never_show_secrets() {
        let secret_hex = "c0".repeat(32);
        let text = format!("sesscb-keyring 1\nkey 1 9 8 {secret_hex}\n");
        let err = Keyring::parse(&text).unwrap_err().to_string();
        assert!(!err.contains("c0c0"), "{err}");
        let debug = format!("{:?}", key(3, 0, None));
        assert!(!debug.contains("secret"), "{debug}");
    }

    #[test]
    fn current_key_and_openers_follow_the_windows() {
        let ring =
            Keyring::from_keys(vec![key(1, 0, Some(1000)), key(2, 500, None), key(3, 2000, None)]).unwrap();
        assert_eq!(ring.current(100).unwrap().id, 1);
        assert_eq!(ring.current(600).unwrap().id, 2);
        assert_eq!(ring.current(2500).unwrap().id, 3);
        let ids = |now| ring.openers(now).iter().map(|k| k.id).collect::<Vec<_>>();
        assert_eq!(ids(600), vec![2, 3, 1]);
        assert_eq!(ids(1500), vec![2, 3]);
        assert!(ring.opener(1, 999).is_some());
        assert!(ring.opener(1, 1000).is_none());
    }

    #[test]
    fn rotation_makes_the_new_key_current_and_retires_the_old() {
        let mut ring = Keyring::from_keys(vec![key(4, 0, None)]).unwrap();
        let id = ring.rotate([9; SECRET_LEN], 1000, Some(3600));
        assert_eq!(id, 5);
        assert_eq!(ring.current(1000).unwrap().id, 5);
        assert!(ring.opener(4, 4599).is_some());
        assert!(ring.opener(4, 4600).is_none());
        let reread = Keyring::parse(&ring.to_text()).unwrap();
        assert_eq!(reread, ring);
    }
}
