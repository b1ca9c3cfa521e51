//! What a share or unshare comes to, as the catalog's callers see it: [`Transitioned`] or a
//! [`ShareError`].

use auth::{Denial, Refusal, Verdict};
use domain::{ModelId, Timestamp};
use storage::{Model, StorageError};

/// The state of a model after a share or unshare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transitioned {
    pub model_id: ModelId,
    /// Where the model stands now, and since when.
    pub now: Visibility,
    /// False when nothing was written (sharing a model that was already shared).
    pub changed: bool,
}

/// Where a model stands after a share or unshare: shared since `at`, or unshared since `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Shared { at: Timestamp },
    Unshared { at: Timestamp },
}

impl Transitioned {
    pub(crate) fn changed(model: &Model) -> Result<Self, ShareError> {
        Ok(Self {
            changed: true,
            ..Self::unchanged(model)?
        })
    }

    /// The model as it stands; a row whose state has no time (which every write sets) is a bug.
    pub(crate) fn unchanged(model: &Model) -> Result<Self, ShareError> {
        let now = match (model.shared, model.shared_at, model.unshared_at) {
            (true, Some(at), _) => Visibility::Shared { at },
            (false, _, Some(at)) => Visibility::Unshared { at },
            _ => {
                return Err(ShareError::Storage(StorageError::bug(format!(
                    "model {} has no time for its state",
                    model.id
                ))));
            }
        };
        Ok(Self {
            model_id: model.id,
            now,
            changed: false,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// A policy refused; `policy` names it.
    #[error("denied by {policy}: {}", denial.code)]
    Denied { policy: String, denial: Denial },
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Other instances kept changing the model; nothing was written.
    #[error("the model kept changing; try again")]
    Contended,
    /// The service is shutting down.
    #[error("the catalog is stopping")]
    Stopped,
}

pub(crate) fn refusal_error(refusal: Refusal) -> ShareError {
    match refusal.verdict {
        Verdict::Deny(denial) => ShareError::Denied {
            policy: refusal.policy,
            denial,
        },
        Verdict::Failed(err) => ShareError::Storage(err),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn model(shared: bool, shared_at: Option<Timestamp>, unshared_at: Option<Timestamp>) -> Model {
        let at = domain::now();
        Model {
            id: ModelId::new(),
            project_id: "proj_ABC123".parse().unwrap(),
            name: "m".into(),
            description: String::new(),
            status: domain::ModelStatus::Ready,
            architecture: None,
            parameter_count: None,
            context_length: None,
            license: None,
            tags: Vec::new(),
            shared,
            shared_at,
            unshared_at,
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_transition_says_where_the_model_stands_and_since_when() {
        let (then, now) = (
            Timestamp::from(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
            domain::now(),
        );
        let shared = Transitioned::changed(&model(true, Some(now), Some(then))).unwrap();
        assert_eq!(shared.now, Visibility::Shared { at: now });
        assert!(shared.changed);
        let unshared = Transitioned::unchanged(&model(false, Some(then), Some(now))).unwrap();
        assert_eq!(unshared.now, Visibility::Unshared { at: now });
        assert!(!unshared.changed);
    }

    /// A row whose state has no time is a bug (500), not an outage to retry (503).
    #[test]
    fn a_state_without_its_time_is_a_bug() {
        for broken in [
            model(true, None, None),
            model(false, Some(domain::now()), None),
        ] {
            match Transitioned::unchanged(&broken) {
                Err(ShareError::Storage(err)) => assert!(!err.is_unavailable(), "{err:?}"),
                other => panic!("{other:?}"),
            }
        }
    }
}
