//! The inline connection against scripted fake servers on loopback: a
//! connect that completes at a later event, replies that arrive in pieces,
//! garbage, a server that closes or never answers, and the replies owed to
//! writes read before a lookup's.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::thread::JoinHandle;

use super::*;
use crate::store::config::RedisSettings;
use crate::store::remote::commands::Outgoing;
use crate::store::subkeys::STORE_KEY_LEN;

/// One step of a fake server: once the bytes it has read contain `after`,
/// it sends each of `chunks`, 30 ms apart.
struct Step {
    after: &'static str,
    chunks: Vec<&'static [u8]>,
}

fn step(after: &'static str, chunks: Vec<&'static [u8]>) -> Step {
    Step { after, chunks }
}

/// Serves one connection by `script`, then closes it (`close`) or holds it
/// until the client goes; returns every byte it read.
fn serve(mut s: impl Read + std::io::Write, script: Vec<Step>, close: bool) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    for Step { after, chunks } in script {
        while !String::from_utf8_lossy(&seen).contains(after) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return seen,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        seen.clear();
        for chunk in chunks {
            let _ = s.write_all(chunk);
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    if close {
        // Long enough for the client to read what was sent first.
        std::thread::sleep(Duration::from_millis(200));
        return seen;
    }
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

fn tcp_fake(script: Vec<Step>, close: bool) -> (Target, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        serve(s, script, close)
    });
    (target(Address::Tcp { host: "127.0.0.1".into(), port }), server)
}

fn target(address: Address) -> Target {
    Target { address, tls: false, db: 0, user: None, password: None, seeds: Vec::new() }
}

fn shared_for(target: &Target) -> Shared {
    Shared::new(RedisSettings {
        target: target.clone(),
        with_local: false,
        timeout: Duration::from_millis(200),
        single_use_tls13: false,
        ca_certs: Vec::new(),
        lookups_per_second: 0,
    })
}

fn phase_name(inline: &Inline) -> &'static str {
    match inline.link.lock().unwrap().phase {
        Phase::Down => "down",
        Phase::Connecting { .. } => "connecting",
        Phase::SettingUp { .. } => "setting up",
        Phase::Ready(_) => "ready",
    }
}

/// Events (every 5 ms, at most 2 s) until the connection is in `want`.
fn drive_until(inline: &Inline, shared: &Shared, want: &str) -> bool {
    for _ in 0..400 {
        inline.progress(shared);
        if phase_name(inline) == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn lookup(inline: &Inline, shared: &Shared, ms: u64) -> Option<Result<Vec<Value>, Failure>> {
    let packed = redis::cmd("MGET").arg("k").get_packed_command();
    inline.call(shared, &packed, 1, Instant::now() + Duration::from_millis(ms))
}

const PONG: &[u8] = b"+PONG\r\n";
const HIT: &[u8] = b"*1\r\n$5\r\nhello\r\n";

fn put(n: u8) -> Write {
    Write::Put { key: [n; STORE_KEY_LEN], value: vec![n; 8], expiry: 4_000_000_000 }
}

#[test]
fn no_event_waits_for_setup_and_a_later_one_finds_the_connection_ready() {
    // PONG 30 ms late: the first event cannot see it.
    let (target, server) = tcp_fake(vec![step("PING", vec![b"", PONG]), step("MGET", vec![HIT])], false);
    let (inline, shared) = (Inline::for_target(&target).unwrap(), shared_for(&target));
    let started = Instant::now();
    inline.progress(&shared);
    assert!(started.elapsed() < Duration::from_millis(20), "an event waited {:?}", started.elapsed());
    assert_ne!(phase_name(&inline), "ready");
    // Not ready: a lookup does without Redis.
    assert!(lookup(&inline, &shared, 50).is_none());
    assert!(drive_until(&inline, &shared, "ready"));
    let got = lookup(&inline, &shared, 1000).unwrap().unwrap();
    assert_eq!(got, vec![Value::Array(vec![Value::BulkString(b"hello".to_vec())])]);
    drop(inline);
    server.join().unwrap();
}

#[test]
fn a_reply_in_pieces_is_read_whole_within_the_deadline() {
    let pieces: Vec<&'static [u8]> = vec![b"*1\r\n$5\r", b"\nhel", b"lo\r\n"];
    let (target, server) = tcp_fake(vec![step("PING", vec![b"+PO", b"NG\r\n"]), step("MGET", pieces)], false);
    let (inline, shared) = (Inline::for_target(&target).unwrap(), shared_for(&target));
    assert!(drive_until(&inline, &shared, "ready"));
    let got = lookup(&inline, &shared, 1000).unwrap().unwrap();
    assert_eq!(got, vec![Value::Array(vec![Value::BulkString(b"hello".to_vec())])]);
    assert_eq!(phase_name(&inline), "ready");
    drop(inline);
    server.join().unwrap();
}

#[test]
fn the_replies_owed_to_writes_are_read_before_a_lookups() {
    // Two SETs sent without waiting; their replies come only with the
    // lookup's, and must not be taken for it.
    let script = vec![step("PING", vec![PONG]), step("MGET", vec![b"+OK\r\n$-1\r\n", HIT])];
    let (target, server) = tcp_fake(script, false);
    let (inline, shared) = (Inline::for_target(&target).unwrap(), shared_for(&target));
    assert!(drive_until(&inline, &shared, "ready"));
    let outgoing = [put(1), put(2)].map(|write| Outgoing { write, single_use: false });
    assert!(shared.outbox.push(outgoing.into_iter()));
    let started = Instant::now();
    inline.progress(&shared);
    assert!(started.elapsed() < Duration::from_millis(20), "a write waited {:?}", started.elapsed());
    if let Phase::Ready(wire) = &inline.link.lock().unwrap().phase {
        assert_eq!(wire.expected.len(), 2, "both writes owed a reply");
    }
    let got = lookup(&inline, &shared, 1000).unwrap().unwrap();
    assert_eq!(got, vec![Value::Array(vec![Value::BulkString(b"hello".to_vec())])]);
    if let Phase::Ready(wire) = &inline.link.lock().unwrap().phase {
        assert!(wire.expected.is_empty());
    }
    drop(inline);
    server.join().unwrap();
}

#[test]
fn garbage_drops_the_connection() {
    let (target, server) =
        tcp_fake(vec![step("PING", vec![PONG]), step("MGET", vec![b"%garbage\r\n"])], false);
    let (inline, shared) = (Inline::for_target(&target).unwrap(), shared_for(&target));
    assert!(drive_until(&inline, &shared, "ready"));
    assert_eq!(lookup(&inline, &shared, 1000), Some(Err(Failure::Protocol)));
    assert_eq!(phase_name(&inline), "down");
    server.join().unwrap();
}

#[test]
fn a_lookup_gives_up_at_its_deadline_and_the_connection_goes() {
    let (target, server) = tcp_fake(vec![step("PING", vec![PONG])], false);
    let (inline, shared) = (Inline::for_target(&target).unwrap(), shared_for(&target));
    assert!(drive_until(&inline, &shared, "ready"));
    let started = Instant::now();
    assert_eq!(lookup(&inline, &shared, 3), Some(Err(Failure::Timeout)));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(3) && took < Duration::from_millis(50), "{took:?}");
    // A late reply can never answer a later lookup: that connection is gone.
    assert_eq!(phase_name(&inline), "down");
    server.join().unwrap();
}

#[test]
fn a_server_that_closes_is_noticed_at_the_next_event() {
    let (target, server) = tcp_fake(vec![step("PING", vec![PONG])], true);
    let (inline, shared) = (Inline::for_target(&target).unwrap(), shared_for(&target));
    assert!(drive_until(&inline, &shared, "ready"));
    server.join().unwrap();
    assert!(drive_until(&inline, &shared, "down"));
}

#[test]
fn a_server_that_never_answers_setup_is_given_up_on() {
    let (target, server) = tcp_fake(vec![step("NEVER", vec![])], false);
    let (inline, shared) = (Inline::for_target(&target).unwrap(), shared_for(&target));
    assert!(drive_until(&inline, &shared, "setting up"));
    let started = Instant::now();
    assert!(drive_until(&inline, &shared, "down"));
    assert!(started.elapsed() >= SETUP_LIMIT - Duration::from_millis(50), "{:?}", started.elapsed());
    drop(inline);
    server.join().unwrap();
}

#[test]
fn auth_refused_is_no_connection() {
    let (mut target, server) = tcp_fake(vec![step("PING", vec![b"-WRONGPASS nope\r\n+PONG\r\n"])], false);
    target.password = Some(super::super::url::Secret::new("pw".into()));
    let (inline, shared) = (Inline::for_target(&target).unwrap(), shared_for(&target));
    assert!(drive_until(&inline, &shared, "setting up"));
    assert!(drive_until(&inline, &shared, "down"));
    drop(inline);
    let _ = server.join();
}

#[test]
fn nothing_listening_fails_and_backs_off() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target = target(Address::Tcp { host: "127.0.0.1".into(), port });
    let (inline, shared) = (Inline::for_target(&target).unwrap(), shared_for(&target));
    assert!(drive_until(&inline, &shared, "down"));
    inline.progress(&shared);
    inline.progress(&shared);
    let link = inline.link.lock().unwrap();
    assert!(matches!(link.phase, Phase::Down) && !link.backoff.ready(Instant::now()));
}

#[test]
fn a_unix_socket_connects() {
    let dir = std::env::temp_dir().join(format!("sesscb-inline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("redis.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        serve(s, vec![step("PING", vec![PONG]), step("MGET", vec![HIT])], false)
    });
    let target = target(Address::Unix(path.clone()));
    let (inline, shared) = (Inline::for_target(&target).unwrap(), shared_for(&target));
    assert!(drive_until(&inline, &shared, "ready"));
    assert!(matches!(lookup(&inline, &shared, 1000), Some(Ok(_))));
    drop(inline);
    server.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_host_name_tls_or_a_cluster_needs_the_thread() {
    let named = target(Address::Tcp { host: "redis.example".into(), port: 6379 });
    assert!(Inline::for_target(&named).is_none());
    let tls = Target { tls: true, ..target(Address::Tcp { host: "127.0.0.1".into(), port: 6379 }) };
    assert!(Inline::for_target(&tls).is_none());
    let one = Address::Tcp { host: "127.0.0.1".into(), port: 7000 };
    let cluster = Target { seeds: vec![one.clone()], ..target(one) };
    assert!(Inline::for_target(&cluster).is_none());
    assert!(Inline::for_target(&target(Address::Tcp { host: "::1".into(), port: 6379 })).is_some());
}

#[test]
fn frames_end_where_the_reply_ends() {
    use super::frame::reply_len;
    assert_eq!(reply_len(b"+OK\r\n+PONG\r\n"), Ok(Some(5)));
    assert_eq!(reply_len(b"$5\r\nhello\r\n"), Ok(Some(11)));
    assert_eq!(reply_len(b"$-1\r\n"), Ok(Some(5)));
    assert_eq!(reply_len(b"*2\r\n$-1\r\n:7\r\n"), Ok(Some(13)));
    for partial in [&b""[..], b"+OK", b"+OK\r", b"$5\r\nhel", b"$5\r\nhello\r", b"*2\r\n$-1\r\n"] {
        assert_eq!(reply_len(partial), Ok(None), "{partial:?}");
    }
    for garbage in [
        &b"%1\r\n"[..],
        b"$x\r\n",
        b"$5\r\nhelloXY",
        b"*-2\r\n",
        b":1.5\r\n",
        b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n",
    ] {
        assert_eq!(reply_len(garbage), Err(Failure::Protocol), "{garbage:?}");
    }
    let mut input = b"-ERR no\r\n:1".to_vec();
    assert!(matches!(super::frame::next_reply(&mut input), Ok(Some(Value::ServerError(_)))));
    assert_eq!(input, b":1");
    assert_eq!(super::frame::next_reply(&mut input), Ok(None));
}

#[test]
fn a_redis_that_stops_reading_costs_dropped_writes_never_a_wait() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        serve(&s, vec![step("PING", vec![PONG])], true);
        // Reads nothing more for a while.
        std::thread::sleep(Duration::from_secs(2));
    });
    let target = target(Address::Tcp { host: "127.0.0.1".into(), port });
    let (inline, shared) = (Inline::for_target(&target).unwrap(), shared_for(&target));
    assert!(drive_until(&inline, &shared, "ready"));
    // 32 MiB: more than the kernel's buffers on both ends take.
    let big = (0..64u8).map(|n| Write::Put { key: [n; STORE_KEY_LEN], value: vec![n; 512 << 10], expiry: 1 });
    assert!(shared.outbox.push(big.map(|write| Outgoing { write, single_use: false })));
    let started = Instant::now();
    inline.progress(&shared);
    assert!(started.elapsed() < Duration::from_millis(200), "an event waited {:?}", started.elapsed());
    if let Phase::Ready(wire) = &inline.link.lock().unwrap().phase {
        assert!(wire.expected.len() < 64, "some writes were dropped");
        assert!(wire.unsent.len() <= UNSENT_LIMIT + (600 << 10), "{} bytes held", wire.unsent.len());
    } else {
        panic!("the connection stays up");
    }
    drop(inline);
    server.join().unwrap();
}
