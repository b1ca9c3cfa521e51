//! The checks serde runs on single values as it reads the configuration (`deserialize_with`
//! functions and [`MaxPageSize`]). A value they refuse fails the load; config-rs adds the key, so
//! the operator reads ``invalid value: …, expected … for key `auth.key_prefix` ``.
//!
//! A rule that ties one setting to another is in [`Settings::validate`](super::Settings::validate).

use serde::Deserialize;
use serde::de::{Deserializer, Error, Unexpected};
use storage::SqliteSynchronous;

use super::{LogFormat, Secret};

/// `server.host`: not blank.
pub(super) fn host<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let host = String::deserialize(deserializer)?;
    if host.trim().is_empty() {
        return Err(D::Error::invalid_value(
            Unexpected::Str(&host),
            &"a host name or IP address",
        ));
    }
    Ok(host)
}

/// `server.public_base_url`: empty, or an `http://` or `https://` URL.
pub(super) fn public_base_url<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
        return Err(D::Error::invalid_value(
            Unexpected::Str(&url),
            &"an empty string or a URL starting with http:// or https://",
        ));
    }
    Ok(url)
}

/// `database.url`: a SQLite or PostgreSQL URL. The refused value is not repeated in the message:
/// it may hold a password.
pub(super) fn database_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
    let url = Secret::deserialize(deserializer)?;
    let text = url.expose();
    if !(text.starts_with("sqlite:")
        || text.starts_with("postgres://")
        || text.starts_with("postgresql://"))
    {
        return Err(D::Error::invalid_value(
            Unexpected::Other("a URL of another kind"),
            &"a URL starting with sqlite:, postgres:// or postgresql://",
        ));
    }
    Ok(url)
}

/// `auth.key_prefix`: 1 to 16 ASCII letters or digits (it starts every API key).
pub(super) fn key_prefix<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let prefix = String::deserialize(deserializer)?;
    if prefix.is_empty() || prefix.len() > 16 || !prefix.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(D::Error::invalid_value(
            Unexpected::Str(&prefix),
            &"1 to 16 ASCII letters or digits",
        ));
    }
    Ok(prefix)
}

/// `log.level`: a filter `tracing_subscriber::EnvFilter` accepts.
pub(super) fn log_filter<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let level = String::deserialize(deserializer)?;
    if let Err(err) = tracing_subscriber::EnvFilter::builder().parse(&level) {
        return Err(D::Error::custom(format_args!(
            "invalid value: string {level:?}, expected a log filter such as \"info\" or \
             \"info,storage=debug\" ({err})"
        )));
    }
    Ok(level)
}

/// A closed set of values, each named by one word in the files.
pub(super) trait OneOf: Copy + 'static {
    /// Every value, with its name.
    const NAMES: &'static [(&'static str, Self)];
}

impl OneOf for LogFormat {
    const NAMES: &'static [(&'static str, Self)] =
        &[("pretty", Self::Pretty), ("json", Self::Json)];
}

impl OneOf for SqliteSynchronous {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("off", Self::Off),
        ("normal", Self::Normal),
        ("full", Self::Full),
        ("extra", Self::Extra),
    ];
}

/// A value of a [`OneOf`] set, by its name. The message for an unknown name lists the names
/// (config-rs's own enum message does not).
pub(super) fn one_of<'de, D: Deserializer<'de>, T: OneOf>(deserializer: D) -> Result<T, D::Error> {
    let name = String::deserialize(deserializer)?;
    T::NAMES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|&(_, value)| value)
        .ok_or_else(|| {
            let names: Vec<&str> = T::NAMES.iter().map(|&(known, _)| known).collect();
            D::Error::custom(format_args!(
                "invalid value: string {name:?}, expected one of {}",
                names.join(", ")
            ))
        })
}

/// `api.max_page_size`: the largest `limit` a list endpoint accepts, 1 to
/// [`MaxPageSize::LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64")]
pub struct MaxPageSize(u64);

impl MaxPageSize {
    /// The largest value the setting may take.
    pub const LIMIT: u64 = 1000;

    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for MaxPageSize {
    type Error = String;

    fn try_from(size: u64) -> Result<Self, String> {
        if (1..=Self::LIMIT).contains(&size) {
            Ok(Self(size))
        } else {
            Err(format!(
                "invalid value: integer `{size}`, expected a page size from 1 to {}",
                Self::LIMIT
            ))
        }
    }
}

/// `schedules.tick_interval_ms`: how often the runner looks for due schedules, from
/// [`TickInterval::MIN`] to [`TickInterval::MAX`] milliseconds (a schedule must run within a
/// second of its time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64")]
pub struct TickInterval(u64);

impl TickInterval {
    pub const MIN: u64 = 10;
    pub const MAX: u64 = 1000;

    pub fn get(self) -> u64 {
        self.0
    }
}

impl TryFrom<u64> for TickInterval {
    type Error = String;

    fn try_from(ms: u64) -> Result<Self, String> {
        if (Self::MIN..=Self::MAX).contains(&ms) {
            Ok(Self(ms))
        } else {
            Err(format!(
                "invalid value: integer `{ms}`, expected milliseconds from {} to {}",
                Self::MIN,
                Self::MAX
            ))
        }
    }
}
