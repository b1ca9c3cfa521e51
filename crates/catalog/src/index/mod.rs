//! The in-memory public catalog: items by id, one ordered index per sort, bitmap inverted
//! indexes of every filter (architecture, license, tag, numeric values, facet buckets) over
//! numbered items, and a word index for `q` ([`search`]). Facets are bit counts
//! ([`facets`]); a page gathers from the filters' intersection when it is small, or walks an
//! order ([`browse`]).
//!
//! A sort key is unique (it ends with the model id), and a page starts strictly after the key
//! of the previous page's last item (or last examined model; see [`browse`]). Items added or
//! removed between two pages therefore never shift the window: every item present throughout
//! is returned exactly once.
//!
//! The public-catalog actor owns the one [`CatalogIndex`] and is its only writer. After each
//! change it publishes the index's [`Snapshot`], an immutable value that readers load without
//! a lock (`arc-swap`); the snapshot's collections are persistent, so publishing costs O(1) and
//! a change O(log n), and no read ever waits for a write or a write for a read.

mod bits;
mod browse;
mod facets;
mod item;
mod query;
mod runs;
mod saved;
mod search;
mod snapshot;
#[cfg(test)]
mod tests;

use std::collections::hash_map::Entry;
use std::sync::Arc;

use foldhash::HashMap;

use domain::ModelId;
use storage::CatalogRow;

pub use browse::{EXAMINE_BOUND, examine_bound};
pub use facets::{
    CONTEXT_BUCKETS, FACET_VALUES, Facets, PARAMETER_BUCKETS, RangeCount, ValueCount,
};
pub use item::CatalogItem;
use item::Interner;
pub use query::{BrowsePage, BrowseQuery, Filter, Sort, SortKey, TIERS};
pub(crate) use saved::{Corrupt, SECTIONS, Sink};
pub(crate) use snapshot::Snapshot;

/// A catalog index built at once from rows, read without actors or a store: what the
/// `catalog_index` benchmark measures (pages and facets of a big catalog, one query at a time).
/// Changes are applied as the catalog's actor applies them, each published as a snapshot that
/// is held (as readers hold it), so that the next change copies what it touches.
#[cfg(feature = "test-support")]
#[derive(Debug)]
pub struct Standalone(CatalogIndex, Arc<Snapshot>);

#[cfg(feature = "test-support")]
impl Standalone {
    pub fn from_rows(rows: impl IntoIterator<Item = CatalogRow>) -> Self {
        let mut loader = Loader::default();
        rows.into_iter().for_each(|row| loader.push(row));
        let index = loader.finish();
        let published = index.snapshot();
        Self(index, published)
    }

    /// Applies the state of a model as read from the database (see [`CatalogIndex::apply`])
    /// and publishes the result; false when a newer version was already applied.
    pub fn apply(&mut self, row: CatalogRow) -> bool {
        let applied = self.0.apply(row);
        self.1 = self.0.snapshot();
        applied
    }

    pub fn browse(&self, query: &BrowseQuery) -> BrowsePage {
        self.1.browse(query)
    }

    pub fn facets(&self, filter: &Filter) -> Facets {
        self.1.facets(filter)
    }
}

/// Builds the index of a whole catalog (the start-up load). Rows are turned into items as they
/// arrive; the items are then numbered grouped by their facet values ([`grouped`]) and each
/// order is built from its sorted keys in one pass. A repeated id keeps its newest version.
/// Its map hashes with `foldhash` (its keys are model ids, which the service generates): the
/// standard SipHash was about 5 % of the load's own thread at a million rows.
#[derive(Debug, Default)]
pub(crate) struct Loader {
    /// Each item with the version of the row it came from, in the order they came. A load
    /// reads each model once, so these are listed, not looked up; a repeated id (which only
    /// `repeated` says) is sorted out once, in [`Loader::finish`].
    items: Vec<(i64, Arc<CatalogItem>)>,
    versions: HashMap<ModelId, i64>,
    /// Whether a model came more than once: some of `items` may then be outdated.
    repeated: bool,
    shared: Interner,
}

impl Loader {
    pub(crate) fn push(&mut self, row: CatalogRow) {
        let version = row.model.version;
        match self.versions.entry(row.model.id) {
            Entry::Occupied(known) if *known.get() >= version => return,
            Entry::Occupied(mut known) => {
                known.insert(version);
                self.repeated = true;
            }
            Entry::Vacant(new) => {
                new.insert(version);
            }
        }
        if row.model.shared {
            let item = CatalogItem::from_row_shared(row, &mut self.shared);
            self.items.push((version, Arc::new(item)));
        }
    }

    pub(crate) fn finish(self) -> CatalogIndex {
        let Self {
            mut items,
            versions,
            repeated,
            shared,
        } = self;
        if repeated {
            // Versions only grow, so only a model's newest row holds the version kept; when
            // that row was not shared, none of its items does.
            items.retain(|(version, item)| versions.get(&item.model_id) == Some(version));
        }
        let items = items.into_iter().map(|(_, item)| item).collect();
        CatalogIndex {
            versions,
            shared,
            current: Snapshot::build(grouped(items)),
            changed: None,
        }
    }
}

/// `items` ordered so that items with the same facet values are next to each other: the
/// bulk build numbers them in this order, so each value's set is a few runs of numbers and
/// holds bitmap chunks in those runs only, instead of a sparse bit in nearly every chunk of the
/// catalog. A facet count then reads far fewer chunks (at 1,000,000 models the sets of all
/// values of a field in random order hold a chunk per value per 4,096 items).
///
/// Values are keyed by the address of their shared text ([`Interner`]): equal values are one
/// allocation, so this groups them; which group comes first does not matter. An item's tags
/// are keyed by its first two, then by a hash of them all (two lists with one hash share a
/// group, which costs nothing but a little grouping): items that share their first tags are
/// next to each other even when the rest differ, so a tag's set has longer runs. The keys are
/// made once, so the sort compares plain numbers and never follows a pointer to an item (at a
/// million items that was 0.8 s of start-up).
fn grouped(items: Vec<Arc<CatalogItem>>) -> Vec<Arc<CatalogItem>> {
    use std::hash::{BuildHasher, Hasher};

    fn text(value: Option<&Arc<str>>) -> usize {
        value.map_or(0, |v| Arc::as_ptr(v).addr())
    }
    let tags_hasher = foldhash::fast::FixedState::with_seed(0);
    let key = |item: &CatalogItem| {
        let mut tags = tags_hasher.build_hasher();
        item.tags
            .iter()
            .for_each(|t| tags.write_usize(text(Some(t))));
        // 0 for no value, then each bucket's place from 1 (plain numbers: a smaller key).
        let buckets = snapshot::NUMERIC
            .map(|(bounds, value)| facets::bucket(bounds, value(item)).map_or(0, |b| b + 1));
        (
            text(item.architecture.as_ref()),
            text(item.license.as_ref()),
            [0, 1].map(|at| text(item.tags.get(at))),
            tags.finish(),
            buckets,
        )
    };
    let mut keyed: Vec<_> = items.into_iter().map(|item| (key(&item), item)).collect();
    keyed.sort_unstable_by_key(|(key, _)| *key);
    keyed.into_iter().map(|(_, item)| item).collect()
}

/// A catalog index as a start-up checkpoint saves it (see [`CatalogIndex::saving`]).
pub(crate) struct Saving {
    snapshot: Snapshot,
    versions: Vec<(ModelId, i64)>,
}

impl Saving {
    /// The index's head (see [`saved::head`]).
    pub(crate) fn head(&self) -> Vec<u8> {
        saved::head(&self.snapshot)
    }

    /// Writes the index's [`SECTIONS`] sections to `sink`.
    pub(crate) fn encode(&self, sink: &mut impl Sink) -> std::io::Result<()> {
        saved::encode(&self.snapshot, &self.versions, sink)
    }

    pub(crate) fn len(&self) -> usize {
        self.snapshot.len()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.snapshot.generation()
    }
}

/// Whether a version of the row's model at least as new was already applied (an outbox read
/// overtaken by a local transition must not undo it).
fn outdated(versions: &HashMap<ModelId, i64>, row: &CatalogRow) -> bool {
    versions
        .get(&row.model.id)
        .is_some_and(|known| *known >= row.model.version)
}

/// The writer's side of the catalog: the state readers will see next, and what only the writer
/// needs (the versions applied).
#[derive(Debug, Default)]
pub(crate) struct CatalogIndex {
    /// The newest model version applied, per model that was ever in the catalog: updates that
    /// arrive late (an outbox read overtaken by a local transition) are ignored.
    versions: HashMap<ModelId, i64>,
    /// The common values of the items (see [`Interner`]).
    shared: Interner,
    current: Snapshot,
    /// The models changed since [`CatalogIndex::watch_changes`], until the endpoint counts read
    /// after it are set ([`CatalogIndex::set_endpoints`]); none when not watching.
    changed: Option<foldhash::HashSet<ModelId>>,
}

impl CatalogIndex {
    /// The index of a whole catalog at once; see [`Loader`].
    #[cfg(test)]
    fn from_rows(rows: impl IntoIterator<Item = CatalogRow>) -> Self {
        let mut loader = Loader::default();
        rows.into_iter().for_each(|row| loader.push(row));
        loader.finish()
    }

    /// The current state, to read from (a borrow: see [`CatalogIndex::snapshot`] to publish).
    pub(crate) fn current(&self) -> &Snapshot {
        &self.current
    }

    /// The current state as an immutable value for readers; O(1).
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        Arc::new(self.current.clone())
    }

    pub(crate) fn len(&self) -> usize {
        self.current.len()
    }

    /// The newest version of the model applied, if it was ever in the catalog.
    pub(crate) fn version(&self, id: ModelId) -> Option<i64> {
        self.versions.get(&id).copied()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.current.generation()
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
            let item = CatalogItem::from_row_shared(row, &mut self.shared);
            self.upsert(item);
        } else if self.remove(id).is_some() || self.versions.contains_key(&id) {
            self.versions.insert(id, version);
        }
        true
    }

    pub(crate) fn upsert(&mut self, item: CatalogItem) {
        self.note_change(item.model_id);
        self.current.remove(item.model_id);
        self.current.insert(Arc::new(item));
    }

    pub(crate) fn remove(&mut self, id: ModelId) -> Option<Arc<CatalogItem>> {
        self.note_change(id);
        self.current.remove(id)
    }

    fn note_change(&mut self, id: ModelId) {
        if let Some(changed) = &mut self.changed {
            changed.insert(id);
        }
    }

    /// Starts noting which models change, before the endpoint counts are read from the
    /// database: a model changed after that point (an endpoint made here, a transition, which
    /// reads its count) knows a count at least as new as the read's, which
    /// [`CatalogIndex::set_endpoints`] therefore leaves alone.
    pub(crate) fn watch_changes(&mut self) {
        self.changed = Some(foldhash::HashSet::default());
    }

    pub(crate) fn stop_watching(&mut self) {
        self.changed = None;
    }

    /// What a start-up checkpoint saves: the current state and the versions applied (a copy
    /// of the versions, O(n); the state is a snapshot, O(1)). Encoded off the writer's thread.
    pub(crate) fn saving(&self) -> Saving {
        Saving {
            snapshot: self.current.clone(),
            versions: self.versions.iter().map(|(id, v)| (*id, *v)).collect(),
        }
    }

    /// The index [`Saving::encode`] made, its sections read by `section` (see
    /// [`saved::decode`]).
    pub(crate) fn decode<E>(
        head: &[u8],
        section: impl Fn(usize) -> Result<Vec<u8>, E> + Sync,
    ) -> Result<Self, E>
    where
        E: From<Corrupt> + Send,
    {
        saved::decode(head, section)
    }

    /// Sets every item's endpoint count to `counts`' (0 for a model not in it), but for the
    /// models changed since [`CatalogIndex::watch_changes`], and stops watching; returns how
    /// many items changed.
    pub(crate) fn set_endpoints(&mut self, counts: &HashMap<ModelId, i64>) -> usize {
        let changed = self.changed.take().unwrap_or_default();
        let wrong: Vec<(ModelId, i64)> = self
            .current
            .all()
            .filter(|item| !changed.contains(&item.model_id))
            .filter_map(|item| {
                let count = counts.get(&item.model_id).copied().unwrap_or(0);
                (item.endpoint_count != count)
                    .then_some((item.model_id, count - item.endpoint_count))
            })
            .collect();
        for (id, delta) in &wrong {
            self.adjust_endpoints(*id, *delta);
        }
        wrong.len()
    }

    pub(crate) fn adjust_endpoints(&mut self, id: ModelId, delta: i64) {
        if let Some(item) = self.current.get(id) {
            let mut item = CatalogItem::clone(&item);
            item.endpoint_count = (item.endpoint_count + delta).max(0);
            self.upsert(item);
        }
    }
}
