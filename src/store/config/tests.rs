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
        (&[("SESSCB_STORE", "redis://127.0.0.1")], "SESSCB_STORE_KEYRING"),
        (&[("SESSCB_STORE", "local+redis://127.0.0.1")], "SESSCB_STORE_KEYRING"),
        (
            &[("SESSCB_STORE", "rediss://127.0.0.1"), RING, ("SESSCB_STORE_REDIS_CA_FILE", "/nonexistent")],
            "SESSCB_STORE_REDIS_CA_FILE",
        ),
        (
            &[("SESSCB_STORE", "rediss://127.0.0.1"), RING, ("SESSCB_STORE_REDIS_CA_FILE", "/dev/null")],
            "SESSCB_STORE_REDIS_CA_FILE",
        ),
        (&[("SESSCB_STORE", "redis+cluster://a,b,c")], "SESSCB_STORE_KEYRING"),
        (&[("SESSCB_STORE", "local+redis+cluster://a,b")], "SESSCB_STORE_KEYRING"),
        (&[("SESSCB_STORE", "redis+cluster://a,,c"), RING], "SESSCB_STORE"),
        (&[("SESSCB_STORE", "rediss+cluster://a,b,c"), RING], "SESSCB_STORE"),
        (&[("SESSCB_STORE", "redis://h:0"), RING], "SESSCB_STORE"),
        (&[("SESSCB_STORE", "redis://h"), RING, ("SESSCB_STORE_TIMEOUT_MS", "0")], "SESSCB_STORE_TIMEOUT_MS"),
        (
            &[("SESSCB_STORE", "redis://h"), RING, ("SESSCB_STORE_TIMEOUT_MS", "2.5")],
            "SESSCB_STORE_TIMEOUT_MS",
        ),
        (
            &[("SESSCB_STORE", "redis://h"), RING, ("SESSCB_STORE_SINGLE_USE", "tls12")],
            "SESSCB_STORE_SINGLE_USE",
        ),
        (&[local, ("SESSCB_STORE_SINGLE_USE", "tls13")], "SESSCB_STORE_SINGLE_USE"),
        (
            &[("SESSCB_STORE", "redis://h"), RING, ("SESSCB_STORE_REDIS_PASSWORD_FILE", "/nonexistent/pw")],
            "SESSCB_STORE_REDIS_PASSWORD_FILE",
        ),
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

const RING: (&str, &str) = ("SESSCB_STORE_KEYRING", "/etc/sesscb/keyring");

fn redis_settings(vars: &[(&str, &str)]) -> RedisSettings {
    match read(vars).unwrap().unwrap().backend {
        Backend::Redis(settings) => settings,
        other => panic!("{other:?}"),
    }
}

#[test]
fn redis_backends_with_a_keyring() {
    let r = redis_settings(&[("SESSCB_STORE", "redis://10.1.2.3:7000/2"), RING]);
    assert_eq!(r.target.to_string(), "10.1.2.3:7000/2");
    assert!(!r.with_local);
    assert_eq!(r.timeout, Duration::from_millis(2));
    assert!(!r.single_use_tls13);
    assert_eq!(r.lookups_per_second, 0, "no cap unless asked");
    let capped = [("SESSCB_STORE", "redis://h"), RING, ("SESSCB_STORE_REDIS_LOOKUPS_PER_SECOND", "500")];
    assert_eq!(redis_settings(&capped).lookups_per_second, 500);
    assert!(
        redis_settings(&[("SESSCB_STORE", "redis://h"), RING, ("SESSCB_STORE_SINGLE_USE", "tls13")])
            .single_use_tls13
    );
    let r = redis_settings(&[("SESSCB_STORE", "local+redis://h"), RING, ("SESSCB_STORE_TIMEOUT_MS", "5")]);
    assert!(r.with_local && Backend::Redis(r.clone()).uses_local());
    assert_eq!(r.timeout, Duration::from_millis(5));
    let r = redis_settings(&[("SESSCB_STORE", "unix:///run/r.sock?db=1"), RING]);
    assert_eq!(r.target.to_string(), "/run/r.sock?db=1");
    assert!(!Backend::Redis(r).uses_local() && Backend::Local.uses_local());
    let r = redis_settings(&[("SESSCB_STORE", "local+redis+cluster://u:pw@h1:7000,h2:7001"), RING]);
    assert!(r.with_local && r.target.is_cluster());
    assert_eq!(r.target.seeds.len(), 2);
    assert_eq!(r.target.password.as_ref().map(|p| p.expose()), Some("pw"));
}

#[test]
fn a_password_file_replaces_the_url_password_and_is_never_shown() {
    let dir = std::env::temp_dir().join(format!("sesscb-config-pw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pw");
    std::fs::write(&file, "s3cr3t-from-file\nignored\n").unwrap();
    let vars = [
        ("SESSCB_STORE", "redis://u:in-url@h"),
        RING,
        ("SESSCB_STORE_REDIS_PASSWORD_FILE", file.to_str().unwrap()),
    ];
    let r = redis_settings(&vars);
    assert_eq!(r.target.password.as_ref().map(|p| p.expose()), Some("s3cr3t-from-file"));
    assert!(!format!("{:?}", read(&vars)).contains("s3cr3t"));
    std::fs::write(&file, "").unwrap();
    let err = refused(&vars);
    assert_eq!(err.variable, "SESSCB_STORE_REDIS_PASSWORD_FILE");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_refused_redis_url_never_echoes_its_password() {
    for url in ["redis://u:TopSecret@h:99999", "redis://u:TopSecret@", "bogus://u:TopSecret@h"] {
        let err = refused(&[("SESSCB_STORE", url), RING]);
        assert!(!err.to_string().contains("TopSecret"), "{err}");
    }
}

#[test]
fn rediss_reads_its_certificates_once() {
    let dir = std::env::temp_dir().join(format!("sesscb-config-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ca.pem");
    // Any DER inside PEM armour is a certificate to the parser; the TLS
    // handshake is what checks it.
    std::fs::write(&file, "-----BEGIN CERTIFICATE-----\nAAECAw==\n-----END CERTIFICATE-----\n").unwrap();
    let r = redis_settings(&[
        ("SESSCB_STORE", "local+rediss://h:6380"),
        RING,
        ("SESSCB_STORE_REDIS_CA_FILE", file.to_str().unwrap()),
    ]);
    assert!(r.target.tls && r.with_local);
    assert_eq!(r.ca_certs.len(), 1);
    assert_eq!(r.ca_certs[0].as_ref(), &[0, 1, 2, 3]);
    assert!(redis_settings(&[("SESSCB_STORE", "redis://h"), RING]).ca_certs.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
