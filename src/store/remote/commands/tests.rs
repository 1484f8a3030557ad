//! The store's Redis commands, byte for byte, and the reading of replies
//! (including the ones a broken or hostile server sends).

use redis::Value;

use super::*;

fn key(n: u8) -> StoreKey {
    [n; 17]
}

#[test]
fn a_redis_key_is_the_prefix_and_the_hex_store_key() {
    let k = redis_key(&key(0xab));
    assert_eq!(k.len(), 7 + 34);
    assert_eq!(&k[..7], b"sesscb:");
    assert!(k[7..].iter().all(|c| *c == b'a' || *c == b'b'));
}

fn out(write: Write, single_use: bool) -> Outgoing {
    Outgoing { write, single_use }
}

#[test]
fn a_lookup_is_one_mget_of_every_key() {
    let (packed, replies) = lookup(&[key(1), key(2)], false);
    let text = String::from_utf8(packed).unwrap();
    let k1 = String::from_utf8(redis_key(&key(1))).unwrap();
    let k2 = String::from_utf8(redis_key(&key(2))).unwrap();
    assert_eq!(text, format!("*3\r\n$4\r\nMGET\r\n$41\r\n{k1}\r\n$41\r\n{k2}\r\n"));
    assert_eq!(replies, 1);
}

#[test]
fn a_single_use_lookup_takes_the_once_keys_first_in_the_same_round_trip() {
    let (packed, replies) = lookup(&[key(1)], true);
    let text = String::from_utf8(packed).unwrap();
    let once = String::from_utf8(once_key(&key(1))).unwrap();
    let plain = String::from_utf8(redis_key(&key(1))).unwrap();
    assert!(once.starts_with("sesscb:once:") && once.len() == 12 + 34);
    let want = format!("*2\r\n$6\r\nGETDEL\r\n$46\r\n{once}\r\n*2\r\n$4\r\nMGET\r\n$41\r\n{plain}\r\n");
    assert_eq!(text, want);
    assert_eq!(replies, 2);
}

#[test]
fn a_taken_value_comes_before_a_read_one() {
    let bulk = |b: &[u8]| Value::BulkString(b.to_vec());
    let read = Value::Array(vec![bulk(b"r")]);
    assert_eq!(found_in(vec![bulk(b"t"), read.clone()], 1), Ok(Some((0, b"t".to_vec(), true))));
    assert_eq!(found_in(vec![Value::Nil, read.clone()], 1), Ok(Some((0, b"r".to_vec(), false))));
    assert_eq!(found_in(vec![read], 1), Ok(Some((0, b"r".to_vec(), false))));
    assert_eq!(found_in(vec![Value::Nil, Value::Array(vec![Value::Nil])], 1), Ok(None));
    assert_eq!(found_in(vec![Value::Int(1), Value::Array(vec![Value::Nil])], 1), Err(Failure::Protocol));
    assert_eq!(found_in(vec![], 1), Err(Failure::Protocol));
}

#[test]
fn the_first_value_found_wins_and_nils_are_a_miss() {
    let bulk = |b: &[u8]| Value::BulkString(b.to_vec());
    assert_eq!(found(Value::Array(vec![Value::Nil, Value::Nil]), 2), Ok(None));
    assert_eq!(found(Value::Array(vec![Value::Nil, bulk(b"v2")]), 2), Ok(Some((1, b"v2".to_vec()))));
    assert_eq!(found(Value::Array(vec![bulk(b"a"), bulk(b"b")]), 2), Ok(Some((0, b"a".to_vec()))));
}

#[test]
fn any_other_reply_is_a_failure_never_a_hit() {
    let cases = [
        Value::Array(vec![Value::Nil]),
        Value::Array(vec![Value::Int(3), Value::Nil]),
        Value::BulkString(b"x".to_vec()),
        Value::Okay,
        Value::Nil,
    ];
    for reply in cases {
        assert_eq!(found(reply.clone(), 2), Err(Failure::Protocol), "{reply:?}");
    }
    let error = redis::parse_redis_value(b"-ERR nope\r\n").unwrap();
    assert_eq!(found(error, 1), Err(Failure::Server));
}

#[test]
fn writes_are_set_pxat_nx_and_del_in_order() {
    let w = [
        out(Write::Put { key: key(1), value: vec![0, 1, 2], expiry: 1_700_000_000 }, false),
        out(Write::Delete(key(2)), false),
        out(Write::Put { key: key(3), value: vec![9], expiry: 1 }, true),
    ];
    let text = String::from_utf8_lossy(&writes(&w)).into_owned();
    let once3 = String::from_utf8(once_key(&key(3))).unwrap();
    let del2 = format!(
        "DEL\r\n$41\r\n{}\r\n$46\r\n{}\r\n",
        String::from_utf8(redis_key(&key(2))).unwrap(),
        String::from_utf8(once_key(&key(2))).unwrap()
    );
    assert!(text.contains(&del2), "a delete removes either kind: {text:?}");
    assert!(text.contains(&format!("SET\r\n$46\r\n{once3}\r\n")), "{text:?}");
    let set_at = text.find("SET").unwrap();
    let del_at = text.find("DEL").unwrap();
    assert!(set_at < del_at);
    assert!(
        text.contains("$3\r\n\u{0}\u{1}\u{2}\r\n$4\r\nPXAT\r\n$13\r\n1700000000000\r\n$2\r\nNX\r\n"),
        "{text:?}"
    );
}

#[test]
fn a_put_is_applied_when_stored_or_already_there() {
    let w = [
        out(Write::Put { key: key(1), value: vec![1], expiry: 1 }, false),
        out(Write::Put { key: key(2), value: vec![1], expiry: 1 }, true),
        out(Write::Put { key: key(3), value: vec![1], expiry: 1 }, false),
        out(Write::Delete(key(4)), false),
        out(Write::Delete(key(5)), false),
    ];
    let oom = redis::parse_redis_value(b"-OOM command not allowed\r\n").unwrap();
    let replies = [Value::Okay, Value::Nil, oom, Value::Int(0), Value::Okay];
    assert_eq!(applied(&w, &replies), [true, true, false, true, false]);
}

#[test]
fn a_cluster_lookup_gets_each_tagged_key_after_taking_the_once_forms() {
    let (packed, replies) = lookup_each(&[key(1), key(2)], true);
    assert_eq!(replies, 4);
    let text = String::from_utf8(packed).unwrap();
    let hex = "01".repeat(17);
    assert!(text.starts_with(&format!("*2\r\n$6\r\nGETDEL\r\n$48\r\nsesscb:once:{{{hex}}}\r\n")), "{text}");
    assert!(text.contains(&format!("*2\r\n$3\r\nGET\r\n$43\r\nsesscb:{{{hex}}}\r\n")), "{text}");
    assert!(!text.contains("MGET"), "no multi-key command: a Cluster refuses one across slots");
    assert_eq!(lookup_each(&[key(1)], false).1, 1);
}

#[test]
fn cluster_replies_read_like_the_single_server_ones() {
    let bulk = |b: &[u8]| Value::BulkString(b.to_vec());
    assert_eq!(found_each(vec![Value::Nil, bulk(b"v")], 2), Ok(Some((1, b"v".to_vec(), false))));
    assert_eq!(
        found_each(vec![Value::Nil, bulk(b"t"), Value::Nil, bulk(b"v")], 2),
        Ok(Some((1, b"t".to_vec(), true)))
    );
    assert_eq!(found_each(vec![Value::Nil, Value::Nil], 2), Ok(None));
    assert_eq!(found_each(vec![Value::Nil], 2), Err(Failure::Protocol));
    let moved = redis::parse_redis_value(b"-MOVED 3999 127.0.0.1:7001\r\n").unwrap();
    assert_eq!(found_each(vec![moved.clone()], 1), Err(Failure::Server));
    assert!(redirected(&[Value::Nil, moved]));
    for text in [&b"-ASK 1 h:1\r\n"[..], b"-CLUSTERDOWN The cluster is down\r\n", b"-TRYAGAIN x\r\n"] {
        assert!(redirected(&[redis::parse_redis_value(text).unwrap()]), "{text:?}");
    }
    assert!(!redirected(&[redis::parse_redis_value(b"-ERR nope\r\n").unwrap(), Value::Okay]));
}

#[test]
fn cluster_writes_use_tagged_names_so_one_del_stays_in_one_slot() {
    let w =
        [out(Write::Put { key: key(1), value: vec![9], expiry: 5 }, true), out(Write::Delete(key(2)), false)];
    let text = String::from_utf8(writes_named(&w, Naming::Tagged)).unwrap();
    let (one, two) = ("01".repeat(17), "02".repeat(17));
    assert!(
        text.contains(&format!(
            "sesscb:once:{{{one}}}\r\n$1\r\n\x09\r\n$4\r\nPXAT\r\n$4\r\n5000\r\n$2\r\nNX"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("$3\r\nDEL\r\n$43\r\nsesscb:{{{two}}}\r\n$48\r\nsesscb:once:{{{two}}}\r\n")),
        "{text}"
    );
    assert_eq!(writes_named(&w, Naming::Plain), writes(&w));
}
