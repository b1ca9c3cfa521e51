//! Inference endpoints bound to a model: the project's own or one in the public catalog.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{EndpointId, EndpointSlug, ErrorCode, ModelId, Timestamp};
use serde::{Deserialize, Serialize};
use storage::StorageError;

use crate::app::AppState;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Member, ProjectCaller};
use crate::pagination::{Cursor, List, QueryParams};

/// The body of `POST /{projectId}/v1/endpoints`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEndpoint {
    /// `^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`, unique in the project.
    #[schema(
        example = "my-endpoint",
        pattern = "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
    )]
    slug: String,
    /// A model of the project (ready or active) or of the public catalog.
    #[schema(format = Uuid)]
    model_id: String,
}

/// An inference endpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointDto {
    #[schema(value_type = String, format = Uuid)]
    pub id: EndpointId,
    #[schema(value_type = String, example = "my-endpoint")]
    pub slug: EndpointSlug,
    #[schema(value_type = String, format = Uuid)]
    pub model_id: ModelId,
    /// Always `active`: endpoints outlive their model's unsharing.
    #[schema(example = "active")]
    pub status: String,
    #[schema(value_type = String, format = DateTime, example = "2026-01-15T10:30:00Z")]
    pub created_at: Timestamp,
}

impl From<storage::Endpoint> for EndpointDto {
    fn from(e: storage::Endpoint) -> Self {
        Self {
            id: e.id,
            slug: e.slug,
            model_id: e.model_id,
            status: e.status,
            created_at: e.created_at,
        }
    }
}

fn endpoint_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::EndpointNotFound,
        "No such endpoint in this project.",
    )
}

/// `POST /{projectId}/v1/endpoints` `{"slug", "modelId"}`: member or above.
#[utoipa::path(post, path = "/{projectId}/v1/endpoints", tag = "endpoints", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123")),
    request_body = CreateEndpoint,
    responses((status = 201, description = "Created; `Location` names it", body = EndpointDto),
        (status = 400, description = "Bad JSON, bad `slug` or `modelId` (`invalid_request`, `param` names it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "`permission_denied`: role below member", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `model_not_found`", body = ErrorEnvelope),
        (status = 409, description = "`slug_taken`", body = ErrorEnvelope),
        (status = 413, description = "Body over the limit", body = ErrorEnvelope),
        (status = 415, description = "Body is not JSON", body = ErrorEnvelope)))]
pub(crate) async fn create_endpoint(
    caller: ProjectCaller<Member>,
    body: web::Json<CreateEndpoint>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = EndpointSlug::parse(&body.slug).map_err(|e| {
        ApiError::invalid(
            "slug",
            format!(
                "`slug` {}; it must match ^[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?$.",
                e.reason
            ),
        )
    })?;
    let model_id: ModelId = body
        .model_id
        .parse()
        .map_err(|_| ApiError::invalid("modelId", "`modelId` must be a UUID."))?;
    tracing::Span::current().record("model_id", body.model_id.as_str());
    let project = &caller.0.project_id;
    let own_usable = state
        .store
        .get_model(model_id)
        .await?
        .is_some_and(|m| &m.project_id == project && m.status.is_usable());
    let in_catalog = state.catalog.get(model_id).is_some();
    if !own_usable && !in_catalog {
        return Err(ApiError::model_not_found());
    }
    let endpoint = match state.store.create_endpoint(project, &slug, model_id).await {
        Ok(endpoint) => endpoint,
        Err(StorageError::Conflict(_)) => {
            return Err(ApiError::new(
                ErrorCode::SlugTaken,
                format!("The slug {slug} is already used by an endpoint of this project."),
            )
            .with_param("slug"));
        }
        Err(StorageError::NotFound(_)) => return Err(ApiError::model_not_found()),
        Err(err) => return Err(err.into()),
    };
    state.catalog.endpoints_changed(model_id, 1).await;
    let location = format!("/{project}/v1/endpoints/{}", endpoint.id);
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, location))
        .json(EndpointDto::from(endpoint)))
}

/// `GET /{projectId}/v1/endpoints`: newest first, any role.
#[utoipa::path(get, path = "/{projectId}/v1/endpoints", tag = "endpoints", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("limit" = Option<u32>, Query, description = "Page size, 1 to 100 (default 20)", minimum = 1, maximum = 100), ("after" = Option<String>, Query, description = "The `nextCursor` of the previous page")),
    responses((status = 200, description = "The project's endpoints, newest first", body = List<EndpointDto>),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope), (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope), (status = 404, description = "No such project, or not the key's project (`project_not_found`)", body = ErrorEnvelope)))]
pub(crate) async fn list_endpoints(
    caller: ProjectCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (limit, after) = QueryParams::created_window(req.query_string(), &state.api)?;
    let after = after.map(|(at, id)| (at, id.into()));
    let page = state
        .store
        .list_endpoints(&caller.0.project_id, after, limit)
        .await?;
    Ok(HttpResponse::Ok().json(List::page(
        page.items,
        page.has_more,
        |e| Cursor::Created(e.created_at, e.id.as_uuid()),
        EndpointDto::from,
    )))
}

/// `GET /{projectId}/v1/endpoints/{endpointId}`: any role.
#[utoipa::path(get, path = "/{projectId}/v1/endpoints/{endpointId}", tag = "endpoints", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("endpointId" = String, Path, description = "Endpoint id (UUID)")),
    responses((status = 200, description = "The endpoint", body = EndpointDto),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope), (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope), (status = 404, description = "`project_not_found` or `endpoint_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn get_endpoint(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    QueryParams::parse(req.query_string(), &[])?;
    let id: EndpointId = path.1.parse().map_err(|_| endpoint_not_found())?;
    let endpoint = state
        .store
        .get_endpoint(&caller.0.project_id, id)
        .await?
        .ok_or_else(endpoint_not_found)?;
    Ok(HttpResponse::Ok().json(EndpointDto::from(endpoint)))
}

/// `DELETE /{projectId}/v1/endpoints/{endpointId}`: member or above; 204.
#[utoipa::path(delete, path = "/{projectId}/v1/endpoints/{endpointId}", tag = "endpoints", security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id, `proj_` + 6 to 32 letters or digits", example = "proj_ABC123"), ("endpointId" = String, Path, description = "Endpoint id (UUID)")),
    responses((status = 204, description = "Deleted"),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope), (status = 403, description = "`permission_denied`: role below member", body = ErrorEnvelope),
        (status = 404, description = "`project_not_found` or `endpoint_not_found`", body = ErrorEnvelope)))]
pub(crate) async fn delete_endpoint(
    caller: ProjectCaller<Member>,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id: EndpointId = path.1.parse().map_err(|_| endpoint_not_found())?;
    let project = &caller.0.project_id;
    let endpoint = state
        .store
        .get_endpoint(project, id)
        .await?
        .ok_or_else(endpoint_not_found)?;
    if !state.store.delete_endpoint(project, id).await? {
        return Err(endpoint_not_found());
    }
    state.catalog.endpoints_changed(endpoint.model_id, -1).await;
    Ok(HttpResponse::NoContent().finish())
}
