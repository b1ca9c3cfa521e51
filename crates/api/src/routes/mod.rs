//! Every route of the service, in one table: [`table`] is what [`configure`] registers and what
//! the OpenAPI document is built from ([`crate::openapi`]), each route's path, method and
//! responses coming from its handler's `#[utoipa::path]` attribute, and the responses many
//! routes share from the table ([`Common`]). One module per resource holds the handlers.

pub mod bulk;
pub mod catalog;
pub mod endpoints;
pub mod health;
pub mod models;
pub mod ops;
pub mod page;
pub mod schedules;
pub mod sharing;
pub mod tools;
pub mod webhooks;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{Route, web};
use domain::ModelId;
use utoipa::openapi::path::HttpMethod;

use crate::app::{AppState, request_timeout};
use crate::error::ApiError;
use crate::extract::{ProjectCaller, RoleGate};
use crate::idempotency::idempotency;

/// A response many routes share, declared in [`table`] once rather than in each handler's
/// attribute; [`crate::openapi`] adds it to those routes' operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Common {
    /// 408: the handler ran past `server.request_timeout_ms`.
    Timeout,
    /// 429: over a rate limit.
    RateLimited,
    /// 503: the database is unavailable.
    Unavailable,
}

impl Common {
    /// The status and what the document says about it.
    pub fn response(self) -> (u16, &'static str) {
        match self {
            Self::Timeout => (408, "The request took longer than the configured timeout"),
            Self::RateLimited => (429, "Over the rate limit; see `Retry-After`"),
            Self::Unavailable => (503, "Database unavailable; see `Retry-After`"),
        }
    }
}

/// What an API route answers besides its own responses.
const API: &[Common] = &[Common::Timeout, Common::RateLimited, Common::Unavailable];
/// The same for the catalog's reads, which are served from memory (no 503).
const IN_MEMORY: &[Common] = &[Common::Timeout, Common::RateLimited];

type Schemas = Vec<(
    String,
    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
)>;

/// One method on one path: how the app serves it and how the OpenAPI document describes it,
/// both from the handler's `#[utoipa::path]` attribute.
pub struct RouteDef {
    pub method: Method,
    pub path: String,
    route: fn() -> Route,
    /// The method as the document names it.
    pub http_methods: fn() -> Vec<HttpMethod>,
    /// The operation as the handler's attribute describes it.
    pub operation: fn() -> utoipa::openapi::path::Operation,
    /// The schemas the operation refers to.
    pub schemas: fn(&mut Schemas),
    /// The shared responses it also answers.
    pub common: &'static [Common],
}

/// The route of handler `P` (the type `#[utoipa::path]` generates), served by `route`.
fn def<P>(route: fn() -> Route, common: &'static [Common]) -> RouteDef
where
    P: utoipa::Path + utoipa::__dev::SchemaReferences + utoipa::__dev::Tags<'static>,
{
    let method = match P::methods().first() {
        Some(HttpMethod::Post) => Method::POST,
        Some(HttpMethod::Delete) => Method::DELETE,
        Some(HttpMethod::Put) => Method::PUT,
        Some(HttpMethod::Patch) => Method::PATCH,
        _ => Method::GET,
    };
    RouteDef {
        method,
        path: P::path(),
        route,
        http_methods: P::methods,
        operation: operation_of::<P>,
        schemas: P::schemas,
        common,
    }
}

/// The operation of handler `P` with the tags of its attribute (which utoipa keeps apart).
fn operation_of<P>() -> utoipa::openapi::path::Operation
where
    P: utoipa::Path + utoipa::__dev::Tags<'static>,
{
    let mut operation = P::operation();
    let tags = operation.tags.get_or_insert_with(Vec::new);
    for tag in P::tags() {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    operation
}

/// The routes, in registration order. Each handler's attribute holds its path and method.
/// A request is matched against the paths in this order, so the catalog's reads, the most
/// frequent requests, come first (none of them shares a pattern with another route).
pub fn table() -> Vec<RouteDef> {
    vec![
        def::<catalog::__path_list_catalog>(|| web::get().to(catalog::list_catalog), IN_MEMORY),
        def::<catalog::__path_catalog_facets>(|| web::get().to(catalog::catalog_facets), IN_MEMORY),
        def::<catalog::__path_get_catalog_model>(
            || web::get().to(catalog::get_catalog_model),
            IN_MEMORY,
        ),
        def::<health::__path_healthz>(|| web::get().to(health::healthz), &[]),
        def::<health::__path_readyz>(|| web::get().to(health::readyz), &[]),
        def::<ops::__path_metrics>(|| web::get().to(ops::metrics), &[]),
        def::<ops::__path_openapi_json>(|| web::get().to(ops::openapi_json), &[]),
        def::<ops::__path_docs_redirect>(|| web::get().to(ops::docs_redirect), &[]),
        def::<page::__path_catalog_page>(|| web::get().to(page::catalog_page), &[]),
        def::<page::__path_model_page>(|| web::get().to(page::model_page), &[]),
        def::<models::__path_list_models>(|| web::get().to(models::list_models), API),
        // Before `/{projectId}/v1/models/{modelId}`, whose pattern also matches these paths.
        def::<bulk::__path_bulk_share>(|| web::post().to(bulk::bulk_share), API),
        def::<bulk::__path_bulk_unshare>(|| web::post().to(bulk::bulk_unshare), API),
        def::<models::__path_get_model>(|| web::get().to(models::get_model), API),
        def::<models::__path_list_share_events>(|| web::get().to(models::list_share_events), API),
        def::<sharing::__path_share>(|| web::post().to(sharing::share), API),
        def::<sharing::__path_unshare>(|| web::post().to(sharing::unshare), API),
        def::<tools::__path_share_eligibility>(|| web::get().to(tools::share_eligibility), API),
        def::<tools::__path_unshare_impact>(|| web::get().to(tools::unshare_impact), API),
        def::<schedules::__path_create_schedule>(
            || web::post().to(schedules::create_schedule),
            API,
        ),
        def::<schedules::__path_list_schedules>(|| web::get().to(schedules::list_schedules), API),
        def::<schedules::__path_get_schedule>(|| web::get().to(schedules::get_schedule), API),
        def::<schedules::__path_cancel_schedule>(
            || web::delete().to(schedules::cancel_schedule),
            API,
        ),
        def::<webhooks::__path_create_webhook>(|| web::post().to(webhooks::create_webhook), API),
        def::<webhooks::__path_list_webhooks>(|| web::get().to(webhooks::list_webhooks), API),
        def::<webhooks::__path_get_webhook>(|| web::get().to(webhooks::get_webhook), API),
        def::<webhooks::__path_update_webhook>(|| web::patch().to(webhooks::update_webhook), API),
        def::<webhooks::__path_delete_webhook>(|| web::delete().to(webhooks::delete_webhook), API),
        def::<webhooks::__path_ping_webhook>(|| web::post().to(webhooks::ping_webhook), API),
        def::<webhooks::__path_rotate_secret>(|| web::post().to(webhooks::rotate_secret), API),
        def::<webhooks::__path_list_deliveries>(|| web::get().to(webhooks::list_deliveries), API),
        def::<webhooks::__path_redeliver>(|| web::post().to(webhooks::redeliver), API),
        def::<endpoints::__path_create_endpoint>(
            || web::post().to(endpoints::create_endpoint),
            API,
        ),
        def::<endpoints::__path_list_endpoints>(|| web::get().to(endpoints::list_endpoints), API),
        def::<endpoints::__path_get_endpoint>(|| web::get().to(endpoints::get_endpoint), API),
        def::<endpoints::__path_delete_endpoint>(
            || web::delete().to(endpoints::delete_endpoint),
            API,
        ),
    ]
}

/// Registers every route of [`table`], one resource per path (so a known path with another
/// method answers 405, not 404), plus the interactive docs' assets under `/docs/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Each path, its routes, and whether one of them is a POST.
    let mut paths: Vec<(String, Vec<Route>, bool)> = Vec::new();
    for def in table() {
        let route = (def.route)();
        let post = def.method == Method::POST;
        match paths.iter_mut().find(|(path, ..)| *path == def.path) {
            Some((_, routes, any_post)) => {
                routes.push(route);
                *any_post |= post;
            }
            None => paths.push((def.path, vec![route], post)),
        }
    }
    for (path, routes, any_post) in paths {
        let resource = routes
            .into_iter()
            // Named by its pattern: the request metrics' route label, read without building it.
            .fold(web::resource(path.as_str()).name(&path), |r, route| {
                r.route(route)
            })
            .wrap(from_fn(request_timeout));
        if any_post {
            // The idempotency layer outside the timeout, so that it sees a timed-out request's
            // 408. Only a POST can carry an `Idempotency-Key`: the other paths go without it.
            cfg.service(resource.wrap(from_fn(idempotency)));
        } else {
            cfg.service(resource);
        }
    }
    cfg.service(ops::docs());
}

/// The model the path's `raw` id names, if it is in the caller's project; else 404
/// `model_not_found` (a model of another project is not told apart from one that does not
/// exist). Records the id on the request's span.
pub(crate) async fn own_model<R: RoleGate>(
    state: &AppState,
    caller: &ProjectCaller<R>,
    raw: &str,
) -> Result<storage::Model, ApiError> {
    let id = model_id(raw)?;
    tracing::Span::current().record("model_id", raw);
    state
        .store
        .get_model(id)
        .await?
        .filter(|m| m.project_id == caller.0.project_id)
        .ok_or_else(ApiError::model_not_found)
}

/// A model id from the path; anything that is not a UUID names no model.
pub(crate) fn model_id(raw: &str) -> Result<ModelId, ApiError> {
    raw.parse().map_err(|_| ApiError::model_not_found())
}
