//! The word index behind `q`: the items holding each word of their (lowercased) name, the
//! items holding it in their description but not their name, and the words holding each
//! three-letter sequence.
//!
//! `q` matches an item when it is a substring of the name or of the description. Every word of
//! `q` (a run of letters and digits) then lies inside one word of the item's text, so the items
//! holding, for each word of `q` of three letters or more, some word that contains it, are a
//! superset of the matches: found through the sequence index without looking at any item.
//! When `q` is one word and nothing else, that superset is exact, and so is each item's match
//! tier (see [`WordIndex::placements`]); otherwise each candidate is tested. A `q` without such a
//! word is tested against every item.
//!
//! Each (word, item) pair is held once: a word of the name is not held again for the
//! description, so keeping name and description apart costs no more than one index of both.

use std::sync::Arc;

use imbl::{HashMap, Vector};

use super::CatalogItem;
use super::bits::{Doc, DocSet, Mask};
use super::query::TIERS;

/// A three-letter sequence, packed.
type Gram = u64;

#[derive(Debug, Clone, Default)]
pub(super) struct WordIndex {
    /// The items holding each word in their name.
    names: HashMap<Arc<str>, DocSet>,
    /// The items holding each word in their description and not in their name.
    descriptions: HashMap<Arc<str>, DocSet>,
    /// The words holding each sequence. A word stays once seen (its sets may empty), so this
    /// never lists a word twice.
    grams: HashMap<Gram, Vector<Arc<str>>>,
}

/// The words of a lowercased text: its runs of letters and digits.
pub(super) fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
}

/// The distinct words of an item's name, and those of its description not in the name.
fn item_words(item: &CatalogItem) -> [Vec<&str>; 2] {
    let distinct = |text| {
        let mut all: Vec<&str> = words(text).collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let name = distinct(&item.name_key);
    let mut description = distinct(&item.description_key);
    description.retain(|word| name.binary_search(word).is_err());
    [name, description]
}

/// The three-letter sequences of `word`.
fn grams(word: &str) -> Vec<Gram> {
    let chars: Vec<u64> = word.chars().map(|c| u64::from(u32::from(c))).collect();
    let mut grams: Vec<Gram> = chars
        .windows(3)
        .filter_map(|w| match w {
            [a, b, c] => Some(a << 42 | b << 21 | c),
            _ => None,
        })
        .collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

impl WordIndex {
    pub(super) fn insert(&mut self, doc: Doc, item: &CatalogItem) {
        let [name, description] = item_words(item);
        for (field, words) in [(Field::Name, name), (Field::Description, description)] {
            for word in words {
                if let Some(set) = self.field_mut(field).get_mut(word) {
                    set.insert(doc);
                    continue;
                }
                let seen = self.names.contains_key(word) || self.descriptions.contains_key(word);
                let word: Arc<str> = Arc::from(word);
                if !seen {
                    for gram in grams(&word) {
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
        let [name, description] = item_words(item);
        for (field, words) in [(Field::Name, name), (Field::Description, description)] {
            for word in words {
                if let Some(set) = self.field_mut(field).get_mut(word) {
                    set.remove(doc);
                }
            }
        }
    }

    fn field_mut(&mut self, field: Field) -> &mut HashMap<Arc<str>, DocSet> {
        match field {
            Field::Name => &mut self.names,
            Field::Description => &mut self.descriptions,
        }
    }

    /// The items holding `word` in either field, added to `mask`.
    fn add_word(&self, word: &str, mask: &mut Mask) {
        for field in [&self.names, &self.descriptions] {
            if let Some(set) = field.get(word) {
                mask.add(set);
            }
        }
    }

    /// The items that may hold `q` (a superset of the matches) and whether it is exact; none
    /// when `q` has no word of three letters or more to look up.
    pub(super) fn candidates(&self, q: &str, limit: Doc) -> Option<(Mask, bool)> {
        let looked_up: Vec<&str> = words(q).filter(|w| w.chars().nth(2).is_some()).collect();
        let mut found: Option<Mask> = None;
        for part in &looked_up {
            let mut mask = Mask::empty(limit);
            for word in self.containing(part) {
                self.add_word(word, &mut mask);
            }
            Mask::narrow(&mut found, mask);
        }
        found.map(|mask| (mask, exact(q)))
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
        for word in self.containing(q) {
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

    /// The known words holding `part` (three letters or more), from its rarest sequence.
    fn containing<'a>(&'a self, part: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let rarest = grams(part)
            .into_iter()
            .map(|gram| self.grams.get(&gram))
            .min_by_key(|words| words.map_or(0, Vector::len))
            .flatten();
        rarest
            .into_iter()
            .flat_map(|words| words.iter())
            .map(|word| &**word)
            .filter(move |word| word.contains(part))
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
