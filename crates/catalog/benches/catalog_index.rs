//! One catalog read at a time against 1,000,000 shared models, in memory: a first page of each
//! list shape and each facets shape of the bench's catalog mix (the same seed pattern as
//! `bench/src/db/seed.rs`). What a read costs without HTTP, queueing or other load; and what
//! a share or unshare costs the index (`change/*`).
//! Run: `cargo bench -p catalog --bench catalog_index` (`CATALOG_BENCH_MODELS` to change the
//! size; building the index takes about 20 s).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use catalog::{BrowseQuery, Filter, Sort, Standalone};
use criterion::{Criterion, criterion_group, criterion_main};
use storage::CatalogRow;

mod common;
use common::row;

/// A filter from a query string of the catalog's own parameters.
fn filter(query: &str) -> Filter {
    let mut f = Filter::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap();
        let value = value.replace("%20", " ");
        let number = || Some(value.parse::<i64>().unwrap());
        match key {
            "q" => f.q = Some(value.to_lowercase()),
            "architecture" => f.architecture.push(value),
            "license" => f.license.push(value),
            "tag" => f.tag.push(value),
            "minParameters" => f.min_parameters = number(),
            "maxParameters" => f.max_parameters = number(),
            "minContextLength" => f.min_context_length = number(),
            "maxContextLength" => f.max_context_length = number(),
            other => panic!("unknown parameter {other}"),
        }
    }
    f
}

/// The list shapes of the bench's mix: name, filters, order.
const LIST: [(&str, &str, Sort); 20] = [
    ("sort-sharedAt", "", Sort::SharedAt),
    ("sort-name", "", Sort::Name),
    ("sort-endpoints", "", Sort::Endpoints),
    ("sort-relevance", "q=code", Sort::Relevance),
    ("facet-architecture", "architecture=qwen", Sort::SharedAt),
    ("facet-license", "license=mit", Sort::SharedAt),
    ("facet-tag", "tag=code", Sort::SharedAt),
    (
        "facet-parameters",
        "minParameters=10000000000&maxParameters=60000000000",
        Sort::SharedAt,
    ),
    (
        "facet-contextLength",
        "minContextLength=8192&maxContextLength=32767",
        Sort::SharedAt,
    ),
    (
        "facet-repeated",
        "architecture=llama&architecture=qwen",
        Sort::SharedAt,
    ),
    (
        "facet-combined",
        "architecture=llama&license=apache-2.0&tag=chat",
        Sort::Name,
    ),
    (
        "selective",
        "architecture=falcon&license=mit&tag=t3&minContextLength=100000",
        Sort::SharedAt,
    ),
    ("selective-q", "q=-12", Sort::Relevance),
    (
        "empty-filter",
        "architecture=llama&license=mit&minParameters=200000000000",
        Sort::SharedAt,
    ),
    ("empty-q", "q=zzqx", Sort::Relevance),
    ("q-1-token", "q=swift", Sort::Relevance),
    ("q-2-tokens", "q=qwen%20coder", Sort::Relevance),
    ("q-3-tokens", "q=swift%20qwen%20coder", Sort::Relevance),
    ("q-broad", "q=checkpoint", Sort::Endpoints),
    ("q-name-order", "q=swift", Sort::Name),
];

/// The facets shapes: the bench's three and two more (a range inside buckets, a phrase).
const FACETS: [(&str, &str); 5] = [
    ("facets", ""),
    (
        "facets-filtered",
        "architecture=llama&tag=code&minParameters=10000000000",
    ),
    ("facets-q", "q=swift"),
    (
        "facets-range",
        "minParameters=10000000000&maxParameters=60000000000",
    ),
    ("facets-q-phrase", "q=qwen%20coder"),
];

/// How many chunks of models the service's start-up reads at once (its SQLite load's).
const LOADED_CHUNK: usize = 4_096;

/// Words written between two reads of `facets-q-cold`: 32 MiB, more than this machine's
/// caches per core.
const EVICTING_WORDS: usize = 4 << 20;

/// The rows of `models` models as the service's start-up reads them: a chunk of
/// [`LOADED_CHUNK`] decoded at once, then turned into items one by one, the chunk's leftovers
/// freed as the next comes. The index's small allocations then fill the holes those leave, as
/// a served index's do, rather than sitting next to each other. On a machine where the
/// service spent about 200 µs of CPU on each request for `q=swift`'s facets, they took 57 µs
/// here built from one row at a time, and 150 µs (390 µs with the caches cold) built this way.
fn loaded_rows(models: usize) -> impl Iterator<Item = CatalogRow> {
    (0..models).step_by(LOADED_CHUNK).flat_map(move |start| {
        (start..(start + LOADED_CHUNK).min(models))
            .map(row)
            .collect::<Vec<_>>()
    })
}

fn reads(c: &mut Criterion) {
    let models: usize = std::env::var("CATALOG_BENCH_MODELS")
        .ok()
        .map_or(1_000_000, |n| n.parse().unwrap());
    let index = Standalone::from_rows(loaded_rows(models));
    let mut group = c.benchmark_group(format!("catalog_{models}"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for (name, query, sort) in LIST {
        let query = BrowseQuery {
            filter: filter(query),
            sort,
            after: None,
            limit: 20,
        };
        group.bench_function(format!("list/{name}"), |b| {
            b.iter(|| black_box(index.browse(black_box(&query))))
        });
    }
    // A served catalog answers between other work (parsing, writing, the kernel's network
    // path, the other worker) that evicts the index from the cache: one shape again with the
    // caches filled with other data before each read.
    let mut other = vec![0u64; EVICTING_WORDS];
    let cold = filter("q=swift");
    group.bench_function("facets/facets-q-cold", |b| {
        b.iter_custom(|reads| {
            let mut took = Duration::ZERO;
            for read in 0..reads {
                other.iter_mut().for_each(|w| *w = w.wrapping_add(read));
                let started = Instant::now();
                black_box(index.facets(black_box(&cold)));
                took += started.elapsed();
            }
            took
        })
    });
    for (name, query) in FACETS {
        let filter = filter(query);
        group.bench_function(format!("facets/{name}"), |b| {
            b.iter(|| black_box(index.facets(black_box(&filter))))
        });
    }
    group.finish();
}

/// One share and one unshare of a model (each a new version, applied and published as the
/// catalog's actor does after a transition), cycling over 1,000 models of the catalog.
fn changes(c: &mut Criterion) {
    let models: usize = std::env::var("CATALOG_BENCH_MODELS")
        .ok()
        .map_or(1_000_000, |n| n.parse().unwrap());
    let mut toggled: Vec<_> = (0..1_000).map(row).collect();
    let mut index = Standalone::from_rows(toggled.iter().cloned().chain((1_000..models).map(row)));
    let mut group = c.benchmark_group(format!("catalog_{models}"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let mut next = 0;
    group.bench_function("change/unshare-and-share", |b| {
        b.iter(|| {
            let row = &mut toggled[next % 1_000];
            next += 1;
            for shared in [false, true] {
                row.model.shared = shared;
                row.model.version += 1;
                assert!(index.apply(row.clone()));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, reads, changes);
criterion_main!(benches);
