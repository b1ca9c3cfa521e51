//! Webhook subscriptions of a project: create (the secret shown once), list, read, re-enable,
//! delete, ping, rotate the secret; and each webhook's deliveries: list, redeliver. Admin only.
//! The engine that sends the deliveries is [`crate::webhooks`].
//!
//! Check order, as on the project's other routes: 401, 404 `project_not_found`, 403
//! `permission_denied` (below admin), then the webhook (404 `webhook_not_found`, also for a
//! webhook of another project), the delivery (404 `delivery_not_found`), the body or query
//! (400 `invalid_request` with `param`).

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{DeliveryId, ErrorCode, EventType, Timestamp, WebhookId};
use serde::{Deserialize, Serialize};
use storage::{Delivery, NewWebhook, Webhook};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Admin, ProjectCaller};
use crate::pagination::{Cursor, List, QueryParams};
use crate::webhooks::{events, secrets};

/// How long a rotated-out secret keeps signing alongside the new one.
const PREVIOUS_SECRET_HOURS: i64 = 24;
/// The longest description.
const MAX_DESCRIPTION_CHARS: usize = 500;

/// The body of `POST /{projectId}/v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where to POST events: `https` (or `http` where the operator allows it), a public host.
    #[schema(example = "https://hooks.example.com/modelshare")]
    url: Option<String>,
    /// One or more of `model.shared`, `model.unshared`, `endpoint.model_unshared`.
    #[schema(example = json!(["model.shared", "model.unshared"]))]
    events: Option<Vec<String>>,
    /// Free text, at most 500 characters.
    #[schema(example = "Registry sync")]
    description: Option<String>,
}

/// The body of `PATCH /{projectId}/v1/webhooks/{webhookId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhook {
    /// `true` re-enables a webhook (and starts its count of failed events afresh); `false`
    /// pauses it (events are not fanned out to it and pending deliveries wait).
    active: Option<bool>,
}

/// A webhook subscription. `secret` is present only in the answers that made it (create,
/// rotate-secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDto {
    /// `wh_` and 32 hex digits.
    #[schema(value_type = String, example = "wh_4f9d2c8e0b7a4e1f9c3d5a6b7e8f9012")]
    pub id: WebhookId,
    pub url: String,
    #[schema(example = json!(["model.shared", "model.unshared"]))]
    pub events: Vec<&'static str>,
    pub description: String,
    /// False once the last `webhooks.disable_after_failed_events` events (20 by default) failed
    /// on every attempt, or after `PATCH {"active": false}`.
    pub active: bool,
    /// `whsec_` and 64 hex digits; shown only when made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[schema(value_type = String, format = DateTime, example = "2026-12-02T10:30:00Z")]
    pub created_at: Timestamp,
}

impl WebhookDto {
    pub fn new(w: &Webhook, secret: Option<String>) -> Self {
        Self {
            id: w.id,
            url: w.url.clone(),
            events: w.events.iter().map(|e| e.as_str()).collect(),
            description: w.description.clone(),
            active: w.active,
            secret,
            created_at: w.created_at,
        }
    }
}

/// One event's delivery to a webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryDto {
    /// `dlv_` and 32 hex digits.
    #[schema(value_type = String, example = "dlv_018f2c8e0b7a7e1f9c3d5a6b7e8f9012")]
    pub id: DeliveryId,
    /// The event's id (`X-Webhook-Id`); the same on every attempt and redelivery.
    #[schema(example = "evt_5d41402abc4b2a76b9719d911017c592")]
    pub event_id: String,
    #[schema(example = "model.shared")]
    pub event_type: &'static str,
    /// Attempts made so far.
    pub attempt: i32,
    /// `pending`, `succeeded` or `failed`.
    #[schema(example = "succeeded")]
    pub status: &'static str,
    /// The receiver's HTTP status on the last attempt, if it answered.
    pub response_status: Option<i32>,
    pub duration_ms: Option<i64>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub attempted_at: Option<Timestamp>,
    /// When the next attempt is due (pending only).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
}

impl From<Delivery> for DeliveryDto {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type.as_str(),
            attempt: d.attempt,
            status: d.status.as_str(),
            response_status: d.response_status,
            duration_ms: d.duration_ms,
            error: d.error,
            attempted_at: d.attempted_at,
            next_attempt_at: d.next_attempt_at,
        }
    }
}

fn webhook_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::WebhookNotFound,
        "No such webhook in this project.",
    )
}

fn delivery_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::DeliveryNotFound,
        "No such delivery of this webhook.",
    )
}

/// The project's webhook the path names, or 404.
async fn own_webhook(
    state: &AppState,
    caller: &ProjectCaller<Admin>,
    raw: &str,
) -> Result<Webhook, ApiError> {
    let id: WebhookId = raw.parse().map_err(|_| webhook_not_found())?;
    tracing::Span::current().record("webhook_id", raw);
    state
        .store
        .get_webhook(&caller.0.project_id, id)
        .await?
        .ok_or_else(webhook_not_found)
}

/// `events`: a non-empty list of subscribable types, each once.
fn parse_events(raw: Option<&[String]>) -> Result<Vec<EventType>, ApiError> {
    let bad = || {
        ApiError::invalid(
            "events",
            "`events` must list one or more of model.shared, model.unshared, endpoint.model_unshared.",
        )
    };
    let raw = raw.filter(|r| !r.is_empty()).ok_or_else(bad)?;
    let mut events = Vec::new();
    for name in raw {
        let kind: EventType = name.parse().map_err(|_| bad())?;
        if kind == EventType::Ping {
            return Err(bad());
        }
        if !events.contains(&kind) {
            events.push(kind);
        }
    }
    events.sort_by_key(|e| EventType::ALL.iter().position(|k| k == e));
    Ok(events)
}

fn parse_description(raw: Option<String>) -> Result<String, ApiError> {
    let text = raw.unwrap_or_default();
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::invalid(
            "description",
            format!("`description` must be at most {MAX_DESCRIPTION_CHARS} characters."),
        ));
    }
    Ok(text)
}

/// A made secret, sealed for the store; a failure to seal is the service's fault.
fn new_sealed_secret(state: &AppState) -> Result<(String, String), ApiError> {
    let secret = secrets::new_secret().map_err(|e| {
        tracing::error!(error = %e, "no signing secret");
        ApiError::internal()
    })?;
    let sealed = state.secrets.seal(&secret).map_err(|e| {
        tracing::error!(error = %e, "signing secret not sealed");
        ApiError::internal()
    })?;
    Ok((secret, sealed))
}

/// `POST /{projectId}/v1/webhooks`: admin.
#[utoipa::path(post, path = "/{projectId}/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123")),
    request_body = CreateWebhook,
    responses((status = 201, description = "Subscribed; `secret` is shown only now; `Location` names it", body = WebhookDto),
        (status = 400, description = "Bad JSON; `url` not https, not a URL, or pointing to a private, loopback, link-local or metadata address; bad `events` or `description`; the project's webhook limit reached (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: role below admin", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found`", body = ErrorEnvelope),
        (status = 413, description = "Body over the limit", body = ErrorEnvelope),
        (status = 415, description = "Body is not JSON", body = ErrorEnvelope)))]
pub(crate) async fn create_webhook(
    caller: ProjectCaller<Admin>,
    body: web::Json<CreateWebhook>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let raw_url = body
        .url
        .as_deref()
        .ok_or_else(|| ApiError::invalid("url", "`url` is required."))?;
    let url = state
        .url_guard
        .parse(raw_url)
        .map_err(|why| ApiError::invalid("url", why))?;
    let events = parse_events(body.events.as_deref())?;
    let description = parse_description(body.description)?;
    state
        .url_guard
        .resolve(&url)
        .await
        .map_err(|why| ApiError::invalid("url", why))?;
    let project_id = &caller.0.project_id;
    if state.store.count_webhooks(project_id).await? >= state.webhooks_per_project {
        return Err(ApiError::invalid(
            "url",
            format!(
                "A project has at most {} webhooks; delete one first.",
                state.webhooks_per_project
            ),
        ));
    }
    let (secret, sealed_secret) = new_sealed_secret(&state)?;
    let webhook = state
        .store
        .create_webhook(NewWebhook {
            project_id: project_id.clone(),
            url: url.to_string(),
            events,
            description,
            sealed_secret,
            created_by_user_id: caller.0.user_id,
        })
        .await?;
    tracing::info!(webhook_id = %webhook.id, "webhook created");
    state.webhook_changed();
    Ok(HttpResponse::Created()
        .insert_header((
            LOCATION,
            format!("/{project_id}/v1/webhooks/{}", webhook.id),
        ))
        .json(WebhookDto::new(&webhook, Some(secret))))
}

/// `GET /{projectId}/v1/webhooks`: admin; newest first.
#[utoipa::path(get, path = "/{projectId}/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 100 (default 20)", minimum = 1, maximum = 100), ("after" = Option<String>, Query, description = "The `nextCursor` of the previous page")),
    responses((status = 200, description = "The project's webhooks, newest first (no secrets)", body = List<WebhookDto>),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: role below admin", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn list_webhooks(
    caller: ProjectCaller<Admin>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string(), &["limit", "after"])?;
    let limit = params.limit(&state.api)?;
    let after = Cursor::created(params.get("after"))?;
    let page = state
        .store
        .list_webhooks(
            &caller.0.project_id,
            after.map(|(at, id)| (at, WebhookId::from_uuid(id))),
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(List::page(
        page.items,
        page.has_more,
        |w| Cursor::Created(w.created_at, w.id.as_uuid()),
        |w| WebhookDto::new(&w, None),
    )))
}

/// `GET /{projectId}/v1/webhooks/{webhookId}`: admin.
#[utoipa::path(get, path = "/{projectId}/v1/webhooks/{webhookId}", tag = "webhooks", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("webhookId" = String, Path, description = "Webhook id, `wh_` + 32 hex digits")),
    responses((status = 200, description = "The webhook (no secret)", body = WebhookDto),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: role below admin", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `webhook_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn get_webhook(
    caller: ProjectCaller<Admin>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    QueryParams::parse(req.query_string(), &[])?;
    let webhook = own_webhook(&state, &caller, &path.1).await?;
    Ok(HttpResponse::Ok().json(WebhookDto::new(&webhook, None)))
}

/// `PATCH /{projectId}/v1/webhooks/{webhookId}` `{"active": bool}`: admin.
#[utoipa::path(patch, path = "/{projectId}/v1/webhooks/{webhookId}", tag = "webhooks", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("webhookId" = String, Path, description = "Webhook id, `wh_` + 32 hex digits")),
    request_body = UpdateWebhook,
    responses((status = 200, description = "The webhook as it is now", body = WebhookDto),
        (status = 400, description = "Bad JSON or a missing `active` (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: role below admin", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `webhook_not_found`", body = ErrorEnvelope),
        (status = 413, description = "Body over the limit", body = ErrorEnvelope),
        (status = 415, description = "Body is not JSON", body = ErrorEnvelope)))]
pub(crate) async fn update_webhook(
    caller: ProjectCaller<Admin>,
    path: web::Path<(String, String)>,
    body: web::Json<UpdateWebhook>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let webhook = own_webhook(&state, &caller, &path.1).await?;
    let active = body
        .active
        .ok_or_else(|| ApiError::invalid("active", "`active` (true or false) is required."))?;
    let webhook = state
        .store
        .set_webhook_active(&caller.0.project_id, webhook.id, active)
        .await?
        .ok_or_else(webhook_not_found)?;
    tracing::info!(webhook_id = %webhook.id, active, "webhook updated");
    state.webhook_changed();
    Ok(HttpResponse::Ok().json(WebhookDto::new(&webhook, None)))
}

/// `DELETE /{projectId}/v1/webhooks/{webhookId}`: admin; its deliveries go with it.
#[utoipa::path(delete, path = "/{projectId}/v1/webhooks/{webhookId}", tag = "webhooks", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("webhookId" = String, Path, description = "Webhook id, `wh_` + 32 hex digits")),
    responses((status = 204, description = "Deleted"),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: role below admin", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `webhook_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn delete_webhook(
    caller: ProjectCaller<Admin>,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id: WebhookId = path.1.parse().map_err(|_| webhook_not_found())?;
    if !state.store.delete_webhook(&caller.0.project_id, id).await? {
        return Err(webhook_not_found());
    }
    tracing::info!(webhook_id = %id, "webhook deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /{projectId}/v1/webhooks/{webhookId}/ping`: admin; a `ping` event is delivered now
/// (also to an inactive webhook, to test it before re-enabling).
#[utoipa::path(post, path = "/{projectId}/v1/webhooks/{webhookId}/ping", tag = "webhooks", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("webhookId" = String, Path, description = "Webhook id, `wh_` + 32 hex digits")),
    responses((status = 202, description = "The ping's delivery, `pending`; follow it in the deliveries list", body = DeliveryDto),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: role below admin", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `webhook_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn ping_webhook(
    caller: ProjectCaller<Admin>,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let webhook = own_webhook(&state, &caller, &path.1).await?;
    let delivery = state
        .store
        .insert_delivery(events::ping(webhook.id, &webhook.project_id))
        .await?;
    state.webhook_changed();
    Ok(HttpResponse::Accepted().json(DeliveryDto::from(delivery)))
}

/// `POST /{projectId}/v1/webhooks/{webhookId}/rotate-secret`: admin; a new secret, shown once;
/// the former one keeps signing alongside for 24 hours.
#[utoipa::path(post, path = "/{projectId}/v1/webhooks/{webhookId}/rotate-secret", tag = "webhooks", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("webhookId" = String, Path, description = "Webhook id, `wh_` + 32 hex digits")),
    responses((status = 200, description = "The webhook with its new `secret`, shown only now; for 24 hours `X-Webhook-Signature` carries two signatures, new first, comma-separated", body = WebhookDto),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: role below admin", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `webhook_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn rotate_secret(
    caller: ProjectCaller<Admin>,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let webhook = own_webhook(&state, &caller, &path.1).await?;
    let (secret, sealed) = new_sealed_secret(&state)?;
    let until = chrono::Utc::now() + chrono::Duration::hours(PREVIOUS_SECRET_HOURS);
    let webhook = state
        .store
        .rotate_webhook_secret(&caller.0.project_id, webhook.id, sealed, until)
        .await?
        .ok_or_else(webhook_not_found)?;
    tracing::info!(webhook_id = %webhook.id, "webhook secret rotated");
    Ok(HttpResponse::Ok().json(WebhookDto::new(&webhook, Some(secret))))
}

/// `GET /{projectId}/v1/webhooks/{webhookId}/deliveries`: admin; newest first.
#[utoipa::path(get, path = "/{projectId}/v1/webhooks/{webhookId}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("webhookId" = String, Path, description = "Webhook id, `wh_` + 32 hex digits"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 100 (default 20)", minimum = 1, maximum = 100), ("after" = Option<String>, Query, description = "The `nextCursor` of the previous page")),
    responses((status = 200, description = "The webhook's deliveries, newest first", body = List<DeliveryDto>),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: role below admin", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `webhook_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn list_deliveries(
    caller: ProjectCaller<Admin>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string(), &["limit", "after"])?;
    let webhook = own_webhook(&state, &caller, &path.1).await?;
    let limit = params.limit(&state.api)?;
    let after = Cursor::created(params.get("after"))?;
    let page = state
        .store
        .list_deliveries(
            webhook.id,
            after.map(|(at, id)| (at, DeliveryId::from_uuid(id))),
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(List::page(
        page.items,
        page.has_more,
        |d| Cursor::Created(d.created_at, d.id.as_uuid()),
        DeliveryDto::from,
    )))
}

/// `POST /{projectId}/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver`: admin; the
/// same event (same id and body) as a new delivery, due now.
#[utoipa::path(post, path = "/{projectId}/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver", tag = "webhooks", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("webhookId" = String, Path, description = "Webhook id, `wh_` + 32 hex digits"), ("deliveryId" = String, Path, description = "Delivery id, `dlv_` + 32 hex digits")),
    responses((status = 202, description = "The new delivery, `pending`", body = DeliveryDto),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: role below admin", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found`, `webhook_not_found` or `delivery_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn redeliver(
    caller: ProjectCaller<Admin>,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let webhook = own_webhook(&state, &caller, &path.1).await?;
    let id: DeliveryId = path.2.parse().map_err(|_| delivery_not_found())?;
    let delivery = state
        .store
        .redeliver(webhook.id, id)
        .await?
        .ok_or_else(delivery_not_found)?;
    state.webhook_changed();
    tracing::info!(webhook_id = %webhook.id, delivery_id = %delivery.id, redelivery_of = %id, "redelivery made");
    Ok(HttpResponse::Accepted().json(DeliveryDto::from(delivery)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn events_are_a_non_empty_set_of_subscribable_types() {
        let events = parse_events(Some(&names(&[
            "model.unshared",
            "model.shared",
            "model.unshared",
        ])))
        .unwrap();
        assert_eq!(events, [EventType::ModelShared, EventType::ModelUnshared]);
        for bad in [
            None,
            Some(names(&[])),
            Some(names(&["ping"])),
            Some(names(&["model.deleted"])),
        ] {
            let err = parse_events(bad.as_deref()).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("events"));
        }
        assert!(parse_description(Some("x".repeat(501))).is_err());
        assert_eq!(parse_description(None).unwrap(), "");
    }
}
