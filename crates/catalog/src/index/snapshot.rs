//! [`Snapshot`]: one immutable state of the public catalog, as readers see it.
//!
//! Every collection in it is persistent (`imbl`, and the [`DocSet`] bitmaps): a clone costs O(1)
//! and shares all its nodes with the original, and a change to one copy copies only what is on
//! its path. The writer therefore changes its own copy and publishes a clone after each change,
//! and a reader holding an older snapshot keeps a consistent catalog for as long as it reads.
//!
//! Each item has a number ([`Doc`]) while it is in the catalog. The inverted indexes (one set
//! of numbers per value of each exact field, per numeric value and per facet bucket) are
//! bitmaps over those numbers, so a facet count is a count of set bits.

use std::cmp::Reverse;
use std::sync::Arc;

use domain::ModelId;
use imbl::{HashMap, OrdMap, Vector};
use uuid::Uuid;

use super::CatalogItem;
use super::bits::{Doc, DocSet};
use super::facets::{CONTEXT_BUCKETS, PARAMETER_BUCKETS, bucket};
use super::query::{Part, facet_key};
use super::search::WordIndex;

/// The key of an item in the newest-first and most-endpoints-first orders.
pub(super) type CountKey = (Reverse<i64>, Uuid);
/// The key of an item in the name order (lowercased name, then id).
pub(super) type NameKey = (Arc<str>, Uuid);

/// The items that have each value of one exact-match field.
pub(super) type Facet = HashMap<String, DocSet>;
/// The items that have each value of one numeric field.
pub(super) type Values = OrdMap<i64, DocSet>;
/// One numeric field's indexes for a change: by value, by bucket, the buckets, the value.
type NumericIndexes<'a> = (
    &'a mut Values,
    &'a mut [DocSet],
    &'static [(i64, Option<i64>)],
    Option<i64>,
);

#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub(super) items: HashMap<ModelId, Arc<CatalogItem>>,
    /// Each item's number, and the item of each number in use.
    docs: HashMap<ModelId, Doc>,
    pub(super) by_doc: Vector<Option<Arc<CatalogItem>>>,
    /// Numbers of removed items, reused first.
    free: Vector<Doc>,
    // Each order holds the items themselves and their numbers (not just ids), so a page walks
    // one tree and never looks an id up per candidate, in `items` or in `docs`.
    pub(super) by_shared_at: OrdMap<CountKey, Placed>,
    pub(super) by_name: OrdMap<NameKey, Placed>,
    pub(super) by_endpoints: OrdMap<CountKey, Placed>,
    /// Inverted indexes of the exact filters (values by [`facet_key`]).
    architectures: Facet,
    licenses: Facet,
    tags: Facet,
    /// Inverted indexes of the numeric fields, by value and by facet bucket.
    pub(super) parameter_values: Values,
    pub(super) context_values: Values,
    pub(super) parameter_buckets: [DocSet; PARAMETER_BUCKETS.len()],
    pub(super) context_buckets: [DocSet; CONTEXT_BUCKETS.len()],
    /// The words of names and descriptions, for `q`.
    pub(super) words: WordIndex,
    /// Moves on with every change of what a page can show.
    pub(super) generation: u64,
}

/// An item in an order, with its number.
#[derive(Debug, Clone)]
pub(super) struct Placed {
    pub(super) doc: Doc,
    pub(super) item: Arc<CatalogItem>,
}

impl CatalogItem {
    pub(super) fn shared_at_key(&self) -> CountKey {
        (
            Reverse(self.shared_at.as_datetime().timestamp()),
            self.model_id.as_uuid(),
        )
    }

    pub(super) fn name_key(&self) -> NameKey {
        (Arc::clone(&self.name_key), self.model_id.as_uuid())
    }

    pub(super) fn endpoints_key(&self) -> CountKey {
        (Reverse(self.endpoint_count), self.model_id.as_uuid())
    }

    /// The values the item is found under in one exact field's inverted index.
    pub(super) fn facet_values(&self, part: Part) -> Vec<String> {
        let one = |value: &Option<String>| value.as_deref().map(facet_key).into_iter().collect();
        match part {
            Part::Architecture => one(&self.architecture),
            Part::License => one(&self.license),
            Part::Tag => {
                let mut tags: Vec<String> = self.tags.iter().map(|t| facet_key(t)).collect();
                tags.sort_unstable();
                tags.dedup();
                tags
            }
            Part::Parameters | Part::ContextLength => Vec::new(),
        }
    }

    pub(super) fn all_facet_values(&self) -> [Vec<String>; 3] {
        EXACT.map(|part| self.facet_values(part))
    }
}

/// The exact fields, in the order of the snapshot's inverted indexes.
pub(super) const EXACT: [Part; 3] = [Part::Architecture, Part::License, Part::Tag];

impl Snapshot {
    /// A snapshot of `items` (all different models), built at once: each order from its sorted
    /// keys, on its own thread; the items numbered in the order given.
    pub(super) fn build(items: Vec<Arc<CatalogItem>>) -> Self {
        fn order<K: Ord + Clone>(
            items: &[Arc<CatalogItem>],
            key: fn(&CatalogItem) -> K,
        ) -> OrdMap<K, Placed> {
            let mut keyed: Vec<(K, Placed)> = (0..)
                .zip(items)
                .map(|(doc, item)| {
                    let item = Arc::clone(item);
                    (key(&item), Placed { doc, item })
                })
                .collect();
            keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            keyed.into_iter().collect()
        }
        // A panic on a builder thread is a bug; surface it here rather than hide it.
        fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }
        std::thread::scope(|scope| {
            let by_shared_at = scope.spawn(|| order(&items, CatalogItem::shared_at_key));
            let by_endpoints = scope.spawn(|| order(&items, CatalogItem::endpoints_key));
            let by_name = scope.spawn(|| order(&items, CatalogItem::name_key));
            let words = scope.spawn(|| {
                let mut words = WordIndex::default();
                for (doc, item) in (0..).zip(&items) {
                    words.insert(doc, item);
                }
                words
            });
            let mut built = Self::default();
            for (doc, item) in (0..).zip(&items) {
                built.index_fields(doc, item);
            }
            built.words = join(words);
            built.items = items
                .iter()
                .map(|item| (item.model_id, Arc::clone(item)))
                .collect();
            built.docs = (0..)
                .zip(&items)
                .map(|(doc, item)| (item.model_id, doc))
                .collect();
            built.by_doc = items.iter().map(|item| Some(Arc::clone(item))).collect();
            built.by_shared_at = join(by_shared_at);
            built.by_name = join(by_name);
            built.by_endpoints = join(by_endpoints);
            built
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn get(&self, id: ModelId) -> Option<Arc<CatalogItem>> {
        self.items.get(&id).cloned()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = ModelId> + '_ {
        self.items.keys().copied()
    }

    /// One past the highest item number in use (the size of a [`Mask`](super::bits::Mask)).
    pub(super) fn doc_limit(&self) -> Doc {
        Doc::try_from(self.by_doc.len()).unwrap_or(Doc::MAX)
    }

    /// The item numbered `doc`.
    pub(super) fn item_of(&self, doc: Doc) -> Option<&Arc<CatalogItem>> {
        self.by_doc
            .get(usize::try_from(doc).ok()?)
            .and_then(Option::as_ref)
    }

    /// Adds an item whose model is not in the snapshot.
    pub(super) fn insert(&mut self, item: Arc<CatalogItem>) {
        self.generation += 1;
        let doc = match self.free.pop_back() {
            Some(doc) => {
                if let Some(slot) = usize::try_from(doc)
                    .ok()
                    .and_then(|d| self.by_doc.get_mut(d))
                {
                    *slot = Some(Arc::clone(&item));
                }
                doc
            }
            None => {
                self.by_doc.push_back(Some(Arc::clone(&item)));
                self.doc_limit() - 1
            }
        };
        let placed = |item: &Arc<CatalogItem>| Placed {
            doc,
            item: Arc::clone(item),
        };
        self.by_shared_at
            .insert(item.shared_at_key(), placed(&item));
        self.by_name.insert(item.name_key(), placed(&item));
        self.by_endpoints
            .insert(item.endpoints_key(), placed(&item));
        self.index(doc, &item);
        self.docs.insert(item.model_id, doc);
        self.items.insert(item.model_id, item);
    }

    pub(super) fn remove(&mut self, id: ModelId) -> Option<Arc<CatalogItem>> {
        let old = self.items.remove(&id)?;
        self.generation += 1;
        self.by_shared_at.remove(&old.shared_at_key());
        self.by_name.remove(&old.name_key());
        self.by_endpoints.remove(&old.endpoints_key());
        if let Some(doc) = self.docs.remove(&id) {
            self.unindex(doc, &old);
            if let Some(slot) = usize::try_from(doc)
                .ok()
                .and_then(|d| self.by_doc.get_mut(d))
            {
                *slot = None;
            }
            self.free.push_back(doc);
        }
        Some(old)
    }

    /// Adds item `doc` to the inverted indexes.
    fn index(&mut self, doc: Doc, item: &CatalogItem) {
        self.words.insert(doc, item);
        self.index_fields(doc, item);
    }

    /// Adds item `doc` to the inverted indexes of its fields (all but the words).
    fn index_fields(&mut self, doc: Doc, item: &CatalogItem) {
        for (facet, values) in self.facets_mut().into_iter().zip(item.all_facet_values()) {
            for value in values {
                facet.entry(value).or_default().insert(doc);
            }
        }
        for (values, buckets, bounds, value) in self.numeric_indexes(item) {
            if let Some(value) = value {
                values.entry(value).or_default().insert(doc);
            }
            if let Some(set) = bucket(bounds, value).and_then(|b| buckets.get_mut(b)) {
                set.insert(doc);
            }
        }
    }

    /// Removes item `doc` from the inverted indexes; a value no item has any more leaves them.
    fn unindex(&mut self, doc: Doc, item: &CatalogItem) {
        self.words.remove(doc, item);
        for (facet, values) in self.facets_mut().into_iter().zip(item.all_facet_values()) {
            for value in values {
                // An emptied value leaves the index: a filter on it then answers at once.
                if let Some(set) = facet.get_mut(&value) {
                    set.remove(doc);
                    if set.is_empty() {
                        facet.remove(&value);
                    }
                }
            }
        }
        for (values, buckets, bounds, value) in self.numeric_indexes(item) {
            if let Some(value) = value
                && let Some(set) = values.get_mut(&value)
            {
                set.remove(doc);
                if set.is_empty() {
                    values.remove(&value);
                }
            }
            if let Some(set) = bucket(bounds, value).and_then(|b| buckets.get_mut(b)) {
                set.remove(doc);
            }
        }
    }

    /// Each numeric field's indexes (by value, by bucket), its buckets, and the item's value.
    fn numeric_indexes(&mut self, item: &CatalogItem) -> [NumericIndexes<'_>; 2] {
        [
            (
                &mut self.parameter_values,
                &mut self.parameter_buckets[..],
                &PARAMETER_BUCKETS[..],
                item.parameter_count,
            ),
            (
                &mut self.context_values,
                &mut self.context_buckets[..],
                &CONTEXT_BUCKETS[..],
                item.context_length,
            ),
        ]
    }

    fn facets_mut(&mut self) -> [&mut Facet; 3] {
        [&mut self.architectures, &mut self.licenses, &mut self.tags]
    }

    /// The inverted index of an exact field (numeric fields have none).
    pub(super) fn facet(&self, part: Part) -> Option<&Facet> {
        match part {
            Part::Architecture => Some(&self.architectures),
            Part::License => Some(&self.licenses),
            Part::Tag => Some(&self.tags),
            Part::Parameters | Part::ContextLength => None,
        }
    }

    /// The sets of the items having each of `values` of an exact field (those some item has).
    pub(super) fn sets(&self, part: Part, values: &[String]) -> Vec<&DocSet> {
        let Some(facet) = self.facet(part) else {
            return Vec::new();
        };
        let mut keys: Vec<String> = values.iter().map(|v| facet_key(v)).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter().filter_map(|key| facet.get(key)).collect()
    }
}
