//! Wire timestamps: RFC 3339, UTC, `Z` suffix, whole seconds.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Serialize, Serializer};

/// A point in time as the contract shows it: whole seconds, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Truncates to whole seconds.
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        Self(at.trunc_subsecs(0))
    }

    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// `2026-01-15T10:30:00Z`.
    pub fn to_rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self::from_datetime(at)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

/// The current time, truncated to whole seconds, as stored and shown.
pub fn now() -> Timestamp {
    Timestamp::from_datetime(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn renders_whole_seconds_with_z() {
        let at = Utc
            .with_ymd_and_hms(2026, 1, 15, 10, 30, 0)
            .single()
            .unwrap()
            + chrono::Duration::milliseconds(789);
        let ts = Timestamp::from(at);
        assert_eq!(ts.to_rfc3339(), "2026-01-15T10:30:00Z");
        assert_eq!(
            serde_json::to_string(&ts).unwrap(),
            "\"2026-01-15T10:30:00Z\""
        );
    }
}
