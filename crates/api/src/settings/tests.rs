//! Unit tests of the settings: the shipped defaults load, and a bad value is refused with a
//! message naming its key.

use super::*;

/// The error for the defaults with `from` replaced by `to`.
fn error_for(from: &str, to: &str) -> String {
    assert!(DEFAULT_TOML.contains(from), "{from}");
    Settings::from_toml_str(&DEFAULT_TOML.replace(from, to))
        .unwrap_err()
        .to_string()
}

#[test]
fn default_toml_and_the_structs_agree() {
    // deny_unknown_fields + no serde defaults: any key in one but not the other fails here.
    let settings = Settings::from_toml_str(DEFAULT_TOML).unwrap();
    assert_eq!(settings.server.port, 8080);
    assert_eq!(settings.server.host, "127.0.0.1");
    assert_eq!(
        settings.database.url.expose(),
        "sqlite://data/modelshare.db?mode=rwc"
    );
    assert_eq!(
        settings.database.sqlite_synchronous,
        SqliteSynchronous::Full
    );
    assert_eq!(settings.log.format, LogFormat::Pretty);
    assert_eq!(settings.api.max_page_size.get(), 100);
    assert_eq!(settings.db_settings().max_connections, 8);
    let runner = settings.scheduler_settings();
    assert_eq!(runner.tick, Duration::from_millis(250));
    assert_eq!(runner.lease, Duration::from_secs(60));
}

#[test]
fn a_key_missing_from_the_file_is_reported() {
    let err = error_for("key_prefix = \"xero\"", "");
    assert!(err.contains("key_prefix"), "{err}");
}

#[test]
fn an_unknown_key_in_the_file_is_reported() {
    let err = error_for("[auth]", "[auth]\nkey_prefx = \"x\"");
    assert!(err.contains("key_prefx"), "{err}");
}

#[test]
fn bad_values_name_their_key() {
    for (from, to, key) in [
        ("level = \"info\"", "level = \"info,=bogus=\"", "log.level"),
        ("format = \"pretty\"", "format = \"fancy\"", "log.format"),
        ("port = 8080", "port = 70000", "port"),
        ("host = \"127.0.0.1\"", "host = \" \"", "server.host"),
        (
            "public_base_url = \"\"",
            "public_base_url = \"ftp://x\"",
            "server.public_base_url",
        ),
        (
            "sqlite_synchronous = \"full\"",
            "sqlite_synchronous = \"fast\"",
            "database.sqlite_synchronous",
        ),
        (
            "key_prefix = \"xero\"",
            "key_prefix = \"xe_ro\"",
            "auth.key_prefix",
        ),
        (
            "max_page_size = 100",
            "max_page_size = 0",
            "api.max_page_size",
        ),
        (
            "max_page_size = 100",
            "max_page_size = 1001",
            "api.max_page_size",
        ),
        (
            "default_page_size = 20",
            "default_page_size = 101",
            "api.default_page_size",
        ),
        (
            "client_header_timeout_ms = 5000",
            "client_header_timeout_ms = 0",
            "server.client_header_timeout_ms",
        ),
        (
            "url = \"sqlite://data/modelshare.db?mode=rwc\"",
            "url = \"mysql://x\"",
            "database.url",
        ),
        (
            "min_connections = 1",
            "min_connections = 9",
            "database.min_connections",
        ),
        (
            "per_key_burst = 200",
            "per_key_burst = 0",
            "rate_limit.per_key_burst",
        ),
        (
            "tick_interval_ms = 250",
            "tick_interval_ms = 5",
            "schedules.tick_interval_ms",
        ),
        (
            "tick_interval_ms = 250",
            "tick_interval_ms = 1001",
            "schedules.tick_interval_ms",
        ),
        ("lease_secs = 60", "lease_secs = 30", "schedules.lease_secs"),
    ] {
        let err = error_for(from, to);
        assert!(err.contains(key), "{key}: {err}");
    }
}

#[test]
fn every_value_that_must_be_positive_refuses_zero_naming_its_key() {
    for (from, key) in [
        ("body_limit_bytes = 65536", "server.body_limit_bytes"),
        ("request_timeout_ms = 30000", "server.request_timeout_ms"),
        (
            "client_header_timeout_ms = 5000",
            "server.client_header_timeout_ms",
        ),
        ("max_connections = 8", "database.max_connections"),
        ("connect_timeout_ms = 5000", "database.connect_timeout_ms"),
        ("acquire_timeout_ms = 3000", "database.acquire_timeout_ms"),
        (
            "statement_timeout_ms = 5000",
            "database.statement_timeout_ms",
        ),
        ("retry_after_secs = 1", "database.retry_after_secs"),
        ("writer_stall_ms = 10000", "database.writer_stall_ms"),
        ("default_page_size = 20", "api.default_page_size"),
        ("poll_interval_ms = 200", "catalog.poll_interval_ms"),
        ("idle_timeout_ms = 60000", "actors.idle_timeout_ms"),
        ("lease_secs = 60", "schedules.lease_secs"),
    ] {
        let (name, _) = from.split_once(" = ").unwrap();
        let err = error_for(from, &format!("{name} = 0"));
        assert!(
            err.contains(&format!("for key `{key}`")) && err.contains("nonzero"),
            "{key}: {err}"
        );
    }
}

#[test]
fn a_closed_set_lists_its_values() {
    let err = error_for(
        "sqlite_synchronous = \"full\"",
        "sqlite_synchronous = \"fast\"",
    );
    assert_eq!(
        err,
        "configuration: invalid value: string \"fast\", expected one of off, normal, full, extra \
         for key `database.sqlite_synchronous`"
    );
    let err = error_for("format = \"pretty\"", "format = \"xml\"");
    assert!(err.contains("expected one of pretty, json"), "{err}");
}

#[test]
fn zero_rate_limits_are_refused_only_while_rate_limiting_is_on() {
    let zero = DEFAULT_TOML.replace("per_key_burst = 200", "per_key_burst = 0");
    assert!(Settings::from_toml_str(&zero).is_err());
    let off = zero.replace("enabled = true", "enabled = false");
    assert_eq!(
        Settings::from_toml_str(&off)
            .unwrap()
            .rate_limit
            .per_key_burst,
        0
    );
}

#[test]
fn the_database_url_is_not_printed() {
    let text = DEFAULT_TOML.replace(
        "sqlite://data/modelshare.db?mode=rwc",
        "postgres://app:hunter2@db/modelshare",
    );
    let settings = Settings::from_toml_str(&text).unwrap();
    assert!(!format!("{settings:?}").contains("hunter2"));
    let bad = DEFAULT_TOML.replace(
        "sqlite://data/modelshare.db?mode=rwc",
        "mysql://app:hunter2@db/modelshare",
    );
    let err = Settings::from_toml_str(&bad).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
}
