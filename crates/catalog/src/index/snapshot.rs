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

use std::borrow::Cow;
use std::cmp::Reverse;
use std::sync::Arc;

use domain::ModelId;
use imbl::{HashMap, OrdMap, Vector};
use uuid::Uuid;

use super::CatalogItem;
use super::bits::{Doc, DocSet};
use super::facets::{CONTEXT_BUCKETS, PARAMETER_BUCKETS, bucket};
use super::query::{Part, facet_key};
use super::runs::Runs;
use super::search::WordIndex;

/// The key of an item in the newest-first and most-endpoints-first orders.
pub(super) type CountKey = (Reverse<i64>, Uuid);
/// The key of an item in the name order (lowercased name, then id).
pub(super) type NameKey = (Arc<str>, Uuid);

/// The items that have each value of one exact-match field.
pub(super) type Facet = HashMap<String, DocSet>;
/// The items that have each value of one numeric field.
pub(super) type Values = OrdMap<i64, DocSet>;
/// One numeric field's indexes for a change: by value, by bucket, from each bucket on, the
/// buckets, the value.
type NumericIndexes<'a> = (
    &'a mut Values,
    &'a mut [DocSet],
    &'a mut [DocSet],
    &'static [(i64, Option<i64>)],
    Option<i64>,
);

#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// Each item's number, and the item of each number in use.
    docs: OrdMap<ModelId, Doc>,
    by_doc: Vector<Option<Numbered>>,
    /// Numbers of removed items, reused first.
    free: Vector<Doc>,
    // Each order holds the items themselves and their numbers (not just ids), so a page walks
    // one tree and never looks an id up per candidate, in `items` or in `docs`.
    pub(super) by_shared_at: Runs<CountKey, Placed>,
    pub(super) by_name: Runs<NameKey, Placed>,
    pub(super) by_endpoints: Runs<CountKey, Placed>,
    /// Inverted indexes of the exact filters (values by [`facet_key`]).
    architectures: Facet,
    licenses: Facet,
    tags: Facet,
    /// Inverted indexes of the numeric fields, by value and by facet bucket.
    pub(super) parameter_values: Values,
    pub(super) context_values: Values,
    pub(super) parameter_buckets: [DocSet; PARAMETER_BUCKETS.len()],
    pub(super) context_buckets: [DocSet; CONTEXT_BUCKETS.len()],
    /// `[k]`: the items of bucket `k + 1` and of every bucket above it (kept for the buckets
    /// but the first and the last, which the bucket's own set and every item with a value
    /// already are). A lower bound alone (at least 10B parameters) lets through one of these,
    /// with the values above the bound in its own bucket, where it was the union of every
    /// bucket above.
    pub(super) parameters_from: [DocSet; PARAMETER_BUCKETS.len() - 2],
    pub(super) context_from: [DocSet; CONTEXT_BUCKETS.len() - 2],
    /// The words of names and descriptions, for `q`.
    pub(super) words: WordIndex,
    /// Moves on with every change of what a page can show.
    pub(super) generation: u64,
}

/// An item in the vector of items, with its key in the newest-first order: a gathered page
/// of that order sorts its candidates without reading them.
#[derive(Debug, Clone)]
pub(super) struct Numbered {
    pub(super) newest: CountKey,
    pub(super) item: Arc<CatalogItem>,
}

impl Numbered {
    fn new(item: &Arc<CatalogItem>) -> Self {
        Self {
            newest: item.shared_at_key(),
            item: Arc::clone(item),
        }
    }
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

    /// The item's values of one exact field as given (a tag may repeat, in another case).
    fn exact_values(&self, part: Part) -> impl Iterator<Item = &str> {
        let (one, many) = match part {
            Part::Architecture => (self.architecture.as_deref(), &[][..]),
            Part::License => (self.license.as_deref(), &[][..]),
            Part::Tag => (None, &self.tags[..]),
            Part::Parameters | Part::ContextLength => (None, &[][..]),
        };
        one.into_iter().chain(many.iter().map(|tag| &**tag))
    }
}

/// A builder thread's result; a panic there is a bug, surfaced here rather than hidden.
pub(super) fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The leaves of `imbl`'s B-tree: arrays of this many entries, allocated whole.
const LEAF: usize = 16;
/// How many entries of each [`LEAF`] [`packed`] inserts first (found by measuring: 8 fills
/// the leaves, 7 or 9 leave most of them a little over half full).
const FIRST: usize = LEAF / 2;

/// An ordered map of `sorted` (ascending, distinct keys) with its leaves filled. Inserted in
/// order, every leaf is split near its middle and keeps about half its entries for good: an
/// order of a million items then holds about twice the memory it needs (91 bytes per entry of
/// 40 bytes, against 45 this way). So the first [`FIRST`] of every [`LEAF`] entries go in
/// first, making a leaf each, and the rest after, each group filling the gap its leaf left.
/// Should `imbl` split otherwise, the map is the same, only less full.
pub(super) fn packed<K: Ord + Clone, V: Clone>(sorted: Vec<(K, V)>) -> OrdMap<K, V> {
    let (first, rest): (Vec<_>, Vec<_>) = sorted
        .into_iter()
        .enumerate()
        .partition(|(at, _)| at % LEAF < FIRST);
    let mut map = OrdMap::new();
    for (_, (key, value)) in first.into_iter().chain(rest) {
        map.insert(key, value);
    }
    map
}

/// What an item of bucket `b` of a numeric field is in: the bucket's own set and the "from"
/// sets of the buckets up to its own (see [`Snapshot::parameters_from`]).
fn in_bucket<'a, T>(
    buckets: &'a mut [T],
    from: &'a mut [T],
    b: usize,
) -> impl Iterator<Item = &'a mut T> {
    buckets
        .get_mut(b)
        .into_iter()
        .chain(from.iter_mut().take(b))
}

/// [`facet_key`] of `value`, without a copy when `value` already is its own key.
fn borrowed_facet_key(value: &str) -> Cow<'_, str> {
    if value.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(facet_key(value))
    } else {
        Cow::Borrowed(value)
    }
}

/// The exact fields, in the order of the snapshot's inverted indexes.
pub(super) const EXACT: [Part; 3] = [Part::Architecture, Part::License, Part::Tag];

/// A numeric field's facet buckets and the field.
pub(super) type Numeric = (
    &'static [(i64, Option<i64>)],
    fn(&CatalogItem) -> Option<i64>,
);

/// How many items [`Snapshot::items_of`] steps over to reach the next one asked for before it
/// looks that one up from the root instead. A step is not free (the iterator checks its place
/// in the leaf each time): stepping 90 items, the usual gap between the numbers of a search
/// like `q=-12` at 10,000 models, cost three times what a lookup from the root does (criterion
/// at 10,000 models, `selective-q`: 29.2 µs with 256, 10.6 µs with 4). Runs, where the walk
/// pays, step one at a time; a new walk from a lookup copies the tree's root pointers, so it
/// starts only where the next number is this close.
pub(super) const STEPS: usize = 4;

/// The numeric fields (parameters, context length), in the order of the snapshot's indexes.
pub(super) const NUMERIC: [Numeric; 2] = [
    (&PARAMETER_BUCKETS, |item| item.parameter_count),
    (&CONTEXT_BUCKETS, |item| item.context_length),
];

impl Snapshot {
    /// A snapshot of `items` (all different models), built at once: each order from its sorted
    /// keys, on its own thread; the items numbered in the order given.
    pub(super) fn build(items: Vec<Arc<CatalogItem>>) -> Self {
        fn order<K: Ord + Clone>(
            items: &[Arc<CatalogItem>],
            key: fn(&CatalogItem) -> K,
        ) -> Runs<K, Placed> {
            let mut keyed: Vec<(K, Placed)> = (0..)
                .zip(items)
                .map(|(doc, item)| {
                    let item = Arc::clone(item);
                    (key(&item), Placed { doc, item })
                })
                .collect();
            keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            Runs::from_sorted(keyed)
        }
        std::thread::scope(|scope| {
            let by_shared_at = scope.spawn(|| order(&items, CatalogItem::shared_at_key));
            let by_endpoints = scope.spawn(|| order(&items, CatalogItem::endpoints_key));
            let by_name = scope.spawn(|| order(&items, CatalogItem::name_key));
            let words = scope.spawn(|| WordIndex::build(&items));
            let mut built = Self::from_items(&items);
            built.words = join(words);
            built.by_shared_at = join(by_shared_at);
            built.by_name = join(by_name);
            built.by_endpoints = join(by_endpoints);
            built
        })
    }

    /// A snapshot of `items` numbered in the order given, with the inverted indexes of their
    /// fields, and no orders or words yet. Two items of one model are held as one (the
    /// caller checks [`Snapshot::len`] when it cannot rule that out).
    pub(super) fn from_items(items: &[Arc<CatalogItem>]) -> Self {
        let mut built = Self::default();
        built.build_fields(items);
        let mut docs: Vec<(ModelId, Doc)> = (0..)
            .zip(items)
            .map(|(doc, item)| (item.model_id, doc))
            .collect();
        docs.sort_unstable_by_key(|(id, _)| *id);
        docs.dedup_by_key(|(id, _)| *id);
        built.docs = packed(docs);
        built.by_doc = items.iter().map(|item| Some(Numbered::new(item))).collect();
        built
    }

    pub(crate) fn len(&self) -> usize {
        self.docs.len()
    }

    pub(crate) fn get(&self, id: ModelId) -> Option<Arc<CatalogItem>> {
        self.docs
            .get(&id)
            .and_then(|doc| self.item_of(*doc))
            .cloned()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = ModelId> + '_ {
        self.docs.keys().copied()
    }

    /// One past the highest item number in use (the size of a [`Mask`](super::bits::Mask)).
    pub(super) fn doc_limit(&self) -> Doc {
        Doc::try_from(self.by_doc.len()).unwrap_or(Doc::MAX)
    }

    /// Every item, by number.
    pub(super) fn all(&self) -> impl Iterator<Item = &Arc<CatalogItem>> {
        self.by_doc.iter().flatten().map(|numbered| &numbered.item)
    }

    /// The item of each number up to [`Snapshot::doc_limit`], none where a number is not in use.
    pub(super) fn slots(&self) -> impl ExactSizeIterator<Item = Option<&Arc<CatalogItem>>> {
        self.by_doc
            .iter()
            .map(|slot| slot.as_ref().map(|numbered| &numbered.item))
    }

    /// The items numbered `docs` (ascending): see [`Snapshot::numbered_of`].
    pub(super) fn items_of(
        &self,
        docs: impl Iterator<Item = Doc>,
    ) -> impl Iterator<Item = (Doc, &Arc<CatalogItem>)> {
        self.numbered_of(docs)
            .map(|(doc, numbered)| (doc, &numbered.item))
    }

    /// The items numbered `docs` (ascending) with their keys, found by walking the vector of
    /// items rather than by a lookup from the root for each (a phrase's facets look up tens of
    /// thousands, a selective filter's page hundreds, mostly in runs: items are numbered
    /// grouped by their facet values). An item more than [`STEPS`] ahead of the walk is looked
    /// up from the root; when the next number asked for is close after it (a run starts), the
    /// walk starts again from there. So scattered numbers cost a lookup each and a run a step
    /// each.
    pub(super) fn numbered_of(
        &self,
        docs: impl Iterator<Item = Doc>,
    ) -> impl Iterator<Item = (Doc, &Numbered)> {
        let len = self.by_doc.len();
        let mut docs = docs
            .filter_map(move |doc| Some((doc, usize::try_from(doc).ok().filter(|at| *at < len)?)))
            .peekable();
        // The walk, and the place of the item it gives next.
        let mut walk: Option<(
            imbl::vector::Iter<'_, Option<Numbered>, imbl::shared_ptr::DefaultSharedPtr>,
            usize,
        )> = None;
        std::iter::from_fn(move || {
            loop {
                let (doc, at) = docs.next()?;
                let slot = match &mut walk {
                    Some((items, next)) if (*next..=next.saturating_add(STEPS)).contains(&at) => {
                        let slot = items.nth(at - *next);
                        *next = at + 1;
                        slot
                    }
                    _ if docs
                        .peek()
                        .is_some_and(|(_, then)| (at + 1..=at + STEPS).contains(then)) =>
                    {
                        let mut items = self.by_doc.focus().narrow(at..).into_iter();
                        let slot = items.next();
                        walk = Some((items, at + 1));
                        slot
                    }
                    _ => self.by_doc.get(at),
                };
                if let Some(Some(numbered)) = slot {
                    return Some((doc, numbered));
                }
            }
        })
    }

    /// The item numbered `doc`.
    pub(super) fn item_of(&self, doc: Doc) -> Option<&Arc<CatalogItem>> {
        self.numbered(doc).map(|numbered| &numbered.item)
    }

    /// The item numbered `doc`, with its key in the newest-first order.
    pub(super) fn numbered(&self, doc: Doc) -> Option<&Numbered> {
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
                    *slot = Some(Numbered::new(&item));
                }
                doc
            }
            None => {
                self.by_doc.push_back(Some(Numbered::new(&item)));
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
    }

    pub(super) fn remove(&mut self, id: ModelId) -> Option<Arc<CatalogItem>> {
        let doc = self.docs.remove(&id)?;
        let Numbered { newest, item: old } = usize::try_from(doc)
            .ok()
            .and_then(|d| self.by_doc.get_mut(d))
            .and_then(Option::take)?;
        self.generation += 1;
        self.by_shared_at.remove(&newest);
        self.by_name.remove(&old.name_key());
        self.by_endpoints.remove(&old.endpoints_key());
        self.unindex(doc, &old);
        self.free.push_back(doc);
        Some(old)
    }

    /// The inverted indexes of the fields (all but the words) of `items`, numbered in the order
    /// given, built at once: each value's items gathered, then each set made whole.
    fn build_fields(&mut self, items: &[Arc<CatalogItem>]) {
        let mut exact: [foldhash::HashMap<Cow<'_, str>, Vec<Doc>>; 3] = Default::default();
        let mut values: [std::collections::BTreeMap<i64, Vec<Doc>>; 2] = Default::default();
        let mut buckets: [Vec<Vec<Doc>>; 2] =
            NUMERIC.map(|(bounds, _)| vec![Vec::new(); bounds.len()]);
        let mut from: [Vec<Vec<Doc>>; 2] =
            NUMERIC.map(|(bounds, _)| vec![Vec::new(); bounds.len().saturating_sub(2)]);
        for (doc, item) in (0..).zip(items) {
            for (facet, part) in exact.iter_mut().zip(EXACT) {
                for value in item.exact_values(part) {
                    let docs = facet.entry(borrowed_facet_key(value)).or_default();
                    // A tag given twice (in two cases) holds the item once.
                    if docs.last() != Some(&doc) {
                        docs.push(doc);
                    }
                }
            }
            for (((values, buckets), from), (bounds, value)) in values
                .iter_mut()
                .zip(&mut buckets)
                .zip(&mut from)
                .zip(NUMERIC)
            {
                let value = value(item);
                if let Some(value) = value {
                    values.entry(value).or_default().push(doc);
                }
                if let Some(b) = bucket(bounds, value) {
                    in_bucket(buckets, from, b).for_each(|docs| docs.push(doc));
                }
            }
        }
        let sets = |docs: Vec<Doc>| DocSet::from_ascending(&docs);
        let counted = |docs: Vec<Doc>| DocSet::from_ascending_counted(&docs);
        for (facet, gathered) in self.facets_mut().into_iter().zip(exact) {
            *facet = gathered
                .into_iter()
                .map(|(key, docs)| (key.into_owned(), counted(docs)))
                .collect();
        }
        let [parameter_values, context_values] = values.map(|gathered| {
            gathered
                .into_iter()
                .map(|(v, docs)| (v, sets(docs)))
                .collect()
        });
        let [parameter_buckets, context_buckets] = buckets;
        self.parameter_values = parameter_values;
        self.context_values = context_values;
        for (set, docs) in self.parameter_buckets.iter_mut().zip(parameter_buckets) {
            *set = counted(docs);
        }
        for (set, docs) in self.context_buckets.iter_mut().zip(context_buckets) {
            *set = counted(docs);
        }
        let [parameters_from, context_from] = from;
        for (set, docs) in self.parameters_from.iter_mut().zip(parameters_from) {
            *set = counted(docs);
        }
        for (set, docs) in self.context_from.iter_mut().zip(context_from) {
            *set = counted(docs);
        }
    }

    /// Adds item `doc` to the inverted indexes.
    fn index(&mut self, doc: Doc, item: &CatalogItem) {
        self.words.insert(doc, item);
        self.index_fields(doc, item);
    }

    /// Adds item `doc` to the inverted indexes of its fields (all but the words).
    fn index_fields(&mut self, doc: Doc, item: &CatalogItem) {
        for (facet, part) in self.facets_mut().into_iter().zip(EXACT) {
            for value in item.exact_values(part) {
                // A tag given twice (in two cases) holds the item once: inserting is idempotent.
                let key = borrowed_facet_key(value).into_owned();
                facet.entry(key).or_default().insert(doc);
            }
        }
        for (values, buckets, from, bounds, value) in self.numeric_indexes(item) {
            if let Some(value) = value {
                values.entry(value).or_default().insert(doc);
            }
            if let Some(b) = bucket(bounds, value) {
                in_bucket(buckets, from, b).for_each(|set| set.insert(doc));
            }
        }
    }

    /// Removes item `doc` from the inverted indexes; a value no item has any more leaves them.
    fn unindex(&mut self, doc: Doc, item: &CatalogItem) {
        self.words.remove(doc, item);
        for (facet, part) in self.facets_mut().into_iter().zip(EXACT) {
            for value in item.exact_values(part) {
                let key = borrowed_facet_key(value);
                // An emptied value leaves the index: a filter on it then answers at once.
                if let Some(set) = facet.get_mut(&*key) {
                    set.remove(doc);
                    if set.is_empty() {
                        facet.remove(&*key);
                    }
                }
            }
        }
        for (values, buckets, from, bounds, value) in self.numeric_indexes(item) {
            if let Some(value) = value
                && let Some(set) = values.get_mut(&value)
            {
                set.remove(doc);
                if set.is_empty() {
                    values.remove(&value);
                }
            }
            if let Some(b) = bucket(bounds, value) {
                in_bucket(buckets, from, b).for_each(|set| set.remove(doc));
            }
        }
    }

    /// Each numeric field's indexes (by value, by bucket, from each bucket on), its buckets,
    /// and the item's value.
    fn numeric_indexes(&mut self, item: &CatalogItem) -> [NumericIndexes<'_>; 2] {
        let [(parameter_bounds, parameters), (context_bounds, context)] = NUMERIC;
        [
            (
                &mut self.parameter_values,
                &mut self.parameter_buckets[..],
                &mut self.parameters_from[..],
                parameter_bounds,
                parameters(item),
            ),
            (
                &mut self.context_values,
                &mut self.context_buckets[..],
                &mut self.context_from[..],
                context_bounds,
                context(item),
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
