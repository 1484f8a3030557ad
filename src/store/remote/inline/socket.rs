//! The inline tier's socket: non-blocking from `socket()` on, so starting a
//! connect, checking it, sending and reading never wait. Only a lookup
//! waits, in `ppoll`, and never past its deadline.
//!
//! Addresses are numeric (an IP or a unix path): resolving a name may
//! block in `getaddrinfo`, which a handshake must never do.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Instant;

use super::super::conn::Failure;
use super::super::url::Address;

/// Bytes read per `recv`.
const CHUNK: usize = 16 * 1024;
/// `recv` calls per read: a server that keeps sending cannot keep a
/// handshake here.
const READS_PER_CALL: usize = 64;

/// A non-blocking stream socket to Redis.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// Starts connecting to `address`; the connect completes later
    /// ([`Socket::connected`]). `Io` for a host name or a refused connect.
    pub fn start(address: &Address) -> Result<Socket, Failure> {
        match address {
            Address::Tcp { host, port } => {
                let ip: IpAddr = host.parse().map_err(|_| Failure::Io)?;
                let addr = SocketAddr::new(ip, *port);
                let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
                let socket = Socket::open(family)?;
                let (storage, len) = inet_sockaddr(addr);
                socket.connect(&storage, len)?;
                Ok(socket)
            }
            Address::Unix(path) => {
                let socket = Socket::open(libc::AF_UNIX)?;
                let (storage, len) = unix_sockaddr(path)?;
                socket.connect(&storage, len)?;
                Ok(socket)
            }
        }
    }

    fn open(family: libc::c_int) -> Result<Socket, Failure> {
        let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe { libc::socket(family, kind, 0) };
        if fd < 0 {
            return Err(Failure::Io);
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        Ok(Socket { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    fn connect(&self, addr: &libc::sockaddr_storage, len: libc::socklen_t) -> Result<(), Failure> {
        // SAFETY: `addr` is a valid sockaddr of `len` bytes on the caller's stack.
        let rc = unsafe { libc::connect(self.raw(), (addr as *const libc::sockaddr_storage).cast(), len) };
        let pending = io::Error::last_os_error().raw_os_error() == Some(libc::EINPROGRESS);
        if rc == 0 || pending { Ok(()) } else { Err(Failure::Io) }
    }

    /// Whether the connect has completed (without waiting); `Io` if it failed.
    pub fn connected(&self) -> Result<bool, Failure> {
        if !self.poll(libc::POLLOUT, None)? {
            return Ok(false);
        }
        let mut error: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `error` and `len` are valid for getsockopt to fill.
        let rc = unsafe {
            libc::getsockopt(self.raw(), libc::SOL_SOCKET, libc::SO_ERROR, (&raw mut error).cast(), &mut len)
        };
        if rc != 0 || error != 0 {
            return Err(Failure::Io);
        }
        let one: libc::c_int = 1;
        // SAFETY: a valid int option; failing (a unix socket) changes nothing.
        unsafe {
            libc::setsockopt(self.raw(), libc::IPPROTO_TCP, libc::TCP_NODELAY, (&raw const one).cast(), 4);
        }
        Ok(true)
    }

    /// Sends what the kernel takes of `out` now and removes it from `out`.
    pub fn send_some(&self, out: &mut Vec<u8>) -> Result<(), Failure> {
        let mut sent = 0;
        while sent < out.len() {
            let rest = &out[sent..];
            // SAFETY: `rest` is valid for its length; MSG_NOSIGNAL: a closed
            // peer is an error, never a SIGPIPE in the host server.
            let n = unsafe {
                libc::send(
                    self.raw(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                sent += n as usize;
                continue;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EAGAIN) => break,
                Some(libc::EINTR) => {}
                _ => return Err(Failure::Io),
            }
        }
        out.drain(..sent);
        Ok(())
    }

    /// Appends what has arrived to `input`, without waiting; `Io` when the
    /// server closed or the socket failed.
    pub fn read_some(&self, input: &mut Vec<u8>) -> Result<(), Failure> {
        let mut chunk = [0u8; CHUNK];
        for _ in 0..READS_PER_CALL {
            // SAFETY: `chunk` is valid for CHUNK bytes.
            let n = unsafe { libc::recv(self.raw(), chunk.as_mut_ptr().cast(), CHUNK, libc::MSG_DONTWAIT) };
            if n > 0 {
                input.extend_from_slice(&chunk[..n as usize]);
                continue;
            }
            if n == 0 {
                return Err(Failure::Io);
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EAGAIN) => return Ok(()),
                Some(libc::EINTR) => {}
                _ => return Err(Failure::Io),
            }
        }
        Ok(())
    }

    /// Waits until `events` (POLLIN, POLLOUT) are ready; `Timeout` at `deadline`.
    pub fn wait(&self, events: libc::c_short, deadline: Instant) -> Result<(), Failure> {
        while !self.poll(events, Some(deadline))? {}
        Ok(())
    }

    /// One `ppoll`: ready? With no deadline it does not wait.
    fn poll(&self, events: libc::c_short, deadline: Option<Instant>) -> Result<bool, Failure> {
        let left = match deadline {
            None => std::time::Duration::ZERO,
            Some(at) => {
                at.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()).ok_or(Failure::Timeout)?
            }
        };
        let timeout =
            libc::timespec { tv_sec: left.as_secs() as libc::time_t, tv_nsec: left.subsec_nanos() as _ };
        let mut pfd = libc::pollfd { fd: self.raw(), events, revents: 0 };
        // SAFETY: one valid pollfd and a valid timespec, both on the stack.
        let n = unsafe { libc::ppoll(&mut pfd, 1, &timeout, std::ptr::null()) };
        if n < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err(Failure::Io);
        }
        // An error or hang-up counts as ready: the next call reports it.
        Ok(n > 0 && pfd.revents != 0)
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn inet_sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr.
            let sin = unsafe { &mut *(&raw mut storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above.
            let sin6 = unsafe { &mut *(&raw mut storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr = libc::in6_addr { s6_addr: v6.ip().octets() };
            sin6.sin6_scope_id = v6.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn unix_sockaddr(path: &Path) -> Result<(libc::sockaddr_storage, libc::socklen_t), Failure> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_un.
    let sun = unsafe { &mut *(&raw mut storage).cast::<libc::sockaddr_un>() };
    if bytes.is_empty() || bytes.len() >= sun.sun_path.len() || bytes.contains(&0) {
        return Err(Failure::Io);
    }
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((storage, len as libc::socklen_t))
}
