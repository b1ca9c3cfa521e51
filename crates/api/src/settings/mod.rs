//! Typed, layered, validated configuration.
//!
//! Layers (each overrides the one before): `default.toml` (from the config folder, or the copy
//! built into the binary when the folder has none) → `{MODELSHARE_ENV}.toml` → `local.toml` →
//! environment variables `MODELSHARE__SECTION__KEY`. Every struct denies unknown keys and has no
//! serde defaults, so `config/default.toml` must name every setting and nothing else; a test
//! holds the two together.
//!
//! Each value is checked as it is read: its type says what it may be (`NonZero*` for a value
//! that must be positive, [`MaxPageSize`] for a bounded one, the closed sets and the string rules
//! of the `checks` submodule), so a bad value fails the load with config-rs's message naming its key
//! (``… for key `server.request_timeout_ms` ``). [`Settings::validate`] then checks the rules
//! that tie one setting to another.

mod checks;
mod policies;

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;
use storage::{DbSettings, SqliteSynchronous};

pub use checks::{MaxPageSize, TickInterval};
pub use policies::PolicySettings;

/// The defaults, compiled in so the binary runs from any folder.
pub const DEFAULT_TOML: &str = include_str!("../../../../config/default.toml");

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
    pub schedules: ScheduleSettings,
    pub webhooks: WebhookSettings,
    pub reload: ReloadSettings,
    pub policies: PolicySettings,
}

/// The config files of a folder, in layer order (each overrides the one before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFiles {
    /// `default.toml` (the built-in copy is used when it is missing).
    pub default: PathBuf,
    /// `{MODELSHARE_ENV}.toml`, when the variable is set.
    pub env: Option<PathBuf>,
    /// `local.toml`.
    pub local: PathBuf,
}

impl ConfigFiles {
    /// What the files hold now (`None` for one that cannot be read, such as a missing one).
    pub fn contents(&self) -> Vec<Option<Vec<u8>>> {
        [Some(&self.default), self.env.as_ref(), Some(&self.local)]
            .into_iter()
            .flatten()
            .map(|path| std::fs::read(path).ok())
            .collect()
    }
}

/// `[reload]`: how the configuration is reloaded besides SIGHUP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadSettings {
    /// How often the config files are compared with what was last read; a change reloads them
    /// as SIGHUP would. 0 = no watching (SIGHUP only).
    pub watch_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// When false, the limits below may be 0; when true, each must be at least 1.
    pub enabled: bool,
    pub per_key_per_second: u32,
    pub per_key_burst: u32,
    pub anonymous_per_ip_per_second: u32,
    pub anonymous_per_ip_burst: u32,
    pub failed_auth_per_ip_per_minute: u32,
    pub failed_auth_per_ip_burst: u32,
}

impl RateLimitSettings {
    /// Each limit and its key.
    fn limits(&self) -> [(&'static str, u32); 6] {
        [
            ("rate_limit.per_key_per_second", self.per_key_per_second),
            ("rate_limit.per_key_burst", self.per_key_burst),
            (
                "rate_limit.anonymous_per_ip_per_second",
                self.anonymous_per_ip_per_second,
            ),
            (
                "rate_limit.anonymous_per_ip_burst",
                self.anonymous_per_ip_burst,
            ),
            (
                "rate_limit.failed_auth_per_ip_per_minute",
                self.failed_auth_per_ip_per_minute,
            ),
            (
                "rate_limit.failed_auth_per_ip_burst",
                self.failed_auth_per_ip_burst,
            ),
        ]
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorSettings {
    pub idle_timeout_ms: NonZeroU64,
}

/// `[catalog]` as the files say it; what the catalog crate gets is
/// [`Settings::catalog_settings`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSection {
    pub public_browse: bool,
    pub poll_interval_ms: NonZeroU64,
    /// 0 never reconciles.
    pub reconcile_interval_ms: u64,
    /// Bytes of rendered catalog pages kept (least recently used first out); 0 keeps none.
    pub page_cache_bytes: usize,
    /// The start-up checkpoint's file: `auto` (next to a SQLite file, none on PostgreSQL or
    /// in memory), empty (none), or a path.
    pub checkpoint_path: String,
    /// 0 writes the checkpoint only when the service stops.
    pub checkpoint_interval_ms: u64,
}

/// `[schedules]`: the runner of scheduled shares and unshares.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    pub tick_interval_ms: TickInterval,
    pub lease_secs: NonZeroU64,
}

/// `[webhooks]`: subscriptions and their delivery engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub allow_http: bool,
    pub allow_private_networks: bool,
    pub timeout_ms: NonZeroU64,
    /// One wait per retry; at most [`WebhookSettings::MAX_RETRIES`].
    pub retry_schedule_secs: Vec<u64>,
    /// 0 to 100.
    pub jitter_percent: u8,
    pub max_in_flight_per_webhook: NonZeroU32,
    pub disable_after_failed_events: NonZeroU32,
    pub lease_secs: NonZeroU64,
    pub poll_interval_ms: NonZeroU64,
    pub max_per_project: NonZeroU64,
    pub delivery_retention_days: NonZeroU64,
    /// Empty, or 64 hex digits.
    pub secret_key: Secret,
    pub secret_key_file: PathBuf,
}

impl WebhookSettings {
    /// The longest retry schedule accepted.
    pub const MAX_RETRIES: usize = 20;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Not blank.
    #[serde(deserialize_with = "checks::host")]
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// 0 means one per CPU core.
    pub workers: usize,
    pub body_limit_bytes: NonZeroUsize,
    pub request_timeout_ms: NonZeroU64,
    pub client_header_timeout_ms: NonZeroU64,
    pub shutdown_grace_secs: u64,
    /// 0 closes every connection after its response.
    pub keep_alive_secs: u64,
    /// Empty, or an `http://` or `https://` URL.
    #[serde(deserialize_with = "checks::public_base_url")]
    pub public_base_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite:…`, `postgres://…` or `postgresql://…`.
    #[serde(deserialize_with = "checks::database_url")]
    pub url: Secret,
    pub max_connections: NonZeroU32,
    /// At most `max_connections` ([`Settings::validate`]).
    pub min_connections: u32,
    pub connect_timeout_ms: NonZeroU64,
    pub acquire_timeout_ms: NonZeroU64,
    pub statement_timeout_ms: NonZeroU64,
    pub sqlite_busy_timeout_ms: u64,
    /// `off`, `normal`, `full` or `extra`.
    #[serde(deserialize_with = "checks::one_of")]
    pub sqlite_synchronous: SqliteSynchronous,
    pub retry_after_secs: NonZeroU64,
    pub writer_stall_ms: NonZeroU64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// 1 to 16 ASCII letters or digits.
    #[serde(deserialize_with = "checks::key_prefix")]
    pub key_prefix: String,
    /// Most keys the key cache holds; 0 turns it off.
    pub key_cache_capacity: u64,
    /// How long a cached key is used before it is read again, whatever the outbox says.
    pub key_cache_ttl_secs: NonZeroU64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// At most `max_page_size` ([`Settings::validate`]).
    pub default_page_size: NonZeroU64,
    pub max_page_size: MaxPageSize,
    /// How long the first response to a POST with an `Idempotency-Key` is kept.
    pub idempotency_ttl_secs: NonZeroU64,
    /// How often expired idempotency keys are deleted.
    pub idempotency_sweep_interval_secs: NonZeroU64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter, such as `info` or `info,storage=debug`.
    #[serde(deserialize_with = "checks::log_filter")]
    pub level: String,
    /// `pretty` or `json`.
    #[serde(deserialize_with = "checks::one_of")]
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// A file could not be read, or a value is missing, unknown or refused by its type (the
    /// message names the key).
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A rule that ties one setting to another ([`Settings::validate`]).
    #[error("configuration: `{key}` {message}")]
    Invalid { key: &'static str, message: String },
    /// A `[policies.NAME]` entry that is not a table.
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
        let files = Self::files(dir);
        let mut builder = Config::builder();
        builder = if files.default.is_file() {
            builder.add_source(File::from(files.default))
        } else {
            builder.add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
        };
        if let Some(env_file) = files.env {
            builder = builder.add_source(File::from(env_file).required(false));
        }
        builder = builder
            .add_source(File::from(files.local).required(false))
            .add_source(
                Environment::with_prefix("MODELSHARE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            );
        Self::from_config(builder.build()?)
    }

    /// The files [`Settings::load`] reads from `dir` (default `./config`).
    pub fn files(dir: Option<&Path>) -> ConfigFiles {
        let dir = dir.map_or_else(|| PathBuf::from("config"), Path::to_path_buf);
        ConfigFiles {
            default: dir.join("default.toml"),
            env: std::env::var("MODELSHARE_ENV")
                .ok()
                .map(|env| dir.join(format!("{env}.toml"))),
            local: dir.join("local.toml"),
        }
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

    /// Checks the rules that tie one setting to another (serde has checked each value alone).
    pub fn validate(&self) -> Result<(), SettingsError> {
        let db = &self.database;
        if db.min_connections > db.max_connections.get() {
            return Err(invalid(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        if self.api.default_page_size.get() > self.api.max_page_size.get() {
            return Err(invalid(
                "api.default_page_size",
                "must be between 1 and api.max_page_size",
            ));
        }
        let limits = &self.rate_limit;
        if limits.enabled
            && let Some((key, _)) = limits.limits().into_iter().find(|&(_, n)| n == 0)
        {
            return Err(invalid(
                key,
                "must be at least 1 (or set rate_limit.enabled = false)",
            ));
        }
        // A claim must outlive any transition it starts, or a second runner could start it again.
        if self.schedules.lease_secs.get().saturating_mul(1000)
            <= self.server.request_timeout_ms.get()
        {
            return Err(invalid(
                "schedules.lease_secs",
                "must be longer than server.request_timeout_ms (the longest a transition is waited for)",
            ));
        }
        let hooks = &self.webhooks;
        if hooks.lease_secs.get().saturating_mul(1000) <= hooks.timeout_ms.get() {
            return Err(invalid(
                "webhooks.lease_secs",
                "must be longer than webhooks.timeout_ms (an attempt must end within its lease)",
            ));
        }
        if hooks.retry_schedule_secs.len() > WebhookSettings::MAX_RETRIES {
            return Err(invalid(
                "webhooks.retry_schedule_secs",
                format!("may list at most {} retries", WebhookSettings::MAX_RETRIES),
            ));
        }
        if hooks.jitter_percent > 100 {
            return Err(invalid("webhooks.jitter_percent", "must be from 0 to 100"));
        }
        let key = hooks.secret_key.expose();
        if !key.is_empty() && (key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(invalid(
                "webhooks.secret_key",
                "must be empty or 64 hex digits (a 256-bit key)",
            ));
        }
        self.policy_config()?;
        Ok(())
    }

    /// What the webhook engine needs.
    pub fn webhook_engine_settings(&self) -> crate::webhooks::EngineSettings {
        let hooks = &self.webhooks;
        crate::webhooks::EngineSettings {
            timeout: Duration::from_millis(hooks.timeout_ms.get()),
            retry_schedule: hooks
                .retry_schedule_secs
                .iter()
                .map(|&s| Duration::from_secs(s))
                .collect(),
            jitter_percent: hooks.jitter_percent,
            max_in_flight_per_webhook: hooks.max_in_flight_per_webhook.get(),
            disable_after_failed_events: hooks.disable_after_failed_events.get(),
            lease: Duration::from_secs(hooks.lease_secs.get()),
            poll_interval: Duration::from_millis(hooks.poll_interval_ms.get()),
            guard: self.url_guard(),
            retention: Duration::from_secs(
                hooks.delivery_retention_days.get().saturating_mul(86_400),
            ),
        }
    }

    /// Which webhook targets are allowed.
    pub fn url_guard(&self) -> crate::webhooks::UrlGuard {
        crate::webhooks::UrlGuard {
            allow_http: self.webhooks.allow_http,
            allow_private_networks: self.webhooks.allow_private_networks,
        }
    }

    /// What the catalog needs (`[catalog]` and `[actors]`).
    pub fn catalog_settings(&self) -> catalog::CatalogSettings {
        catalog::CatalogSettings {
            idle_timeout: Duration::from_millis(self.actors.idle_timeout_ms.get()),
            poll_interval: Duration::from_millis(self.catalog.poll_interval_ms.get()),
            reconcile_interval: Duration::from_millis(self.catalog.reconcile_interval_ms),
            checkpoint: self.checkpoint_path(),
            checkpoint_interval: Duration::from_millis(self.catalog.checkpoint_interval_ms),
        }
    }

    /// Where the catalog's start-up checkpoint is kept, if anywhere (`catalog.checkpoint_path`).
    pub fn checkpoint_path(&self) -> Option<PathBuf> {
        match self.catalog.checkpoint_path.as_str() {
            "" => None,
            "auto" => storage::sqlite_file(self.database.url.expose()).map(|file| {
                let mut name = file.into_os_string();
                name.push(".catalog");
                PathBuf::from(name)
            }),
            path => Some(PathBuf::from(path)),
        }
    }

    /// What the key cache needs.
    pub fn key_cache_settings(&self) -> auth::KeyCacheSettings {
        auth::KeyCacheSettings {
            capacity: usize::try_from(self.auth.key_cache_capacity).unwrap_or(usize::MAX),
            ttl: Duration::from_secs(self.auth.key_cache_ttl_secs.get()),
        }
    }

    /// What the schedule runner needs.
    pub fn scheduler_settings(&self) -> crate::scheduler::SchedulerSettings {
        crate::scheduler::SchedulerSettings {
            tick: Duration::from_millis(self.schedules.tick_interval_ms.get()),
            lease: Duration::from_secs(self.schedules.lease_secs.get()),
        }
    }

    /// What the storage layer needs.
    pub fn db_settings(&self) -> DbSettings {
        let db = &self.database;
        DbSettings {
            url: db.url.expose().to_owned(),
            max_connections: db.max_connections.get(),
            min_connections: db.min_connections,
            connect_timeout: Duration::from_millis(db.connect_timeout_ms.get()),
            acquire_timeout: Duration::from_millis(db.acquire_timeout_ms.get()),
            statement_timeout: Duration::from_millis(db.statement_timeout_ms.get()),
            sqlite_busy_timeout: Duration::from_millis(db.sqlite_busy_timeout_ms),
            sqlite_synchronous: db.sqlite_synchronous,
            writer_stall: Duration::from_millis(db.writer_stall_ms.get()),
        }
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
mod tests;
