//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and the
//! DTOs' `ToSchema` derives.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "modelshare",
        description = "Share models to a public catalog, take them back, and build inference endpoints from what is shared. \
            Every error has the body `{\"error\": {\"message\", \"type\", \"code\", \"param\"}}`; every response carries `x-request-id`.",
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::ops::metrics,
        routes::ops::openapi_json,
        routes::ops::docs_redirect,
        routes::page::catalog_page,
        routes::catalog::list_catalog,
        routes::catalog::get_catalog_model,
        routes::models::list_models,
        routes::models::get_model,
        routes::models::list_share_events,
        routes::sharing::share,
        routes::sharing::unshare,
        routes::endpoints::create_endpoint,
        routes::endpoints::list_endpoints,
        routes::endpoints::get_endpoint,
        routes::endpoints::delete_endpoint,
    ),
    // Schemas only parameters refer to (utoipa collects those of bodies by itself).
    components(schemas(routes::catalog::SortParam)),
    modifiers(&BearerAuth),
    tags(
        (name = "sharing", description = "Share a model to the public catalog and take it back (admin)"),
        (name = "models", description = "A project's own models and their share history"),
        (name = "catalog", description = "The public catalog of shared models"),
        (name = "endpoints", description = "Inference endpoints bound to a model"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("xero_<project-slug>_<secret>")
                    .description(Some(
                        "An API key of the project, shown once when it is created.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document, built once.
pub fn spec() -> &'static utoipa::openapi::OpenApi {
    static SPEC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc
    })
}
