//! Typed, layered, validated configuration.
//!
//! Layers (each overrides the one before): `default.toml` (from the config folder, or the copy
//! built into the binary when the folder has none) → `{MODELSHARE_ENV}.toml` → `local.toml` →
//! environment variables `MODELSHARE__SECTION__KEY`. Every struct denies unknown keys and has no
//! serde defaults, so `config/default.toml` must name every setting and nothing else; a test
//! holds the two together.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;
use storage::{DbSettings, SqliteSynchronous};

/// The defaults, compiled in so the binary runs from any folder.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub api: ApiSettings,
    pub log: LogSettings,
    pub rate_limit: RateLimitSettings,
    pub actors: ActorSettings,
    pub catalog: CatalogSection,
    pub policies: PolicySettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub per_key_per_second: u32,
    pub per_key_burst: u32,
    pub anonymous_per_ip_per_second: u32,
    pub anonymous_per_ip_burst: u32,
    pub failed_auth_per_ip_per_minute: u32,
    pub failed_auth_per_ip_burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorSettings {
    pub idle_timeout_ms: u64,
}

/// `[catalog]` as the files say it; what the catalog crate gets is
/// [`Settings::catalog_settings`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSection {
    pub public_browse: bool,
    pub poll_interval_ms: u64,
    pub reconcile_interval_ms: u64,
    /// Bytes of rendered catalog pages kept (least recently used first out); 0 keeps none.
    pub page_cache_bytes: usize,
}

/// `[policies]`: the two chains, and one parameter table per policy (`[policies.NAME]`).
/// The names and parameters are checked against the policy registry when the service starts.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicySettings {
    pub share: Vec<String>,
    pub unshare: Vec<String>,
    #[serde(flatten)]
    pub params: std::collections::BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub body_limit_bytes: usize,
    pub request_timeout_ms: u64,
    pub client_header_timeout_ms: u64,
    pub shutdown_grace_secs: u64,
    pub keep_alive_secs: u64,
    pub public_base_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout_ms: u64,
    pub acquire_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub sqlite_busy_timeout_ms: u64,
    pub sqlite_synchronous: String,
    pub retry_after_secs: u64,
    pub writer_stall_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    pub default_page_size: u64,
    pub max_page_size: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A value that must not be printed (a database URL may hold a password).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: `{key}` {message}")]
    Invalid { key: &'static str, message: String },
    #[error("configuration: {0}")]
    Policy(String),
}

fn invalid(key: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        message: message.into(),
    }
}

impl Settings {
    /// Loads every layer from `dir` (default `./config`) and the environment, then validates.
    pub fn load(dir: Option<&Path>) -> Result<Self, SettingsError> {
        let dir = dir.map_or_else(|| PathBuf::from("config"), Path::to_path_buf);
        let default_file = dir.join("default.toml");
        let mut builder = Config::builder();
        builder = if default_file.is_file() {
            builder.add_source(File::from(default_file))
        } else {
            builder.add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
        };
        if let Ok(env) = std::env::var("MODELSHARE_ENV") {
            builder =
                builder.add_source(File::from(dir.join(format!("{env}.toml"))).required(false));
        }
        builder = builder
            .add_source(File::from(dir.join("local.toml")).required(false))
            .add_source(
                Environment::with_prefix("MODELSHARE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            );
        Self::from_config(builder.build()?)
    }

    /// Parses and validates TOML text alone (no files, no environment).
    pub fn from_toml_str(text: &str) -> Result<Self, SettingsError> {
        let config = Config::builder()
            .add_source(File::from_str(text, FileFormat::Toml))
            .build()?;
        Self::from_config(config)
    }

    fn from_config(config: Config) -> Result<Self, SettingsError> {
        let settings: Settings = config.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what the types alone cannot.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.server.host.trim().is_empty() {
            return Err(invalid("server.host", "must not be empty"));
        }
        if self.server.body_limit_bytes == 0 {
            return Err(invalid("server.body_limit_bytes", "must be at least 1"));
        }
        let base = &self.server.public_base_url;
        if !(base.is_empty() || base.starts_with("http://") || base.starts_with("https://")) {
            return Err(invalid(
                "server.public_base_url",
                "must be empty or start with http:// or https://",
            ));
        }
        let url = self.database.url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if self.database.min_connections > self.database.max_connections {
            return Err(invalid(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        for (key, value) in [
            (
                "database.connect_timeout_ms",
                self.database.connect_timeout_ms,
            ),
            (
                "database.acquire_timeout_ms",
                self.database.acquire_timeout_ms,
            ),
            (
                "database.statement_timeout_ms",
                self.database.statement_timeout_ms,
            ),
            ("database.retry_after_secs", self.database.retry_after_secs),
            ("database.writer_stall_ms", self.database.writer_stall_ms),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        self.sqlite_synchronous()?;
        let prefix = &self.auth.key_prefix;
        if prefix.is_empty()
            || prefix.len() > 16
            || !prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(invalid(
                "auth.key_prefix",
                "must be 1 to 16 ASCII letters or digits",
            ));
        }
        if !(1..=1000).contains(&self.api.max_page_size) {
            return Err(invalid("api.max_page_size", "must be between 1 and 1000"));
        }
        if !(1..=self.api.max_page_size).contains(&self.api.default_page_size) {
            return Err(invalid(
                "api.default_page_size",
                "must be between 1 and api.max_page_size",
            ));
        }
        for (key, value) in [
            ("server.request_timeout_ms", self.server.request_timeout_ms),
            (
                "server.client_header_timeout_ms",
                self.server.client_header_timeout_ms,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        let limits = &self.rate_limit;
        for (key, value) in [
            ("rate_limit.per_key_per_second", limits.per_key_per_second),
            ("rate_limit.per_key_burst", limits.per_key_burst),
            (
                "rate_limit.anonymous_per_ip_per_second",
                limits.anonymous_per_ip_per_second,
            ),
            (
                "rate_limit.anonymous_per_ip_burst",
                limits.anonymous_per_ip_burst,
            ),
            (
                "rate_limit.failed_auth_per_ip_per_minute",
                limits.failed_auth_per_ip_per_minute,
            ),
            (
                "rate_limit.failed_auth_per_ip_burst",
                limits.failed_auth_per_ip_burst,
            ),
        ] {
            if limits.enabled && value == 0 {
                return Err(invalid(
                    key,
                    "must be at least 1 (or set rate_limit.enabled = false)",
                ));
            }
        }
        if self.catalog.poll_interval_ms == 0 {
            return Err(invalid("catalog.poll_interval_ms", "must be at least 1"));
        }
        if self.actors.idle_timeout_ms == 0 {
            return Err(invalid("actors.idle_timeout_ms", "must be at least 1"));
        }
        self.policy_config()?;
        if let Err(err) = tracing_subscriber::EnvFilter::builder().parse(&self.log.level) {
            return Err(invalid(
                "log.level",
                format!("is not a valid filter: {err}"),
            ));
        }
        Ok(())
    }

    fn sqlite_synchronous(&self) -> Result<SqliteSynchronous, SettingsError> {
        match self.database.sqlite_synchronous.as_str() {
            "off" => Ok(SqliteSynchronous::Off),
            "normal" => Ok(SqliteSynchronous::Normal),
            "full" => Ok(SqliteSynchronous::Full),
            "extra" => Ok(SqliteSynchronous::Extra),
            other => Err(invalid(
                "database.sqlite_synchronous",
                format!("must be one of off, normal, full, extra (got {other:?})"),
            )),
        }
    }

    /// What the catalog needs (`[catalog]` and `[actors]`).
    pub fn catalog_settings(&self) -> catalog::CatalogSettings {
        catalog::CatalogSettings {
            idle_timeout: Duration::from_millis(self.actors.idle_timeout_ms),
            poll_interval: Duration::from_millis(self.catalog.poll_interval_ms),
            reconcile_interval: Duration::from_millis(self.catalog.reconcile_interval_ms),
        }
    }

    /// What the storage layer needs.
    pub fn db_settings(&self) -> Result<DbSettings, SettingsError> {
        let db = &self.database;
        Ok(DbSettings {
            url: db.url.expose().to_owned(),
            max_connections: db.max_connections,
            min_connections: db.min_connections,
            connect_timeout: Duration::from_millis(db.connect_timeout_ms),
            acquire_timeout: Duration::from_millis(db.acquire_timeout_ms),
            statement_timeout: Duration::from_millis(db.statement_timeout_ms),
            sqlite_busy_timeout: Duration::from_millis(db.sqlite_busy_timeout_ms),
            sqlite_synchronous: self.sqlite_synchronous()?,
            writer_stall: Duration::from_millis(db.writer_stall_ms),
        })
    }

    /// The policy chains and parameter tables, for the policy registry.
    pub fn policy_config(&self) -> Result<auth::PolicyConfig, SettingsError> {
        let mut params = std::collections::BTreeMap::new();
        for (name, value) in &self.policies.params {
            let toml::Value::Table(table) = value else {
                return Err(SettingsError::Policy(format!(
                    "policies.{name}: must be a table of parameters ([policies.{name}])"
                )));
            };
            params.insert(name.clone(), table.clone());
        }
        Ok(auth::PolicyConfig {
            share: self.policies.share.clone(),
            unshare: self.policies.unshare.clone(),
            params,
        })
    }

    /// The base URL clients use, for printed examples.
    pub fn base_url(&self) -> String {
        if self.server.public_base_url.is_empty() {
            format!("http://{}:{}", self.server.host, self.server.port)
        } else {
            self.server.public_base_url.trim_end_matches('/').to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(settings.database.sqlite_synchronous, "full");
    }

    #[test]
    fn a_key_missing_from_the_file_is_reported() {
        let text = DEFAULT_TOML.replace("key_prefix = \"xero\"", "");
        let err = Settings::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("key_prefix"), "{err}");
    }

    #[test]
    fn an_unknown_key_in_the_file_is_reported() {
        let text = DEFAULT_TOML.replace("[auth]", "[auth]\nkey_prefx = \"x\"");
        let err = Settings::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("key_prefx"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (from, to, key) in [
            ("level = \"info\"", "level = \"info,=bogus=\"", "log.level"),
            ("format = \"pretty\"", "format = \"fancy\"", "format"),
            ("port = 8080", "port = 70000", "port"),
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
                "client_header_timeout_ms = 5000",
                "client_header_timeout_ms = 0",
                "server.client_header_timeout_ms",
            ),
            (
                "url = \"sqlite://data/modelshare.db?mode=rwc\"",
                "url = \"mysql://x\"",
                "database.url",
            ),
        ] {
            assert!(DEFAULT_TOML.contains(from), "{from}");
            let err = Settings::from_toml_str(&DEFAULT_TOML.replace(from, to))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn the_database_url_is_not_printed() {
        let text = DEFAULT_TOML.replace(
            "sqlite://data/modelshare.db?mode=rwc",
            "postgres://app:hunter2@db/modelshare",
        );
        let settings = Settings::from_toml_str(&text).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
