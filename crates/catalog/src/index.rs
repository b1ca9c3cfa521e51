//! The in-memory public catalog: items by id, plus one ordered index per sort.
//!
//! A sort key is unique (it ends with the model id), and a page starts strictly after the key
//! of the previous page's last item. Items added or removed between two pages therefore never
//! shift the window: every item present throughout is returned exactly once.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, OnceLock};

use domain::{ModelId, ProjectId, Timestamp};
use storage::CatalogRow;
use uuid::Uuid;

/// A shared model as the public sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogItem {
    pub model_id: ModelId,
    pub name: String,
    pub description: String,
    pub architecture: Option<String>,
    pub parameter_count: Option<i64>,
    pub context_length: Option<i64>,
    pub license: Option<String>,
    pub tags: Vec<String>,
    pub owner_project_id: ProjectId,
    pub owner_name: String,
    pub shared_at: Timestamp,
    pub endpoint_count: i64,
    /// Lowercased name and description, for `q`.
    search_text: String,
    /// The item's wire form, rendered on first use (see [`CatalogItem::rendered`]).
    rendered: Rendered,
}

/// A lazily rendered form of an item. Items never change once in the index (a change replaces
/// the item), so what is rendered stays true; a clone (the start of a changed item) starts
/// empty, and the cache takes no part in equality.
#[derive(Debug, Default)]
struct Rendered(OnceLock<Box<str>>);

impl Clone for Rendered {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for Rendered {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Rendered {}

impl CatalogItem {
    pub fn from_row(row: CatalogRow) -> Self {
        let m = row.model;
        Self {
            search_text: format!("{}\n{}", m.name, m.description).to_lowercase(),
            model_id: m.id,
            name: m.name,
            description: m.description,
            architecture: m.architecture,
            parameter_count: m.parameter_count,
            context_length: m.context_length,
            license: m.license,
            tags: m.tags,
            owner_project_id: m.project_id,
            owner_name: row.owner_name,
            shared_at: m.shared_at.unwrap_or(m.updated_at),
            endpoint_count: row.endpoint_count,
            rendered: Rendered::default(),
        }
    }

    /// The item's wire form: `render`'s output on the first call, kept for every later one
    /// (pages are then built by concatenation, without cloning or serializing items again).
    /// Every caller must pass the same renderer.
    pub fn rendered(&self, render: impl FnOnce(&Self) -> String) -> &str {
        self.rendered
            .0
            .get_or_init(|| render(self).into_boxed_str())
    }

    /// The item's key in each order of the index.
    fn shared_at_key(&self) -> (Reverse<i64>, Uuid) {
        (
            Reverse(self.shared_at.as_datetime().timestamp()),
            self.model_id.as_uuid(),
        )
    }

    fn name_key(&self) -> (String, Uuid) {
        (self.name.to_lowercase(), self.model_id.as_uuid())
    }

    fn endpoints_key(&self) -> (Reverse<i64>, Uuid) {
        (Reverse(self.endpoint_count), self.model_id.as_uuid())
    }

    fn key(&self, sort: Sort) -> SortKey {
        let id = self.model_id.as_uuid();
        match sort {
            Sort::SharedAt => SortKey::SharedAt(self.shared_at.as_datetime().timestamp(), id),
            Sort::Name => SortKey::Name(self.name.to_lowercase(), id),
            Sort::Endpoints => SortKey::Endpoints(self.endpoint_count, id),
        }
    }
}

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

impl Filter {
    fn matches(&self, item: &CatalogItem) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| have.as_ref().is_some_and(|h| h.eq_ignore_ascii_case(w)))
        };
        self.q
            .as_ref()
            .is_none_or(|q| item.search_text.contains(q.as_str()))
            && eq(&self.architecture, &item.architecture)
            && eq(&self.license, &item.license)
            && self
                .tag
                .as_ref()
                .is_none_or(|t| item.tags.iter().any(|have| have.eq_ignore_ascii_case(t)))
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

#[derive(Debug, Clone)]
pub struct BrowsePage {
    pub items: Vec<Arc<CatalogItem>>,
    /// The key of the last item when more items follow.
    pub next: Option<SortKey>,
    /// The catalog's [`generation`](crate::Catalog::generation) the page was read at.
    pub generation: u64,
}

/// Builds the index of a whole catalog (the start-up load). Rows are turned into items as they
/// arrive; each order is then built from its sorted keys in one pass, several times faster
/// than inserting a million items one by one. A repeated id keeps its newest version.
#[derive(Debug, Default)]
pub(crate) struct Loader {
    items: HashMap<ModelId, Arc<CatalogItem>>,
    versions: HashMap<ModelId, i64>,
}

impl Loader {
    pub(crate) fn push(&mut self, row: CatalogRow) {
        if outdated(&self.versions, &row) {
            return;
        }
        let id = row.model.id;
        self.versions.insert(id, row.model.version);
        if row.model.shared {
            self.items.insert(id, Arc::new(CatalogItem::from_row(row)));
        } else {
            self.items.remove(&id);
        }
    }

    /// The three orders are built on three threads (sorting a million keys each).
    pub(crate) fn finish(self) -> CatalogIndex {
        let Self { items, versions } = self;
        fn order<K: Ord>(
            items: &HashMap<ModelId, Arc<CatalogItem>>,
            key: fn(&CatalogItem) -> K,
        ) -> BTreeMap<K, Arc<CatalogItem>> {
            items
                .values()
                .map(|item| (key(item), Arc::clone(item)))
                .collect()
        }
        let (by_shared_at, by_endpoints, by_name) = std::thread::scope(|scope| {
            let shared_at = scope.spawn(|| order(&items, CatalogItem::shared_at_key));
            let endpoints = scope.spawn(|| order(&items, CatalogItem::endpoints_key));
            let name = order(&items, CatalogItem::name_key);
            // A panic on a builder thread is a bug; surface it here rather than hide it.
            let join = |handle: std::thread::ScopedJoinHandle<'_, _>| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            };
            (join(shared_at), join(endpoints), name)
        });
        CatalogIndex {
            items,
            versions,
            by_shared_at,
            by_name,
            by_endpoints,
            generation: 0,
        }
    }
}

/// Whether a version of the row's model at least as new was already applied (an outbox read
/// overtaken by a local transition must not undo it).
fn outdated(versions: &HashMap<ModelId, i64>, row: &CatalogRow) -> bool {
    versions
        .get(&row.model.id)
        .is_some_and(|known| *known >= row.model.version)
}

#[derive(Debug, Default)]
pub(crate) struct CatalogIndex {
    items: HashMap<ModelId, Arc<CatalogItem>>,
    /// The newest model version applied, per model that was ever in the catalog: updates that
    /// arrive late (an outbox read overtaken by a local transition) are ignored.
    versions: HashMap<ModelId, i64>,
    // Each order holds the items themselves (not just ids), so a page walks one tree and never
    // looks an id up in `items` per candidate: filtered scans stay cheap.
    by_shared_at: BTreeMap<(Reverse<i64>, Uuid), Arc<CatalogItem>>,
    by_name: BTreeMap<(String, Uuid), Arc<CatalogItem>>,
    by_endpoints: BTreeMap<(Reverse<i64>, Uuid), Arc<CatalogItem>>,
    /// Moves on with every change of what a page can show.
    generation: u64,
}

impl CatalogIndex {
    /// The index of a whole catalog at once; see [`Loader`].
    #[cfg(test)]
    fn from_rows(rows: impl IntoIterator<Item = CatalogRow>) -> Self {
        let mut loader = Loader::default();
        rows.into_iter().for_each(|row| loader.push(row));
        loader.finish()
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn get(&self, id: ModelId) -> Option<Arc<CatalogItem>> {
        self.items.get(&id).cloned()
    }

    /// The newest version of the model applied, if it was ever in the catalog.
    pub(crate) fn version(&self, id: ModelId) -> Option<i64> {
        self.versions.get(&id).copied()
    }

    /// Applies the state of a model as read from the database: in the catalog if shared, out
    /// if not. Returns false (and changes nothing) when a newer version was already applied.
    pub(crate) fn apply(&mut self, row: CatalogRow) -> bool {
        if outdated(&self.versions, &row) {
            return false;
        }
        let id = row.model.id;
        let version = row.model.version;
        if row.model.shared {
            self.versions.insert(id, version);
            self.upsert(CatalogItem::from_row(row));
        } else if self.remove(id).is_some() || self.versions.contains_key(&id) {
            self.versions.insert(id, version);
        }
        true
    }

    pub(crate) fn upsert(&mut self, item: CatalogItem) {
        self.remove(item.model_id);
        self.generation += 1;
        let item = Arc::new(item);
        self.by_shared_at
            .insert(item.shared_at_key(), Arc::clone(&item));
        self.by_name.insert(item.name_key(), Arc::clone(&item));
        self.by_endpoints
            .insert(item.endpoints_key(), Arc::clone(&item));
        self.items.insert(item.model_id, item);
    }

    pub(crate) fn remove(&mut self, id: ModelId) -> Option<Arc<CatalogItem>> {
        let old = self.items.remove(&id)?;
        self.generation += 1;
        self.by_shared_at.remove(&old.shared_at_key());
        self.by_name.remove(&old.name_key());
        self.by_endpoints.remove(&old.endpoints_key());
        Some(old)
    }

    pub(crate) fn adjust_endpoints(&mut self, id: ModelId, delta: i64) {
        if let Some(item) = self.items.get(&id) {
            let mut item = CatalogItem::clone(item);
            item.endpoint_count = (item.endpoint_count + delta).max(0);
            self.upsert(item);
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = ModelId> + '_ {
        self.items.keys().copied()
    }

    pub(crate) fn browse(&self, query: &BrowseQuery) -> BrowsePage {
        let limit = query.limit.max(1);
        let mut items = Vec::with_capacity(limit.min(128));
        let mut has_more = false;
        let mut take = |item: &Arc<CatalogItem>| {
            if !query.filter.matches(item) {
                return true;
            }
            if items.len() == limit {
                has_more = true;
                return false;
            }
            items.push(Arc::clone(item));
            true
        };
        // One ordered walk, starting strictly after the cursor's key in the order of `sort`.
        let ordered: Box<dyn Iterator<Item = &Arc<CatalogItem>> + '_> = match query.sort {
            Sort::SharedAt => {
                let start = match &query.after {
                    Some(SortKey::SharedAt(secs, id)) => Bound::Excluded((Reverse(*secs), *id)),
                    _ => Bound::Unbounded,
                };
                Box::new(
                    self.by_shared_at
                        .range((start, Bound::Unbounded))
                        .map(|(_, v)| v),
                )
            }
            Sort::Name => {
                let start = match &query.after {
                    Some(SortKey::Name(name, id)) => Bound::Excluded((name.clone(), *id)),
                    _ => Bound::Unbounded,
                };
                Box::new(
                    self.by_name
                        .range((start, Bound::Unbounded))
                        .map(|(_, v)| v),
                )
            }
            Sort::Endpoints => {
                let start = match &query.after {
                    Some(SortKey::Endpoints(count, id)) => Bound::Excluded((Reverse(*count), *id)),
                    _ => Bound::Unbounded,
                };
                Box::new(
                    self.by_endpoints
                        .range((start, Bound::Unbounded))
                        .map(|(_, v)| v),
                )
            }
        };
        for item in ordered {
            if !take(item) {
                break;
            }
        }
        let next = if has_more {
            items.last().map(|last| last.key(query.sort))
        } else {
            None
        };
        BrowsePage {
            items,
            next,
            generation: self.generation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ModelStatus;

    fn item(name: &str, secs: i64, endpoints: i64) -> CatalogItem {
        CatalogItem::from_row(row(name, secs, endpoints))
    }

    /// A shared model at version 1, shared at `secs`.
    fn row(name: &str, secs: i64, endpoints: i64) -> CatalogRow {
        let at = Timestamp::from(chrono::DateTime::from_timestamp(secs, 0).unwrap());
        CatalogRow {
            model: storage::Model {
                id: ModelId::new(),
                project_id: "proj_ABC123".parse().unwrap(),
                name: name.into(),
                description: format!("{name} description"),
                status: ModelStatus::Ready,
                architecture: Some("llama".into()),
                parameter_count: Some(secs),
                context_length: Some(4096),
                license: Some("mit".into()),
                tags: vec!["chat".into()],
                shared: true,
                shared_at: Some(at),
                unshared_at: None,
                version: 1,
                created_at: at,
                updated_at: at,
            },
            owner_name: "Owner".into(),
            endpoint_count: endpoints,
        }
    }

    /// `row` at another version and share state.
    fn at(row: &CatalogRow, version: i64, shared: bool) -> CatalogRow {
        let mut row = row.clone();
        row.model.version = version;
        row.model.shared = shared;
        row
    }

    fn page_all(index: &CatalogIndex, sort: Sort, limit: usize) -> Vec<String> {
        let mut names = Vec::new();
        let mut after = None;
        loop {
            let page = index.browse(&BrowseQuery {
                filter: Filter::default(),
                sort,
                after,
                limit,
            });
            names.extend(page.items.iter().map(|i| i.name.clone()));
            match page.next {
                Some(next) => after = Some(next),
                None => return names,
            }
        }
    }

    #[test]
    fn each_sort_orders_and_pages_without_repeats() {
        let mut index = CatalogIndex::default();
        index.upsert(item("b", 10, 5));
        index.upsert(item("A", 30, 1));
        index.upsert(item("c", 20, 9));
        assert_eq!(page_all(&index, Sort::SharedAt, 1), ["A", "c", "b"]);
        assert_eq!(page_all(&index, Sort::Name, 2), ["A", "b", "c"]);
        assert_eq!(page_all(&index, Sort::Endpoints, 1), ["c", "b", "A"]);
    }

    #[test]
    fn removal_between_pages_skips_nothing_else() {
        let mut index = CatalogIndex::default();
        let items: Vec<_> = (0..10)
            .map(|i| item(&format!("m{i}"), 100 - i, 0))
            .collect();
        for i in &items {
            index.upsert(i.clone());
        }
        let first = index.browse(&BrowseQuery {
            filter: Filter::default(),
            sort: Sort::SharedAt,
            after: None,
            limit: 3,
        });
        index.remove(items[1].model_id);
        index.remove(items[3].model_id);
        index.upsert(item("new", 1000, 0));
        let rest = index.browse(&BrowseQuery {
            filter: Filter::default(),
            sort: Sort::SharedAt,
            after: first.next,
            limit: 100,
        });
        let names: Vec<_> = rest.items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["m4", "m5", "m6", "m7", "m8", "m9"]);
    }

    #[test]
    fn late_updates_never_undo_newer_ones() {
        let mut index = CatalogIndex::default();
        let shared = row("m", 10, 0);
        let id = shared.model.id;
        assert!(index.apply(shared.clone()));
        assert!(index.apply(at(&shared, 2, false)));
        assert!(index.get(id).is_none());
        assert!(!index.apply(shared), "a stale share must not come back");
        assert!(index.get(id).is_none());
    }

    #[test]
    fn a_bulk_load_equals_one_by_one_inserts() {
        let shared: Vec<CatalogRow> = (0..300)
            .map(|i| row(&format!("M{}", (i * 7919) % 300), 1000 - (i % 17), i % 5))
            .collect();
        let mut one_by_one = CatalogIndex::default();
        let mut rows = Vec::new();
        for (i, row) in shared.iter().enumerate() {
            one_by_one.apply(row.clone());
            rows.push(row.clone());
            if i % 10 == 0 {
                // A later version of the same model, unshared: it must leave the catalog.
                one_by_one.apply(at(row, 2, false));
                rows.push(at(row, 2, false));
            }
        }
        let bulk = CatalogIndex::from_rows(rows);
        assert_eq!(bulk.len(), 270);
        assert_eq!(bulk.len(), one_by_one.len());
        for sort in [Sort::SharedAt, Sort::Name, Sort::Endpoints] {
            for limit in [1, 7, 100] {
                assert_eq!(
                    page_all(&bulk, sort, limit),
                    page_all(&one_by_one, sort, limit)
                );
            }
        }
        // Versions were kept: a stale share of an unshared model is still ignored.
        let mut bulk = bulk;
        assert!(!bulk.apply(shared[0].clone()));
        assert!(bulk.get(shared[0].model.id).is_none());
    }

    #[test]
    fn a_changed_item_is_rendered_again() {
        let mut index = CatalogIndex::default();
        let first = item("m", 10, 1);
        let id = first.model_id;
        index.upsert(first);
        let render = |i: &CatalogItem| format!("{}:{}", i.name, i.endpoint_count);
        assert_eq!(index.get(id).unwrap().rendered(render), "m:1");
        assert_eq!(
            index.get(id).unwrap().rendered(|_| "other".into()),
            "m:1",
            "kept after the first render"
        );
        index.adjust_endpoints(id, 2);
        assert_eq!(index.get(id).unwrap().rendered(render), "m:3");
    }

    #[test]
    fn filters_combine() {
        let mut index = CatalogIndex::default();
        index.upsert(item("Llama Chat", 10, 0));
        index.upsert(item("Other", 20, 0));
        let filter = Filter {
            q: Some("llama".into()),
            min_parameters: Some(5),
            max_parameters: Some(15),
            ..Filter::default()
        };
        let page = index.browse(&BrowseQuery {
            filter,
            sort: Sort::SharedAt,
            after: None,
            limit: 10,
        });
        assert_eq!(page.items.len(), 1);
        let filter = Filter {
            tag: Some("CHAT".into()),
            license: Some("MIT".into()),
            ..Filter::default()
        };
        let page = index.browse(&BrowseQuery {
            filter,
            sort: Sort::SharedAt,
            after: None,
            limit: 10,
        });
        assert_eq!(page.items.len(), 2);
        let filter = Filter {
            min_context_length: Some(8192),
            ..Filter::default()
        };
        assert!(
            index
                .browse(&BrowseQuery {
                    filter,
                    sort: Sort::Name,
                    after: None,
                    limit: 10
                })
                .items
                .is_empty()
        );
    }
}
