//! The public-catalog actor: the only writer of the in-memory catalog. It owns the index, applies
//! each change to it, and publishes the resulting snapshot for readers, who load it without a
//! lock: a read never waits for this actor, and this actor never waits for a read.

use std::sync::Arc;

use actix::{Actor, Context, Handler, Message};
use arc_swap::ArcSwap;
use domain::ModelId;
use storage::CatalogRow;

use crate::index::{CatalogIndex, Saving, Snapshot};

pub(crate) struct PublicCatalog {
    pub(crate) index: CatalogIndex,
    /// What readers see: the index's snapshot as of the last change.
    pub(crate) published: Arc<ArcSwap<Snapshot>>,
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
        let before = self.index.generation();
        match update {
            Update::Apply(row) => {
                self.index.apply(*row);
            }
            Update::Endpoints { model_id, delta } => self.index.adjust_endpoints(model_id, delta),
        }
        // The generation moves on with every change a reader can see; the reply (and so the
        // model actor's answer to its client) comes after the publication.
        if self.index.generation() != before {
            self.published.store(self.index.snapshot());
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
        let index = &self.index;
        let shown = index.current();
        let mut suspects: Vec<ModelId> = truth
            .iter()
            .filter(|(id, version)| {
                shown.get(**id).is_none() || index.version(**id).is_none_or(|v| v < **version)
            })
            .map(|(id, _)| *id)
            .collect();
        suspects.extend(shown.ids().filter(|id| !truth.contains_key(id)));
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
        let before = self.index.generation();
        self.index.apply(*row);
        let changed = self.index.generation() != before;
        if changed {
            self.published.store(self.index.snapshot());
        }
        changed
    }
}

/// The index as a start-up checkpoint saves it.
pub(crate) struct TakeSaving;

impl Message for TakeSaving {
    type Result = Saving;
}

impl Handler<TakeSaving> for PublicCatalog {
    type Result = actix::MessageResult<TakeSaving>;

    fn handle(&mut self, _: TakeSaving, _ctx: &mut Self::Context) -> Self::Result {
        actix::MessageResult(self.index.saving())
    }
}

/// Starts (true) or stops (false) noting which models change, around the read of the endpoint
/// counts for [`SetEndpoints`] (see `CatalogIndex::watch_changes`); stopped when the read fails.
pub(crate) struct WatchChanges(pub(crate) bool);

impl Message for WatchChanges {
    type Result = ();
}

impl Handler<WatchChanges> for PublicCatalog {
    type Result = ();

    fn handle(&mut self, WatchChanges(on): WatchChanges, _ctx: &mut Self::Context) {
        if on {
            self.index.watch_changes();
        } else {
            self.index.stop_watching();
        }
    }
}

/// Every shared model's endpoint count as read from the database (models with none left
/// out); answers how many items changed.
pub(crate) struct SetEndpoints(pub(crate) foldhash::HashMap<ModelId, i64>);

impl Message for SetEndpoints {
    type Result = usize;
}

impl Handler<SetEndpoints> for PublicCatalog {
    type Result = usize;

    fn handle(&mut self, SetEndpoints(counts): SetEndpoints, _ctx: &mut Self::Context) -> usize {
        let changed = self.index.set_endpoints(&counts);
        if changed > 0 {
            self.published.store(self.index.snapshot());
        }
        changed
    }
}
