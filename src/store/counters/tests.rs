use super::*;

#[test]
fn every_field_is_in_the_table_once_and_in_order() {
    let c = Counters::new();
    for (i, (_, _, counter)) in c.fields().into_iter().enumerate() {
        counter.fetch_add(i as u64 + 1, Relaxed);
    }
    let snap = c.snapshot();
    assert_eq!(snap.to_vec(), (1..=COUNT as u64).collect::<Vec<_>>());
    let mut keys: Vec<String> = labels().iter().map(|(f, o)| key(*f, o)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), COUNT, "two counters share a name");
    c.reset();
    assert_eq!(c.snapshot(), [0; COUNT]);
}

#[test]
fn the_design_outcomes_have_their_names() {
    let names: Vec<String> = labels().iter().map(|(f, o)| key(*f, o)).collect();
    for want in [
        "lookups.app_hit",
        "lookups.local_hit",
        "lookups.miss",
        "lookups.error",
        "lookups.auth_fail",
        "lookups.incompatible",
        "lookups.expired",
        "stores.ok",
        "stores.too_large",
        "stores.skipped_tls13_stateless",
        "stores.skipped_no_id",
        "stores.backend_error",
        "removes.propagated",
        "removes.ignored",
        "lookups.remote_hit",
        "lookups.timeout",
        "lookups.breaker_open",
        "lookups.remote_error",
        "lookups.unavailable",
        "stores.remote_ok",
        "stores.remote_error",
        "lookups.rate_limited",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
}

#[test]
fn fill_stats_puts_each_counter_in_its_own_field() {
    // The global counters: other tests may count concurrently, so compare
    // each field with a snapshot taken around it, by distinct amounts.
    let before = COUNTERS.snapshot();
    for (i, (_, _, counter)) in COUNTERS.fields().into_iter().enumerate() {
        add(counter, 1000 * (i as u64 + 1));
    }
    let mut view = sesscb_stats::default();
    fill_stats(&mut view);
    let got = [
        view.store_lookups_app_hit,
        view.store_lookups_local_hit,
        view.store_lookups_miss,
        view.store_lookups_error,
        view.store_lookups_auth_fail,
        view.store_lookups_incompatible,
        view.store_lookups_expired,
        view.store_stores_ok,
        view.store_stores_too_large,
        view.store_stores_skipped_tls13_stateless,
        view.store_stores_skipped_no_id,
        view.store_stores_backend_error,
        view.store_stores_queue_dropped,
        view.store_removes_propagated,
        view.store_removes_ignored,
        view.store_removes_rate_limited,
        view.store_removes_error,
        view.tickets_issued,
        view.tickets_decrypted,
        view.tickets_renewed,
        view.tickets_expired,
        view.tickets_unknown,
        view.tickets_app_keys,
        view.tickets_fallback,
        view.store_lookups_remote_hit,
        view.store_lookups_timeout,
        view.store_lookups_breaker_open,
        view.store_lookups_remote_error,
        view.store_lookups_unavailable,
        view.store_stores_remote_ok,
        view.store_stores_remote_error,
        view.store_lookups_rate_limited,
        view.tickets_redis_fetched,
        view.tickets_redis_created,
        view.tickets_redis_rejected,
        view.tickets_redis_error,
        view.store_evictions,
    ];
    for (i, (got, before)) in got.iter().zip(before).enumerate() {
        let added = got - before;
        // Concurrent tests add at most a few; ours added a distinct 1000s.
        assert_eq!(added / 1000, i as u64 + 1, "field {i}: {got} - {before}");
    }
}

#[test]
fn a_forked_child_starts_from_zero() {
    add(&COUNTERS.stores_ok, 5);
    let (mut fds, mut byte) = ([0; 2], [0u8; 1]);
    // SAFETY: a pipe and a fork; the child only loads atomics, writes one
    // byte and _exits.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        let pid = libc::fork();
        assert!(pid >= 0);
        if pid == 0 {
            let zero = COUNTERS.snapshot().iter().all(|&n| n == 0);
            libc::write(fds[1], [u8::from(zero)].as_ptr().cast(), 1);
            libc::_exit(0);
        }
        assert_eq!(libc::read(fds[0], byte.as_mut_ptr().cast(), 1), 1);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    assert_eq!(byte[0], 1, "the child inherited its parent's counts");
    assert!(COUNTERS.stores_ok.load(Relaxed) >= 5, "the parent lost its counts");
}
