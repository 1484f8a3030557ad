//! Routing a lookup's keys to their masters, and one answer out of the
//! masters' answers.

use redis::Value;

use super::*;
use crate::store::remote::slots::parse_slots;

fn node(port: u16) -> Node {
    Node { host: "127.0.0.1".into(), port }
}

/// Three masters: 0-5460, 5461-10922, 10923-16383 (redis-cli's split).
fn three_masters() -> SlotMap {
    let range = |first: i64, last: i64, port: i64| {
        let master = Value::Array(vec![Value::BulkString(b"127.0.0.1".to_vec()), Value::Int(port)]);
        Value::Array(vec![Value::Int(first), Value::Int(last), master])
    };
    let reply = Value::Array(vec![range(0, 5460, 7000), range(5461, 10922, 7001), range(10923, 16383, 7002)]);
    parse_slots(&reply, "127.0.0.1").unwrap()
}

/// A store key whose slot falls in `wanted` (found by trying).
fn key_in(wanted: std::ops::RangeInclusive<u16>, skip: u8) -> StoreKey {
    (0..=255u8)
        .map(|n| [n; 17])
        .filter(|key| wanted.contains(&slot_of(key)))
        .nth(usize::from(skip))
        .expect("some byte lands in every third of the slots")
}

#[test]
fn a_key_and_its_single_use_form_share_a_slot() {
    for n in [0u8, 7, 0xab, 0xff] {
        let key = [n; 17];
        let plain = commands::named(&key, false, Naming::Tagged);
        let once = commands::named(&key, true, Naming::Tagged);
        assert_eq!(slots::key_slot(&plain), slots::key_slot(&once));
        assert_eq!(slot_of(&key), slots::key_slot(&plain));
        assert!(plain.starts_with(b"sesscb:{") && plain.ends_with(b"}"));
    }
}

#[test]
fn keys_are_grouped_by_master_in_order() {
    let map = three_masters();
    let (a, b, c, a2) =
        (key_in(0..=5460, 0), key_in(5461..=10922, 0), key_in(10923..=16383, 0), key_in(0..=5460, 1));
    let (groups, uncovered) = route(&[a, b, a2, c], &map);
    assert!(!uncovered);
    assert_eq!(groups, vec![(node(7000), vec![0, 2]), (node(7001), vec![1]), (node(7002), vec![3])]);
    let (groups, _) = route(&[c], &map);
    assert_eq!(groups, vec![(node(7002), vec![0])], "one key: one master");
}

#[test]
fn a_key_no_master_serves_is_reported() {
    let range = Value::Array(vec![
        Value::Int(0),
        Value::Int(5460),
        Value::Array(vec![Value::BulkString(b"h".to_vec()), Value::Int(7000)]),
    ]);
    let map = parse_slots(&Value::Array(vec![range]), "h").unwrap();
    let (groups, uncovered) = route(&[key_in(0..=5460, 0), key_in(10923..=16383, 0)], &map);
    assert!(uncovered);
    assert_eq!(groups.len(), 1);
}

fn hit(index: usize, taken: bool) -> Fetched {
    Fetched::Hit { index, value: vec![index as u8], taken }
}

#[test]
fn a_hit_wins_then_the_worst_failure_then_a_miss() {
    assert_eq!(merge(vec![]), Fetched::Miss);
    assert_eq!(merge(vec![Fetched::Miss, Fetched::Miss]), Fetched::Miss);
    assert_eq!(
        merge(vec![Fetched::Timeout, hit(1, false)]),
        hit(1, false),
        "a dead master loses only its keys"
    );
    assert_eq!(merge(vec![hit(1, false), hit(0, false)]), hit(0, false), "the first key's entry");
    assert_eq!(merge(vec![hit(0, false), hit(1, true)]), hit(1, true), "a taken entry is never lost");
    assert_eq!(merge(vec![Fetched::Miss, Fetched::BreakerOpen]), Fetched::BreakerOpen);
    assert_eq!(merge(vec![Fetched::BreakerOpen, Fetched::Unavailable]), Fetched::Unavailable);
    assert_eq!(merge(vec![Fetched::Unavailable, Fetched::Error, Fetched::Miss]), Fetched::Error);
    assert_eq!(merge(vec![Fetched::Error, Fetched::Timeout]), Fetched::Timeout);
}

#[test]
fn without_a_map_a_lookup_is_unavailable() {
    let cluster = Cluster::default();
    assert_eq!(cluster.fetch(&[[1; 17]], false, Duration::from_millis(2)), Fetched::Unavailable);
    cluster.set_map(three_masters());
    // Known masters but no ready connection: still no call, no wait.
    assert_eq!(cluster.fetch(&[[1; 17]], false, Duration::from_millis(2)), Fetched::Unavailable);
}

#[test]
fn a_failing_master_opens_its_own_breaker_only() {
    let cluster = Cluster::default();
    cluster.set_map(three_masters());
    for _ in 0..crate::store::remote::breaker::THRESHOLD {
        cluster.record(&node(7000), false);
    }
    let (dead, alive) = (key_in(0..=5460, 0), key_in(5461..=10922, 0));
    assert_eq!(cluster.fetch(&[dead], false, Duration::from_millis(2)), Fetched::BreakerOpen);
    assert_eq!(cluster.fetch(&[alive], false, Duration::from_millis(2)), Fetched::Unavailable);
    assert!(!cluster.refresh_wanted());
    cluster.want_refresh();
    assert!(cluster.refresh_wanted());
    cluster.refreshing();
    assert!(!cluster.refresh_wanted());
}

/// A master on loopback that answers PING, then every lookup with `reply`;
/// a connection to it, and its map (every slot).
fn master_answering(reply: &'static [u8], lookups: usize) -> (Cluster, Node, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 4096];
        for answer in std::iter::once(&b"+PONG\r\n"[..]).chain(std::iter::repeat_n(reply, lookups)) {
            if s.read(&mut buf).unwrap_or(0) == 0 {
                return;
            }
            let _ = s.write_all(answer);
        }
    });
    let node = node(port);
    let target = crate::store::remote::url::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
    let conn = Conn::open(&target, None, Instant::now() + Duration::from_secs(2)).unwrap();
    let master = Value::Array(vec![Value::BulkString(b"127.0.0.1".to_vec()), Value::Int(i64::from(port))]);
    let map = Value::Array(vec![Value::Array(vec![Value::Int(0), Value::Int(16383), master])]);
    let cluster = Cluster::default();
    cluster.set_map(parse_slots(&map, "127.0.0.1").unwrap());
    cluster.pool_add(&node, conn);
    (cluster, node, server)
}

#[test]
fn moved_is_an_error_and_a_refresh_never_a_redirect_nor_a_sick_master() {
    let rounds = crate::store::remote::breaker::THRESHOLD as usize + 2;
    let (cluster, node, server) = master_answering(b"-MOVED 3999 127.0.0.1:1\r\n", rounds);
    for _ in 0..rounds {
        assert_eq!(cluster.fetch(&[[1; 17]], false, Duration::from_millis(500)), Fetched::Error);
        assert!(cluster.refresh_wanted(), "the thread is asked for a fresh map");
        cluster.refreshing();
        assert_eq!(cluster.pooled(&node), 1, "a connection whose replies were all read is kept");
    }
    assert!(!cluster.breaker_open(&node), "a redirect does not open the master's breaker");
    server.join().unwrap();
}

#[test]
fn a_hit_on_one_master_is_found_by_its_global_index() {
    // The first GET misses, the second hits: both keys on this master.
    let (cluster, _node, server) = master_answering(b"$-1\r\n$2\r\nhi\r\n", 1);
    let found = cluster.fetch(&[[1; 17], [2; 17]], false, Duration::from_millis(500));
    assert_eq!(found, Fetched::Hit { index: 1, value: b"hi".to_vec(), taken: false });
    server.join().unwrap();
}
