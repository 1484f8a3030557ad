//! The event trace: off unless `SESSCB_LOG` is set (`stderr` or a file path),
//! then one JSON object per line per set and per callback event. Never key
//! material: session ids are public (sent in the ClientHello).
//!
//! A failing log never affects the host: write errors are counted and
//! dropped, SIGPIPE is never raised, and lines are built on a small stack
//! buffer (trampolines may run on 32 KiB ASYNC fibre stacks).

use std::ffi::{c_int, c_uchar, c_void};
use std::fmt::{self, Write as _};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::ffi::callbacks::{Address, Kind};
use crate::ffi::types::{SslCtx, SslSession};
use crate::sync::process_ids::{current_pid, current_tid};

/// How a setter routed a callback (for the trace).
#[derive(Clone, Copy, Debug)]
pub enum Route {
    Slot(usize),
    Shared(usize),
    /// Every slot and shared trampoline taken: the application's pointer is
    /// stored directly (exact behaviour, not observed).
    Direct,
    Cleared,
    Unresolved,
}

/// How the resolver found a libssl (for the trace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoundBy {
    /// `dlsym(RTLD_NEXT)`: linked by the program or dlopen'd RTLD_GLOBAL.
    RtldNext,
    /// Loaded outside the global scope, found by exact soname.
    Soname,
    /// Loaded outside the global scope, found by walking the loaded objects.
    LoadedObjects,
    /// The libssl a calling object's own `SSL_CTX_new` binds to.
    CallerScope,
    /// The libssl whose image holds a ctx's method (no caller attribution).
    CtxOwner,
    /// The unit tests' fake.
    #[cfg(test)]
    Test,
}

impl FoundBy {
    pub fn name(self) -> &'static str {
        match self {
            FoundBy::RtldNext => "rtld_next",
            FoundBy::Soname => "soname",
            FoundBy::LoadedObjects => "loaded_objects",
            FoundBy::CallerScope => "caller_scope",
            FoundBy::CtxOwner => "ctx_owner",
            #[cfg(test)]
            FoundBy::Test => "test",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SinkKind {
    Off,
    /// A regular file or terminal: plain write(2).
    File,
    /// A pipe or FIFO: write with SIGPIPE blocked.
    Pipe,
    /// A socket: send(2) with MSG_NOSIGNAL.
    Socket,
}

struct Sink {
    fd: c_int,
    kind: SinkKind,
    /// (st_dev, st_ino) of a file sesscb opened itself: a host that closes
    /// unknown descriptors may reuse the number for its own file, which
    /// sesscb must then never write into.
    identity: Option<(u64, u64)>,
}

static SINK: OnceLock<Sink> = OnceLock::new();
/// Lines that could not be written (full disk, closed fd, ...).
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Whether tracing is on. Reads `SESSCB_LOG` on first use — never in a
/// constructor.
#[inline]
pub fn enabled() -> bool {
    sink().kind != SinkKind::Off
}

fn sink() -> &'static Sink {
    SINK.get_or_init(open_sink)
}

fn open_sink() -> Sink {
    // Panics inside sesscb are caught at the boundary; keep the default hook
    // from printing on the host's stderr. This is sesscb's own copy of std,
    // so the host's (or another Rust library's) hook is untouched.
    #[cfg(not(test))]
    std::panic::set_hook(Box::new(|_| {}));
    let off = Sink { fd: -1, kind: SinkKind::Off, identity: None };
    let Some(target) = std::env::var_os("SESSCB_LOG") else { return off };
    if target == "stderr" {
        return Sink { fd: 2, kind: classify(2), identity: None };
    }
    let fd = if target.is_empty() || target == "0" || target == "off" {
        return off;
    } else {
        use std::os::unix::ffi::OsStrExt;
        let Ok(path) = std::ffi::CString::new(target.as_bytes()) else { return off };
        // SAFETY: open(2) with a valid C string. O_CLOEXEC keeps the fd out
        // of exec'd children (they inherit SESSCB_LOG and open their own);
        // O_NONBLOCK keeps a FIFO without a reader from blocking the host
        // (ENXIO: tracing off) and a stalled reader from stalling it (lines
        // dropped).
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NONBLOCK,
                0o644,
            )
        };
        if fd < 0 {
            return off;
        }
        fd
    };
    Sink { fd, kind: classify(fd), identity: identity(fd) }
}

fn identity(fd: c_int) -> Option<(u64, u64)> {
    // SAFETY: `libc::stat` is plain data, for which all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat fills `st`.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

fn classify(fd: c_int) -> SinkKind {
    // SAFETY: `libc::stat` is plain data, for which all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat fills `st`.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return SinkKind::File;
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => SinkKind::Pipe,
        libc::S_IFSOCK => SinkKind::Socket,
        _ => SinkKind::File,
    }
}

/// A JSON line built on the stack; silently truncated if ever too long.
struct Line {
    buf: [u8; 640],
    len: usize,
    truncated: bool,
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - 1 - self.len; // keep one byte for '\n'
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            self.truncated = true;
        }
        Ok(())
    }
}

impl Line {
    fn begin(event: &str) -> Line {
        let mut line = Line { buf: [0; 640], len: 0, truncated: false };
        // SAFETY: `libc::timespec` is plain data; all-zero is a valid value.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        // SAFETY: clock_gettime fills `ts`.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
        let (pid, tid) = (current_pid(), current_tid());
        let _ = write!(
            line,
            "{{\"ts\":{}.{:09},\"pid\":{},\"tid\":{},\"event\":\"{}\"",
            ts.tv_sec, ts.tv_nsec, pid, tid, event
        );
        line
    }

    fn ptr(&mut self, key: &str, p: *const c_void) {
        if p.is_null() {
            let _ = write!(self, ",\"{key}\":null");
        } else {
            let _ = write!(self, ",\"{key}\":\"{p:p}\"");
        }
    }

    fn hex(&mut self, key: &str, bytes: &[u8]) {
        let _ = write!(self, ",\"{key}\":\"");
        for b in bytes {
            let _ = write!(self, "{b:02x}");
        }
        let _ = write!(self, "\",\"{key}_len\":{}", bytes.len());
    }

    fn finish(mut self) {
        emit(self.terminate());
    }

    /// Closes the object and appends the newline: the bytes to write.
    fn terminate(&mut self) -> &[u8] {
        const TAIL: &str = ",\"truncated\":true}";
        let _ = self.write_str("}");
        if self.truncated {
            // Drop the partial field rather than emit invalid JSON; keep
            // room for the tail.
            self.len = self.last_field_end(self.buf.len() - 1 - TAIL.len());
            self.truncated = false;
            let _ = self.write_str(TAIL);
        }
        self.buf[self.len] = b'\n';
        &self.buf[..self.len + 1]
    }

    /// Where the last whole field before `limit` ends: the last comma outside
    /// a string (a comma inside a value, a libssl path say, is not one). The
    /// header's fields are short, so there always is one.
    fn last_field_end(&self, limit: usize) -> usize {
        let (mut in_string, mut escaped, mut end) = (false, false, 1);
        for (at, &byte) in self.buf[..self.len.min(limit + 1)].iter().enumerate() {
            match byte {
                _ if escaped => escaped = false,
                b'\\' if in_string => escaped = true,
                b'"' => in_string = !in_string,
                b',' if !in_string => end = at,
                _ => {}
            }
        }
        end
    }

    /// A string field; characters JSON would need escaped are dropped.
    fn text(&mut self, key: &str, value: &str) {
        let _ = write!(self, ",\"{key}\":\"");
        for c in value.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()) {
            let _ = self.write_char(c);
        }
        let _ = self.write_str("\"");
    }
}

fn emit(bytes: &[u8]) {
    let sink = sink();
    if sink.identity.is_some() && identity(sink.fd) != sink.identity {
        // The host closed our descriptor and the number now names something
        // else (or nothing): drop the line rather than write into it.
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // SAFETY: writes a valid buffer to the sink's fd; errors are only counted.
    let written = unsafe {
        match sink.kind {
            SinkKind::Off => return,
            SinkKind::File => libc::write(sink.fd, bytes.as_ptr().cast(), bytes.len()),
            SinkKind::Socket => libc::send(sink.fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL),
            SinkKind::Pipe => write_without_sigpipe(sink.fd, bytes),
        }
    };
    if written != bytes.len() as isize {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// write(2) to a pipe whose reader may be gone, without letting SIGPIPE
/// reach (and by default kill) the host.
unsafe fn write_without_sigpipe(fd: c_int, bytes: &[u8]) -> isize {
    // SAFETY: plain signal-mask manipulation on the calling thread, restored
    // before returning; sigtimedwait with a zero timeout only consumes a
    // SIGPIPE that this very write raised.
    unsafe {
        let mut pipe_only: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe_only);
        libc::sigaddset(&mut pipe_only, libc::SIGPIPE);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe_only, &mut old);
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pending);
        let already_pending = libc::sigismember(&pending, libc::SIGPIPE) == 1;
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        if written < 0 && *libc::__errno_location() == libc::EPIPE && !already_pending {
            let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            libc::sigtimedwait(&pipe_only, std::ptr::null_mut(), &zero);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        written
    }
}

// ---- events --------------------------------------------------------------

pub fn set_event(kind: Kind, ctx: *mut SslCtx, app: Address, route: Route) {
    if !enabled() {
        return;
    }
    let mut line = Line::begin("set");
    let _ = write!(line, ",\"cb\":\"{}\"", kind.name());
    line.ptr("ctx", ctx.cast());
    line.ptr("fn", app as *const c_void);
    let _ = match route {
        Route::Slot(i) => write!(line, ",\"route\":\"slot\",\"slot\":{i}"),
        Route::Shared(j) => write!(line, ",\"route\":\"shared\",\"slot\":{j}"),
        Route::Direct => write!(line, ",\"route\":\"direct\""),
        Route::Cleared => write!(line, ",\"route\":\"cleared\""),
        Route::Unresolved => write!(line, ",\"route\":\"unresolved\""),
    };
    line.finish();
}

/// The ctx OpenSSL consulted (`session_ctx`) when known from the slot, and
/// `SSL_get_SSL_CTX(ssl)` (which differs after an SNI switch; NULL when no
/// libssl could be asked).
fn contexts(line: &mut Line, session_ctx: Option<*mut SslCtx>, ssl_ctx: *mut SslCtx) {
    match session_ctx {
        Some(ctx) => line.ptr("ctx", ctx.cast()),
        None => {
            let _ = line.write_str(",\"ctx\":null");
        }
    }
    line.ptr("ssl_ctx", ssl_ctx.cast());
}

/// A new-session event; `sid` is the session's id as libssl reports it.
#[inline(never)]
pub fn new_event(session_ctx: Option<*mut SslCtx>, ssl_ctx: *mut SslCtx, sid: &[u8], ret: c_int) {
    let mut line = Line::begin("new");
    contexts(&mut line, session_ctx, ssl_ctx);
    line.hex("sid", sid);
    let _ = write!(line, ",\"ret\":{ret},\"kept\":{}", ret != 0);
    line.finish();
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub fn get_event(
    session_ctx: Option<*mut SslCtx>,
    ssl_ctx: *mut SslCtx,
    data: *const c_uchar,
    len: c_int,
    copy_in: c_int,
    copy_out: c_int,
    session: *mut SslSession,
) {
    let mut line = Line::begin("get");
    contexts(&mut line, session_ctx, ssl_ctx);
    let id: &[u8] = if data.is_null() || len <= 0 {
        &[]
    } else {
        // SAFETY: OpenSSL passes `len` readable bytes at `data` for the call.
        unsafe { std::slice::from_raw_parts(data, len.min(64) as usize) }
    };
    line.hex("sid", id);
    let hit = !session.is_null();
    let _ = write!(line, ",\"copy_in\":{copy_in},\"copy_out\":{copy_out},\"hit\":{hit}");
    line.ptr("ret", session.cast());
    line.finish();
}

/// A remove event; `sid` is the session's id as libssl reports it.
#[inline(never)]
pub fn remove_event(ctx: *mut SslCtx, sid: &[u8]) {
    let mut line = Line::begin("remove");
    line.ptr("ctx", ctx.cast());
    line.hex("sid", sid);
    line.finish();
}

pub fn ctx_freed(ctx: *mut SslCtx, slot: usize) {
    if !enabled() {
        return;
    }
    let mut line = Line::begin("ctx_free");
    line.ptr("ctx", ctx.cast());
    let _ = write!(line, ",\"slot\":{slot}");
    line.finish();
}

pub fn bad_input(kind: Kind, op: &str, what: &str) {
    if !enabled() {
        return;
    }
    let mut line = Line::begin("bad_input");
    let _ = write!(line, ",\"fn\":\"SSL_CTX_sess_{op}_{}_cb\",\"detail\":\"{what}\"", kind.name());
    line.finish();
}

/// A libssl was found: its path, `OpenSSL_version_num()` and how.
pub fn resolved(path: &str, version: u64, found_by: FoundBy) {
    if !enabled() {
        return;
    }
    let mut line = Line::begin("resolve");
    line.text("libssl", path);
    let _ = write!(line, ",\"openssl_version\":\"0x{:x}\",\"found_by\":\"{}\"", version, found_by.name());
    line.finish();
}

/// One outcome of the shared store: `op` put / get / remove, `outcome` a
/// counter's label, `key` a few bytes of the entry's store key (a keyed
/// hash: it names an entry for correlation, never a session id or secret).
pub fn store_op(op: &str, outcome: &str, key: Option<&[u8]>) {
    if !enabled() {
        return;
    }
    let mut line = Line::begin("store_op");
    let _ = write!(line, ",\"op\":\"{op}\",\"outcome\":\"{outcome}\"");
    if let Some(key) = key {
        let _ = line.write_str(",\"key\":\"");
        for b in key {
            let _ = write!(line, "{b:02x}");
        }
        let _ = line.write_str("\"");
    }
    line.finish();
}

/// A one-line notice (`event` is a fixed word, `detail` fixed text).
pub fn note(event: &str, detail: &str) {
    if !enabled() {
        return;
    }
    let mut line = Line::begin(event);
    let _ = write!(line, ",\"detail\":\"{detail}\"");
    line.finish();
}

pub fn note_once_pool_full() {
    static ONCE: AtomicBool = AtomicBool::new(false);
    if !ONCE.swap(true, Ordering::Relaxed) {
        note(
            "trampolines_exhausted",
            "every per-ctx slot and shared trampoline is taken; further callbacks are installed directly (exact, not traced)",
        );
    }
}

pub fn note_once_unattributed() {
    static ONCE: AtomicBool = AtomicBool::new(false);
    if !ONCE.swap(true, Ordering::Relaxed) {
        note(
            "ctx_unattributed",
            "a ctx made by no loaded libssl sesscb can identify: its setters are not honoured and its getters return NULL",
        );
    }
}

/// Called by `ffi_boundary!` after catching a panic in sesscb's own code.
pub fn panic_caught(what: &str) {
    let _ = std::panic::catch_unwind(|| note("internal_error", what));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses one written line: a JSON object, newline-terminated.
    fn parse(bytes: &[u8]) -> serde_json::Map<String, serde_json::Value> {
        let text = std::str::from_utf8(bytes).expect("UTF-8");
        assert!(text.ends_with("}\n") && text.len() <= 640, "bad line end or length: {text:?}");
        match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(fields)) => fields,
            other => panic!("not a JSON object ({other:?}): {text:?}"),
        }
    }

    #[test]
    fn every_line_parses_whatever_its_fields_hold() {
        // Long libssl paths with commas, quotes, backslashes and colons, at
        // every length around the buffer's end, before and after other fields.
        let piece = "/opt/a,b\"c\\d:{e},f/";
        for len in 0..700 {
            let path: String = piece.chars().cycle().take(len).collect();
            let mut line = Line::begin("resolve");
            line.text("libssl", &path);
            let _ = write!(line, ",\"openssl_version\":\"0x30000000\",\"found_by\":\"rtld_next\"");
            let fields = parse(line.terminate());
            if fields.contains_key("truncated") {
                assert!(!fields.contains_key("found_by"), "len {len}: a field after the cut survived");
            } else {
                assert_eq!(fields["found_by"], "rtld_next", "len {len}");
            }
            for first in [true, false] {
                let mut line = Line::begin("note");
                if first {
                    line.text("libssl", &path);
                }
                line.hex("sid", &[0xab; 64]);
                line.ptr("ctx", std::ptr::dangling());
                if !first {
                    line.text("libssl", &path);
                }
                let fields = parse(line.terminate());
                assert_eq!(fields["event"], "note", "len {len}: header lost");
            }
        }
    }
}
