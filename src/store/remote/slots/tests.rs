//! Slots against what a real Redis answers (`CLUSTER KEYSLOT`, redis-server
//! 7.0), and the reading of `CLUSTER SLOTS` replies, good and broken.

use redis::Value;

use super::*;

#[test]
fn slots_match_cluster_keyslot() {
    for (key, slot) in [
        ("foo", 12182),
        ("123456789", 12739),
        ("user1000", 3443),
        ("{user1000}.following", 3443),
        ("{user1000}.followers", 3443),
        ("foo{}{bar}", 8363),
        ("foo{{bar}}zap", 4015),
        ("foo{bar}{zap}", 5061),
        ("{}", 15257),
        ("", 0),
        ("sesscb:{00ff}", 1184),
        ("sesscb:once:{00ff}", 1184),
    ] {
        assert_eq!(key_slot(key.as_bytes()), slot, "{key}");
    }
    assert_eq!(crc16(b"123456789"), 0x31c3, "the XMODEM check value");
}

fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

fn node_value(host: &str, port: i64) -> Value {
    Value::Array(vec![bulk(host), Value::Int(port), bulk("0123abcd")])
}

fn range(first: i64, last: i64, master: Value, replicas: Vec<Value>) -> Value {
    let mut fields = vec![Value::Int(first), Value::Int(last), master];
    fields.extend(replicas);
    Value::Array(fields)
}

fn node(host: &str, port: u16) -> Node {
    Node { host: host.into(), port }
}

#[test]
fn a_three_master_map_routes_every_slot_to_its_master() {
    let reply = Value::Array(vec![
        range(10923, 16383, node_value("127.0.0.1", 7002), vec![node_value("127.0.0.1", 7005)]),
        range(0, 5460, node_value("127.0.0.1", 7000), vec![]),
        range(5461, 10922, node_value("", 7001), vec![]),
    ]);
    let map = parse_slots(&reply, "10.1.1.1").unwrap();
    assert_eq!(map.master_of(0), Some(&node("127.0.0.1", 7000)));
    assert_eq!(map.master_of(5460), Some(&node("127.0.0.1", 7000)));
    assert_eq!(map.master_of(5461), Some(&node("10.1.1.1", 7001)), "an empty address is the asked node's");
    assert_eq!(map.master_of(12182), Some(&node("127.0.0.1", 7002)));
    assert_eq!(map.master_of(16383), Some(&node("127.0.0.1", 7002)));
    assert_eq!(map.masters(), vec![node("10.1.1.1", 7001), node("127.0.0.1", 7000), node("127.0.0.1", 7002)]);
}

#[test]
fn uncovered_slots_have_no_master() {
    let reply = Value::Array(vec![
        range(100, 200, node_value("h", 1), vec![]),
        range(300, 300, node_value("h", 2), vec![]),
    ]);
    let map = parse_slots(&reply, "x").unwrap();
    for slot in [0, 99, 201, 299, 301, 16383] {
        assert_eq!(map.master_of(slot), None, "{slot}");
    }
    assert_eq!(map.master_of(300), Some(&node("h", 2)));
    assert_eq!(parse_slots(&Value::Array(vec![]), "x").unwrap().master_of(5), None);
}

#[test]
fn broken_replies_are_refused() {
    let good = || node_value("h", 7000);
    for reply in [
        Value::Nil,
        Value::Array(vec![Value::Int(3)]),
        Value::Array(vec![Value::Array(vec![Value::Int(0), Value::Int(5)])]),
        Value::Array(vec![range(0, 16384, good(), vec![])]),
        Value::Array(vec![range(-1, 5, good(), vec![])]),
        Value::Array(vec![range(9, 5, good(), vec![])]),
        Value::Array(vec![range(0, 10, good(), vec![]), range(10, 20, good(), vec![])]),
        Value::Array(vec![range(0, 10, node_value("h", 0), vec![])]),
        Value::Array(vec![range(0, 10, Value::Array(vec![Value::Int(1), Value::Int(7000)]), vec![])]),
        Value::Array(vec![range(0, 10, bulk("h"), vec![])]),
    ] {
        assert!(parse_slots(&reply, "x").is_err(), "{reply:?}");
    }
}
