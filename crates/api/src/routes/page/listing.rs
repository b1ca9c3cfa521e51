//! `GET /catalog`: the facets as checkbox and radio lists with counts, the ranked search, the
//! active filters as removable chips, one page of model cards and a link to the next page.
//!
//! The page's links carry the JSON list's own query string ([`canonical`] turns what the form
//! sends into it), so a chip, a card and the next page are plain URLs, and the page and
//! `GET /v1/catalog/models` read the same parameters through the same parser.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use catalog::{CatalogItem, Facets, Filter, RangeCount, ValueCount};
use maud::{Markup, html};

use super::super::catalog::{PARAMS, REPEATABLE, browse_query, encode_cursor};
use super::{admit, grouped, html_response, human, layout, tokens};
use crate::app::AppState;
use crate::error::ApiError;
use crate::pagination::QueryParams;

/// Query parameters in order, as `(key, value)`.
type Pairs = Vec<(String, String)>;

/// The facets of exact values: the parameter (and form field) and its legend.
const VALUE_FACETS: [(&str, &str); 3] = [
    ("architecture", "Architecture"),
    ("license", "License"),
    ("tag", "Tag"),
];

/// A numeric facet: its buckets are radio buttons of one form field (`form`, valued
/// `min-max` or `min-` for the open-ended bucket), which [`canonical`] turns into the list's
/// `min_key` and `max_key` parameters.
struct RangeFacet {
    form: &'static str,
    legend: &'static str,
    min_key: &'static str,
    max_key: &'static str,
    /// A bound as the page shows it.
    unit: fn(i64) -> String,
    /// The filter's bounds of this field.
    bounds: fn(&Filter) -> (Option<i64>, Option<i64>),
    /// The facet's buckets and counts.
    counts: fn(&Facets) -> &[RangeCount],
}

const RANGE_FACETS: [RangeFacet; 2] = [
    RangeFacet {
        form: "parameters",
        legend: "Parameters",
        min_key: "minParameters",
        max_key: "maxParameters",
        unit: short,
        bounds: |f| (f.min_parameters, f.max_parameters),
        counts: |f| &f.parameters,
    },
    RangeFacet {
        form: "contextLength",
        legend: "Context length (tokens)",
        min_key: "minContextLength",
        max_key: "maxContextLength",
        unit: tokens,
        bounds: |f| (f.min_context_length, f.max_context_length),
        counts: |f| &f.context_length,
    },
];

/// A chip's "remove" mark: a drawing, not a character, so that it is no text to read out or to
/// check for contrast.
const CROSS: maud::PreEscaped<&str> = maud::PreEscaped(
    r#"<svg aria-hidden="true" focusable="false" width="10" height="10" viewBox="0 0 10 10"><path d="M1 1L9 9M9 1L1 9" stroke="currentColor" stroke-width="1.8"/></svg>"#,
);

/// A facet click submits the form (without JavaScript, the "Apply filters" button does), and
/// empty fields stay out of the URL.
const SCRIPT: &str = "(function(){var f=document.querySelector('form.filters');if(!f)return;\
f.querySelectorAll('[data-autosubmit]').forEach(function(el){el.addEventListener('change',function(){f.requestSubmit();});});\
f.addEventListener('submit',function(){Array.prototype.forEach.call(f.elements,function(el){if(el.name&&!el.value){el.disabled=true;}});});\
window.addEventListener('pageshow',function(){Array.prototype.forEach.call(f.elements,function(el){el.disabled=false;});});})();";

/// `GET /catalog`.
#[utoipa::path(get, path = "/catalog", tag = "catalog",
    params(
        ("limit" = Option<u32>, Query, description = "Models per page, 1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("after" = Option<String>, Query, description = "The cursor of the next page"),
        ("q" = Option<String>, Query, description = "Search of name and description, best match first unless `sort` says otherwise"),
        ("architecture" = Option<Vec<String>>, Query, description = "Architectures; repeat for any of several (empty means no filter)", explode = true),
        ("license" = Option<Vec<String>>, Query, description = "Licenses; repeat for any of several (empty means no filter)", explode = true),
        ("tag" = Option<Vec<String>>, Query, description = "Tags; repeat for any of several (empty means no filter)", explode = true),
        ("parameters" = Option<String>, Query, description = "A parameter-count bucket as `min-max` or `min-` (the form's radio buttons; sets minParameters and maxParameters)", pattern = "^([0-9]*-[0-9]*)?$"),
        ("contextLength" = Option<String>, Query, description = "A context-length bucket as `min-max` or `min-` (sets minContextLength and maxContextLength)", pattern = "^([0-9]*-[0-9]*)?$"),
        ("minParameters" = Option<String>, Query, description = "At least this many parameters (a form field: empty means no filter)", pattern = "^[0-9]*$"),
        ("maxParameters" = Option<String>, Query, description = "At most this many parameters (empty means no filter)", pattern = "^[0-9]*$"),
        ("minContextLength" = Option<String>, Query, description = "At least this context length (empty means no filter)", pattern = "^[0-9]*$"),
        ("maxContextLength" = Option<String>, Query, description = "At most this context length (empty means no filter)", pattern = "^[0-9]*$"),
        ("sort" = Option<super::super::catalog::SortParam>, Query, description = "relevance (the default with `q`), sharedAt (the default without), name or endpoints"),
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
    admit(&req, &state)?;
    let (pairs, error) = canonical(req.query_string());
    let parsed = match error {
        Some(message) => Err(message),
        None => QueryParams::parse_repeating(&query_string(&pairs), PARAMS, REPEATABLE)
            .and_then(|params| browse_query(&params, &state))
            .map_err(|err| {
                format!(
                    "{} ({})",
                    err.message,
                    err.param.as_deref().unwrap_or("query")
                )
            }),
    };
    let shared = state.catalog.len();
    let (status, body) = match parsed {
        Ok(query) => {
            let page = state.catalog.browse(&query);
            let facets = state.catalog.facets(&query.filter);
            let next = page.next.as_ref().map(|key| {
                let mut next = without(&pairs, |k, _| k == "after");
                next.push(("after".into(), encode_cursor(key)));
                href(&next)
            });
            let view = View {
                pairs: &pairs,
                filter: Some(&query.filter),
                facets: Some(&facets),
                items: &page.items,
                next,
                shared,
                error: None,
            };
            (StatusCode::OK, render(&view))
        }
        Err(message) => {
            let view = View {
                pairs: &pairs,
                filter: None,
                facets: None,
                items: &[],
                next: None,
                shared,
                error: Some(&message),
            };
            (StatusCode::BAD_REQUEST, render(&view))
        }
    };
    Ok(html_response(status, body))
}

/// The list's query string for what the page was sent: empty values dropped (an empty form
/// field is no filter), repeats of one pair dropped, and each bucket choice (`parameters`,
/// `contextLength`) replaced by its bounds. With a message when a bucket choice is malformed
/// (the pairs gathered until then are kept, to fill the form in again).
fn canonical(query: &str) -> (Pairs, Option<String>) {
    let Ok(raw) = web::Query::<Pairs>::from_query(query).map(web::Query::into_inner) else {
        return (Pairs::new(), Some("The query string is malformed.".into()));
    };
    let mut pairs = Pairs::new();
    for (key, value) in raw {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if let Some(range) = RANGE_FACETS.iter().find(|r| r.form == key) {
            let Some((min, max)) = parse_range(value) else {
                let message = format!(
                    "`{key}` must be a range such as 1000-4999 or 1000- ({key})",
                    key = range.form
                );
                return (pairs, Some(message));
            };
            pairs.retain(|(k, _)| k != range.min_key && k != range.max_key);
            for (k, bound) in [(range.min_key, min), (range.max_key, max)] {
                if let Some(bound) = bound {
                    pairs.push((k.to_owned(), bound.to_string()));
                }
            }
        } else if !pairs.iter().any(|(k, v)| *k == key && v == value) {
            pairs.push((key, value.to_owned()));
        }
    }
    (pairs, None)
}

/// `min-max`, `min-` or `-max`.
fn parse_range(raw: &str) -> Option<(Option<i64>, Option<i64>)> {
    let (min, max) = raw.split_once('-')?;
    let bound = |s: &str| -> Option<Option<i64>> {
        match s.trim() {
            "" => Some(None),
            s => s.parse::<i64>().ok().filter(|n| *n >= 0).map(Some),
        }
    };
    Some((bound(min)?, bound(max)?))
}

/// A bucket's form value.
fn range_value(min: Option<i64>, max: Option<i64>) -> String {
    let bound = |b: Option<i64>| b.map(|n| n.to_string()).unwrap_or_default();
    format!("{}-{}", bound(min), bound(max))
}

fn query_string(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The page's URL with `pairs` as its query string.
fn href(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        "/catalog".to_owned()
    } else {
        format!("/catalog?{}", query_string(pairs))
    }
}

/// `pairs` less those `drop` picks.
fn without(pairs: &[(String, String)], drop: impl Fn(&str, &str) -> bool) -> Pairs {
    pairs.iter().filter(|(k, v)| !drop(k, v)).cloned().collect()
}

/// The first value of `key`.
fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Whether `value` of `key` is selected (values compare as the filters do, ASCII case aside).
fn selected(pairs: &[(String, String)], key: &str, value: &str) -> bool {
    pairs
        .iter()
        .any(|(k, v)| k == key && v.eq_ignore_ascii_case(value))
}

/// 1000000000 → "1B", 1500000000 → "1.5B".
fn short(n: i64) -> String {
    human(n).replace(".0", "")
}

/// A bucket or a filter's bounds in words.
fn bounds_label(min: Option<i64>, max: Option<i64>, unit: fn(i64) -> String) -> String {
    match (min.filter(|m| *m > 0), max) {
        (None, Some(max)) => format!("Under {}", unit(max.saturating_add(1))),
        (Some(min), None) => format!("{} or more", unit(min)),
        (Some(min), Some(max)) => format!("{} to {}", unit(min), unit(max.saturating_add(1))),
        (None, None) => "Any".to_owned(),
    }
}

/// What one rendering of the page shows.
struct View<'a> {
    /// The list's query string (see [`canonical`]).
    pairs: &'a [(String, String)],
    /// None when the query was refused.
    filter: Option<&'a Filter>,
    facets: Option<&'a Facets>,
    items: &'a [Arc<CatalogItem>],
    /// The next page's URL.
    next: Option<String>,
    /// How many models are shared in all.
    shared: usize,
    error: Option<&'a str>,
}

fn render(view: &View<'_>) -> Markup {
    let lead = html! {
        (view.shared) " shared models. Pick one and create an endpoint from it with "
        code { "POST /{projectId}/v1/endpoints" } "."
    };
    let content = html! {
        div.layout {
            (form(view))
            section.results aria-labelledby="results-heading" {
                h2 #results-heading {
                    @match view.facets {
                        Some(facets) => { (facets.total) @if facets.total == 1 { " model" } @else { " models" } }
                        None => "No models",
                    }
                }
                (chips(view))
                @if let Some(error) = view.error {
                    p.error role="alert" { (error) " " a href="/catalog" { "Clear all filters" } }
                } @else if view.items.is_empty() && view.next.is_some() {
                    // A page examines a bounded number of models; the search goes on.
                    p.empty { "No match among the models searched so far; the next page searches on." }
                } @else if view.items.is_empty() {
                    p.empty { "No shared model matches these filters." }
                }
                @if !view.items.is_empty() {
                    ul.cards {
                        @for item in view.items { li { (card(item)) } }
                    }
                }
                @if first(view.pairs, "after").is_some() || view.next.is_some() {
                    nav.pages aria-label="Pages" {
                        @if first(view.pairs, "after").is_some() {
                            a href=(href(&without(view.pairs, |k, _| k == "after"))) { "First page" }
                        }
                        @if let Some(next) = &view.next {
                            a.next rel="next" href=(next) { "Next page" }
                        }
                    }
                }
            }
        }
    };
    layout(
        "Model catalog",
        "Public model catalog",
        lead,
        content,
        Some(SCRIPT),
    )
}

/// The search box, the sort, the facets and the apply button, in one GET form.
fn form(view: &View<'_>) -> Markup {
    let q = first(view.pairs, "q").unwrap_or_default();
    let sort = first(view.pairs, "sort").unwrap_or("relevance");
    let sorts = [
        ("relevance", "Best match"),
        ("sharedAt", "Newest shared"),
        ("name", "Name, A to Z"),
        ("endpoints", "Most endpoints"),
    ];
    html! {
        form.filters method="get" action="/catalog" role="search" aria-labelledby="filters-heading" {
            h2 #filters-heading { "Search and filter" }
            div.field {
                label for="q" { "Search models" }
                input #q type="search" name="q" value=(q) placeholder="e.g. llama chat";
            }
            div.field {
                label for="sort" { "Sort by" }
                select #sort name="sort" data-autosubmit {
                    @for (value, label) in sorts {
                        option value=(value) selected[sort == value] { (label) }
                    }
                }
            }
            @if let Some(limit) = first(view.pairs, "limit") {
                input type="hidden" name="limit" value=(limit);
            }
            @if let Some(facets) = view.facets {
                @for (key, legend) in VALUE_FACETS {
                    (value_facet(key, legend, values_of(facets, key), view.pairs))
                }
            }
            @if let (Some(facets), Some(filter)) = (view.facets, view.filter) {
                @for range in &RANGE_FACETS {
                    (range_facet(range, (range.counts)(facets), filter))
                }
            }
            button #apply type="submit" { "Apply filters" }
        }
    }
}

fn values_of<'a>(facets: &'a Facets, key: &str) -> &'a [ValueCount] {
    match key {
        "architecture" => &facets.architecture,
        "license" => &facets.license,
        _ => &facets.tag,
    }
}

/// Checkboxes: one per value, with its count.
fn value_facet(
    key: &str,
    legend: &str,
    values: &[ValueCount],
    pairs: &[(String, String)],
) -> Markup {
    html! {
        fieldset.facet data-facet=(key) {
            legend { (legend) }
            @if values.is_empty() {
                p.muted { "No values" }
            } @else {
                ul {
                    @for (i, v) in values.iter().enumerate() {
                        @let id = format!("{key}-{i}");
                        li {
                            input #(id) type="checkbox" name=(key) value=(v.value)
                                checked[selected(pairs, key, &v.value)] data-autosubmit;
                            label for=(id) {
                                span.value { (v.value) }
                                span.count data-count=(v.count) { (v.count) span.sr-only { " models" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Radio buttons: any, each bucket with its count, and the filter's own bounds when they are
/// no bucket's.
fn range_facet(range: &RangeFacet, buckets: &[RangeCount], filter: &Filter) -> Markup {
    let (min, max) = (range.bounds)(filter);
    let is = |b: &RangeCount| Some(b.min) == min && b.max == max;
    let any = min.is_none() && max.is_none();
    let custom = !any && !buckets.iter().any(is);
    let form = range.form;
    html! {
        fieldset.facet data-facet=(form) {
            legend { (range.legend) }
            ul {
                li {
                    input #(format!("{form}-any")) type="radio" name=(form) value="" checked[any] data-autosubmit;
                    label for=(format!("{form}-any")) { span.value { "Any" } }
                }
                @for (i, b) in buckets.iter().enumerate() {
                    @let id = format!("{form}-{i}");
                    li {
                        input #(id) type="radio" name=(form) value=(range_value(Some(b.min), b.max))
                            checked[is(b)] data-autosubmit;
                        label for=(id) {
                            span.value { (bounds_label(Some(b.min), b.max, range.unit)) }
                            span.count data-count=(b.count) { (b.count) span.sr-only { " models" } }
                        }
                    }
                }
                @if custom {
                    li {
                        input #(format!("{form}-custom")) type="radio" name=(form) value=(range_value(min, max)) checked data-autosubmit;
                        label for=(format!("{form}-custom")) { span.value { (exact_bounds(min, max)) } }
                    }
                }
            }
        }
    }
}

/// Bounds that are no bucket's, exactly.
fn exact_bounds(min: Option<i64>, max: Option<i64>) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("{} to {}", grouped(min), grouped(max)),
        (Some(min), None) => format!("At least {}", grouped(min)),
        (None, Some(max)) => format!("At most {}", grouped(max)),
        (None, None) => "Any".to_owned(),
    }
}

/// The active filters, each a link to this page without it (and from the first page).
fn chips(view: &View<'_>) -> Markup {
    let Some(filter) = view.filter else {
        return html! {};
    };
    let base = without(view.pairs, |k, _| k == "after");
    let mut chips: Vec<(String, String)> = Vec::new();
    if let Some(q) = first(&base, "q") {
        chips.push((
            format!("Search: {q}"),
            href(&without(&base, |k, _| k == "q")),
        ));
    }
    for (key, legend) in VALUE_FACETS {
        for (k, v) in base.iter().filter(|(k, _)| k == key) {
            chips.push((
                format!("{legend}: {v}"),
                href(&without(&base, |k2, v2| k2 == k && v2 == v)),
            ));
        }
    }
    for range in &RANGE_FACETS {
        let (min, max) = (range.bounds)(filter);
        if min.is_some() || max.is_some() {
            let label = if bucket_of(range, min, max) {
                bounds_label(min, max, range.unit)
            } else {
                exact_bounds(min, max)
            };
            chips.push((
                format!("{}: {label}", range.legend),
                href(&without(&base, |k, _| {
                    k == range.min_key || k == range.max_key
                })),
            ));
        }
    }
    if chips.is_empty() {
        return html! {};
    }
    let kept = ["sort", "limit"];
    let clear = href(&without(&base, |k, _| !kept.contains(&k)));
    html! {
        nav aria-label="Active filters" {
            ul.chips {
                @for (label, link) in &chips {
                    li {
                        a.chip href=(link) aria-label=(format!("Remove filter {label}")) {
                            (label) (CROSS)
                        }
                    }
                }
                @if chips.len() > 1 {
                    li { a href=(clear) { "Clear all filters" } }
                }
            }
        }
    }
}

/// Whether `min`..`max` are the bounds of one of the catalog's buckets of `range`.
fn bucket_of(range: &RangeFacet, min: Option<i64>, max: Option<i64>) -> bool {
    let buckets: &[(i64, Option<i64>)] = if range.form == "parameters" {
        &catalog::PARAMETER_BUCKETS
    } else {
        &catalog::CONTEXT_BUCKETS
    };
    buckets
        .iter()
        .any(|(lo, hi)| Some(*lo) == min && *hi == max)
}

fn card(item: &CatalogItem) -> Markup {
    html! {
        article.card data-model-id=(item.model_id) {
            h3 { a href=(format!("/catalog/models/{}", item.model_id)) { (item.name) } }
            @if !item.description.is_empty() { p { (item.description) } }
            dl.facts {
                dt { "Architecture" } dd { (item.architecture.as_deref().unwrap_or("—")) }
                dt { "Parameters" } dd { (item.parameter_count.map_or("—".to_owned(), human)) }
                dt { "Context" } dd { (item.context_length.map_or("—".to_owned(), |c| format!("{} tokens", tokens(c)))) }
                dt { "License" } dd { (item.license.as_deref().unwrap_or("—")) }
                dt { "Owner" } dd { (item.owner_name) }
                dt { "Endpoints" } dd { (item.endpoint_count) }
                dt { "Shared" } dd { (item.shared_at.as_datetime().format("%Y-%m-%d")) }
            }
            @if !item.tags.is_empty() {
                p { @for tag in &item.tags { span.tag { (tag) } } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Pairs {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_form_becomes_the_lists_query_string() {
        let (got, error) = canonical(
            "q=&architecture=llama&architecture=qwen3&architecture=llama&license=&tag=chat\
             &parameters=4000000000-9999999999&contextLength=131072-&sort=",
        );
        assert_eq!(error, None);
        assert_eq!(
            got,
            pairs(&[
                ("architecture", "llama"),
                ("architecture", "qwen3"),
                ("tag", "chat"),
                ("minParameters", "4000000000"),
                ("maxParameters", "9999999999"),
                ("minContextLength", "131072"),
            ])
        );
        // "Any" is an empty choice: no filter.
        assert_eq!(canonical("parameters=").0, Pairs::new());
        // A bucket choice replaces bounds given before it.
        assert_eq!(
            canonical("minParameters=5&parameters=-10").0,
            pairs(&[("maxParameters", "10")])
        );
        assert!(canonical("parameters=lots").1.is_some());
        assert!(canonical("parameters=-5-").1.is_some());
    }

    #[test]
    fn query_strings_are_encoded() {
        assert_eq!(
            href(&pairs(&[("q", "a b&c"), ("tag", "é")])),
            "/catalog?q=a+b%26c&tag=%C3%A9"
        );
        assert_eq!(href(&[]), "/catalog");
    }

    #[test]
    fn buckets_read_as_words() {
        assert_eq!(bounds_label(Some(0), Some(999_999_999), short), "Under 1B");
        assert_eq!(
            bounds_label(Some(4_000_000_000), Some(9_999_999_999), short),
            "4B to 10B"
        );
        assert_eq!(
            bounds_label(Some(100_000_000_000), None, short),
            "100B or more"
        );
        assert_eq!(bounds_label(Some(8192), Some(32_767), tokens), "8K to 32K");
        assert_eq!(short(1_500_000_000), "1.5B");
    }
}
