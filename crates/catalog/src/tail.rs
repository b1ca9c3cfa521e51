//! Tailing the share-events outbox, so every instance's catalog converges on the database.
//!
//! Ids are handed out when an event row is inserted, not when its transaction commits, so on
//! PostgreSQL a lower id can become visible after a higher one. Each read therefore starts
//! [`LOOKBACK`] ids behind the newest seen and skips ids already applied. Applying an event
//! means re-reading its model and handing that state (with its version) to the catalog actor,
//! which ignores anything older than what it holds: applying twice, or out of order, is harmless.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix::Addr;
use storage::{ShareEventListener, StorageError, Store};
use tokio::sync::mpsc;

use crate::public::{PublicCatalog, Update};

/// How far behind the newest id each read starts (transactions in flight at once).
const LOOKBACK: i64 = 512;
/// Events read per query.
const BATCH: u64 = 5000;
/// After a notification, how long to wait for more before reading: under load one read then
/// covers many transitions (on PostgreSQL every transition notifies) instead of one each, for
/// at most this much more convergence lag.
const GATHER: Duration = Duration::from_millis(10);
/// Wait before opening a new listener after the last one failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// Ids of events this process wrote and already applied.
#[derive(Debug, Default)]
pub(crate) struct LocalEvents(Mutex<BTreeSet<i64>>);

impl LocalEvents {
    pub(crate) fn insert(&self, id: i64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }

    fn contains(&self, id: i64) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&id)
    }

    fn forget_below(&self, id: i64) {
        let mut ids = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *ids = ids.split_off(&id);
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

/// The age of the newest outbox event when it was applied here, in microseconds.
#[derive(Debug, Default)]
pub(crate) struct Lag(AtomicU64);

impl Lag {
    pub(crate) fn last_secs(&self) -> f64 {
        Duration::from_micros(self.0.load(Ordering::Relaxed)).as_secs_f64()
    }
}

pub(crate) struct Tailer {
    pub(crate) store: Store,
    pub(crate) public: Addr<PublicCatalog>,
    pub(crate) local_events: Arc<LocalEvents>,
    pub(crate) lag: Arc<Lag>,
    pub(crate) poll_interval: Duration,
}

/// Runs until the catalog's arbiter stops.
pub(crate) async fn run(tailer: Tailer, start_id: i64) {
    let mut newest = start_id;
    let mut applied = BTreeSet::new();
    let mut wake_ups = Some(spawn_listener(tailer.store.clone()));
    loop {
        match wake_ups.as_mut() {
            Some(rx) => {
                tokio::select! {
                    woken = rx.recv() => {
                        if woken.is_none() {
                            // No listening on this database (SQLite): poll only.
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
        if let Err(err) = tailer.catch_up(&mut newest, &mut applied).await {
            tracing::debug!(error = %err, "outbox not readable now; retrying");
        }
    }
}

/// Listens for share-event notifications on a thread of its own (its connection must outlive
/// the actors' runtime during shutdown) and forwards each as a wake-up. The channel closes at
/// once on SQLite; the thread ends when the receiver is dropped.
fn spawn_listener(store: Store) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    let spawned = std::thread::Builder::new()
        .name("share-events-listener".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                tracing::warn!("cannot start the listener runtime; polling only");
                return;
            };
            runtime.block_on(listen(store, tx));
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot start the listener thread; polling only");
    }
    rx
}

async fn listen(store: Store, tx: mpsc::Sender<()>) {
    loop {
        let mut listener: ShareEventListener = match store.share_event_listener().await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(err) => {
                tracing::debug!(error = %err, "cannot listen for share events; polling");
                tokio::select! {
                    () = tokio::time::sleep(RELISTEN_AFTER) => continue,
                    () = tx.closed() => return,
                }
            }
        };
        loop {
            tokio::select! {
                received = listener.recv() => match received {
                    // A full channel already holds a wake-up; nothing is lost.
                    Ok(()) => { let _ = tx.try_send(()); }
                    Err(_) => break,
                },
                () = tx.closed() => {
                    drop(listener);
                    // Let the listener hand its connection back while this runtime still runs.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    return;
                }
            }
        }
    }
}

/// Where the next read starts: just before the oldest id in the lookback window that has not
/// been seen yet (an insert that was still in flight, or rolled back), or at the newest id when
/// the window has no gap. Reading the whole window every time would fetch up to [`LOOKBACK`]
/// rows per wake-up (on PostgreSQL, one wake-up per transition) only to skip them all.
fn read_from(newest: i64, applied: &BTreeSet<i64>) -> i64 {
    let floor = newest.saturating_sub(LOOKBACK).max(0);
    let mut expect = floor + 1;
    for id in applied.range(floor + 1..=newest) {
        if *id != expect {
            break;
        }
        expect += 1;
    }
    if expect <= newest { expect - 1 } else { newest }
}

impl Tailer {
    /// Applies every event not yet applied; on error nothing is marked applied.
    async fn catch_up(
        &self,
        newest: &mut i64,
        applied: &mut BTreeSet<i64>,
    ) -> Result<(), StorageError> {
        loop {
            let from = read_from(*newest, applied);
            let events = self.store.share_events_after(from, BATCH).await?;
            let mut models = Vec::new();
            let mut seen = HashSet::new();
            let mut oldest_fresh = None;
            for event in &events {
                if applied.contains(&event.id) || self.local_events.contains(event.id) {
                    continue;
                }
                oldest_fresh.get_or_insert(event.at);
                if seen.insert(event.model_id) {
                    models.push(event.model_id);
                }
            }
            for model_id in models {
                let Some(row) = self.store.get_catalog_row(model_id).await? else {
                    continue;
                };
                if self
                    .public
                    .send(Update::Apply(Box::new(row)))
                    .await
                    .is_err()
                {
                    // The catalog is stopping.
                    return Ok(());
                }
            }
            if let Some(at) = oldest_fresh {
                let age = (chrono::Utc::now() - at.as_datetime())
                    .to_std()
                    .unwrap_or_default();
                self.lag.0.store(
                    u64::try_from(age.as_micros()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
            }
            applied.extend(events.iter().map(|e| e.id));
            if let Some(last) = events.last() {
                *newest = (*newest).max(last.id);
            }
            let floor = newest.saturating_sub(LOOKBACK);
            *applied = applied.split_off(&floor);
            self.local_events.forget_below(floor);
            if (events.len() as u64) < BATCH {
                return Ok(());
            }
        }
    }
}
