//! The public catalog: shared models of every tenant, read from memory.

use std::fmt::Write as _;
use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use catalog::{BrowseQuery, CatalogItem, Facets, Filter, RangeCount, Sort, SortKey, ValueCount};
use domain::{ModelId, ProjectId, Timestamp};
use serde::Serialize;

use crate::app::AppState;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::CatalogCaller;
use crate::pagination::{Cursor, List, QueryParams};

pub(crate) const PARAMS: &[&str] = &[
    "limit",
    "after",
    "q",
    "architecture",
    "license",
    "tag",
    "minParameters",
    "maxParameters",
    "minContextLength",
    "maxContextLength",
    "sort",
];

/// The filters that may be given several times (any of the values).
pub(crate) const REPEATABLE: &[&str] = &["architecture", "license", "tag"];

/// The most values one repeatable filter takes.
const MAX_VALUES: usize = 20;

/// The parameters of `GET /v1/catalog/facets`: the list's filters.
const FACET_PARAMS: &[&str] = &[
    "q",
    "architecture",
    "license",
    "tag",
    "minParameters",
    "maxParameters",
    "minContextLength",
    "maxContextLength",
];

/// A shared model as the public catalog shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogModelDto {
    #[schema(value_type = String, format = Uuid)]
    pub model_id: ModelId,
    pub name: String,
    pub description: String,
    pub architecture: Option<String>,
    pub parameter_count: Option<i64>,
    pub context_length: Option<i64>,
    pub license: Option<String>,
    pub tags: Vec<String>,
    pub owner: OwnerDto,
    #[schema(value_type = String, format = DateTime, example = "2026-01-15T10:30:00Z")]
    pub shared_at: Timestamp,
    pub endpoint_count: i64,
}

/// The project that shares the model.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnerDto {
    #[schema(value_type = String, example = "proj_ABC123")]
    pub project_id: ProjectId,
    pub name: String,
}

impl From<&CatalogItem> for CatalogModelDto {
    fn from(item: &CatalogItem) -> Self {
        Self {
            model_id: item.model_id,
            name: item.name.clone(),
            description: item.description.to_string(),
            architecture: item.architecture.as_deref().map(str::to_owned),
            parameter_count: item.parameter_count,
            context_length: item.context_length,
            license: item.license.as_deref().map(str::to_owned),
            tags: item.tags.iter().map(|tag| tag.to_string()).collect(),
            owner: OwnerDto {
                project_id: item.owner_project_id.clone(),
                name: item.owner_name.to_string(),
            },
            shared_at: item.shared_at,
            endpoint_count: item.endpoint_count,
        }
    }
}

/// The orders of a catalog listing: the values of the `sort` parameter, as the OpenAPI document
/// shows them and as requests are parsed.
#[derive(utoipa::ToSchema, Clone, Copy)]
pub(crate) enum SortParam {
    #[schema(rename = "sharedAt")]
    SharedAt,
    #[schema(rename = "name")]
    Name,
    #[schema(rename = "endpoints")]
    Endpoints,
    #[schema(rename = "relevance")]
    Relevance,
}

impl SortParam {
    /// Each value by its name on the wire (as in the schema's renames).
    const NAMED: [(&'static str, SortParam); 4] = [
        ("sharedAt", SortParam::SharedAt),
        ("name", SortParam::Name),
        ("endpoints", SortParam::Endpoints),
        ("relevance", SortParam::Relevance),
    ];

    /// The order `raw` names; none (or empty) is `relevance` with a search, else `sharedAt`.
    fn parse(raw: Option<&str>, searching: bool) -> Result<Sort, ApiError> {
        let param = match raw {
            None | Some("") if searching => SortParam::Relevance,
            None | Some("") => SortParam::SharedAt,
            Some(raw) => Self::NAMED
                .iter()
                .find(|(name, _)| *name == raw)
                .map(|(_, param)| *param)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "sort",
                        "`sort` must be one of relevance, sharedAt, name, endpoints.",
                    )
                })?,
        };
        Ok(match param {
            SortParam::SharedAt => Sort::SharedAt,
            SortParam::Name => Sort::Name,
            SortParam::Endpoints => Sort::Endpoints,
            SortParam::Relevance => Sort::Relevance,
        })
    }
}

/// `GET /v1/catalog/models`.
#[utoipa::path(get, path = "/v1/catalog/models", tag = "catalog",
    security((), ("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "Page size, 1 to 100 (default 20)", minimum = 1, maximum = 100), ("after" = Option<String>, Query, description = "The `nextCursor` of the previous page"),
        ("q" = Option<String>, Query, description = "Case-insensitive substring of name or description"),
        ("architecture" = Option<Vec<String>>, Query, description = "Exact architecture, case-insensitive; repeat for any of several", explode = true),
        ("license" = Option<Vec<String>>, Query, description = "Exact license, case-insensitive; repeat for any of several", explode = true),
        ("tag" = Option<Vec<String>>, Query, description = "A tag the model has, case-insensitive; repeat for any of several", explode = true),
        ("minParameters" = Option<i64>, Query, description = "At least this many parameters", minimum = 0),
        ("maxParameters" = Option<i64>, Query, description = "At most this many parameters", minimum = 0),
        ("minContextLength" = Option<i64>, Query, description = "At least this context length", minimum = 0),
        ("maxContextLength" = Option<i64>, Query, description = "At most this context length", minimum = 0),
        ("sort" = Option<SortParam>, Query, description = "relevance (the default with `q`: whole-word name match, then prefix, then substring, name before description, then newest first), sharedAt (the default without `q`, newest first), name, or endpoints (most first)")),
    responses((status = 200, description = "Shared models", body = List<CatalogModelDto>),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope), (status = 401, description = "A key was sent and is invalid, or `catalog.public_browse` is off and none was sent", body = ErrorEnvelope)))]
pub(crate) async fn list_catalog(
    _caller: CatalogCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse_repeating(req.query_string(), PARAMS, REPEATABLE)?;
    let query = browse_query(&params, &state)?;
    let body = match state.pages.get(&query, state.catalog.generation()) {
        Some(body) => body,
        None => {
            let page = state.catalog.browse(&query);
            let body = Bytes::from(list_json(
                &page.items,
                page.next.as_ref().map(encode_cursor),
            ));
            state.pages.put(query, page.generation, body.clone());
            body
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}

/// An item's JSON, rendered once per item and then reused by every page that shows it.
fn item_json(item: &CatalogItem) -> &str {
    item.rendered(|item| {
        serde_json::to_string(&CatalogModelDto::from(item)).unwrap_or_else(|err| {
            // Serializing strings and integers cannot fail; keep the page valid regardless.
            tracing::error!(error = %err, model_id = %item.model_id, "catalog item not serializable");
            "null".to_owned()
        })
    })
}

/// A page as [`List`] of [`CatalogModelDto`] would serialize, built from the items' kept JSON.
fn list_json(items: &[Arc<CatalogItem>], next_cursor: Option<String>) -> String {
    let rendered: Vec<&str> = items.iter().map(|item| item_json(item)).collect();
    let mut body = String::with_capacity(rendered.iter().map(|r| r.len() + 1).sum::<usize>() + 96);
    body.push_str(r#"{"object":"list","data":"#);
    push_array(&mut body, &rendered, |body, item| body.push_str(item));
    body.push_str(r#","hasMore":"#);
    body.push_str(if next_cursor.is_some() {
        "true"
    } else {
        "false"
    });
    body.push_str(r#","nextCursor":"#);
    match next_cursor {
        // A cursor is hex: nothing to escape.
        Some(cursor) => {
            body.push('"');
            body.push_str(&cursor);
            body.push('"');
        }
        None => body.push_str("null"),
    }
    body.push('}');
    body
}

/// The counts of each facet of the public catalog under a filter.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FacetsDto {
    /// Architectures, by count then name (at most 50, plus every selected one).
    pub architecture: Vec<ValueCountDto>,
    pub license: Vec<ValueCountDto>,
    pub tag: Vec<ValueCountDto>,
    /// Parameter-count buckets, in order: under 1B, 1–4B, 4–10B, 10–30B, 30–100B, 100B+.
    pub parameters: Vec<RangeCountDto>,
    /// Context-length buckets, in order: under 4,096, to 8,191, to 32,767, to 131,071, more.
    pub context_length: Vec<RangeCountDto>,
    /// How many models match every filter given.
    pub total: u64,
}

/// One value of a field (lowercase, as the filters compare it) and how many models it leaves.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ValueCountDto {
    pub value: String,
    pub count: u64,
}

/// One bucket of a numeric field, bounds inclusive (`max` null: no upper bound).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RangeCountDto {
    pub min: i64,
    pub max: Option<i64>,
    pub count: u64,
}

impl From<Facets> for FacetsDto {
    fn from(facets: Facets) -> Self {
        let values = |values: Vec<ValueCount>| {
            values
                .into_iter()
                .map(|v| ValueCountDto {
                    value: v.value,
                    count: v.count,
                })
                .collect()
        };
        let ranges = |ranges: Vec<RangeCount>| {
            ranges
                .into_iter()
                .map(|r| RangeCountDto {
                    min: r.min,
                    max: r.max,
                    count: r.count,
                })
                .collect()
        };
        Self {
            architecture: values(facets.architecture),
            license: values(facets.license),
            tag: values(facets.tag),
            parameters: ranges(facets.parameters),
            context_length: ranges(facets.context_length),
            total: facets.total,
        }
    }
}

/// `GET /v1/catalog/facets`.
#[utoipa::path(get, path = "/v1/catalog/facets", tag = "catalog",
    security((), ("bearer" = [])),
    params(
        ("q" = Option<String>, Query, description = "Case-insensitive substring of name or description"),
        ("architecture" = Option<Vec<String>>, Query, description = "Architectures, case-insensitive; repeat for any of several", explode = true),
        ("license" = Option<Vec<String>>, Query, description = "Licenses, case-insensitive; repeat for any of several", explode = true),
        ("tag" = Option<Vec<String>>, Query, description = "Tags, case-insensitive; repeat for any of several", explode = true),
        ("minParameters" = Option<i64>, Query, description = "At least this many parameters", minimum = 0),
        ("maxParameters" = Option<i64>, Query, description = "At most this many parameters", minimum = 0),
        ("minContextLength" = Option<i64>, Query, description = "At least this context length", minimum = 0),
        ("maxContextLength" = Option<i64>, Query, description = "At most this context length", minimum = 0)),
    responses((status = 200, description = "Each facet's counts under every filter but its own", body = FacetsDto),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope), (status = 401, description = "A key was sent and is invalid, or `catalog.public_browse` is off and none was sent", body = ErrorEnvelope)))]
pub(crate) async fn catalog_facets(
    _caller: CatalogCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse_repeating(req.query_string(), FACET_PARAMS, REPEATABLE)?;
    let filter = catalog_filter(&params)?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(facets_json(&state.catalog.facets(&filter))))
}

/// The facets as [`FacetsDto`] serializes them, written straight into one string: an answer
/// is some forty small objects, and serde's writer (a call per key, value and comma, each a
/// `Vec` extended by a few bytes) cost as much as the counting.
fn facets_json(facets: &Facets) -> String {
    let mut out = String::with_capacity(2048);
    out.push_str(r#"{"architecture":"#);
    push_values(&mut out, &facets.architecture);
    out.push_str(r#","license":"#);
    push_values(&mut out, &facets.license);
    out.push_str(r#","tag":"#);
    push_values(&mut out, &facets.tag);
    out.push_str(r#","parameters":"#);
    push_ranges(&mut out, &facets.parameters);
    out.push_str(r#","contextLength":"#);
    push_ranges(&mut out, &facets.context_length);
    // Writing into a `String` cannot fail.
    let _ = write!(out, r#","total":{}}}"#, facets.total);
    out
}

/// `items` as a JSON array, each written by `push`.
fn push_array<T>(out: &mut String, items: &[T], mut push: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push(out, item);
    }
    out.push(']');
}

/// `[{"value":…,"count":…},…]`.
fn push_values(out: &mut String, values: &[ValueCount]) {
    push_array(out, values, |out, value| {
        out.push_str(r#"{"value":"#);
        push_json_string(out, &value.value);
        let _ = write!(out, r#","count":{}}}"#, value.count);
    });
}

/// `[{"min":…,"max":…,"count":…},…]`, `max` null when the bucket has no upper bound.
fn push_ranges(out: &mut String, ranges: &[RangeCount]) {
    push_array(out, ranges, |out, range| {
        let _ = write!(out, r#"{{"min":{},"max":"#, range.min);
        let _ = match range.max {
            Some(max) => write!(out, "{max}"),
            None => write!(out, "null"),
        };
        let _ = write!(out, r#","count":{}}}"#, range.count);
    });
}

/// `text` as a JSON string, as serde_json writes it: as it is unless it holds a quote, a
/// backslash or a control character (a facet value rarely does), which serde escapes.
fn push_json_string(out: &mut String, text: &str) {
    if text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "null".to_owned()));
    } else {
        out.push('"');
        out.push_str(text);
        out.push('"');
    }
}

/// `GET /v1/catalog/models/{modelId}`: 404 unless the model is shared now.
#[utoipa::path(get, path = "/v1/catalog/models/{modelId}", tag = "catalog",
    security((), ("bearer" = [])),
    params(("modelId" = String, Path, description = "Model id (UUID)", example = "550e8400-e29b-41d4-a716-446655440000")),
    responses((status = 200, description = "The shared model", body = CatalogModelDto),
        (status = 400, description = "Bad query parameter (`invalid_request`, `param` names it)", body = ErrorEnvelope), (status = 401, description = "A key was sent and is invalid, or `catalog.public_browse` is off and none was sent", body = ErrorEnvelope),
        (status = 404, description = "`model_not_found`: no such model, or not shared now", body = ErrorEnvelope)))]
pub(crate) async fn get_catalog_model(
    _caller: CatalogCaller,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    QueryParams::parse(req.query_string(), &[])?;
    let id = super::model_id(&path)?;
    let item = state
        .catalog
        .get(id)
        .ok_or_else(ApiError::model_not_found)?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(item_json(&item).to_owned()))
}

/// The filters of a catalog query string (the list's, the facets' and the web page's).
pub(crate) fn catalog_filter(params: &QueryParams) -> Result<Filter, ApiError> {
    let checked = |key: &'static str, value: &str| -> Result<(), ApiError> {
        if value.chars().count() > 200 {
            return Err(ApiError::invalid(
                key,
                format!("`{key}` is longer than 200 characters."),
            ));
        }
        Ok(())
    };
    let text = |key: &'static str| -> Result<Option<String>, ApiError> {
        match params.get(key).map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => checked(key, v).map(|()| Some(v.to_owned())),
        }
    };
    let values = |key: &'static str| -> Result<Vec<String>, ApiError> {
        let given: Vec<String> = params
            .all(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        if given.len() > MAX_VALUES {
            return Err(ApiError::invalid(
                key,
                format!("`{key}` is given more than {MAX_VALUES} times."),
            ));
        }
        given.iter().try_for_each(|v| checked(key, v))?;
        Ok(given)
    };
    let number = |key: &'static str| params.integer(key);
    let filter = Filter {
        q: text("q")?.map(|q| q.to_lowercase()),
        architecture: values("architecture")?,
        license: values("license")?,
        tag: values("tag")?,
        min_parameters: number("minParameters")?,
        max_parameters: number("maxParameters")?,
        min_context_length: number("minContextLength")?,
        max_context_length: number("maxContextLength")?,
    };
    for (min, max, name) in [
        (filter.min_parameters, filter.max_parameters, "Parameters"),
        (
            filter.min_context_length,
            filter.max_context_length,
            "ContextLength",
        ),
    ] {
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(ApiError::invalid(
                format!("max{name}"),
                format!("`max{name}` must not be less than `min{name}`."),
            ));
        }
    }
    Ok(filter)
}

pub(crate) fn browse_query(
    params: &QueryParams,
    state: &AppState,
) -> Result<BrowseQuery, ApiError> {
    let filter = catalog_filter(params)?;
    let sort = SortParam::parse(params.get("sort"), filter.q.is_some())?;
    // An empty `after` is the first page, like an empty filter is no filter.
    let after = Cursor::catalog(params.get("after"))?;
    if after.as_ref().is_some_and(|key| key.sort() != sort) {
        return Err(ApiError::invalid(
            "after",
            "`after` belongs to a listing with another `sort`; keep `sort` the same while paging.",
        ));
    }
    let limit = params.limit(&state.api)?;
    Ok(BrowseQuery {
        filter,
        sort,
        after,
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    })
}

/// The `nextCursor` of a catalog page that ends at `key`.
pub(crate) fn encode_cursor(key: &SortKey) -> String {
    Cursor::encode_catalog(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<Arc<CatalogItem>> {
        let mut row = storage::CatalogRow {
            model: storage::Model {
                id: ModelId::new(),
                project_id: "proj_ABC123".parse().unwrap(),
                name: "Llama \"quoted\" \u{e9}".into(),
                description: "line\nbreak".into(),
                status: domain::ModelStatus::Ready,
                architecture: Some("llama".into()),
                parameter_count: Some(8_000_000_000),
                context_length: None,
                license: None,
                tags: vec!["chat".into(), "</script>".into()],
                shared: true,
                shared_at: Some(domain::now()),
                unshared_at: None,
                version: 1,
                created_at: domain::now(),
                updated_at: domain::now(),
            },
            owner_name: "Owner".into(),
            endpoint_count: 3,
        };
        let first = Arc::new(CatalogItem::from_row(row.clone()));
        row.model.id = ModelId::new();
        row.model.name = "second".into();
        vec![first, Arc::new(CatalogItem::from_row(row))]
    }

    fn serialized(items: &[Arc<CatalogItem>], next_cursor: Option<String>) -> serde_json::Value {
        serde_json::to_value(List {
            object: "list",
            data: items
                .iter()
                .map(|i| CatalogModelDto::from(i.as_ref()))
                .collect(),
            has_more: next_cursor.is_some(),
            next_cursor,
        })
        .unwrap()
    }

    /// The facets written by hand are, byte for byte, what serde writes for [`FacetsDto`].
    #[test]
    fn facets_are_written_as_their_type_serializes() {
        let value = |value: &str, count| ValueCount {
            value: value.into(),
            count,
        };
        let range = |min, max, count| RangeCount { min, max, count };
        let odd = [
            "",
            "a\"b",
            "back\\slash",
            "tab\there",
            "\u{1}\u{1f}",
            "\u{7f}",
            "\u{e9}t\u{e9}",
            "</script>",
        ];
        let full = Facets {
            architecture: vec![value("llama", 12), value("qwen3", 0)],
            license: odd.iter().map(|v| value(v, 3)).collect(),
            tag: vec![value("chat", u64::MAX)],
            parameters: vec![range(0, Some(999_999_999), 4), range(i64::MIN, None, 0)],
            context_length: vec![range(4_096, Some(8_191), 1)],
            total: 17,
        };
        for facets in [full, Facets::default()] {
            let expected = serde_json::to_string(&FacetsDto::from(facets.clone())).unwrap();
            assert_eq!(facets_json(&facets), expected);
        }
    }

    #[test]
    fn concatenated_pages_are_what_the_list_type_serializes() {
        let items = items();
        let cursor = Some(encode_cursor(&SortKey::Name(
            "second".into(),
            uuid::Uuid::nil(),
        )));
        for (page, next) in [
            (&items[..], None),
            (&items[..], cursor.clone()),
            (&items[..1], cursor),
            (&items[..0], None),
        ] {
            let built = list_json(page, next.clone());
            let parsed: serde_json::Value = serde_json::from_str(&built).unwrap();
            assert_eq!(parsed, serialized(page, next));
            // The kept JSON is reused, and a second build is byte-identical.
            assert_eq!(
                list_json(page, parsed["nextCursor"].as_str().map(str::to_owned)),
                built
            );
        }
    }
}
