//! One actor per model: share and unshare of that model, one at a time, each to completion.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use actix::{Actor, ActorFutureExt, Addr, AtomicResponse, Context, Handler, Message, WrapFuture};
use auth::{Denial, PolicyChains, Principal};
use domain::{ErrorCode, ModelId, ShareAction, now};
use storage::{CatalogRow, Model, Store, Transition, TransitionOutcome};
use tracing::Instrument;

use crate::handle::{ShareError, Transitioned, refusal_error};
use crate::public::{PublicCatalog, Update};
use crate::tail::LocalEvents;

/// How often a transition is retried when another instance changed the model in between.
const MAX_ATTEMPTS: usize = 16;

pub(crate) struct ModelActor {
    pub(crate) id: ModelId,
    pub(crate) store: Store,
    pub(crate) chains: Arc<PolicyChains>,
    pub(crate) public: Addr<PublicCatalog>,
    pub(crate) live: Arc<AtomicUsize>,
    /// Transitions that found the model changed under them (another process wrote first).
    pub(crate) stale_writes: Arc<AtomicU64>,
    /// Messages that started while another of this actor's was still running. The mailbox is
    /// held by `AtomicResponse`, so this stays 0; it is counted to prove it, not to cope with it.
    pub(crate) overlaps: Arc<AtomicU64>,
    /// A transition of this model is running.
    pub(crate) busy: bool,
    /// Events this process wrote (and already applied); the outbox tailer skips them.
    pub(crate) local_events: Arc<LocalEvents>,
}

impl Actor for ModelActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        self.live.fetch_add(1, Ordering::SeqCst);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        tracing::trace!(model_id = %self.id, "model actor stopped");
    }
}

/// Share or unshare, on behalf of a principal.
pub(crate) struct Apply {
    pub(crate) action: ShareAction,
    pub(crate) principal: Principal,
    pub(crate) request_id: String,
}

impl Message for Apply {
    type Result = Result<Transitioned, ShareError>;
}

impl Handler<Apply> for ModelActor {
    // AtomicResponse: no other message of this actor runs until this one has finished.
    type Result = AtomicResponse<Self, Result<Transitioned, ShareError>>;

    fn handle(&mut self, msg: Apply, _ctx: &mut Self::Context) -> Self::Result {
        if self.busy {
            self.overlaps.fetch_add(1, Ordering::Relaxed);
            tracing::error!(model_id = %self.id, "transitions of one model overlapped");
        }
        self.busy = true;
        let span =
            tracing::info_span!("transition", request_id = %msg.request_id, model_id = %self.id);
        let work = apply(
            self.id,
            self.store.clone(),
            Arc::clone(&self.chains),
            self.public.clone(),
            Arc::clone(&self.stale_writes),
            Arc::clone(&self.local_events),
            msg,
        )
        .instrument(span);
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, actor, _| {
            actor.busy = false;
            result
        })))
    }
}

async fn apply(
    id: ModelId,
    store: Store,
    chains: Arc<PolicyChains>,
    public: Addr<PublicCatalog>,
    stale_writes: Arc<AtomicU64>,
    local_events: Arc<LocalEvents>,
    msg: Apply,
) -> Result<Transitioned, ShareError> {
    let principal = &msg.principal;
    for _ in 0..MAX_ATTEMPTS {
        let model = store
            .get_model(id)
            .await?
            .filter(|m| m.project_id == principal.project_id);
        chains
            .evaluate(msg.action, principal, model.as_ref(), &store)
            .await
            .map_err(refusal_error)?;
        let Some(model) = model else {
            return Err(not_found());
        };
        match (msg.action, model.shared) {
            // Idempotent share: the original sharedAt, no new event.
            (ShareAction::Share, true) => return Ok(Transitioned::unchanged(&model)),
            (ShareAction::Unshare, false) => {
                return Err(ShareError::Denied {
                    policy: "currently_shared".into(),
                    denial: Denial::new(ErrorCode::ModelNotShared, "The model is not shared."),
                });
            }
            _ => {}
        }
        let outcome = store
            .apply_transition(Transition {
                model_id: id,
                expected_version: model.version,
                action: msg.action,
                at: now(),
                actor_user_id: Some(principal.user_id),
                api_key_id: Some(principal.api_key_id),
                request_id: msg.request_id.clone(),
            })
            .await?;
        match outcome {
            TransitionOutcome::Applied { model, event } => {
                local_events.insert(event.id);
                publish(&store, &public, &model, &principal.project_name).await;
                tracing::info!(action = %msg.action, event_id = event.id, "transition committed");
                return Ok(Transitioned::changed(&model));
            }
            // Another instance wrote first: start over from what it wrote.
            TransitionOutcome::Stale => {
                stale_writes.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
    }
    Err(ShareError::Contended)
}

/// Applies a committed transition to the public catalog before the caller is answered.
async fn publish(store: &Store, public: &Addr<PublicCatalog>, model: &Model, owner_name: &str) {
    let endpoint_count = if model.shared {
        // Read after the commit; an endpoint change racing with it corrects it with its own update.
        store
            .count_endpoints_for_model(model.id)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "endpoint count unavailable; catalog shows 0");
                0
            })
    } else {
        0
    };
    let update = Update::Apply(Box::new(CatalogRow {
        model: model.clone(),
        owner_name: owner_name.to_owned(),
        endpoint_count,
    }));
    if public.send(update).await.is_err() {
        tracing::error!(model_id = %model.id, "public catalog actor is gone");
    }
}

fn not_found() -> ShareError {
    ShareError::Denied {
        policy: "model_exists".into(),
        denial: Denial::model_not_found(),
    }
}
