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
