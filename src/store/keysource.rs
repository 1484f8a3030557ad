//! Where the keyring comes from: the operator's file (`SESSCB_STORE_KEYRING`),
//! re-read when it changes, or, for the embedded tier without one, a random
//! key made once per boot and shared by the uid's processes through a 0600
//! file in the base directory (never inside the store itself).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::keyring::{Key, Keyring, SECRET_LEN};

/// A keyring file is refused if larger: it holds a few lines per key.
const MAX_KEYRING_BYTES: u64 = 1 << 20;
const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// What identifies one version of a file, to notice a change cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

/// The stamp of `path` now (follows symlinks, as a reader would).
pub fn stamp(path: &Path) -> io::Result<Stamp> {
    let m = fs::metadata(path)?;
    let mtime_ns = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
    Ok(Stamp { dev: m.dev(), ino: m.ino(), size: m.size(), mtime_ns })
}

/// Reads and parses the operator's keyring. Refused: unreadable, not a
/// regular file, readable or writable by others, too large, malformed.
pub fn load_file(path: &Path) -> Result<(Keyring, Stamp), String> {
    let shown = path.display();
    let mut file = File::open(path).map_err(|e| format!("cannot read keyring {shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot inspect keyring {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("keyring {shown} is not a regular file"));
    }
    if meta.mode() & 0o007 != 0 {
        return Err(format!(
            "keyring {shown} is accessible to others (mode {:o}); chmod o-rwx it",
            meta.mode() & 0o777
        ));
    }
    if meta.len() > MAX_KEYRING_BYTES {
        return Err(format!("keyring {shown} is larger than 1 MiB"));
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| format!("cannot read keyring {shown}: {e}"))?;
    let ring = Keyring::parse(&text).map_err(|e| format!("keyring {shown}: {e}"))?;
    let stamp = stamp(path).map_err(|e| format!("cannot inspect keyring {shown}: {e}"))?;
    Ok((ring, stamp))
}

/// The per-boot key file of `euid` in `base`.
pub fn boot_key_path(base: &Path, euid: u32) -> PathBuf {
    base.join(format!("boot-key.u{euid}"))
}

/// The per-boot keyring: read from `path` if it was made this boot, else
/// made now. Of processes racing to make it, the first link wins and the
/// others read the winner's, so they all agree.
pub fn boot_keyring(path: &Path, now: u64) -> Result<Keyring, String> {
    let boot = boot_id()?;
    if let Some(ring) = read_boot_file(path, &boot) {
        return Ok(ring);
    }
    // A file from an earlier boot (a disk-backed /tmp) is replaced.
    if path.exists() && read_boot_file(path, &boot).is_none() {
        let _ = fs::remove_file(path);
    }
    let mut secret = [0u8; SECRET_LEN];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness for the per-boot key: {e}"))?;
    let ring = Keyring::from_keys(vec![Key { id: 1, not_before: now, not_after: None, secret }])
        .expect("one key is a valid keyring");
    let text = format!("# boot {boot}\n{}", ring.to_text());
    publish(path, text.as_bytes())?;
    read_boot_file(path, &boot)
        .ok_or_else(|| format!("per-boot key {} is unreadable after creation", path.display()))
}

fn read_boot_file(path: &Path, boot: &str) -> Option<Keyring> {
    let text = fs::read_to_string(path).ok()?;
    let first = text.lines().next()?;
    if first != format!("# boot {boot}") {
        return None;
    }
    Keyring::parse(&text).ok()
}

/// Writes `bytes` to a fresh 0600 file beside `path`, then links it to
/// `path` unless someone else already did.
fn publish(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = fs::remove_file(&temp);
    let result = write_new(&temp, bytes).and_then(|()| match fs::hard_link(&temp, path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = fs::remove_file(&temp);
    result.map_err(|e| format!("cannot write per-boot key {}: {e}", path.display()))
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn boot_id() -> Result<String, String> {
    let text = fs::read_to_string(BOOT_ID_PATH).map_err(|e| format!("cannot read {BOOT_ID_PATH}: {e}"))?;
    Ok(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sesscb-keys-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        dir
    }

    fn write_mode(path: &Path, text: &str, mode: u32) {
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_good_keyring_file_loads_and_its_stamp_changes_with_it() {
        let dir = scratch("good");
        let path = dir.join("ring");
        let ring =
            Keyring::from_keys(vec![Key { id: 1, not_before: 0, not_after: None, secret: [1; 32] }]).unwrap();
        write_mode(&path, &ring.to_text(), 0o600);
        let (loaded, first) = load_file(&path).unwrap();
        assert_eq!(loaded, ring);
        let mut rotated = ring.clone();
        rotated.rotate([2; 32], 10, None);
        write_mode(&path, &rotated.to_text(), 0o640);
        assert_ne!(stamp(&path).unwrap(), first);
        assert_eq!(load_file(&path).unwrap().0, rotated);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_keyring_files_are_refused_with_a_reason() {
        let dir = scratch("bad");
        let path = dir.join("ring");
        assert!(load_file(&path).unwrap_err().contains("cannot read"));
        write_mode(&path, "garbage\n", 0o600);
        assert!(load_file(&path).unwrap_err().contains("does not start with"));
        let ring =
            Keyring::from_keys(vec![Key { id: 1, not_before: 0, not_after: None, secret: [1; 32] }]).unwrap();
        write_mode(&path, &ring.to_text(), 0o644);
        assert!(load_file(&path).unwrap_err().contains("accessible to others"));
        assert!(load_file(&dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_boot_key_is_made_once_private_and_shared() {
        let dir = scratch("boot");
        let path = boot_key_path(&dir, 1000);
        let first = boot_keyring(&path, 5).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(boot_keyring(&path, 99).unwrap(), first, "a second process reads the same key");
        // A key file from another boot is replaced by a new key.
        let stale = fs::read_to_string(&path).unwrap().replacen("# boot ", "# boot old-", 1);
        write_mode(&path, &stale, 0o600);
        assert_ne!(boot_keyring(&path, 7).unwrap(), first);
        fs::remove_dir_all(&dir).unwrap();
    }
}
