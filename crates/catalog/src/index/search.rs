//! The word index behind `q`: the items holding each word of their (lowercased) name, the
//! items holding it in their description but not their name, and the words holding each
//! three-letter sequence (a word's last two letters count as a sequence with its end).
//!
//! `q` matches an item when it is a substring of the name or of the description. Every word of
//! `q` (a run of letters and digits) then lies inside one word of the item's text, and a word of
//! `q` with a separator before it (or after it) starts (or ends) that word. So the items holding,
//! for each word of `q` of two letters or more, some word that contains it so, are a superset of
//! the matches: found through the sequence index without looking at any item. When `q` is one
//! word and nothing else, that superset is exact, and so is each item's match tier (see
//! [`WordIndex::placements`]); otherwise each candidate is tested. A `q` without such a word, or
//! whose two-letter words are held by too many words to gather, is tested against every item.
//!
//! Each (word, item) pair is held once: a word of the name is not held again for the
//! description, so keeping name and description apart costs no more than one index of both.

use std::borrow::Cow;
use std::ops::Bound;
use std::sync::Arc;

use imbl::{OrdMap, Vector};

use super::CatalogItem;
use super::bits::{Doc, DocSet, Mask};
use super::query::TIERS;
use super::snapshot::{join, packed};

/// A three-letter sequence, packed (see [`pack`]).
pub(super) type Gram = u64;

/// The third letter of a word's last sequence: its end. Above every `char`.
const END: u64 = 0x1F_FFFF;

/// The most words a two-letter word of `q` gathers; beyond that, testing the items is cheaper.
const MOST_WORDS: usize = 4_096;

/// The items holding each word (in one field). An ordered map rather than a hash map: at a
/// million words a HAMT holds about 200 bytes per entry of 40 (its nodes are fixed arrays
/// mostly empty at the bottom), a B-tree filled by [`packed`] about 45.
type Words = OrdMap<Arc<str>, DocSet>;

#[derive(Debug, Clone, Default)]
pub(super) struct WordIndex {
    /// The items holding each word in their name.
    names: Words,
    /// The items holding each word in their description and not in their name.
    descriptions: Words,
    /// The words holding each sequence, in sequence order (so the sequences starting with two
    /// given letters are one range). A word stays once seen (its sets may empty), so this never
    /// lists a word twice under one sequence.
    grams: OrdMap<Gram, Vector<Arc<str>>>,
}

/// Whether `c` separates words: anything but a letter or a digit.
pub(super) fn separates(c: char) -> bool {
    !c.is_alphanumeric()
}

/// The words of a lowercased text: its runs of letters and digits.
pub(super) fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(separates).filter(|word| !word.is_empty())
}

/// The distinct words of an item's name, and those of its description not in the name (the
/// description lowercased into `lower`).
fn item_words<'a>(item: &'a CatalogItem, lower: &'a mut String) -> [Vec<&'a str>; 2] {
    lowercase_into(&item.description, lower);
    let mut name = Vec::new();
    let mut description = Vec::new();
    distinct_words(&item.name_key, lower, &mut name, &mut description);
    [name, description]
}

/// `text` lowercased (as `q` is), into `lower`.
pub(super) fn lowercase_into(text: &str, lower: &mut String) {
    lower.clear();
    if text.is_ascii() {
        lower.push_str(text);
        lower.make_ascii_lowercase();
    } else {
        // Not char by char: a final sigma lowercases by its context.
        lower.push_str(&text.to_lowercase());
    }
}

/// The distinct words of a lowercased name into `name`, and those of a lowercased description
/// not in the name into `description` (both cleared first).
fn distinct_words<'n, 'd>(
    name_text: &'n str,
    description_text: &'d str,
    name: &mut Vec<&'n str>,
    description: &mut Vec<&'d str>,
) {
    name.clear();
    name.extend(words(name_text));
    name.sort_unstable();
    name.dedup();
    description.clear();
    description.extend(words(description_text));
    description.sort_unstable();
    description.dedup();
    description.retain(|word| name.binary_search(word).is_err());
}

/// The items of one word in one field, in ascending order, as a bulk build gathers them: most
/// words are in one item, held without an allocation.
#[derive(Debug, Default)]
enum Gathered {
    #[default]
    None,
    One(Doc),
    Many(Vec<Doc>),
}

impl Gathered {
    /// Adds `doc` unless it is the last one added (a word twice in one text).
    fn push_once(&mut self, doc: Doc) {
        if self.last() != Some(doc) {
            self.push(doc);
        }
    }

    fn last(&self) -> Option<Doc> {
        match self {
            Gathered::None => None,
            Gathered::One(doc) => Some(*doc),
            Gathered::Many(docs) => docs.last().copied(),
        }
    }

    fn push(&mut self, doc: Doc) {
        match self {
            Gathered::None => *self = Gathered::One(doc),
            Gathered::One(first) => *self = Gathered::Many(vec![*first, doc]),
            Gathered::Many(docs) => docs.push(doc),
        }
    }

    /// Adds `later`'s items, all numbered after this one's.
    fn append(&mut self, later: Gathered) {
        match (std::mem::take(self), later) {
            (Gathered::None, later) => *self = later,
            (earlier, Gathered::None) => *self = earlier,
            (Gathered::One(a), Gathered::One(b)) => *self = Gathered::Many(vec![a, b]),
            (Gathered::One(a), Gathered::Many(mut docs)) => {
                docs.insert(0, a);
                *self = Gathered::Many(docs);
            }
            (Gathered::Many(mut docs), Gathered::One(b)) => {
                docs.push(b);
                *self = Gathered::Many(docs);
            }
            (Gathered::Many(mut docs), Gathered::Many(more)) => {
                docs.extend(more);
                *self = Gathered::Many(docs);
            }
        }
    }

    fn into_set(self) -> Option<DocSet> {
        match self {
            Gathered::None => None,
            Gathered::One(doc) => Some(DocSet::from_ascending(&[doc])),
            Gathered::Many(docs) => Some(DocSet::from_ascending(&docs)),
        }
    }
}

/// Each word's items in each field (names', descriptions'), as a bulk build gathers them.
type Held<'a> = foldhash::HashMap<Cow<'a, str>, [Gathered; 2]>;

/// The words of `items`, numbered from `from` on. Names' words are borrowed from the items'
/// lowercased names; a description's are copied the first time they are seen (its lowercased
/// text is not kept). Each item's words are taken as they come, not made distinct first
/// (sorting them, and searching the name's words for each description word, was about a
/// third of this at a million items): items arrive in number order, so a word already given
/// this item's number, in its name or earlier in the field, is one the item holds already.
fn gather(items: &[Arc<CatalogItem>], from: Doc, room: usize) -> Held<'_> {
    let mut held = Held::with_capacity_and_hasher(room, Default::default());
    let mut lower = String::new();
    for (doc, item) in (from..).zip(items) {
        for word in words(&item.name_key) {
            let [in_names, _] = held.entry(Cow::Borrowed(word)).or_default();
            in_names.push_once(doc);
        }
        lowercase_into(&item.description, &mut lower);
        for word in words(&lower) {
            let [in_names, in_descriptions] = match held.get_mut(word) {
                Some(fields) => fields,
                None => held.entry(Cow::Owned(word.to_owned())).or_default(),
            };
            if in_names.last() != Some(doc) {
                in_descriptions.push_once(doc);
            }
        }
    }
    held
}

fn pack(a: u64, b: u64, c: u64) -> Gram {
    a << 42 | b << 21 | c
}

/// A letter as a sequence holds it.
fn code(c: char) -> u64 {
    u64::from(u32::from(c))
}

/// The three-letter sequences of `text`, each once, into `out` (cleared first).
fn grams_into(text: &str, out: &mut Vec<Gram>) {
    out.clear();
    let mut letters = text.chars().map(code);
    if let (Some(mut a), Some(mut b)) = (letters.next(), letters.next()) {
        for c in letters {
            out.push(pack(a, b, c));
            (a, b) = (b, c);
        }
    }
    out.sort_unstable();
    out.dedup();
}

/// The three-letter sequences of `text`.
fn grams(text: &str) -> Vec<Gram> {
    let mut grams = Vec::new();
    grams_into(text, &mut grams);
    grams
}

/// The sequence of `text`'s last two letters and the end of a word.
fn end_gram(text: &str) -> Option<Gram> {
    let mut back = text.chars().rev().map(code);
    let b = back.next()?;
    let a = back.next()?;
    Some(pack(a, b, END))
}

/// The sequences a word is held under, each once, into `out` (cleared first): its
/// three-letter ones and its end.
fn word_grams(word: &str, out: &mut Vec<Gram>) {
    grams_into(word, out);
    out.extend(end_gram(word));
}

/// A word of `q` and whether a separator stands before it and after it in `q`: the item's word
/// holding it must then start (end) with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece<'a> {
    word: &'a str,
    starts: bool,
    ends: bool,
}

impl Piece<'_> {
    /// Whether the item's word `word` may hold this piece of `q`.
    fn fits(&self, word: &str) -> bool {
        match (self.starts, self.ends) {
            (true, true) => word == self.word,
            (true, false) => word.starts_with(self.word),
            (false, true) => word.ends_with(self.word),
            (false, false) => word.contains(self.word),
        }
    }
}

/// The words of `q` with their separators: a word after the first split has one before it, a
/// word before the last one after it.
fn pieces(q: &str) -> Vec<Piece<'_>> {
    let split: Vec<&str> = q.split(separates).collect();
    let last = split.len().saturating_sub(1);
    split
        .into_iter()
        .enumerate()
        .filter(|(_, word)| !word.is_empty())
        .map(|(at, word)| Piece {
            word,
            starts: at > 0,
            ends: at < last,
        })
        .collect()
}

impl WordIndex {
    /// The index of `items`, numbered in the order given, built at once: every word's items
    /// gathered first, then each set made whole ([`DocSet::from_ascending`]) and each sequence's
    /// words listed together, instead of one change of the persistent maps per word of each
    /// item.
    ///
    /// The two halves of the items are read on two threads (reading each item's words is most
    /// of the work) and their lists joined; then the word maps and the sequence map are made on
    /// two threads too.
    pub(super) fn build(items: &[Arc<CatalogItem>]) -> Self {
        let (first, second) = items.split_at(items.len() / 2);
        let second_from = Doc::try_from(first.len()).unwrap_or(Doc::MAX);
        let (mut held, later) = std::thread::scope(|scope| {
            let later = scope.spawn(|| gather(second, second_from, second.len()));
            // Room for the second half's words too: they are added to this map, and growing
            // it then rehashed every word of the first half.
            (gather(first, 0, items.len()), join(later))
        });
        for (word, [in_names, in_descriptions]) in later {
            let [names, descriptions] = held.entry(word).or_default();
            names.append(in_names);
            descriptions.append(in_descriptions);
        }
        let mut names = Vec::with_capacity(held.len());
        let mut descriptions = Vec::new();
        // Each sequence's words, listed as the words come: a few thousand sequences hold
        // millions of (sequence, word) pairs, and sorting those pairs by sequence, then
        // copying each sequence's words out, was about a quarter of this build at a million
        // items.
        let mut grams: foldhash::HashMap<Gram, Vec<Arc<str>>> = foldhash::HashMap::default();
        let mut of_word = Vec::new();
        for (word, [in_names, in_descriptions]) in held {
            let word: Arc<str> = Arc::from(&*word);
            word_grams(&word, &mut of_word);
            for gram in &of_word {
                grams.entry(*gram).or_default().push(Arc::clone(&word));
            }
            for (sets, gathered) in [(&mut names, in_names), (&mut descriptions, in_descriptions)] {
                if let Some(set) = gathered.into_set() {
                    sets.push((Arc::clone(&word), set));
                }
            }
        }
        Self::assemble(names, descriptions, move || {
            let mut grams: Vec<(Gram, Vector<Arc<str>>)> = grams
                .into_iter()
                .map(|(gram, words)| (gram, Vector::from(words)))
                .collect();
            grams.sort_unstable_by_key(|(gram, _)| *gram);
            packed(grams)
        })
    }

    /// The index as a saved one holds it (see `saved`): each field's words and their sets
    /// (`names` in ascending word order), and each sequence's words by their place in `names`,
    /// then in `descriptions`. A word in both fields is held once. `None` when a place names
    /// no word.
    pub(super) fn restore(
        names: Vec<(Arc<str>, DocSet)>,
        mut descriptions: Vec<(Arc<str>, DocSet)>,
        grams: Vec<(Gram, Vec<u32>)>,
    ) -> Option<Self> {
        for (word, _) in &mut descriptions {
            if let Ok(at) = names.binary_search_by(|(name, _)| name.cmp(word))
                && let Some((name, _)) = names.get(at)
            {
                *word = Arc::clone(name);
            }
        }
        let limit = u32::try_from(names.len() + descriptions.len()).unwrap_or(u32::MAX);
        if grams.iter().any(|(_, at)| {
            !at.is_sorted_by(|a, b| a < b) || at.last().is_some_and(|at| *at >= limit)
        }) {
            return None;
        }
        let grams = {
            let words: Vec<&Arc<str>> = names.iter().chain(&descriptions).map(|(w, _)| w).collect();
            // Each sequence's words listed a block of words at a time, every sequence's in
            // turn: the words' counts then change in one stretch of memory at a time (in
            // sequence order, they changed all over it: a cache miss each, millions of them).
            const BLOCK: u32 = 1 << 15;
            // Each sequence, the places of its words still to list, and those listed.
            let mut lists: Vec<(Gram, &[u32], Vec<_>)> = grams
                .iter()
                .map(|(gram, at)| (*gram, at.as_slice(), Vec::with_capacity(at.len())))
                .collect();
            let mut end = 0;
            while end < limit {
                end = end.saturating_add(BLOCK);
                for (_, at, list) in &mut lists {
                    let taken = at.partition_point(|at| *at < end);
                    let (now, later) = at.split_at(taken);
                    list.extend(
                        now.iter()
                            .filter_map(|at| words.get(usize::try_from(*at).ok()?))
                            .map(|word| Arc::clone(word)),
                    );
                    *at = later;
                }
            }
            packed(
                lists
                    .into_iter()
                    .map(|(gram, _, list)| (gram, Vector::from(list)))
                    .collect(),
            )
        };
        Some(Self::assemble(names, descriptions, move || grams))
    }

    /// Each sequence's words by their place in the names' words (in ascending order), then in
    /// the descriptions': what [`WordIndex::restore`] takes back.
    pub(super) fn saved_grams(&self) -> Vec<(Gram, Vec<u32>)> {
        let mut places: foldhash::HashMap<&str, u32> = foldhash::HashMap::default();
        for (at, word) in (0u32..).zip(self.names.keys().chain(self.descriptions.keys())) {
            places.entry(&**word).or_insert(at);
        }
        self.grams
            .iter()
            .map(|(gram, words)| {
                let mut at: Vec<u32> = words
                    .iter()
                    .filter_map(|word| places.get(&**word).copied())
                    .collect();
                at.sort_unstable();
                (*gram, at)
            })
            .collect()
    }

    /// Each field's words and sets as maps (on a thread of their own) and the sequences'
    /// map `grams` makes.
    fn assemble(
        names: Vec<(Arc<str>, DocSet)>,
        descriptions: Vec<(Arc<str>, DocSet)>,
        grams: impl FnOnce() -> OrdMap<Gram, Vector<Arc<str>>>,
    ) -> Self {
        std::thread::scope(|scope| {
            let words = scope.spawn(|| {
                [names, descriptions].map(|mut sets| {
                    sets.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                    packed(sets)
                })
            });
            let grams = grams();
            let [names, descriptions] = join(words);
            Self {
                names,
                descriptions,
                grams,
            }
        })
    }

    /// Each field's words with their items, the words in order (for tests).
    #[cfg(test)]
    pub(super) fn listed(&self) -> [Vec<(String, Vec<Doc>)>; 2] {
        self.fields().map(|field| {
            field
                .iter()
                .map(|(word, set)| (word.to_string(), set.iter().collect()))
                .filter(|(_, docs): &(String, Vec<Doc>)| !docs.is_empty())
                .collect()
        })
    }

    /// The items of each word in names, and in descriptions (see the fields).
    pub(super) fn fields(&self) -> [&Words; 2] {
        [&self.names, &self.descriptions]
    }

    pub(super) fn insert(&mut self, doc: Doc, item: &CatalogItem) {
        let mut lower = String::new();
        let [name, description] = item_words(item, &mut lower);
        for (field, words) in [(Field::Name, name), (Field::Description, description)] {
            for word in words {
                if let Some(set) = self.field_mut(field).get_mut(word) {
                    set.insert(doc);
                    continue;
                }
                let seen = self.names.contains_key(word) || self.descriptions.contains_key(word);
                let word: Arc<str> = Arc::from(word);
                if !seen {
                    let mut of_word = Vec::new();
                    word_grams(&word, &mut of_word);
                    for gram in of_word {
                        self.grams
                            .entry(gram)
                            .or_default()
                            .push_back(Arc::clone(&word));
                    }
                }
                let mut set = DocSet::default();
                set.insert(doc);
                self.field_mut(field).insert(word, set);
            }
        }
    }

    pub(super) fn remove(&mut self, doc: Doc, item: &CatalogItem) {
        let mut lower = String::new();
        let [name, description] = item_words(item, &mut lower);
        for (field, words) in [(Field::Name, name), (Field::Description, description)] {
            for word in words {
                if let Some(set) = self.field_mut(field).get_mut(word) {
                    set.remove(doc);
                }
            }
        }
    }

    fn field_mut(&mut self, field: Field) -> &mut Words {
        match field {
            Field::Name => &mut self.names,
            Field::Description => &mut self.descriptions,
        }
    }

    /// The sets of the items holding `word` in `fields`.
    fn word_sets<'a: 'f, 'f>(
        word: &'f str,
        fields: &'f [&'a Words],
    ) -> impl Iterator<Item = &'a DocSet> + 'f {
        fields.iter().filter_map(move |field| field.get(word))
    }

    /// The sets of the items holding a word starting with `prefix` in `fields`: one range of
    /// each word map, read with its sets (none when `prefix` is two letters held by more than
    /// [`MOST_WORDS`] words, as [`WordIndex::holding`] counts them).
    fn prefixed<'a>(&'a self, prefix: &str, fields: &[&'a Words]) -> Option<Vec<&'a DocSet>> {
        let mut letters = prefix.chars();
        if let (Some(a), Some(b), None) = (letters.next(), letters.next(), letters.next()) {
            self.two_letters(a, b, false)?;
        }
        let mut sets = Vec::new();
        for field in fields {
            let from: (Bound<&str>, Bound<&str>) = (Bound::Included(prefix), Bound::Unbounded);
            sets.extend(
                field
                    .range::<_, str>(from)
                    .take_while(|(word, _)| word.starts_with(prefix))
                    .map(|(_, set)| set),
            );
        }
        Some(sets)
    }

    /// The word lists of the sequences starting with letters `a` and `b`: every word holding
    /// them (with `ends`, only the list of the sequence that ends a word: the words ending with
    /// them); none when they list more than [`MOST_WORDS`] words, counted by the lists' lengths
    /// without reading them.
    fn two_letters(&self, a: char, b: char, ends: bool) -> Option<Vec<&Vector<Arc<str>>>> {
        let [a, b] = [a, b].map(|c| u64::from(u32::from(c)));
        let lists: Vec<&Vector<Arc<str>>> = if ends {
            self.grams.get(&pack(a, b, END)).into_iter().collect()
        } else {
            self.grams
                .range(pack(a, b, 0)..=pack(a, b, END))
                .map(|(_, words)| words)
                .collect()
        };
        (lists.iter().map(|words| words.len()).sum::<usize>() <= MOST_WORDS).then_some(lists)
    }

    /// The sets of the items holding a word that may hold `piece` (none when it cannot be
    /// looked up). With a separator before and after it, `piece` is the item's word; with one
    /// before it, it starts the word, and the words starting with it are read as ranges of the
    /// word maps ([`WordIndex::prefixed`]); otherwise the sequence index lists the words
    /// ([`WordIndex::holding`]), each then looked up.
    ///
    /// Only the words of `fields` are looked up.
    fn piece_sets<'a>(&'a self, piece: Piece<'_>, fields: &[&'a Words]) -> Option<Vec<&'a DocSet>> {
        match (piece.starts, piece.ends) {
            (true, true) => Some(Self::word_sets(piece.word, fields).collect()),
            (true, false) if piece.word.chars().nth(1).is_some() => {
                self.prefixed(piece.word, fields)
            }
            _ => Some(
                self.holding(piece)?
                    .into_iter()
                    .flat_map(|word| Self::word_sets(word, fields))
                    .collect(),
            ),
        }
    }

    /// The items that may hold `q` (a superset of the matches) and whether it is exact; none
    /// when `q` has no word to look up: none of two letters or more (or between separators),
    /// or only two-letter ones held by more than [`MOST_WORDS`] words.
    pub(super) fn candidates(&self, q: &str, limit: Doc) -> Option<(Mask, bool)> {
        let (pieces, exact) = self.candidate_sets(q)?;
        Some((Mask::intersection(limit, pieces)?, exact))
    }

    /// [`WordIndex::candidates`] as the sets whose union each word of `q` that can be looked
    /// up lets through: the candidates are in every one of those unions.
    pub(super) fn candidate_sets(&self, q: &str) -> Option<(Vec<Vec<&DocSet>>, bool)> {
        let fields = self.fields();
        let pieces: Vec<Vec<&DocSet>> = pieces(q)
            .into_iter()
            .filter_map(|piece| self.piece_sets(piece, &fields))
            .collect();
        (!pieces.is_empty()).then(|| (pieces, exact(q)))
    }

    /// The known words that may hold `piece`, when it can be looked up: from its rarest
    /// sequence when it has three letters or more, else from the sequences its two letters
    /// start (none when they are held by more than [`MOST_WORDS`] words, or it is one letter).
    fn holding<'a>(&'a self, piece: Piece<'a>) -> Option<Vec<&'a str>> {
        let mut letters = piece.word.chars();
        let (Some(a), Some(b)) = (letters.next(), letters.next()) else {
            return None;
        };
        if letters.next().is_some() {
            let end = piece.ends.then(|| end_gram(piece.word)).flatten();
            return Some(
                self.rarest(grams(piece.word).into_iter().chain(end))
                    .filter(|word| piece.fits(word))
                    .collect(),
            );
        }
        // Two letters: every word holding them holds a sequence starting with them.
        let lists = self.two_letters(a, b, piece.ends)?;
        // A word holding the two letters twice is listed under two sequences, and so given
        // twice: its items join the mask once all the same.
        Some(
            lists
                .into_iter()
                .flatten()
                .map(|word| &**word)
                .filter(|word| piece.fits(word))
                .collect(),
        )
    }

    /// The sets of items that place `q` in each match tier (see
    /// [`Filter::tier`](super::Filter::tier)), when the index knows them exactly: when `q` is
    /// one word of three letters or more. `q` is then a whole word of a text that holds it as
    /// a word, starts a word of a text with a word that starts with it, and is elsewhere in a
    /// text with a word that holds it elsewhere. An item's tier is the first that holds it
    /// (the name's come first).
    pub(super) fn placements(&self, q: &str) -> Option<Vec<Vec<&DocSet>>> {
        if !exact(q) {
            return None;
        }
        let mut placed: Vec<Vec<&DocSet>> = (0..TIERS).map(|_| Vec::new()).collect();
        let anywhere = Piece {
            word: q,
            starts: false,
            ends: false,
        };
        for word in self.holding(anywhere).unwrap_or_default() {
            let placement = if word == q {
                0
            } else if word.starts_with(q) {
                1
            } else {
                2
            };
            for (offset, field) in [(0, &self.names), (3, &self.descriptions)] {
                if let (Some(set), Some(sets)) =
                    (field.get(word), placed.get_mut(placement + offset))
                    && !set.is_empty()
                {
                    sets.push(set);
                }
            }
        }
        Some(placed)
    }

    /// For a `q` the index does not answer exactly (see [`WordIndex::placements`]), a superset
    /// of the items in match tier `tier`: the intersection of these unions of sets, one union
    /// for each word of `q` that can be looked up (none when no word can: any item may be in
    /// it). An empty union leaves the tier empty.
    ///
    /// An item placing `q` at a word's start (tiers 0, 1, 3 and 4) holds a word starting with
    /// `q`'s first word there (`q` starts inside no word); one placing it at a word's end too
    /// (tiers 0 and 3), a word ending with its last. The name's tiers look in the names' words
    /// only; the description's in both fields, since a word of both is held under the name.
    pub(super) fn tier_within<'a>(&'a self, q: &'a str, tier: u8) -> Option<Vec<Vec<&'a DocSet>>> {
        let placement = tier % 3;
        let names = [&self.names];
        let both = self.fields();
        let fields: &[&Words] = if tier < 3 { &names } else { &both };
        let mut found = pieces(q);
        if let Some(first) = found.first_mut() {
            first.starts |= placement <= 1;
        }
        if let Some(last) = found.last_mut() {
            last.ends |= placement == 0;
        }
        let unions: Vec<Vec<&DocSet>> = found
            .into_iter()
            .filter_map(|piece| self.piece_sets(piece, fields))
            .collect();
        (!unions.is_empty()).then_some(unions)
    }

    /// The words held under the rarest of `grams` (none if one is unknown).
    fn rarest(&self, grams: impl Iterator<Item = Gram>) -> impl Iterator<Item = &str> {
        grams
            .map(|gram| self.grams.get(&gram))
            .min_by_key(|words| words.map_or(0, Vector::len))
            .flatten()
            .into_iter()
            .flat_map(|words| words.iter())
            .map(|word| &**word)
    }
}

/// Whether the word index answers `q` exactly: `q` is one word of three letters or more.
fn exact(q: &str) -> bool {
    q.chars().nth(2).is_some() && q.chars().all(char::is_alphanumeric)
}

#[derive(Clone, Copy)]
enum Field {
    Name,
    Description,
}
