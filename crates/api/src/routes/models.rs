//! The owner's view of a project's models.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::AppState;
use crate::dto::{ModelDto, ShareEventDto};
use crate::error::ApiError;
use crate::extract::ProjectCaller;
use crate::pagination::{Cursor, List, QueryParams};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/{projectId}/v1/models").route(web::get().to(list_models)))
        .service(web::resource("/{projectId}/v1/models/{modelId}").route(web::get().to(get_model)))
        .service(
            web::resource("/{projectId}/v1/models/{modelId}/share-events")
                .route(web::get().to(list_share_events)),
        );
}

/// `GET /{projectId}/v1/models`: newest first, any role.
async fn list_models(
    caller: ProjectCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string(), &["limit", "after"])?;
    let limit = params.limit(&state.api)?;
    let after = Cursor::created(params.get("after"))?.map(|(at, id)| (at, id.into()));
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
async fn get_model(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    QueryParams::parse(req.query_string(), &[])?;
    let model_id = super::model_id(&path.1)?;
    tracing::Span::current().record("model_id", path.1.as_str());
    let model = state
        .store
        .get_model(model_id)
        .await?
        .filter(|m| m.project_id == caller.0.project_id)
        .ok_or_else(ApiError::model_not_found)?;
    Ok(HttpResponse::Ok().json(ModelDto::from(model)))
}

/// `GET /{projectId}/v1/models/{modelId}/share-events`: newest first, any role.
async fn list_share_events(
    caller: ProjectCaller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string(), &["limit", "after"])?;
    let model_id = super::model_id(&path.1)?;
    tracing::Span::current().record("model_id", path.1.as_str());
    state
        .store
        .get_model(model_id)
        .await?
        .filter(|m| m.project_id == caller.0.project_id)
        .ok_or_else(ApiError::model_not_found)?;
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
