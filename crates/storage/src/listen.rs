//! Waking up when another instance writes to an outbox (share events, standing changes):
//! PostgreSQL `LISTEN/NOTIFY`, or on SQLite a watch on the file's `PRAGMA data_version`.
//!
//! The outboxes are tables every instance tails; a wake-up only says "look now", so a lost one
//! costs at most one polling interval. Share-event notifications are sent after transitions
//! commit ([`Store::announce_share_events`]), one for any number of transitions.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DbErr, RuntimeErr};
use tokio::sync::mpsc;

use crate::repo::STANDING_CHANNEL;
use crate::{Backend, StorageError, Store};

pub(crate) const CHANNEL: &str = "modelshare_share_events";

/// Wait before opening a new listener after the last one failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

fn unavailable(err: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(DbErr::Conn(RuntimeErr::Internal(err.to_string())))
}

impl Store {
    /// Wakes every instance's outbox tailer (PostgreSQL `NOTIFY`; nothing on SQLite, where
    /// tailers watch the file). Its own statement, outside any transition: see
    /// [`Store::apply_transition`].
    pub async fn announce_share_events(&self) -> Result<(), StorageError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let sql = format!("SELECT pg_notify('{CHANNEL}', '')");
        // Under the statement deadline: a silently dead connection must not stop the
        // announcements (nor keep its slot) for good.
        self.reader
            .execute_unprepared(&sql)
            .await
            .map(|_| ())
            .map_err(crate::error::classify)
    }

    /// A wake-up each time share events may have been written elsewhere (a full channel
    /// already holds one: none is lost): on PostgreSQL when another instance announces them, on
    /// SQLite when any connection, of this process or another, commits to the file.
    pub fn share_event_wake_ups(&self) -> mpsc::Receiver<()> {
        self.wake_ups(CHANNEL)
    }

    /// A wake-up each time a standing change (see `repo::standing`) may have been committed
    /// elsewhere, as [`Store::share_event_wake_ups`] for share events.
    pub fn standing_wake_ups(&self) -> mpsc::Receiver<()> {
        self.wake_ups(STANDING_CHANNEL)
    }

    /// The listening (PostgreSQL) or watching (SQLite) is a task on the runtime that opened the
    /// store, not on the caller's: its connection is handed back while that runtime still runs,
    /// even when the caller's (the catalog's arbiter) stops first at shutdown. The task reopens
    /// a connection that failed after [`RELISTEN_AFTER`] (the caller polls meanwhile), and ends
    /// when the receiver is dropped.
    fn wake_ups(&self, channel: &'static str) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(1);
        match self.backend {
            Backend::Postgres => {
                self.runtime.spawn(listen(self.url.clone(), channel, tx));
            }
            Backend::Sqlite => {
                if self.file_watch.subscribe(tx) {
                    let hub = std::sync::Arc::clone(&self.file_watch);
                    self.runtime.spawn(watch(self.url.clone(), hub));
                }
            }
        }
        rx
    }
}

/// How often a SQLite watcher asks whether the file changed: one `PRAGMA data_version` on an
/// idle connection of its own, a few microseconds each.
const WATCH_EVERY: Duration = Duration::from_millis(5);

/// SQLite: the one watch of the file a store runs, shared by every wake-up channel it hands out
/// (the catalog's tail, the key cache's follower, the webhook engine): one connection and one
/// `PRAGMA data_version` every [`WATCH_EVERY`] for all of them.
#[derive(Default)]
pub(crate) struct FileWatch(std::sync::Mutex<Subscribers>);

#[derive(Default)]
struct Subscribers {
    channels: Vec<mpsc::Sender<()>>,
    /// Whether a [`watch`] task runs for them.
    watching: bool,
}

impl FileWatch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Subscribers> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a channel; true when no watch runs yet (the caller then starts one).
    fn subscribe(&self, tx: mpsc::Sender<()>) -> bool {
        let mut subscribers = self.lock();
        subscribers.channels.push(tx);
        let start = !subscribers.watching;
        subscribers.watching = true;
        start
    }

    /// Drops the channels whose receiver is gone, and wakes the others if `wake` (a full
    /// channel already holds a wake-up: none is lost). False, and the watch is over, once no
    /// channel is left.
    fn tell(&self, wake: bool) -> bool {
        let mut subscribers = self.lock();
        subscribers.channels.retain(|tx| !tx.is_closed());
        if wake {
            for tx in &subscribers.channels {
                let _ = tx.try_send(());
            }
        }
        subscribers.watching = !subscribers.channels.is_empty();
        subscribers.watching
    }
}

/// SQLite: a connection of its own that reads `PRAGMA data_version` every [`WATCH_EVERY`]; the
/// value changes when any other connection (this process's writer, or another process)
/// commits. Ends when no one listens any more.
async fn watch(url: std::sync::Arc<str>, hub: std::sync::Arc<FileWatch>) {
    use sea_orm::sqlx::{Connection, sqlite::SqliteConnection};
    loop {
        let mut connection = match SqliteConnection::connect(&url).await {
            Ok(connection) => connection,
            Err(err) => {
                tracing::debug!(error = %err, "cannot watch the database file; polling");
                tokio::time::sleep(RELISTEN_AFTER).await;
                if !hub.tell(false) {
                    return;
                }
                continue;
            }
        };
        let mut seen: Option<i64> = None;
        loop {
            let version = sea_orm::sqlx::query_scalar::<_, i64>("PRAGMA data_version")
                .fetch_one(&mut connection)
                .await;
            let (changed, lost) = match version {
                Ok(version) => {
                    let changed = seen.is_some_and(|seen| seen != version);
                    seen = Some(version);
                    (changed, false)
                }
                Err(err) => {
                    tracing::debug!(error = %err, "database watcher lost; watching again");
                    // What changed meanwhile is read by the wake-up this sends.
                    (true, true)
                }
            };
            if !hub.tell(changed) {
                return;
            }
            if lost {
                break;
            }
            tokio::time::sleep(WATCH_EVERY).await;
        }
    }
}

/// A dedicated connection listening on `channel`.
async fn listener(url: &str, channel: &str) -> Result<PgListener, StorageError> {
    let mut listener = PgListener::connect(url).await.map_err(unavailable)?;
    listener.listen(channel).await.map_err(unavailable)?;
    Ok(listener)
}

async fn listen(url: std::sync::Arc<str>, channel: &'static str, tx: mpsc::Sender<()>) {
    loop {
        let mut listener = match listener(&url, channel).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::debug!(error = %err, channel, "cannot listen; polling");
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
                    Ok(_) => { let _ = tx.try_send(()); }
                    Err(err) => {
                        tracing::debug!(error = %err, channel, "listener lost; listening again");
                        // What was announced meanwhile is read by the wake-up this sends.
                        let _ = tx.try_send(());
                        break;
                    }
                },
                () = tx.closed() => return,
            }
        }
    }
}
