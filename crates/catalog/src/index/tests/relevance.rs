//! The relevance order on a small fixed catalog: whole word before prefix before substring,
//! name before description, newest first within a tier; and its cursors.

use super::*;

/// A model named `name` with `description`, shared at `secs`.
fn add(index: &mut CatalogIndex, name: &str, description: &str, secs: i64) {
    let mut r = row(name, secs, 0);
    r.model.description = description.into();
    index.apply(r);
}

fn catalog() -> CatalogIndex {
    let mut index = CatalogIndex::default();
    add(&mut index, "Llama 3 Instruct", "a chat model", 10);
    add(&mut index, "Llamafile runner", "packs a model", 20);
    add(&mut index, "TinyLlama", "small", 30);
    add(&mut index, "Coder", "a llama fine-tune", 40);
    add(&mut index, "Writer", "llamas everywhere", 50);
    add(&mut index, "Reader", "kinda-llama-ish", 60);
    add(&mut index, "Old Llama", "the first", 5);
    add(&mut index, "Mistral", "no match here", 70);
    index
}

fn ranked(index: &CatalogIndex, q: &str, limit: usize, bound: usize) -> Vec<String> {
    let filter = Filter {
        q: Some(q.to_lowercase()),
        ..Filter::default()
    };
    let mut names = Vec::new();
    let mut after = None;
    for _ in 0..=usize::from(TIERS) * (index.len() + 1) {
        let page = index
            .current()
            .browse_within(&query(filter.clone(), Sort::Relevance, after, limit), bound);
        names.extend(page.items.iter().map(|item| item.name.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => return names,
        }
    }
    panic!("the listing never ends")
}

#[test]
fn whole_words_then_prefixes_then_substrings_name_before_description() {
    let index = catalog();
    let expected = [
        // Whole word in the name, newest first.
        "Llama 3 Instruct",
        "Old Llama",
        // Prefix of a word of the name.
        "Llamafile runner",
        // Inside a word of the name.
        "TinyLlama",
        // Whole word in the description (a hyphen separates words), newest first.
        "Reader",
        "Coder",
        // Prefix in the description.
        "Writer",
    ];
    for (limit, bound) in [(20, 2_000), (1, 2_000), (2, 3), (3, 1)] {
        assert_eq!(
            ranked(&index, "LLAMA", limit, bound),
            expected,
            "limit {limit}, bound {bound}"
        );
    }
}

#[test]
fn several_words_rank_as_one_phrase() {
    let index = catalog();
    assert_eq!(ranked(&index, "llama 3", 5, 2_000), ["Llama 3 Instruct"]);
    assert_eq!(ranked(&index, "a chat", 5, 2_000), ["Llama 3 Instruct"]);
    assert_eq!(ranked(&index, "a model", 5, 2_000), ["Llamafile runner"]);
    assert_eq!(ranked(&index, "ama 3", 5, 2_000), ["Llama 3 Instruct"]);
}

#[test]
fn without_a_search_relevance_is_newest_first() {
    let index = catalog();
    let page = index
        .current()
        .browse(&query(Filter::default(), Sort::Relevance, None, 3));
    let names: Vec<&str> = page.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["Mistral", "Reader", "Writer"]);
}

#[test]
fn a_relevance_cursor_survives_changes_between_pages() {
    let mut index = catalog();
    let filter = Filter {
        q: Some("llama".into()),
        ..Filter::default()
    };
    let first = index
        .current()
        .browse(&query(filter.clone(), Sort::Relevance, None, 3));
    let names: Vec<&str> = first.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["Llama 3 Instruct", "Old Llama", "Llamafile runner"]);
    // A new whole-word match lands before the cursor; the next page neither repeats nor skips.
    add(&mut index, "Llama Guard", "safety", 100);
    let second = index
        .current()
        .browse(&query(filter, Sort::Relevance, first.next, 3));
    let names: Vec<&str> = second.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["TinyLlama", "Reader", "Coder"]);
}

#[test]
fn tiers_too_big_to_gather_rank_as_a_brute_force_sort() {
    // 4,000 whole-word matches of 6,000, 1,000 prefixes and 1,000 in descriptions: every tier
    // holds more than a page gathers, so each is walked, testing each model against its sets.
    let mut index = CatalogIndex::default();
    for i in 0..6_000 {
        let (name, description) = match i % 6 {
            0..=3 => (format!("m{i} alpha"), "plain"),
            // Also a whole word of the description: its better tier places it.
            4 => (format!("m{i} alphabet"), "an alpha model"),
            _ => (format!("m{i} beta"), "an alpha model"),
        };
        add(&mut index, &name, description, i);
    }
    let filter = Filter {
        q: Some("alpha".into()),
        ..Filter::default()
    };
    let expected = brute_force(&index, &filter, Sort::Relevance);
    assert_eq!(expected.len(), 6_000);
    for limit in [1, 20] {
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = index
                .current()
                .browse_within(&query(filter.clone(), Sort::Relevance, after, limit), 2_000);
            got.extend(page.items.iter().map(|item| item.model_id));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(got, expected, "limit {limit}");
    }
}

#[test]
fn punctuation_at_the_ends_of_q_stands_at_a_words_edge() {
    // `-12` is a whole word of `cat-12` (its hyphen is the word's edge), starts `cat-120`, and
    // lies inside no word of `m12-12`'s first; `llama-` likewise starts `llama-3` and
    // `llama-guard` at a word but lies inside `codellama-7b`.
    let mut index = CatalogIndex::default();
    add(&mut index, "cat-12 swift", "", 1);
    add(&mut index, "cat-120 bold", "", 2);
    add(&mut index, "m12-12", "", 3);
    add(&mut index, "x", "model -12", 4);
    add(&mut index, "llama-3 chat", "", 5);
    add(&mut index, "codellama-7b", "", 6);
    add(&mut index, "llama-guard", "", 7);
    assert_eq!(
        ranked(&index, "-12", 5, 2_000),
        ["m12-12", "cat-12 swift", "cat-120 bold", "x"]
    );
    assert_eq!(
        ranked(&index, "llama-", 5, 2_000),
        ["llama-guard", "llama-3 chat", "codellama-7b"]
    );
}

/// The first page of `q`, limit 5, in `index` (examining at most the usual bound).
fn first_page(index: &CatalogIndex, q: &str) -> Vec<String> {
    let filter = Filter {
        q: Some(q.into()),
        ..Filter::default()
    };
    let page = index
        .current()
        .browse(&query(filter.clone(), Sort::Relevance, None, 5));
    let expected: Vec<ModelId> = brute_force(index, &filter, Sort::Relevance)
        .into_iter()
        .take(5)
        .collect();
    let got: Vec<ModelId> = page.items.iter().map(|item| item.model_id).collect();
    assert_eq!(got, expected, "q {q:?}");
    page.items.iter().map(|item| item.name.clone()).collect()
}

#[test]
fn a_search_whose_best_tiers_are_empty_fills_its_first_page() {
    // More models than a page examines, none of them in the first tiers of these searches: a
    // page skips a tier the word index shows to be empty (or gathers a small one) instead of
    // walking every model to learn it.
    let mut index = CatalogIndex::default();
    for i in 0..6_000 {
        add(&mut index, &format!("cat-{i} qwen coder"), "a model", -i);
    }
    assert_eq!(
        first_page(&index, "-12"),
        [
            "cat-12 qwen coder",
            "cat-120 qwen coder",
            "cat-121 qwen coder",
            "cat-122 qwen coder",
            "cat-123 qwen coder"
        ]
    );
    // Inside two words: only the third tier holds it.
    assert_eq!(
        first_page(&index, "en co"),
        [
            "cat-0 qwen coder",
            "cat-1 qwen coder",
            "cat-2 qwen coder",
            "cat-3 qwen coder",
            "cat-4 qwen coder"
        ]
    );
}
