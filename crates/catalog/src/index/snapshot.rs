//! [`Snapshot`]: one immutable state of the public catalog, as readers see it.
//!
//! Every collection in it is persistent (`imbl`): a clone costs O(1) and shares all its nodes
//! with the original, and a change to one copy copies only the O(log n) nodes on its path. The
//! writer therefore changes its own copy and publishes a clone after each change, and a reader
//! holding an older snapshot keeps a consistent catalog for as long as it reads.

use std::cmp::Reverse;
use std::sync::Arc;

use domain::ModelId;
use imbl::{HashMap, HashSet, OrdMap};
use uuid::Uuid;

use super::CatalogItem;
use super::facets::{CONTEXT_BUCKETS, PARAMETER_BUCKETS, bucket};
use super::query::{Filter, Part, facet_key};

/// The key of an item in the newest-first and most-endpoints-first orders.
pub(super) type CountKey = (Reverse<i64>, Uuid);
/// The key of an item in the name order (lowercased name, then id).
pub(super) type NameKey = (Arc<str>, Uuid);

/// The ids of the items that have each value of one exact-match field.
type Facet = HashMap<String, HashSet<ModelId>>;

#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub(super) items: HashMap<ModelId, Arc<CatalogItem>>,
    // Each order holds the items themselves (not just ids), so a page walks one tree and never
    // looks an id up in `items` per candidate.
    pub(super) by_shared_at: OrdMap<CountKey, Arc<CatalogItem>>,
    pub(super) by_name: OrdMap<NameKey, Arc<CatalogItem>>,
    pub(super) by_endpoints: OrdMap<CountKey, Arc<CatalogItem>>,
    /// Inverted indexes of the exact filters (values by [`facet_key`]).
    architectures: Facet,
    licenses: Facet,
    tags: Facet,
    /// How many items fall in each parameter-count and context-length bucket.
    pub(super) parameter_buckets: [u64; PARAMETER_BUCKETS.len()],
    pub(super) context_buckets: [u64; CONTEXT_BUCKETS.len()],
    /// Moves on with every change of what a page can show.
    pub(super) generation: u64,
}

/// What the exact filters of a query leave to look at.
pub(super) enum Candidates<'a> {
    /// No exact filter: every item.
    All,
    /// A filtered value no item has: nothing can match.
    None,
    /// The sets whose union is the smallest set of ids one exact filter allows (every match
    /// is in it), and the size of that union at most.
    Ids(Vec<&'a HashSet<ModelId>>, usize),
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

    fn all_facet_values(&self) -> [Vec<String>; 3] {
        EXACT.map(|part| self.facet_values(part))
    }
}

/// The exact fields, in the order of the snapshot's inverted indexes.
const EXACT: [Part; 3] = [Part::Architecture, Part::License, Part::Tag];

impl Snapshot {
    /// A snapshot of `items` (all different models), built at once: each order from its sorted
    /// keys, on its own thread.
    pub(super) fn build(items: Vec<Arc<CatalogItem>>) -> Self {
        fn order<K: Ord + Clone>(
            items: &[Arc<CatalogItem>],
            key: fn(&CatalogItem) -> K,
        ) -> OrdMap<K, Arc<CatalogItem>> {
            let mut keyed: Vec<(K, Arc<CatalogItem>)> = items
                .iter()
                .map(|item| (key(item), Arc::clone(item)))
                .collect();
            keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            keyed.into_iter().collect()
        }
        let facets = |items: &[Arc<CatalogItem>]| {
            let mut facets: [std::collections::HashMap<String, Vec<ModelId>>; 3] =
                Default::default();
            for item in items {
                for (facet, values) in facets.iter_mut().zip(item.all_facet_values()) {
                    for value in values {
                        facet.entry(value).or_default().push(item.model_id);
                    }
                }
            }
            facets.map(|facet| {
                facet
                    .into_iter()
                    .map(|(value, ids)| (value, ids.into_iter().collect::<HashSet<_>>()))
                    .collect::<Facet>()
            })
        };
        // A panic on a builder thread is a bug; surface it here rather than hide it.
        fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }
        std::thread::scope(|scope| {
            let by_shared_at = scope.spawn(|| order(&items, CatalogItem::shared_at_key));
            let by_endpoints = scope.spawn(|| order(&items, CatalogItem::endpoints_key));
            let facets = scope.spawn(|| facets(&items));
            let by_name = order(&items, CatalogItem::name_key);
            let by_id = items
                .iter()
                .map(|item| (item.model_id, Arc::clone(item)))
                .collect();
            let [architectures, licenses, tags] = join(facets);
            let mut parameter_buckets = [0; PARAMETER_BUCKETS.len()];
            let mut context_buckets = [0; CONTEXT_BUCKETS.len()];
            for item in &items {
                count_buckets(&mut parameter_buckets, &mut context_buckets, item, 1);
            }
            Self {
                parameter_buckets,
                context_buckets,
                items: by_id,
                by_shared_at: join(by_shared_at),
                by_name,
                by_endpoints: join(by_endpoints),
                architectures,
                licenses,
                tags,
                generation: 0,
            }
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

    /// Adds an item whose model is not in the snapshot.
    pub(super) fn insert(&mut self, item: Arc<CatalogItem>) {
        self.generation += 1;
        self.by_shared_at
            .insert(item.shared_at_key(), Arc::clone(&item));
        self.by_name.insert(item.name_key(), Arc::clone(&item));
        self.by_endpoints
            .insert(item.endpoints_key(), Arc::clone(&item));
        for (facet, values) in self.facets_mut().into_iter().zip(item.all_facet_values()) {
            for value in values {
                facet.entry(value).or_default().insert(item.model_id);
            }
        }
        count_buckets(
            &mut self.parameter_buckets,
            &mut self.context_buckets,
            &item,
            1,
        );
        self.items.insert(item.model_id, item);
    }

    pub(super) fn remove(&mut self, id: ModelId) -> Option<Arc<CatalogItem>> {
        let old = self.items.remove(&id)?;
        self.generation += 1;
        self.by_shared_at.remove(&old.shared_at_key());
        self.by_name.remove(&old.name_key());
        self.by_endpoints.remove(&old.endpoints_key());
        count_buckets(
            &mut self.parameter_buckets,
            &mut self.context_buckets,
            &old,
            -1,
        );
        for (facet, values) in self.facets_mut().into_iter().zip(old.all_facet_values()) {
            for value in values {
                // An emptied value leaves the index: a filter on it then answers at once.
                if let Some(ids) = facet.get_mut(&value) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        facet.remove(&value);
                    }
                }
            }
        }
        Some(old)
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
    pub(super) fn sets(&self, part: Part, values: &[String]) -> Vec<&HashSet<ModelId>> {
        let Some(facet) = self.facet(part) else {
            return Vec::new();
        };
        let mut keys: Vec<String> = values.iter().map(|v| facet_key(v)).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter().filter_map(|key| facet.get(key)).collect()
    }

    /// The narrowest set of candidates the query's exact filters allow.
    pub(super) fn candidates(&self, filter: &Filter) -> Candidates<'_> {
        let mut narrowest: Option<(Vec<&HashSet<ModelId>>, usize)> = None;
        for part in EXACT {
            let Some(values) = filter.values(part) else {
                continue;
            };
            let sets = self.sets(part, values);
            if sets.is_empty() {
                return Candidates::None;
            }
            let size = sets.iter().map(|set| set.len()).sum();
            if narrowest.as_ref().is_none_or(|(_, n)| size < *n) {
                narrowest = Some((sets, size));
            }
        }
        narrowest.map_or(Candidates::All, |(sets, size)| Candidates::Ids(sets, size))
    }
}

/// Adds (`delta` 1) or removes (-1) an item in the bucket counts.
fn count_buckets(
    parameters: &mut [u64; PARAMETER_BUCKETS.len()],
    context: &mut [u64; CONTEXT_BUCKETS.len()],
    item: &CatalogItem,
    delta: i8,
) {
    let apply = |count: &mut u64| {
        *count = if delta > 0 {
            *count + 1
        } else {
            count.saturating_sub(1)
        };
    };
    if let Some(count) =
        bucket(&PARAMETER_BUCKETS, item.parameter_count).and_then(|b| parameters.get_mut(b))
    {
        apply(count);
    }
    if let Some(count) =
        bucket(&CONTEXT_BUCKETS, item.context_length).and_then(|b| context.get_mut(b))
    {
        apply(count);
    }
}
