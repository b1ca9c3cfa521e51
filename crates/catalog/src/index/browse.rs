//! Cutting a page from a [`Snapshot`], examining a bounded number of models whatever the query.
//!
//! * An exact filter (architecture, license, tag) whose value no model has answers at once.
//! * When the narrowest exact filter leaves at most `bound` models, the page is gathered from
//!   that set: each is tested, the matches after the cursor are sorted, the first `limit` kept.
//! * Otherwise the page walks the order from the cursor and tests each model, and stops after
//!   `bound` of them. If the page is not full by then it is returned short, with `next` set to
//!   the key of the last model examined: the next page starts right after it, so following the
//!   cursors still returns every match exactly once, in order.
//!
//! Both ways start strictly after the cursor's key and return the smallest matching keys
//! after it, so a listing may switch between them from one page to the next (as models come
//! and go) without a repeat or a gap.

use std::cmp::Reverse;
use std::ops::Bound;
use std::sync::Arc;

use imbl::OrdMap;

use super::CatalogItem;
use super::bits::Mask;
use super::query::Part;
use super::query::{BrowsePage, BrowseQuery, Filter, Sort, SortKey, TIERS};
use super::snapshot::{CountKey, NameKey, Snapshot};

/// The most models one page examines, unless the page size is larger.
pub const EXAMINE_BOUND: usize = 2_000;

/// The most models a page of `limit` items examines: [`EXAMINE_BOUND`], or enough for one
/// unfiltered page when `limit` is larger.
pub fn examine_bound(limit: usize) -> usize {
    EXAMINE_BOUND.max(limit.saturating_add(1))
}

impl Snapshot {
    pub(crate) fn browse(&self, query: &BrowseQuery) -> BrowsePage {
        self.browse_within(query, examine_bound(query.limit))
    }

    /// A page that examines at most `bound` models (at least one).
    pub(super) fn browse_within(&self, query: &BrowseQuery, bound: usize) -> BrowsePage {
        match query.sort {
            Sort::SharedAt => self.page::<BySharedAt>(query, bound),
            Sort::Name => self.page::<ByName>(query, bound),
            Sort::Endpoints => self.page::<ByEndpoints>(query, bound),
            Sort::Relevance => self.relevance_page(query, bound),
        }
    }

    /// A page in relevance order: by match tier, then newest share first.
    fn relevance_page(&self, query: &BrowseQuery, bound: usize) -> BrowsePage {
        let bound = bound.max(1);
        let filter = &query.filter;
        let cut = Cut {
            query,
            limit: query.limit.max(1),
            after: match &query.after {
                Some(SortKey::Relevance(tier, secs, id)) => Some((*tier, (Reverse(*secs), *id))),
                _ => None,
            },
        };
        let (items, next, examined) = match self.few(filter, query.limit.max(1), bound) {
            Few::Nothing => (Vec::new(), None, 0),
            Few::These(items) => {
                let count = items.len();
                cut.gather(items.into_iter(), count, |item| {
                    Some((filter.tier(item)?, item.shared_at_key()))
                })
            }
            Few::Many => cut.walk_tiers(&self.by_shared_at, bound),
        };
        BrowsePage {
            items,
            next: next.map(|(tier, (Reverse(secs), id))| SortKey::Relevance(tier, secs, id)),
            generation: self.generation,
            examined,
        }
    }

    fn page<O: Order>(&self, query: &BrowseQuery, bound: usize) -> BrowsePage {
        let bound = bound.max(1);
        let cut = Cut {
            query,
            limit: query.limit.max(1),
            after: query.after.as_ref().and_then(O::after),
        };
        let (items, next, examined) = match self.few(&query.filter, query.limit.max(1), bound) {
            Few::Nothing => (Vec::new(), None, 0),
            Few::These(items) => {
                let count = items.len();
                cut.gather(items.into_iter(), count, |item| Some(O::key(item)))
            }
            Few::Many => cut.walk(O::order(self), bound),
        };
        BrowsePage {
            items,
            next: next.as_ref().map(O::cursor),
            generation: self.generation,
            examined,
        }
    }
}

/// What the indexes leave of a query's candidates.
enum Few<'a> {
    /// No item can match.
    Nothing,
    /// At most the bound: every match is among these.
    These(Vec<&'a Arc<CatalogItem>>),
    /// More than the bound.
    Many,
}

impl Snapshot {
    /// The query's candidates, when the indexes narrow them to few enough that testing and
    /// sorting them all costs less than walking the order: the intersection of every facet
    /// filter's bitmap and the word index's candidates for `q`. Gathering `c` candidates costs
    /// about `c`; a walk meets a match every `n / c` models, so `limit` of them cost about
    /// `limit · n / c`: the page gathers when `c` is at most the bound and `c² ≤ 4 · limit · n`.
    fn few(&self, filter: &Filter, limit: usize, bound: usize) -> Few<'_> {
        let mut within: Option<Mask> = None;
        let mut and = |mask: Mask| match &mut within {
            Some(within) => within.and(&mask),
            None => within = Some(mask),
        };
        for part in Part::ALL {
            if let Some(mask) = self.part_mask(filter, part) {
                and(mask);
            }
        }
        if let Some((mask, _)) = filter
            .q
            .as_deref()
            .and_then(|q| self.words.candidates(q, self.doc_limit()))
        {
            and(mask);
        }
        let Some(within) = within else {
            return Few::Many;
        };
        let count = usize::try_from(within.count()).unwrap_or(usize::MAX);
        let walk = limit.saturating_mul(self.len()).saturating_mul(4);
        match count {
            0 => Few::Nothing,
            c if c <= bound && c.saturating_mul(c) <= walk => {
                Few::These(within.iter().filter_map(|doc| self.item_of(doc)).collect())
            }
            _ => Few::Many,
        }
    }
}

/// One page's request, with the cursor in the order's own key.
struct Cut<'q, K> {
    query: &'q BrowseQuery,
    limit: usize,
    after: Option<K>,
}

type Cutting<K> = (Vec<Arc<CatalogItem>>, Option<K>, usize);

impl<K: Ord + Clone> Cut<'_, K> {
    /// The page from a small candidate set (`count` items): test all, sort the matches.
    /// `key` is an item's key, none if it does not match.
    fn gather<'a>(
        &self,
        candidates: impl Iterator<Item = &'a Arc<CatalogItem>>,
        count: usize,
        key: impl Fn(&CatalogItem) -> Option<K>,
    ) -> Cutting<K> {
        let mut matches: Vec<(K, &Arc<CatalogItem>)> = candidates
            .filter(|item| self.query.filter.matches(item))
            .filter_map(|item| Some((key(item)?, item)))
            .filter(|(key, _)| self.after.as_ref().is_none_or(|after| key > after))
            .collect();
        let keep = self.limit + 1;
        if matches.len() > keep {
            matches.select_nth_unstable_by(keep - 1, |a, b| a.0.cmp(&b.0));
            matches.truncate(keep);
        }
        matches.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let more = matches.len() > self.limit;
        matches.truncate(self.limit);
        let next = if more {
            matches.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        let items = matches
            .into_iter()
            .map(|(_, item)| Arc::clone(item))
            .collect();
        (items, next, count)
    }

    /// The page from a walk of the order, examining at most `bound` models.
    fn walk(&self, order: &OrdMap<K, Arc<CatalogItem>>, bound: usize) -> Cutting<K> {
        let start = self.after.clone().map_or(Bound::Unbounded, Bound::Excluded);
        let mut items: Vec<Arc<CatalogItem>> = Vec::with_capacity(self.limit.min(128));
        let mut last_kept: Option<&K> = None;
        let mut last_examined: Option<&K> = None;
        let mut examined = 0;
        for (key, item) in order.range((start, Bound::Unbounded)) {
            if examined == bound {
                // Models remain, unexamined: the next page goes on after the last one examined.
                return (items, last_examined.cloned(), examined);
            }
            examined += 1;
            if self.query.filter.matches(item) {
                if items.len() == self.limit {
                    // Another match follows a full page.
                    return (items, last_kept.cloned(), examined);
                }
                items.push(Arc::clone(item));
                last_kept = Some(key);
            }
            last_examined = Some(key);
        }
        (items, None, examined)
    }
}

impl Cut<'_, (u8, CountKey)> {
    /// The page from walks of the newest-first order, one per match tier from the cursor's,
    /// examining at most `bound` models in all. Without `q` there is one tier.
    fn walk_tiers(
        &self,
        order: &OrdMap<CountKey, Arc<CatalogItem>>,
        bound: usize,
    ) -> Cutting<(u8, CountKey)> {
        let filter = &self.query.filter;
        let tiers = if filter.q.is_some() { TIERS } else { 1 };
        let (first, start) = match self.after {
            Some((tier, key)) => (tier, Some(key)),
            None => (0, None),
        };
        let mut items: Vec<Arc<CatalogItem>> = Vec::with_capacity(self.limit.min(128));
        let mut last_kept = None;
        let mut last_examined = None;
        let mut examined = 0;
        for tier in first..tiers {
            let from = match start {
                Some(key) if tier == first => Bound::Excluded(key),
                _ => Bound::Unbounded,
            };
            for (key, item) in order.range((from, Bound::Unbounded)) {
                if examined == bound {
                    return (items, last_examined, examined);
                }
                examined += 1;
                if filter.matches(item) && filter.tier(item) == Some(tier) {
                    if items.len() == self.limit {
                        return (items, last_kept, examined);
                    }
                    items.push(Arc::clone(item));
                    last_kept = Some((tier, *key));
                }
                last_examined = Some((tier, *key));
            }
        }
        (items, None, examined)
    }
}

/// One order of the index: its tree, an item's key in it, and its cursors.
trait Order {
    type Key: Ord + Clone;
    fn order(snapshot: &Snapshot) -> &OrdMap<Self::Key, Arc<CatalogItem>>;
    fn key(item: &CatalogItem) -> Self::Key;
    /// The cursor's key in this order (none for a cursor of another order).
    fn after(cursor: &SortKey) -> Option<Self::Key>;
    fn cursor(key: &Self::Key) -> SortKey;
}

struct BySharedAt;
struct ByName;
struct ByEndpoints;

impl Order for BySharedAt {
    type Key = CountKey;

    fn order(snapshot: &Snapshot) -> &OrdMap<CountKey, Arc<CatalogItem>> {
        &snapshot.by_shared_at
    }

    fn key(item: &CatalogItem) -> CountKey {
        item.shared_at_key()
    }

    fn after(cursor: &SortKey) -> Option<CountKey> {
        match cursor {
            SortKey::SharedAt(secs, id) => Some((std::cmp::Reverse(*secs), *id)),
            _ => None,
        }
    }

    fn cursor(key: &CountKey) -> SortKey {
        SortKey::SharedAt(key.0.0, key.1)
    }
}

impl Order for ByName {
    type Key = NameKey;

    fn order(snapshot: &Snapshot) -> &OrdMap<NameKey, Arc<CatalogItem>> {
        &snapshot.by_name
    }

    fn key(item: &CatalogItem) -> NameKey {
        item.name_key()
    }

    fn after(cursor: &SortKey) -> Option<NameKey> {
        match cursor {
            SortKey::Name(name, id) => Some((Arc::from(name.as_str()), *id)),
            _ => None,
        }
    }

    fn cursor(key: &NameKey) -> SortKey {
        SortKey::Name(key.0.to_string(), key.1)
    }
}

impl Order for ByEndpoints {
    type Key = CountKey;

    fn order(snapshot: &Snapshot) -> &OrdMap<CountKey, Arc<CatalogItem>> {
        &snapshot.by_endpoints
    }

    fn key(item: &CatalogItem) -> CountKey {
        item.endpoints_key()
    }

    fn after(cursor: &SortKey) -> Option<CountKey> {
        match cursor {
            SortKey::Endpoints(count, id) => Some((std::cmp::Reverse(*count), *id)),
            _ => None,
        }
    }

    fn cursor(key: &CountKey) -> SortKey {
        SortKey::Endpoints(key.0.0, key.1)
    }
}
