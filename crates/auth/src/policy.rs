//! Plugin policies: named checks that guard share and unshare.
//!
//! A [`Policy`] gets the action, the [`Principal`] and (when it asks for it) the model's fresh
//! state, and allows or denies with an API error code, HTTP status and message. A
//! [`PolicyRegistry`](crate::PolicyRegistry) maps names to factories that build a policy from its config table; the
//! chains (`policies.share`, `policies.unshare`) name policies in the order they run.
//!
//! The model is loaded before the chain runs but its absence is reported lazily: the first
//! policy that needs the model answers `model_not_found` if there is none, so a caller without
//! the role learns `permission_denied`, not whether the model exists. If no policy needs the
//! model, a missing one is reported after the whole chain.
//!
//! A check that counts other rows (a quota) can pass for many concurrent writes that each
//! counted alone. Such a policy also names a [`WriteGuard`] ([`Policy::write_guard`]): the
//! chain's [`Permit`](crate::Permit) carries it to the write, which checks it again inside its transaction and
//! writes nothing if it fails; [`Permit::refusal`](crate::Permit::refusal) then gives the policy's own refusal. The
//! check in the chain stays, so the chain's order of refusals is unchanged.

use std::borrow::Cow;

use async_trait::async_trait;
use domain::{ErrorCode, ErrorType, ShareAction};
use storage::{Model, StorageError, Store, WriteGuard};

use crate::principal::Principal;

/// What a policy sees.
pub struct PolicyContext<'a> {
    pub action: ShareAction,
    pub principal: &'a Principal,
    /// The model in the caller's project, freshly read. `Some` whenever [`Policy::needs_model`]
    /// is true for the policy being asked.
    pub model: Option<&'a Model>,
    /// For policies that must look something up (quotas).
    pub store: &'a Store,
}

impl PolicyContext<'_> {
    /// The model; only call from a policy whose `needs_model` is true.
    pub fn model(&self) -> Result<&Model, Verdict> {
        self.model
            .ok_or_else(|| Verdict::Deny(Denial::model_not_found()))
    }
}

/// The status a refusal answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialStatus {
    BadRequest,
    Forbidden,
    NotFound,
    Conflict,
}

impl DenialStatus {
    pub fn as_u16(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
        }
    }

    /// The status of a refusal with `code` (the contract's refusals are 400, 403, 404 and 409;
    /// a code that is not a refusal is refused as forbidden).
    fn of(code: ErrorCode) -> Self {
        match code.status() {
            400 => Self::BadRequest,
            404 => Self::NotFound,
            409 => Self::Conflict,
            _ => Self::Forbidden,
        }
    }
}

/// The statuses a refusal with an operator's or a policy's own code may answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomStatus {
    /// 400, `invalid_request_error`: the model does not qualify.
    BadRequest,
    /// 403, `permission_error`: the caller may not.
    Forbidden,
}

/// Why a request was refused: what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: DenialStatus,
    pub code: Cow<'static, str>,
    pub kind: ErrorType,
    pub message: Cow<'static, str>,
}

impl Denial {
    /// A denial with one of the contract's codes.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: DenialStatus::of(code),
            code: Cow::Borrowed(code.as_str()),
            kind: code.error_type(),
            message: message.into(),
        }
    }

    /// A denial with a code of its own (a policy's or an operator's).
    pub fn custom(
        status: CustomStatus,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        let (status, kind) = match status {
            CustomStatus::BadRequest => (DenialStatus::BadRequest, ErrorType::InvalidRequestError),
            CustomStatus::Forbidden => (DenialStatus::Forbidden, ErrorType::PermissionError),
        };
        Self {
            status,
            code: code.into(),
            kind,
            message: message.into(),
        }
    }

    pub fn model_not_found() -> Self {
        Self::new(
            ErrorCode::ModelNotFound,
            "The specified model does not exist or you do not have access to it.",
        )
    }

    /// 409 `model_not_shared`: an unshare of a model that is not shared.
    pub fn model_not_shared() -> Self {
        Self::new(ErrorCode::ModelNotShared, "The model is not shared.")
    }
}

/// A policy's answer when it does not allow: a denial, or a failure to decide.
#[derive(Debug)]
pub enum Verdict {
    Deny(Denial),
    Failed(StorageError),
}

impl From<Denial> for Verdict {
    fn from(denial: Denial) -> Self {
        Self::Deny(denial)
    }
}

impl From<StorageError> for Verdict {
    fn from(err: StorageError) -> Self {
        Self::Failed(err)
    }
}

/// A named check in a share or unshare chain.
#[async_trait]
pub trait Policy: Send + Sync {
    /// Whether the check looks at the model (then the model must exist before it runs).
    fn needs_model(&self) -> bool;

    async fn check(&self, ctx: &PolicyContext<'_>) -> Result<(), Verdict>;

    /// What the write must check again inside its transaction for this policy's answer to
    /// hold when it commits; asked once the whole chain has allowed. `None` (the default) for
    /// a check on the caller and the model alone, which the model's compare-and-set keeps true.
    fn write_guard(&self, _ctx: &PolicyContext<'_>) -> Option<WriteGuard> {
        None
    }
}
