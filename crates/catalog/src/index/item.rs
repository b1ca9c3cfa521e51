//! [`CatalogItem`]: one shared model as the public sees it, with its lazily rendered wire form.

use std::sync::{Arc, OnceLock};

use domain::{ModelId, ProjectId, Timestamp};
use storage::CatalogRow;

/// A shared model as the public sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogItem {
    pub model_id: ModelId,
    pub name: String,
    pub description: String,
    pub architecture: Option<String>,
    pub parameter_count: Option<i64>,
    pub context_length: Option<i64>,
    pub license: Option<String>,
    pub tags: Vec<String>,
    pub owner_project_id: ProjectId,
    pub owner_name: String,
    pub shared_at: Timestamp,
    pub endpoint_count: i64,
    /// Lowercased description, for `q`.
    pub(super) description_key: Box<str>,
    /// Lowercased name: the item's place in the name order (shared, so a key costs no copy),
    /// and what `q` is looked for in.
    pub(super) name_key: Arc<str>,
    /// The item's wire form, rendered on first use (see [`CatalogItem::rendered`]).
    rendered: Rendered,
}

/// A lazily rendered form of an item. Items never change once in the index (a change replaces
/// the item), so what is rendered stays true; a clone (the start of a changed item) starts
/// empty, and the cache takes no part in equality.
#[derive(Debug, Default)]
struct Rendered(OnceLock<Box<str>>);

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
    pub fn from_row(row: CatalogRow) -> Self {
        let m = row.model;
        Self {
            description_key: m.description.to_lowercase().into_boxed_str(),
            name_key: Arc::from(m.name.to_lowercase()),
            model_id: m.id,
            name: m.name,
            description: m.description,
            architecture: m.architecture,
            parameter_count: m.parameter_count,
            context_length: m.context_length,
            license: m.license,
            tags: m.tags,
            owner_project_id: m.project_id,
            owner_name: row.owner_name,
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
