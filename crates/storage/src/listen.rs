//! Waking up when another instance writes a share event (PostgreSQL `LISTEN/NOTIFY`).
//!
//! The share-events table is the outbox every instance tails; a notification only says "look
//! now", so a lost one costs at most one polling interval. Notifications are sent after
//! transitions commit ([`Store::announce_share_events`]), one for any number of transitions.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DbErr, RuntimeErr};
use tokio::sync::mpsc;

use crate::{Backend, StorageError, Store};

pub(crate) const CHANNEL: &str = "modelshare_share_events";

/// Wait before opening a new listener after the last one failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

fn unavailable(err: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(DbErr::Conn(RuntimeErr::Internal(err.to_string())))
}

impl Store {
    /// Wakes every instance's outbox tailer (PostgreSQL `NOTIFY`; nothing on SQLite, where
    /// tailers poll). Its own statement, outside any transition: see
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

    /// A wake-up each time another instance announces share events (a full channel already
    /// holds one: none is lost). On SQLite the channel closes at once: tailers poll.
    ///
    /// The listening is a task on the runtime that opened the store, not on the caller's: its
    /// connection is handed back while that runtime still runs, even when the caller's (the
    /// catalog's arbiter) stops first at shutdown. The task reopens a listener that failed
    /// after [`RELISTEN_AFTER`], and ends when the receiver is dropped.
    pub fn share_event_wake_ups(&self) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(1);
        if self.backend == Backend::Postgres {
            self.runtime.spawn(listen(self.url.clone(), tx));
        }
        rx
    }
}

/// A dedicated connection listening on [`CHANNEL`].
async fn listener(url: &str) -> Result<PgListener, StorageError> {
    let mut listener = PgListener::connect(url).await.map_err(unavailable)?;
    listener.listen(CHANNEL).await.map_err(unavailable)?;
    Ok(listener)
}

async fn listen(url: std::sync::Arc<str>, tx: mpsc::Sender<()>) {
    loop {
        let mut listener = match listener(&url).await {
            Ok(listener) => listener,
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
                    Ok(_) => { let _ = tx.try_send(()); }
                    Err(err) => {
                        tracing::debug!(error = %err, "share-event listener lost; listening again");
                        break;
                    }
                },
                () = tx.closed() => return,
            }
        }
    }
}
