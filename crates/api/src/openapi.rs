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
        (name = "webhooks", description = "Signed POSTs to your URLs when models are shared or unshared (admin)"),
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
                let response = error_response(description);
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert(RefOr::T(response));
            }
            if route.method == actix_web::http::Method::POST {
                idempotent(&mut operation);
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

/// Adds the `Idempotency-Key` header and its two answers to a POST's operation.
fn idempotent(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};
    let header = ParameterBuilder::new()
        .name(crate::idempotency::IDEMPOTENCY_KEY.as_str())
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "1 to 255 printable ASCII characters. The first response is kept for 24 h for this API key: \
             a retry with the same key, method, path and body gets it back byte for byte with `Idempotent-Replayed: true`.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255)),
        ))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(RefOr::T(header));
    let responses = &mut operation.responses.responses;
    let in_use = "`idempotency_key_in_use`: a request with this `Idempotency-Key` is still running; see `Retry-After`";
    match responses.get_mut("409") {
        Some(RefOr::T(response)) => {
            response.description = format!("{}; or {in_use}", response.description);
        }
        _ => {
            responses.insert("409".to_owned(), RefOr::T(error_response(in_use)));
        }
    }
    responses.insert(
        "422".to_owned(),
        RefOr::T(error_response(
            "`idempotency_key_reused`: this `Idempotency-Key` was used with another method, path or body",
        )),
    );
}

/// A response with the error envelope.
fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorEnvelope"))),
        )
        .build()
}
