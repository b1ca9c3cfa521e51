//! The OpenAPI 3.1 document: its paths are the route table's ([`routes::table`]), each
//! operation from its handler's `#[utoipa::path]` attribute plus the table's shared responses,
//! and its schemas the DTOs' `ToSchema` derives that those operations refer to.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "modelshare",
        description = "Share models to a public catalog, take them back, and build inference endpoints from what is shared. \
            Every error has the body `{\"error\": {\"message\", \"type\", \"code\", \"param\"}}`; every response carries `x-request-id`.",
    ),
    // Schemas only parameters refer to (utoipa collects those of bodies by itself).
    components(schemas(routes::catalog::SortParam)),
    modifiers(&BearerAuth),
    tags(
        (name = "sharing", description = "Share a model to the public catalog and take it back (admin)"),
        (name = "sharing tools", description = "Before a share or unshare: would it pass every check, and what would it touch (nothing written)"),
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
        let mut schemas = Vec::new();
        for route in routes::table() {
            let mut operation = (route.operation)();
            for common in route.common {
                let (status, description) = common.response();
                let envelope = Content::new(Some(Ref::from_schema_name("ErrorEnvelope")));
                let response = ResponseBuilder::new()
                    .description(description)
                    .content("application/json", envelope)
                    .build();
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert(RefOr::T(response));
            }
            (route.schemas)(&mut schemas);
            doc.paths
                .add_path_operation(&route.path, (route.http_methods)(), operation);
        }
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, schema) in schemas {
            components.schemas.entry(name).or_insert(schema);
        }
        doc
    })
}
