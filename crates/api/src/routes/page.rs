//! `GET /catalog`: the public catalog as a web page, rendered on the server (maud escapes every
//! piece of user text). It takes the same query parameters as `GET /v1/catalog/models`.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use catalog::CatalogItem;
use maud::{DOCTYPE, Markup, html};

use super::catalog::{PARAMS, browse_query, encode_cursor};
use crate::app::AppState;
use crate::error::ApiError;
use crate::pagination::QueryParams;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#b9c0cc;font-size:14px}
main{padding:20px 32px;max-width:1200px}
form.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:end;background:#fff;padding:14px;border-radius:8px;box-shadow:0 1px 2px #0002}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#555;gap:3px}
form.filters input,form.filters select{padding:6px 8px;border:1px solid #ccd;border-radius:5px;font-size:14px}
form.filters button{padding:7px 16px;border:0;border-radius:5px;background:#3b5bdb;color:#fff;font-size:14px;cursor:pointer}
h2{margin:26px 0 10px;font-size:18px}h2 small{color:#777;font-weight:normal}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:14px}
.card{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 2px #0002}
.card h3{margin:0 0 6px;font-size:16px;word-break:break-word}.card p{margin:0 0 10px;color:#444;font-size:14px}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:0;font-size:13px}.card dt{color:#777}.card dd{margin:0}
.tag{display:inline-block;background:#edf2ff;color:#3b5bdb;border-radius:10px;padding:1px 8px;margin:0 4px 4px 0;font-size:12px}
.empty,.error{background:#fff;padding:20px;border-radius:8px;margin-top:20px}.error{color:#c92a2a}
nav.pages{margin:24px 0;display:flex;gap:16px}nav.pages a{color:#3b5bdb}
";

/// `GET /catalog`.
#[utoipa::path(get, path = "/catalog", tag = "catalog",
    params(
        ("limit" = Option<u32>, Query, description = "Models per page, 1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("after" = Option<String>, Query, description = "The cursor of the next page"),
        ("q" = Option<String>, Query, description = "Case-insensitive substring of name or description"),
        ("architecture" = Option<String>, Query, description = "Exact architecture"),
        ("license" = Option<String>, Query, description = "Exact license"),
        ("tag" = Option<String>, Query, description = "A tag"),
        ("minParameters" = Option<String>, Query, description = "At least this many parameters (a form field: empty means no filter)", pattern = "^[0-9]*$"),
        ("maxParameters" = Option<String>, Query, description = "At most this many parameters (empty means no filter)", pattern = "^[0-9]*$"),
        ("minContextLength" = Option<String>, Query, description = "At least this context length (empty means no filter)", pattern = "^[0-9]*$"),
        ("sort" = Option<super::catalog::SortParam>, Query, description = "sharedAt, name or endpoints"),
    ),
    responses(
        (status = 200, description = "The catalog page", content_type = "text/html", body = String),
        (status = 400, description = "The page, with the bad parameter explained", content_type = "text/html", body = String),
        (status = 404, description = "`catalog.public_browse` is off", body = crate::error::ErrorEnvelope),
        (status = 429, description = "Over the anonymous rate limit", body = crate::error::ErrorEnvelope),
    ))]
pub(crate) async fn catalog_page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.public_browse {
        return Err(ApiError::from_status(StatusCode::NOT_FOUND));
    }
    if let Some(peer) = req.peer_addr() {
        state.rate_limits.check_ip(peer.ip())?;
    }
    let raw: BTreeMap<String, String> =
        web::Query::<BTreeMap<String, String>>::from_query(req.query_string())
            .map(web::Query::into_inner)
            .unwrap_or_default();
    // A submitted form sends every field; an empty one means "no filter".
    let raw: BTreeMap<String, String> = raw.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let parsed = QueryParams::parse(&query_string(&raw), PARAMS)
        .and_then(|params| browse_query(&params, &state));
    let (status, body) = match parsed {
        Ok(query) => {
            let page = state.catalog.browse(&query);
            let next = page.next.as_ref().map(|key| {
                let mut params = raw.clone();
                params.insert("after".into(), encode_cursor(key));
                query_string(&params)
            });
            (
                StatusCode::OK,
                render(&raw, &page.items, next, state.catalog.len(), None),
            )
        }
        Err(err) => {
            let message = format!(
                "{} ({})",
                err.message,
                err.param.as_deref().unwrap_or("query")
            );
            (
                StatusCode::BAD_REQUEST,
                render(&raw, &[], None, state.catalog.len(), Some(&message)),
            )
        }
    };
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body.into_string()))
}

fn query_string(params: &BTreeMap<String, String>) -> String {
    let pairs: Vec<(&String, &String)> = params.iter().filter(|(_, v)| !v.is_empty()).collect();
    serde_urlencoded_string(&pairs)
}

fn serde_urlencoded_string(pairs: &[(&String, &String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn render(
    params: &BTreeMap<String, String>,
    items: &[Arc<CatalogItem>],
    next: Option<String>,
    total: usize,
    error: Option<&str>,
) -> Markup {
    // Grouped by architecture, in the order of the first model of each group.
    let mut groups: Vec<(String, Vec<&CatalogItem>)> = Vec::new();
    for item in items {
        let arch = item.architecture.clone().unwrap_or_else(|| "other".into());
        match groups.iter_mut().find(|(name, _)| *name == arch) {
            Some((_, members)) => members.push(item),
            None => groups.push((arch, vec![item])),
        }
    }
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Model catalog · modelshare" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "Public model catalog" }
                    p { (total) " shared models. Create an endpoint from any of them with "
                        code { "POST /{projectId}/v1/endpoints" } "." }
                }
                main {
                    (filters(params))
                    @if let Some(error) = error {
                        p.error { (error) }
                    } @else if items.is_empty() && next.is_some() {
                        // A page examines a bounded number of models; the search goes on.
                        p.empty { "No match among the models searched so far; the next page searches on." }
                    } @else if items.is_empty() {
                        p.empty { "No shared model matches these filters." }
                    }
                    @for (arch, members) in &groups {
                        section.group {
                            h2 { (arch) " " small { "(" (members.len()) ")" } }
                            div.cards {
                                @for item in members { (card(item)) }
                            }
                        }
                    }
                    nav.pages {
                        @if params.contains_key("after") {
                            a href={ "/catalog?" (query_string(&without_after(params))) } { "« First page" }
                        }
                        @if let Some(next) = next {
                            a.next href={ "/catalog?" (next) } { "Next page »" }
                        }
                    }
                }
            }
        }
    }
}

/// The filter form, filled in with the page's parameters.
fn filters(params: &BTreeMap<String, String>) -> Markup {
    let value = |key: &str| params.get(key).cloned().unwrap_or_default();
    let sort = value("sort");
    html! {
        form.filters method="get" action="/catalog" {
            label { "Search" input type="search" name="q" value=(value("q")) placeholder="name or description"; }
            label { "Architecture" input name="architecture" value=(value("architecture")); }
            label { "License" input name="license" value=(value("license")); }
            label { "Tag" input name="tag" value=(value("tag")); }
            label { "Min parameters" input type="number" min="0" name="minParameters" value=(value("minParameters")); }
            label { "Max parameters" input type="number" min="0" name="maxParameters" value=(value("maxParameters")); }
            label { "Min context" input type="number" min="0" name="minContextLength" value=(value("minContextLength")); }
            label { "Sort"
                select name="sort" {
                    option value="sharedAt" selected[sort.is_empty() || sort == "sharedAt"] { "Newest shared" }
                    option value="name" selected[sort == "name"] { "Name" }
                    option value="endpoints" selected[sort == "endpoints"] { "Most endpoints" }
                }
            }
            button type="submit" { "Filter" }
        }
    }
}

fn without_after(params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    params
        .iter()
        .filter(|(k, _)| *k != "after")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn card(item: &CatalogItem) -> Markup {
    html! {
        article.card data-model-id=(item.model_id) {
            h3 { (item.name) }
            @if !item.description.is_empty() { p { (item.description) } }
            dl {
                dt { "Parameters" } dd { (item.parameter_count.map_or("—".to_owned(), human)) }
                dt { "Context" } dd { (item.context_length.map_or("—".to_owned(), |c| format!("{c} tokens"))) }
                dt { "License" } dd { (item.license.as_deref().unwrap_or("—")) }
                dt { "Owner" } dd { (item.owner_name) " (" (item.owner_project_id) ")" }
                dt { "Endpoints" } dd { (item.endpoint_count) }
                dt { "Shared" } dd { (item.shared_at.to_rfc3339()) }
            }
            @if !item.tags.is_empty() {
                p { @for tag in &item.tags { span.tag { (tag) } } }
            }
        }
    }
}

/// 8030000000 → "8.0B".
fn human(n: i64) -> String {
    #[allow(
        clippy::cast_precision_loss,
        clippy::as_conversions,
        reason = "shown rounded to one decimal"
    )]
    let f = n as f64;
    match n {
        n if n >= 1_000_000_000 => format!("{:.1}B", f / 1e9),
        n if n >= 1_000_000 => format!("{:.1}M", f / 1e6),
        n if n >= 1_000 => format!("{:.1}K", f / 1e3),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_read_like_people_write_them() {
        assert_eq!(human(8_030_000_000), "8.0B");
        assert_eq!(human(125_000_000), "125.0M");
        assert_eq!(human(999), "999");
    }

    #[test]
    fn query_strings_are_encoded() {
        let mut params = BTreeMap::new();
        params.insert("q".to_owned(), "a b&c".to_owned());
        params.insert("tag".to_owned(), String::new());
        assert_eq!(query_string(&params), "q=a%20b%26c");
    }
}
