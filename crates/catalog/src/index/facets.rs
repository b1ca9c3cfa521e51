//! Facet counts of the public catalog: how many models each value of a field (or each size
//! bucket) would leave, given every filter but that field's own (drill-down).
//!
//! One pass over the models that can count anywhere computes every facet: an item that passes
//! every filter counts in all facets; an item that fails exactly one facet's filter counts in
//! that facet only; any other item counts nowhere. The pass starts from the narrowest set the
//! inverted indexes allow (an item failing two exact filters counts nowhere, so the union of
//! the two narrowest exact filters' sets holds every item that counts), and a facet whose
//! filter is the only one given is read off the indexes' sizes without a pass.

use std::collections::{HashMap, HashSet as StdHashSet};

use domain::ModelId;

use super::CatalogItem;
use super::query::{Filter, Part, Parts, facet_key};
use super::snapshot::Snapshot;

/// The parameter-count buckets, `(min, max)` inclusive (`max` none: no upper end): under 1B,
/// 1–4B, 4–10B, 10–30B, 30–100B, 100B and more.
pub const PARAMETER_BUCKETS: [(i64, Option<i64>); 6] = [
    (0, Some(999_999_999)),
    (1_000_000_000, Some(3_999_999_999)),
    (4_000_000_000, Some(9_999_999_999)),
    (10_000_000_000, Some(29_999_999_999)),
    (30_000_000_000, Some(99_999_999_999)),
    (100_000_000_000, None),
];

/// The context-length buckets, `(min, max)` inclusive: under 4K, 4K–8K, 8K–32K, 32K–128K,
/// 128K and more (K = 1,024 tokens).
pub const CONTEXT_BUCKETS: [(i64, Option<i64>); 5] = [
    (0, Some(4_095)),
    (4_096, Some(8_191)),
    (8_192, Some(32_767)),
    (32_768, Some(131_071)),
    (131_072, None),
];

/// The most values a value facet lists (those with the highest counts), besides the values
/// the filter selects, which are always listed.
pub const FACET_VALUES: usize = 50;

/// One value of a field and how many models have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueCount {
    /// The value as the filters compare it (ASCII lowercase).
    pub value: String,
    pub count: u64,
}

/// One bucket of a numeric field and how many models fall in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeCount {
    pub min: i64,
    pub max: Option<i64>,
    pub count: u64,
}

/// The counts of every facet for one filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facets {
    pub architecture: Vec<ValueCount>,
    pub license: Vec<ValueCount>,
    pub tag: Vec<ValueCount>,
    pub parameters: Vec<RangeCount>,
    pub context_length: Vec<RangeCount>,
    /// How many models match the whole filter.
    pub total: u64,
}

/// The bucket of `value` among `buckets`.
pub(crate) fn bucket(buckets: &[(i64, Option<i64>)], value: Option<i64>) -> Option<usize> {
    let value = value?;
    buckets
        .iter()
        .position(|(min, max)| value >= *min && max.is_none_or(|max| value <= max))
}

/// Counts being gathered.
#[derive(Default)]
struct Tally {
    architecture: HashMap<String, u64>,
    license: HashMap<String, u64>,
    tag: HashMap<String, u64>,
    parameters: [u64; PARAMETER_BUCKETS.len()],
    context: [u64; CONTEXT_BUCKETS.len()],
    total: u64,
}

impl Tally {
    fn values_mut(&mut self, part: Part) -> Option<&mut HashMap<String, u64>> {
        match part {
            Part::Architecture => Some(&mut self.architecture),
            Part::License => Some(&mut self.license),
            Part::Tag => Some(&mut self.tag),
            Part::Parameters | Part::ContextLength => None,
        }
    }

    /// Counts `item` in the facets of `parts`.
    fn add(&mut self, item: &CatalogItem, parts: Parts) {
        for part in EXACT_PARTS {
            if parts.has(part)
                && let Some(counts) = self.values_mut(part)
            {
                for value in item.facet_values(part) {
                    *counts.entry(value).or_default() += 1;
                }
            }
        }
        if parts.has(Part::Parameters) {
            bump(
                &mut self.parameters,
                &PARAMETER_BUCKETS,
                item.parameter_count,
            );
        }
        if parts.has(Part::ContextLength) {
            bump(&mut self.context, &CONTEXT_BUCKETS, item.context_length);
        }
    }

    /// Counts an item that passes every filter but those in `failed`, in every facet it
    /// counts in but those in `skip` (read off the indexes).
    fn count(&mut self, item: &CatalogItem, failed: Parts, skip: Parts) {
        match failed.len() {
            0 => {
                self.total += 1;
                self.add(item, Parts::EVERY.without(skip));
            }
            1 => self.add(item, failed.without(skip)),
            _ => {}
        }
    }
}

/// Adds one to the count of `value`'s bucket.
fn bump(counts: &mut [u64], buckets: &[(i64, Option<i64>)], value: Option<i64>) {
    if let Some(count) = bucket(buckets, value).and_then(|b| counts.get_mut(b)) {
        *count += 1;
    }
}

/// The fields with an inverted index.
const EXACT_PARTS: [Part; 3] = [Part::Architecture, Part::License, Part::Tag];

impl Snapshot {
    /// Every facet's counts under `filter`; see the module's documentation.
    pub(crate) fn facets(&self, filter: &Filter) -> Facets {
        let constrained = constrained_parts(filter);
        let mut tally = Tally::default();
        // Facets counted over the whole catalog, from the indexes' sizes.
        let mut global = Parts::NONE;
        if filter.q.is_none() && constrained.len() <= 1 {
            global = constrained.first().map_or(Parts::EVERY, |p| Parts::one(*p));
            self.global_counts(&mut tally, global);
        }
        let visit = |item: &CatalogItem, tally: &mut Tally| {
            if filter.matches_search(item) {
                tally.count(item, filter.failed_parts(item), global);
            }
        };
        match self.facet_sources(filter, &constrained) {
            Source::Nothing => {}
            Source::Sets(sets) => {
                let several = sets.len() > 1;
                let mut seen = StdHashSet::new();
                for id in sets.iter().flat_map(|set| set.iter()) {
                    if several && !seen.insert(*id) {
                        continue;
                    }
                    if let Some(item) = self.items.get(id) {
                        visit(item, &mut tally);
                    }
                }
            }
            Source::All if filter.q.is_none() && constrained.is_empty() => {
                // No filter at all: every facet came from the indexes.
                tally.total = count(self.items.len());
            }
            Source::All => {
                for item in self.items.values() {
                    visit(item, &mut tally);
                }
            }
        }
        finish(tally, filter)
    }

    /// The counts of the facets in `parts` over the whole catalog, from the indexes.
    fn global_counts(&self, tally: &mut Tally, parts: Parts) {
        for part in EXACT_PARTS {
            if parts.has(part)
                && let (Some(facet), Some(counts)) = (self.facet(part), tally.values_mut(part))
            {
                *counts = facet
                    .iter()
                    .map(|(value, ids)| (value.clone(), count(ids.len())))
                    .collect();
            }
        }
        if parts.has(Part::Parameters) {
            tally.parameters = self.parameter_buckets;
        }
        if parts.has(Part::ContextLength) {
            tally.context = self.context_buckets;
        }
    }

    /// Where the pass starts: the sets of the (at most two) narrowest exact filters, or every
    /// item.
    fn facet_sources<'a>(&'a self, filter: &Filter, constrained: &[Part]) -> Source<'a> {
        let mut exact: Vec<(usize, Vec<&'a imbl::HashSet<ModelId>>)> = Vec::new();
        for part in constrained {
            if let Some(values) = filter.values(*part) {
                let sets = self.sets(*part, values);
                exact.push((sets.iter().map(|s| s.len()).sum(), sets));
            }
        }
        let sets = match exact.len() {
            // An item failing two filters counts nowhere: with two exact filters, the union of
            // their sets holds every item that counts.
            2.. => {
                exact.sort_by_key(|(size, _)| *size);
                exact
                    .into_iter()
                    .take(2)
                    .flat_map(|(_, sets)| sets)
                    .collect()
            }
            // Its own facet came from the indexes; the others count the items that pass it.
            1 if constrained.len() == 1 && filter.q.is_none() => {
                exact.pop().map(|(_, sets)| sets).unwrap_or_default()
            }
            _ => return Source::All,
        };
        if sets.is_empty() {
            Source::Nothing
        } else {
            Source::Sets(sets)
        }
    }
}

/// A count of items.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

enum Source<'a> {
    Nothing,
    All,
    Sets(Vec<&'a imbl::HashSet<ModelId>>),
}

/// The facet filters `filter` gives.
fn constrained_parts(filter: &Filter) -> Vec<Part> {
    Part::ALL
        .into_iter()
        .filter(|part| match part {
            Part::Architecture => !filter.architecture.is_empty(),
            Part::License => !filter.license.is_empty(),
            Part::Tag => !filter.tag.is_empty(),
            Part::Parameters => filter.min_parameters.is_some() || filter.max_parameters.is_some(),
            Part::ContextLength => {
                filter.min_context_length.is_some() || filter.max_context_length.is_some()
            }
        })
        .collect()
}

impl Filter {
    /// The values an exact part selects (none for a numeric part or an unfiltered one).
    pub(crate) fn values(&self, part: Part) -> Option<&[String]> {
        let values = match part {
            Part::Architecture => &self.architecture,
            Part::License => &self.license,
            Part::Tag => &self.tag,
            Part::Parameters | Part::ContextLength => return None,
        };
        (!values.is_empty()).then_some(values.as_slice())
    }
}

/// The sorted, truncated facets, with the selected values always listed.
fn finish(tally: Tally, filter: &Filter) -> Facets {
    let Tally {
        architecture,
        license,
        tag,
        ..
    } = tally;
    let values = |counts: HashMap<String, u64>, selected: &[String]| {
        let mut listed: Vec<ValueCount> = counts
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .map(|(value, count)| ValueCount { value, count })
            .collect();
        listed.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        let mut kept: Vec<ValueCount> = listed.iter().take(FACET_VALUES).cloned().collect();
        for want in selected {
            let want = facet_key(want);
            if !kept.iter().any(|v| v.value == want) {
                let count = listed
                    .iter()
                    .find(|v| v.value == want)
                    .map_or(0, |v| v.count);
                kept.push(ValueCount { value: want, count });
            }
        }
        kept.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        kept
    };
    let ranges = |buckets: &[(i64, Option<i64>)], counts: &[u64]| {
        buckets
            .iter()
            .zip(counts)
            .map(|((min, max), count)| RangeCount {
                min: *min,
                max: *max,
                count: *count,
            })
            .collect()
    };
    Facets {
        architecture: values(architecture, &filter.architecture),
        license: values(license, &filter.license),
        tag: values(tag, &filter.tag),
        parameters: ranges(&PARAMETER_BUCKETS, &tally.parameters),
        context_length: ranges(&CONTEXT_BUCKETS, &tally.context),
        total: tally.total,
    }
}
