//! Building the catalog index of 1,000,000 shared models at once, as the start-up load does
//! (the same seed pattern as `bench/src/db/seed.rs`): the time it takes and the memory the index
//! holds, without the database read or the HTTP server around it (the rows are made here).
//! Run: `cargo bench -p catalog --bench index_build` (`CATALOG_BENCH_MODELS` to change the
//! size). One build per process, so that the memory figures start from a fresh heap; run it
//! several times for a median.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use catalog::Standalone;

mod common;
use common::row;

/// `VmRSS` and `VmHWM` (peak) of this process, in MB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument (as for criterion) is not used.
    let models: usize = std::env::var("CATALOG_BENCH_MODELS")
        .ok()
        .map_or(1_000_000, |n| n.parse().unwrap());
    let (empty, _) = rss();
    // Rows made one at a time as the build takes them, as the service decodes them from the
    // database: the allocator reuses each row's leftovers for the next.
    let started = Instant::now();
    let index = Standalone::from_rows((0..models).map(row));
    let built = started.elapsed();
    let (untrimmed, peak) = rss();
    // What the service does once its catalog is loaded: the build's temporaries go back.
    #[allow(unsafe_code)]
    // SAFETY: `malloc_trim` takes no pointer and touches only the allocator's free lists.
    unsafe {
        libc::malloc_trim(0);
    }
    let (with_index, _) = rss();
    println!(
        "index_build/{models}: {:.2} s (rows made and indexed); RSS {with_index:.0} MB with the \
         index (+{:.0} MB over empty; {untrimmed:.0} MB before returning free pages), peak \
         {peak:.0} MB",
        built.as_secs_f64(),
        with_index - empty,
    );
    std::hint::black_box(&index);
    // Freeing a million items is not part of the figure.
    std::process::exit(0);
}
