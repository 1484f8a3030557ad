//! Where the embedded tier and the per-boot key live, and making sure
//! nobody else can read or plant them.
//!
//! The base directory is chosen by the effective uid of the process that
//! handles connections (nginx, Apache and haproxy workers are not root;
//! their master is): `SESSCB_STORE_DIR`, else systemd's
//! `$RUNTIME_DIRECTORY`, else `/run/sesscb` for root, else
//! `$XDG_RUNTIME_DIR/sesscb`, else `/tmp/sesscb-<uid>`. Inside it, one
//! environment per (uid, domain): `<base>/<domain>.u<uid>/`. Every
//! directory sesscb creates is 0700; every directory it uses must be a real
//! directory (not a symlink) owned by the process's uid and not writable by
//! others, or the store stays off: in a shared `/tmp`, another user could
//! otherwise pre-create the path and read or forge sessions.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The base directory for `euid`, from the environment read through `var`.
pub fn base_dir(configured: Option<&Path>, euid: u32, var: impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(dir) = configured {
        return dir.to_path_buf();
    }
    let set = |name| var(name).filter(|v: &String| v.starts_with('/'));
    // systemd may list several directories, separated by ':'.
    if let Some(list) = set("RUNTIME_DIRECTORY") {
        return PathBuf::from(list.split(':').next().unwrap_or(&list));
    }
    if euid == 0 {
        return PathBuf::from("/run/sesscb");
    }
    if let Some(xdg) = set("XDG_RUNTIME_DIR") {
        return Path::new(&xdg).join("sesscb");
    }
    PathBuf::from(format!("/tmp/sesscb-{euid}"))
}

/// The environment directory of (`euid`, `domain`) under `base`.
pub fn env_dir(base: &Path, euid: u32, domain: &str) -> PathBuf {
    base.join(format!("{domain}.u{euid}"))
}

/// Creates `dir` (0700) if missing, then checks it is private to `euid`.
pub fn ensure_private_dir(dir: &Path, euid: u32) -> Result<(), String> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    check_private(dir, euid)
}

/// `dir` is a directory (not a symlink), owned by `euid`, and neither group
/// nor others may write it; an existing `base` set by the operator may be
/// shared (say 1777 like /tmp) as long as it is sticky.
pub fn check_private(dir: &Path, euid: u32) -> Result<(), String> {
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("cannot inspect {}: {e}", dir.display()))?;
    if !meta.file_type().is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if meta.uid() != euid {
        return Err(format!("{} is owned by uid {}, not {euid}", dir.display(), meta.uid()));
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(format!("{} is writable by group or others (mode {:o})", dir.display(), mode & 0o7777));
    }
    Ok(())
}

/// Makes the base directory usable: created 0700 if missing; if it exists
/// and belongs to someone else, it must be sticky and not a symlink (a
/// shared parent such as one the operator set up for several uids).
pub fn ensure_base(base: &Path, euid: u32) -> Result<(), String> {
    if let Some(parent) = base.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    match DirBuilder::new().mode(0o700).create(base) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", base.display())),
    }
    let meta = fs::symlink_metadata(base).map_err(|e| format!("cannot inspect {}: {e}", base.display()))?;
    let sticky_shared = meta.file_type().is_dir() && meta.permissions().mode() & 0o1000 != 0;
    if meta.uid() == euid || sticky_shared {
        return if meta.uid() == euid { check_private(base, euid) } else { Ok(()) };
    }
    Err(format!(
        "{} is owned by uid {}, not {euid}, and is not a sticky shared directory",
        base.display(),
        meta.uid()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn euid() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sesscb-loc-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn base_dir_follows_the_documented_order() {
        let none = |_: &str| None;
        assert_eq!(base_dir(Some(Path::new("/srv/x")), 33, none), PathBuf::from("/srv/x"));
        let systemd = |n: &str| (n == "RUNTIME_DIRECTORY").then(|| "/run/a:/run/b".to_string());
        assert_eq!(base_dir(None, 33, systemd), PathBuf::from("/run/a"));
        assert_eq!(base_dir(None, 0, none), PathBuf::from("/run/sesscb"));
        let xdg = |n: &str| (n == "XDG_RUNTIME_DIR").then(|| "/run/user/1000".to_string());
        assert_eq!(base_dir(None, 1000, xdg), PathBuf::from("/run/user/1000/sesscb"));
        let relative = |n: &str| (n == "XDG_RUNTIME_DIR").then(|| "relative".to_string());
        assert_eq!(base_dir(None, 33, relative), PathBuf::from("/tmp/sesscb-33"));
        assert_eq!(env_dir(Path::new("/b"), 33, "nginx"), PathBuf::from("/b/nginx.u33"));
    }

    #[test]
    fn created_directories_are_private() {
        let base = scratch("create");
        ensure_base(&base, euid()).unwrap();
        let env = env_dir(&base, euid(), "web");
        ensure_private_dir(&env, euid()).unwrap();
        for dir in [&base, &env] {
            assert_eq!(fs::metadata(dir).unwrap().permissions().mode() & 0o7777, 0o700);
        }
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn unsafe_directories_are_refused() {
        let base = scratch("refuse");
        ensure_base(&base, euid()).unwrap();
        let open = base.join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(ensure_private_dir(&open, euid()).unwrap_err().contains("writable"));
        let link = base.join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        assert!(check_private(&link, euid()).unwrap_err().contains("not a directory"));
        assert!(check_private(&base, euid() + 1).unwrap_err().contains("owned by"));
        let file = base.join("file");
        fs::write(&file, b"").unwrap();
        assert!(ensure_private_dir(&file, euid()).is_err());
        fs::remove_dir_all(&base).unwrap();
    }
}
