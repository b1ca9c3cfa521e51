//! The records repositories return: plain domain types, never sea-orm entities.

use std::collections::BTreeSet;

use domain::{
    AccountId, ApiKeyId, DeliveryId, DeliveryStatus, EndpointId, EndpointSlug, EventType, Feature,
    ModelId, ModelStatus, ProjectId, ProjectSlug, Role, ScheduleId, ScheduleStatus, ShareAction,
    Timestamp, UserId, WebhookId,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub features: BTreeSet<FeatureName>,
    pub created_at: Timestamp,
}

/// A feature as stored; [`Feature`] is the known subset. Kept as a newtype so that the set is
/// ordered and unknown rows written by a newer version do not break reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeatureName(pub String);

impl Account {
    pub fn has_feature(&self, feature: Feature) -> bool {
        self.features.iter().any(|f| f.0 == feature.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub account_id: AccountId,
    pub slug: ProjectSlug,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    pub id: ProjectId,
    pub account_id: AccountId,
    pub slug: ProjectSlug,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub id: ApiKeyId,
    pub project_id: ProjectId,
    pub user_id: UserId,
    /// SHA-256 of the whole key string.
    pub hash: [u8; 32],
    /// What the key starts with, safe to show (`xero_myproject_AbCd`).
    pub display_prefix: String,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub hash: [u8; 32],
    pub display_prefix: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

/// Everything authentication needs about a key, read in one round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLookup {
    pub key: ApiKeyRecord,
    pub project: Project,
    pub account: Account,
    /// The key owner's role in the key's project, `None` when the membership was removed.
    pub role: Option<Role>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub id: ModelId,
    pub project_id: ProjectId,
    pub name: String,
    pub description: String,
    pub status: ModelStatus,
    pub architecture: Option<String>,
    pub parameter_count: Option<i64>,
    pub context_length: Option<i64>,
    pub license: Option<String>,
    pub tags: Vec<String>,
    pub shared: bool,
    pub shared_at: Option<Timestamp>,
    pub unshared_at: Option<Timestamp>,
    /// Bumped by every write; the compare-and-set token of share/unshare.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewModel {
    pub id: ModelId,
    pub project_id: ProjectId,
    pub name: String,
    pub description: String,
    pub status: ModelStatus,
    pub architecture: Option<String>,
    pub parameter_count: Option<i64>,
    pub context_length: Option<i64>,
    pub license: Option<String>,
    pub tags: Vec<String>,
}

/// How many endpoints serve a model, seen from its own project (counts only: no other project
/// is named).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointSpread {
    pub total: u64,
    /// In the model's own project.
    pub own_project: u64,
    /// In every other project.
    pub other_projects: u64,
    /// How many other projects have at least one.
    pub projects_affected: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub project_id: ProjectId,
    pub slug: EndpointSlug,
    pub model_id: ModelId,
    pub status: String,
    pub created_at: Timestamp,
}

/// One row of a model's share history; `id` grows monotonically across all models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareEvent {
    pub id: i64,
    pub model_id: ModelId,
    pub project_id: ProjectId,
    pub action: ShareAction,
    pub actor_user_id: Option<UserId>,
    pub api_key_id: Option<ApiKeyId>,
    /// The request's id as echoed to the client (the client's `x-request-id` if it sent one).
    pub request_id: String,
    /// The id the service gave the request itself (none on events written before it was kept).
    pub server_request_id: Option<String>,
    /// The schedule whose run wrote the event (none for a request's own transition).
    pub schedule_id: Option<ScheduleId>,
    pub at: Timestamp,
}

/// A share or unshare to write, guarded by the version the caller read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub model_id: ModelId,
    pub expected_version: i64,
    pub action: ShareAction,
    pub at: Timestamp,
    pub actor_user_id: Option<UserId>,
    pub api_key_id: Option<ApiKeyId>,
    /// The request's id as echoed to the client (the client's `x-request-id` if it sent one).
    pub request_id: String,
    /// The id the service gave the request itself.
    pub server_request_id: Option<String>,
    /// The schedule this transition runs, recorded on its event.
    pub schedule_id: Option<ScheduleId>,
    /// Conditions on other rows that must hold when the transition is written; checked inside
    /// its transaction (see [`WriteGuard`]). Empty for most transitions.
    pub guards: Vec<WriteGuard>,
}

impl Transition {
    /// The guards its write must check: a share's; none for an unshare, which only frees room.
    pub fn guards_to_check(&self) -> &[WriteGuard] {
        match self.action {
            ShareAction::Share => &self.guards,
            ShareAction::Unshare => &[],
        }
    }
}

/// A condition a transition's write checks inside its own transaction, under the lock that
/// keeps it true until the commit, so that concurrent writes (other models, other instances)
/// cannot all pass a check each made alone. A transition whose guard fails writes nothing and
/// is answered [`TransitionOutcome::LimitReached`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteGuard {
    /// A share must leave at most `limit` shared models in the account's projects: it is
    /// written only while fewer than `limit` are shared. Unshares pass.
    MaxSharedInAccount { account_id: AccountId, limit: u64 },
}

impl WriteGuard {
    /// The account whose rows the guard counts.
    pub fn account_id(&self) -> AccountId {
        match *self {
            Self::MaxSharedInAccount { account_id, .. } => account_id,
        }
    }
}

// Returned once per share/unshare, never stored in bulk: boxing `Applied` would only cost an
// allocation and clutter every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// The state change and its event were committed together. `endpoint_count` is the
    /// model's endpoints as the transition saw them when it shared the model (0 on unshare),
    /// for the catalog entry.
    Applied {
        model: Model,
        event: ShareEvent,
        endpoint_count: i64,
    },
    /// Someone else changed the model since `expected_version` was read; nothing was written.
    Stale,
    /// The model was still at `expected_version`, but `guard` did not hold: `shared` models
    /// of the account were shared when the transaction looked. Nothing was written.
    LimitReached { guard: WriteGuard, shared: u64 },
}

/// A shared model as the public catalog shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRow {
    pub model: Model,
    pub owner_name: String,
    pub endpoint_count: i64,
}

/// A scheduled share or unshare of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub id: ScheduleId,
    pub project_id: ProjectId,
    pub model_id: ModelId,
    pub action: ShareAction,
    /// When it is due.
    pub at: Timestamp,
    pub status: ScheduleStatus,
    pub created_at: Timestamp,
    pub created_by_user_id: UserId,
    /// The key it was created with; its run's share event names it.
    pub created_by_key_id: ApiKeyId,
    /// When it succeeded or failed.
    pub result_at: Option<Timestamp>,
    /// The seed's response body, when it succeeded.
    pub result: Option<serde_json::Value>,
    /// The error object, exactly as the API would have answered it, when it failed.
    pub error: Option<serde_json::Value>,
    pub cancelled_at: Option<Timestamp>,
    /// How many times a runner claimed it (more than once after a retry or a takeover).
    pub attempts: i32,
}

/// A schedule to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    pub project_id: ProjectId,
    pub model_id: ModelId,
    pub action: ShareAction,
    pub at: Timestamp,
    pub created_by_user_id: UserId,
    pub created_by_key_id: ApiKeyId,
}

/// A runner's claim on a due schedule: until `until`, no other runner takes it, and only the
/// holder of `token` can record its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub token: uuid::Uuid,
    pub until: Timestamp,
}

/// How a schedule's run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleOutcome {
    /// The transition was answered 200: its body.
    Succeeded(serde_json::Value),
    /// The transition was refused: the error object.
    Failed(serde_json::Value),
}

/// Why a schedule could not be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelRefused {
    /// The model has no such schedule.
    NotFound,
    /// It already ran, was cancelled, or a runner holds it now.
    NotPending,
}

/// Keyset pagination: at most `limit` items after `after`, plus whether more exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

/// A webhook subscription to create. `secret` is the signing secret as sealed by the caller
/// (the store never sees it in the clear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub project_id: ProjectId,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: String,
    pub sealed_secret: String,
    pub created_by_user_id: UserId,
}

/// A webhook subscription as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub project_id: ProjectId,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: String,
    pub active: bool,
    /// The signing secret, sealed.
    pub sealed_secret: String,
    /// After a rotation: the former secret (sealed), which keeps signing until `.1`.
    pub previous_secret: Option<(String, chrono::DateTime<chrono::Utc>)>,
    /// Events in a row whose every attempt failed.
    pub failed_events: i32,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("events", &self.events)
            .field("active", &self.active)
            .field("failed_events", &self.failed_events)
            .finish_non_exhaustive()
    }
}

/// A delivery to make: one event to one webhook. `fanout_key` is unique per webhook (the event
/// id for deliveries made from the outbox), so that making it twice makes it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub webhook_id: WebhookId,
    pub project_id: ProjectId,
    pub event_id: String,
    pub event_type: EventType,
    /// The body sent on every attempt.
    pub payload: String,
    pub fanout_key: String,
}

/// A delivery as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: String,
    pub event_type: EventType,
    /// Attempts made so far.
    pub attempt: i32,
    pub status: DeliveryStatus,
    pub response_status: Option<i32>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub attempted_at: Option<Timestamp>,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A delivery an engine claimed, with what it needs to send it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub delivery: Delivery,
    pub payload: String,
    pub url: String,
    pub sealed_secret: String,
    pub previous_secret: Option<(String, chrono::DateTime<chrono::Utc>)>,
}

impl std::fmt::Debug for ClaimedDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedDelivery")
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

/// How one attempt of a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    pub at: chrono::DateTime<chrono::Utc>,
    pub response_status: Option<i32>,
    pub duration_ms: i64,
    /// Why it failed (none on success).
    pub error: Option<String>,
    pub next: AttemptNext,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptNext {
    /// The receiver took it.
    Succeeded,
    /// Another attempt is due then.
    RetryAt(chrono::DateTime<chrono::Utc>),
    /// No attempt is left: the event failed for this webhook.
    Failed,
}

/// What recording an attempt did to its webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The claim was no longer the caller's: nothing was written.
    NotHeld,
    Written,
    /// Written, and the webhook reached its limit of failed events: it is inactive now.
    Disabled,
}

/// A share event as the webhook fan-out sees it, with everyone it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutEvent {
    pub event: ShareEvent,
    /// The owner project's active subscriptions that existed when the event was written.
    pub owner_webhooks: Vec<(WebhookId, Vec<EventType>)>,
    /// Unshares: each other project with endpoints on the model, its endpoints, and its
    /// active subscriptions.
    pub endpoint_projects: Vec<EndpointProject>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointProject {
    pub project_id: ProjectId,
    pub endpoint_ids: Vec<EndpointId>,
    pub webhooks: Vec<(WebhookId, Vec<EventType>)>,
}
