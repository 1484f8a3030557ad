//! Deadlines and hostile servers, against fake servers on loopback.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::Duration;

use super::*;

/// A server for one connection: answers each read with the next of
/// `answers` (None: reads on and never answers).
fn fake(answers: Vec<Option<&'static [u8]>>) -> (Target, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 4096];
        for answer in answers {
            if s.read(&mut buf).unwrap_or(0) == 0 {
                return;
            }
            if let Some(bytes) = answer {
                let _ = s.write_all(bytes);
            }
        }
        // Hold the connection until the client gives up.
        let _ = s.read(&mut buf);
    });
    let target = Target {
        address: Address::Tcp { host: "127.0.0.1".into(), port },
        tls: false,
        db: 0,
        user: None,
        password: None,
        seeds: Vec::new(),
    };
    (target, server)
}

fn soon(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

#[test]
fn a_server_that_never_answers_is_no_connection() {
    let (target, server) = fake(vec![None]);
    let started = Instant::now();
    assert_eq!(Conn::open(&target, None, soon(50)).err(), Some(Failure::Timeout));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(50) && took < Duration::from_millis(500), "{took:?}");
    server.join().unwrap();
}

#[test]
fn a_call_gives_up_at_its_deadline_to_the_millisecond() {
    let (target, server) = fake(vec![Some(b"+PONG\r\n"), None]);
    let mut conn = Conn::open(&target, None, soon(1000)).unwrap();
    let started = Instant::now();
    let got = conn.call(&redis::cmd("GET").arg("k").get_packed_command(), 1, soon(2));
    let took = started.elapsed();
    assert_eq!(got.err(), Some(Failure::Timeout));
    // ppoll, not socket timeouts (4 ms ticks): never before the deadline,
    // and well within a tick after it even on a busy machine.
    assert!(took >= Duration::from_millis(2) && took < Duration::from_millis(20), "{took:?}");
    drop(conn);
    server.join().unwrap();
}

#[test]
fn garbage_is_a_protocol_failure_and_a_huge_length_a_timeout() {
    let (target, server) = fake(vec![Some(b"+PONG\r\n"), Some(b"!!! not resp at all\r\n")]);
    let mut conn = Conn::open(&target, None, soon(1000)).unwrap();
    let got = conn.call(&redis::cmd("GET").arg("k").get_packed_command(), 1, soon(200));
    assert_eq!(got.err(), Some(Failure::Protocol));
    server.join().unwrap();

    let (target, server) = fake(vec![Some(b"+PONG\r\n"), Some(b"$999999999999\r\nabc")]);
    let mut conn = Conn::open(&target, None, soon(1000)).unwrap();
    let got = conn.call(&redis::cmd("GET").arg("k").get_packed_command(), 1, soon(20));
    assert_eq!(got.err(), Some(Failure::Timeout));
    drop(conn);
    server.join().unwrap();
}

#[test]
fn setup_sends_auth_and_select_and_refuses_an_error_or_a_wrong_pong() {
    let (mut target, server) = fake(vec![Some(b"-WRONGPASS invalid\r\n+OK\r\n+PONG\r\n")]);
    target.password = Some(crate::store::remote::url::Secret::new("pw".into()));
    target.db = 2;
    assert_eq!(Conn::open(&target, None, soon(1000)).err(), Some(Failure::Server));
    server.join().unwrap();
    let (target, server) = fake(vec![Some(b"+PANG\r\n")]);
    assert_eq!(Conn::open(&target, None, soon(1000)).err(), Some(Failure::Protocol));
    server.join().unwrap();
    let refused = Target {
        address: Address::Unix("/nonexistent/redis.sock".into()),
        tls: false,
        db: 0,
        user: None,
        password: None,
        seeds: Vec::new(),
    };
    assert_eq!(Conn::open(&refused, None, soon(100)).err(), Some(Failure::Io));
}
