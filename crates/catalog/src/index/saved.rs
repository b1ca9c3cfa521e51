//! A catalog index as bytes, and back: what a start-up checkpoint holds (see the crate's
//! `checkpoint` module for the file and when it may be trusted).
//!
//! It holds what is slow to work out again at a million models, not only the items: each
//! order as its sequence of item numbers (no sort on the way back) and the items of every word
//! (no word of any text read again). The inverted indexes of the other fields and the word
//! sequences are made again from the items and words: that is fast, and one rule fewer to keep
//! in two places. Items are numbered again without gaps, in their numbers' order, so every
//! saved set of numbers stays ascending.
//!
//! Nothing read is trusted: a number out of range, an order out of order or a set out of
//! ascending order is [`Corrupt`], and the caller loads from the database instead.

use std::sync::Arc;

use domain::{ModelId, ProjectId, Timestamp};
use uuid::Uuid;

use super::CatalogIndex;
use super::bits::{Doc, DocSet};
use super::item::{CatalogItem, Interner, Rendered};
use super::runs::Runs;
use super::search::{WordIndex, lowercase_into};
use super::snapshot::{Placed, Snapshot, join};

/// What was read does not make an index (cut short, or not written by this code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("saved catalog index is corrupt: {0}")]
pub(crate) struct Corrupt(pub(crate) &'static str);

/// How many sections a saved index has: the items, the versions, the orders, the words'
/// sets, the words' sequences.
pub(crate) const SECTIONS: usize = 5;

/// Where [`encode`] writes a saved index's sections, a little at a time: a saved index is
/// never whole in memory (hundreds of MB at a million models, on a running service).
pub(crate) trait Sink {
    /// The next bytes of the current section.
    fn take(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// The current section is complete; the next bytes are the next section's.
    fn end_section(&mut self) -> std::io::Result<()>;
}

/// The bytes a [`Sink`] is given at once, about.
const SPILL: usize = 1 << 20;

/// Bytes gathered for a [`Sink`], handed on a [`SPILL`] at a time.
struct Spill<'a, S: Sink> {
    out: Vec<u8>,
    sink: &'a mut S,
}

impl<S: Sink> Spill<'_, S> {
    /// Hands the bytes on once there are enough.
    fn check(&mut self) -> std::io::Result<()> {
        if self.out.len() >= SPILL {
            self.sink.take(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    fn end_section(&mut self) -> std::io::Result<()> {
        self.sink.take(&self.out)?;
        self.out.clear();
        self.sink.end_section()
    }
}

/// A saved index's head: its item count and generation (what [`decode`] reads first).
pub(crate) fn head(snapshot: &Snapshot) -> Vec<u8> {
    let mut head = Vec::new();
    put_len(&mut head, snapshot.len());
    put_u64(&mut head, snapshot.generation);
    head
}

/// Writes `snapshot` (and the `versions` its writer applied) to `sink`, section by section:
/// the items, the versions, the orders, the words' sets, the words' sequences.
pub(crate) fn encode(
    snapshot: &Snapshot,
    versions: &[(ModelId, i64)],
    sink: &mut impl Sink,
) -> std::io::Result<()> {
    // Each number in use, in order, gets the next number from 0.
    let mut renumbered = vec![Doc::MAX; snapshot.slots().len()];
    let mut count: Doc = 0;
    for (slot, item) in renumbered.iter_mut().zip(snapshot.slots()) {
        if item.is_some() {
            *slot = count;
            count += 1;
        }
    }
    let new = |doc: Doc| {
        usize::try_from(doc)
            .ok()
            .and_then(|d| renumbered.get(d))
            .copied()
            .unwrap_or(Doc::MAX)
    };
    let mut spill = Spill {
        out: Vec::with_capacity(SPILL * 2),
        sink,
    };
    for item in snapshot.all() {
        put_item(&mut spill.out, item);
        spill.check()?;
    }
    spill.end_section()?;
    put_len(&mut spill.out, versions.len());
    for (id, version) in versions {
        spill.out.extend_from_slice(id.as_uuid().as_bytes());
        put_i64(&mut spill.out, *version);
        spill.check()?;
    }
    spill.end_section()?;
    let orders: [&mut dyn Iterator<Item = &Placed>; 3] = [
        &mut snapshot.by_shared_at.values(),
        &mut snapshot.by_name.values(),
        &mut snapshot.by_endpoints.values(),
    ];
    for order in orders {
        for placed in order {
            put_u32(&mut spill.out, new(placed.doc));
            spill.check()?;
        }
    }
    spill.end_section()?;
    for field in snapshot.words.fields() {
        put_len(&mut spill.out, field.len());
        for (word, set) in field {
            put_str(&mut spill.out, word);
            put_len(&mut spill.out, set.len());
            set.iter().for_each(|doc| put_u32(&mut spill.out, new(doc)));
            spill.check()?;
        }
    }
    spill.end_section()?;
    let grams = snapshot.words.saved_grams();
    put_len(&mut spill.out, grams.len());
    for (gram, words) in grams {
        put_u64(&mut spill.out, gram);
        put_len(&mut spill.out, words.len());
        words.into_iter().for_each(|at| put_u32(&mut spill.out, at));
        spill.check()?;
    }
    spill.end_section()
}

/// The index saved with `head`, each of whose sections `section` reads (by its place, on the
/// thread that needs it): the words and the versions on threads of their own while this one
/// reads the items; then the orders and the inverted indexes are made, on several.
pub(crate) fn decode<E>(
    head: &[u8],
    section: impl Fn(usize) -> Result<Vec<u8>, E> + Sync,
) -> Result<CatalogIndex, E>
where
    E: From<Corrupt> + Send,
{
    let mut r = Reader::new(head);
    let count = r.u32()?;
    let generation = r.u64()?;
    r.end()?;
    let section = &section;
    std::thread::scope(|scope| {
        let words = scope.spawn(move || {
            let (words, grams) = (section(3)?, section(4)?);
            Ok::<_, E>(read_words(&words, &grams, count)?)
        });
        let versions = scope.spawn(move || Ok::<_, E>(read_versions(&section(1)?)?));
        let (items, shared) = read_items(&section(0)?, count)?;
        let orders = {
            let bytes = section(2)?;
            let mut r = Reader::new(&bytes);
            let orders = [(); 3].map(|()| r.docs(count, count));
            r.end()?;
            let [a, b, c] = orders;
            [a?, b?, c?]
        };
        let words = scope.spawn(move || join(words));
        let current = restore(&items, orders, generation, words)?;
        Ok(CatalogIndex {
            versions: join(versions)?,
            shared,
            current,
            changed: None,
        })
    })
}

fn read_items(bytes: &[u8], count: u32) -> Result<(Vec<Arc<CatalogItem>>, Interner), Corrupt> {
    let mut r = Reader::new(bytes);
    let mut shared = Interner::default();
    let mut items = Vec::with_capacity(r.capacity(count, 60));
    let mut lower = String::new();
    let mut project: Option<ProjectId> = None;
    for _ in 0..count {
        items.push(Arc::new(r.item(&mut shared, &mut lower, &mut project)?));
    }
    r.end()?;
    Ok((items, shared))
}

fn read_versions(bytes: &[u8]) -> Result<foldhash::HashMap<ModelId, i64>, Corrupt> {
    let mut r = Reader::new(bytes);
    let count = r.u32()?;
    let mut versions = foldhash::HashMap::default();
    versions.reserve(r.capacity(count, 24));
    for _ in 0..count {
        let id = r.model_id()?;
        versions.insert(id, r.i64()?);
    }
    r.end()?;
    Ok(versions)
}

/// The word index saved in `words` and `grams`, its sets checked against `count` items.
fn read_words(words: &[u8], grams: &[u8], count: u32) -> Result<WordIndex, Corrupt> {
    let mut r = Reader::new(words);
    let mut fields: [Vec<(Arc<str>, DocSet)>; 2] = Default::default();
    for field in &mut fields {
        let words = r.u32()?;
        let mut held = Vec::with_capacity(r.capacity(words, 8));
        for _ in 0..words {
            let word: Arc<str> = Arc::from(r.str()?);
            let len = r.u32()?;
            let set = if len == 1 {
                // Most words are in one item: no list to make.
                let doc = r.u32()?;
                if doc >= count {
                    return Err(Corrupt("an item number out of range"));
                }
                DocSet::from_ascending(&[doc])
            } else {
                let docs = r.docs(len, count)?;
                if !docs.is_sorted_by(|a, b| a < b) {
                    return Err(Corrupt("a set is out of order"));
                }
                DocSet::from_ascending(&docs)
            };
            held.push((word, set));
        }
        *field = held;
    }
    r.end()?;
    let mut r = Reader::new(grams);
    let count = r.u32()?;
    let mut sequences = Vec::with_capacity(r.capacity(count, 12));
    for _ in 0..count {
        let gram = r.u64()?;
        let len = r.u32()?;
        sequences.push((gram, r.docs(len, u32::MAX)?));
    }
    r.end()?;
    let [names, descriptions] = fields;
    WordIndex::restore(names, descriptions, sequences).ok_or(Corrupt("a sequence names no word"))
}

/// The snapshot of `items` (numbered in the order given), its orders as saved and the word
/// index `words` gives; the other inverted indexes are made from the items.
fn restore<'scope, E: From<Corrupt>>(
    items: &'scope [Arc<CatalogItem>],
    [by_shared_at, by_name, by_endpoints]: [Vec<Doc>; 3],
    generation: u64,
    words: std::thread::ScopedJoinHandle<'scope, Result<WordIndex, E>>,
) -> Result<Snapshot, E> {
    fn order<K: Ord + Clone>(
        items: &[Arc<CatalogItem>],
        docs: &[Doc],
        key: fn(&CatalogItem) -> K,
    ) -> Result<Runs<K, Placed>, Corrupt> {
        let mut keyed: Vec<(K, Placed)> = Vec::with_capacity(docs.len());
        for doc in docs {
            let item = usize::try_from(*doc)
                .ok()
                .and_then(|d| items.get(d))
                .ok_or(Corrupt("an order names no item"))?;
            let k = key(item);
            // Keys are unique: strictly ascending keys, as many as items, are every item once.
            if keyed.last().is_some_and(|(last, _)| *last >= k) {
                return Err(Corrupt("an order is out of order"));
            }
            let placed = Placed {
                doc: *doc,
                item: Arc::clone(item),
            };
            keyed.push((k, placed));
        }
        Ok(Runs::from_sorted(keyed))
    }
    std::thread::scope(|scope| {
        let shared_at = scope.spawn(|| order(items, &by_shared_at, CatalogItem::shared_at_key));
        let endpoints = scope.spawn(|| order(items, &by_endpoints, CatalogItem::endpoints_key));
        let by_name = scope.spawn(|| order(items, &by_name, CatalogItem::name_key));
        let mut built = Snapshot::from_items(items);
        if built.len() != items.len() {
            return Err(Corrupt("an item is there twice").into());
        }
        built.generation = generation;
        built.by_name = join(by_name)?;
        built.by_shared_at = join(shared_at)?;
        built.by_endpoints = join(endpoints)?;
        built.words = join(words)?;
        Ok(built)
    })
}

fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(&n.to_le_bytes());
}

/// A length; no collection of the catalog comes near 2³² entries (item numbers are `u32`).
fn put_len(out: &mut Vec<u8>, len: usize) {
    put_u32(out, u32::try_from(len).unwrap_or(u32::MAX));
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            put_str(out, text);
        }
    }
}

fn put_opt_i64(out: &mut Vec<u8>, n: Option<i64>) {
    match n {
        None => out.push(0),
        Some(n) => {
            out.push(1);
            put_i64(out, n);
        }
    }
}

fn put_item(out: &mut Vec<u8>, item: &CatalogItem) {
    out.extend_from_slice(item.model_id.as_uuid().as_bytes());
    put_str(out, &item.name);
    put_str(out, &item.description);
    put_opt_str(out, item.architecture.as_deref());
    put_opt_i64(out, item.parameter_count);
    put_opt_i64(out, item.context_length);
    put_opt_str(out, item.license.as_deref());
    put_len(out, item.tags.len());
    item.tags.iter().for_each(|tag| put_str(out, tag));
    put_str(out, item.owner_project_id.as_str());
    put_str(out, &item.owner_name);
    put_i64(out, item.shared_at.as_datetime().timestamp());
    put_i64(out, item.endpoint_count);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// Whether every byte was read.
    fn end(&self) -> Result<(), Corrupt> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(Corrupt("bytes after the end"))
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Corrupt> {
        let end = self.at.checked_add(n).ok_or(Corrupt("cut short"))?;
        let taken = self.bytes.get(self.at..end).ok_or(Corrupt("cut short"))?;
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corrupt> {
        self.take(N)?.try_into().map_err(|_| Corrupt("cut short"))
    }

    fn u8(&mut self) -> Result<u8, Corrupt> {
        self.array::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Result<u32, Corrupt> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, Corrupt> {
        self.array().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, Corrupt> {
        self.array().map(i64::from_le_bytes)
    }

    /// Room for `count` entries, unless the bytes left cannot hold them (at least
    /// `least_bytes` each): a corrupt count must not reserve gigabytes.
    fn capacity(&self, count: u32, least_bytes: usize) -> usize {
        let left = self.bytes.len().saturating_sub(self.at) / least_bytes.max(1);
        usize::try_from(count).unwrap_or(usize::MAX).min(left)
    }

    fn str(&mut self) -> Result<&'a str, Corrupt> {
        let len = usize::try_from(self.u32()?).map_err(|_| Corrupt("cut short"))?;
        std::str::from_utf8(self.take(len)?).map_err(|_| Corrupt("text is not UTF-8"))
    }

    fn opt_str(&mut self) -> Result<Option<&'a str>, Corrupt> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            _ => Err(Corrupt("bad option tag")),
        }
    }

    fn opt_i64(&mut self) -> Result<Option<i64>, Corrupt> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.i64().map(Some),
            _ => Err(Corrupt("bad option tag")),
        }
    }

    fn model_id(&mut self) -> Result<ModelId, Corrupt> {
        Ok(ModelId::from_uuid(Uuid::from_bytes(self.array()?)))
    }

    /// `len` item numbers, ascending where they are a set's (any order is checked by its
    /// caller), each below `limit`.
    fn docs(&mut self, len: u32, limit: Doc) -> Result<Vec<Doc>, Corrupt> {
        let bytes = self.take(usize::try_from(len).map_err(|_| Corrupt("cut short"))? * 4)?;
        let docs: Vec<Doc> = bytes
            .chunks_exact(4)
            .map(|b| b.try_into().map_or(Doc::MAX, u32::from_le_bytes))
            .collect();
        if docs.iter().any(|doc| *doc >= limit) {
            return Err(Corrupt("an item number out of range"));
        }
        Ok(docs)
    }

    /// An item; `lower` and `project` are the reader's (a buffer, and the last owner read:
    /// items of one owner are mostly read one after the other).
    fn item(
        &mut self,
        shared: &mut Interner,
        lower: &mut String,
        project: &mut Option<ProjectId>,
    ) -> Result<CatalogItem, Corrupt> {
        let model_id = self.model_id()?;
        let name = self.str()?;
        let description = self.str()?;
        let architecture = self.opt_str()?.map(|a| shared.share(a));
        let parameter_count = self.opt_i64()?;
        let context_length = self.opt_i64()?;
        let license = self.opt_str()?.map(|l| shared.share(l));
        let tag_count = self.u32()?;
        let mut tags = Vec::with_capacity(self.capacity(tag_count, 4));
        for _ in 0..tag_count {
            tags.push(shared.share(self.str()?));
        }
        let owner = self.str()?;
        let owner_project_id = match project {
            Some(last) if last.as_str() == owner => last.clone(),
            _ => {
                let id = ProjectId::parse(owner).map_err(|_| Corrupt("bad project id"))?;
                project.insert(shared.share_project(id)).clone()
            }
        };
        let owner_name = shared.share(self.str()?);
        let shared_at = chrono::DateTime::from_timestamp(self.i64()?, 0)
            .map(Timestamp::from_datetime)
            .ok_or(Corrupt("bad time"))?;
        let endpoint_count = self.i64()?;
        lowercase_into(name, lower);
        Ok(CatalogItem {
            // As `CatalogItem::from_row_shared` makes them, one after the other.
            name_key: Arc::from(lower.as_str()),
            description: Box::from(description),
            model_id,
            name: name.to_owned(),
            architecture,
            parameter_count,
            context_length,
            license,
            tags: tags.into(),
            owner_project_id,
            owner_name,
            shared_at,
            endpoint_count,
            rendered: Rendered::default(),
        })
    }
}
