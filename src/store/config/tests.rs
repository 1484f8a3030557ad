//! Configuration tests: defaults, every accepted form, and one clear
//! refusal for each bad value.

use super::*;

fn read(vars: &[(&str, &str)]) -> Result<Option<Config>, ConfigError> {
    let table: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    from_vars(|name| table.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()), "nginx")
}

fn refused(vars: &[(&str, &str)]) -> ConfigError {
    read(vars).expect_err("refused")
}

#[test]
fn off_unless_asked() {
    assert_eq!(read(&[]).unwrap(), None);
    assert_eq!(read(&[("SESSCB_STORE", "off")]).unwrap(), None);
    assert_eq!(read(&[("SESSCB_STORE", "")]).unwrap(), None);
    // Store settings without SESSCB_STORE are ignored, not an error.
    assert_eq!(read(&[("SESSCB_STORE_MODE", "bogus")]).unwrap(), None);
}

#[test]
fn defaults() {
    let config = read(&[("SESSCB_STORE", "local")]).unwrap().unwrap();
    assert_eq!(config.backend, Backend::Local);
    assert_eq!(config.mode, Mode::Auto);
    assert_eq!(config.domain, "nginx");
    assert_eq!(config.map_size, 64 << 20);
    assert_eq!(config.limits, Limits { max_ttl: 86_400, max_lifetime: 86_400 });
    assert_eq!(config.max_entry, 16 << 10);
    assert!(!config.force_stateful_tls13);
    assert_eq!((config.dir, config.keyring, config.metrics_file), (None, None, None));
}

#[test]
fn accepted_forms() {
    let config = read(&[
        ("SESSCB_STORE", "local"),
        ("SESSCB_STORE_MODE", "provide"),
        ("SESSCB_STORE_DOMAIN", "web-fleet.1"),
        ("SESSCB_STORE_SIZE", "8M"),
        ("SESSCB_STORE_MAX_TTL", "5m"),
        ("SESSCB_STORE_MAX_LIFETIME", "12h"),
        ("SESSCB_STORE_MAX_ENTRY", "4k"),
        ("SESSCB_STORE_FORCE_STATEFUL_TLS13", "1"),
        ("SESSCB_STORE_DIR", "/run/x"),
        ("SESSCB_STORE_KEYRING", "/etc/sesscb/keyring"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(config.mode, Mode::Provide);
    assert_eq!(config.domain, "web-fleet.1");
    assert_eq!(config.map_size, 8 << 20);
    assert_eq!(config.limits, Limits { max_ttl: 300, max_lifetime: 43_200 });
    assert_eq!(config.max_entry, 4096);
    assert!(config.force_stateful_tls13);
    assert_eq!(config.dir, Some(PathBuf::from("/run/x")));
}

#[test]
fn every_bad_value_is_named_in_one_line() {
    let local = ("SESSCB_STORE", "local");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("SESSCB_STORE", "memcached://x")], "SESSCB_STORE"),
        (&[("SESSCB_STORE", "redis://127.0.0.1")], "SESSCB_STORE"),
        (&[local, ("SESSCB_STORE_MODE", "sometimes")], "SESSCB_STORE_MODE"),
        (&[local, ("SESSCB_STORE_SIZE", "0")], "SESSCB_STORE_SIZE"),
        (&[local, ("SESSCB_STORE_SIZE", "1K")], "SESSCB_STORE_SIZE"),
        (&[local, ("SESSCB_STORE_SIZE", "lots")], "SESSCB_STORE_SIZE"),
        (&[local, ("SESSCB_STORE_SIZE", "99999999999999999999G")], "SESSCB_STORE_SIZE"),
        (&[local, ("SESSCB_STORE_MAX_TTL", "0")], "SESSCB_STORE_MAX_TTL"),
        (&[local, ("SESSCB_STORE_MAX_LIFETIME", "1w")], "SESSCB_STORE_MAX_LIFETIME"),
        (&[local, ("SESSCB_STORE_FORCE_STATEFUL_TLS13", "maybe")], "SESSCB_STORE_FORCE_STATEFUL_TLS13"),
        (&[local, ("SESSCB_STORE_DOMAIN", "../etc")], "SESSCB_STORE_DOMAIN"),
        (&[local, ("SESSCB_STORE_DOMAIN", "a/b")], "SESSCB_STORE_DOMAIN"),
    ];
    for (vars, variable) in cases {
        let err = refused(vars);
        assert_eq!(err.variable, *variable, "{vars:?}");
        let line = err.to_string();
        assert!(!line.contains('\n') && line.starts_with(variable), "{line}");
    }
}

#[test]
fn unprintable_values_are_not_echoed_raw() {
    let err = refused(&[("SESSCB_STORE", "local\u{1b}[31m\nx")]);
    assert!(!err.to_string().contains('\u{1b}') && !err.to_string().contains('\n'), "{err}");
}

#[test]
fn an_odd_executable_name_falls_back_to_a_plain_domain() {
    let config =
        from_vars(|n| (n == "SESSCB_STORE").then(|| "local".into()), "we ird/name").unwrap().unwrap();
    assert_eq!(config.domain, "default");
}
