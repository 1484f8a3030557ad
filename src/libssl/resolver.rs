//! Finding the real libssl, lazily and without ever loading one.
//!
//! Order: `dlsym(RTLD_NEXT)` (libssl linked by the program, or dlopen'd
//! RTLD_GLOBAL); then a libssl that is loaded but outside the global scope
//! (a local dlopen, as Python's `_ssl` and Perl's Net::SSLeay do) — by exact
//! soname with RTLD_NOLOAD, then by walking the loaded objects. Failure is
//! never cached (libssl may be dlopen'd later); success is published once and
//! kept for the life of the process (OpenSSL pins itself; sesscb never
//! dlcloses).
//!
//! A process may hold two OpenSSLs (a plugin linked to 1.1 dlopen'd locally by
//! a program linked to 3.x; symbol versions keep them apart, but both bind to
//! sesscb's unversioned names). So every exported call is routed by its
//! *caller*: the libssl that the calling object's own `SSL_new` binds to is
//! the one that made its ctxs ([`for_caller`]). (`SSL_new`, because sesscb
//! never exports it: `SSL_CTX_new` it does, for the store's provide mode.)

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use super::caller_cache;
use super::handle::Libssl;
use crate::ffi::types::SslCtx;
use crate::observe::trace::{self, FoundBy};

/// `CRYPTO_EX_INDEX_SSL_CTX`, the same in 1.1.1 and 3.x.
const CRYPTO_EX_INDEX_SSL_CTX: c_int = 1;
/// Exact sonames tried with RTLD_NOLOAD, newest first (4.0 changed the soname).
const SONAMES: [&CStr; 3] = [c"libssl.so.4", c"libssl.so.3", c"libssl.so.1.1"];

pub type ExFreeFn =
    unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void, c_int, std::ffi::c_long, *mut c_void);

type CryptoGetExNewIndexFn = unsafe extern "C" fn(
    c_int,
    std::ffi::c_long,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    Option<ExFreeFn>,
) -> c_int;

/// sesscb's SSL_CTX ex_data free function (0: not given yet), registered in
/// every libssl found. It releases slots, which the registry above owns, so
/// the C layer hands it down ([`use_ctx_free_fn`]) instead of this module
/// naming it.
static CTX_FREE_FN: AtomicUsize = AtomicUsize::new(0);

/// Sets the function every libssl found from now on registers as sesscb's
/// SSL_CTX ex_data free function. Called by each C entry point before
/// anything can resolve a libssl; a libssl is not used without it.
#[inline]
pub fn use_ctx_free_fn(free: ExFreeFn) {
    if CTX_FREE_FN.load(Ordering::Relaxed) != free as usize {
        CTX_FREE_FN.store(free as usize, Ordering::Release);
    }
}

fn ctx_free_fn() -> Option<ExFreeFn> {
    let free = CTX_FREE_FN.load(Ordering::Acquire);
    // SAFETY: every non-zero value was stored from an `ExFreeFn`.
    (free != 0).then(|| unsafe { std::mem::transmute::<usize, ExFreeFn>(free) })
}

/// The process's first libssl (found by [`find`]); the answer for callers
/// that cannot be attributed.
static DEFAULT: AtomicPtr<Libssl> = AtomicPtr::new(std::ptr::null_mut());
/// Every libssl sesscb has met, DEFAULT included; published once each.
const MAX_BACKENDS: usize = 4;
static BACKENDS: [AtomicPtr<Libssl>; MAX_BACKENDS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_BACKENDS];
static REPORTED_MISSING: AtomicBool = AtomicBool::new(false);

/// The process's (first) real libssl, resolving it on first need. None while
/// none is loaded.
#[inline]
pub fn libssl() -> Option<&'static Libssl> {
    let current = DEFAULT.load(Ordering::Acquire);
    if !current.is_null() {
        // SAFETY: published once from a leaked Box and never freed.
        return Some(unsafe { &*current });
    }
    resolve_default()
}

/// The libssl that made `ctx`, called from code at `caller` (a return
/// address, 0 if unknown).
///
/// The caller's libssl is the likely answer and is checked with
/// [`Libssl::owns`]; when it is not the owner (a tail call from another
/// object, or an object that reaches OpenSSL only through others), every
/// other loaded libssl is checked. None when no libssl is loaded or none
/// owns the ctx: the caller then leaves the ctx's real fields alone.
///
/// # Safety
/// `ctx` must be a live `SSL_CTX` of some libssl.
pub unsafe fn for_ctx(ctx: *mut SslCtx, caller: usize) -> Option<&'static Libssl> {
    let hint = for_caller(caller)?;
    // SAFETY: `owns` only loads a field inside the ctx (see there).
    if unsafe { hint.owns(ctx) } {
        return Some(hint);
    }
    for known in &BACKENDS {
        let lib = known.load(Ordering::Acquire);
        if lib.is_null() {
            continue;
        }
        // SAFETY: backends are leaked Boxes, never freed.
        let lib = unsafe { &*lib };
        // SAFETY: `owns` only loads a field inside the ctx (see there).
        if unsafe { lib.owns(ctx) } {
            return Some(lib);
        }
    }
    let own = own_base();
    for path in loaded_libssl_paths() {
        if let Some(lib) = backend_in(&path, own, FoundBy::CtxOwner) {
            // SAFETY: as above.
            if unsafe { lib.owns(ctx) } {
                return Some(lib);
            }
        }
    }
    trace::note_once_unattributed();
    None
}

/// The libssl whose ctxs the code at `caller` (a return address) handles.
pub fn for_caller(caller: usize) -> Option<&'static Libssl> {
    if caller == 0 {
        return libssl();
    }
    if let Some(lib) = caller_cache::lookup(caller) {
        return Some(lib);
    }
    let found = attribute_caller(caller);
    match found {
        Some((range, lib)) => {
            caller_cache::insert(range, lib);
            Some(lib)
        }
        None => libssl(),
    }
}

/// The only libssl sesscb knows, if there is exactly one (what a shared
/// trampoline, which has no ctx attribution, may safely call for tracing).
pub fn sole() -> Option<&'static Libssl> {
    let first = BACKENDS[0].load(Ordering::Acquire);
    if first.is_null() || !BACKENDS[1].load(Ordering::Acquire).is_null() {
        return None;
    }
    // SAFETY: published once from a leaked Box and never freed.
    Some(unsafe { &*first })
}

#[cold]
fn resolve_default() -> Option<&'static Libssl> {
    let Some(lib) = find() else {
        if !REPORTED_MISSING.swap(true, Ordering::Relaxed) {
            trace::note(
                "resolve_failed",
                "no libssl is loaded in this process; setters are not honoured and getters return NULL",
            );
        }
        return None;
    };
    match DEFAULT.compare_exchange(
        std::ptr::null_mut(),
        (lib as *const Libssl).cast_mut(),
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => Some(lib),
        // SAFETY: the winner was published from a leaked Box.
        Err(winner) => Some(unsafe { &*winner }),
    }
}

/// The backend for the libssl loaded at `base`, creating it from `scope`.
fn backend(base: usize, scope: &Scope, found_by: FoundBy) -> Option<&'static Libssl> {
    for slot in &BACKENDS {
        let current = slot.load(Ordering::Acquire);
        if current.is_null() {
            continue;
        }
        // SAFETY: published once from a leaked Box and never freed.
        let current = unsafe { &*current };
        if current.base == base {
            return Some(current);
        }
    }
    let created = Box::into_raw(Box::new(load(scope, own_base(), found_by)?));
    for slot in &BACKENDS {
        match slot.compare_exchange(std::ptr::null_mut(), created, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                // SAFETY: just published; never freed.
                let lib = unsafe { &*created };
                trace::resolved(&lib.path, lib.version, lib.found_by);
                return Some(lib);
            }
            Err(other) => {
                // SAFETY: published once from a leaked Box and never freed.
                let other = unsafe { &*other };
                if other.base == base {
                    // Lost a race for the same libssl. Ours registered a spare
                    // ex_data index; its free function calls are ignored
                    // because no slot's libssl owns that index.
                    return Some(other);
                }
            }
        }
    }
    trace::note(
        "too_many_libssl",
        "more distinct libssl copies than sesscb tracks; extra ones are not served",
    );
    None
}

/// Where symbols are looked up.
enum Scope {
    /// `dlsym(RTLD_NEXT, ..)` from sesscb.
    Next,
    /// `dlsym(handle, ..)`: the object and its dependencies.
    Handle(*mut c_void),
    /// `dlsym(RTLD_DEFAULT, ..)`: the global scope (the main program's).
    Default,
}

impl Scope {
    fn symbol(&self, name: &CStr) -> *mut c_void {
        // SAFETY: dlsym with a valid handle (or RTLD_NEXT) and a C string.
        unsafe {
            match self {
                Scope::Next => libc::dlsym(libc::RTLD_NEXT, name.as_ptr()),
                Scope::Handle(h) => libc::dlsym(*h, name.as_ptr()),
                Scope::Default => libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()),
            }
        }
    }
}

fn find() -> Option<&'static Libssl> {
    let own_base = own_base();
    // 1. RTLD_NEXT.
    let next = Scope::Next.symbol(c"SSL_CTX_sess_set_new_cb");
    if !next.is_null() && object_base(next) != own_base {
        let scope = match object_path(next).and_then(|p| noload(&p)) {
            Some(handle) => Scope::Handle(handle),
            None => Scope::Next,
        };
        if let Some(lib) = backend(object_base(next), &scope, FoundBy::RtldNext) {
            return Some(lib);
        }
    }
    // 2. A libssl loaded outside the global scope, by exact soname.
    for soname in SONAMES {
        if let Some(lib) = backend_in(soname, own_base, FoundBy::Soname) {
            return Some(lib);
        }
    }
    // 3. Any loaded object named libssl.so*, skipping ourselves.
    for path in loaded_libssl_paths() {
        if let Some(lib) = backend_in(&path, own_base, FoundBy::LoadedObjects) {
            return Some(lib);
        }
    }
    None
}

/// The backend for the already-loaded libssl `name`.
fn backend_in(name: &CStr, own_base: usize, found_by: FoundBy) -> Option<&'static Libssl> {
    let scope = Scope::Handle(noload(name)?);
    let probe = scope.symbol(c"SSL_CTX_sess_set_new_cb");
    if probe.is_null() || object_base(probe) == own_base {
        return None;
    }
    backend(object_base(probe), &scope, found_by)
}

/// Which libssl the object containing `caller` uses: the one its own
/// `SSL_new` resolves to in its dependency scope (the main program's
/// scope is the global one). Returns the object's address range too, for
/// the cache.
fn attribute_caller(caller: usize) -> Option<((usize, usize), &'static Libssl)> {
    let object = caller_object(caller)?;
    let scope = if object.is_main_program { Scope::Default } else { Scope::Handle(noload(&object.path)?) };
    let ssl_new = scope.symbol(c"SSL_new");
    if ssl_new.is_null() {
        return None;
    }
    let base = object_base(ssl_new);
    let lib_path = object_path(ssl_new)?;
    let lib_scope = Scope::Handle(noload(&lib_path)?);
    let lib = backend(base, &lib_scope, FoundBy::CallerScope)?;
    Some(((object.start, object.end), lib))
}

struct CallerObject {
    start: usize,
    end: usize,
    path: CString,
    is_main_program: bool,
}

/// The loaded object whose PT_LOAD segments contain `address`.
fn caller_object(address: usize) -> Option<CallerObject> {
    struct Search {
        address: usize,
        found: Option<CallerObject>,
    }
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: glibc passes a valid info; `data` is the Search below.
        let (info, search) = unsafe { (&*info, &mut *(data as *mut Search)) };
        let (mut start, mut end) = (usize::MAX, 0usize);
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr has dlpi_phnum entries.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == libc::PT_LOAD {
                let s = info.dlpi_addr as usize + ph.p_vaddr as usize;
                start = start.min(s);
                end = end.max(s + ph.p_memsz as usize);
            }
        }
        if search.address < start || search.address >= end {
            return 0;
        }
        let name = if info.dlpi_name.is_null() {
            CString::default()
        } else {
            // SAFETY: dlpi_name is a NUL-terminated loader string.
            unsafe { CStr::from_ptr(info.dlpi_name) }.to_owned()
        };
        let is_main_program = name.as_bytes().is_empty();
        search.found = Some(CallerObject { start, end, path: name, is_main_program });
        1
    }
    let mut search = Search { address, found: None };
    // SAFETY: the callback only reads `info` and writes `search`.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut search as *mut Search).cast()) };
    search.found
}

/// `dlopen(name, RTLD_NOLOAD)`: a handle only if it is already loaded.
pub(crate) fn noload(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: RTLD_NOLOAD never loads anything; the handle is never closed.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
    (!handle.is_null()).then_some(handle)
}

fn load(scope: &Scope, own_base: usize, found_by: FoundBy) -> Option<Libssl> {
    macro_rules! required {
        ($name:literal) => {{
            let p = scope.symbol($name);
            if p.is_null() || object_base(p) == own_base {
                return None;
            }
            // SAFETY: a non-NULL symbol of this name from libssl/libcrypto
            // has the prototype shared by 1.1.1 and 3.x.
            #[allow(clippy::missing_transmute_annotations)]
            unsafe {
                std::mem::transmute::<*mut c_void, _>(p)
            }
        }};
    }
    macro_rules! optional {
        ($name:literal) => {{
            let p = scope.symbol($name);
            // NULL, or sesscb's own export of the name (which would call
            // itself), maps to None.
            let usable = !p.is_null() && object_base(p) != own_base;
            // SAFETY: as above.
            #[allow(clippy::missing_transmute_annotations)]
            usable.then(|| unsafe { std::mem::transmute::<*mut c_void, _>(p) })
        }};
    }
    let set_new = required!(c"SSL_CTX_sess_set_new_cb");
    let set_remove = required!(c"SSL_CTX_sess_set_remove_cb");
    let set_get = required!(c"SSL_CTX_sess_set_get_cb");
    let get_new = required!(c"SSL_CTX_sess_get_new_cb");
    let get_remove = required!(c"SSL_CTX_sess_get_remove_cb");
    let get_get = required!(c"SSL_CTX_sess_get_get_cb");
    let get_ex_new_index: CryptoGetExNewIndexFn = required!(c"CRYPTO_get_ex_new_index");
    let ctx_get_ssl_method = required!(c"SSL_CTX_get_ssl_method");
    let base = object_base(set_new as *mut c_void);
    let image = caller_object(base).map(|o| (o.start, o.end))?;
    let version_num: Option<unsafe extern "C" fn() -> std::ffi::c_ulong> = optional!(c"OpenSSL_version_num");

    let ex_index = register_ex_index(get_ex_new_index)?;
    Some(Libssl {
        base,
        image,
        ctx_get_ssl_method: Some(ctx_get_ssl_method),
        path: object_path(set_new as *mut c_void)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        #[allow(clippy::useless_conversion)] // c_ulong is u32 on 32-bit targets
        version: version_num.map_or(0, |f| {
            // SAFETY: OpenSSL_version_num takes no arguments and only reads.
            u64::from(unsafe { f() })
        }),
        found_by,
        set_new,
        set_remove,
        set_get,
        get_new,
        get_remove,
        get_get,
        session_get_id: optional!(c"SSL_SESSION_get_id"),
        get_ssl_ctx: optional!(c"SSL_get_SSL_CTX"),
        remove_session: optional!(c"SSL_CTX_remove_session"),
        ex_index,
    })
}

/// Registers sesscb's SSL_CTX ex_data index, with only its free function,
/// in one libssl; None if there is no free function yet or OpenSSL refuses.
fn register_ex_index(get_ex_new_index: CryptoGetExNewIndexFn) -> Option<c_int> {
    let free_fn = ctx_free_fn()?;
    // SAFETY: registers an SSL_CTX ex_data index with only a free function;
    // the arguments are valid for 1.1.1 and 3.x alike.
    let ex_index = unsafe {
        get_ex_new_index(
            CRYPTO_EX_INDEX_SSL_CTX,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            Some(free_fn),
        )
    };
    (ex_index >= 0).then_some(ex_index)
}

/// The function `name` of the object behind `handle` (and its
/// dependencies), as the function-pointer type `F`; None if absent.
///
/// # Safety
/// `handle` is a live `dlopen` handle, and `F` is a function-pointer type
/// with the prototype `name` has in every supported OpenSSL line.
pub(crate) unsafe fn typed_symbol<F: Copy>(handle: *mut c_void, name: &CStr) -> Option<F> {
    const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<*mut c_void>()) };
    // SAFETY: dlsym on a live handle with a NUL-terminated name.
    let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
    // SAFETY: the caller guarantees that `F` is `name`'s prototype; the
    // sizes match (checked above).
    (!p.is_null()).then(|| unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
}

/// Load base of the object containing `address`, 0 if unknown.
pub(super) fn object_base(address: *mut c_void) -> usize {
    // SAFETY: `Dl_info` is plain data, for which all-zero is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads loader data and fills `info`.
    if unsafe { libc::dladdr(address, &mut info) } == 0 { 0 } else { info.dli_fbase as usize }
}

/// Path of the object containing `address`.
pub(super) fn object_path(address: *mut c_void) -> Option<CString> {
    // SAFETY: `Dl_info` is plain data, for which all-zero is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads loader data and fills `info`; dli_fname points into loader data that outlives us.
    if unsafe { libc::dladdr(address, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the loader.
    Some(unsafe { CStr::from_ptr(info.dli_fname) }.to_owned())
}

/// Load base of sesscb itself.
pub(super) fn own_base() -> usize {
    object_base(own_base as *mut c_void)
}

/// Paths of loaded objects whose file name starts with `libssl.so`, sesscb
/// excluded. Collected first, dlopen'd after: calling dlopen inside
/// dl_iterate_phdr's callback would deadlock on the loader lock.
pub fn loaded_libssl_paths() -> Vec<CString> {
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: glibc passes a valid info; `data` is the Vec below.
        let (info, paths) = unsafe { (&*info, &mut *(data as *mut Vec<CString>)) };
        if info.dlpi_name.is_null() {
            return 0;
        }
        // SAFETY: dlpi_name is a NUL-terminated loader string.
        let name = unsafe { CStr::from_ptr(info.dlpi_name as *const c_char) };
        if is_libssl_file_name(name.to_bytes()) {
            paths.push(name.to_owned());
        }
        0
    }
    let mut paths: Vec<CString> = Vec::new();
    // SAFETY: the callback only reads `info` and appends to `paths`.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut paths as *mut Vec<CString>).cast()) };
    paths
}

/// Whether a path names an OpenSSL libssl (`…/libssl.so`, `libssl.so.3`,
/// `libssl.so.1.1`), not NSS's `libssl3.so` nor sesscb itself.
pub fn is_libssl_file_name(path: &[u8]) -> bool {
    let file = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    file.starts_with(b"libssl.so")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_openssl_libssl_names_only() {
        assert!(is_libssl_file_name(b"/usr/lib/x86_64-linux-gnu/libssl.so.3"));
        assert!(is_libssl_file_name(b"libssl.so.1.1"));
        assert!(is_libssl_file_name(b"/opt/o/lib/libssl.so.4"));
        assert!(is_libssl_file_name(b"/opt/o/lib/libssl.so"));
        assert!(!is_libssl_file_name(b"/usr/lib/x86_64-linux-gnu/libssl3.so"), "NSS");
        assert!(!is_libssl_file_name(b"/x/libsesscb.so.0"));
        assert!(!is_libssl_file_name(b"/x/libssl.so.3/other.so"));
        assert!(!is_libssl_file_name(b""));
    }

    #[test]
    fn sonames_cover_every_supported_line_newest_first() {
        let names: Vec<&[u8]> = SONAMES.iter().map(|s| s.to_bytes()).collect();
        assert_eq!(names, [&b"libssl.so.4"[..], b"libssl.so.3", b"libssl.so.1.1"]);
    }

    #[test]
    fn without_libssl_in_the_process_nothing_is_found_or_cached() {
        // The unit-test binary links no OpenSSL.
        assert!(loaded_libssl_paths().is_empty());
        assert!(libssl().is_none());
        assert!(sole().is_none());
        // Still not cached: a second call searches again and finds nothing.
        assert!(libssl().is_none());
        // A caller inside this test binary has no libssl in its scope either.
        assert!(for_caller(own_base as *const () as usize).is_none());
    }
}
