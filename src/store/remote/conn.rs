//! One connection to Redis with a hard deadline on every call.
//!
//! The sockets are ours, non-blocking, and every wait is a `ppoll` with
//! the time left to the deadline: a socket timeout (`SO_RCVTIMEO`) counts
//! in scheduler ticks (4 ms at HZ=250), too coarse for a 2 ms budget. The
//! wire format is redis-rs's: it packs commands and parses replies (its
//! parser keeps bytes read past one reply for the next).
//!
//! `rediss://` runs TLS (rustls with ring's primitives, never the host's
//! OpenSSL) over the same deadline-bounded socket.
//!
//! A call that fails or times out leaves the connection unusable (a reply
//! may still be in flight): callers drop it, never reuse it.

use std::io::{self, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Instant;

use redis::{Parser, Value};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::url::{Address, Target};

/// Why a call failed; nothing here carries a server's text or a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The deadline passed.
    Timeout,
    /// Connect, read or write failed, or the server closed.
    Io,
    /// A reply that is not what the command returns (or not RESP).
    Protocol,
    /// The server answered with an error (AUTH refused, OOM, ...).
    Server,
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A connected, set-up (TLS if asked, AUTH, SELECT, PING answered)
/// connection.
pub struct Conn {
    stream: Stream,
    tls: Option<ClientConnection>,
    parser: Parser,
}

/// The TLS client settings of `rediss://`: the server's chain must end in
/// one of `ca_certs` and name the URL's host; TLS 1.2 or 1.3. None when no
/// certificate is usable.
pub fn tls_config(ca_certs: &[CertificateDer<'static>]) -> Option<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(ca_certs.iter().cloned());
    if roots.is_empty() {
        return None;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().ok()?;
    Some(Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
}

impl Conn {
    /// Connects and sets up by `deadline`: DNS, connect, TLS (with `tls`,
    /// required by a `rediss://` target), AUTH, SELECT and a PING (a server
    /// that accepts and never answers is no connection). Blocking: only the
    /// store's thread calls it.
    pub fn open(
        target: &Target,
        tls: Option<&Arc<ClientConfig>>,
        deadline: Instant,
    ) -> Result<Conn, Failure> {
        let stream = match &target.address {
            Address::Tcp { host, port } => Stream::Tcp(connect_tcp(host, *port, deadline)?),
            Address::Unix(path) => Stream::Unix(UnixStream::connect(path).map_err(|_| Failure::Io)?),
        };
        let nonblocking = match &stream {
            Stream::Tcp(s) => s.set_nodelay(true).and_then(|_| s.set_nonblocking(true)),
            Stream::Unix(s) => s.set_nonblocking(true),
        };
        nonblocking.map_err(|_| Failure::Io)?;
        let mut conn = Conn { stream, tls: None, parser: Parser::new() };
        if target.tls {
            conn.start_tls(target, tls.ok_or(Failure::Io)?, deadline)?;
        }
        let setup = setup_commands(target);
        let replies = conn.call(&setup.get_packed_pipeline(), setup.len(), deadline)?;
        match replies.last() {
            Some(Value::SimpleString(pong)) if pong == "PONG" => {}
            _ => return Err(Failure::Protocol),
        }
        if replies.iter().any(|r| matches!(r, Value::ServerError(_))) {
            return Err(Failure::Server);
        }
        Ok(conn)
    }

    fn start_tls(
        &mut self,
        target: &Target,
        config: &Arc<ClientConfig>,
        deadline: Instant,
    ) -> Result<(), Failure> {
        let Address::Tcp { host, .. } = &target.address else { return Err(Failure::Io) };
        let name = ServerName::try_from(host.clone()).map_err(|_| Failure::Io)?;
        let mut tls = ClientConnection::new(config.clone(), name).map_err(|_| Failure::Io)?;
        let fd = self.fd();
        let mut io = DeadlineIo { stream: &mut self.stream, fd, deadline, timed_out: false };
        while tls.is_handshaking() {
            if tls.complete_io(&mut io).is_err() {
                return Err(if io.timed_out { Failure::Timeout } else { Failure::Io });
            }
        }
        self.tls = Some(tls);
        Ok(())
    }

    /// Sends `packed` (one command or a pipeline) and reads `replies`
    /// replies, all by `deadline`. A server error reply is a reply.
    pub fn call(&mut self, packed: &[u8], replies: usize, deadline: Instant) -> Result<Vec<Value>, Failure> {
        let fd = self.fd();
        let Conn { stream, tls, parser } = self;
        let mut io = DeadlineIo { stream, fd, deadline, timed_out: false };
        let result = match tls {
            Some(tls) => exchange(&mut rustls::Stream::new(tls, &mut io), parser, packed, replies),
            None => exchange(&mut io, parser, packed, replies),
        };
        match result {
            Err(_) if io.timed_out => Err(Failure::Timeout),
            other => other,
        }
    }

    fn fd(&self) -> RawFd {
        match &self.stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

/// Writes `packed` and parses `replies` replies from `channel`.
fn exchange(
    channel: &mut (impl Read + io::Write),
    parser: &mut Parser,
    packed: &[u8],
    replies: usize,
) -> Result<Vec<Value>, Failure> {
    channel.write_all(packed).and_then(|_| channel.flush()).map_err(|_| Failure::Io)?;
    let mut values = Vec::with_capacity(replies);
    while values.len() < replies {
        values.push(parser.parse_value(&mut *channel).map_err(|_| Failure::Protocol)?);
    }
    Ok(values)
}

/// AUTH (with the ACL user if any), SELECT, then PING: a new connection's
/// set-up, threaded or inline.
pub fn setup_commands(target: &Target) -> redis::Pipeline {
    let mut setup = redis::pipe();
    if let Some(password) = &target.password {
        let auth = setup.cmd("AUTH");
        if let Some(user) = &target.user {
            auth.arg(user);
        }
        auth.arg(password.expose());
    }
    if target.db != 0 {
        setup.cmd("SELECT").arg(target.db);
    }
    setup.cmd("PING");
    setup
}

fn connect_tcp(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, Failure> {
    let addrs = (host, port).to_socket_addrs().map_err(|_| Failure::Io)?;
    for addr in addrs {
        let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
        let left = left.ok_or(Failure::Timeout)?;
        if let Ok(stream) = TcpStream::connect_timeout(&addr, left) {
            return Ok(stream);
        }
    }
    Err(Failure::Io)
}

/// Reads and writes a non-blocking socket, waiting in `ppoll` no later
/// than `deadline`.
struct DeadlineIo<'a> {
    stream: &'a mut Stream,
    fd: RawFd,
    deadline: Instant,
    timed_out: bool,
}

impl DeadlineIo<'_> {
    /// Waits until the socket is ready for `events`, or fails at the deadline.
    fn wait(&mut self, events: libc::c_short) -> io::Result<()> {
        loop {
            let Some(left) = self.deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
            else {
                self.timed_out = true;
                return Err(io::ErrorKind::TimedOut.into());
            };
            let timeout =
                libc::timespec { tv_sec: left.as_secs() as libc::time_t, tv_nsec: left.subsec_nanos() as _ };
            let mut pfd = libc::pollfd { fd: self.fd, events, revents: 0 };
            // SAFETY: one valid pollfd and a valid timespec, both on the stack.
            let n = unsafe { libc::ppoll(&mut pfd, 1, &timeout, std::ptr::null()) };
            if n > 0 {
                return Ok(());
            }
            if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return Err(io::Error::last_os_error());
            }
        }
    }
}

impl Read for DeadlineIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let read = match self.stream {
                Stream::Tcp(s) => s.read(buf),
                Stream::Unix(s) => s.read(buf),
            };
            match read {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(libc::POLLIN)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

impl io::Write for DeadlineIo<'_> {
    /// `send` with MSG_NOSIGNAL: a write to a connection the server closed
    /// must be an error, never a SIGPIPE that kills the host server (std's
    /// `UnixStream` writes with `write`).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is valid for `buf.len()` bytes; `fd` is our open socket.
            let n = unsafe { libc::send(self.fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => self.wait(libc::POLLOUT)?,
                io::ErrorKind::Interrupted => {}
                _ => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
