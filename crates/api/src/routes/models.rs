//! The owner's view of a project's models.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::AppState;
use crate::dto::{ModelDto, ShareEventDto};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::ProjectCaller;
use crate::pagination::{Cursor, List, QueryParams};

/// `GET /{projectId}/v1/models`: newest first, any role.
#[utoipa::path(get, path = "/{projectId}/v1/models", tag = "models", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("limit" = Option<u32>, Query, description = "Page size, 1 to 100 (default 20)", minimum = 1, maximum = 100), ("after" = Option<String>, Query, description = "The `nextCursor` of the previous page")),
    responses((status = 200, description = "The project's models, newest first", body = List<ModelDto>),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope), (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope), (status = 404, description = "No such project, or not the key's project (`project_not_found`)", body = ErrorEnvelope)))]
pub(crate) async fn list_models(
    caller: ProjectCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (limit, after) = QueryParams::created_window(req.query_string(), &state.api)?;
    let after = after.map(|(at, id)| (at, id.into()));
    let page = state
        .store
        .list_project_models(&caller.0.project_id, after, limit)
        .await?;
    let list = List::page(
        page.items,
        page.has_more,
        |m| Cursor::Created(m.created_at, m.id.as_uuid()),
        ModelDto::from,
    );
    Ok(HttpResponse::Ok().json(list))
}

/// `GET /{projectId}/v1/models/{modelId}`.
#[utoipa::path(get, path = "/{projectId}/v1/models/{modelId}", tag = "models", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000")),
    responses((status = 200, description = "The model", body = ModelDto),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope), (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope), (status = 404, description = "`project_not_found` or `model_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn get_model(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    QueryParams::parse(req.query_string(), &[])?;
    let model = super::own_model(&state, &caller, &path.1).await?;
    Ok(HttpResponse::Ok().json(ModelDto::from(model)))
}

/// `GET /{projectId}/v1/models/{modelId}/share-events`: newest first, any role.
#[utoipa::path(get, path = "/{projectId}/v1/models/{modelId}/share-events", tag = "models", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000"), ("limit" = Option<u32>, Query, description = "Page size, 1 to 100 (default 20)", minimum = 1, maximum = 100), ("after" = Option<String>, Query, description = "The `nextCursor` of the previous page")),
    responses((status = 200, description = "The model's share history, newest first", body = List<ShareEventDto>),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope), (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope), (status = 404, description = "`project_not_found` or `model_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn list_share_events(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string(), &["limit", "after"])?;
    let model_id = super::own_model(&state, &caller, &path.1).await?.id;
    let limit = params.limit(&state.api)?;
    let after = Cursor::seq(params.get("after"))?;
    let page = state
        .store
        .list_share_events(model_id, after, limit)
        .await?;
    Ok(HttpResponse::Ok().json(List::page(
        page.items,
        page.has_more,
        |e| Cursor::Seq(e.id),
        ShareEventDto::from,
    )))
}
