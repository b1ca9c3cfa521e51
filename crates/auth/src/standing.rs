//! The rules about a model's own state that every share and unshare obeys, whatever the
//! configured chains say: the model must exist in the caller's project, and an action that would
//! change nothing is answered without a write. One home for them: the model's actor decides on
//! [`Standing`], the `currently_shared` policy reports it in the chain's order, and the
//! refusals they give are [`Refusal::model_not_found`] and [`Refusal::model_not_shared`].

use domain::ShareAction;
use storage::Model;

use crate::{Principal, Refusal};

/// Where a model stands for an action a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing<'a> {
    /// No such model in the caller's project: 404 `model_not_found` (a model of another
    /// project is not told apart from one that does not exist).
    Missing,
    /// Already as asked: a share of a shared model (answered unchanged, with its original
    /// `sharedAt`), an unshare of an unshared one (409 `model_not_shared`).
    AlreadyDone(&'a Model),
    /// The action would change the model: a write.
    Changes(&'a Model),
}

impl<'a> Standing<'a> {
    /// `model` (as read, if it exists) for `action` by `principal`.
    pub fn of(action: ShareAction, principal: &Principal, model: Option<&'a Model>) -> Self {
        match model.filter(|m| m.project_id == principal.project_id) {
            None => Self::Missing,
            Some(m) if m.shared == (action == ShareAction::Share) => Self::AlreadyDone(m),
            Some(m) => Self::Changes(m),
        }
    }

    /// The model, if the caller may see it: what the chain's policies are shown.
    pub fn visible(self) -> Option<&'a Model> {
        match self {
            Self::Missing => None,
            Self::AlreadyDone(m) | Self::Changes(m) => Some(m),
        }
    }

    /// The refusal this standing gives `action`, if any: a missing model, or an unshare of a
    /// model that is not shared. A share of a shared model is no refusal: it answers unchanged.
    pub fn refusal(self, action: ShareAction) -> Option<Refusal> {
        match (self, action) {
            (Self::Missing, _) => Some(Refusal::model_not_found()),
            (Self::AlreadyDone(_), ShareAction::Unshare) => Some(Refusal::model_not_shared()),
            _ => None,
        }
    }
}
