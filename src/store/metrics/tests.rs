use super::*;
use crate::store::counters::COUNT;

fn counts() -> Snapshot {
    std::array::from_fn(|i| 10 + i as u64)
}

/// Every sample line as (name with labels, value).
fn samples(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("name value");
            (name.to_string(), value.parse().expect("an integer"))
        })
        .collect()
}

#[test]
fn renders_each_counter_with_its_outcome_and_pid() {
    let text = render(77, &counts(), None, None);
    let s = samples(&text);
    let labels = counters::labels();
    let local_hit = labels.iter().position(|(_, o)| *o == "local_hit").unwrap();
    assert!(s.contains(&(
        "sesscb_store_lookups_total{pid=\"77\",outcome=\"local_hit\"}".into(),
        10 + local_hit as u64
    )));
    let ok = labels.iter().position(|(f, o)| *f == Family::Stores && *o == "ok").unwrap();
    assert!(s.contains(&("sesscb_store_stores_total{pid=\"77\",outcome=\"ok\"}".into(), 10 + ok as u64)));
    let ignored = labels.iter().position(|(f, o)| *f == Family::Removes && *o == "ignored").unwrap();
    assert!(s.contains(&(
        "sesscb_store_removes_total{pid=\"77\",outcome=\"ignored\"}".into(),
        10 + ignored as u64
    )));
    assert!(s.contains(&("sesscb_store_evictions_total{pid=\"77\"}".into(), 10 + COUNT as u64 - 1)));
    assert_eq!(s.len(), COUNT, "one sample per counter, no occupancy without a tier");
    assert!(!text.contains("sesscb_store_entries"));
}

#[test]
fn every_family_has_help_and_type_before_its_samples() {
    let o = Occupancy { entries: 3, bytes_used: 4096, map_size: 1 << 20, evictions: 0 };
    let text = render(1, &counts(), Some(o), None);
    let mut declared = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(matches!(kind, "counter" | "gauge"), "{line}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP");
            declared.push(name.to_string());
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(declared.last().map(String::as_str), Some(name), "{line} precedes its TYPE");
        }
    }
    assert!(samples(&text).contains(&("sesscb_store_entries{pid=\"1\"}".into(), 3)));
    assert!(samples(&text).contains(&("sesscb_store_used_bytes{pid=\"1\"}".into(), 4096)));
}

#[test]
fn percent_p_names_the_writer() {
    assert_eq!(expand(Path::new("/m/sesscb-%p.prom"), 42), PathBuf::from("/m/sesscb-42.prom"));
    assert_eq!(expand(Path::new("/m/sesscb.prom"), 42), PathBuf::from("/m/sesscb.prom"));
}

#[test]
fn the_file_is_replaced_whole_and_no_temporary_stays() {
    let dir = std::env::temp_dir().join(format!("sesscb-metrics-test-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).unwrap();
    let path = dir.join("m.prom");
    write_atomically(&path, "old\n").unwrap();
    write_atomically(&path, "new\n").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, FILE_MODE & !umask());
    let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("m.prom")]);
    assert!(write_atomically(&dir.join("missing/m.prom"), "x").is_err());
    fs::remove_dir_all(&dir).unwrap();
}

fn umask() -> u32 {
    // SAFETY: umask only swaps the process mask; restored at once.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old
    }
}

#[test]
fn a_redis_tier_adds_a_cumulative_latency_histogram_and_its_breaker_state() {
    use crate::store::redis_health::{BUCKETS, Health, Latency};
    let latency = Latency { buckets: [3, 0, 1, 0, 0, 2, 0, 1], sum_ns: 1_500_000 };
    assert_eq!(latency.buckets.len(), BUCKETS);
    let text = render(9, &counts(), None, Some(Health { latency, breaker: 1 }));
    assert!(text.contains("# TYPE sesscb_store_redis_lookup_seconds histogram"));
    for (le, n) in
        [("0.0001", 3), ("0.00025", 3), ("0.0005", 4), ("0.001", 4), ("0.003", 6), ("0.005", 6), ("+Inf", 7)]
    {
        let line = format!("sesscb_store_redis_lookup_seconds_bucket{{pid=\"9\",le=\"{le}\"}} {n}");
        assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
    }
    assert!(text.lines().any(|l| l == "sesscb_store_redis_lookup_seconds_sum{pid=\"9\"} 0.001500000"));
    assert!(text.lines().any(|l| l == "sesscb_store_redis_lookup_seconds_count{pid=\"9\"} 7"));
    assert!(text.lines().any(|l| l == "sesscb_store_redis_breaker_state{pid=\"9\"} 1"));
    assert!(
        !render(9, &counts(), None, None).contains("sesscb_store_redis_"),
        "no Redis tier, no Redis lines"
    );
}
