//! `sesscb` command tests, on scratch files.

use super::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sesscb-cli-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).unwrap();
    dir
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn keygen_makes_a_private_keyring_and_never_overwrites() {
    let dir = scratch("keygen");
    let path = dir.join("ring");
    let p = path.to_str().unwrap();
    run(&args(&["keygen", p])).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let (ring, _) = keysource::load_file(&path).unwrap();
    assert_eq!(ring.keys().len(), 1);
    assert!(matches!(run(&args(&["keygen", p])), Err(Failure::Failed(why)) if why.contains("--rotate")));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rotate_adds_a_current_key_and_keeps_the_mode() {
    let dir = scratch("rotate");
    let path = dir.join("ring");
    let p = path.to_str().unwrap();
    run(&args(&["keygen", p])).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(&args(&["keygen", "--rotate", "--retire-after", "3600", p])).unwrap();
    assert!(out.contains("key 2 added"), "{out}");
    let (ring, _) = keysource::load_file(&path).unwrap();
    let now = unix_now();
    assert_eq!(ring.current(now).unwrap().id, 2);
    assert!(ring.keys()[0].not_after.is_some_and(|end| end >= now + 3599));
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stats_reads_the_embedded_tier() {
    let base = scratch("stats");
    let env = location::env_dir(&base, 4242, "web");
    location::ensure_private_dir(&env, 0).unwrap();
    let tier = lmdb::Tier::open(&env, 1 << 20).unwrap();
    tier.put(&[1; 17], b"v", u64::MAX, 0).unwrap();
    drop(tier);
    let b = base.to_str().unwrap();
    let out = run(&args(&["stats", "--dir", b, "--domain", "web", "--uid", "4242", "--json"])).unwrap();
    assert!(out.contains("\"entries\":1,"), "{out}");
    let table = run(&args(&["stats", "--dir", b, "--domain", "web", "--uid", "4242"])).unwrap();
    assert!(table.contains("entries     1"), "{table}");
    let missing = run(&args(&["stats", "--dir", b, "--domain", "mail", "--uid", "4242"]));
    assert!(matches!(missing, Err(Failure::Failed(why)) if why.contains("no store")));
    fs::remove_dir_all(&base).unwrap();
}

#[test]
fn bad_usage_is_reported_as_such() {
    for bad in [
        &["frobnicate"][..],
        &[],
        &["keygen"],
        &["keygen", "--retire-after", "5", "x"],
        &["stats", "--uid", "x"],
    ] {
        assert!(matches!(run(&args(bad)), Err(Failure::Usage(_))), "{bad:?}");
    }
}

#[test]
fn stats_shows_the_folded_counters_of_every_process() {
    let base = scratch("stats-counters");
    let env = location::env_dir(&base, 4242, "web");
    location::ensure_private_dir(&env, 0).unwrap();
    let tier = lmdb::Tier::open(&env, 1 << 20).unwrap();
    tier.add_totals(&[("stores.ok".into(), 5), ("lookups.local_hit".into(), 3)]).unwrap();
    tier.add_totals(&[("stores.ok".into(), 2), ("lookups.miss".into(), 1)]).unwrap();
    drop(tier);
    let b = base.to_str().unwrap();
    let out = run(&args(&["stats", "--dir", b, "--domain", "web", "--uid", "4242", "--json"])).unwrap();
    assert!(out.contains("\"entries\":0,"), "{out}");
    assert!(out.contains("\"stores\":{\"ok\":7,\"too_large\":0,"), "{out}");
    assert!(out.contains("\"lookups\":{\"app_hit\":0,\"local_hit\":3,\"miss\":1,"), "{out}");
    assert!(
        out.contains("\"removes\":{\"propagated\":0,\"ignored\":0,\"rate_limited\":0,\"error\":0}"),
        "{out}"
    );
    let table = run(&args(&["stats", "--dir", b, "--domain", "web", "--uid", "4242"])).unwrap();
    assert!(table.lines().any(|l| l.split_whitespace().eq(["stores", "ok", "7"])), "{table}");
    assert!(table.lines().any(|l| l.split_whitespace().eq(["lookups", "local_hit", "3"])), "{table}");
    fs::remove_dir_all(&base).unwrap();
}

#[test]
fn stats_shows_the_redis_lookup_histogram_once_a_process_used_redis() {
    let base = scratch("stats-latency");
    let env = location::env_dir(&base, 4243, "web");
    location::ensure_private_dir(&env, 0).unwrap();
    let add = |totals: &[(String, u64)]| lmdb::Tier::open(&env, 1 << 20).unwrap().add_totals(totals).unwrap();
    add(&[("stores.ok".into(), 1)]);
    let b = base.to_str().unwrap();
    let stats = |extra: &[&str]| {
        let mut list = vec!["stats", "--dir", b, "--domain", "web", "--uid", "4243"];
        list.extend(extra);
        run(&args(&list)).unwrap()
    };
    assert!(!stats(&["--json"]).contains("redis_lookup_latency"), "no Redis, no histogram");
    add(&[("redis_lookup_latency.le_100us".into(), 4), ("redis_lookup_latency.le_inf".into(), 6)]);
    add(&[("redis_lookup_latency.le_3000us".into(), 5), ("redis_lookup_latency.le_inf".into(), 1)]);
    let json = stats(&["--json"]);
    assert!(
        json.contains(
            ",\"redis_lookup_latency\":{\"le_100us\":4,\"le_250us\":0,\"le_500us\":0,\"le_1000us\":0,\
             \"le_2000us\":0,\"le_3000us\":5,\"le_5000us\":0,\"le_inf\":7}}"
        ),
        "{json}"
    );
    let table = stats(&[]);
    assert!(table.lines().any(|l| l.split_whitespace().eq(["le_inf", "7"])), "{table}");
    fs::remove_dir_all(&base).unwrap();
}
