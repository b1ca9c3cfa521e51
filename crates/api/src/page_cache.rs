//! Catalog pages as served, kept until the public catalog next changes.
//!
//! A page is cut from the in-memory catalog by walking an order and testing each model against
//! the filters, then concatenated from the models' JSON; a selective filter can walk thousands
//! of models for one page. Catalog reads far outnumber changes, and the pages people read are
//! few (the first pages of popular queries), so the bodies are kept, keyed by the parsed query,
//! for as long as the catalog's generation stays the same. Any change of the catalog moves the
//! generation on, and a page kept for an older generation is never served.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use actix_web::web::Bytes;
use catalog::BrowseQuery;

/// The bodies of recently served catalog pages, for one catalog generation.
pub struct PageCache {
    /// Most pages kept; 0 keeps none.
    capacity: usize,
    pages: Mutex<Pages>,
}

#[derive(Default)]
struct Pages {
    generation: u64,
    bodies: HashMap<BrowseQuery, Bytes>,
}

impl PageCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            pages: Mutex::default(),
        }
    }

    /// The body kept for `query`, if it was read at `generation`.
    pub fn get(&self, query: &BrowseQuery, generation: u64) -> Option<Bytes> {
        if self.capacity == 0 {
            return None;
        }
        let pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        if pages.generation != generation {
            return None;
        }
        pages.bodies.get(query).cloned()
    }

    /// Keeps `body`, the page for `query` read at `generation`. Pages of an older generation
    /// than the kept ones are dropped; a newer generation replaces them all. When full, the
    /// kept pages make room for the new ones all at once.
    pub fn put(&self, query: BrowseQuery, generation: u64, body: Bytes) {
        if self.capacity == 0 {
            return;
        }
        let mut pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        if generation < pages.generation {
            return;
        }
        if generation > pages.generation || pages.bodies.len() >= self.capacity {
            pages.bodies.clear();
            pages.generation = generation;
        }
        pages.bodies.insert(query, body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use catalog::{Filter, Sort};

    fn query(tag: &str) -> BrowseQuery {
        BrowseQuery {
            filter: Filter {
                tag: Some(tag.into()),
                ..Filter::default()
            },
            sort: Sort::SharedAt,
            after: None,
            limit: 20,
        }
    }

    #[test]
    fn a_page_is_served_only_at_the_generation_it_was_read_at() {
        let cache = PageCache::new(4);
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
    }

    #[test]
    fn a_full_cache_makes_room_and_zero_keeps_nothing() {
        let cache = PageCache::new(2);
        for tag in ["a", "b", "c"] {
            cache.put(query(tag), 1, Bytes::from(tag.to_owned()));
        }
        assert_eq!(cache.get(&query("c"), 1), Some(Bytes::from_static(b"c")));
        assert_eq!(cache.get(&query("a"), 1), None);
        let none = PageCache::new(0);
        none.put(query("a"), 1, Bytes::from_static(b"a"));
        assert_eq!(none.get(&query("a"), 1), None);
    }
}
