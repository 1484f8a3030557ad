//! URL parsing: every accepted form, and refusals that never repeat a
//! password.

use super::*;

fn tcp(host: &str, port: u16) -> Address {
    Address::Tcp { host: host.into(), port }
}

#[test]
fn host_port_and_database_with_their_defaults() {
    let t = parse("redis://127.0.0.1").unwrap();
    assert_eq!(
        t,
        Target {
            address: tcp("127.0.0.1", 6379),
            tls: false,
            db: 0,
            user: None,
            password: None,
            seeds: vec![]
        }
    );
    let t = parse("redis://cache.internal:7000/3").unwrap();
    assert_eq!((t.address, t.db), (tcp("cache.internal", 7000), 3));
    let t = parse("redis://[::1]:6380/").unwrap();
    assert_eq!((t.address, t.db), (tcp("::1", 6380), 0));
    assert_eq!(parse("redis://[::1]").unwrap().address, tcp("::1", 6379));
}

#[test]
fn user_and_password_are_percent_decoded() {
    let t = parse("redis://fleet:p%40ss%3Aw0rd@10.0.0.1:6379/1").unwrap();
    assert_eq!(t.user.as_deref(), Some("fleet"));
    assert_eq!(t.password.as_ref().map(Secret::expose), Some("p@ss:w0rd"));
    let t = parse("redis://:onlypass@h").unwrap();
    assert_eq!((t.user, t.password.map(|p| p.expose().to_string())), (None, Some("onlypass".into())));
    let t = parse("redis://someone@h").unwrap();
    assert_eq!((t.user.as_deref(), t.password), (Some("someone"), None));
    // An '@' inside the password is fine: the last one ends the user part.
    assert_eq!(parse("redis://u:a@b@h").unwrap().password.unwrap().expose(), "a@b");
}

#[test]
fn unix_sockets_with_an_optional_database() {
    let t = parse("unix:///run/redis/redis.sock").unwrap();
    assert_eq!((t.address, t.db), (Address::Unix("/run/redis/redis.sock".into()), 0));
    assert_eq!(parse("unix:///tmp/r.sock?db=5").unwrap().db, 5);
    assert!(parse("unix://relative.sock").is_err());
    assert!(parse("unix:///tmp/r.sock?timeout=1").is_err());
}

#[test]
fn bad_parts_are_refused() {
    for url in [
        "redis://",
        "redis://:6379",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:port",
        "redis://h/x",
        "redis://h/-1",
        "redis://[::1",
        "redis://h o",
        "redis://u:%zz@h",
        "memcached://h",
    ] {
        assert!(parse(url).is_err(), "{url}");
    }
}

#[test]
fn a_password_appears_in_no_message_and_no_debug_output() {
    let secret = "hunter2-SECRET";
    for url in [
        format!("redis://u:{secret}@h:99999"),
        format!("redis://u:{secret}@h/notadb"),
        format!("redis://u:{secret}@"),
        format!("redis://u:{secret}%@h"),
    ] {
        let why = parse(&url).expect_err("refused");
        assert!(!why.contains(secret) && !why.contains("hunter"), "{why}");
    }
    let t = parse(&format!("redis://u:{secret}@h")).unwrap();
    assert!(!format!("{t:?}").contains(secret));
    assert!(!t.to_string().contains(secret));
    assert_eq!(t.to_string(), "h:6379/0");
}

#[test]
fn rediss_is_the_same_over_tls() {
    let t = parse("rediss://u:pw@cache.internal:6380/1").unwrap();
    assert!(t.tls);
    assert_eq!((t.address, t.db, t.user.as_deref()), (tcp("cache.internal", 6380), 1, Some("u")));
    assert!(!parse("redis://h").unwrap().tls && !parse("unix:///r.sock").unwrap().tls);
    assert_eq!(parse("rediss://h").unwrap().to_string(), "h:6379/0 (TLS)");
}

#[test]
fn a_cluster_url_lists_its_seeds_with_shared_credentials() {
    let t = parse("redis+cluster://fleet:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]").unwrap();
    assert!(t.is_cluster() && !t.tls);
    assert_eq!(t.seeds, vec![tcp("10.0.0.1", 7000), tcp("10.0.0.2", 7001), tcp("::1", 6379)]);
    assert_eq!(t.address, tcp("10.0.0.1", 7000));
    assert_eq!((t.user.as_deref(), t.password.as_ref().map(Secret::expose)), (Some("fleet"), Some("p@ss")));
    assert_eq!(parse("redis+cluster://h/0").unwrap().seeds, vec![tcp("h", 6379)]);
    assert!(!parse("redis://h").unwrap().is_cluster());
    // A node keeps the credentials and is one server.
    let node = t.at("10.0.0.3", 7002);
    assert!(!node.is_cluster());
    assert_eq!((node.address, node.password), (tcp("10.0.0.3", 7002), t.password));
}

#[test]
fn bad_cluster_urls_are_refused_in_one_line_without_the_password() {
    for url in [
        "redis+cluster://",
        "redis+cluster://h1,,h2",
        "redis+cluster://h1,h2:0",
        "redis+cluster://h1:7000,h 2",
        "redis+cluster://h1,h2/3",
        "redis+cluster://u:hunter2@h1:x",
    ] {
        let why = parse(url).expect_err(url);
        assert!(!why.contains('\n') && !why.contains("hunter2"), "{url}: {why}");
    }
    assert!(parse("rediss+cluster://h1,h2").unwrap_err().contains("not in this build"));
    let many = vec!["h:1"; MAX_SEEDS + 1].join(",");
    assert!(parse(&format!("redis+cluster://{many}")).is_err());
    let t = parse("redis+cluster://u:hunter2@h1:7000,h2").unwrap();
    assert_eq!(t.to_string(), "cluster of 2 seed(s) from h1:7000/0");
    assert!(!format!("{t:?}").contains("hunter2"));
}
