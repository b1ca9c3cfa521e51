//! [`CatalogItem`]: one shared model as the public sees it, with its lazily rendered wire form,
//! and the [`Interner`] that lets items share their common values.

use std::sync::{Arc, OnceLock};

use domain::{ModelId, ProjectId, Timestamp};
use storage::CatalogRow;

/// A shared model as the public sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogItem {
    pub model_id: ModelId,
    pub name: String,
    pub description: Box<str>,
    // The values many models have in common (architecture, licence, tags, owner name) are
    // shared text: see [`Interner`].
    pub architecture: Option<Arc<str>>,
    pub parameter_count: Option<i64>,
    pub context_length: Option<i64>,
    pub license: Option<Arc<str>>,
    pub tags: Box<[Arc<str>]>,
    pub owner_project_id: ProjectId,
    pub owner_name: Arc<str>,
    pub shared_at: Timestamp,
    pub endpoint_count: i64,
    /// Lowercased name: the item's place in the name order (shared, so a key costs no copy),
    /// and what `q` is looked for in.
    pub(super) name_key: Arc<str>,
    /// The item's wire form, rendered on first use (see [`CatalogItem::rendered`]).
    pub(super) rendered: Rendered,
}

/// A lazily rendered form of an item. Items never change once in the index (a change replaces
/// the item), so what is rendered stays true; a clone (the start of a changed item) starts
/// empty, and the cache takes no part in equality.
#[derive(Debug, Default)]
pub(super) struct Rendered(OnceLock<Box<str>>);

impl Clone for Rendered {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for Rendered {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Rendered {}

impl CatalogItem {
    /// The item of a row, its values shared with no other item (see
    /// `from_row_shared`).
    pub fn from_row(row: CatalogRow) -> Self {
        Self::from_row_shared(row, &mut Interner::default())
    }

    /// The item of a row, its common values taken from (or added to) `shared`.
    pub(crate) fn from_row_shared(row: CatalogRow, shared: &mut Interner) -> Self {
        let m = row.model;
        Self {
            // The two texts a search reads, allocated one after the other (fields are made in
            // the order written): a search walking many items then misses the cache once per
            // item, not twice.
            name_key: Arc::from(m.name.to_lowercase()),
            description: Box::from(m.description.as_str()),
            model_id: m.id,
            name: m.name,
            architecture: m.architecture.as_deref().map(|a| shared.share(a)),
            parameter_count: m.parameter_count,
            context_length: m.context_length,
            license: m.license.as_deref().map(|l| shared.share(l)),
            tags: m.tags.iter().map(|t| shared.share(t)).collect(),
            owner_project_id: shared.share_project(m.project_id),
            owner_name: shared.share(&row.owner_name),
            shared_at: m.shared_at.unwrap_or(m.updated_at),
            endpoint_count: row.endpoint_count,
            rendered: Rendered::default(),
        }
    }

    /// The item's wire form: `render`'s output on the first call, kept for every later one
    /// (pages are then built by concatenation, without cloning or serializing items again).
    /// Every caller must pass the same renderer.
    pub fn rendered(&self, render: impl FnOnce(&Self) -> String) -> &str {
        self.rendered
            .0
            .get_or_init(|| render(self).into_boxed_str())
    }
}

/// The values items have in common, each held once: a million models have a few hundred
/// architectures, licences, tags and owners (names and project ids), and one copy of each per model would cost
/// hundreds of MB. Values no item holds any more are dropped now and then (when the set has
/// doubled since the last time), so the set stays the size of what is in use.
#[derive(Debug)]
pub(crate) struct Interner {
    values: foldhash::HashSet<Arc<str>>,
    prune_at: usize,
    /// The owners' project ids, kept for good: one per project that ever shared a model.
    projects: foldhash::HashSet<ProjectId>,
}

/// The least size of the [`Interner`] at which it looks for values no longer in use.
const PRUNE_FLOOR: usize = 4_096;

impl Default for Interner {
    fn default() -> Self {
        Self {
            values: foldhash::HashSet::default(),
            prune_at: PRUNE_FLOOR,
            projects: foldhash::HashSet::default(),
        }
    }
}

impl Interner {
    /// The shared copy of `text`.
    pub(crate) fn share(&mut self, text: &str) -> Arc<str> {
        if let Some(value) = self.values.get(text) {
            return Arc::clone(value);
        }
        if self.values.len() >= self.prune_at {
            // The set's own reference is the last one of a value no item holds.
            self.values.retain(|value| Arc::strong_count(value) > 1);
            self.prune_at = (self.values.len() * 2).max(PRUNE_FLOOR);
        }
        let value: Arc<str> = Arc::from(text);
        self.values.insert(Arc::clone(&value));
        value
    }

    /// The shared copy of a project id.
    pub(crate) fn share_project(&mut self, id: ProjectId) -> ProjectId {
        if let Some(shared) = self.projects.get(&id) {
            return shared.clone();
        }
        self.projects.insert(id.clone());
        id
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_values_are_held_once_and_dropped_when_unused() {
        let mut interner = Interner::default();
        let first = interner.share("llama");
        let second = interner.share("llama");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(&*first, "llama");
        // Values nobody keeps pile up until the set has to grow, then go.
        for n in 1..PRUNE_FLOOR {
            drop(interner.share(&format!("tag-{n}")));
        }
        assert_eq!(interner.len(), PRUNE_FLOOR);
        let kept = interner.share("qwen");
        assert_eq!(
            interner.len(),
            2,
            "llama and qwen are held, the tags are not"
        );
        assert!(Arc::ptr_eq(&interner.share("llama"), &first));
        assert!(Arc::ptr_eq(&interner.share("qwen"), &kept));
    }
}
