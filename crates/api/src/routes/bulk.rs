//! Bulk share and unshare: up to 100 models of a project in one call, each through its own actor
//! and the same checks as the single call, concurrently (so their writes share group commits).

use std::collections::HashSet;

use actix_web::{HttpResponse, web};
use domain::ShareAction;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::sharing::{SeedBody, transition};
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody, ErrorEnvelope};
use crate::extract::ProjectCaller;
use crate::telemetry::RequestId;

/// Most models one bulk call takes.
pub const MAX_BULK: usize = 100;

/// The body of a bulk call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest {
    /// 1 to 100 model ids of the project, each at most once.
    #[schema(min_items = 1, max_items = 100)]
    pub model_ids: Vec<String>,
}

/// `200` of a bulk call: one item per model, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkList<'a> {
    /// Always `list`.
    #[schema(value_type = String, example = "list")]
    pub object: &'static str,
    pub data: Vec<BulkItem<'a>>,
}

/// What the single call would have answered for one model: its status, and its body (`result`
/// on 200, `error` otherwise).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkItem<'a> {
    /// As given in the request.
    pub model_id: &'a str,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<SeedBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody<'a>>,
}

/// 400 `invalid_request` (`param: modelIds`) for a list that is empty, too long or names a
/// model twice.
fn check_ids(ids: &[String]) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > MAX_BULK {
        return Err(ApiError::invalid(
            "modelIds",
            format!("`modelIds` must list 1 to {MAX_BULK} model ids."),
        ));
    }
    let mut seen = HashSet::with_capacity(ids.len());
    for id in ids {
        // Two spellings of one UUID are one model.
        let key = id
            .parse::<uuid::Uuid>()
            .map_or_else(|_| id.clone(), |u| u.to_string());
        if !seen.insert(key) {
            return Err(ApiError::invalid(
                "modelIds",
                format!("`modelIds` lists {id} more than once."),
            ));
        }
    }
    Ok(())
}

async fn bulk(
    action: ShareAction,
    caller: ProjectCaller,
    body: web::Json<BulkRequest>,
    request_id: RequestId,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // What refuses the caller refuses every item the same way: the whole call answers it.
    state.catalog.refuse_caller(action, &caller.0).await?;
    check_ids(&body.model_ids)?;
    let results = join_all(
        body.model_ids
            .iter()
            .map(|id| transition(action, &caller, id, &request_id, &state)),
    )
    .await;
    let data = body
        .model_ids
        .iter()
        .zip(&results)
        .map(|(model_id, result)| match result {
            Ok(done) => BulkItem {
                model_id,
                status: 200,
                result: Some(SeedBody::from(done)),
                error: None,
            },
            Err(err) => BulkItem {
                model_id,
                status: err.status.as_u16(),
                result: None,
                error: Some(err.body()),
            },
        })
        .collect();
    Ok(HttpResponse::Ok().json(BulkList {
        object: "list",
        data,
    }))
}

/// `POST /{projectId}/v1/models/share` `{"modelIds": [...]}`: admin, as the single call.
#[utoipa::path(post, path = "/{projectId}/v1/models/share", tag = "sharing tools", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123")),
    request_body = BulkRequest,
    responses((status = 200, description = "One item per model in request order, each as the single share would answer it", body = BulkList),
        (status = 400, description = "Bad JSON, or `modelIds` empty, over 100 or naming a model twice (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`feature_not_enabled`, `permission_denied`: the caller is refused for every model", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found`", body = ErrorEnvelope),
        (status = 413, description = "Body over the limit", body = ErrorEnvelope),
        (status = 415, description = "Body is not JSON", body = ErrorEnvelope)))]
pub(crate) async fn bulk_share(
    caller: ProjectCaller,
    body: web::Json<BulkRequest>,
    request_id: RequestId,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    bulk(ShareAction::Share, caller, body, request_id, state).await
}

/// `POST /{projectId}/v1/models/unshare` `{"modelIds": [...]}`: admin, as the single call.
#[utoipa::path(post, path = "/{projectId}/v1/models/unshare", tag = "sharing tools", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123")),
    request_body = BulkRequest,
    responses((status = 200, description = "One item per model in request order, each as the single unshare would answer it", body = BulkList),
        (status = 400, description = "Bad JSON, or `modelIds` empty, over 100 or naming a model twice (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: the caller is refused for every model", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found`", body = ErrorEnvelope),
        (status = 413, description = "Body over the limit", body = ErrorEnvelope),
        (status = 415, description = "Body is not JSON", body = ErrorEnvelope)))]
pub(crate) async fn bulk_unshare(
    caller: ProjectCaller,
    body: web::Json<BulkRequest>,
    request_id: RequestId,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    bulk(ShareAction::Unshare, caller, body, request_id, state).await
}
