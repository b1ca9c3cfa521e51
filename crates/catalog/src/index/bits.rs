//! Sets of catalog items as bitmaps over dense item numbers ([`Doc`]s): persistent
//! [`DocSet`]s in the index, and a flat [`Mask`] that a query builds, combines and counts with.
//!
//! A `DocSet` is a sorted list of chunks of 4,096 numbers, each a short sorted array while it
//! holds few members and a bitset once it holds more, or a few runs of consecutive numbers
//! where a bulk build finds its members so; a set of one member is held inline.
//! Chunks are shared between snapshots: a change copies the chunk list and the one chunk it
//! touches, never the whole set.

use std::sync::Arc;

/// An item's number in the index's bitmaps; freed numbers are reused.
pub(crate) type Doc = u32;

const CHUNK_SHIFT: u32 = 12;
const WORDS: usize = 64;
/// The most members a chunk keeps as an array (256 bytes, half a bitset).
const SPARSE_MAX: usize = 128;
/// The most members a chunk of a set that facets count ([`DocSet::from_ascending_counted`])
/// keeps as an array. An array's members are looked up in the mask one at a time, a bitset's
/// 64 words are ANDed eight at a time: at a million models, the arrays of the two smallest
/// parameter buckets (17 and 100 members a chunk) were a quarter of `q=swift`'s facets. The
/// sets of words, many and mostly small, keep arrays up to [`SPARSE_MAX`], which saves memory.
const COUNTED_SPARSE_MAX: usize = 32;
/// The most runs a chunk keeps as runs: a chunk of more runs is counted faster as a bitset
/// (measured at a million models: 8 and 16 were slower with a run counted word by word, and 8
/// still is with a run counted from its two ends).
const RUNS_MOST: usize = 4;

fn split(doc: Doc) -> (u32, u16) {
    (
        doc >> CHUNK_SHIFT,
        u16::try_from(doc & ((1 << CHUNK_SHIFT) - 1)).unwrap_or_default(),
    )
}

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
    /// Runs of consecutive members, `(first, last)` inclusive, ascending and apart. A bulk
    /// build numbers items that share facet values together, so a value's set is mostly a few
    /// runs a chunk: counted in a mask, a run reads the mask at its two ends ([`Counter`]),
    /// where a bitset would have its own 64 words read, and the mask's.
    Runs(Vec<(u16, u16)>),
}

impl Chunk {
    /// The chunk of `lows` (ascending, distinct) in its smallest form: runs when there are
    /// few (at most [`RUNS_MOST`]) and they are smaller than the array or the bitset.
    fn of(lows: &[u16]) -> Chunk {
        Chunk::formed(lows, SPARSE_MAX)
    }

    /// [`Chunk::of`], kept as an array only up to `sparse_most` members.
    fn formed(lows: &[u16], sparse_most: usize) -> Chunk {
        let mut runs: Vec<(u16, u16)> = Vec::new();
        for low in lows {
            match runs.last_mut() {
                Some((_, last)) if last.checked_add(1) == Some(*low) => *last = *low,
                _ => {
                    if runs.len() > RUNS_MOST {
                        break;
                    }
                    runs.push((*low, *low));
                }
            }
        }
        let bytes = if lows.len() > sparse_most {
            WORDS * 8
        } else {
            lows.len() * 2
        };
        if runs.len() <= RUNS_MOST && runs.len() * 4 < bytes {
            Chunk::Runs(runs)
        } else if lows.len() > sparse_most {
            let mut words = Box::new([0u64; WORDS]);
            set_bits(&mut words, lows);
            Chunk::Dense(words)
        } else {
            Chunk::Sparse(lows.to_vec())
        }
    }

    fn insert(&mut self, low: u16) -> bool {
        match self {
            Chunk::Runs(runs) => {
                let after = runs.partition_point(|(first, _)| *first <= low);
                let before = after.checked_sub(1);
                let last_before = before.and_then(|at| runs.get(at)).map(|(_, last)| *last);
                if last_before.is_some_and(|last| last >= low) {
                    return false;
                }
                let joins_before = last_before.is_some_and(|last| last.checked_add(1) == Some(low));
                let first_after = runs.get(after).map(|(first, _)| *first);
                let joins_after =
                    first_after.is_some_and(|first| low.checked_add(1) == Some(first));
                match (before.filter(|_| joins_before), joins_after) {
                    (Some(at), true) => {
                        let last = runs.get(after).map_or(low, |(_, last)| *last);
                        runs.remove(after);
                        if let Some(run) = runs.get_mut(at) {
                            run.1 = last;
                        }
                    }
                    (Some(at), false) => {
                        if let Some(run) = runs.get_mut(at) {
                            run.1 = low;
                        }
                    }
                    (None, true) => {
                        if let Some(run) = runs.get_mut(after) {
                            run.0 = low;
                        }
                    }
                    (None, false) => runs.insert(after, (low, low)),
                }
                if runs.len() > RUNS_MOST {
                    *self = Chunk::of(&self.members());
                }
                true
            }
            Chunk::Sparse(members) => match members.binary_search(&low) {
                Ok(_) => false,
                Err(at) => {
                    members.insert(at, low);
                    if members.len() > SPARSE_MAX {
                        let mut words = Box::new([0u64; WORDS]);
                        set_bits(&mut words, members);
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
            Chunk::Runs(runs) => {
                let Some(at) = runs
                    .partition_point(|(first, _)| *first <= low)
                    .checked_sub(1)
                else {
                    return false;
                };
                let Some((first, last)) = runs.get(at).copied() else {
                    return false;
                };
                if last < low {
                    return false;
                }
                match (first == low, last == low) {
                    (true, true) => {
                        runs.remove(at);
                    }
                    (true, false) => runs.get_mut(at).into_iter().for_each(|run| run.0 = low + 1),
                    (false, true) => runs.get_mut(at).into_iter().for_each(|run| run.1 = low - 1),
                    (false, false) => {
                        runs.get_mut(at).into_iter().for_each(|run| run.1 = low - 1);
                        runs.insert(at + 1, (low + 1, last));
                    }
                }
                if runs.len() > RUNS_MOST {
                    *self = Chunk::of(&self.members());
                }
                true
            }
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
        self.view().len()
    }

    fn members(&self) -> Vec<u16> {
        self.view().members()
    }
}

fn ones(word: u64) -> usize {
    usize::try_from(word.count_ones()).unwrap_or_default()
}

/// A persistent set of [`Doc`]s (see the module's documentation).
#[derive(Debug, Clone, Default)]
pub(crate) struct DocSet {
    chunks: Chunks,
    len: usize,
}

/// A set's chunks. Most words of a big catalog are in one item (a version, a size, a name of
/// its own), so a set of one member is held without any allocation.
#[derive(Debug, Clone, Default)]
enum Chunks {
    #[default]
    Empty,
    /// One member: its chunk and its place in the chunk.
    One(u32, u16),
    /// Up to [`FLAT_MOST`] chunks, in one list. The lists are `Arc<[_]>`, their entries in
    /// the `Arc`'s own allocation: a count reaches them in one load, where an `Arc<Vec<_>>`
    /// took two dependent ones (the `Vec`, then its buffer), each a miss in a served index.
    Many(Arc<[Numbered]>),
    /// More chunks (a word in every description, a facet value of a seventh of a million
    /// models: 245 chunks), grouped by their number's high bits ([`GROUP_SHIFT`]): a change
    /// copies the list of groups and one group, not a reference to every chunk.
    Grouped(Arc<[Group]>),
}

/// The most chunks a set holds in one list before they are grouped.
const FLAT_MOST: usize = 32;
/// A group holds the chunks whose numbers agree but for their low 4 bits: up to 16 chunks,
/// 65,536 item numbers.
const GROUP_SHIFT: u32 = 4;

/// A group of chunks and its number (the high bits of its chunks' numbers).
type Group = (u32, Arc<[Numbered]>);

/// `list`'s entries, to change and hold again as a new list: moved out when no clone shares
/// the list (so a bitset among them stays its own and is changed in place), copied when one
/// does.
fn take_list<T: Clone + Default>(list: &mut Arc<[T]>) -> Vec<T> {
    match Arc::get_mut(list) {
        Some(own) => own.iter_mut().map(std::mem::take).collect(),
        None => list.to_vec(),
    }
}

/// Calls `change` with `list`'s entries ([`take_list`]) and holds the result as `list`.
fn change_entries<T: Clone + Default, R>(
    list: &mut Arc<[T]>,
    change: impl FnOnce(&mut Vec<T>) -> R,
) -> R {
    let mut entries = take_list(list);
    let changed = change(&mut entries);
    *list = entries.into();
    changed
}

/// Where the entry numbered `number` is (or would be) in `list`, ascending by number: checked
/// first at `guess`, where it is when every number below it is there (as in the big sets,
/// which hold every chunk), else found by a binary search.
fn place<T>(list: &[(u32, T)], number: u32, guess: u32) -> Result<usize, usize> {
    let guess = usize::try_from(guess).unwrap_or(usize::MAX);
    match list.get(guess) {
        Some((at_guess, _)) if *at_guess == number => Ok(guess),
        _ => list.binary_search_by_key(&number, |(n, _)| *n),
    }
}

/// The place of chunk `high` in a list of chunks: its number in a flat list, its low bits in
/// a group.
fn chunk_place(chunks: &[Numbered], high: u32, grouped: bool) -> Result<usize, usize> {
    let guess = if grouped {
        high & ((1 << GROUP_SHIFT) - 1)
    } else {
        high
    };
    place(chunks, high, guess)
}

/// `chunks` (ascending by number) in groups.
fn grouped(chunks: Vec<Numbered>) -> Arc<[Group]> {
    let mut groups: Vec<(u32, Vec<Numbered>)> = Vec::new();
    for numbered in chunks {
        let group = numbered.0 >> GROUP_SHIFT;
        match groups.last_mut() {
            Some((last, members)) if *last == group => members.push(numbered),
            _ => groups.push((group, vec![numbered])),
        }
    }
    groups
        .into_iter()
        .map(|(group, members)| (group, members.into()))
        .collect()
}

/// A chunk and its number (the high bits of its members).
type Numbered = (u32, Held);

/// A chunk as a set holds it: its form beside its members, or beside the pointer to them.
/// A facet's count reads every chunk of every value's set; this way it follows at most one
/// pointer from the list to the members, where an `Arc<Chunk>` was two dependent loads (the
/// chunk, then its members behind their `Box` or `Vec`), each a miss in L3's share of a
/// million-model index. Runs (at most [`RUNS_MOST`], 16 bytes) are held in the entry itself,
/// in the room the pointer takes: a count reads them with the list and follows no pointer
/// (in a served catalog, where other work has evicted the index from the cache between two
/// requests, that load was half of a count's time). A change works on a [`Chunk`] and holds
/// the result ([`Held::change`]); a bitset that stays one is changed in place.
#[derive(Debug, Clone)]
enum Held {
    Sparse(Arc<[u16]>),
    /// A bitset: the `Arc`'s bitsets, and which one. A bulk build holds all the bitsets of a
    /// set in one allocation ([`DocSet::formed`]), in chunk order, so that a count reads them
    /// one after another, where their own allocations lay all over a served index's heap
    /// (in the holes its start-up's temporaries left). A change copies its bitset out to an
    /// allocation of its own first, then changes that one in place.
    Dense(Arc<[[u64; WORDS]]>, u32),
    /// How many runs, and the runs (those past the count unused).
    Runs(u8, [(u16, u16); RUNS_MOST]),
}

// The runs take the room of the pointer they replace: a list entry stays 24 bytes.
const _: () = assert!(std::mem::size_of::<Held>() == 24);

/// An empty chunk (what [`take_list`] leaves behind): no runs, no allocation.
impl Default for Held {
    fn default() -> Self {
        Held::Runs(0, [(0, 0); RUNS_MOST])
    }
}

impl From<Chunk> for Held {
    fn from(chunk: Chunk) -> Self {
        match chunk {
            Chunk::Sparse(members) => Held::Sparse(members.into()),
            Chunk::Dense(words) => Held::Dense(Arc::new([*words]), 0),
            Chunk::Runs(runs) => {
                let mut held = [(0, 0); RUNS_MOST];
                match (held.get_mut(..runs.len()), u8::try_from(runs.len())) {
                    (Some(room), Ok(count)) => {
                        room.copy_from_slice(&runs);
                        Held::Runs(count, held)
                    }
                    // A chunk keeps no more runs than that (see `Chunk::formed`); were it
                    // to, its members are held in another form.
                    _ => Held::formed(&View::Runs(&runs).members(), SPARSE_MAX),
                }
            }
        }
    }
}

impl Held {
    fn formed(lows: &[u16], sparse_most: usize) -> Self {
        Chunk::formed(lows, sparse_most).into()
    }

    #[inline]
    fn view(&self) -> View<'_> {
        match self {
            Held::Sparse(members) => View::Sparse(members),
            Held::Dense(bitsets, at) => View::Dense(bitset(bitsets, *at)),
            Held::Runs(count, runs) => View::Runs(counted_runs(*count, runs)),
        }
    }

    /// Inserts `low` (or removes it) in the chunk, made this set's own (copied when a clone
    /// shares it); whether it changed. A bitset is changed in place unless a removal leaves it
    /// small enough to be an array again.
    fn change(&mut self, low: u16, insert: bool) -> bool {
        if let Held::Dense(bitsets, at) = self {
            let words = bitset(bitsets, *at);
            if has(words, low) == insert {
                return false;
            }
            let shrinks = !insert && View::Dense(words).len() <= SPARSE_MAX / 2 + 1;
            if !shrinks {
                let (word, bit) = word_bit(low);
                let flip = |words: &mut [u64; WORDS]| {
                    if let Some(w) = words.get_mut(word) {
                        *w ^= bit;
                    }
                };
                // Its own allocation, shared by no clone: changed in place.
                if let Some([own]) = Arc::get_mut(bitsets) {
                    flip(own);
                } else {
                    let mut own = *bitset(bitsets, *at);
                    flip(&mut own);
                    *self = Held::Dense(Arc::new([own]), 0);
                }
                return true;
            }
        }
        let mut chunk = self.to_chunk();
        let changed = if insert {
            chunk.insert(low)
        } else {
            chunk.remove(low)
        };
        if changed {
            *self = chunk.into();
        }
        changed
    }

    fn to_chunk(&self) -> Chunk {
        match self {
            Held::Sparse(members) => Chunk::Sparse(members.to_vec()),
            Held::Dense(bitsets, at) => Chunk::Dense(Box::new(*bitset(bitsets, *at))),
            Held::Runs(count, runs) => Chunk::Runs(counted_runs(*count, runs).to_vec()),
        }
    }
}

/// No member: what [`bitset`] reads for a place past the bitsets (there is none).
static NO_BITSET: [u64; WORDS] = [0; WORDS];

/// Bitset `at` of `bitsets`.
#[inline]
fn bitset(bitsets: &[[u64; WORDS]], at: u32) -> &[u64; WORDS] {
    usize::try_from(at)
        .ok()
        .and_then(|at| bitsets.get(at))
        .unwrap_or(&NO_BITSET)
}

/// The first `count` of a held chunk's runs.
#[inline]
fn counted_runs(count: u8, runs: &[(u16, u16); RUNS_MOST]) -> &[(u16, u16)] {
    runs.get(..usize::from(count)).unwrap_or_default()
}

/// A chunk's members as a query reads them.
enum View<'a> {
    Sparse(&'a [u16]),
    Dense(&'a [u64; WORDS]),
    Runs(&'a [(u16, u16)]),
}

impl Chunk {
    #[inline]
    fn view(&self) -> View<'_> {
        match self {
            Chunk::Sparse(members) => View::Sparse(members),
            Chunk::Dense(words) => View::Dense(words),
            Chunk::Runs(runs) => View::Runs(runs),
        }
    }
}

impl View<'_> {
    fn len(&self) -> usize {
        match self {
            View::Sparse(members) => members.len(),
            View::Dense(words) => words.iter().map(|w| ones(*w)).sum(),
            View::Runs(runs) => runs
                .iter()
                .map(|(first, last)| usize::from(last - first) + 1)
                .sum(),
        }
    }

    /// The members, ascending.
    fn members(&self) -> Vec<u16> {
        match self {
            View::Sparse(members) => members.to_vec(),
            View::Dense(words) => {
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
            View::Runs(runs) => runs
                .iter()
                .flat_map(|(first, last)| *first..=*last)
                .collect(),
        }
    }
}

/// The words of a chunk's bitset that `first..=last` spans, and the bits of the first and
/// the last of them that are in it.
#[inline]
fn span(first: u16, last: u16) -> (std::ops::RangeInclusive<usize>, u64, u64) {
    (
        usize::from(first >> 6)..=usize::from(last >> 6),
        !0u64 << (first & 63),
        !0u64 >> (63 - (last & 63)),
    )
}

/// Whether bit `low` of a chunk's bitset `words` is set.
#[inline]
fn has(words: &[u64; WORDS], low: u16) -> bool {
    let (word, bit) = word_bit(low);
    words.get(word).is_some_and(|w| w & bit != 0)
}

/// Sets the bits `lows` of `words`.
#[inline]
fn set_bits(words: &mut [u64; WORDS], lows: &[u16]) {
    for low in lows {
        let (word, bit) = word_bit(*low);
        if let Some(w) = words.get_mut(word) {
            *w |= bit;
        }
    }
}

/// Sets the bits `first..=last` of `words`.
#[inline]
fn fill(words: &mut [u64; WORDS], first: u16, last: u16) {
    let (range, head, tail) = span(first, last);
    match words.get_mut(range) {
        Some([one]) => *one |= head & tail,
        Some([first, middle @ .., last]) => {
            *first |= head;
            middle.iter_mut().for_each(|w| *w = !0);
            *last |= tail;
        }
        _ => {}
    }
}

impl DocSet {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The set of `docs`, given in ascending order without repeats (what a bulk build
    /// gathers): each chunk made at once, in its final form.
    pub(crate) fn from_ascending(docs: &[Doc]) -> Self {
        Self::formed(docs, SPARSE_MAX)
    }

    /// [`DocSet::from_ascending`] for a set that facets count in masks: a chunk of more than
    /// [`COUNTED_SPARSE_MAX`] members is a bitset (or runs), not an array.
    pub(crate) fn from_ascending_counted(docs: &[Doc]) -> Self {
        Self::formed(docs, COUNTED_SPARSE_MAX)
    }

    fn formed(docs: &[Doc], sparse_most: usize) -> Self {
        if let [doc] = docs {
            let (high, low) = split(*doc);
            return Self {
                chunks: Chunks::One(high, low),
                len: 1,
            };
        }
        let mut chunks: Vec<Numbered> = Vec::new();
        // The set's bitsets, in one allocation (see `Held::Dense`), and their chunks' places.
        let mut bitsets: Vec<[u64; WORDS]> = Vec::new();
        let mut dense: Vec<usize> = Vec::new();
        for group in docs.chunk_by(|a, b| split(*a).0 == split(*b).0) {
            let Some(first) = group.first() else {
                continue;
            };
            let lows: Vec<u16> = group.iter().map(|doc| split(*doc).1).collect();
            let held = match Chunk::formed(&lows, sparse_most) {
                Chunk::Dense(words) => {
                    dense.push(chunks.len());
                    bitsets.push(*words);
                    Held::default()
                }
                chunk => chunk.into(),
            };
            chunks.push((split(*first).0, held));
        }
        if !bitsets.is_empty() {
            let bitsets: Arc<[[u64; WORDS]]> = bitsets.into();
            for (at, place) in (0..).zip(dense) {
                if let Some((_, held)) = chunks.get_mut(place) {
                    *held = Held::Dense(Arc::clone(&bitsets), at);
                }
            }
        }
        Self {
            chunks: match chunks.len() {
                0 => Chunks::Empty,
                n if n <= FLAT_MOST => Chunks::Many(chunks.into()),
                _ => Chunks::Grouped(grouped(chunks)),
            },
            len: docs.len(),
        }
    }

    /// Each chunk (by its number) and its members, in ascending order.
    fn views(&self) -> impl Iterator<Item = (u32, View<'_>)> {
        let (one, many, groups): (Option<(u32, View<'_>)>, &[Numbered], &[Group]) =
            match &self.chunks {
                Chunks::Empty => (None, &[], &[]),
                Chunks::One(high, low) => (
                    Some((*high, View::Sparse(std::slice::from_ref(low)))),
                    &[],
                    &[],
                ),
                Chunks::Many(chunks) => (None, &chunks[..], &[]),
                Chunks::Grouped(groups) => (None, &[], &groups[..]),
            };
        let chunks = many
            .iter()
            .chain(groups.iter().flat_map(|(_, chunks)| chunks.iter()));
        one.into_iter()
            .chain(chunks.map(|(high, chunk)| (*high, chunk.view())))
    }

    /// Calls `f` with each chunk (by its number) and its members, in ascending order: the
    /// loops of [`DocSet::views`] without an iterator's state between chunks (what a count
    /// runs over every chunk of every value of a facet).
    #[inline]
    fn each_view<'a>(&'a self, mut f: impl FnMut(u32, View<'a>)) {
        match &self.chunks {
            Chunks::Empty => {}
            Chunks::One(high, low) => f(*high, View::Sparse(std::slice::from_ref(low))),
            Chunks::Many(chunks) => {
                for (high, chunk) in chunks.iter() {
                    f(*high, chunk.view());
                }
            }
            Chunks::Grouped(groups) => {
                for (_, chunks) in groups.iter() {
                    for (high, chunk) in chunks.iter() {
                        f(*high, chunk.view());
                    }
                }
            }
        }
    }

    /// The list that holds (or would hold) chunk `high`: none for no list (empty, one).
    fn list(&self, high: u32) -> Option<&[Numbered]> {
        match &self.chunks {
            Chunks::Empty | Chunks::One(..) => None,
            Chunks::Many(chunks) => Some(chunks),
            Chunks::Grouped(groups) => place(groups, high >> GROUP_SHIFT, high >> GROUP_SHIFT)
                .ok()
                .and_then(|at| groups.get(at))
                .map(|(_, chunks)| &chunks[..]),
        }
    }

    /// Calls `change` with the list that holds (or is to hold) chunk `high`, as this set's own
    /// copy ([`take_list`]), and holds the result (a missing group added, an emptied one
    /// dropped). None for no list (empty, one).
    fn change_list<R>(
        &mut self,
        high: u32,
        change: impl FnOnce(&mut Vec<Numbered>) -> R,
    ) -> Option<R> {
        match &mut self.chunks {
            Chunks::Empty | Chunks::One(..) => None,
            Chunks::Many(chunks) => Some(change_entries(chunks, change)),
            Chunks::Grouped(groups) => change_entries(groups, |all| {
                let group = high >> GROUP_SHIFT;
                let at = place(all, group, group).unwrap_or_else(|at| {
                    all.insert(at, (group, Arc::default()));
                    at
                });
                let (changed, emptied) = all.get_mut(at).map(|(_, chunks)| {
                    change_entries(chunks, |list| (change(list), list.is_empty()))
                })?;
                if emptied {
                    all.remove(at);
                }
                Some(changed)
            }),
        }
    }

    /// How many chunks hold members: what a mask of the set has bitsets for.
    pub(crate) fn chunk_count(&self) -> usize {
        match &self.chunks {
            Chunks::Empty => 0,
            Chunks::One(..) => 1,
            Chunks::Many(chunks) => chunks.len(),
            Chunks::Grouped(groups) => groups.iter().map(|(_, chunks)| chunks.len()).sum(),
        }
    }

    /// The members of chunk `high`, if it has any.
    fn chunk_view(&self, high: u32) -> Option<View<'_>> {
        if let Chunks::One(h, low) = &self.chunks {
            return (*h == high).then(|| View::Sparse(std::slice::from_ref(low)));
        }
        let in_group = matches!(self.chunks, Chunks::Grouped(_));
        let chunks = self.list(high)?;
        let (_, chunk) = chunks.get(chunk_place(chunks, high, in_group).ok()?)?;
        Some(chunk.view())
    }

    pub(crate) fn contains(&self, doc: Doc) -> bool {
        let (high, low) = split(doc);
        self.chunk_view(high).is_some_and(|view| match view {
            View::Sparse(members) => members.binary_search(&low).is_ok(),
            View::Dense(words) => has(words, low),
            View::Runs(runs) => runs
                .partition_point(|(first, _)| *first <= low)
                .checked_sub(1)
                .and_then(|at| runs.get(at))
                .is_some_and(|(_, last)| *last >= low),
        })
    }

    pub(crate) fn insert(&mut self, doc: Doc) {
        let (high, low) = split(doc);
        match &self.chunks {
            Chunks::Empty => {
                self.chunks = Chunks::One(high, low);
                self.len = 1;
                return;
            }
            Chunks::One(h, l) => {
                if (*h, *l) == (high, low) {
                    return;
                }
                let one = (*h, Held::Sparse(Arc::new([*l])));
                self.chunks = Chunks::Many(Arc::new([one]));
            }
            Chunks::Many(_) | Chunks::Grouped(_) => {}
        }
        let in_group = matches!(self.chunks, Chunks::Grouped(_));
        let added = self.change_list(high, |chunks| match chunk_place(chunks, high, in_group) {
            Ok(at) => chunks
                .get_mut(at)
                .is_some_and(|(_, chunk)| chunk.change(low, true)),
            Err(at) => {
                chunks.insert(at, (high, Held::Sparse(Arc::new([low]))));
                true
            }
        });
        if added == Some(true) {
            self.len += 1;
        }
        if let Chunks::Many(chunks) = &mut self.chunks
            && chunks.len() > FLAT_MOST
        {
            self.chunks = Chunks::Grouped(grouped(take_list(chunks)));
        }
    }

    pub(crate) fn remove(&mut self, doc: Doc) {
        let (high, low) = split(doc);
        // A member not there copies nothing.
        if !self.contains(doc) {
            return;
        }
        self.len -= 1;
        if self.len == 0 {
            self.chunks = Chunks::Empty;
            return;
        }
        let in_group = matches!(self.chunks, Chunks::Grouped(_));
        self.change_list(high, |chunks| {
            let Ok(at) = chunk_place(chunks, high, in_group) else {
                return;
            };
            let Some((_, chunk)) = chunks.get_mut(at) else {
                return;
            };
            chunk.change(low, false);
            if chunk.view().len() == 0 {
                chunks.remove(at);
            }
        });
    }

    /// The members, in ascending order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Doc> + '_ {
        self.views()
            .flat_map(|(high, view)| view.members().into_iter().map(move |low| join(high, low)))
    }

    /// Each chunk's form, in chunk order: `s` an array, `d` a bitset, `r` runs.
    #[cfg(test)]
    pub(super) fn chunk_forms(&self) -> String {
        self.views()
            .map(|(_, view)| match view {
                View::Sparse(_) => 's',
                View::Dense(_) => 'd',
                View::Runs(_) => 'r',
            })
            .collect()
    }

    /// The number of members of each chunk, in chunk order.
    #[cfg(test)]
    pub(super) fn chunk_lens(&self) -> Vec<usize> {
        self.views().map(|(_, view)| view.len()).collect()
    }
}

/// A set of the numbers below a limit: what a query builds from [`DocSet`]s and counts. A
/// bitset per chunk of 4,096 numbers, made when the chunk gets a member, so a mask of a
/// filter on a catalog numbered by its facet values (whose members fill a few runs of chunks)
/// costs only those chunks to make, combine and count. The bitsets are kept together, in the
/// order they were made.
#[derive(Debug, Clone)]
pub(crate) struct Mask {
    /// Each chunk's place in `words`, plus one; 0 when the chunk has no member.
    slots: Vec<u32>,
    words: Vec<[u64; WORDS]>,
}

impl Mask {
    /// The empty set of the numbers below `limit`.
    pub(crate) fn empty(limit: Doc) -> Self {
        let chunks = usize::try_from(limit.div_ceil(1 << CHUNK_SHIFT)).unwrap_or_default();
        // Room for every chunk's bitset at once: growing the list as chunks get members copied
        // it over and over (a tenth of a broad filter's facets). Memory is only used where a
        // bitset is written.
        Self {
            slots: vec![0; chunks],
            words: Vec::with_capacity(chunks),
        }
    }

    /// How many chunks have a bitset (an upper bound on those with members).
    pub(crate) fn chunks_held(&self) -> usize {
        self.words.len()
    }

    /// The bitsets of the chunks with members, by chunk number.
    fn held(&self) -> impl Iterator<Item = (u32, &[u64; WORDS])> {
        (0u32..)
            .zip(self.slots.iter())
            .filter_map(|(high, slot)| Some((high, self.words.get(slot_place(*slot)?)?)))
    }

    /// The place in `words` of chunk `high`'s bitset; none when the chunk has no member.
    #[inline]
    fn chunk_place(&self, high: u32) -> Option<usize> {
        slot_place(*self.slots.get(usize::try_from(high).ok()?)?)
    }

    #[inline]
    fn chunk_words(&self, high: u32) -> Option<&[u64; WORDS]> {
        self.words.get(self.chunk_place(high)?)
    }

    /// The words of chunk `high`, made empty if the chunk had none (none past the limit).
    #[inline]
    fn chunk_words_mut(&mut self, high: u32) -> Option<&mut [u64; WORDS]> {
        let slot = self.slots.get_mut(usize::try_from(high).ok()?)?;
        if *slot == 0 {
            self.words.push([0; WORDS]);
            *slot = u32::try_from(self.words.len()).ok()?;
        }
        self.words.get_mut(slot_place(*slot)?)
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
        self.chunk_words(high).is_some_and(|words| has(words, low))
    }

    /// Adds every member of `set`.
    pub(crate) fn add(&mut self, set: &DocSet) {
        add(self, set);
    }

    /// Keeps only the members also in `other`.
    pub(crate) fn and(&mut self, other: &Mask) {
        self.narrow_by(other, false, |w, o| w & o);
    }

    /// Combines each chunk this mask holds with `other`'s by `op`, or when `other` lacks it
    /// keeps it (`kept`) or drops it. A chunk left empty is dropped too (its bitset stays,
    /// unused, until the mask goes), so every chunk held has a member.
    fn narrow_by(&mut self, other: &Mask, kept: bool, op: impl Fn(u64, u64) -> u64) {
        for (slot, theirs) in self.slots.iter_mut().zip(other.slots.iter()) {
            let Some(words) = slot_place(*slot).and_then(|at| self.words.get_mut(at)) else {
                continue;
            };
            let Some(theirs) = slot_place(*theirs).and_then(|at| other.words.get(at)) else {
                if !kept {
                    *slot = 0;
                }
                continue;
            };
            let mut any = 0;
            for (w, o) in words.iter_mut().zip(theirs.iter()) {
                *w = op(*w, *o);
                any |= *w;
            }
            if any == 0 {
                *slot = 0;
            }
        }
    }

    /// Keeps only the members also in one of `sets`. Each chunk the mask holds is looked up in
    /// the sets, so their chunks where the mask has none cost nothing: what narrowing a
    /// selective filter's mask by a broad one costs, where a mask of the broad one was made
    /// whole first.
    pub(crate) fn and_any(&mut self, sets: &[&DocSet]) {
        let Self { slots, words } = self;
        for (high, slot) in (0u32..).zip(slots.iter_mut()) {
            let Some(words) = slot_place(*slot).and_then(|at| words.get_mut(at)) else {
                continue;
            };
            let mut union = [0u64; WORDS];
            for view in sets.iter().filter_map(|set| set.chunk_view(high)) {
                set_view(&mut union, &view);
            }
            let mut any = 0;
            for (w, u) in words.iter_mut().zip(union.iter()) {
                *w &= u;
                any |= *w;
            }
            if any == 0 {
                *slot = 0;
            }
        }
    }

    /// The numbers below `limit` in every one of `parts` (each the union of its sets); none
    /// for no part. The part with the fewest chunks makes the mask whole, and each other part
    /// narrows it chunk by chunk ([`Mask::and_any`]): a broad part beside a selective one costs
    /// only the chunks the selective one left.
    pub(crate) fn intersection(limit: Doc, mut parts: Vec<Vec<&DocSet>>) -> Option<Mask> {
        parts.sort_by_cached_key(|sets| sets.iter().map(|set| set.chunk_count()).sum::<usize>());
        let (first, rest) = parts.split_first()?;
        let mut within = Mask::empty(limit);
        first.iter().for_each(|set| within.add(set));
        rest.iter().for_each(|sets| within.and_any(sets));
        Some(within)
    }

    pub(crate) fn or(&mut self, other: &Mask) {
        for (high, theirs) in other.held() {
            if let Some(words) = self.chunk_words_mut(high) {
                for (w, o) in words.iter_mut().zip(theirs.iter()) {
                    *w |= o;
                }
            }
        }
    }

    /// Removes the members of `other`.
    pub(crate) fn and_not(&mut self, other: &Mask) {
        self.narrow_by(other, true, |w, o| w & !o);
    }

    pub(crate) fn count(&self) -> u64 {
        self.held()
            .flat_map(|(_, words)| words.iter())
            .map(|w| u64::from(w.count_ones()))
            .sum()
    }

    /// The mask made ready to count sets in (see [`Counter`]).
    pub(crate) fn counter(&self) -> Counter<'_> {
        let before: Vec<[u16; WORDS]> = self
            .words
            .iter()
            .map(|words| {
                let mut sum = 0u16;
                words.map(|w| {
                    let at = sum;
                    sum += u16::try_from(w.count_ones()).unwrap_or_default();
                    at
                })
            })
            .collect();
        let total = self
            .slots
            .iter()
            .filter_map(|slot| {
                let place = slot_place(*slot)?;
                let last = self.words.get(place)?.last()?;
                let before_last = before.get(place)?.last()?;
                Some(u64::from(*before_last) + u64::from(last.count_ones()))
            })
            .sum();
        Counter {
            mask: self,
            before,
            total,
        }
    }

    /// The members, in ascending order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Doc> + '_ {
        self.held().flat_map(|(high, words)| {
            (0u32..).zip(words.iter()).flat_map(move |(i, word)| {
                let mut w = *word;
                std::iter::from_fn(move || {
                    (w != 0).then(|| {
                        let bit = w.trailing_zeros();
                        w &= w - 1;
                        join(high, 0) + i * 64 + bit
                    })
                })
            })
        })
    }
}

/// A [`Mask`] ready to count sets in, as a facet counts each of its values' sets: besides the
/// mask's bitsets, how many members each chunk has before each of its words. A run of a set
/// is then counted from its two ends (the members before its last number, less those before
/// its first), where it read every word of the mask it spans: the runs of a bulk-built
/// catalog's facet values span 20 words on average.
#[derive(Debug, Clone)]
pub(crate) struct Counter<'a> {
    mask: &'a Mask,
    /// Per bitset of the mask (in its order), the members before each word.
    before: Vec<[u16; WORDS]>,
    /// How many members the mask has.
    total: u64,
}

impl Counter<'_> {
    /// How many members the mask has.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// How many members of `set` are in the mask.
    pub(crate) fn count_in(&self, set: &DocSet) -> u64 {
        count_in(self, set)
    }

    /// Chunk `high`'s bitset and the members before each of its words; none when the mask
    /// holds no member there.
    #[inline]
    fn chunk(&self, high: u32) -> Option<(&[u64; WORDS], &[u16; WORDS])> {
        let place = self.mask.chunk_place(high)?;
        Some((self.mask.words.get(place)?, self.before.get(place)?))
    }
}

/// How many of the members of a chunk's bitset `words` are below `low`, given the members
/// before each word.
#[inline]
fn below(words: &[u64; WORDS], before: &[u16; WORDS], low: u16) -> u64 {
    let (word, bit) = word_bit(low);
    let whole = before.get(word).map_or(0, |n| u64::from(*n));
    let part = words
        .get(word)
        .map_or(0, |w| u64::from((w & (bit - 1)).count_ones()));
    whole + part
}

/// How many members of `set` are in the counter's mask ([`Counter::count_in`]), compiled also
/// for processors that count the bits of eight words at once (AVX-512's `VPOPCNTQ`) or AND
/// four at once (AVX2), and run as the best one this processor has: the count of a facet over
/// a broad filter is bound by these ANDs and bit counts (a million-model catalog's `q=swift`
/// facets AND and count about 2,000 bitset chunks of 64 words, besides 3,000 runs).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vpopcntdq", "x86_64+avx2"))]
fn count_in<'a>(counter: &Counter<'a>, set: &DocSet) -> u64 {
    let mut count = 0;
    set.each_view(|high, view| {
        // The mask is read for every value of a facet and stays in cache; the sets' chunks
        // are not. A chunk the mask does not hold (a filtered catalog numbered by its facet
        // values has many) is passed over without reading the set's.
        let Some((words, before)) = counter.chunk(high) else {
            return;
        };
        count += match view {
            View::Sparse(members) => members
                .iter()
                .filter(|low| has(words, **low))
                .count()
                .try_into()
                .unwrap_or(u64::MAX),
            View::Dense(bits) => words
                .iter()
                .zip(bits.iter())
                .map(|(w, b)| u64::from((w & b).count_ones()))
                .sum(),
            View::Runs(runs) => runs
                .iter()
                .map(|(first, last)| {
                    below(words, before, *last) + u64::from(has(words, *last))
                        - below(words, before, *first)
                })
                .sum(),
        };
    });
    count
}

/// Adds every member of `set` to `mask` ([`Mask::add`]), compiled as [`count_in`] is: a
/// broad filter's mask is the OR of its values' chunks.
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
fn add(mask: &mut Mask, set: &DocSet) {
    set.each_view(|high, view| {
        if let Some(words) = mask.chunk_words_mut(high) {
            set_view(words, &view);
        }
    });
}

/// Sets the bits of a chunk's members `view` in `words`.
#[inline]
fn set_view(words: &mut [u64; WORDS], view: &View<'_>) {
    match view {
        View::Sparse(members) => set_bits(words, members),
        View::Dense(bits) => {
            for (w, b) in words.iter_mut().zip(bits.iter()) {
                *w |= b;
            }
        }
        View::Runs(runs) => {
            for (first, last) in *runs {
                fill(words, *first, *last);
            }
        }
    }
}

/// The place in [`Mask`]'s bitsets of a chunk's slot (none for 0: no bitset).
fn slot_place(slot: u32) -> Option<usize> {
    usize::try_from(slot.checked_sub(1)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Inserts `doc` into both the set and its model, or removes it from both.
    fn change(set: &mut DocSet, model: &mut BTreeSet<Doc>, doc: Doc, insert: bool) {
        if insert {
            set.insert(doc);
            model.insert(doc);
        } else {
            set.remove(doc);
            model.remove(&doc);
        }
    }

    /// Pseudo-random numbers below the bound asked (xorshift from `seed`).
    fn numbers(seed: u64) -> impl FnMut(u32) -> u32 {
        let mut state = seed;
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            u32::try_from(state % u64::from(n)).unwrap()
        }
    }

    #[test]
    fn a_set_of_one_grows_and_empties_without_touching_its_clones() {
        let mut set = DocSet::default();
        set.insert(5_000);
        set.insert(5_000);
        assert_eq!(
            (set.len(), set.iter().collect::<Vec<_>>()),
            (1, vec![5_000])
        );
        assert!(set.contains(5_000) && !set.contains(5_001) && !set.contains(904));
        let one = set.clone();
        set.insert(7);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![7, 5_000]);
        assert_eq!(one.iter().collect::<Vec<_>>(), vec![5_000]);
        let mut one = one;
        one.remove(7);
        assert_eq!(one.len(), 1);
        one.remove(5_000);
        assert!(one.is_empty() && !one.contains(5_000));
        set.remove(7);
        set.remove(5_000);
        assert!(set.is_empty() && set.iter().next().is_none());
        assert!(DocSet::from_ascending(&[]).is_empty());
        let mut mask = Mask::empty(8_192);
        mask.add(&DocSet::from_ascending(&[4_097]));
        assert_eq!(mask.iter().collect::<Vec<_>>(), vec![4_097]);
    }

    #[test]
    fn masks_combine_chunks_held_by_only_one_of_them() {
        const LIMIT: Doc = 4 * 4_096;
        let mask = |docs: &[Doc]| {
            let mut mask = Mask::empty(LIMIT);
            docs.iter().for_each(|doc| mask.insert(*doc));
            mask
        };
        // `a` has members in chunks 0 and 1, `b` in chunks 1 and 2, neither in chunk 3.
        let a = mask(&[5, 4_096 + 7, 4_096 + 100]);
        let b = mask(&[4_096 + 7, 2 * 4_096 + 1]);
        let members = |mask: &Mask| mask.iter().collect::<Vec<_>>();
        let mut both = a.clone();
        both.and(&b);
        assert_eq!(members(&both), [4_096 + 7]);
        assert_eq!(both.count(), 1);
        // Chunk 0, which `b` lacks, is dropped with its bits left: not counted.
        assert_eq!(both.counter().total(), 1);
        let mut either = a.clone();
        either.or(&b);
        assert_eq!(members(&either), [5, 4_096 + 7, 4_096 + 100, 2 * 4_096 + 1]);
        let mut only = a.clone();
        only.and_not(&b);
        assert_eq!(members(&only), [5, 4_096 + 100]);
        // A chunk the intersection empties holds and counts nothing.
        let mut none = mask(&[5]);
        none.and(&mask(&[6]));
        assert_eq!(
            (none.count(), none.contains(5), members(&none)),
            (0, false, vec![])
        );
        assert_eq!(none.counter().count_in(&DocSet::from_ascending(&[5, 6])), 0);
        // Numbers past the limit are not held.
        let past = mask(&[LIMIT, LIMIT + 5_000]);
        assert_eq!(past.count(), 0);
    }

    #[test]
    fn a_count_passes_over_chunks_the_mask_leaves_empty_and_counts_the_rest() {
        const LIMIT: Doc = 8 * 4_096;
        // The mask: every other number of chunks 1 and 5, and one number of chunk 6 (a chunk
        // whose words are all empty but one).
        let chosen: Vec<Doc> = (4_096..2 * 4_096)
            .chain(5 * 4_096..6 * 4_096)
            .step_by(2)
            .chain([6 * 4_096 + 4_000])
            .collect();
        let mut mask = Mask::empty(LIMIT);
        mask.add(&DocSet::from_ascending(&chosen));
        // A dense set in every chunk, and a sparse one (a few members per chunk).
        for step in [3, 997] {
            let mut members: Vec<Doc> = (0..LIMIT).step_by(step).collect();
            members.push(6 * 4_096 + 4_000);
            members.sort_unstable();
            members.dedup();
            let set = DocSet::from_ascending(&members);
            let both = members
                .iter()
                .filter(|d| chosen.binary_search(d).is_ok())
                .count();
            assert_eq!(
                mask.counter().count_in(&set),
                u64::try_from(both).unwrap(),
                "step {step}"
            );
        }
    }

    #[test]
    fn a_doc_set_and_masks_agree_with_a_btree_set() {
        let mut next = numbers(0x9E37_79B9_7F4A_7C15);
        for round in 0..40 {
            // Small ranges make dense chunks, wide ones sparse; the widest, more chunks than
            // one list holds (grouped).
            let range = [300, 5_000, 70_000, 600_000][round % 4];
            let mut set = DocSet::default();
            let mut other = DocSet::default();
            let mut model = BTreeSet::new();
            let mut other_model = BTreeSet::new();
            let before = set.clone();
            let mut held = None;
            for step in 0..2_000 {
                if step == 1_000 {
                    held = Some((set.clone(), model.clone()));
                }
                let doc = next(range);
                change(&mut set, &mut model, doc, next(3) != 0);
                let doc = next(range);
                other.insert(doc);
                other_model.insert(doc);
            }
            assert_eq!(set.len(), model.len());
            let members: Vec<Doc> = model.iter().copied().collect();
            assert_eq!(set.iter().collect::<Vec<_>>(), members);
            let built = DocSet::from_ascending(&members);
            assert_eq!(built.len(), model.len());
            assert_eq!(built.iter().collect::<Vec<_>>(), members);
            assert_eq!(
                built.chunk_lens(),
                set.chunk_lens(),
                "the same chunks as one insert at a time"
            );
            assert!(before.is_empty(), "a clone taken before is untouched");
            let (held, held_model) = held.unwrap();
            assert_eq!(
                held.iter().collect::<Vec<_>>(),
                held_model.iter().copied().collect::<Vec<_>>(),
                "a clone taken halfway is untouched"
            );
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
            assert_eq!(mask.counter().total(), mask.count());
            assert_eq!(
                mask.iter().collect::<Vec<_>>(),
                set.iter().collect::<Vec<_>>()
            );
            let both = u64::try_from(model.intersection(&other_model).count()).unwrap();
            assert_eq!(mask.counter().count_in(&other), both);
            let mut other_mask = Mask::empty(range);
            other_mask.add(&other);
            mask.and(&other_mask);
            assert_eq!(mask.count(), both);
            // A chunk the AND emptied or dropped is not counted in the total either.
            assert_eq!(mask.counter().total(), both);
            assert!(
                model
                    .iter()
                    .all(|d| other_model.contains(d) == mask.contains(*d))
            );
        }
    }

    #[test]
    fn a_set_of_runs_agrees_with_a_btree_set_through_changes_and_counts() {
        const CHUNKS: u32 = 6;
        const LIMIT: Doc = CHUNKS * 4_096;
        let mut next = numbers(0x2545_F491_4F6C_DD1D);
        let mut forms = String::new();
        for round in 0..40 {
            // Each chunk a few runs (some chunks more than a chunk keeps as runs), of one
            // member up to hundreds, some touching the chunk's ends.
            let mut model = BTreeSet::new();
            for chunk in 0..CHUNKS {
                for _ in 0..=next([3, 8, 24][round % 3]) {
                    let first = next(4_096);
                    let longest = [2, 40, 600][usize::try_from(next(3)).unwrap()];
                    let len = 1 + next(longest);
                    for low in first..(first + len).min(4_096) {
                        model.insert(chunk * 4_096 + low);
                    }
                }
            }
            let members: Vec<Doc> = model.iter().copied().collect();
            let mut set = DocSet::from_ascending(&members);
            forms.push_str(&set.chunk_forms());
            let built = set.clone();
            for _ in 0..400 {
                // Mostly at a member or next to one: a run's ends, its inside, the gaps.
                let near = next(2);
                let at = usize::try_from(next(u32::try_from(members.len()).unwrap())).unwrap();
                let doc = match (near, members.get(at)) {
                    (0, Some(member)) => (member + next(3)).saturating_sub(1).min(LIMIT - 1),
                    _ => next(LIMIT),
                };
                change(&mut set, &mut model, doc, next(2) != 0);
                assert_eq!(set.contains(doc), model.contains(&doc), "{doc}");
                assert_eq!(set.len(), model.len());
            }
            assert_eq!(
                set.iter().collect::<Vec<_>>(),
                model.iter().copied().collect::<Vec<_>>()
            );
            assert_eq!(built.iter().collect::<Vec<_>>(), members, "the clone kept");
            for doc in 0..LIMIT {
                assert_eq!(set.contains(doc), model.contains(&doc), "{doc}");
            }
            for candidate in [&built, &set] {
                let model: BTreeSet<Doc> = candidate.iter().collect();
                // A mask of about half the numbers, and of every number of two chunks.
                let half: Vec<Doc> = (0..LIMIT).filter(|_| next(2) == 0).collect();
                let two: Vec<Doc> = (4_096..3 * 4_096).collect();
                for chosen in [half, two] {
                    let mut mask = Mask::empty(LIMIT);
                    mask.add(&DocSet::from_ascending(&chosen));
                    let both = chosen.iter().filter(|d| model.contains(d)).count();
                    assert_eq!(
                        mask.counter().count_in(candidate),
                        u64::try_from(both).unwrap()
                    );
                }
                let mut mask = Mask::empty(LIMIT);
                mask.add(candidate);
                assert_eq!(mask.iter().collect::<BTreeSet<_>>(), model);
            }
        }
        for form in ['r', 's', 'd'] {
            assert!(forms.contains(form), "no chunk of form {form}: {forms}");
        }
    }
}
