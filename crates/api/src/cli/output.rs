//! What an operator command prints: an [`Output`] holds the JSON object printed with `--json`
//! and the text a person reads. Each command's JSON is a typed struct here; its field names are
//! what scripts and the integration tests parse, so they do not change.

use domain::{AccountId, ApiKeyId, ProjectId, ProjectSlug, Role, Timestamp, UserId};
use serde::Serialize;
use serde_json::Value;

use super::CliError;
use crate::dto::ModelDto;
use crate::routes::schedules::ScheduleDto;

/// A command's result: a JSON object and the text a person reads.
#[derive(Debug)]
pub struct Output {
    pub json: Value,
    pub text: String,
}

impl Output {
    /// The output of a command whose JSON is `json` (one of the structs below).
    pub(super) fn new(json: &impl Serialize, text: impl Into<String>) -> Result<Self, CliError> {
        Ok(Self {
            json: serde_json::to_value(json)?,
            text: text.into(),
        })
    }
}

/// `migrate`.
#[derive(Serialize)]
pub(super) struct Migrated {
    pub migrated: bool,
}

/// `accounts create`, `accounts enable-feature`, `accounts disable-feature`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountJson<'a> {
    pub id: AccountId,
    pub name: &'a str,
    /// The names of the enabled features, in order.
    pub features: Vec<&'a str>,
    pub created_at: &'a Timestamp,
}

impl<'a> From<&'a storage::Account> for AccountJson<'a> {
    fn from(account: &'a storage::Account) -> Self {
        Self {
            id: account.id,
            name: &account.name,
            features: account.features.iter().map(|f| f.0.as_str()).collect(),
            created_at: &account.created_at,
        }
    }
}

/// `projects create`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProjectJson<'a> {
    pub id: &'a ProjectId,
    pub account_id: AccountId,
    pub slug: &'a ProjectSlug,
    pub name: &'a str,
    pub created_at: &'a Timestamp,
}

impl<'a> From<&'a storage::Project> for ProjectJson<'a> {
    fn from(project: &'a storage::Project) -> Self {
        Self {
            id: &project.id,
            account_id: project.account_id,
            slug: &project.slug,
            name: &project.name,
            created_at: &project.created_at,
        }
    }
}

/// `users create`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserJson<'a> {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: &'a str,
    pub created_at: &'a Timestamp,
}

impl<'a> From<&'a storage::User> for UserJson<'a> {
    fn from(user: &'a storage::User) -> Self {
        Self {
            id: user.id,
            account_id: user.account_id,
            email: &user.email,
            created_at: &user.created_at,
        }
    }
}

/// `members add`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MembershipJson<'a> {
    pub project_id: &'a ProjectId,
    pub user_id: UserId,
    pub role: Role,
}

impl<'a> From<&'a storage::Membership> for MembershipJson<'a> {
    fn from(membership: &'a storage::Membership) -> Self {
        Self {
            project_id: &membership.project_id,
            user_id: membership.user_id,
            role: membership.role,
        }
    }
}

/// `keys create`: the only time the whole key is shown.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewKeyJson<'a> {
    pub id: ApiKeyId,
    pub key: &'a str,
    pub prefix: &'a str,
    pub project_id: &'a ProjectId,
    pub user_id: UserId,
}

/// `keys revoke`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RevokedKeyJson<'a> {
    pub id: ApiKeyId,
    pub prefix: &'a str,
    pub revoked_at: Option<&'a Timestamp>,
}

impl<'a> From<&'a storage::ApiKeyRecord> for RevokedKeyJson<'a> {
    fn from(key: &'a storage::ApiKeyRecord) -> Self {
        Self {
            id: key.id,
            prefix: &key.display_prefix,
            revoked_at: key.revoked_at.as_ref(),
        }
    }
}

/// `models create`, `models set-status`: the API's view of the model, and its project.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ModelJson {
    #[serde(flatten)]
    pub model: ModelDto,
    pub project_id: ProjectId,
}

impl From<storage::Model> for ModelJson {
    fn from(model: storage::Model) -> Self {
        Self {
            project_id: model.project_id.clone(),
            model: ModelDto::from(model),
        }
    }
}

/// `webhooks list`: the project's webhooks as the API shows them (no secrets), newest first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WebhooksJson<'a> {
    pub project_id: &'a ProjectId,
    pub webhooks: Vec<crate::routes::webhooks::WebhookDto>,
}

/// `schedules list`: the project's schedules as the API shows them, newest first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SchedulesJson<'a> {
    pub project_id: &'a ProjectId,
    pub schedules: Vec<ScheduleDto>,
}
