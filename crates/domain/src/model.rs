//! Closed sets of values: model statuses, project roles, account features, share actions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A string that names no member of a closed set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}; expected one of: {expected}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
    pub expected: String,
}

/// A closed set of values. With `otherwise V => "v"`, the set also has a variant `V` for a
/// stored value this version does not know (read with [`from_stored`](ModelStatus::from_stored)):
/// it is never parsed from input and is not in `ALL`.
macro_rules! closed_set {
    ($(#[$doc:meta])* $name:ident, $kind:literal, { $($variant:ident => $text:literal),+ $(,)? }
        $(, otherwise $other:ident => $other_text:literal)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant,)+
            $($other,)?
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)+ $(Self::$other => $other_text,)? }
            }

            $(
            /// A value read from storage: an unknown one becomes
            #[doc = concat!("`", stringify!($other), "`")]
            /// instead of an error, so that one new value written by another system never
            /// stops a read.
            pub fn from_stored(s: &str) -> Self {
                s.parse().unwrap_or(Self::$other)
            }
            )?
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownValue {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

closed_set!(
    /// Where a model is in the platform's upload pipeline.
    ModelStatus, "model status", {
        Uploading => "uploading",
        Validating => "validating",
        Ready => "ready",
        Active => "active",
        Failed => "failed",
        Archived => "archived",
    },
    // A status the upload pipeline added after this version: never shareable.
    otherwise Unknown => "unknown"
);

impl ModelStatus {
    /// The statuses a model can be used in (shared, or bound to an endpoint) unless an
    /// operator's policy says otherwise: `ready` and `active`.
    pub const USABLE: [ModelStatus; 2] = [ModelStatus::Active, ModelStatus::Ready];

    /// Whether the model can be used: one of [`ModelStatus::USABLE`].
    pub fn is_usable(self) -> bool {
        Self::USABLE.contains(&self)
    }
}

closed_set!(
    /// A user's role in a project. Ordered: `Viewer < Member < Admin`.
    Role, "role", {
        Viewer => "viewer",
        Member => "member",
        Admin => "admin",
    }
);

closed_set!(
    /// A feature switched on per account.
    Feature, "feature", {
        ModelSharing => "model_sharing",
    }
);

closed_set!(
    /// What a share event records.
    ShareAction, "share action", {
        Share => "share",
        Unshare => "unshare",
    }
);

closed_set!(
    /// Where a scheduled share or unshare stands. `pending` until it ran (or was cancelled);
    /// then `succeeded` or `failed` for good.
    ScheduleStatus, "schedule status", {
        Pending => "pending",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

closed_set!(
    /// Where a webhook delivery stands: `pending` while attempts remain (or one is running),
    /// then `succeeded` or `failed` for good.
    DeliveryStatus, "delivery status", {
        Pending => "pending",
        Succeeded => "succeeded",
        Failed => "failed",
    }
);

closed_set!(
    /// What a webhook can be told of.
    EventType, "event type", {
        ModelShared => "model.shared",
        ModelUnshared => "model.unshared",
        EndpointModelUnshared => "endpoint.model_unshared",
        Ping => "ping",
    }
);

impl PartialOrd for Feature {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Feature {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Role {
    fn rank(self) -> u8 {
        match self {
            Self::Viewer => 0,
            Self::Member => 1,
            Self::Admin => 2,
        }
    }
}

impl PartialOrd for Role {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Role {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ready_and_active_models_are_usable() {
        let usable: Vec<&str> = ModelStatus::ALL
            .iter()
            .filter(|s| s.is_usable())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(usable, ["ready", "active"]);
        assert!(!ModelStatus::Unknown.is_usable());
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin > Role::Member);
        assert!(Role::Member > Role::Viewer);
        assert!(Role::Admin >= Role::Admin);
    }

    #[test]
    fn parse_round_trips_and_names_the_choices() {
        for status in ModelStatus::ALL {
            assert_eq!(status.as_str().parse::<ModelStatus>().unwrap(), *status);
        }
        assert!(
            "unknown".parse::<ModelStatus>().is_err(),
            "never parsed from input"
        );
        assert_eq!(
            ModelStatus::from_stored("quarantined"),
            ModelStatus::Unknown
        );
        assert_eq!(ModelStatus::from_stored("ready"), ModelStatus::Ready);
        let err = "owner".parse::<Role>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown role \"owner\"; expected one of: viewer, member, admin"
        );
    }
}
