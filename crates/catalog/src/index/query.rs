//! What a catalog read asks for ([`BrowseQuery`]: filters, order, cursor, size) and what it
//! gets back ([`BrowsePage`]), and how a model is ranked against a search ([`Filter::tier`]).

use std::sync::Arc;

use uuid::Uuid;

use super::CatalogItem;
use super::search::separates;

/// The order of a catalog listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sort {
    /// Newest share first (the default without `q`).
    #[default]
    SharedAt,
    /// By name, case-insensitive, A to Z.
    Name,
    /// Most endpoints first.
    Endpoints,
    /// Best match of `q` first (see [`Filter::tier`]), then newest share first. Without `q`
    /// every model is in the first tier, so the order is that of [`Sort::SharedAt`].
    Relevance,
}

/// Where an item sits in one sort; a page's cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SortKey {
    SharedAt(i64, Uuid),
    Name(String, Uuid),
    Endpoints(i64, Uuid),
    /// The match tier, then the item's place in the newest-first order.
    Relevance(u8, i64, Uuid),
}

impl SortKey {
    pub fn sort(&self) -> Sort {
        match self {
            Self::SharedAt(..) => Sort::SharedAt,
            Self::Name(..) => Sort::Name,
            Self::Endpoints(..) => Sort::Endpoints,
            Self::Relevance(..) => Sort::Relevance,
        }
    }
}

/// Filters of `GET /v1/catalog/models` (and of the facets): all given ones must hold; of the
/// values given for one exact field, any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    /// Case-insensitive substring of the name or of the description (already lowercased).
    pub q: Option<String>,
    pub architecture: Vec<String>,
    pub license: Vec<String>,
    pub tag: Vec<String>,
    pub min_parameters: Option<i64>,
    pub max_parameters: Option<i64>,
    pub min_context_length: Option<i64>,
    pub max_context_length: Option<i64>,
}

/// The form of an exact-match value (architecture, license, tag) that the filters compare and
/// the inverted indexes are keyed by: ASCII case does not count.
pub(crate) fn facet_key(value: &str) -> String {
    value.to_ascii_lowercase()
}

/// The number of match tiers: whole word, word prefix and substring, in the name then in the
/// description.
pub const TIERS: u8 = 6;

/// The facet filters: each facet ignores its own when it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Architecture,
    License,
    Tag,
    Parameters,
    ContextLength,
}

impl Part {
    pub(crate) const ALL: [Part; 5] = [
        Part::Architecture,
        Part::License,
        Part::Tag,
        Part::Parameters,
        Part::ContextLength,
    ];
}

impl Filter {
    pub(crate) fn matches(&self, item: &CatalogItem) -> bool {
        self.matches_search(item) && self.matches_parts(item)
    }

    /// Whether `q` (if any) is in the name or the description.
    pub(crate) fn matches_search(&self, item: &CatalogItem) -> bool {
        self.q
            .as_deref()
            .is_none_or(|q| item.name_key.contains(q) || Folded::holds(&item.description, q))
    }

    /// Whether the item passes every facet filter (all but `q`).
    fn matches_parts(&self, item: &CatalogItem) -> bool {
        let any = |want: &[String], have: Option<&str>| {
            want.is_empty() || have.is_some_and(|h| want.iter().any(|w| w.eq_ignore_ascii_case(h)))
        };
        let within = |value: Option<i64>, min: Option<i64>, max: Option<i64>| {
            (min.is_none() && max.is_none())
                || value.is_some_and(|v| min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m))
        };
        any(&self.architecture, item.architecture.as_deref())
            && any(&self.license, item.license.as_deref())
            && (self.tag.is_empty()
                || item
                    .tags
                    .iter()
                    .any(|have| self.tag.iter().any(|w| w.eq_ignore_ascii_case(have))))
            && within(
                item.parameter_count,
                self.min_parameters,
                self.max_parameters,
            )
            && within(
                item.context_length,
                self.min_context_length,
                self.max_context_length,
            )
    }

    /// How well the item matches `q`, best first: 0 when `q` is a whole word (or run of words)
    /// of the name, 1 when it starts a word of the name, 2 when it is elsewhere in the name, and
    /// 3, 4, 5 likewise in the description. None when `q` is in neither; 0 without `q`.
    pub fn tier(&self, item: &CatalogItem) -> Option<u8> {
        self.q
            .as_deref()
            .map_or(Some(0), |q| Needle::new(q).tier(item))
    }
}

/// A lowercased `q` made ready to be placed in many texts: its searcher built once.
pub(crate) struct Needle<'q> {
    q: &'q str,
    finder: memchr::memmem::Finder<'q>,
    /// Whether `q` has an ASCII letter (whose case an ASCII text may differ in).
    letter: bool,
    /// Whether `q` begins, and ends, with a character that is not a letter or digit: then
    /// whatever is next to an occurrence, it starts (ends) a word.
    starts: bool,
    ends: bool,
}

impl<'q> Needle<'q> {
    pub(crate) fn new(q: &'q str) -> Self {
        Needle {
            q,
            finder: memchr::memmem::Finder::new(q),
            letter: has_letter(q),
            starts: !in_word(q.chars().next()),
            ends: !in_word(q.chars().next_back()),
        }
    }

    pub(crate) fn q(&self) -> &'q str {
        self.q
    }

    /// The item's [`Filter::tier`] for this `q`.
    pub(crate) fn tier(&self, item: &CatalogItem) -> Option<u8> {
        self.placement(&Folded::Lower(&item.name_key)).or_else(|| {
            self.placement(&Folded::new(&item.description))
                .map(|t| t + 3)
        })
    }

    /// Whether the item's [`Filter::tier`] is `tier`: for a tier of the name, without reading
    /// the description (most models a walk of such a tier tests hold `q` in neither).
    pub(crate) fn in_tier(&self, item: &CatalogItem, tier: u8) -> bool {
        if tier < 3 {
            self.placement(&Folded::Lower(&item.name_key)) == Some(tier)
        } else {
            self.tier(item) == Some(tier)
        }
    }

    /// Where `q` first occurs in `folded` at or after byte `from`.
    fn find_from(&self, folded: &Folded<'_>, from: usize) -> Option<usize> {
        let rest = folded.text().as_bytes().get(from..)?;
        let found = match folded {
            Folded::Ascii(_) if self.letter => find_ignoring_ascii_case(rest, self.q.as_bytes()),
            // Without a letter in `q`, case cannot matter.
            Folded::Lower(_) | Folded::Lowered(_) | Folded::Ascii(_) => self.finder.find(rest),
        };
        found.map(|at| from + at)
    }

    /// The best placement of `q` in `folded`: 0 whole word, 1 word prefix, 2 anywhere; none if
    /// absent. An occurrence starts a word unless it begins inside one: unless both the letter
    /// before it and `q`'s first are a letter or digit (so `-12` is a whole word of `cat-12`);
    /// it ends one likewise.
    fn placement(&self, folded: &Folded<'_>) -> Option<u8> {
        if self.q.is_empty() {
            return Some(0);
        }
        let text = folded.text();
        let mut best: Option<u8> = None;
        let mut from = 0;
        // Every occurrence, overlapping ones too: the best placement may be a later one.
        while let Some(at) = self.find_from(folded, from) {
            let starts = self.starts || !in_word(text[..at].chars().next_back());
            let ends = self.ends || !in_word(text[at + self.q.len()..].chars().next());
            let tier = match (starts, ends) {
                (true, true) => 0,
                (true, false) => 1,
                _ => 2,
            };
            best = Some(best.map_or(tier, |b: u8| b.min(tier)));
            if tier == 0 {
                break;
            }
            from = at + text[at..].chars().next().map_or(1, char::len_utf8);
        }
        best
    }
}

/// A text as a lowercased `q` is looked for in it: lowercased. The description's lowercased
/// form is not kept (a hundred bytes per item): an ASCII text is searched as it is, ignoring
/// ASCII case (lowercasing it would move no byte), and any other is lowercased for the search.
#[derive(Debug)]
pub(crate) enum Folded<'a> {
    /// Already lowercase.
    Lower(&'a str),
    /// ASCII, in any case.
    Ascii(&'a str),
    Lowered(String),
}

impl<'a> Folded<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        if text.is_ascii() {
            Folded::Ascii(text)
        } else {
            Folded::Lowered(text.to_lowercase())
        }
    }

    /// The text, in its own case when ASCII (letters and digits are the same in both).
    fn text(&self) -> &str {
        match self {
            Folded::Lower(text) | Folded::Ascii(text) => text,
            Folded::Lowered(text) => text,
        }
    }

    /// Whether `text` lowercased holds `q` (lowercased). Lowercasing changes no ASCII digit or
    /// punctuation and makes none, so a `q` of only those is looked for in `text` as it is.
    pub(crate) fn holds(text: &str, q: &str) -> bool {
        if q.is_ascii() && !has_letter(q) {
            return text.contains(q);
        }
        Folded::new(text).contains(q)
    }

    pub(crate) fn contains(&self, q: &str) -> bool {
        match self {
            Folded::Ascii(text) if has_letter(q) => {
                find_ignoring_ascii_case(text.as_bytes(), q.as_bytes()).is_some()
            }
            // `str::contains`: vectorized for short needles, where `find` is not.
            Folded::Lower(text) | Folded::Ascii(text) => text.contains(q),
            Folded::Lowered(text) => text.contains(q),
        }
    }
}

/// Whether `c` is a character of a word (see [`separates`]); none is not.
fn in_word(c: Option<char>) -> bool {
    c.is_some_and(|c| !separates(c))
}

/// Whether `q` has an ASCII letter (whose case an ASCII text may differ in).
fn has_letter(q: &str) -> bool {
    q.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Where `needle` (lowercase) first occurs in `hay` (ASCII) ignoring ASCII case: each place
/// holding its first byte in either case (found by `memchr2`, many bytes at a time) is compared
/// whole. A `needle` that is not ASCII is never found, as no window of `hay` equals it.
fn find_ignoring_ascii_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((first, rest)) = needle.split_first() else {
        return Some(0);
    };
    let starts = hay.get(..=hay.len().checked_sub(needle.len())?)?;
    memchr::memchr2_iter(
        first.to_ascii_lowercase(),
        first.to_ascii_uppercase(),
        starts,
    )
    .find(|at| {
        hay.get(at + 1..at + needle.len())
            .is_some_and(|window| window.eq_ignore_ascii_case(rest))
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrowseQuery {
    pub filter: Filter,
    pub sort: Sort,
    /// The previous page's cursor; its sort must equal `sort`.
    pub after: Option<SortKey>,
    pub limit: usize,
}

/// One page of a listing. A page may hold fewer than `limit` items while `next` is set: the
/// read examined as many models as one page may (see [`examine_bound`](super::examine_bound))
/// before it filled the page, and `next` points after the last model it examined.
#[derive(Debug, Clone)]
pub struct BrowsePage {
    pub items: Vec<Arc<CatalogItem>>,
    /// Where the next page starts, when models remain after this one: the key of the last item,
    /// or of the last model examined when the page stopped at the bound.
    pub next: Option<SortKey>,
    /// The catalog's [`generation`](crate::Catalog::generation) the page was read at.
    pub generation: u64,
    /// How many models the read tested against the filters (never more than the bound).
    pub examined: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_searched_as_if_lowercased() {
        let pieces = [
            "Qwen", "qwen", "CODER", "-", " ", "7B", "é", "É", "ΣΑΣ", "ß", "İ", "x",
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut pick = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % u64::try_from(n).unwrap()).unwrap()
        };
        for _ in 0..3_000 {
            let text: String = (0..pick(8)).map(|_| pieces[pick(pieces.len())]).collect();
            let q: String = (0..1 + pick(3))
                .map(|_| pieces[pick(pieces.len())])
                .collect::<String>()
                .to_lowercase();
            let lower = text.to_lowercase();
            let folded = Folded::new(&text);
            assert_eq!(folded.contains(&q), lower.contains(&q), "{text:?} {q:?}");
            assert_eq!(
                Folded::holds(&text, &q),
                lower.contains(&q),
                "{text:?} {q:?}"
            );
            let needle = Needle::new(&q);
            assert_eq!(
                needle.placement(&folded),
                needle.placement(&Folded::Lower(&lower)),
                "{text:?} {q:?}"
            );
        }
    }
}
