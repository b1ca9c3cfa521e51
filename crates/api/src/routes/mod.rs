//! Every route of the service, in one table: [`table`] is what [`configure`] registers and what
//! the OpenAPI test compares with the spec. One module per resource holds the handlers.

pub mod catalog;
pub mod endpoints;
pub mod health;
pub mod models;
pub mod ops;
pub mod page;
pub mod sharing;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{Route, web};
use domain::ModelId;

use crate::app::request_timeout;
use crate::error::ApiError;

/// One method on one path.
pub struct RouteDef {
    pub method: Method,
    pub path: &'static str,
    route: fn() -> Route,
}

const fn def(method: Method, path: &'static str, route: fn() -> Route) -> RouteDef {
    RouteDef {
        method,
        path,
        route,
    }
}

/// The routes, in registration order.
pub fn table() -> Vec<RouteDef> {
    vec![
        def(Method::GET, "/healthz", || web::get().to(health::healthz)),
        def(Method::GET, "/readyz", || web::get().to(health::readyz)),
        def(Method::GET, "/metrics", || web::get().to(ops::metrics)),
        def(Method::GET, "/openapi.json", || {
            web::get().to(ops::openapi_json)
        }),
        def(Method::GET, "/docs", || web::get().to(ops::docs_redirect)),
        def(Method::GET, "/catalog", || {
            web::get().to(page::catalog_page)
        }),
        def(Method::GET, "/v1/catalog/models", || {
            web::get().to(catalog::list_catalog)
        }),
        def(Method::GET, "/v1/catalog/models/{modelId}", || {
            web::get().to(catalog::get_catalog_model)
        }),
        def(Method::GET, "/{projectId}/v1/models", || {
            web::get().to(models::list_models)
        }),
        def(Method::GET, "/{projectId}/v1/models/{modelId}", || {
            web::get().to(models::get_model)
        }),
        def(
            Method::GET,
            "/{projectId}/v1/models/{modelId}/share-events",
            || web::get().to(models::list_share_events),
        ),
        def(
            Method::POST,
            "/{projectId}/v1/models/{modelId}/share",
            || web::post().to(sharing::share),
        ),
        def(
            Method::POST,
            "/{projectId}/v1/models/{modelId}/unshare",
            || web::post().to(sharing::unshare),
        ),
        def(Method::POST, "/{projectId}/v1/endpoints", || {
            web::post().to(endpoints::create_endpoint)
        }),
        def(Method::GET, "/{projectId}/v1/endpoints", || {
            web::get().to(endpoints::list_endpoints)
        }),
        def(
            Method::GET,
            "/{projectId}/v1/endpoints/{endpointId}",
            || web::get().to(endpoints::get_endpoint),
        ),
        def(
            Method::DELETE,
            "/{projectId}/v1/endpoints/{endpointId}",
            || web::delete().to(endpoints::delete_endpoint),
        ),
    ]
}

/// Registers every route of [`table`], one resource per path (so a known path with another
/// method answers 405, not 404), plus the interactive docs' assets under `/docs/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<(&'static str, Vec<Route>)> = Vec::new();
    for def in table() {
        let route = (def.route)();
        match paths.iter_mut().find(|(path, _)| *path == def.path) {
            Some((_, routes)) => routes.push(route),
            None => paths.push((def.path, vec![route])),
        }
    }
    for (path, routes) in paths {
        let resource = routes
            .into_iter()
            .fold(web::resource(path), |r, route| r.route(route));
        cfg.service(resource.wrap(from_fn(request_timeout)));
    }
    cfg.service(ops::docs());
}

/// A model id from the path; anything that is not a UUID names no model.
pub(crate) fn model_id(raw: &str) -> Result<ModelId, ApiError> {
    raw.parse().map_err(|_| ApiError::model_not_found())
}
