//! Facet counts of the public catalog: how many models each value of a field (or each size
//! bucket) would leave, given every filter but that field's own (drill-down).
//!
//! Each filter given becomes a [`Mask`] of the items it lets through (the union of its values'
//! sets in the inverted indexes; `q` is tested item by item). A facet's counts are then, for
//! each of its values, the number of that value's items in the intersection of every other
//! filter's mask: bit counts, without looking at a single item.

use std::borrow::Cow;
use std::sync::Arc;

use super::CatalogItem;
use super::bits::{Counter, Doc, DocSet, Mask};
use super::query::{Filter, Part, facet_key};
use super::snapshot::{EXACT, Snapshot};

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

impl Snapshot {
    /// Every facet's counts under `filter`; see the module's documentation.
    pub(crate) fn facets(&self, filter: &Filter) -> Facets {
        // The mask of each filter given (`None`: the search).
        let mut masks: Vec<(Option<Part>, Mask)> = Part::ALL
            .into_iter()
            .filter_map(|part| Some((Some(part), self.part_mask(filter, part)?)))
            .collect();
        if filter.q.is_some() {
            masks.push((None, self.search_mask(filter)));
        }
        // A facet whose field is not filtered counts within every filter's items, as the
        // total does: that intersection is made (and made ready to count in) once, for all.
        let all = within(&masks, None);
        let all = all.as_deref();
        let all_counter = all.map(Mask::counter);
        // The counts of `sets`, the values of `part`, within the items of every filter but
        // `part`'s.
        let counts = |part: Part, sets: &[&DocSet]| -> Vec<u64> {
            let filtered = masks.iter().any(|(filtered, _)| *filtered == Some(part));
            let own = filtered.then(|| within(&masks, Some(part))).flatten();
            let own_counter = own.as_deref().map(Mask::counter);
            let counter = if filtered {
                own_counter.as_ref()
            } else {
                all_counter.as_ref()
            };
            match counter {
                None => sets.iter().map(|set| count(set.len())).collect(),
                // Every item has at most one value of a field but the tags: when none lacks
                // one, its values' sets are a partition.
                Some(counter) => counted(
                    counter,
                    sets,
                    part != Part::Tag
                        && sets.iter().map(|set| set.len()).sum::<usize>() == self.len(),
                ),
            }
        };
        let mut values = EXACT.map(|part| {
            self.facet(part)
                .map(|facet| {
                    let (values, sets): (Vec<&str>, Vec<&DocSet>) = facet
                        .iter()
                        .map(|(value, set)| (value.as_str(), set))
                        .unzip();
                    values.into_iter().zip(counts(part, &sets)).collect()
                })
                .unwrap_or_default()
        });
        let ranges = |part: Part, sets: &[DocSet], bounds: &[(i64, Option<i64>)]| {
            counts(part, &sets.iter().collect::<Vec<_>>())
                .into_iter()
                .zip(bounds)
                .map(|(count, (min, max))| RangeCount {
                    min: *min,
                    max: *max,
                    count,
                })
                .collect()
        };
        let parameters = ranges(
            Part::Parameters,
            &self.parameter_buckets,
            &PARAMETER_BUCKETS,
        );
        let context_length = ranges(Part::ContextLength, &self.context_buckets, &CONTEXT_BUCKETS);
        let total = all_counter
            .as_ref()
            .map_or_else(|| count(self.len()), Counter::total);
        let [architecture, license, tag] = &mut values;
        Facets {
            architecture: listed(std::mem::take(architecture), &filter.architecture),
            license: listed(std::mem::take(license), &filter.license),
            tag: listed(std::mem::take(tag), &filter.tag),
            parameters,
            context_length,
            total,
        }
    }

    /// The items one facet filter lets through; none when the filter does not give it.
    pub(super) fn part_mask(&self, filter: &Filter, part: Part) -> Option<Mask> {
        Some(self.union(&self.part_sets(filter, part)?))
    }

    /// The mask of the items in any of `sets`.
    pub(super) fn union(&self, sets: &[&DocSet]) -> Mask {
        let mut mask = Mask::empty(self.doc_limit());
        sets.iter().for_each(|set| mask.add(set));
        mask
    }

    /// The sets whose union is what one facet filter lets through; none when the filter does
    /// not give it.
    pub(super) fn part_sets(&self, filter: &Filter, part: Part) -> Option<Vec<&DocSet>> {
        let (values, buckets, from, bounds, min, max) = match part {
            Part::Architecture | Part::License | Part::Tag => {
                return Some(self.sets(part, filter.values(part)?));
            }
            Part::Parameters => (
                &self.parameter_values,
                &self.parameter_buckets[..],
                &self.parameters_from[..],
                &PARAMETER_BUCKETS[..],
                filter.min_parameters,
                filter.max_parameters,
            ),
            Part::ContextLength => (
                &self.context_values,
                &self.context_buckets[..],
                &self.context_from[..],
                &CONTEXT_BUCKETS[..],
                filter.min_context_length,
                filter.max_context_length,
            ),
        };
        if min.is_none() && max.is_none() {
            return None;
        }
        let (min, max) = (min.unwrap_or(i64::MIN), max.unwrap_or(i64::MAX));
        // A bucket inside the range is taken whole; of the others, the values in the range.
        let mut sets = Vec::new();
        let add_values = |sets: &mut Vec<_>, lo: i64, hi: i64| {
            if lo <= hi {
                sets.extend(values.range(lo..=hi).map(|(_, set)| set));
            }
        };
        let first = bounds.first().map_or(i64::MAX, |(first, _)| *first);
        add_values(&mut sets, min, max.min(first.saturating_sub(1)));
        for (at, (set, (low, high))) in buckets.iter().zip(bounds).enumerate() {
            let high = high.unwrap_or(i64::MAX);
            let (lo, hi) = (min.max(*low), max.min(high));
            if lo == *low
                && max == i64::MAX
                && let Some(above) = at.checked_sub(1).and_then(|k| from.get(k))
            {
                // This bucket and every one above are taken whole: one set holds them all.
                sets.push(above);
                break;
            }
            if lo == *low && hi == high {
                sets.push(set);
            } else {
                add_values(&mut sets, lo, hi);
            }
        }
        Some(sets)
    }

    /// The items whose name or description holds `q`: from the word index, testing only the
    /// candidates it leaves when that is not exact (see [`super::search`]).
    pub(super) fn search_mask(&self, filter: &Filter) -> Mask {
        let limit = self.doc_limit();
        let candidates = filter
            .q
            .as_deref()
            .and_then(|q| self.words.candidates(q, limit));
        let mut mask = Mask::empty(limit);
        match candidates {
            Some((exact, true)) => return exact,
            Some((candidates, false)) => {
                insert_matches(&mut mask, filter, self.items_of(candidates.iter()));
            }
            None => {
                let items = (0..)
                    .zip(self.slots())
                    .filter_map(|(doc, item)| Some((doc, item?)));
                insert_matches(&mut mask, filter, items);
            }
        }
        mask
    }
}

/// The items that every mask but `skip`'s part's lets through (`skip` none: every mask's);
/// none when no mask is left (every item). One mask is borrowed, not copied; an intersection
/// starts from a copy of the mask with the fewest chunks.
fn within(masks: &[(Option<Part>, Mask)], skip: Option<Part>) -> Option<Cow<'_, Mask>> {
    let mut rest: Vec<&Mask> = masks
        .iter()
        .filter(|(part, _)| skip.is_none() || *part != skip)
        .map(|(_, mask)| mask)
        .collect();
    rest.sort_by_key(|mask| mask.chunks_held());
    let (first, others) = rest.split_first()?;
    if others.is_empty() {
        return Some(Cow::Borrowed(*first));
    }
    let mut both = Mask::clone(first);
    others.iter().for_each(|mask| both.and(mask));
    Some(Cow::Owned(both))
}

/// How many items [`insert_matches`] looks up before testing them.
const BATCH: usize = 32;

/// Adds to `mask` the items whose name or description holds the filter's `q`.
///
/// The items of a big catalog are spread over the whole heap, so testing them one after
/// another waits for a cache miss per item and another per name, one at a time (a phrase's
/// facets at 1,000,000 models spent 98 % of their test on that one load). So a batch of items is
/// touched first, then their names, each pass loads that do not depend on each other, which the
/// processor fetches together, and only then tested.
fn insert_matches<'a>(
    mask: &mut Mask,
    filter: &Filter,
    items: impl Iterator<Item = (Doc, &'a Arc<CatalogItem>)>,
) {
    let mut batch: Vec<(Doc, &CatalogItem)> = Vec::with_capacity(BATCH);
    let mut test = |batch: &mut Vec<(Doc, &CatalogItem)>| {
        for (_, item) in batch.iter() {
            std::hint::black_box(item.name_key.len());
        }
        for (_, item) in batch.iter() {
            // The name's first byte itself: a reference to it needs only the item's pointer,
            // and left the name unread until its test.
            std::hint::black_box(item.name_key.as_bytes().first().copied());
        }
        for (doc, item) in batch.drain(..) {
            if filter.matches_search(item) {
                mask.insert(doc);
            }
        }
    };
    for (doc, item) in items {
        batch.push((doc, item));
        if batch.len() == BATCH {
            test(&mut batch);
        }
    }
    test(&mut batch);
}

/// How many members of each of `sets` `counter`'s mask holds. When the sets are a partition
/// (every item is in exactly one of them) the counts add up to the mask's own, so the biggest
/// set, the costliest to count, is counted as what the others leave.
fn counted(counter: &Counter<'_>, sets: &[&DocSet], partition: bool) -> Vec<u64> {
    let skipped = partition
        .then(|| {
            let biggest = sets.iter().enumerate().max_by_key(|(_, set)| set.len());
            biggest.map(|(at, _)| at)
        })
        .flatten();
    let mut counts: Vec<u64> = sets
        .iter()
        .enumerate()
        .map(|(at, set)| {
            if Some(at) == skipped {
                0
            } else {
                counter.count_in(set)
            }
        })
        .collect();
    if let Some(at) = skipped {
        let others: u64 = counts.iter().sum();
        if let Some(count) = counts.get_mut(at) {
            *count = counter.total().saturating_sub(others);
        }
    }
    counts
}

/// A count of items.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
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

/// A value facet's values by count then name: those with items, at most [`FACET_VALUES`], and
/// every selected one. Only the values listed are copied out of the index.
fn listed(mut counts: Vec<(&str, u64)>, selected: &[String]) -> Vec<ValueCount> {
    let by_count = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
    counts.retain(|(_, count)| *count > 0);
    counts.sort_unstable_by(by_count);
    let mut kept: Vec<(&str, u64)> = counts.iter().take(FACET_VALUES).copied().collect();
    let wanted: Vec<String> = selected.iter().map(|want| facet_key(want)).collect();
    for want in &wanted {
        if !kept.iter().any(|(value, _)| value == want) {
            let count = counts
                .iter()
                .find(|(value, _)| value == want)
                .map_or(0, |(_, count)| *count);
            kept.push((want, count));
        }
    }
    kept.sort_unstable_by(by_count);
    kept.into_iter()
        .map(|(value, count)| ValueCount {
            value: value.to_owned(),
            count,
        })
        .collect()
}
