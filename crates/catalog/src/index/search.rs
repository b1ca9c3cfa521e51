//! The word index behind `q`: the items holding each word of their (lowercased) name or
//! description, and the words holding each three-letter sequence.
//!
//! `q` matches an item when it is a substring of the name or of the description. Every word of
//! `q` (a run of letters and digits) then lies inside one word of the item's text, so the items
//! holding, for each word of `q` of three letters or more, some word that contains it, are a
//! superset of the matches: found through the sequence index without looking at any item.
//! When `q` is one word and nothing else, that superset is exact; otherwise each of its items
//! is tested. A `q` without such a word is tested against every item.

use std::sync::Arc;

use imbl::{HashMap, Vector};

use super::CatalogItem;
use super::bits::{Doc, DocSet, Mask};

/// A three-letter sequence, packed.
type Gram = u64;

#[derive(Debug, Clone, Default)]
pub(super) struct WordIndex {
    /// The items holding each word. A word stays once seen (its set may empty), so the
    /// sequence index never lists a word twice.
    words: HashMap<Arc<str>, DocSet>,
    /// The words holding each sequence.
    grams: HashMap<Gram, Vector<Arc<str>>>,
}

/// The words of a lowercased text: its runs of letters and digits.
pub(super) fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
}

/// The distinct words of an item's name and description.
fn item_words(item: &CatalogItem) -> Vec<&str> {
    let mut all: Vec<&str> = words(&item.name_key)
        .chain(words(&item.description_key))
        .collect();
    all.sort_unstable();
    all.dedup();
    all
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
        for word in item_words(item) {
            if let Some(set) = self.words.get_mut(word) {
                set.insert(doc);
                continue;
            }
            let word: Arc<str> = Arc::from(word);
            for gram in grams(&word) {
                self.grams
                    .entry(gram)
                    .or_default()
                    .push_back(Arc::clone(&word));
            }
            let mut set = DocSet::default();
            set.insert(doc);
            self.words.insert(word, set);
        }
    }

    pub(super) fn remove(&mut self, doc: Doc, item: &CatalogItem) {
        for word in item_words(item) {
            if let Some(set) = self.words.get_mut(word) {
                set.remove(doc);
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
                if let Some(set) = self.words.get(word) {
                    mask.add(set);
                }
            }
            match &mut found {
                Some(found) => found.and(&mask),
                None => found = Some(mask),
            }
        }
        let exact = looked_up.len() == 1 && looked_up.first() == Some(&q);
        found.map(|mask| (mask, exact))
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
