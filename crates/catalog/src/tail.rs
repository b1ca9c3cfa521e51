//! Tailing the share-events outbox, so every instance's catalog converges on the database.
//!
//! Two reads per wake-up (see `storage`'s outbox module for why they are gap-free):
//!
//! * **New ids** (`id > newest`): fast, and on SQLite (one writer, ids in commit order) all
//!   there is to read.
//! * **Final events** (PostgreSQL): events whose transaction is below the oldest one still
//!   running, in `(tx, id)` order from a cursor. A transaction that stays open while thousands
//!   of newer ids commit, then commits, is read here once it has ended, however late: no
//!   window of ids to fall out of.
//!
//! An event already applied by the first read (or written by this process, which applied it
//! itself) is not applied again by the second. Applying an event means re-reading its model
//! and handing that state (with its version) to the catalog actor, which ignores anything
//! older than what it holds: applying twice, or out of order, is harmless. A model whose row
//! does not decode is logged, counted and passed over, never retried forever.
//!
//! Belt and braces: [`reconcile`] compares the catalog with `models` every
//! `catalog.reconcile_interval_ms` and repairs what disagrees.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix::Addr;
use domain::ModelId;
use storage::{OutboxCursor, OutboxEvent, StorageError, Store};

use crate::public::{PublicCatalog, Repair, Suspects, Update};

/// Events read per query.
const BATCH: u64 = 5000;
/// After a notification, how long to wait for more before reading: under load one read then
/// covers many transitions instead of one each, for at most this much more convergence lag.
const GATHER: Duration = Duration::from_millis(10);
/// Most ids a tail remembers as already applied (its own and the new-id read's), waiting for
/// the final read to pass them. Past it the oldest are forgotten: the final read then applies
/// them once more, which is harmless, so memory stays bounded even while a transaction that
/// never ends holds every later event back from being final.
const REMEMBER_AT_MOST: usize = 65_536;

/// A bounded set of event ids.
#[derive(Debug, Default)]
struct Ids(BTreeSet<i64>);

impl Ids {
    fn insert(&mut self, id: i64) {
        self.0.insert(id);
        while self.0.len() > REMEMBER_AT_MOST {
            self.0.pop_first();
        }
    }

    fn remove(&mut self, id: i64) -> bool {
        self.0.remove(&id)
    }

    fn forget_through(&mut self, id: i64) {
        self.0 = self.0.split_off(&id.saturating_add(1));
    }
}

/// Ids of events this process wrote and already applied.
#[derive(Debug, Default)]
pub(crate) struct LocalEvents(Mutex<Ids>);

impl LocalEvents {
    pub(crate) fn insert(&self, id: i64) {
        self.lock().insert(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Tells other instances' tailers that transitions were committed here: at most one
/// notification per [`GATHER`], for however many transitions committed meanwhile (on
/// PostgreSQL a `NOTIFY` per transition would serialize their commits; see
/// `Store::apply_transition`).
#[derive(Debug, Default)]
pub(crate) struct Announcer(tokio::sync::Notify);

impl Announcer {
    /// A transition committed; announce it soon.
    pub(crate) fn poke(&self) {
        self.0.notify_one();
    }
}

/// Sends the announcements; runs until the catalog's arbiter stops.
pub(crate) async fn announce(store: Store, announcer: Arc<Announcer>) {
    loop {
        announcer.0.notified().await;
        if let Err(err) = store.announce_share_events().await {
            // Other instances still poll the outbox.
            tracing::debug!(error = %err, "share events not announced");
        }
        tokio::time::sleep(GATHER).await;
    }
}

/// What the tail and the reconciliation observed, read by the metrics.
#[derive(Debug, Default)]
pub(crate) struct TailStats {
    /// The age of the newest outbox event when it was applied here, in microseconds.
    lag_micros: AtomicU64,
    /// Models whose row did not decode (passed over).
    pub(crate) undecodable: AtomicU64,
    /// Models the reconciliation found wrong in the catalog and repaired.
    pub(crate) repairs: AtomicU64,
}

impl TailStats {
    pub(crate) fn lag_secs(&self) -> f64 {
        Duration::from_micros(self.lag_micros.load(Ordering::Relaxed)).as_secs_f64()
    }
}

/// Where the tail stands.
#[derive(Debug)]
pub(crate) struct Position {
    /// The newest id read.
    newest: i64,
    /// PostgreSQL: the last final event read; `None` on SQLite.
    final_cursor: Option<OutboxCursor>,
    /// PostgreSQL: ids the new-id read applied, not yet passed by the final read.
    applied: Ids,
}

impl Position {
    /// Right after a catalog load that began with `newest` as the newest id and `horizon` as
    /// the oldest running transaction (PostgreSQL): everything committed below both is in the
    /// load; anything else is read again.
    pub(crate) fn after_load(newest: i64, horizon: Option<i64>) -> Self {
        Self {
            newest,
            final_cursor: horizon.map(OutboxCursor::before_tx),
            applied: Ids::default(),
        }
    }
}

impl Position {
    /// Where a start-up checkpoint left the tail (the ids it applied are not saved: the
    /// final read applies them again, which is harmless).
    pub(crate) fn restored(newest: i64, final_cursor: Option<OutboxCursor>) -> Self {
        Self {
            newest,
            final_cursor,
            applied: Ids::default(),
        }
    }

    pub(crate) fn newest(&self) -> i64 {
        self.newest
    }
}

/// The tail's position after its last completed read: every event up to it has been applied
/// to the catalog (what a start-up checkpoint saves with the index).
#[derive(Debug, Default)]
pub(crate) struct Applied(Mutex<(i64, Option<OutboxCursor>)>);

impl Applied {
    pub(crate) fn set(&self, position: &Position) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            (position.newest, position.final_cursor);
    }

    pub(crate) fn get(&self) -> (i64, Option<OutboxCursor>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct Tailer {
    pub(crate) applied: Arc<Applied>,
    pub(crate) store: Store,
    pub(crate) public: Addr<PublicCatalog>,
    pub(crate) local_events: Arc<LocalEvents>,
    pub(crate) stats: Arc<TailStats>,
    pub(crate) poll_interval: Duration,
}

/// Runs until the catalog's arbiter stops.
pub(crate) async fn run(tailer: Tailer, mut position: Position) {
    let mut wake_ups = Some(tailer.store.share_event_wake_ups());
    loop {
        match wake_ups.as_mut() {
            Some(rx) => {
                tokio::select! {
                    woken = rx.recv() => {
                        if woken.is_none() {
                            // Nothing wakes this tail any more (its store's runtime stopped): poll.
                            wake_ups = None;
                        } else {
                            tokio::time::sleep(GATHER).await;
                            // Wake-ups that arrived meanwhile are covered by this read.
                            while rx.try_recv().is_ok() {}
                        }
                    }
                    () = tokio::time::sleep(tailer.poll_interval) => {}
                }
            }
            None => tokio::time::sleep(tailer.poll_interval).await,
        }
        match tailer.catch_up(&mut position).await {
            Ok(Flow::Continue) => tailer.applied.set(&position),
            Ok(Flow::Stop) => return,
            Err(err) => tracing::debug!(error = %err, "outbox not readable now; retrying"),
        }
    }
}

/// Whether the catalog is still there to apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

impl Tailer {
    /// Applies every event not yet applied. On error the position stays where the last fully
    /// applied batch left it (a batch applied again is harmless).
    pub(crate) async fn catch_up(&self, position: &mut Position) -> Result<Flow, StorageError> {
        // Taken before the reads: every event below it is final and visible to them.
        let horizon = self.store.outbox_horizon().await?;
        loop {
            let events = self.store.outbox_after_id(position.newest, BATCH).await?;
            let fresh: Vec<&OutboxEvent> = {
                let local = self.local_events.lock();
                events.iter().filter(|e| !local.0.contains(&e.id)).collect()
            };
            if self.apply(&fresh).await? == Flow::Stop {
                return Ok(Flow::Stop);
            }
            if let Some(last) = events.last() {
                position.newest = position.newest.max(last.id);
            }
            match position.final_cursor {
                // The final read will meet these again.
                Some(_) => fresh.iter().for_each(|e| position.applied.insert(e.id)),
                // SQLite: ids are in commit order; nothing at or below `newest` is still to come.
                None => self.local_events.lock().forget_through(position.newest),
            }
            if u64::try_from(events.len()).unwrap_or(u64::MAX) < BATCH {
                break;
            }
        }
        let (Some(horizon), Some(mut cursor)) = (horizon, position.final_cursor) else {
            return Ok(Flow::Continue);
        };
        loop {
            let events = self
                .store
                .outbox_final_after(cursor, horizon, BATCH)
                .await?;
            let missed: Vec<&OutboxEvent> = {
                let mut local = self.local_events.lock();
                events
                    .iter()
                    .filter(|e| !position.applied.remove(e.id) && !local.remove(e.id))
                    .collect()
            };
            if !missed.is_empty() {
                tracing::debug!(
                    events = missed.len(),
                    "applying events whose transactions committed after newer ids"
                );
            }
            if self.apply(&missed).await? == Flow::Stop {
                return Ok(Flow::Stop);
            }
            if let Some(last) = events.last() {
                cursor = OutboxCursor::at(last);
                position.final_cursor = Some(cursor);
            }
            if u64::try_from(events.len()).unwrap_or(u64::MAX) < BATCH {
                return Ok(Flow::Continue);
            }
        }
    }

    /// Re-reads each model of `events` once and hands its state to the catalog.
    async fn apply(&self, events: &[&OutboxEvent]) -> Result<Flow, StorageError> {
        let mut seen = HashSet::new();
        for event in events {
            if seen.insert(event.model_id)
                && publish_fresh(&self.store, &self.public, &self.stats, event.model_id).await?
                    == Flow::Stop
            {
                return Ok(Flow::Stop);
            }
        }
        if let Some(oldest) = events.iter().map(|e| e.at).min() {
            let age = (chrono::Utc::now() - oldest.as_datetime())
                .to_std()
                .unwrap_or_default();
            self.stats.lag_micros.store(
                u64::try_from(age.as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
        Ok(Flow::Continue)
    }
}

/// Reads a model as the catalog shows it and applies it. A row that does not decode is
/// logged, counted and passed over; only an unavailable database is an error (retried).
pub(crate) async fn publish_fresh(
    store: &Store,
    public: &Addr<PublicCatalog>,
    stats: &TailStats,
    model_id: ModelId,
) -> Result<Flow, StorageError> {
    let Some(row) = read_row(store, stats, model_id).await? else {
        return Ok(Flow::Continue);
    };
    match public.send(Update::Apply(Box::new(row))).await {
        Ok(()) => Ok(Flow::Continue),
        // The catalog is stopping.
        Err(_) => Ok(Flow::Stop),
    }
}

/// A model as the catalog would show it; `None` when there is no such model (any more) or its
/// row does not decode (logged and counted). Only an unavailable database is an error.
async fn read_row(
    store: &Store,
    stats: &TailStats,
    model_id: ModelId,
) -> Result<Option<storage::CatalogRow>, StorageError> {
    match store.get_catalog_row(model_id).await {
        Ok(row) => Ok(row),
        Err(err) if err.is_unavailable() => Err(err),
        Err(err) => {
            stats.undecodable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%model_id, reason = ?err, "a model's row does not decode; passed over");
            Ok(None)
        }
    }
}

/// Compares the catalog with the database every `every` and repairs each model that
/// disagrees (a missed event, whatever the cause): the model is read again and applied, and a
/// model whose catalog entry changed is logged and counted. Runs until the catalog stops.
pub(crate) async fn reconcile(
    store: Store,
    public: Addr<PublicCatalog>,
    stats: Arc<TailStats>,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        match reconcile_once(&store, &public, &stats).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Stop) => return,
            Err(err) => tracing::debug!(error = %err, "catalog not reconciled now; retrying"),
        }
    }
}

/// One reconciliation; see [`reconcile`].
pub(crate) async fn reconcile_once(
    store: &Store,
    public: &Addr<PublicCatalog>,
    stats: &TailStats,
) -> Result<Flow, StorageError> {
    let truth: HashMap<ModelId, i64> = store.shared_model_versions().await?.into_iter().collect();
    let Ok(suspects) = public.send(Suspects(truth)).await else {
        return Ok(Flow::Stop);
    };
    for model_id in suspects {
        let Some(row) = read_row(store, stats, model_id).await? else {
            continue;
        };
        let shared = row.model.shared;
        match public.send(Repair(Box::new(row))).await {
            Ok(true) => {
                stats.repairs.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%model_id, shared, "catalog repaired: it disagreed with the database");
            }
            Ok(false) => {}
            Err(_) => return Ok(Flow::Stop),
        }
    }
    Ok(Flow::Continue)
}
