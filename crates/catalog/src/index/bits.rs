//! Sets of catalog items as bitmaps over dense item numbers ([`Doc`]s): persistent
//! [`DocSet`]s in the index, and a flat [`Mask`] that a query builds, combines and counts with.
//!
//! A `DocSet` is a sorted list of chunks of 4,096 numbers, each a short sorted array while it
//! holds few members and a bitset once it holds more. Chunks are shared between snapshots: a
//! change copies the chunk list and the one chunk it touches, never the whole set.

use std::sync::Arc;

/// An item's number in the index's bitmaps; freed numbers are reused.
pub(crate) type Doc = u32;

const CHUNK_SHIFT: u32 = 12;
const WORDS: usize = 64;
/// The most members a chunk keeps as an array (256 bytes, half a bitset).
const SPARSE_MAX: usize = 128;

fn split(doc: Doc) -> (u32, u16) {
    (
        doc >> CHUNK_SHIFT,
        u16::try_from(doc & ((1 << CHUNK_SHIFT) - 1)).unwrap_or_default(),
    )
}

#[cfg(test)]
fn join(high: u32, low: u16) -> Doc {
    high << CHUNK_SHIFT | Doc::from(low)
}

/// The word of a chunk's bitset that holds `low`, and its bit.
fn word_bit(low: u16) -> (usize, u64) {
    (usize::from(low >> 6), 1u64 << (low & 63))
}

#[derive(Debug, Clone)]
enum Chunk {
    Sparse(Vec<u16>),
    Dense(Box<[u64; WORDS]>),
}

impl Chunk {
    fn insert(&mut self, low: u16) -> bool {
        match self {
            Chunk::Sparse(members) => match members.binary_search(&low) {
                Ok(_) => false,
                Err(at) => {
                    members.insert(at, low);
                    if members.len() > SPARSE_MAX {
                        let mut words = Box::new([0u64; WORDS]);
                        for member in members.iter() {
                            let (word, bit) = word_bit(*member);
                            if let Some(w) = words.get_mut(word) {
                                *w |= bit;
                            }
                        }
                        *self = Chunk::Dense(words);
                    }
                    true
                }
            },
            Chunk::Dense(words) => {
                let (word, bit) = word_bit(low);
                words.get_mut(word).is_some_and(|w| {
                    let added = *w & bit == 0;
                    *w |= bit;
                    added
                })
            }
        }
    }

    fn remove(&mut self, low: u16) -> bool {
        match self {
            Chunk::Sparse(members) => match members.binary_search(&low) {
                Ok(at) => {
                    members.remove(at);
                    true
                }
                Err(_) => false,
            },
            Chunk::Dense(words) => {
                let (word, bit) = word_bit(low);
                let removed = words.get_mut(word).is_some_and(|w| {
                    let had = *w & bit != 0;
                    *w &= !bit;
                    had
                });
                if removed && self.len() <= SPARSE_MAX / 2 {
                    *self = Chunk::Sparse(self.members());
                }
                removed
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Chunk::Sparse(members) => members.len(),
            Chunk::Dense(words) => words.iter().map(|w| ones(*w)).sum(),
        }
    }

    fn members(&self) -> Vec<u16> {
        match self {
            Chunk::Sparse(members) => members.clone(),
            Chunk::Dense(words) => {
                let mut members = Vec::new();
                for (i, word) in (0u16..).zip(words.iter()) {
                    let mut w = *word;
                    while w != 0 {
                        let bit = u16::try_from(w.trailing_zeros()).unwrap_or_default();
                        members.push(i * 64 + bit);
                        w &= w - 1;
                    }
                }
                members
            }
        }
    }
}

fn ones(word: u64) -> usize {
    usize::try_from(word.count_ones()).unwrap_or_default()
}

/// A persistent set of [`Doc`]s (see the module's documentation).
#[derive(Debug, Clone, Default)]
pub(crate) struct DocSet {
    chunks: Arc<Vec<(u32, Arc<Chunk>)>>,
    len: usize,
}

impl DocSet {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn contains(&self, doc: Doc) -> bool {
        let (high, low) = split(doc);
        let Ok(at) = self.chunks.binary_search_by_key(&high, |(h, _)| *h) else {
            return false;
        };
        self.chunks
            .get(at)
            .is_some_and(|(_, chunk)| match chunk.as_ref() {
                Chunk::Sparse(members) => members.binary_search(&low).is_ok(),
                Chunk::Dense(words) => {
                    let (word, bit) = word_bit(low);
                    words.get(word).is_some_and(|w| w & bit != 0)
                }
            })
    }

    pub(crate) fn insert(&mut self, doc: Doc) {
        let (high, low) = split(doc);
        let chunks = Arc::make_mut(&mut self.chunks);
        match chunks.binary_search_by_key(&high, |(h, _)| *h) {
            Ok(at) => {
                if let Some((_, chunk)) = chunks.get_mut(at)
                    && Arc::make_mut(chunk).insert(low)
                {
                    self.len += 1;
                }
            }
            Err(at) => {
                chunks.insert(at, (high, Arc::new(Chunk::Sparse(vec![low]))));
                self.len += 1;
            }
        }
    }

    pub(crate) fn remove(&mut self, doc: Doc) {
        let (high, low) = split(doc);
        let Ok(at) = self.chunks.binary_search_by_key(&high, |(h, _)| *h) else {
            return;
        };
        let chunks = Arc::make_mut(&mut self.chunks);
        let Some((_, chunk)) = chunks.get_mut(at) else {
            return;
        };
        let chunk = Arc::make_mut(chunk);
        if chunk.remove(low) {
            self.len -= 1;
            if chunk.len() == 0 {
                chunks.remove(at);
            }
        }
    }

    /// The members, in ascending order.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = Doc> + '_ {
        self.chunks.iter().flat_map(|(high, chunk)| {
            let high = *high;
            chunk.members().into_iter().map(move |low| join(high, low))
        })
    }
}

/// A flat set of the numbers below a limit: what a query builds from [`DocSet`]s and counts.
#[derive(Debug, Clone)]
pub(crate) struct Mask(Vec<u64>);

impl Mask {
    /// The empty set of the numbers below `limit`.
    pub(crate) fn empty(limit: Doc) -> Self {
        let words = usize::try_from(limit.div_ceil(64)).unwrap_or_default();
        // Whole chunks, so a chunk's words are always in range.
        Self(vec![0; words.next_multiple_of(WORDS)])
    }

    fn chunk_words(&self, high: u32) -> Option<&[u64]> {
        let start = usize::try_from(high).ok()?.checked_mul(WORDS)?;
        self.0.get(start..start + WORDS)
    }

    fn chunk_words_mut(&mut self, high: u32) -> Option<&mut [u64]> {
        let start = usize::try_from(high).ok()?.checked_mul(WORDS)?;
        self.0.get_mut(start..start + WORDS)
    }

    pub(crate) fn insert(&mut self, doc: Doc) {
        let (high, low) = split(doc);
        let (word, bit) = word_bit(low);
        if let Some(w) = self.chunk_words_mut(high).and_then(|c| c.get_mut(word)) {
            *w |= bit;
        }
    }

    pub(crate) fn contains(&self, doc: Doc) -> bool {
        let (high, low) = split(doc);
        let (word, bit) = word_bit(low);
        self.chunk_words(high)
            .and_then(|c| c.get(word))
            .is_some_and(|w| w & bit != 0)
    }

    /// Adds every member of `set`.
    pub(crate) fn add(&mut self, set: &DocSet) {
        for (high, chunk) in set.chunks.iter() {
            let Some(words) = self.chunk_words_mut(*high) else {
                continue;
            };
            match chunk.as_ref() {
                Chunk::Sparse(members) => {
                    for low in members {
                        let (word, bit) = word_bit(*low);
                        if let Some(w) = words.get_mut(word) {
                            *w |= bit;
                        }
                    }
                }
                Chunk::Dense(bits) => {
                    for (w, b) in words.iter_mut().zip(bits.iter()) {
                        *w |= b;
                    }
                }
            }
        }
    }

    /// Keeps only the members also in `other`.
    pub(crate) fn and(&mut self, other: &Mask) {
        for (w, o) in self.0.iter_mut().zip(other.0.iter()) {
            *w &= o;
        }
    }

    /// Narrows `within` to `mask` (none: every item, so it becomes `mask`).
    pub(crate) fn narrow(within: &mut Option<Mask>, mask: Mask) {
        match within {
            Some(within) => within.and(&mask),
            None => *within = Some(mask),
        }
    }

    pub(crate) fn or(&mut self, other: &Mask) {
        for (w, o) in self.0.iter_mut().zip(other.0.iter()) {
            *w |= o;
        }
    }

    /// Removes the members of `other`.
    pub(crate) fn and_not(&mut self, other: &Mask) {
        for (w, o) in self.0.iter_mut().zip(other.0.iter()) {
            *w &= !o;
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// How many members of `set` are in the mask.
    pub(crate) fn count_in(&self, set: &DocSet) -> u64 {
        let mut count = 0;
        for (high, chunk) in set.chunks.iter() {
            let Some(words) = self.chunk_words(*high) else {
                continue;
            };
            count += match chunk.as_ref() {
                Chunk::Sparse(members) => members
                    .iter()
                    .filter(|low| {
                        let (word, bit) = word_bit(**low);
                        words.get(word).is_some_and(|w| w & bit != 0)
                    })
                    .count()
                    .try_into()
                    .unwrap_or(u64::MAX),
                Chunk::Dense(bits) => words
                    .iter()
                    .zip(bits.iter())
                    .map(|(w, b)| u64::from((w & b).count_ones()))
                    .sum(),
            };
        }
        count
    }

    /// The members, in ascending order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Doc> + '_ {
        (0u32..).zip(self.0.iter()).flat_map(|(i, word)| {
            let mut w = *word;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let bit = w.trailing_zeros();
                    w &= w - 1;
                    i * 64 + bit
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_doc_set_and_masks_agree_with_a_btree_set() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            u32::try_from(state % u64::from(n)).unwrap()
        };
        for round in 0..40 {
            // Small ranges make dense chunks, wide ones sparse.
            let range = [300, 5_000, 70_000][round % 3];
            let mut set = DocSet::default();
            let mut other = DocSet::default();
            let mut model = BTreeSet::new();
            let mut other_model = BTreeSet::new();
            let before = set.clone();
            for _ in 0..2_000 {
                let doc = next(range);
                if next(3) == 0 {
                    set.remove(doc);
                    model.remove(&doc);
                } else {
                    set.insert(doc);
                    model.insert(doc);
                }
                let doc = next(range);
                other.insert(doc);
                other_model.insert(doc);
            }
            assert_eq!(set.len(), model.len());
            assert_eq!(
                set.iter().collect::<Vec<_>>(),
                model.iter().copied().collect::<Vec<_>>()
            );
            assert!(before.is_empty(), "a clone taken before is untouched");
            for doc in 0..range {
                assert_eq!(set.contains(doc), model.contains(&doc), "{doc}");
            }
            let mut either = Mask::empty(range);
            either.add(&set);
            let mut only = either.clone();
            let mut other_only = Mask::empty(range);
            other_only.add(&other);
            either.or(&other_only);
            only.and_not(&other_only);
            let union: BTreeSet<Doc> = model.union(&other_model).copied().collect();
            let difference: BTreeSet<Doc> = model.difference(&other_model).copied().collect();
            assert_eq!(either.iter().collect::<BTreeSet<_>>(), union);
            assert_eq!(only.iter().collect::<BTreeSet<_>>(), difference);
            let mut mask = Mask::empty(range);
            mask.add(&set);
            assert_eq!(mask.count(), u64::try_from(model.len()).unwrap());
            assert_eq!(
                mask.iter().collect::<Vec<_>>(),
                set.iter().collect::<Vec<_>>()
            );
            let both = u64::try_from(model.intersection(&other_model).count()).unwrap();
            assert_eq!(mask.count_in(&other), both);
            let mut other_mask = Mask::empty(range);
            other_mask.add(&other);
            mask.and(&other_mask);
            assert_eq!(mask.count(), both);
            assert!(
                model
                    .iter()
                    .all(|d| other_model.contains(d) == mask.contains(*d))
            );
        }
    }
}
