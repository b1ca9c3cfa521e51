//! Facet counts against a brute-force count, and the drill-down rule on a small catalog.

use std::collections::BTreeMap;

use super::*;
use crate::index::facets::{CONTEXT_BUCKETS, FACET_VALUES, PARAMETER_BUCKETS, bucket};
use crate::index::query::Part;

const BILLION: i64 = 1_000_000_000;

/// A random row whose parameter count spreads over every bucket (0 to 198B).
fn spread_row(rng: &mut Rng) -> CatalogRow {
    let mut row = random_row(rng);
    row.model.parameter_count = row.model.parameter_count.map(|p| p * 2 * BILLION);
    row
}

/// A random filter with parameter bounds on the same scale as [`spread_row`]'s.
fn spread_filter(rng: &mut Rng) -> Filter {
    let mut filter = random_filter(rng);
    filter.min_parameters = filter.min_parameters.map(|p| p * 2 * BILLION);
    filter.max_parameters = filter.max_parameters.map(|p| p * 2 * BILLION);
    filter
}

/// `row` with a value of every field but the tags (on the scale of [`spread_row`]'s).
fn fill(row: &mut CatalogRow, rng: &mut Rng) {
    let m = &mut row.model;
    if m.architecture.is_none() {
        m.architecture = Some(rng.cased(ARCHITECTURES));
    }
    if m.license.is_none() {
        m.license = Some(rng.cased(LICENSES));
    }
    if m.parameter_count.is_none() {
        m.parameter_count = Some(i64::try_from(rng.below(100)).unwrap() * 2 * BILLION);
    }
    if m.context_length.is_none() {
        m.context_length = Some([2048, 4096, 8192][rng.below(3)]);
    }
}

/// `filter` without the facet's own filter.
fn without(filter: &Filter, part: Part) -> Filter {
    let mut f = filter.clone();
    match part {
        Part::Architecture => f.architecture.clear(),
        Part::License => f.license.clear(),
        Part::Tag => f.tag.clear(),
        Part::Parameters => (f.min_parameters, f.max_parameters) = (None, None),
        Part::ContextLength => (f.min_context_length, f.max_context_length) = (None, None),
    }
    f
}

/// A value facet by definition: each value's count among the items the other filters leave,
/// by count then value, the selected values always listed.
fn brute_values(items: &[Arc<CatalogItem>], filter: &Filter, part: Part) -> Vec<(String, u64)> {
    let others = without(filter, part);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for item in items.iter().filter(|item| others.matches(item)) {
        let mut values: Vec<String> = match part {
            Part::Architecture => item.architecture.iter().cloned().collect(),
            Part::License => item.license.iter().cloned().collect(),
            Part::Tag => item.tags.clone(),
            _ => unreachable!("value facets only"),
        }
        .into_iter()
        .map(|v| v.to_ascii_lowercase())
        .collect();
        values.sort();
        values.dedup();
        for value in values {
            *counts.entry(value).or_default() += 1;
        }
    }
    let selected = match part {
        Part::Architecture => &filter.architecture,
        Part::License => &filter.license,
        _ => &filter.tag,
    };
    for value in selected {
        counts.entry(value.to_ascii_lowercase()).or_default();
    }
    let mut listed: Vec<(String, u64)> = counts.into_iter().collect();
    listed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    listed
}

/// A bucket facet by definition.
fn brute_ranges(
    items: &[Arc<CatalogItem>],
    filter: &Filter,
    part: Part,
    buckets: &[(i64, Option<i64>)],
) -> Vec<u64> {
    let others = without(filter, part);
    let mut counts = vec![0; buckets.len()];
    for item in items.iter().filter(|item| others.matches(item)) {
        let value = match part {
            Part::Parameters => item.parameter_count,
            _ => item.context_length,
        };
        if let Some(value) = value
            && let Some(b) = buckets
                .iter()
                .position(|(min, max)| value >= *min && max.is_none_or(|m| value <= m))
        {
            counts[b] += 1;
        }
    }
    counts
}

fn listed(values: &[ValueCount]) -> Vec<(String, u64)> {
    values.iter().map(|v| (v.value.clone(), v.count)).collect()
}

#[test]
fn facet_counts_equal_a_brute_force_count() {
    let mut rng = Rng(0xFACE_7ED0_C0DE_0001);
    let mut nonzero = 0;
    for case in 0..300 {
        // Every other pair of catalogs has a value of every field but the tags on every model:
        // a field's counts then add up to its mask's, and its biggest value's count is what
        // the others leave.
        let whole = (case / 2) % 2 == 0;
        let rows: Vec<CatalogRow> = (0..rng.below(200))
            .map(|_| {
                let mut row = spread_row(&mut rng);
                if whole {
                    fill(&mut row, &mut rng);
                }
                row
            })
            .collect();
        // Half the catalogs are built at once, half one change at a time.
        let index = random_index(&mut rng, rows, case % 2 == 0);
        let items: Vec<Arc<CatalogItem>> = index.current().all().cloned().collect();
        for round in 0..10 {
            // Every tenth filter is empty: the counts then come from the indexes alone.
            let filter = if round == 0 {
                Filter::default()
            } else {
                spread_filter(&mut rng)
            };
            let got = index.current().facets(&filter);
            let context = format!("case {case}: {filter:?}");
            assert_eq!(
                listed(&got.architecture),
                brute_values(&items, &filter, Part::Architecture),
                "architecture, {context}"
            );
            assert_eq!(
                listed(&got.license),
                brute_values(&items, &filter, Part::License),
                "license, {context}"
            );
            assert_eq!(
                listed(&got.tag),
                brute_values(&items, &filter, Part::Tag),
                "tag, {context}"
            );
            let counts = |ranges: &[RangeCount]| ranges.iter().map(|r| r.count).collect::<Vec<_>>();
            assert_eq!(
                counts(&got.parameters),
                brute_ranges(&items, &filter, Part::Parameters, &PARAMETER_BUCKETS),
                "parameters, {context}"
            );
            assert_eq!(
                counts(&got.context_length),
                brute_ranges(&items, &filter, Part::ContextLength, &CONTEXT_BUCKETS),
                "context length, {context}"
            );
            let total =
                u64::try_from(items.iter().filter(|item| filter.matches(item)).count()).unwrap();
            assert_eq!(got.total, total, "total, {context}");
            nonzero += usize::from(total > 0);
        }
    }
    assert!(nonzero > 500, "only {nonzero} filters matched anything");
}

#[test]
fn a_facet_ignores_its_own_filter_and_narrows_with_the_others() {
    let mut index = CatalogIndex::default();
    let mut add = |name: &str, arch: &str, license: &str, tags: &[&str], params: i64| {
        let mut r = row(name, 100, 0);
        r.model.architecture = Some(arch.into());
        r.model.license = Some(license.into());
        r.model.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        r.model.parameter_count = Some(params);
        index.apply(r);
    };
    add("a", "llama", "mit", &["chat"], 8 * BILLION);
    add("b", "llama", "apache-2.0", &["chat", "code"], 70 * BILLION);
    add("c", "Qwen3", "mit", &["code"], 500_000_000);
    add("d", "mistral", "mit", &[], 7 * BILLION);
    let filter = Filter {
        architecture: vec!["LLAMA".into(), "qwen3".into()],
        license: vec!["mit".into()],
        ..Filter::default()
    };
    let facets = index.current().facets(&filter);
    // Architecture counts ignore the architecture filter: every MIT model counts.
    assert_eq!(
        listed(&facets.architecture),
        [
            ("llama".into(), 1),
            ("mistral".into(), 1),
            ("qwen3".into(), 1)
        ]
    );
    // License counts ignore the license filter: every llama or qwen3 model counts.
    assert_eq!(
        listed(&facets.license),
        [("mit".into(), 2), ("apache-2.0".into(), 1)]
    );
    // Tags apply both: a and c.
    assert_eq!(
        listed(&facets.tag),
        [("chat".into(), 1), ("code".into(), 1)]
    );
    assert_eq!(
        facets
            .parameters
            .iter()
            .map(|r| r.count)
            .collect::<Vec<_>>(),
        [1, 0, 1, 0, 0, 0]
    );
    assert_eq!(facets.total, 2);
    assert_eq!(bucket(&PARAMETER_BUCKETS, Some(8 * BILLION)), Some(2));
}

#[test]
fn a_value_facet_lists_the_most_common_values_and_every_selected_one() {
    let mut index = CatalogIndex::default();
    for i in 0..(FACET_VALUES + 10) {
        for _ in 0..=i {
            let mut r = row(&format!("m{i}"), 100, 0);
            r.model.tags = vec![format!("t{i:03}")];
            index.apply(r);
        }
    }
    let filter = Filter {
        tag: vec!["t000".into()],
        ..Filter::default()
    };
    let tags = index.current().facets(&filter).tag;
    assert_eq!(tags.len(), FACET_VALUES + 1);
    assert_eq!(tags[0].value, format!("t{:03}", FACET_VALUES + 9));
    assert_eq!(
        tags.last().map(|t| (t.value.as_str(), t.count)),
        Some(("t000", 1))
    );
}

#[test]
fn a_bulk_build_numbers_items_with_equal_facet_values_together() {
    // 3 architectures and 2 licences over 120,000 items, arriving interleaved. Numbered as
    // they came, every value's set would have members in all 30 chunks of 4,096 numbers.
    const ITEMS: i64 = 120_000;
    let rows = (0..ITEMS).map(|i| {
        let mut row = row(&format!("model {i}"), 1_000 + i, 0);
        let pick = |values: &[&str], n: i64| values[usize::try_from(i % n).unwrap()].to_owned();
        row.model.architecture = Some(pick(&["llama", "qwen", "gemma"], 3));
        row.model.license = Some(pick(&["mit", "apache-2.0"], 2));
        row
    });
    let index = CatalogIndex::from_rows(rows);
    let snapshot = index.current();
    // An architecture is one run of 40,000 numbers; a licence one run of 20,000 within each
    // architecture. A run of n numbers spans at most n / 4,096 + 2 chunks.
    let spans = |runs: usize, each: usize| runs * (each / 4_096 + 2);
    for (part, most) in [
        (Part::Architecture, spans(1, 40_000)),
        (Part::License, spans(3, 20_000)),
    ] {
        for (value, set) in snapshot.facet(part).unwrap() {
            let chunks = set.chunk_lens().len();
            assert!(chunks <= most, "{value}: {chunks} chunks, at most {most}");
        }
    }
}

#[test]
fn a_bulk_build_numbers_items_that_share_their_first_tags_together() {
    // 120,000 items with three tags each: one of 3 families, one of 11 tiers and one of 7
    // labels, arriving interleaved (231 different lists). Grouped by the lists alone, in no
    // order among them, every family and tier would have members in all 30 chunks.
    const ITEMS: i64 = 120_000;
    let rows = (0..ITEMS).map(|i| {
        let mut row = row(&format!("model {i}"), 1_000 + i, 0);
        row.model.tags = vec![
            format!("a-family-{}", i % 3),
            format!("b-tier-{}", i % 11),
            format!("c-label-{}", i % 7),
        ];
        row
    });
    let index = CatalogIndex::from_rows(rows);
    let snapshot = index.current();
    let chunks = |value: &str| {
        let (_, set) = snapshot
            .facet(Part::Tag)
            .unwrap()
            .iter()
            .find(|(v, _)| v.as_str() == value)
            .unwrap();
        set.chunk_lens().len()
    };
    // A family is one run of 40,000 numbers (at most 40,000 / 4,096 + 2 chunks); a tier, one
    // run of about 3,636 within each family (at most 2 chunks each).
    for family in 0..3 {
        let spans = chunks(&format!("a-family-{family}"));
        assert!(spans <= 11, "family {family}: {spans} chunks");
    }
    for tier in 0..11 {
        let spans = chunks(&format!("b-tier-{tier}"));
        assert!(spans <= 6, "tier {tier}: {spans} chunks");
    }
}
