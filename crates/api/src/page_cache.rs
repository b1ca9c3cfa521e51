//! Catalog pages as served, kept until the public catalog next changes, within a byte budget.
//!
//! A page is cut from the in-memory catalog by testing models against the filters (at most
//! [`catalog::examine_bound`] of them), then concatenated from the models' JSON. Catalog reads
//! far outnumber changes, and the pages people read are few (the first pages of popular
//! queries), so the bodies are kept, keyed by the parsed query, for as long as the catalog's
//! generation stays the same. Any change of the catalog moves the generation on, and a page kept
//! for an older generation is never served.
//!
//! The cache holds at most `capacity` bytes (bodies plus their keys): anyone can send distinct
//! queries, so it is bounded by what pages weigh, not by how many there are. When a new page
//! does not fit, the least recently used pages make room for it; a page larger than the whole
//! budget is not kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use actix_web::web::Bytes;
use catalog::{BrowseQuery, SortKey};

/// What one kept page costs besides its body and the strings of its key: the key's fixed part,
/// the map entries, the recency entry.
const ENTRY_OVERHEAD: usize = 256;

/// The bodies of recently served catalog pages, for one catalog generation.
pub struct PageCache {
    /// Most bytes kept; 0 keeps none.
    capacity: usize,
    pages: Mutex<Pages>,
}

#[derive(Default)]
struct Pages {
    generation: u64,
    bodies: HashMap<BrowseQuery, Kept>,
    /// Queries by last use (a counter), least recent first.
    recency: BTreeMap<u64, BrowseQuery>,
    /// Bytes of everything kept.
    bytes: usize,
    uses: u64,
}

struct Kept {
    body: Bytes,
    last_use: u64,
    cost: usize,
}

impl PageCache {
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            capacity: capacity_bytes,
            pages: Mutex::default(),
        }
    }

    /// The body kept for `query`, if it was read at `generation`; it becomes the most recently
    /// used.
    pub fn get(&self, query: &BrowseQuery, generation: u64) -> Option<Bytes> {
        if self.capacity == 0 {
            return None;
        }
        let mut pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        if pages.generation != generation {
            return None;
        }
        pages.touch(query)
    }

    /// Keeps `body`, the page for `query` read at `generation`. Pages of an older generation
    /// than the kept ones are dropped; a newer generation replaces them all. The least recently
    /// used pages make room.
    pub fn put(&self, query: BrowseQuery, generation: u64, body: Bytes) {
        let cost = cost(&query, &body);
        if cost > self.capacity {
            return;
        }
        let mut pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        if generation < pages.generation {
            return;
        }
        if generation > pages.generation {
            *pages = Pages {
                generation,
                ..Pages::default()
            };
        }
        pages.forget(&query);
        while pages.bytes + cost > self.capacity {
            let Some((_, oldest)) = pages.recency.pop_first() else {
                break;
            };
            pages.forget(&oldest);
        }
        pages.uses += 1;
        let last_use = pages.uses;
        pages.bytes += cost;
        pages.recency.insert(last_use, query.clone());
        pages.bodies.insert(
            query,
            Kept {
                body,
                last_use,
                cost,
            },
        );
    }

    /// Bytes kept now (bodies and keys).
    pub fn bytes(&self) -> usize {
        self.pages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }
}

impl Pages {
    fn touch(&mut self, query: &BrowseQuery) -> Option<Bytes> {
        self.uses += 1;
        let now = self.uses;
        let kept = self.bodies.get_mut(query)?;
        let before = std::mem::replace(&mut kept.last_use, now);
        let body = kept.body.clone();
        if let Some(key) = self.recency.remove(&before) {
            self.recency.insert(now, key);
        }
        Some(body)
    }

    fn forget(&mut self, query: &BrowseQuery) {
        if let Some(kept) = self.bodies.remove(query) {
            self.recency.remove(&kept.last_use);
            self.bytes -= kept.cost;
        }
    }
}

/// The bytes a kept page holds: its body, the strings of its key (kept twice: in the map and
/// in the recency order), and a fixed overhead.
fn cost(query: &BrowseQuery, body: &Bytes) -> usize {
    let f = &query.filter;
    let strings =
        f.q.iter()
            .chain(&f.architecture)
            .chain(&f.license)
            .chain(&f.tag)
            .map(String::len)
            .sum::<usize>()
            + match &query.after {
                Some(SortKey::Name(name, _)) => name.len(),
                _ => 0,
            };
    body.len() + 2 * strings + ENTRY_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;
    use catalog::{Filter, Sort};

    fn query(tag: &str) -> BrowseQuery {
        BrowseQuery {
            filter: Filter {
                tag: vec![tag.into()],
                ..Filter::default()
            },
            sort: Sort::SharedAt,
            after: None,
            limit: 20,
        }
    }

    /// A body whose page costs exactly `cost` bytes with a one-letter tag.
    fn body(cost: usize) -> Bytes {
        Bytes::from(vec![b'x'; cost - ENTRY_OVERHEAD - 2])
    }

    #[test]
    fn a_page_is_served_only_at_the_generation_it_was_read_at() {
        let cache = PageCache::new(1 << 20);
        assert_eq!(cache.get(&query("a"), 0), None);
        cache.put(query("a"), 3, Bytes::from_static(b"a3"));
        assert_eq!(cache.get(&query("a"), 3), Some(Bytes::from_static(b"a3")));
        assert_eq!(cache.get(&query("b"), 3), None, "another query");
        assert_eq!(cache.get(&query("a"), 4), None, "the catalog changed");
        // A page read before the change arrives late: never kept.
        cache.put(query("b"), 2, Bytes::from_static(b"b2"));
        assert_eq!(cache.get(&query("b"), 2), None);
        // A newer generation drops the older pages.
        cache.put(query("b"), 4, Bytes::from_static(b"b4"));
        assert_eq!(cache.get(&query("b"), 4), Some(Bytes::from_static(b"b4")));
        assert_eq!(cache.get(&query("a"), 4), None);
        assert_eq!(cache.bytes(), cost(&query("b"), &Bytes::from_static(b"b4")));
    }

    #[test]
    fn the_least_recently_used_pages_make_room_within_the_bytes() {
        let cache = PageCache::new(3_000);
        cache.put(query("a"), 1, body(1_000));
        cache.put(query("b"), 1, body(1_000));
        cache.put(query("c"), 1, body(1_000));
        assert_eq!(cache.bytes(), 3_000);
        // `a` is read, so `b` is now the least recently used.
        assert!(cache.get(&query("a"), 1).is_some());
        cache.put(query("d"), 1, body(1_000));
        assert!(cache.get(&query("b"), 1).is_none(), "evicted");
        for kept in ["a", "c", "d"] {
            assert!(cache.get(&query(kept), 1).is_some(), "{kept}");
        }
        // A bigger page evicts as many as it needs, oldest first (now `a`, then `c`).
        cache.put(query("e"), 1, body(2_000));
        assert!(cache.get(&query("a"), 1).is_none());
        assert!(cache.get(&query("c"), 1).is_none());
        assert!(cache.get(&query("d"), 1).is_some());
        assert!(cache.get(&query("e"), 1).is_some());
        assert_eq!(cache.bytes(), 3_000);
        // Keeping a query again replaces its page rather than counting it twice.
        cache.put(query("d"), 1, body(1_000));
        assert_eq!(cache.bytes(), 3_000);
    }

    #[test]
    fn the_budget_holds_however_many_distinct_queries_arrive() {
        let cache = PageCache::new(50_000);
        for i in 0..1_000 {
            cache.put(
                query(&format!("tag-{i}")),
                7,
                Bytes::from(vec![b'x'; 1_500]),
            );
            assert!(cache.bytes() <= 50_000);
        }
        assert!(cache.bytes() > 40_000, "{} bytes kept", cache.bytes());
        assert!(cache.get(&query("tag-999"), 7).is_some());
        assert!(cache.get(&query("tag-0"), 7).is_none());
    }

    #[test]
    fn too_big_a_page_and_a_zero_budget_keep_nothing() {
        let cache = PageCache::new(1_000);
        cache.put(query("a"), 1, body(1_001));
        assert_eq!(cache.get(&query("a"), 1), None);
        assert_eq!(cache.bytes(), 0);
        let none = PageCache::new(0);
        none.put(query("a"), 1, Bytes::from_static(b"a"));
        assert_eq!(none.get(&query("a"), 1), None);
    }
}
