//! The index's tests: orders, cursors, version gating, the bulk load, and the bounded page
//! against a brute-force filter and sort of random catalogs.

mod facets;
mod relevance;
mod runs;
mod saved;

use super::*;
use bits::Doc;
use domain::{ModelStatus, Timestamp};
use snapshot::STEPS;

fn item(name: &str, secs: i64, endpoints: i64) -> CatalogItem {
    CatalogItem::from_row(row(name, secs, endpoints))
}

/// A shared model at version 1, shared at `secs`.
pub(super) fn row(name: &str, secs: i64, endpoints: i64) -> CatalogRow {
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
pub(super) fn at(row: &CatalogRow, version: i64, shared: bool) -> CatalogRow {
    let mut row = row.clone();
    row.model.version = version;
    row.model.shared = shared;
    row
}

#[test]
fn items_found_along_the_leaves_are_those_looked_up_one_by_one() {
    // 5,000 items, every seventh then unshared: its number's slot is empty.
    let rows: Vec<CatalogRow> = (0..5_000)
        .map(|i| row(&format!("m{i}"), 1_000 + i, 0))
        .collect();
    let mut index = CatalogIndex::from_rows(rows.clone());
    for row in rows.iter().step_by(7) {
        assert!(index.apply(at(row, 2, false)));
    }
    let snapshot = index.current();
    let limit = snapshot.doc_limit();
    // Items are numbered grouped by their facet values, in an order that changes from run to
    // run: which numbers are empty slots does too.
    let held = (0..limit)
        .find(|doc| snapshot.item_of(*doc).is_some())
        .unwrap();
    // Gaps of 1 to 600 between the numbers, in runs of one to 40 of a gap.
    let mut uneven = Vec::new();
    let (mut doc, mut seed) = (0, 7_u32);
    while doc < limit {
        uneven.push(doc);
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let steps = Doc::try_from(STEPS).unwrap();
        let gaps = [1, 1, 2, steps - 1, steps, steps + 1, 90, 256, 600];
        let gap = gaps[usize::try_from(seed >> 16).unwrap() % gaps.len()];
        for _ in 0..(seed >> 8) % 40 {
            doc += gap;
            if doc < limit {
                uneven.push(doc);
            }
        }
        doc += gap;
    }
    // Every number; a scattered few (more leaves apart than a step covers); numbers as far
    // apart as the walk steps, and one more; runs after leaps; numbers past the end; gaps of
    // every kind.
    let picks: [Vec<Doc>; 8] = [
        (0..limit).collect(),
        (0..limit).step_by(397).collect(),
        (0..limit).step_by(STEPS).collect(),
        (0..limit).step_by(STEPS + 1).collect(),
        vec![0, 1, 2, 3_000, 3_001, 3_002, 4_999],
        (100..110).chain(2_000..2_100).chain(4_500..4_600).collect(),
        vec![held, limit, limit + 5],
        uneven,
    ];
    for docs in picks {
        let along: Vec<(Doc, ModelId)> = snapshot
            .items_of(docs.iter().copied())
            .map(|(doc, item)| (doc, item.model_id))
            .collect();
        let one_by_one: Vec<(Doc, ModelId)> = docs
            .iter()
            .filter_map(|doc| Some((*doc, snapshot.item_of(*doc)?.model_id)))
            .collect();
        assert!(!one_by_one.is_empty());
        assert_eq!(along, one_by_one, "{docs:?}");
    }
}

fn page_all(index: &CatalogIndex, sort: Sort, limit: usize) -> Vec<String> {
    let mut names = Vec::new();
    let mut after = None;
    loop {
        let page = index.current().browse(&BrowseQuery {
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
    let first = index.current().browse(&BrowseQuery {
        filter: Filter::default(),
        sort: Sort::SharedAt,
        after: None,
        limit: 3,
    });
    index.remove(items[1].model_id);
    index.remove(items[3].model_id);
    index.upsert(item("new", 1000, 0));
    let rest = index.current().browse(&BrowseQuery {
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
    assert!(index.current().get(id).is_none());
    assert!(!index.apply(shared), "a stale share must not come back");
    assert!(index.current().get(id).is_none());
}

#[test]
fn a_bulk_build_holds_the_words_one_by_one_inserts_hold() {
    // Words repeated in one field, held by both fields, in another case, after a separator.
    let texts = [
        ("Alpha beta alpha", "beta gamma GAMMA delta beta"),
        ("gamma", "Gamma gamma alpha alpha"),
        ("delta-delta x", "x y x y"),
        ("z", ""),
        ("y y", "z Z y"),
    ];
    let items: Vec<Arc<CatalogItem>> = texts
        .iter()
        .map(|(name, description)| {
            let mut row = row(name, 1_000, 0);
            row.model.description = (*description).into();
            Arc::new(CatalogItem::from_row(row))
        })
        .collect();
    let bulk = search::WordIndex::build(&items);
    let mut inserted = search::WordIndex::default();
    for (doc, item) in (0..).zip(&items) {
        inserted.insert(doc, item);
    }
    let [names, descriptions] = bulk.listed();
    assert_eq!([&names, &descriptions], inserted.listed().each_ref());
    // Each word once per item, and a description's word only when the name lacks it.
    let of = |listed: &[(String, Vec<Doc>)], word: &str| {
        listed
            .iter()
            .find(|(w, _)| w == word)
            .map(|(_, docs)| docs.clone())
    };
    assert_eq!(of(&names, "alpha"), Some(vec![0]));
    assert_eq!(of(&descriptions, "alpha"), Some(vec![1]));
    assert_eq!(of(&descriptions, "beta"), None);
    assert_eq!(of(&descriptions, "gamma"), Some(vec![0]));
    assert_eq!(of(&names, "delta"), Some(vec![2]));
    assert_eq!(of(&descriptions, "y"), Some(vec![2]));
    assert_eq!(of(&descriptions, "z"), Some(vec![4]));
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
        if i % 10 == 5 {
            // A later version, shared and renamed, then an older one: the later one stays.
            let mut renamed = at(row, 3, true);
            renamed.model.name = format!("renamed {i}");
            for later in [renamed, at(row, 2, false)] {
                one_by_one.apply(later.clone());
                rows.push(later);
            }
        }
    }
    let bulk = CatalogIndex::from_rows(rows);
    assert_eq!(bulk.len(), 270);
    assert!(
        bulk.current()
            .get(shared[5].model.id)
            .is_some_and(|item| item.name == "renamed 5")
    );
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
    assert!(bulk.current().get(shared[0].model.id).is_none());
}

#[test]
fn a_changed_item_is_rendered_again() {
    let mut index = CatalogIndex::default();
    let first = item("m", 10, 1);
    let id = first.model_id;
    index.upsert(first);
    let render = |i: &CatalogItem| format!("{}:{}", i.name, i.endpoint_count);
    assert_eq!(index.current().get(id).unwrap().rendered(render), "m:1");
    assert_eq!(
        index
            .current()
            .get(id)
            .unwrap()
            .rendered(|_| "other".into()),
        "m:1",
        "kept after the first render"
    );
    index.adjust_endpoints(id, 2);
    assert_eq!(index.current().get(id).unwrap().rendered(render), "m:3");
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
    let page = index.current().browse(&BrowseQuery {
        filter,
        sort: Sort::SharedAt,
        after: None,
        limit: 10,
    });
    assert_eq!(page.items.len(), 1);
    let filter = Filter {
        tag: vec!["CHAT".into()],
        license: vec!["MIT".into()],
        ..Filter::default()
    };
    let page = index.current().browse(&BrowseQuery {
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
            .current()
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

pub(super) fn query(
    filter: Filter,
    sort: Sort,
    after: Option<SortKey>,
    limit: usize,
) -> BrowseQuery {
    BrowseQuery {
        filter,
        sort,
        after,
        limit,
    }
}

#[test]
fn an_absent_exact_value_answers_without_examining() {
    let mut index = CatalogIndex::default();
    let rare = row("rare one", 10, 0);
    let mut rare_row = rare.clone();
    rare_row.model.tags = vec!["Rare".into()];
    index.apply(rare_row.clone());
    for i in 0..50 {
        index.upsert(item(&format!("m{i}"), i, 0));
    }
    for filter in [
        Filter {
            architecture: vec!["absent".into()],
            ..Filter::default()
        },
        Filter {
            license: vec!["absent".into()],
            q: Some("m1".into()),
            ..Filter::default()
        },
        Filter {
            tag: vec!["absent".into()],
            ..Filter::default()
        },
    ] {
        let page = index.current().browse(&query(filter, Sort::Name, None, 10));
        assert!(page.items.is_empty());
        assert_eq!(page.next, None);
        assert_eq!(page.examined, 0);
    }
    // A rare value is gathered from its set: one model examined, not the whole order.
    let tagged = Filter {
        tag: vec!["rARE".into()],
        ..Filter::default()
    };
    let page = index
        .current()
        .browse(&query(tagged.clone(), Sort::Name, None, 10));
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.examined, 1);
    // Once no model has the value, it leaves the inverted index.
    assert!(index.apply(at(&rare_row, 2, false)));
    let page = index.current().browse(&query(tagged, Sort::Name, None, 10));
    assert!(page.items.is_empty());
    assert_eq!(page.examined, 0);
}

#[test]
fn a_filter_matching_nothing_stops_at_the_bound_and_continues() {
    let rows: Vec<CatalogRow> = (0..(i64::try_from(EXAMINE_BOUND).unwrap() * 2 + 10))
        .map(|i| row(&format!("m{i}"), i, i % 3))
        .collect();
    let index = CatalogIndex::from_rows(rows);
    // A search whose words the word index knows nothing of answers at once.
    let unknown = Filter {
        q: Some("no such text".into()),
        ..Filter::default()
    };
    let page = index
        .current()
        .browse(&query(unknown, Sort::Endpoints, None, 20));
    assert_eq!((page.items.len(), page.next, page.examined), (0, None, 0));
    // Two letters no word holds: nothing to test either.
    let absent = Filter {
        q: Some("zz".into()),
        ..Filter::default()
    };
    let page = index
        .current()
        .browse(&query(absent, Sort::Endpoints, None, 20));
    assert_eq!((page.items.len(), page.next, page.examined), (0, None, 0));
    // One letter is too few to look up: every model is tested, a bound at a time.
    let nothing = Filter {
        q: Some("z".into()),
        ..Filter::default()
    };
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = index
            .current()
            .browse(&query(nothing.clone(), Sort::Endpoints, after, 20));
        pages += 1;
        assert!(page.items.is_empty());
        assert!(page.examined <= EXAMINE_BOUND);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3, "two full walks of the bound, then the rest");
}

#[test]
fn a_two_letter_word_after_a_separator_is_looked_up() {
    let rows: Vec<CatalogRow> = (0..3_000)
        .map(|i| row(&format!("cat-{i} model"), i, 0))
        .collect();
    let index = CatalogIndex::from_rows(rows);
    let search = |q: &str| {
        let filter = Filter {
            q: Some(q.into()),
            ..Filter::default()
        };
        index
            .current()
            .browse(&query(filter, Sort::SharedAt, None, 200))
    };
    // `-12` starts a word: 12, 120–129 and 1200–1299, and only they are tested.
    let page = search("-12");
    assert_eq!(
        (page.items.len(), page.examined, page.next),
        (111, 111, None)
    );
    // `12 ` ends one: 12, 112, 212, …, 2912 (30).
    let page = search("12 ");
    let ends: Vec<&str> = page.items.iter().map(|i| i.name.as_str()).collect();
    assert!(ends.iter().all(|name| name.contains("12 ")), "{ends:?}");
    assert_eq!(page.items.len(), 30);
    assert_eq!(page.examined, 30);
    // `-12 ` is the word itself.
    let page = search("-12 ");
    assert_eq!((page.items.len(), page.examined), (1, 1));
    // So is `-1 `: a word of one letter between separators is looked up too.
    let page = search("-1 ");
    let names: Vec<&str> = page.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!((names, page.examined), (vec!["cat-1 model"], 1));
}

#[test]
fn a_published_snapshot_never_changes() {
    let mut index = CatalogIndex::default();
    let first = item("first", 10, 0);
    let id = first.model_id;
    index.upsert(first);
    let before = index.snapshot();
    index.adjust_endpoints(id, 5);
    index.upsert(item("second", 20, 0));
    assert_eq!(before.len(), 1);
    assert_eq!(before.get(id).unwrap().endpoint_count, 0);
    assert_eq!(index.current().get(id).unwrap().endpoint_count, 5);
    assert!(index.generation() > before.generation());
    let page = before.browse(&query(Filter::default(), Sort::SharedAt, None, 10));
    assert_eq!(page.items.len(), 1);
}

/// A small, seedable random source (xorshift64*) for the property test.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        usize::try_from(x % u64::try_from(n.max(1)).unwrap()).unwrap()
    }

    pub(super) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    /// A value in a random ASCII case.
    fn cased(&mut self, from: &[&str]) -> String {
        let value = self.pick(from);
        match self.below(3) {
            0 => value.to_ascii_uppercase(),
            _ => value.to_owned(),
        }
    }
}

const ARCHITECTURES: &[&str] = &["llama", "Mistral", "qwen", "gemma"];
const LICENSES: &[&str] = &["mit", "Apache-2.0", "llama3"];
const TAGS: &[&str] = &["chat", "Code", "vision", "t1", "t2", "rare"];
const WORDS: &[&str] = &[
    "alpha", "Beta", "gamma", "delta", "Émile", "Alphabet", "Scalpel",
];

pub(super) fn random_row(rng: &mut Rng) -> CatalogRow {
    let mut row = row(
        &format!("{} {}", rng.pick(WORDS), rng.below(4)),
        1_000 + i64::try_from(rng.below(40)).unwrap(),
        i64::try_from(rng.below(4)).unwrap(),
    );
    let m = &mut row.model;
    m.description = format!("{} checkpoint {}", rng.pick(WORDS), rng.below(30));
    m.architecture = rng.chance(85).then(|| rng.cased(ARCHITECTURES));
    m.license = rng.chance(70).then(|| rng.cased(LICENSES));
    m.tags = (0..rng.below(4)).map(|_| rng.cased(TAGS)).collect();
    m.parameter_count = rng
        .chance(75)
        .then(|| i64::try_from(rng.below(100)).unwrap());
    m.context_length = rng.chance(75).then(|| [2048, 4096, 8192][rng.below(3)]);
    row
}

pub(super) fn random_filter(rng: &mut Rng) -> Filter {
    // None, one or (sometimes) two values, one of them now and then a value no model has.
    let exact = |rng: &mut Rng, percent, values: &[&str]| {
        let count = if rng.chance(percent) {
            1 + usize::from(rng.chance(30))
        } else {
            0
        };
        (0..count)
            .map(|_| {
                if rng.chance(10) {
                    "absent".to_owned()
                } else {
                    rng.cased(values)
                }
            })
            .collect::<Vec<_>>()
    };
    let architecture = exact(rng, 30, ARCHITECTURES);
    let license = exact(rng, 20, LICENSES);
    let tag = exact(rng, 30, TAGS);
    let number = |rng: &mut Rng, percent| {
        rng.chance(percent)
            .then(|| i64::try_from(rng.below(100)).unwrap())
    };
    Filter {
        q: rng.chance(30).then(|| {
            rng.pick(&[
                "a",
                "alpha",
                "ta 1",
                "checkpoint 1",
                "zzz",
                "émile",
                "gamma 2",
                "point",
                "1",
                // Word prefixes, and inside words, in names and descriptions.
                "alp",
                "eta",
                "check",
                // Two letters, and words with a separator before or after them.
                "ha",
                "12",
                " 2",
                "a 1",
                "t 2",
                "nt 1",
                "el ",
                "-1",
                " al",
                "a ch",
                "pha ",
                " 12",
                // Word prefixes of three letters, and whole words of one or two.
                " alp",
                "-che",
                " 1 ",
                "a-12 ",
                "ha ch",
            ])
            .into()
        }),
        architecture,
        license,
        tag,
        min_parameters: number(rng, 20),
        max_parameters: number(rng, 20),
        min_context_length: rng.chance(20).then(|| [2048, 4096, 8192][rng.below(3)]),
        max_context_length: rng.chance(10).then(|| [2048, 4096, 8192][rng.below(3)]),
    }
}

/// An index of `rows`, built at once or one change at a time (with some removals).
pub(super) fn random_index(rng: &mut Rng, rows: Vec<CatalogRow>, at_once: bool) -> CatalogIndex {
    if at_once {
        return CatalogIndex::from_rows(rows);
    }
    let mut index = CatalogIndex::default();
    for row in rows {
        let gone = rng.chance(10).then(|| at(&row, 2, false));
        index.apply(row);
        if let Some(gone) = gone {
            index.apply(gone);
        }
    }
    index
}

/// The listing by definition: every item that matches, in the sort's order.
fn brute_force(index: &CatalogIndex, filter: &Filter, sort: Sort) -> Vec<ModelId> {
    let mut matches: Vec<Arc<CatalogItem>> = index
        .current()
        .all()
        .filter(|item| filter.matches(item))
        .cloned()
        .collect();
    matches.sort_by(|a, b| {
        let newest = || {
            b.shared_at
                .as_datetime()
                .timestamp()
                .cmp(&a.shared_at.as_datetime().timestamp())
        };
        let by = match sort {
            Sort::Relevance => filter.tier(a).cmp(&filter.tier(b)).then_with(newest),
            Sort::SharedAt => b
                .shared_at
                .as_datetime()
                .timestamp()
                .cmp(&a.shared_at.as_datetime().timestamp()),
            Sort::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            Sort::Endpoints => b.endpoint_count.cmp(&a.endpoint_count),
        };
        by.then(a.model_id.as_uuid().cmp(&b.model_id.as_uuid()))
    });
    matches.iter().map(|item| item.model_id).collect()
}

#[test]
fn following_cursors_equals_a_brute_force_filter_and_sort_within_the_bound() {
    let mut rng = Rng(0x5EED_CA7A_1060_0001);
    let mut short_pages = 0;
    for case in 0..300 {
        let rows: Vec<CatalogRow> = (0..rng.below(160)).map(|_| random_row(&mut rng)).collect();
        let index = random_index(&mut rng, rows, case % 2 == 0);
        for _ in 0..8 {
            let filter = random_filter(&mut rng);
            let sort = [Sort::SharedAt, Sort::Name, Sort::Endpoints, Sort::Relevance][rng.below(4)];
            let limit = 1 + rng.below(8);
            let bound = 1 + rng.below(40);
            let expected = brute_force(&index, &filter, sort);
            let mut got = Vec::new();
            let mut after = None;
            for pages in 0.. {
                // A relevance listing walks the order once per match tier.
                let walks = if sort == Sort::Relevance {
                    usize::from(TIERS)
                } else {
                    1
                };
                assert!(
                    pages <= walks * (index.len() + 1),
                    "case {case}: the listing never ends"
                );
                let q = query(filter.clone(), sort, after, limit);
                let page = index.current().browse_within(&q, bound);
                assert!(
                    page.examined <= bound,
                    "case {case}: {} > {bound}",
                    page.examined
                );
                assert!(page.items.len() <= limit);
                if page.next.is_some() && page.items.len() < limit {
                    short_pages += 1;
                }
                got.extend(page.items.iter().map(|item| item.model_id));
                match page.next {
                    Some(next) => {
                        assert_eq!(next.sort(), sort);
                        after = Some(next);
                    }
                    None => break,
                }
            }
            assert_eq!(
                got, expected,
                "case {case}: {filter:?} {sort:?} limit {limit} bound {bound}"
            );
        }
    }
    // The random cases did stop at the bound, many times.
    assert!(short_pages > 100, "{short_pages} short pages");
}

/// The endpoint counts read after a start from the checkpoint are set on every model but those
/// that changed after the read began: an endpoint made here, or a transition (which reads its
/// count), knows a count at least as new, which the older read must not undo.
#[test]
fn endpoint_counts_read_earlier_do_not_undo_later_changes() {
    let mut index = CatalogIndex::default();
    let [made_here, reshared, untouched, removed] =
        ["made-here", "reshared", "untouched", "removed"].map(|name| {
            let it = item(name, 10, 1);
            let id = it.model_id;
            index.upsert(it);
            id
        });
    index.watch_changes();
    // What the database said when the read began: one endpoint each, and two for `untouched`.
    let read: HashMap<ModelId, i64> = [made_here, reshared, untouched, removed]
        .map(|id| (id, if id == untouched { 2 } else { 1 }))
        .into_iter()
        .collect();
    // Meanwhile: an endpoint made here, a transition that read three, a model unshared.
    index.adjust_endpoints(made_here, 1);
    let mut again = CatalogItem::clone(&index.current().get(reshared).unwrap());
    again.endpoint_count = 3;
    index.upsert(again);
    index.remove(removed);
    assert_eq!(index.set_endpoints(&read), 1, "only `untouched` is set");
    let count = |index: &CatalogIndex, id| index.current().get(id).map(|item| item.endpoint_count);
    assert_eq!(count(&index, made_here), Some(2));
    assert_eq!(count(&index, reshared), Some(3));
    assert_eq!(count(&index, untouched), Some(2));
    assert_eq!(count(&index, removed), None);
    // Watching ended with the counts: a later change is not exempt from the next set.
    index.adjust_endpoints(made_here, 5);
    assert_eq!(index.set_endpoints(&read), 2, "`made_here` and `reshared`");
    assert_eq!(count(&index, made_here), Some(1));
}
