//! What a catalog read asks for ([`BrowseQuery`]: filters, order, cursor, size) and what it
//! gets back ([`BrowsePage`]).

use std::sync::Arc;

use uuid::Uuid;

use super::CatalogItem;

/// The order of a catalog listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sort {
    /// Newest share first (the default).
    #[default]
    SharedAt,
    /// By name, case-insensitive, A to Z.
    Name,
    /// Most endpoints first.
    Endpoints,
}

/// Where an item sits in one sort; a page's cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SortKey {
    SharedAt(i64, Uuid),
    Name(String, Uuid),
    Endpoints(i64, Uuid),
}

impl SortKey {
    pub fn sort(&self) -> Sort {
        match self {
            Self::SharedAt(..) => Sort::SharedAt,
            Self::Name(..) => Sort::Name,
            Self::Endpoints(..) => Sort::Endpoints,
        }
    }
}

/// Filters of `GET /v1/catalog/models`; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    /// Case-insensitive substring of name or description (already lowercased).
    pub q: Option<String>,
    pub architecture: Option<String>,
    pub license: Option<String>,
    pub tag: Option<String>,
    pub min_parameters: Option<i64>,
    pub max_parameters: Option<i64>,
    pub min_context_length: Option<i64>,
}

/// The form of an exact-match value (architecture, license, tag) that the filters compare and
/// the inverted indexes are keyed by: ASCII case does not count.
pub(super) fn facet_key(value: &str) -> String {
    value.to_ascii_lowercase()
}

impl Filter {
    pub(super) fn matches(&self, item: &CatalogItem) -> bool {
        let same = |want: &str, have: &str| want.eq_ignore_ascii_case(have);
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| have.as_ref().is_some_and(|h| same(w, h)))
        };
        self.q
            .as_ref()
            .is_none_or(|q| item.search_text.contains(q.as_str()))
            && eq(&self.architecture, &item.architecture)
            && eq(&self.license, &item.license)
            && self
                .tag
                .as_ref()
                .is_none_or(|t| item.tags.iter().any(|have| same(t, have)))
            && self
                .min_parameters
                .is_none_or(|min| item.parameter_count.is_some_and(|p| p >= min))
            && self
                .max_parameters
                .is_none_or(|max| item.parameter_count.is_some_and(|p| p <= max))
            && self
                .min_context_length
                .is_none_or(|min| item.context_length.is_some_and(|c| c >= min))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrowseQuery {
    pub filter: Filter,
    pub sort: Sort,
    /// The previous page's cursor; its sort must equal `sort`.
    pub after: Option<SortKey>,
    pub limit: usize,
}

/// One page of a listing. A page may hold fewer than `limit` items while `next` is set: the
/// read examined as many models as one page may (see [`examine_bound`](super::examine_bound))
/// before it filled the page, and `next` points after the last model it examined.
#[derive(Debug, Clone)]
pub struct BrowsePage {
    pub items: Vec<Arc<CatalogItem>>,
    /// Where the next page starts, when models remain after this one: the key of the last item,
    /// or of the last model examined when the page stopped at the bound.
    pub next: Option<SortKey>,
    /// The catalog's [`generation`](crate::Catalog::generation) the page was read at.
    pub generation: u64,
    /// How many models the read tested against the filters (never more than the bound).
    pub examined: usize,
}
