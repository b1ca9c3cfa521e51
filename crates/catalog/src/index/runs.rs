//! [`Runs`]: a persistent sorted map made of short sorted runs, for the catalog's orders.
//!
//! An order of a million items as an `imbl` B-tree costs a million inserts to build, each a
//! descent with its key comparisons (about a third of a restart's work, measured). Here an
//! order is a B-tree of runs: each run holds up to [`MOST`] consecutive entries in a shared
//! vector and is found by its first key. A sorted sequence becomes a map by cutting it into
//! runs of [`FILL`], with one tree insert per run; a page reads a run as a slice.
//!
//! Like the tree, a clone costs O(1) and shares every run; a change copies the one run it
//! touches (when another snapshot holds it) and the tree's path to it.

use std::ops::Bound;
use std::sync::Arc;

use imbl::OrdMap;
use imbl::ordmap::RangedIter;
use imbl::shared_ptr::DefaultSharedPtr;

use super::snapshot::packed;

/// How many entries a run holds when a map is built at once: room is left for inserts.
const FILL: usize = 32;
/// The most entries in a run: one more and it is cut in two halves of [`FILL`] or more.
const MOST: usize = 2 * FILL;
/// Fewer entries than this after a removal and the run is merged with its neighbour, if both
/// fit in one.
const FEWEST: usize = FILL / 4;

/// Consecutive entries of a map, shared by the snapshots that hold them.
type Run<K, V> = Arc<Vec<(K, V)>>;

/// Sorted runs of entries (ascending, distinct keys), by the first key of each.
#[derive(Debug, Clone)]
pub(super) struct Runs<K: Ord + Clone, V: Clone> {
    runs: OrdMap<K, Run<K, V>>,
}

impl<K: Ord + Clone, V: Clone> Default for Runs<K, V> {
    fn default() -> Self {
        Self {
            runs: OrdMap::new(),
        }
    }
}

impl<K: Ord + Clone, V: Clone> Runs<K, V> {
    /// The map of `sorted`, whose keys must be strictly ascending.
    pub(super) fn from_sorted(sorted: Vec<(K, V)>) -> Self {
        debug_assert!(sorted.windows(2).all(|pair| match pair {
            [a, b] => a.0 < b.0,
            _ => true,
        }));
        let mut runs = Vec::with_capacity(sorted.len().div_ceil(FILL));
        let mut entries = sorted.into_iter();
        loop {
            let run: Vec<(K, V)> = entries.by_ref().take(FILL).collect();
            let Some((first, _)) = run.first() else {
                break;
            };
            runs.push((first.clone(), Arc::new(run)));
        }
        Self { runs: packed(runs) }
    }

    /// The first key of the run where `key` is or would be: the last run starting at or
    /// before it, else the first run.
    fn run_of(&self, key: &K) -> Option<K> {
        self.last_at_or_before(key)
            .map(|(first, _)| first)
            .or_else(|| self.runs.get_min().map(|(first, _)| first))
            .cloned()
    }

    /// The runs between two bounds on their first keys.
    fn between(
        &self,
        from: Bound<&K>,
        to: Bound<&K>,
    ) -> RangedIter<'_, K, Run<K, V>, DefaultSharedPtr> {
        self.runs.range::<(Bound<&K>, Bound<&K>), K>((from, to))
    }

    /// The last run starting at or before `key`.
    fn last_at_or_before(&self, key: &K) -> Option<(&K, &Run<K, V>)> {
        self.between(Bound::Unbounded, Bound::Included(key))
            .next_back()
    }

    /// Moves the run keyed `old` under its own first key, if that changed.
    fn rekey(&mut self, old: &K) {
        let Some(run) = self.runs.get(old) else {
            return;
        };
        match run.first() {
            Some((first, _)) if first != old => {
                let first = first.clone();
                if let Some(run) = self.runs.remove(old) {
                    self.runs.insert(first, run);
                }
            }
            Some(_) => {}
            None => {
                self.runs.remove(old);
            }
        }
    }

    /// Sets `key`'s value; returns the one it replaces.
    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let Some(first) = self.run_of(&key) else {
            self.runs.insert(key.clone(), Arc::new(vec![(key, value)]));
            return None;
        };
        let run = Arc::make_mut(self.runs.get_mut(&first)?);
        let at = match run.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(at) => {
                let slot = run.get_mut(at)?;
                return Some(std::mem::replace(&mut slot.1, value));
            }
            Err(at) => at,
        };
        run.insert(at, (key, value));
        let second = (run.len() > MOST).then(|| run.split_off(run.len() / 2));
        if let Some(second) = second
            && let Some((key, _)) = second.first()
        {
            self.runs.insert(key.clone(), Arc::new(second));
        }
        if at == 0 {
            self.rekey(&first);
        }
        None
    }

    /// Removes `key`; returns its value.
    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        let first = self.run_of(key)?;
        let run = Arc::make_mut(self.runs.get_mut(&first)?);
        let at = run.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
        let (_, value) = run.remove(at);
        let small = run.len() < FEWEST;
        if at == 0 {
            self.rekey(&first);
        }
        if small {
            self.merge_near(key);
        }
        Some(value)
    }

    /// Merges the run where `key` would be with the next one (or else the one before), when
    /// both fit in one run.
    fn merge_near(&mut self, key: &K) {
        let Some(here) = self.run_of(key) else {
            return;
        };
        let next = self
            .between(Bound::Excluded(&here), Bound::Unbounded)
            .next()
            .map(|(first, _)| first.clone());
        let before = self
            .between(Bound::Unbounded, Bound::Excluded(&here))
            .next_back()
            .map(|(first, _)| first.clone());
        let (left, right) = match (before, next) {
            (_, Some(next)) => (here, next),
            (Some(before), None) => (before, here),
            (None, None) => return,
        };
        let fits = |first: &K| self.runs.get(first).map_or(MOST, |run| run.len());
        if fits(&left) + fits(&right) > MOST {
            return;
        }
        if let Some(right) = self.runs.remove(&right)
            && let Some(left) = self.runs.get_mut(&left)
        {
            Arc::make_mut(left).extend(right.iter().cloned());
        }
    }

    /// The entries from `start` on, in order.
    pub(super) fn from(&self, start: Bound<&K>) -> impl Iterator<Item = (&K, &V)> {
        let key = match start {
            Bound::Included(key) | Bound::Excluded(key) => Some(key),
            Bound::Unbounded => None,
        };
        // The run to start in, and how many of its entries come before `start`.
        let first = key.and_then(|key| self.last_at_or_before(key));
        let skip = match (first, start) {
            (Some((_, run)), Bound::Included(key)) => run.partition_point(|(k, _)| k < key),
            (Some((_, run)), Bound::Excluded(key)) => run.partition_point(|(k, _)| k <= key),
            _ => 0,
        };
        let runs = self.between(
            first.map_or(Bound::Unbounded, |(first, _)| Bound::Included(first)),
            Bound::Unbounded,
        );
        let mut skip = Some(skip);
        runs.flat_map(move |(_, run)| run.iter().skip(skip.take().unwrap_or(0)))
            .map(|(key, value)| (key, value))
    }

    /// The values, in the order of their keys.
    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.runs
            .values()
            .flat_map(|run| run.iter().map(|(_, value)| value))
    }

    /// How many runs hold the entries (for tests).
    #[cfg(test)]
    pub(super) fn run_count(&self) -> usize {
        self.runs.len()
    }

    /// Every rule the runs keep (for tests): each run sorted, not empty and no longer than
    /// [`MOST`], found by its first key, before the next run.
    #[cfg(test)]
    pub(super) fn check(&self) {
        let mut last: Option<&K> = None;
        for (first, run) in &self.runs {
            assert!(
                !run.is_empty() && run.len() <= MOST,
                "a run of {}",
                run.len()
            );
            assert!(run.first().is_some_and(|(k, _)| k == first), "a run's key");
            for (key, _) in run.iter() {
                assert!(last.is_none_or(|last| last < key), "out of order");
                last = Some(key);
            }
        }
    }
}
