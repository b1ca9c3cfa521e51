//! What goes on the wire. Storage records never do; these do.

use domain::{ApiKeyId, ModelId, Timestamp, UserId};
use serde::Serialize;

/// The owner's view of a model.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelDto {
    pub id: ModelId,
    pub name: String,
    pub description: String,
    pub status: &'static str,
    pub architecture: Option<String>,
    pub parameter_count: Option<i64>,
    pub context_length: Option<i64>,
    pub license: Option<String>,
    pub tags: Vec<String>,
    pub shared: bool,
    pub shared_at: Option<Timestamp>,
    pub unshared_at: Option<Timestamp>,
    pub created_at: Timestamp,
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
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareEventDto {
    pub id: i64,
    pub action: &'static str,
    pub actor_user_id: Option<UserId>,
    pub api_key_id: Option<ApiKeyId>,
    pub request_id: String,
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
            at: e.at,
        }
    }
}
