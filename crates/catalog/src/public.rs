//! The public-catalog actor: the only writer of the in-memory catalog.

use std::sync::{Arc, PoisonError, RwLock};

use actix::{Actor, Context, Handler, Message};
use domain::ModelId;
use storage::CatalogRow;

use crate::index::CatalogIndex;

pub(crate) struct PublicCatalog {
    pub(crate) index: Arc<RwLock<CatalogIndex>>,
}

impl Actor for PublicCatalog {
    type Context = Context<Self>;
}

/// A change to apply.
pub(crate) enum Update {
    /// A model's state as read from the database (after a local transition, or from the outbox).
    Apply(Box<CatalogRow>),
    Endpoints {
        model_id: ModelId,
        delta: i64,
    },
}

impl Message for Update {
    type Result = ();
}

impl Handler<Update> for PublicCatalog {
    type Result = ();

    fn handle(&mut self, update: Update, _ctx: &mut Self::Context) {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        match update {
            Update::Apply(row) => {
                index.apply(*row);
            }
            Update::Endpoints { model_id, delta } => index.adjust_endpoints(model_id, delta),
        }
    }
}

/// The models whose catalog entry disagrees with `truth` (every shared model's id and
/// version, read from the database): shared there but missing or older here, or here but not
/// shared there.
pub(crate) struct Suspects(pub(crate) std::collections::HashMap<ModelId, i64>);

impl Message for Suspects {
    type Result = Vec<ModelId>;
}

impl Handler<Suspects> for PublicCatalog {
    type Result = Vec<ModelId>;

    fn handle(&mut self, Suspects(truth): Suspects, _ctx: &mut Self::Context) -> Vec<ModelId> {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        let mut suspects: Vec<ModelId> = truth
            .iter()
            .filter(|(id, version)| {
                index.get(**id).is_none() || index.version(**id).is_none_or(|v| v < **version)
            })
            .map(|(id, _)| *id)
            .collect();
        suspects.extend(index.ids().filter(|id| !truth.contains_key(id)));
        suspects
    }
}

/// A freshly read model, applied; answers whether the catalog changed.
pub(crate) struct Repair(pub(crate) Box<CatalogRow>);

impl Message for Repair {
    type Result = bool;
}

impl Handler<Repair> for PublicCatalog {
    type Result = bool;

    fn handle(&mut self, Repair(row): Repair, _ctx: &mut Self::Context) -> bool {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let before = index.generation();
        index.apply(*row);
        index.generation() != before
    }
}
