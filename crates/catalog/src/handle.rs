//! [`Catalog`]: the handle callers use. It hides the actors and maps mailbox errors.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use actix::{Actor, Addr, Arbiter, ArbiterHandle, MailboxError};
use arc_swap::{ArcSwap, Guard};
use auth::{Check, PolicyChains, Principal, Refusal};
use domain::{ModelId, ScheduleId, ShareAction};
use storage::{Model, StorageError, Store};

use crate::checkpoint;
use crate::index::{BrowsePage, BrowseQuery, CatalogIndex, CatalogItem, Loader, Snapshot};
use crate::memory::{Trim, release_free_pages};
use crate::model_actor::{ActorContext, Apply, ModelActor, Origin};
use crate::outcome::{ShareError, Transitioned, refusal_error};
use crate::public::{PublicCatalog, SetEndpoints, TakeSaving, Update, WatchChanges};
use crate::registry::Registry;
use crate::tail::{self, Announcer, Applied, LocalEvents, Position, TailStats, Tailer};

#[derive(Debug, Clone)]
pub struct CatalogSettings {
    /// A model actor with no work for this long is stopped.
    pub idle_timeout: Duration,
    /// How often the outbox is read when no notification arrives (always, on SQLite).
    pub poll_interval: Duration,
    /// How often the whole catalog is compared with the database and repaired; zero: never.
    pub reconcile_interval: Duration,
    /// The start-up checkpoint's file (see the `checkpoint` module); `None`: no checkpoint.
    pub checkpoint: Option<PathBuf>,
    /// How often the checkpoint is written while the catalog changes; zero: only on stop.
    pub checkpoint_interval: Duration,
}

/// The catalog: share/unshare through per-model actors, and reads of the public catalog.
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    /// The thread all catalog actors run on, apart from the HTTP workers.
    arbiter: ArbiterHandle,
    registry: Arc<Registry>,
    /// The public catalog as last published by its actor; read without a lock.
    index: Arc<ArcSwap<Snapshot>>,
    actors: Arc<ActorContext>,
    stats: Arc<TailStats>,
    checkpointer: Option<Arc<Checkpointer>>,
    from_checkpoint: bool,
}

impl Catalog {
    /// Loads the public catalog from the database and starts its actor and the idle sweeper.
    /// Must be called inside a running actix system.
    pub async fn start(
        store: Store,
        chains: PolicyChains,
        settings: CatalogSettings,
    ) -> Result<Self, StorageError> {
        let restored = match &settings.checkpoint {
            Some(path) => restore(&store, path).await?,
            None => None,
        };
        let from_checkpoint = restored.is_some();
        // What the checkpoint holds: written again only once something moved on.
        let checkpointed = restored
            .as_ref()
            .map(|(index, position)| (index.generation(), position.newest()));
        let (index, mut position, undecodable) = match restored {
            Some((index, position)) => (index, position, 0),
            None => load_index(&store).await?,
        };
        let stats = Arc::new(TailStats::default());
        stats.undecodable.fetch_add(undecodable, Ordering::Relaxed);
        let published = Arc::new(ArcSwap::new(index.snapshot()));
        let arbiter = Arbiter::new().handle();
        let public = {
            let published = Arc::clone(&published);
            PublicCatalog::start_in_arbiter(&arbiter, move |_| PublicCatalog { index, published })
        };
        let registry = Registry::new(settings.idle_timeout);
        spawn_sweeper(&arbiter, &registry, store.clone(), settings.idle_timeout);
        let local_events = Arc::new(LocalEvents::default());
        let applied = Arc::new(Applied::default());
        let tailer = Tailer {
            applied: Arc::clone(&applied),
            store: store.clone(),
            public: public.clone(),
            local_events: Arc::clone(&local_events),
            stats: Arc::clone(&stats),
            poll_interval: settings.poll_interval,
        };
        // Before the service is ready: what the outbox holds past the load (or the
        // checkpoint), so that a client never reads a catalog older than the database was.
        tailer.catch_up(&mut position).await?;
        applied.set(&position);
        if from_checkpoint {
            arbiter.spawn(refresh(store.clone(), public.clone(), Arc::clone(&stats)));
        }
        let checkpointer = settings.checkpoint.map(|path| {
            Arc::new(Checkpointer {
                path,
                store: store.clone(),
                public: public.clone(),
                published: Arc::clone(&published),
                applied,
                saved: std::sync::Mutex::new(checkpointed),
                writing: tokio::sync::Mutex::new(()),
            })
        });
        if let Some(checkpointer) = &checkpointer
            && !settings.checkpoint_interval.is_zero()
        {
            let checkpointer = Arc::downgrade(checkpointer);
            let every = settings.checkpoint_interval;
            arbiter.spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(checkpointer) = checkpointer.upgrade() else {
                        break;
                    };
                    // A failure is logged; the next period tries again.
                    checkpointer.save().await;
                }
            });
        }
        let announcer = spawn_tail(&arbiter, tailer, position, settings.reconcile_interval);
        Ok(Self {
            inner: Arc::new(Inner {
                arbiter,
                registry,
                index: published,
                actors: Arc::new(ActorContext {
                    store,
                    chains: ArcSwap::from_pointee(chains),
                    public,
                    live: AtomicUsize::new(0),
                    stale_writes: AtomicU64::new(0),
                    #[cfg(feature = "test-support")]
                    overlaps: AtomicU64::new(0),
                    local_events,
                    announcer,
                    committed: Arc::new(tokio::sync::Notify::new()),
                    stats: Arc::clone(&stats),
                }),
                stats,
                checkpointer,
                from_checkpoint,
            }),
        })
    }

    /// Whether this start loaded the catalog from its start-up checkpoint (rather than from
    /// the database).
    pub fn started_from_checkpoint(&self) -> bool {
        self.inner.from_checkpoint
    }

    /// Writes the start-up checkpoint now (when one is configured, and unless the one written
    /// last, or loaded, is still the catalog's state): what a stopping service does, so that
    /// its next start loads it. Failures are logged, not returned: without a checkpoint the
    /// next start loads from the database.
    pub async fn save_checkpoint(&self) {
        let Some(checkpointer) = &self.inner.checkpointer else {
            return;
        };
        // A failure here (a database busy at shutdown) costs the next start a full load:
        // worth two more tries.
        for _ in 0..3 {
            if checkpointer.save().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Shares a model of the principal's project.
    #[tracing::instrument(skip_all, fields(model_id = %model_id))]
    pub async fn share(
        &self,
        model_id: ModelId,
        principal: &Principal,
        request_id: &str,
        server_request_id: &str,
    ) -> Result<Transitioned, ShareError> {
        let origin = Origin::request(request_id, server_request_id);
        self.apply(model_id, ShareAction::Share, principal, origin)
            .await
    }

    /// Withdraws a model of the principal's project from the public catalog.
    #[tracing::instrument(skip_all, fields(model_id = %model_id))]
    pub async fn unshare(
        &self,
        model_id: ModelId,
        principal: &Principal,
        request_id: &str,
        server_request_id: &str,
    ) -> Result<Transitioned, ShareError> {
        let origin = Origin::request(request_id, server_request_id);
        self.apply(model_id, ShareAction::Unshare, principal, origin)
            .await
    }

    /// Runs the schedule `schedule_id`: `action` on the model for `principal` (the scheduling
    /// user as of now), exactly as a request's share or unshare (the chain's caller checks, then
    /// the model's actor and the whole chain on fresh state). Its share event records the
    /// schedule, and the schedule's id stands as the event's request id.
    #[tracing::instrument(skip_all, fields(model_id = %model_id, schedule_id = %schedule_id))]
    pub async fn run_scheduled(
        &self,
        model_id: ModelId,
        action: ShareAction,
        principal: &Principal,
        schedule_id: ScheduleId,
    ) -> Result<Transitioned, ShareError> {
        let origin = Origin {
            request_id: schedule_id.to_string(),
            server_request_id: None,
            schedule_id: Some(schedule_id),
        };
        self.apply(model_id, action, principal, origin).await
    }

    async fn apply(
        &self,
        model_id: ModelId,
        action: ShareAction,
        principal: &Principal,
        origin: Origin,
    ) -> Result<Transitioned, ShareError> {
        // Checks that need only the caller (feature, role) refuse before any actor is leased,
        // so that refusals stay cheap; the actor runs the whole chain again on fresh state.
        let chains = self.chains();
        refuse_caller(&chains, action, principal, &self.inner.actors.store).await?;
        let lease = self
            .inner
            .registry
            .lease(model_id, || self.start_actor(model_id));
        let message = Apply {
            chains,
            action,
            principal: principal.clone(),
            origin,
        };
        match lease.addr.send(message).await {
            Ok(result) => result,
            Err(MailboxError::Closed | MailboxError::Timeout) => Err(ShareError::Stopped),
        }
    }

    /// The chain's checks that need only the caller (those before its first check of the
    /// model: feature, role), in order: the first refusal, if any. A caller refused here is
    /// refused the same way by every share or unshare of any model.
    pub async fn refuse_caller(
        &self,
        action: ShareAction,
        principal: &Principal,
    ) -> Result<(), ShareError> {
        refuse_caller(&self.chains(), action, principal, &self.inner.actors.store).await
    }

    /// The policy chains in force now (one value: a reload replaces it whole).
    pub fn chains(&self) -> Arc<PolicyChains> {
        self.inner.actors.chains.load_full()
    }

    /// Puts `chains` in force: every transition asked for from now on is decided by them;
    /// one already asked for keeps the chains it started with.
    pub fn replace_chains(&self, chains: PolicyChains) {
        self.inner.actors.chains.store(Arc::new(chains));
    }

    /// A dry run of `action` on the model for `principal`: every check of the chain on the
    /// model's fresh state ([`PolicyChains::check_all`]), nothing written, no actor leased and
    /// none disturbed. `None` when the principal cannot see the model.
    pub async fn check_all(
        &self,
        model_id: ModelId,
        action: ShareAction,
        principal: &Principal,
    ) -> Result<Option<(Model, Vec<Check>)>, ShareError> {
        let actors = &self.inner.actors;
        let visible = actors
            .store
            .get_model(model_id)
            .await?
            .filter(|m| m.project_id == principal.project_id);
        let Some(model) = visible else {
            return Ok(None);
        };
        let checks = self
            .chains()
            .check_all(action, principal, &model, &actors.store)
            .await?;
        Ok(Some((model, checks)))
    }

    /// The answer for a model id that cannot exist (not a UUID): the policy chain runs without a
    /// model, so the checks before the model's (feature, role) still answer first.
    pub async fn refuse_unknown_model(
        &self,
        action: ShareAction,
        principal: &Principal,
    ) -> ShareError {
        let actors = &self.inner.actors;
        match self
            .chains()
            .evaluate(action, principal, None, &actors.store)
            .await
        {
            Err(refusal) => refusal_error(refusal),
            Ok(()) => refusal_error(Refusal::model_not_found()),
        }
    }

    fn start_actor(&self, id: ModelId) -> Addr<ModelActor> {
        let actor = ModelActor {
            id,
            context: Arc::clone(&self.inner.actors),
            #[cfg(feature = "test-support")]
            busy: false,
            remembered: None,
        };
        ModelActor::start_in_arbiter(&self.inner.arbiter, move |_| actor)
    }

    /// A page of the public catalog, from memory. It examines at most
    /// [`examine_bound`](crate::examine_bound) models, so it may hold fewer than `limit` items
    /// while `next` is set; see [`BrowsePage`].
    pub fn browse(&self, query: &BrowseQuery) -> BrowsePage {
        self.read().browse(query)
    }

    /// The counts of every facet of the public catalog under `filter` (each facet ignoring its
    /// own filter), from memory; see [`Facets`](crate::Facets).
    pub fn facets(&self, filter: &crate::Filter) -> crate::Facets {
        self.read().facets(filter)
    }

    /// Moves on whenever the public catalog changes (anything a page shows, or which models
    /// it holds): a page read at the current generation is still what a read would return.
    pub fn generation(&self) -> u64 {
        self.read().generation()
    }

    /// One shared model, from memory.
    pub fn get(&self, id: ModelId) -> Option<Arc<CatalogItem>> {
        self.read().get(id)
    }

    /// How many models the public catalog holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of every shared model (tests compare them with the database).
    #[cfg(feature = "test-support")]
    pub fn shared_ids(&self) -> Vec<ModelId> {
        self.read().ids().collect()
    }

    /// Tells the catalog an endpoint was bound to (`+1`) or removed from (`-1`) a model.
    pub async fn endpoints_changed(&self, model_id: ModelId, delta: i64) {
        let update = Update::Endpoints { model_id, delta };
        if self.inner.actors.public.send(update).await.is_err() {
            tracing::error!(%model_id, "public catalog actor is gone");
        }
    }

    /// Notified after each transition this process commits: what wakes work that follows the
    /// outbox (the webhook engine). One waiter; a notification with no waiter is kept for it.
    pub fn commits(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.inner.actors.committed)
    }

    /// Model actors the registry holds.
    #[cfg(feature = "test-support")]
    pub fn registered_actors(&self) -> usize {
        self.inner.registry.len()
    }

    /// Model actors alive (started and not yet stopped).
    pub fn live_actors(&self) -> usize {
        self.inner.actors.live.load(Ordering::SeqCst)
    }

    /// Transitions whose compare-and-set found the model changed since it was read. Inside one
    /// process the model's actor makes this impossible; only other instances cause it. (A
    /// model state the actor remembered from its last message and found outdated is not
    /// counted: that costs a read, as if it had not been remembered.)
    pub fn stale_writes(&self) -> u64 {
        self.inner.actors.stale_writes.load(Ordering::Relaxed)
    }

    /// Share/unshare messages that began while another of the same model's was running. The
    /// per-model actor guarantees 0; tests assert it.
    #[cfg(feature = "test-support")]
    pub fn overlapping_transitions(&self) -> u64 {
        self.inner.actors.overlaps.load(Ordering::Relaxed)
    }

    /// Seconds between the newest outbox event applied from another instance and the moment
    /// it was applied (0 before any).
    pub fn convergence_lag_secs(&self) -> f64 {
        self.inner.stats.lag_secs()
    }

    /// Models whose database row did not decode and were left out (at start-up, by the tail
    /// or by the reconciliation).
    pub fn undecodable_rows(&self) -> u64 {
        self.inner.stats.undecodable.load(Ordering::Relaxed)
    }

    /// Models the periodic reconciliation found wrong in the catalog and repaired.
    pub fn catalog_repairs(&self) -> u64 {
        self.inner.stats.repairs.load(Ordering::Relaxed)
    }

    /// The current snapshot: no lock, and never a wait for the writer.
    fn read(&self) -> Guard<Arc<Snapshot>> {
        self.inner.index.load()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.arbiter.stop();
    }
}

/// How often the catalog load says how far it has come: at most every this long...
const LOAD_PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// ...looking at the clock once per this many rows.
const LOAD_PROGRESS_ROWS: u64 = 4_096;

/// The public catalog as the database has it now, where the tail starts reading after it, and
/// how many rows did not decode.
async fn load_index(store: &Store) -> Result<(CatalogIndex, Position, u64), StorageError> {
    // Everything committed below both marks is in the load below; the tail reads anything
    // else again (applying an event twice is harmless).
    let horizon = store.outbox_horizon().await?;
    let start_id = store.max_share_event_id().await?;
    let started = std::time::Instant::now();
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // A big catalog takes a while (seconds at a million models) before the service listens:
    // the log says what it is doing, and how far the read has come every few seconds.
    tracing::info!("loading the public catalog");
    let mut loader = Loader::default();
    let (mut rows, mut told) = (0_u64, started);
    let loaded = store
        .load_catalog(|row| {
            loader.push(row);
            rows += 1;
            if rows.is_multiple_of(LOAD_PROGRESS_ROWS) && told.elapsed() >= LOAD_PROGRESS_EVERY {
                told = std::time::Instant::now();
                tracing::info!(rows, "public catalog: reading");
            }
        })
        .await?;
    let read_ms = millis(started.elapsed());
    tracing::info!(rows, read_ms, "public catalog read; building its indexes");
    let index = loader.finish();
    // The load's temporaries (the decoded rows, the build's gathered lists: hundreds of MB at
    // a million models) are freed by now, mostly inside glibc's arenas: give them back.
    release_free_pages();
    tracing::info!(
        shared_models = index.len(),
        undecodable = loaded.undecodable,
        read_ms,
        total_ms = millis(started.elapsed()),
        "public catalog loaded"
    );
    Ok((
        index,
        Position::after_load(start_id, horizon),
        loaded.undecodable,
    ))
}

/// The catalog saved at `path`, and where the tail stands in it, when the checkpoint is there
/// and may be trusted (see the `checkpoint` module); otherwise `None`, and the log says why.
async fn restore(
    store: &Store,
    path: &Path,
) -> Result<Option<(CatalogIndex, Position)>, StorageError> {
    let started = std::time::Instant::now();
    let read = match checkpoint::read(path) {
        Ok(None) => return Ok(None),
        Ok(Some(read)) => checkpoint::check(store, &read.0).await?.map(|()| read),
        Err(unusable) => Err(unusable),
    };
    // The read's temporaries (hundreds of MB at a million models) go back to the system.
    release_free_pages();
    match read {
        Ok((mark, index)) => {
            tracing::info!(
                path = %path.display(),
                shared_models = index.len(),
                outbox_position = mark.newest,
                total_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "public catalog loaded from its checkpoint"
            );
            Ok(Some((
                index,
                Position::restored(mark.newest, mark.final_cursor),
            )))
        }
        Err(reason) => {
            tracing::warn!(
                path = %path.display(),
                %reason,
                "catalog checkpoint not used; loading from the database"
            );
            Ok(None)
        }
    }
}

/// After a start from a checkpoint: every shared model's version and endpoint count compared
/// with the database, and what differs repaired (changes the outbox does not carry: one
/// written to the database directly, an endpoint made while this instance was down).
async fn refresh(store: Store, public: Addr<PublicCatalog>, stats: Arc<TailStats>) {
    let started = std::time::Instant::now();
    let repairs = stats.repairs.load(Ordering::Relaxed);
    if let Err(err) = tail::reconcile_once(&store, &public, &stats).await {
        tracing::warn!(error = %err, "catalog not compared with the database after its checkpoint; the reconciliation will");
        return;
    }
    // Models changed from here on keep their counts: theirs are at least as new as the read's.
    if public.send(WatchChanges(true)).await.is_err() {
        return;
    }
    let endpoints = match store.shared_endpoint_counts().await {
        Ok(counts) => public
            .send(SetEndpoints(counts.into_iter().collect()))
            .await
            .unwrap_or_default(),
        Err(err) => {
            tracing::warn!(error = %err, "endpoint counts not refreshed after the catalog checkpoint");
            // Nothing is lost by it (it does not publish); a send to a stopped actor is moot.
            let _ = public.send(WatchChanges(false)).await;
            return;
        }
    };
    tracing::info!(
        repaired = stats.repairs.load(Ordering::Relaxed) - repairs,
        endpoint_counts_changed = endpoints,
        total_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "catalog compared with the database after its checkpoint"
    );
}

/// Writes the start-up checkpoint, one write at a time.
struct Checkpointer {
    path: PathBuf,
    store: Store,
    public: Addr<PublicCatalog>,
    /// The catalog as published, whose generation tells (without asking the actor, which
    /// would copy its versions) whether anything changed since the last checkpoint.
    published: Arc<ArcSwap<Snapshot>>,
    applied: Arc<Applied>,
    /// The generation and outbox position of the last one written.
    saved: std::sync::Mutex<Option<(u64, i64)>>,
    writing: tokio::sync::Mutex<()>,
}

impl Checkpointer {
    /// Writes the checkpoint, unless neither the catalog nor the tail's position moved since
    /// the last one; logs the outcome. False when it failed (and was not written).
    async fn save(&self) -> bool {
        let _writing = self.writing.lock().await;
        let started = std::time::Instant::now();
        // The position first: every event up to it is in the index taken after it.
        let (newest, final_cursor) = self.applied.get();
        let published = (self.published.load().generation(), newest);
        if *self.saved.lock().unwrap_or_else(PoisonError::into_inner) == Some(published) {
            return true;
        }
        let mark = match checkpoint::mark(&self.store, newest, final_cursor).await {
            Ok(mark) => mark,
            Err(err) => {
                tracing::warn!(error = %err, "catalog checkpoint not written");
                return false;
            }
        };
        let Ok(saving) = self.public.send(TakeSaving).await else {
            tracing::warn!("catalog checkpoint not written: the catalog has stopped");
            return false;
        };
        // The published generation is never ahead of the index's: what the check above found
        // changed still is.
        let now = (saving.generation(), newest);
        let shared_models = saving.len();
        let path = self.path.clone();
        let written =
            tokio::task::spawn_blocking(move || checkpoint::write(&path, &mark, &saving)).await;
        match written {
            Ok(Ok(bytes)) => {
                *self.saved.lock().unwrap_or_else(PoisonError::into_inner) = Some(now);
                tracing::info!(
                    path = %self.path.display(),
                    shared_models,
                    bytes,
                    total_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "catalog checkpoint written"
                );
                true
            }
            Ok(Err(err)) => {
                tracing::warn!(path = %self.path.display(), error = %err, "catalog checkpoint not written");
                false
            }
            Err(err) => {
                tracing::warn!(error = %err, "catalog checkpoint not written");
                false
            }
        }
    }
}

/// Starts, on the catalog's arbiter, the outbox tail from `position`, the reconciliation (every
/// `reconcile_interval`, unless zero) and, on PostgreSQL, the announcer, which it returns.
fn spawn_tail(
    arbiter: &ArbiterHandle,
    tailer: Tailer,
    position: Position,
    reconcile_interval: Duration,
) -> Arc<Announcer> {
    let store = tailer.store.clone();
    if !reconcile_interval.is_zero() {
        arbiter.spawn(tail::reconcile(
            store.clone(),
            tailer.public.clone(),
            Arc::clone(&tailer.stats),
            reconcile_interval,
        ));
    }
    arbiter.spawn(tail::run(tailer, position));
    let announcer = Arc::new(Announcer::default());
    if store.backend() == storage::Backend::Postgres {
        arbiter.spawn(tail::announce(store, Arc::clone(&announcer)));
    }
    announcer
}

/// Drops idle actors a few times per idle period, and gives the memory of a burst back to the
/// operating system once the burst has drained (the database connections it opened and the
/// pages their caches filled, then the allocator's free pages); ends when the catalog is
/// dropped.
fn spawn_sweeper(
    arbiter: &ArbiterHandle,
    registry: &Arc<Registry>,
    store: Store,
    idle_timeout: Duration,
) {
    let weak = Arc::downgrade(registry);
    let every = (idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    arbiter.spawn(async move {
        let mut trim = Trim::default();
        let mut trim_due = false;
        loop {
            tokio::time::sleep(every).await;
            if std::mem::take(&mut trim_due) {
                // A period after the sweep, so the released actors have stopped and freed
                // their memory; off the actors' thread, as the trim walks every arena.
                // First the database connections' caches, then the allocator, which can then
                // return the pages those caches held too.
                let connections = store.release_memory().await;
                let released = tokio::task::spawn_blocking(release_free_pages).await;
                tracing::debug!(
                    ?connections,
                    ?released,
                    "returned free memory after a burst of actors"
                );
            }
            let Some(registry) = weak.upgrade() else {
                break;
            };
            let (before, live) = registry.sweep();
            drop(registry);
            if before > live {
                tracing::debug!(dropped = before - live, live, "idle model actors released");
            }
            trim_due = trim.after_sweep(before, live);
        }
    });
}

/// The chain's checks that need only the caller, by `chains`.
async fn refuse_caller(
    chains: &PolicyChains,
    action: ShareAction,
    principal: &Principal,
    store: &Store,
) -> Result<(), ShareError> {
    chains
        .evaluate_caller(action, principal, store)
        .await
        .map_err(refusal_error)
}
