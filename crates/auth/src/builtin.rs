//! The built-in policies. Each is one type, one `check`, and one line in [`register_all`].

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use domain::{ErrorCode, Feature, ModelStatus, Role, ShareAction};
use storage::WriteGuard;

use crate::chains::{PolicyConfigError, PolicyParams, PolicyRegistry};
use crate::policy::{CustomStatus, Denial, Policy, PolicyContext, Verdict};

pub(crate) fn register_all(registry: &mut PolicyRegistry) {
    registry
        .register("account_feature", |p| {
            Ok(Arc::new(AccountFeature::from_params(p)?))
        })
        .register("project_role", |p| {
            Ok(Arc::new(ProjectRole::from_params(p)?))
        })
        .register("model_status", |p| {
            Ok(Arc::new(ModelStatusAllowed::from_params(p)?))
        })
        .register(CurrentlyShared::NAME, |p| {
            Params::new(CurrentlyShared::NAME, p).finish()?;
            Ok(Arc::new(CurrentlyShared))
        })
        .register("max_shared_models", |p| {
            Ok(Arc::new(MaxSharedModels::from_params(p)?))
        })
        .register("require_license", |p| {
            Ok(Arc::new(RequireLicense::from_params(p)?))
        });
}

/// Reads a policy's parameter table; refuses keys nobody asked for.
pub struct Params<'a> {
    policy: &'a str,
    table: &'a PolicyParams,
    used: BTreeSet<&'static str>,
}

impl<'a> Params<'a> {
    pub fn new(policy: &'a str, table: &'a PolicyParams) -> Self {
        Self {
            policy,
            table,
            used: BTreeSet::new(),
        }
    }

    fn bad(&self, param: &str, message: impl Into<String>) -> PolicyConfigError {
        PolicyConfigError::bad_param(self.policy, param, message)
    }

    pub fn string(&mut self, key: &'static str) -> Result<Option<String>, PolicyConfigError> {
        self.used.insert(key);
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(key, "must be a string")),
        }
    }

    pub fn strings(&mut self, key: &'static str) -> Result<Option<Vec<String>>, PolicyConfigError> {
        self.used.insert(key);
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s.clone()),
                    _ => Err(self.bad(key, "must be a list of strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.bad(key, "must be a list of strings")),
        }
    }

    pub fn integer(&mut self, key: &'static str) -> Result<Option<i64>, PolicyConfigError> {
        self.used.insert(key);
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) => Ok(Some(*n)),
            Some(_) => Err(self.bad(key, "must be an integer")),
        }
    }

    /// Fails on any key that was not read.
    pub fn finish(self) -> Result<(), PolicyConfigError> {
        match self.table.keys().find(|k| !self.used.contains(k.as_str())) {
            None => Ok(()),
            Some(extra) => {
                let known: Vec<_> = self.used.iter().copied().collect();
                Err(self.bad(
                    extra,
                    format!(
                        "unknown parameter; {} takes: {}",
                        self.policy,
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ))
            }
        }
    }
}

/// The account must have a feature (default `model_sharing`). Parameter: `feature`.
pub struct AccountFeature {
    feature: Feature,
}

impl AccountFeature {
    fn from_params(table: &PolicyParams) -> Result<Self, PolicyConfigError> {
        let mut p = Params::new("account_feature", table);
        let feature = match p.string("feature")? {
            None => Feature::ModelSharing,
            Some(s) => s.parse().map_err(|e: domain::UnknownValue| {
                PolicyConfigError::bad_param("account_feature", "feature", e.to_string())
            })?,
        };
        p.finish()?;
        Ok(Self { feature })
    }
}

#[async_trait]
impl Policy for AccountFeature {
    fn needs_model(&self) -> bool {
        false
    }

    async fn check(&self, ctx: &PolicyContext<'_>) -> Result<(), Verdict> {
        if ctx.principal.has_feature(self.feature) {
            return Ok(());
        }
        Err(Denial::new(
            ErrorCode::FeatureNotEnabled,
            "Model sharing is not enabled on your account. Contact support to enable it.",
        )
        .into())
    }
}

/// The caller's role in the project must be at least `min_role` (default `admin`).
pub struct ProjectRole {
    min_role: Role,
}

impl ProjectRole {
    fn from_params(table: &PolicyParams) -> Result<Self, PolicyConfigError> {
        let mut p = Params::new("project_role", table);
        let min_role = match p.string("min_role")? {
            None => Role::Admin,
            Some(s) => s.parse().map_err(|e: domain::UnknownValue| {
                PolicyConfigError::bad_param("project_role", "min_role", e.to_string())
            })?,
        };
        p.finish()?;
        Ok(Self { min_role })
    }
}

#[async_trait]
impl Policy for ProjectRole {
    fn needs_model(&self) -> bool {
        false
    }

    async fn check(&self, ctx: &PolicyContext<'_>) -> Result<(), Verdict> {
        if ctx.principal.role >= self.min_role {
            return Ok(());
        }
        Err(Denial::new(
            ErrorCode::PermissionDenied,
            format!(
                "This action needs the {} role in the project; your role is {}.",
                self.min_role, ctx.principal.role
            ),
        )
        .into())
    }
}

/// The model's status must be one of `allowed` (default `active`, `ready`).
pub struct ModelStatusAllowed {
    allowed: Vec<ModelStatus>,
}

impl ModelStatusAllowed {
    fn from_params(table: &PolicyParams) -> Result<Self, PolicyConfigError> {
        let mut p = Params::new("model_status", table);
        let allowed = match p.strings("allowed")? {
            None => ModelStatus::USABLE.to_vec(),
            Some(list) if list.is_empty() => {
                return Err(PolicyConfigError::bad_param(
                    "model_status",
                    "allowed",
                    "must not be empty",
                ));
            }
            Some(list) => list
                .iter()
                .map(|s| {
                    s.parse().map_err(|e: domain::UnknownValue| {
                        PolicyConfigError::bad_param("model_status", "allowed", e.to_string())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        p.finish()?;
        Ok(Self { allowed })
    }
}

#[async_trait]
impl Policy for ModelStatusAllowed {
    fn needs_model(&self) -> bool {
        true
    }

    async fn check(&self, ctx: &PolicyContext<'_>) -> Result<(), Verdict> {
        let model = ctx.model()?;
        if self.allowed.contains(&model.status) {
            return Ok(());
        }
        let allowed: Vec<&str> = self.allowed.iter().map(|s| s.as_str()).collect();
        Err(Denial::new(
            ErrorCode::InvalidModelStatus,
            format!(
                "The model's status is {}; it must be {} to be shared.",
                model.status,
                allowed.join(" or ")
            ),
        )
        .into())
    }
}

/// Unshare only what is shared: 409 `model_not_shared` otherwise, at this place in the chain.
/// No parameters. The rule itself is [`Standing`](crate::Standing)'s, which the model's actor
/// applies whether or not the chain names this policy; naming it decides only which checks
/// answer before it.
pub struct CurrentlyShared;

impl CurrentlyShared {
    pub const NAME: &'static str = "currently_shared";
}

#[async_trait]
impl Policy for CurrentlyShared {
    fn needs_model(&self) -> bool {
        true
    }

    async fn check(&self, ctx: &PolicyContext<'_>) -> Result<(), Verdict> {
        // Asked as an unshare whatever the chain: "shared now, or refused".
        let standing = crate::Standing::of(ShareAction::Unshare, ctx.principal, Some(ctx.model()?));
        match standing.refusal(ShareAction::Unshare) {
            Some(refusal) => Err(refusal.verdict),
            None => Ok(()),
        }
    }
}

/// At most `limit` shared models per account (403 `shared_model_limit_reached`). Re-sharing a
/// model that is already shared is always allowed.
///
/// The count in `check` answers first, in the chain's order; concurrent shares of other models
/// (or on other instances) can all pass it, so the share also carries
/// [`WriteGuard::MaxSharedInAccount`], which the write counts again under its lock.
pub struct MaxSharedModels {
    limit: u64,
}

impl MaxSharedModels {
    fn from_params(table: &PolicyParams) -> Result<Self, PolicyConfigError> {
        let mut p = Params::new("max_shared_models", table);
        let limit = match p.integer("limit")? {
            None => 100,
            Some(n) => u64::try_from(n).map_err(|_| {
                PolicyConfigError::bad_param("max_shared_models", "limit", "must be 0 or more")
            })?,
        };
        p.finish()?;
        Ok(Self { limit })
    }
}

#[async_trait]
impl Policy for MaxSharedModels {
    fn needs_model(&self) -> bool {
        true
    }

    async fn check(&self, ctx: &PolicyContext<'_>) -> Result<(), Verdict> {
        if !Self::adds_a_share(ctx.action, ctx.model()?) {
            return Ok(());
        }
        let shared = ctx
            .store
            .count_shared_models_in_account(ctx.principal.account_id)
            .await?;
        if shared < self.limit {
            return Ok(());
        }
        Err(Self::limit_reached(shared, self.limit).into())
    }

    fn write_guard(&self, ctx: &PolicyContext<'_>) -> Option<WriteGuard> {
        ctx.model.filter(|m| Self::adds_a_share(ctx.action, m))?;
        Some(WriteGuard::MaxSharedInAccount {
            account_id: ctx.principal.account_id,
            limit: self.limit,
        })
    }
}

impl MaxSharedModels {
    /// Whether the action adds a shared model: a share of one not shared yet.
    fn adds_a_share(action: ShareAction, model: &storage::Model) -> bool {
        action == ShareAction::Share && !model.shared
    }

    /// The refusal, whether the chain's count or the write's found the account full.
    fn limit_reached(shared: u64, limit: u64) -> Denial {
        Denial::custom(
            CustomStatus::Forbidden,
            "shared_model_limit_reached",
            format!(
                "Your account already shares {shared} models, the most it may share ({limit}). Unshare one first."
            ),
        )
    }
}

/// The refusal for a write whose `guard` failed with `shared` models shared: the one the
/// built-in policy behind that guard gives.
pub(crate) fn guard_refusal(guard: WriteGuard, shared: u64) -> Denial {
    match guard {
        WriteGuard::MaxSharedInAccount { limit, .. } => {
            MaxSharedModels::limit_reached(shared, limit)
        }
    }
}

/// Only models whose license is in `allowed` may be shared (400 `license_not_allowed`).
pub struct RequireLicense {
    allowed: Vec<String>,
}

impl RequireLicense {
    fn from_params(table: &PolicyParams) -> Result<Self, PolicyConfigError> {
        let mut p = Params::new("require_license", table);
        let allowed = p.strings("allowed")?.unwrap_or_default();
        if allowed.is_empty() {
            return Err(PolicyConfigError::bad_param(
                "require_license",
                "allowed",
                "must list at least one license",
            ));
        }
        p.finish()?;
        Ok(Self {
            allowed: allowed.iter().map(|l| l.to_ascii_lowercase()).collect(),
        })
    }
}

#[async_trait]
impl Policy for RequireLicense {
    fn needs_model(&self) -> bool {
        true
    }

    async fn check(&self, ctx: &PolicyContext<'_>) -> Result<(), Verdict> {
        let model = ctx.model()?;
        let ok = model
            .license
            .as_deref()
            .is_some_and(|l| self.allowed.contains(&l.to_ascii_lowercase()));
        if ok {
            return Ok(());
        }
        Err(Denial::custom(
            CustomStatus::BadRequest,
            "license_not_allowed",
            format!(
                "Only models with one of these licenses may be shared: {}.",
                self.allowed.join(", ")
            ),
        )
        .into())
    }
}
