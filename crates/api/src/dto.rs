//! What goes on the wire. Storage records never do; these do.

use domain::{ApiKeyId, ModelId, ScheduleId, Timestamp, UserId};
use serde::Serialize;
use utoipa::ToSchema;

/// The owner's view of a model.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelDto {
    #[schema(value_type = String, format = Uuid)]
    pub id: ModelId,
    pub name: String,
    pub description: String,
    /// uploading, validating, ready, active, failed or archived.
    #[schema(value_type = String, example = "ready")]
    pub status: &'static str,
    pub architecture: Option<String>,
    pub parameter_count: Option<i64>,
    pub context_length: Option<i64>,
    pub license: Option<String>,
    pub tags: Vec<String>,
    pub shared: bool,
    /// When the model was last shared (kept after an unshare).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub shared_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub unshared_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime, example = "2026-01-15T10:30:00Z")]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime, example = "2026-01-15T10:30:00Z")]
    pub updated_at: Timestamp,
}

impl From<storage::Model> for ModelDto {
    fn from(m: storage::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            description: m.description,
            status: m.status.as_str(),
            architecture: m.architecture,
            parameter_count: m.parameter_count,
            context_length: m.context_length,
            license: m.license,
            tags: m.tags,
            shared: m.shared,
            shared_at: m.shared_at,
            unshared_at: m.unshared_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// One row of a model's share history.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareEventDto {
    /// Grows monotonically across all models.
    pub id: i64,
    /// share or unshare.
    #[schema(value_type = String, example = "share")]
    pub action: &'static str,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub actor_user_id: Option<UserId>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub api_key_id: Option<ApiKeyId>,
    /// The request's `x-request-id` (the client's own when it sent one).
    pub request_id: String,
    /// The id the service gave that request (null on events written before it was kept).
    pub server_request_id: Option<String>,
    /// The schedule whose run wrote the event (null for a request's own share or unshare).
    #[schema(value_type = Option<String>, example = "sch_4f9d2c8e0b7a4e1f9c3d5a6b7e8f9012")]
    pub schedule_id: Option<ScheduleId>,
    #[schema(value_type = String, format = DateTime, example = "2026-01-15T10:30:00Z")]
    pub at: Timestamp,
}

impl From<storage::ShareEvent> for ShareEventDto {
    fn from(e: storage::ShareEvent) -> Self {
        Self {
            id: e.id,
            action: e.action.as_str(),
            actor_user_id: e.actor_user_id,
            api_key_id: e.api_key_id,
            request_id: e.request_id,
            server_request_id: e.server_request_id,
            schedule_id: e.schedule_id,
            at: e.at,
        }
    }
}

/// `200` of a share.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedDto {
    #[schema(value_type = String, format = Uuid)]
    pub model_id: ModelId,
    /// Always true.
    pub shared: bool,
    #[schema(value_type = String, format = DateTime, example = "2026-01-15T10:30:00Z")]
    pub shared_at: Timestamp,
}

/// `200` of an unshare.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnsharedDto {
    #[schema(value_type = String, format = Uuid)]
    pub model_id: ModelId,
    /// Always false.
    pub shared: bool,
    #[schema(value_type = String, format = DateTime, example = "2026-01-15T10:30:00Z")]
    pub unshared_at: Timestamp,
}

/// `{"status": "ok"}` and the like.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusDto {
    #[schema(example = "ok")]
    pub status: &'static str,
}
