//! Cutting a page from a [`Snapshot`], examining a bounded number of models whatever the query.
//!
//! * Filters whose indexes leave no candidate answer at once.
//! * When the indexes (facet bitmaps, the word index's candidates for `q`) leave few enough
//!   candidates, the page is gathered from them: each is tested (unless the indexes answer the
//!   filter exactly), the matches after the cursor are sorted, the first `limit` kept.
//! * Otherwise the page walks the order from the cursor and tests each model (with `q`, its
//!   membership in the candidates first), and stops after `bound` of them. If the page is not
//!   full by then it is returned short, with `next` set to the key of the last model examined:
//!   the next page starts right after it, so following the cursors still returns every match
//!   exactly once, in order.
//! * A search in relevance order takes each match tier's items from the index, best tier
//!   first, and cuts each tier like the above: gathered when few, else walked newest first,
//!   testing membership only when the word index answers `q` exactly (one word of three
//!   letters or more), else membership in the tier's superset and then the text. A tier the
//!   index shows to be empty is passed over, so matches in a late tier do not wait behind
//!   walks of the earlier ones.
//!
//! Both ways start strictly after the cursor's key and return the smallest matching keys
//! after it, so a listing may switch between them from one page to the next (as models come
//! and go) without a repeat or a gap.

use std::cmp::Reverse;
use std::ops::Bound;
use std::sync::Arc;

use uuid::Uuid;

use super::CatalogItem;
use super::bits::{Doc, DocSet, Mask};
use super::query::Part;
use super::query::{BrowsePage, BrowseQuery, Filter, Needle, Sort, SortKey, TIERS};
use super::runs::Runs;
use super::search::WordIndex;
use super::snapshot::{CountKey, NameKey, Numbered, Placed, Snapshot};

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
        let after = match &query.after {
            Some(SortKey::Relevance(tier, secs, id)) => Some((*tier, (Reverse(*secs), *id))),
            _ => None,
        };
        let (items, next, examined) = if let Some(q) = filter.q.as_deref() {
            let placing = match self.words.placements(q) {
                Some(placements) => Placing::Exact(placements),
                None => Placing::Within(Box::new(Needle::new(q))),
            };
            let tiers = Tiers {
                placing,
                words: &self.words,
                parts: self.parts_mask(filter),
                limit: self.doc_limit(),
                better: None,
            };
            self.cut_tiers(tiers, after, query.limit.max(1), bound)
        } else {
            // Without `q` every match is in the first tier: the newest-first order.
            let cut = Cut {
                query,
                limit: query.limit.max(1),
                after,
            };
            match self.few(filter, query.limit.max(1), bound) {
                Few::Nothing => (Vec::new(), None, 0),
                Few::These(items, exact) => cut.gather(items, exact, |numbered| {
                    Some((filter.tier(&numbered.item)?, numbered.newest))
                }),
                walking => cut.walk_newest(&self.by_shared_at, bound, |placed| {
                    walking.admits(filter, placed)
                }),
            }
        };
        BrowsePage {
            items,
            next: next.map(|(tier, (Reverse(secs), id))| SortKey::Relevance(tier, secs, id)),
            generation: self.generation,
            examined,
        }
    }

    /// The page after `after` from the items of each tier (best first), examining at most
    /// `bound` of them. A tier is gathered when it is small enough (as in [`Snapshot::few`]),
    /// else walked newest first, each model tested for membership (and, when the tier is a
    /// superset, its text). A tier's mask is built only when the page reaches it, and an empty
    /// one is passed over.
    fn cut_tiers(
        &self,
        mut tiers: Tiers<'_>,
        after: Option<(u8, CountKey)>,
        limit: usize,
        bound: usize,
    ) -> Cutting<(u8, CountKey)> {
        // The end of a tier: after every key of it.
        const END: CountKey = (Reverse(i64::MIN), Uuid::max());
        let (first, from) = after.map_or((0, None), |(tier, key)| (tier, Some(key)));
        // The matches found, in order, one more than the page when there are more.
        let mut found: Vec<((u8, CountKey), &Arc<CatalogItem>)> =
            Vec::with_capacity(limit.saturating_add(1).min(128));
        let mut budget = bound;
        let mut last_examined = None;
        let mut gathered = Gathered::default();
        for tier in first..TIERS {
            let from = from.filter(|_| tier == first);
            if from == Some(END) {
                // The cursor is past this tier.
                continue;
            }
            let want = (limit + 1).saturating_sub(found.len());
            // Gathering `c` costs about `c`; walking to `want` matches about `want · n / c`.
            let gathers = |count: usize| {
                count <= budget && count.saturating_mul(count) <= want.saturating_mul(self.len())
            };
            let Some(way) = tiers.way(tier, gathers) else {
                continue;
            };
            if let Way::Gather(mask, count) = way {
                budget -= count;
                let keyed: Vec<(CountKey, &Arc<CatalogItem>)> = match &tiers.placing {
                    Placing::Exact(_) => {
                        let mut keyed: Vec<_> = self
                            .numbered_of(mask.iter())
                            .map(|(_, numbered)| (numbered.newest, &numbered.item))
                            .filter(|(key, _)| from.is_none_or(|from| *key > from))
                            .collect();
                        smallest(&mut keyed, want);
                        keyed
                    }
                    Placing::Within(needle) => {
                        gathered.matches(self, (&mask, count), needle, tier, from, want)
                    }
                };
                found.extend(keyed.into_iter().map(|(key, item)| ((tier, key), item)));
                last_examined = Some((tier, END));
            } else {
                let start = from.map_or(Bound::Unbounded, Bound::Excluded);
                for (key, Placed { doc, item }) in self.by_shared_at.from(start.as_ref()) {
                    if budget == 0 {
                        // Models remain, unexamined: the next page goes on after the last one.
                        let items = found.into_iter().map(|(_, item)| Arc::clone(item));
                        return (items.collect(), last_examined, bound);
                    }
                    budget -= 1;
                    last_examined = Some((tier, *key));
                    let holds = |doc| match &way {
                        Way::Walk(Some(mask)) => mask.contains(doc),
                        _ => tiers.holds(tier, doc),
                    };
                    if holds(*doc) && tiers.places(tier, item) {
                        found.push(((tier, *key), item));
                        if found.len() > limit {
                            break;
                        }
                    }
                }
            }
            if found.len() > limit {
                break;
            }
        }
        let more = found.len() > limit;
        found.truncate(limit);
        let next = if more {
            found.last().map(|(key, _)| *key)
        } else {
            None
        };
        let items = found.into_iter().map(|(_, item)| Arc::clone(item));
        (items.collect(), next, bound - budget)
    }

    fn page<O: Order>(&self, query: &BrowseQuery, bound: usize) -> BrowsePage {
        let bound = bound.max(1);
        let cut = Cut {
            query,
            limit: query.limit.max(1),
            after: query.after.as_ref().and_then(O::after),
        };
        let filter = &query.filter;
        let (items, next, examined) = match self.few(filter, query.limit.max(1), bound) {
            Few::Nothing => (Vec::new(), None, 0),
            Few::These(items, exact) => cut.gather_by(
                items,
                exact,
                cut.after.as_ref().map(O::borrow),
                |numbered| Some(O::key(numbered)),
                O::own,
            ),
            walking => cut.walk(O::order(self), bound, |placed| {
                walking.admits(filter, placed)
            }),
        };
        BrowsePage {
            items,
            next: next.as_ref().map(O::cursor),
            generation: self.generation,
            examined,
        }
    }
}

/// The match tiers of a search, each item in its best.
struct Tiers<'a> {
    placing: Placing<'a>,
    words: &'a WordIndex,
    /// The items the facet filters let through, if any is given.
    parts: Option<Mask>,
    /// The size of a mask.
    limit: Doc,
    /// With [`Placing::Exact`], the items placed in the tiers before the last one built.
    better: Option<Mask>,
}

/// What the word index knows of a search's tiers.
enum Placing<'a> {
    /// The sets placing `q` in each tier, exactly (see [`WordIndex::placements`]).
    Exact(Vec<Vec<&'a DocSet>>),
    /// Supersets of each tier's items (see [`WordIndex::tier_within`]), each item found in one
    /// then tested against `q` (its searcher boxed: it is some 300 bytes).
    Within(Box<Needle<'a>>),
}

/// With [`Placing::Within`], the items a page has gathered so far, by number, each with its
/// tier once placed. A later tier's superset holds most of an earlier one's items again (each
/// tier of a search of several words is the items holding all of them, in the name or in either
/// field), so each item is read once a page and placed at most once, not once a tier.
#[derive(Default)]
struct Gathered<'a> {
    /// Ascending by number.
    items: Vec<GatheredItem<'a>>,
}

/// An item a page has read, with its number and its key in the newest-first order.
struct GatheredItem<'a> {
    doc: Doc,
    /// Its tier once placed (`Some(None)` when `q` is in neither field).
    placed: Option<Option<u8>>,
    key: CountKey,
    item: &'a Arc<CatalogItem>,
}

impl<'a> Gathered<'a> {
    /// The `want` smallest keys after `from`, with their items, among the items of `mask`
    /// (`count` of them) that `needle` places in `tier`, in order. The candidates are taken
    /// smallest key first and placed until `want` are found, so most of a tier with more
    /// candidates than the page needs is never placed.
    fn matches(
        &mut self,
        snapshot: &'a Snapshot,
        (mask, count): (&Mask, usize),
        needle: &Needle<'_>,
        tier: u8,
        from: Option<CountKey>,
        want: usize,
    ) -> Vec<(CountKey, &'a Arc<CatalogItem>)> {
        // The items of `mask` not read yet are read (not placed).
        let mut known = self.items.iter().peekable();
        let fresh: Vec<Doc> = mask
            .iter()
            .filter(|doc| {
                while known.next_if(|read| read.doc < *doc).is_some() {}
                known.next_if(|read| read.doc == *doc).is_none()
            })
            .collect();
        if !fresh.is_empty() {
            let had = !self.items.is_empty();
            self.items.reserve(fresh.len());
            self.items.extend(
                snapshot
                    .numbered_of(fresh.into_iter())
                    .map(|(doc, numbered)| GatheredItem {
                        doc,
                        placed: None,
                        key: numbered.newest,
                        item: &numbered.item,
                    }),
            );
            if had {
                self.items.sort_unstable_by_key(|read| read.doc);
            }
        }
        // The places in `items` of the mask's items that may be in the page: after `from`, and
        // in `tier` or not placed yet.
        let mut places = self.items.iter().enumerate().peekable();
        let mut rest: Vec<usize> = Vec::with_capacity(count);
        for doc in mask.iter() {
            while places.next_if(|(_, read)| read.doc < doc).is_some() {}
            if let Some((place, read)) = places.next_if(|(_, read)| read.doc == doc)
                && from.is_none_or(|from| read.key > from)
                && read.placed.is_none_or(|placed| placed == Some(tier))
            {
                rest.push(place);
            }
        }
        let mut kept = Vec::with_capacity(want.min(rest.len()));
        while kept.len() < want && !rest.is_empty() {
            let take = (want - kept.len()).min(rest.len());
            let key_of = |place: &usize| self.items.get(*place).map(|read| read.key);
            if rest.len() > take {
                rest.select_nth_unstable_by_key(take - 1, key_of);
            }
            let mut head: Vec<usize> = rest.drain(..take).collect();
            head.sort_unstable_by_key(key_of);
            for place in head {
                let Some(read) = self.items.get_mut(place) else {
                    continue;
                };
                if *read.placed.get_or_insert_with(|| needle.tier(read.item)) == Some(tier) {
                    kept.push((read.key, read.item));
                    if kept.len() == want {
                        break;
                    }
                }
            }
        }
        kept
    }
}

/// How a page takes the matches of one tier.
enum Way {
    /// From the mask of them all (their count).
    Gather(Mask, usize),
    /// By walking the order, testing each model against the mask, or without one against the
    /// tiers' sets.
    Walk(Option<Mask>),
}

impl Tiers<'_> {
    /// How to take the matches of `tier` (none when there are none): gathered when `gathers`
    /// their count. Without facet filters, a tier whose sets hold too many to gather is
    /// walked without building its mask.
    fn way(&mut self, tier: u8, gathers: impl Fn(usize) -> bool) -> Option<Way> {
        let sets = match &self.placing {
            Placing::Exact(placements) => placements.get(usize::from(tier))?,
            Placing::Within(needle) => return self.way_within(needle.q(), tier, gathers),
        };
        if self.parts.is_none() && !gathers(sets.iter().map(|set| set.len()).sum()) {
            // The tiers after it rebuild what precedes them.
            self.better = None;
            return Some(Way::Walk(None));
        }
        let mask = self.mask(tier)?;
        let count = usize::try_from(mask.count()).unwrap_or(usize::MAX);
        match count {
            0 => None,
            c if gathers(c) => Some(Way::Gather(mask, c)),
            _ => Some(Way::Walk(Some(mask))),
        }
    }

    /// How to take the items of `tier` from its superset: none when it is empty, walked
    /// testing every model when the index knows nothing of it and no facet filter is given.
    fn way_within(&self, q: &str, tier: u8, gathers: impl Fn(usize) -> bool) -> Option<Way> {
        let unions = self.words.tier_within(q, tier).unwrap_or_default();
        if unions
            .iter()
            .any(|sets| sets.iter().all(|set| set.is_empty()))
        {
            return None;
        }
        let within = Mask::intersection(self.limit, unions);
        let mask = match (within, &self.parts) {
            (Some(mut within), Some(parts)) => {
                within.and(parts);
                within
            }
            (Some(within), None) => within,
            (None, Some(parts)) => parts.clone(),
            (None, None) => return Some(Way::Walk(None)),
        };
        let count = usize::try_from(mask.count()).unwrap_or(usize::MAX);
        match count {
            0 => None,
            c if gathers(c) => Some(Way::Gather(mask, c)),
            _ => Some(Way::Walk(Some(mask))),
        }
    }

    /// Whether item `doc` is in `tier` (when no facet filter is given): with exact sets, when
    /// they place it there; with supersets, any item may be (see [`Tiers::places`]).
    fn holds(&self, tier: u8, doc: Doc) -> bool {
        let Placing::Exact(placements) = &self.placing else {
            return true;
        };
        let at = usize::from(tier);
        let in_sets = |sets: &Vec<&DocSet>| sets.iter().any(|set| set.contains(doc));
        placements.get(at).is_some_and(in_sets) && !placements.iter().take(at).any(in_sets)
    }

    /// Whether `item`, found among the items of `tier`, is one: always with exact sets; with
    /// supersets, when its text places `q` there.
    fn places(&self, tier: u8, item: &CatalogItem) -> bool {
        match &self.placing {
            Placing::Exact(_) => true,
            Placing::Within(needle) => needle.in_tier(item, tier),
        }
    }

    /// The matches in `tier` (none when no set places `q` there), with exact sets. The tiers
    /// before it are built first if they were not, since an item is only in its best tier.
    fn mask(&mut self, tier: u8) -> Option<Mask> {
        let Placing::Exact(placements) = &self.placing else {
            return None;
        };
        let at = usize::from(tier);
        let sets = placements.get(at)?;
        if sets.is_empty() {
            return None;
        }
        let mut better = self.better.take().unwrap_or_else(|| {
            let mut better = Mask::empty(self.limit);
            for earlier in placements.iter().take(at) {
                earlier.iter().for_each(|set| better.add(set));
            }
            better
        });
        let mut mask = Mask::empty(self.limit);
        sets.iter().for_each(|set| mask.add(set));
        mask.and_not(&better);
        better.or(&mask);
        self.better = Some(better);
        if let Some(parts) = &self.parts {
            mask.and(parts);
        }
        Some(mask)
    }
}

/// What the indexes leave of a query's candidates.
enum Few<'a> {
    /// No item can match.
    Nothing,
    /// At most the bound: every match is among these; exactly the matches when `true`.
    These(Vec<&'a Numbered>, bool),
    /// Too many to gather. The candidates from the indexes when any were made, and whether
    /// they are exactly the matches (a search's may be a superset): a walk tests a model's
    /// number in them, and its text only if it is in them and they are not exact.
    Many(Option<(Mask, bool)>),
    /// Too many to gather, and in these sets (the sets of one facet filter's values, or of
    /// the only word of a search without facet filters): exactly the matches when `true`.
    Among(Vec<&'a DocSet>, bool),
}

/// The most sets a walk tests each model's number in (see [`Few::Among`]); a filter of more
/// (a range over many values, a word held by many words) is tested on the model itself.
const AMONG_SETS: usize = 4;

impl Few<'_> {
    /// Whether a model a walk meets matches `filter`, these being its candidates: tested for
    /// membership in the candidates first, and read only when they may hold more than the
    /// matches.
    fn admits(&self, filter: &Filter, Placed { doc, item }: &Placed) -> bool {
        match self {
            Few::Many(Some((within, exact))) => {
                within.contains(*doc) && (*exact || filter.matches(item))
            }
            Few::Among(sets, exact) => {
                sets.iter().any(|set| set.contains(*doc)) && (*exact || filter.matches(item))
            }
            Few::Nothing => false,
            Few::These(..) | Few::Many(None) => filter.matches(item),
        }
    }
}

impl Snapshot {
    /// The query's candidates, when the indexes narrow them to few enough that testing and
    /// sorting them all costs less than walking the order: the intersection of every facet
    /// filter's bitmap and the word index's candidates for `q`. Gathering `c` candidates costs
    /// about `c`; a walk meets a match every `n / c` models, so `limit` of them cost about
    /// `limit · n / c`: the page gathers when `c` is at most the bound and `c² ≤ k · limit · n`
    /// (`k` below).
    fn few(&self, filter: &Filter, limit: usize, bound: usize) -> Few<'_> {
        // A walk tests each model's number for membership in the candidates (a bit test, or a
        // look into a facet value's set) and reads the model only for a search's text, which
        // gathering a search's candidates tests for each one. `k` is 4 without a search, where
        // a gathered candidate is read for its key and a walked one not at all.
        let searching = filter.q.is_some();
        let walk = limit
            .saturating_mul(self.len())
            .saturating_mul(if searching { 1 } else { 4 });
        let gathers = |c: usize| c <= bound && c.saturating_mul(c) <= walk;
        // Each facet filter's sets and each word of the search's: the candidates are in the
        // union of each. The facet filters' are exact; the search's may be a superset.
        let mut parts = self.parts_sets(filter);
        let mut exact = true;
        if let Some(q) = filter.q.as_deref() {
            match self.words.candidate_sets(q) {
                Some((words, words_exact)) => {
                    exact = words_exact;
                    parts.extend(words);
                }
                None => exact = false,
            }
        }
        // One part alone lets through at least its largest set: when that is already too many
        // to gather, the page walks, and a mask (a bit for every item) would be built for
        // nothing. Two parts may leave fewer than either, so those are intersected.
        if let [sets] = parts.as_slice()
            && !gathers(sets.iter().map(|set| set.len()).max().unwrap_or(0))
        {
            // A walk then tests each model's number in the part's sets when they are few,
            // rather than reading the model. Of many, a facet filter's are tested on the model
            // (a few comparisons), a search's in their mask before the model's text.
            if sets.len() <= AMONG_SETS
                && let Some(sets) = parts.pop()
            {
                return Few::Among(sets, exact);
            }
            if !searching {
                return Few::Many(None);
            }
        }
        let Some(within) = Mask::intersection(self.doc_limit(), parts) else {
            return Few::Many(None);
        };
        let count = usize::try_from(within.count()).unwrap_or(usize::MAX);
        match count {
            0 => Few::Nothing,
            c if gathers(c) => Few::These(
                self.numbered_of(within.iter())
                    .map(|(_, numbered)| numbered)
                    .collect(),
                exact,
            ),
            _ => Few::Many(Some((within, exact))),
        }
    }

    /// The intersection of every facet filter's mask; none when the filter gives none.
    pub(super) fn parts_mask(&self, filter: &Filter) -> Option<Mask> {
        Mask::intersection(self.doc_limit(), self.parts_sets(filter))
    }

    /// The sets each facet filter given lets through the union of.
    fn parts_sets(&self, filter: &Filter) -> Vec<Vec<&DocSet>> {
        Part::ALL
            .into_iter()
            .filter_map(|part| self.part_sets(filter, part))
            .collect()
    }
}

/// Keeps the `keep` smallest of `keyed`, sorted.
fn smallest<K: Ord, V>(keyed: &mut Vec<(K, V)>, keep: usize) {
    if keyed.len() > keep {
        keyed.select_nth_unstable_by(keep.saturating_sub(1), |a, b| a.0.cmp(&b.0));
        keyed.truncate(keep);
    }
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
}

/// One page's request, with the cursor in the order's own key.
struct Cut<'q, K> {
    query: &'q BrowseQuery,
    limit: usize,
    after: Option<K>,
}

type Cutting<K> = (Vec<Arc<CatalogItem>>, Option<K>, usize);

impl<K: Ord + Clone> Cut<'_, K> {
    /// The page from a small candidate set, sorted: each is tested against the filter unless
    /// the candidates are `exact`ly the matches. `key` is an item's key, none if it does not
    /// match.
    fn gather(
        &self,
        candidates: Vec<&Numbered>,
        exact: bool,
        key: impl Fn(&Numbered) -> Option<K>,
    ) -> Cutting<K> {
        self.gather_by(candidates, exact, self.after.clone(), key, K::clone)
    }

    /// [`Cut::gather`] comparing the candidates by a key `R` that may borrow from them (an
    /// order's key holding a name's `Arc` is made, by `own`, only for the cursor): `after` is
    /// the cursor's key as an `R`.
    fn gather_by<'a, R: Ord>(
        &self,
        candidates: Vec<&'a Numbered>,
        exact: bool,
        after: Option<R>,
        key: impl Fn(&'a Numbered) -> Option<R>,
        own: impl Fn(&R) -> K,
    ) -> Cutting<K> {
        let count = candidates.len();
        let mut matches: Vec<(R, &Arc<CatalogItem>)> = candidates
            .into_iter()
            .filter(|numbered| exact || self.query.filter.matches(&numbered.item))
            .filter_map(|numbered| Some((key(numbered)?, &numbered.item)))
            .filter(|(key, _)| after.as_ref().is_none_or(|after| key > after))
            .collect();
        smallest(&mut matches, self.limit + 1);
        let more = matches.len() > self.limit;
        matches.truncate(self.limit);
        let next = if more {
            matches.last().map(|(key, _)| own(key))
        } else {
            None
        };
        let items = matches
            .into_iter()
            .map(|(_, item)| Arc::clone(item))
            .collect();
        (items, next, count)
    }

    /// The page from a walk of the order, examining at most `bound` models; `matches` tells
    /// whether a model matches the filter.
    fn walk(
        &self,
        order: &Runs<K, Placed>,
        bound: usize,
        matches: impl Fn(&Placed) -> bool,
    ) -> Cutting<K> {
        let start = self.after.clone().map_or(Bound::Unbounded, Bound::Excluded);
        let mut items: Vec<Arc<CatalogItem>> = Vec::with_capacity(self.limit.min(128));
        let mut last_kept: Option<&K> = None;
        let mut last_examined: Option<&K> = None;
        let mut examined = 0;
        for (key, placed) in order.from(start.as_ref()) {
            if examined == bound {
                // Models remain, unexamined: the next page goes on after the last one examined.
                return (items, last_examined.cloned(), examined);
            }
            examined += 1;
            if matches(placed) {
                let item = &placed.item;
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
    /// The page from a walk of the newest-first order, examining at most `bound` models, each
    /// tested by `matches`: relevance without `q`, where every match is in the first tier.
    fn walk_newest(
        &self,
        order: &Runs<CountKey, Placed>,
        bound: usize,
        matches: impl Fn(&Placed) -> bool,
    ) -> Cutting<(u8, CountKey)> {
        let from = match self.after {
            Some((0, key)) => Bound::Excluded(key),
            // A cursor past the only tier.
            Some(_) => return (Vec::new(), None, 0),
            None => Bound::Unbounded,
        };
        let mut items: Vec<Arc<CatalogItem>> = Vec::with_capacity(self.limit.min(128));
        let mut last_kept = None;
        let mut last_examined = None;
        let mut examined = 0;
        for (key, placed) in order.from(from.as_ref()) {
            if examined == bound {
                return (items, last_examined, examined);
            }
            examined += 1;
            if matches(placed) {
                let item = &placed.item;
                if items.len() == self.limit {
                    return (items, last_kept, examined);
                }
                items.push(Arc::clone(item));
                last_kept = Some((0, *key));
            }
            last_examined = Some((0, *key));
        }
        (items, None, examined)
    }
}

/// One order of the index: its tree, an item's key in it, and its cursors.
trait Order {
    type Key: Ord + Clone;
    /// A key as a gather compares it: borrowed from the item where the key holds text (a
    /// name's `Arc` cloned for each candidate changed its count, in a cache line the other
    /// worker reads too, twice per candidate).
    type Ref<'a>: Ord;
    fn order(snapshot: &Snapshot) -> &Runs<Self::Key, Placed>;
    /// An item's key, read from the vector of items (only the newest-first order's is kept
    /// there; the others read the item).
    fn key(numbered: &Numbered) -> Self::Ref<'_>;
    fn borrow(key: &Self::Key) -> Self::Ref<'_>;
    fn own(key: &Self::Ref<'_>) -> Self::Key;
    /// The cursor's key in this order (none for a cursor of another order).
    fn after(cursor: &SortKey) -> Option<Self::Key>;
    fn cursor(key: &Self::Key) -> SortKey;
}

struct BySharedAt;
struct ByName;
struct ByEndpoints;

impl Order for BySharedAt {
    type Key = CountKey;
    type Ref<'a> = CountKey;

    fn order(snapshot: &Snapshot) -> &Runs<CountKey, Placed> {
        &snapshot.by_shared_at
    }

    fn key(numbered: &Numbered) -> CountKey {
        numbered.newest
    }

    fn borrow(key: &CountKey) -> CountKey {
        *key
    }

    fn own(key: &CountKey) -> CountKey {
        *key
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

/// A name order's key as a gather compares it: the name's first eight bytes as one number,
/// then the name, then the id. Two names whose first eight bytes differ are in the order of
/// those bytes (a name shorter than eight is padded with zeros, which a longer name it starts
/// is not below), so most comparisons of a gather's sort are of two numbers in its vector, not
/// of two names elsewhere in memory.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct NameRef<'a> {
    head: u64,
    name: &'a str,
    id: Uuid,
}

impl<'a> NameRef<'a> {
    fn new(name: &'a str, id: Uuid) -> Self {
        let mut head = [0; 8];
        head.iter_mut()
            .zip(name.bytes())
            .for_each(|(to, byte)| *to = byte);
        NameRef {
            head: u64::from_be_bytes(head),
            name,
            id,
        }
    }
}

impl Order for ByName {
    type Key = NameKey;
    type Ref<'a> = NameRef<'a>;

    fn order(snapshot: &Snapshot) -> &Runs<NameKey, Placed> {
        &snapshot.by_name
    }

    fn key(numbered: &Numbered) -> NameRef<'_> {
        NameRef::new(&numbered.item.name_key, numbered.item.model_id.as_uuid())
    }

    fn borrow(key: &NameKey) -> NameRef<'_> {
        NameRef::new(&key.0, key.1)
    }

    fn own(key: &NameRef<'_>) -> NameKey {
        (Arc::from(key.name), key.id)
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
    type Ref<'a> = CountKey;

    fn order(snapshot: &Snapshot) -> &Runs<CountKey, Placed> {
        &snapshot.by_endpoints
    }

    fn key(numbered: &Numbered) -> CountKey {
        numbered.item.endpoints_key()
    }

    fn borrow(key: &CountKey) -> CountKey {
        *key
    }

    fn own(key: &CountKey) -> CountKey {
        *key
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_key_with_its_head_orders_as_the_name_and_id() {
        let names = [
            "",
            "a",
            "ab",
            "ab\0",
            "ab\0\0",
            "abc",
            "cat-1",
            "cat-12",
            "cat-12 a",
            "cat-12 b",
            "cat-12\0",
            "cat-120",
            "cat-1200",
            "cat-12000 x",
            "zzzzzzzz",
            "zzzzzzzzz",
            "é",
            "éa",
            "\u{7f}",
            "\u{80}",
            "ÿÿÿÿÿÿÿÿ",
        ];
        let ids = [Uuid::nil(), Uuid::max()];
        let keys: Vec<(&str, Uuid)> = names
            .iter()
            .flat_map(|name| ids.iter().map(move |id| (*name, *id)))
            .collect();
        for a in &keys {
            for b in &keys {
                assert_eq!(
                    NameRef::new(a.0, a.1).cmp(&NameRef::new(b.0, b.1)),
                    a.cmp(b),
                    "{a:?} {b:?}"
                );
            }
        }
    }
}
