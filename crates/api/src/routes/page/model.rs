//! `GET /catalog/models/{modelId}`: one shared model, what people check before they deploy it,
//! and ready-to-copy curl and Python snippets that create an endpoint from it in the reader's
//! own project (`POST /{projectId}/v1/endpoints`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use catalog::CatalogItem;
use maud::{Markup, html};

use super::{admit, grouped, html_response, human, layout, tokens};
use crate::app::AppState;
use crate::error::ApiError;

/// The slug the snippets propose.
const SLUG: &str = "my-endpoint";

/// Gives each snippet a copy button where scripts run.
const SCRIPT: &str = "document.querySelectorAll('.snippet').forEach(function(box){\
var code=box.querySelector('code');var b=document.createElement('button');b.type='button';\
b.textContent='Copy '+box.getAttribute('data-lang');\
b.addEventListener('click',function(){navigator.clipboard.writeText(code.textContent).then(function(){\
b.textContent='Copied';setTimeout(function(){b.textContent='Copy '+box.getAttribute('data-lang');},1500);});});\
box.appendChild(b);});";

/// `GET /catalog/models/{modelId}`.
#[utoipa::path(get, path = "/catalog/models/{modelId}", tag = "catalog",
    params(("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000")),
    responses(
        (status = 200, description = "The model's page", content_type = "text/html", body = String),
        (status = 404, description = "The model is not shared now (or the id is no model's): a page that says so", content_type = "text/html", body = String),
        (status = 429, description = "Over the anonymous rate limit", body = crate::error::ErrorEnvelope),
    ))]
pub(crate) async fn model_page(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    admit(&req, &state)?;
    let item = super::super::model_id(&path)
        .ok()
        .and_then(|id| state.catalog.get(id));
    Ok(match item {
        Some(item) => html_response(StatusCode::OK, render(&item, &base_url(&req))),
        None => html_response(StatusCode::NOT_FOUND, not_found()),
    })
}

/// The URL the reader reached this server at, for the snippets. A host that is not a plain
/// host name or address (the `Host` header is the client's to choose) becomes `localhost`, so a
/// snippet never carries shell or Python syntax from a header.
fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    let scheme = if info.scheme() == "https" {
        "https"
    } else {
        "http"
    };
    let host = info.host();
    let plain = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    format!("{scheme}://{}", if plain { host } else { "localhost" })
}

/// The curl command: the project and the key come from the shell's environment.
fn curl_snippet(base: &str, item: &CatalogItem) -> String {
    format!(
        "curl -sS -X POST \"{base}/$PROJECT_ID/v1/endpoints\" \\\n  \
         -H \"Authorization: Bearer $MODELSHARE_API_KEY\" \\\n  \
         -H \"Content-Type: application/json\" \\\n  \
         -d '{{\"slug\": \"{SLUG}\", \"modelId\": \"{}\"}}'",
        item.model_id
    )
}

/// The same request with Python's `requests`, reading the same variables.
fn python_snippet(base: &str, item: &CatalogItem) -> String {
    format!(
        "import os\n\nimport requests\n\n\
         response = requests.post(\n    \
         f\"{base}/{{os.environ['PROJECT_ID']}}/v1/endpoints\",\n    \
         headers={{\"Authorization\": f\"Bearer {{os.environ['MODELSHARE_API_KEY']}}\"}},\n    \
         json={{\"slug\": \"{SLUG}\", \"modelId\": \"{}\"}},\n    \
         timeout=30,\n)\n\
         response.raise_for_status()\n\
         print(response.json())",
        item.model_id
    )
}

fn render(item: &CatalogItem, base: &str) -> Markup {
    let lead = html! { "Shared by " (item.owner_name) " in the public catalog." };
    let content = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/catalog" { "Catalog" } " › " span aria-current="page" { (item.name) }
        }
        section.panel aria-labelledby="details-heading" {
            h2 #details-heading { "About this model" }
            dl.facts {
                dt { "Description" }
                dd { @if item.description.is_empty() { "—" } @else { (item.description) } }
                dt { "Architecture" } dd {
                    @match &item.architecture {
                        Some(arch) => a href=(format!("/catalog?architecture={}", encode(arch))) { (arch) },
                        None => "—",
                    }
                }
                dt { "Parameters" } dd {
                    @match item.parameter_count {
                        Some(n) => { (human(n)) " (" (grouped(n)) ")" },
                        None => "—",
                    }
                }
                dt { "Context length" } dd {
                    @match item.context_length {
                        Some(n) => { (tokens(n)) " tokens" @if tokens(n) != grouped(n) { " (" (grouped(n)) ")" } },
                        None => "—",
                    }
                }
                dt { "License" } dd { (item.license.as_deref().unwrap_or("—")) }
                dt { "Tags" } dd {
                    @if item.tags.is_empty() { "—" }
                    @for tag in &item.tags {
                        a.tag href=(format!("/catalog?tag={}", encode(tag))) { (tag) }
                    }
                }
                dt { "Owner" } dd { (item.owner_name) " (project " code { (item.owner_project_id) } ")" }
                dt { "Endpoints" } dd { (item.endpoint_count) }
                dt { "Shared since" } dd {
                    time datetime=(item.shared_at.to_rfc3339()) {
                        (item.shared_at.as_datetime().format("%Y-%m-%d %H:%M UTC"))
                    }
                }
                dt { "Model id" } dd { code { (item.model_id) } }
            }
        }
        section.panel aria-labelledby="deploy-heading" {
            h2 #deploy-heading { "Create an endpoint from it" }
            p {
                "Set " code { "PROJECT_ID" } " to your project's id and " code { "MODELSHARE_API_KEY" }
                " to an API key of that project (role member or above), then run one of these. "
                "Pick your own slug: lowercase letters, digits and dashes, unique in your project. "
                "The answer (201) holds the new endpoint's id."
            }
            h3 #curl-heading { "curl" }
            div.snippet data-lang="curl" {
                pre tabindex="0" { code #curl-snippet { (curl_snippet(base, item)) } }
            }
            h3 #python-heading { "Python (requests)" }
            div.snippet data-lang="Python" {
                pre tabindex="0" { code #python-snippet { (python_snippet(base, item)) } }
            }
        }
    };
    layout(&item.name, &item.name, lead, content, Some(SCRIPT))
}

fn not_found() -> Markup {
    let content = html! {
        section.panel aria-labelledby="missing-heading" {
            h2 #missing-heading { "Not in the public catalog" }
            p {
                "No shared model has this id. Its owner may have unshared it, or it was never shared."
            }
            p { a href="/catalog" { "Browse the catalog" } }
        }
    };
    layout(
        "Model not found",
        "Model not found",
        html! { "The public catalog has no such model." },
        content,
        None,
    )
}

/// A query-string value.
fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_base_url_comes_from_the_request_and_never_carries_syntax() {
        let req = TestRequest::default()
            .insert_header(("Host", "models.example.com:8443"))
            .to_http_request();
        assert_eq!(base_url(&req), "http://models.example.com:8443");
        let req = TestRequest::default()
            .insert_header(("Host", "x$(rm -rf ~)"))
            .to_http_request();
        assert_eq!(base_url(&req), "http://localhost");
    }
}
