//! One actor per model: share and unshare of that model, one at a time, each to completion.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use actix::{Actor, ActorFutureExt, Addr, AtomicResponse, Context, Handler, Message, WrapFuture};
use arc_swap::ArcSwap;
use auth::{Permit, PolicyChains, Principal, Refusal, Standing};
use domain::{ModelId, ScheduleId, ShareAction, now};
use storage::{CatalogRow, Model, Store, Transition, TransitionOutcome};
use tracing::Instrument;

use crate::outcome::{ShareError, Transitioned, refusal_error};
use crate::public::{PublicCatalog, Update};
use crate::tail::{Announcer, LocalEvents, TailStats, publish_fresh};

/// How often a transition is retried when another instance changed the model in between.
const MAX_ATTEMPTS: usize = 16;

/// What every model actor works with: one per catalog, shared by all its actors.
pub(crate) struct ActorContext {
    pub(crate) store: Store,
    /// The policy chains in force; a reload swaps them whole ([`crate::Catalog::replace_chains`]).
    /// A transition loads them once and decides on that one value, retries included.
    pub(crate) chains: ArcSwap<PolicyChains>,
    pub(crate) public: Addr<PublicCatalog>,
    /// Model actors alive.
    pub(crate) live: AtomicUsize,
    /// Transitions that found the model changed under them (another process wrote first).
    pub(crate) stale_writes: AtomicU64,
    /// Messages that started while another of the same actor's was still running. The mailbox
    /// is held by `AtomicResponse`, so this stays 0; tests count it to prove it (the
    /// `test-support` feature), the service does not.
    #[cfg(feature = "test-support")]
    pub(crate) overlaps: AtomicU64,
    /// Events this process wrote (and already applied); the outbox tailer skips them.
    pub(crate) local_events: Arc<LocalEvents>,
    pub(crate) announcer: Arc<Announcer>,
    /// Notified after each transition this process commits (the webhook engine waits on it).
    pub(crate) committed: Arc<tokio::sync::Notify>,
    pub(crate) stats: Arc<TailStats>,
}

pub(crate) struct ModelActor {
    pub(crate) id: ModelId,
    pub(crate) context: Arc<ActorContext>,
    /// A transition of this model is running (counted by tests only, see `overlaps`).
    #[cfg(feature = "test-support")]
    pub(crate) busy: bool,
    /// The model as this actor last wrote or read it; see [`apply`].
    pub(crate) remembered: Option<Model>,
}

impl Actor for ModelActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        self.context.live.fetch_add(1, Ordering::SeqCst);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.context.live.fetch_sub(1, Ordering::SeqCst);
        tracing::trace!(model_id = %self.id, "model actor stopped");
    }
}

/// Share or unshare, on behalf of a principal.
pub(crate) struct Apply {
    /// The chains this transition is decided by, loaded once when it was asked for.
    pub(crate) chains: Arc<PolicyChains>,
    pub(crate) action: ShareAction,
    pub(crate) principal: Principal,
    pub(crate) origin: Origin,
}

/// What asked for a transition, as its share event records it.
pub(crate) struct Origin {
    /// The request's id as echoed to the client; a schedule's id for a scheduled run.
    pub(crate) request_id: String,
    /// The id the service gave the request itself (none for a scheduled run).
    pub(crate) server_request_id: Option<String>,
    /// The schedule being run, if any.
    pub(crate) schedule_id: Option<ScheduleId>,
}

impl Origin {
    /// A request's own transition.
    pub(crate) fn request(request_id: &str, server_request_id: &str) -> Self {
        Self {
            request_id: request_id.to_owned(),
            server_request_id: Some(server_request_id.to_owned()),
            schedule_id: None,
        }
    }
}

impl Message for Apply {
    type Result = Result<Transitioned, ShareError>;
}

impl Handler<Apply> for ModelActor {
    // AtomicResponse: no other message of this actor runs until this one has finished.
    type Result = AtomicResponse<Self, Result<Transitioned, ShareError>>;

    fn handle(&mut self, msg: Apply, _ctx: &mut Self::Context) -> Self::Result {
        #[cfg(feature = "test-support")]
        {
            if self.busy {
                self.context.overlaps.fetch_add(1, Ordering::Relaxed);
            }
            self.busy = true;
        }
        let span = tracing::info_span!("transition", request_id = %msg.origin.request_id, model_id = %self.id);
        let work = apply(
            self.id,
            Arc::clone(&self.context),
            msg,
            self.remembered.take(),
        )
        .instrument(span);
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(result, remembered), actor, _| {
                #[cfg(feature = "test-support")]
                {
                    actor.busy = false;
                }
                actor.remembered = remembered;
                result
            },
        )))
    }
}

/// Runs one share or unshare to completion. Returns the result and the model's state as now
/// known (`None` when unknown), which the actor keeps for its next message.
///
/// A remembered state saves the read of the model, but only a write is ever decided on it:
/// the write's compare-and-set (`expected_version`) proves it current, and every change of a
/// model bumps its version, so a stale memory costs one failed write and a fresh read. A
/// denial, a 404 or a no-op is always decided on a fresh read.
async fn apply(
    id: ModelId,
    cx: Arc<ActorContext>,
    msg: Apply,
    mut remembered: Option<Model>,
) -> (Result<Transitioned, ShareError>, Option<Model>) {
    let mut writes = 0;
    loop {
        let (model, fresh) = match remembered.take() {
            Some(model) => (Some(model), false),
            None => match cx.store.get_model(id).await {
                Ok(model) => (model, true),
                Err(err) => return (Err(err.into()), None),
            },
        };
        let (version, permit) = match decide(&cx, &msg, id, model.as_ref(), fresh).await {
            Decision::Reread => continue,
            Decision::Answer(result) => return (result, model),
            Decision::Write { version, permit } => (version, permit),
        };
        if writes == MAX_ATTEMPTS {
            return (Err(ShareError::Contended), None);
        }
        writes += 1;
        match write(&cx, &msg, id, version, &permit).await {
            Wrote::Committed(done, now) => return (done, Some(now)),
            Wrote::Refused(refusal) => return (Err(refusal_error(refusal)), model),
            Wrote::Failed(err) => return (Err(err), None),
            // The model changed since it was read or remembered (another instance wrote
            // first, or the memory was old): start over from a fresh read.
            Wrote::Stale if fresh => {
                cx.stale_writes.fetch_add(1, Ordering::Relaxed);
            }
            Wrote::Stale => {}
        }
    }
}

/// What to do with the model as read (or remembered).
enum Decision {
    /// Read the model again: only a write is decided on a remembered state.
    Reread,
    /// Answer without writing.
    Answer(Result<Transitioned, ShareError>),
    /// Write the transition if the model is still at `version`, under the chain's `permit`.
    Write { version: i64, permit: Permit },
}

/// The chain, then the model's [`Standing`], on `model`.
async fn decide(
    cx: &ActorContext,
    msg: &Apply,
    id: ModelId,
    model: Option<&Model>,
    fresh: bool,
) -> Decision {
    let standing = Standing::of(msg.action, &msg.principal, model);
    let checked = msg
        .chains
        .permit(msg.action, &msg.principal, standing.visible(), &cx.store)
        .await;
    let permit = match (checked, standing) {
        (Ok(permit), Standing::Changes(current)) => {
            return Decision::Write {
                version: current.version,
                permit,
            };
        }
        _ if !fresh => return Decision::Reread,
        (checked, _) => checked,
    };
    if let Standing::AlreadyDone(_) = standing {
        // Already in the state asked for (a no-op share, or an unshare refused with
        // `model_not_shared`), decided on a fresh read.
        cx.republish(id).await;
    }
    let answer = match (permit, standing) {
        (Err(refusal), _) => Err(refusal_error(refusal)),
        // Idempotent share: the original sharedAt, no new event.
        (Ok(_), Standing::AlreadyDone(current)) if msg.action == ShareAction::Share => {
            Transitioned::unchanged(current)
        }
        (Ok(_), standing) => Err(refusal_error(
            standing
                .refusal(msg.action)
                .unwrap_or_else(Refusal::model_not_found),
        )),
    };
    Decision::Answer(answer)
}

/// How a write ended.
#[allow(
    clippy::large_enum_variant,
    reason = "one per write, matched at once: boxing the row would only cost an allocation"
)]
enum Wrote {
    /// Committed and published: the answer, and the model's new row.
    Committed(Result<Transitioned, ShareError>, Model),
    /// The write's own guard refused (the model is as it was read).
    Refused(Refusal),
    /// The database failed: the model's state is unknown.
    Failed(ShareError),
    /// The model was no longer at the version read: nothing written.
    Stale,
}

/// Writes the transition of `msg` on the model at `version`, and publishes it before returning.
async fn write(
    cx: &ActorContext,
    msg: &Apply,
    id: ModelId,
    version: i64,
    permit: &Permit,
) -> Wrote {
    let principal = &msg.principal;
    let outcome = cx
        .store
        .apply_transition(Transition {
            model_id: id,
            expected_version: version,
            action: msg.action,
            at: now(),
            actor_user_id: Some(principal.user_id),
            api_key_id: Some(principal.api_key_id),
            request_id: msg.origin.request_id.clone(),
            server_request_id: msg.origin.server_request_id.clone(),
            schedule_id: msg.origin.schedule_id,
            guards: permit.guards(),
        })
        .await;
    match outcome {
        Err(err) => Wrote::Failed(err.into()),
        Ok(TransitionOutcome::Applied {
            model,
            event,
            endpoint_count,
        }) => {
            cx.local_events.insert(event.id);
            publish(&cx.public, &model, &principal.project_name, endpoint_count).await;
            cx.announcer.poke();
            cx.committed.notify_one();
            tracing::info!(action = %msg.action, event_id = event.id, "transition committed");
            Wrote::Committed(Transitioned::changed(&model), model)
        }
        // The write's own count found the account full (concurrent shares of other models
        // passed the chain's count too): the policy's refusal. The model is as it was.
        Ok(TransitionOutcome::LimitReached { guard, shared }) => {
            Wrote::Refused(permit.refusal(guard, shared))
        }
        Ok(TransitionOutcome::Stale) => Wrote::Stale,
    }
}

impl ActorContext {
    /// The database says this model is already in the state asked for: make sure the catalog
    /// says so too before answering (it may have missed an event), so that an owner never sees
    /// "not shared" while the catalog still lists the model, nor the reverse. The update is
    /// version-gated, so a catalog that is right does not change.
    async fn republish(&self, id: ModelId) {
        if let Err(err) = publish_fresh(&self.store, &self.public, &self.stats, id).await {
            tracing::debug!(error = %err, "catalog not refreshed for a no-op transition");
        }
    }
}

/// Applies a committed transition to the public catalog before the caller is answered.
async fn publish(
    public: &Addr<PublicCatalog>,
    model: &Model,
    owner_name: &str,
    endpoint_count: i64,
) {
    let update = Update::Apply(Box::new(CatalogRow {
        model: model.clone(),
        owner_name: owner_name.to_owned(),
        endpoint_count,
    }));
    if public.send(update).await.is_err() {
        tracing::error!(model_id = %model.id, "public catalog actor is gone");
    }
}
