//! Identifiers. Each type can only hold a valid value; parsing is the only way in from outside.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A string that is not a valid identifier of the named kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub reason: &'static str,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s)
                    .map(Self)
                    .map_err(|_| InvalidId { kind: $kind, reason: "must be a UUID" })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A model, as the platform's upload pipeline names it.
    ModelId, "model id"
);
uuid_id!(
    /// An inference endpoint.
    EndpointId, "endpoint id"
);
uuid_id!(
    /// A user of an account.
    UserId, "user id"
);
uuid_id!(
    /// A customer account; features are enabled per account.
    AccountId, "account id"
);
uuid_id!(
    /// An API key's public id (never the secret).
    ApiKeyId, "api key id"
);

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$doc])*
        // Shared text: a clone (every model a project shares carries its id) costs no copy.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                let check: fn(&str) -> Result<(), &'static str> = $check;
                check(s)
                    .map(|()| Self(s.into()))
                    .map_err(|reason| InvalidId { kind: $kind, reason })
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// A project's external id: `proj_` followed by 6 to 32 ASCII letters or digits.
    ProjectId,
    "project id",
    |s| {
        let rest = s.strip_prefix("proj_").ok_or("must start with proj_")?;
        if !(6..=32).contains(&rest.len()) {
            return Err("must have 6 to 32 characters after proj_");
        }
        if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("may only contain letters and digits after proj_");
        }
        Ok(())
    }
);

string_id!(
    /// A project's slug, the middle part of its API keys: 1 to 40 lowercase letters, digits and
    /// inner hyphens (no underscore, so a key splits unambiguously).
    ProjectSlug,
    "project slug",
    |s| hyphenated_slug(s, 40)
);

string_id!(
    /// An endpoint's slug, unique in its project:
    /// `^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`.
    EndpointSlug,
    "endpoint slug",
    |s| hyphenated_slug(s, 63)
);

impl ProjectId {
    /// A fresh random project id (`proj_` + 12 letters and digits).
    pub fn generate() -> Self {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let bytes = Uuid::new_v4().into_bytes();
        let rest: String = bytes
            .iter()
            .take(12)
            .filter_map(|b| ALPHABET.get(usize::from(*b) % ALPHABET.len()))
            .map(|c| char::from(*c))
            .collect();
        Self(format!("proj_{rest}").into())
    }
}

/// An id on the wire: a fixed prefix and 32 lowercase hex digits (a random UUID, without
/// hyphens). Stored as the UUID; the prefix says what the id names.
macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// The wire prefix.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(Uuid::new_v4())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// The prefix and 32 lowercase hex digits; anything else is not such an id.
            pub fn parse(s: &str) -> Result<Self, InvalidId> {
                let invalid = |reason| InvalidId { kind: $kind, reason };
                let hex = s
                    .strip_prefix(Self::PREFIX)
                    .ok_or_else(|| invalid(concat!("must start with ", $prefix)))?;
                let bad = concat!("must have 32 lowercase hex digits after ", $prefix);
                if hex.len() != 32
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(invalid(bad));
                }
                Uuid::try_parse(hex).map(Self).map_err(|_| invalid(bad))
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", Self::PREFIX, self.0.simple())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    };
}

prefixed_id!(
    /// A schedule of a share or unshare: `sch_` and 32 lowercase hex digits.
    ScheduleId,
    "sch_",
    "schedule id"
);

prefixed_id!(
    /// A webhook subscription: `wh_` and 32 lowercase hex digits.
    WebhookId,
    "wh_",
    "webhook id"
);

prefixed_id!(
    /// One delivery of an event to a webhook: `dlv_` and 32 lowercase hex digits.
    DeliveryId,
    "dlv_",
    "delivery id"
);

fn hyphenated_slug(s: &str, max: usize) -> Result<(), &'static str> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > max {
        return Err(if max == 40 {
            "must have 1 to 40 characters"
        } else {
            "must have 1 to 63 characters"
        });
    }
    let inner_ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let edge_ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.iter().all(inner_ok) {
        return Err("may only contain lowercase letters, digits and hyphens");
    }
    if !bytes.first().is_some_and(edge_ok) || !bytes.last().is_some_and(edge_ok) {
        return Err("must start and end with a lowercase letter or digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids() {
        assert!(ProjectId::parse("proj_ABC123").is_ok());
        assert!(ProjectId::parse(&format!("proj_{}", "a".repeat(32))).is_ok());
        for bad in [
            "proj_ABC12",
            "ABC123",
            "proj_ABC-123",
            "proj_",
            "proj_ABC123é",
        ] {
            assert!(ProjectId::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(ProjectId::parse(&format!("proj_{}", "a".repeat(33))).is_err());
        assert!(ProjectId::parse(ProjectId::generate().as_str()).is_ok());
    }

    #[test]
    fn endpoint_slugs() {
        for good in ["a", "my-endpoint", "a1", &"a".repeat(63)] {
            assert!(EndpointSlug::parse(good).is_ok(), "{good} refused");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a b", &"a".repeat(64)] {
            assert!(EndpointSlug::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn project_slugs_have_no_underscore() {
        assert!(ProjectSlug::parse("myproject").is_ok());
        assert!(ProjectSlug::parse("my_project").is_err());
        assert!(ProjectSlug::parse(&"a".repeat(41)).is_err());
    }

    #[test]
    fn schedule_ids_round_trip_and_refuse_other_spellings() {
        let id = ScheduleId::generate();
        let text = id.to_string();
        assert!(text.starts_with("sch_") && text.len() == 36, "{text}");
        assert_eq!(ScheduleId::parse(&text).unwrap(), id);
        let hyphenated = format!("sch_{}", id.as_uuid().hyphenated());
        let upper = format!("sch_{}", id.as_uuid().simple()).to_uppercase();
        for bad in [
            "",
            "sch_",
            "sch_xyz",
            &hyphenated,
            &upper,
            "550e8400e29b41d4a716446655440000",
        ] {
            assert!(ScheduleId::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn webhook_and_delivery_ids_have_their_own_prefixes() {
        let webhook = WebhookId::generate();
        assert!(webhook.to_string().starts_with("wh_"));
        assert_eq!(WebhookId::parse(&webhook.to_string()).unwrap(), webhook);
        let delivery = DeliveryId::from_uuid(webhook.as_uuid());
        assert!(DeliveryId::parse(&webhook.to_string()).is_err());
        assert!(WebhookId::parse(&delivery.to_string()).is_err());
        assert_eq!(DeliveryId::parse(&delivery.to_string()).unwrap(), delivery);
    }

    #[test]
    fn uuid_ids_parse_and_display() {
        let id: ModelId = "550e8400-e29b-41d4-a716-446655440000".parse().unwrap();
        assert_eq!(id.to_string(), "550e8400-e29b-41d4-a716-446655440000");
        assert!("not-a-uuid".parse::<ModelId>().is_err());
    }
}
