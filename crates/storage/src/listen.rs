//! Waking up when another instance writes a share event (PostgreSQL `LISTEN/NOTIFY`).
//!
//! The share-events table is the outbox every instance tails; a notification only says "look
//! now", so a lost one costs at most one polling interval. Notifications are sent after
//! transitions commit ([`Store::announce_share_events`]), one for any number of transitions.

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DbErr, RuntimeErr};

use crate::{Backend, StorageError, Store};

pub(crate) const CHANNEL: &str = "modelshare_share_events";

/// A dedicated connection listening for new share events.
pub struct ShareEventListener {
    inner: PgListener,
}

fn unavailable(err: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(DbErr::Conn(RuntimeErr::Internal(err.to_string())))
}

impl ShareEventListener {
    /// Waits for the next notification. An error means the connection is gone; drop the
    /// listener and poll until a new one can be opened.
    pub async fn recv(&mut self) -> Result<(), StorageError> {
        self.inner.recv().await.map(|_| ()).map_err(unavailable)
    }
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
        // Through the bounded pool: a silently dead connection must not stop the announcements
        // (nor keep its pool slot) for good.
        self.reader
            .execute_unprepared(&sql)
            .await
            .map(|_| ())
            .map_err(crate::error::classify)
    }

    /// A listener on PostgreSQL; `None` on SQLite (which only polls).
    pub async fn share_event_listener(&self) -> Result<Option<ShareEventListener>, StorageError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut inner = PgListener::connect(&self.url).await.map_err(unavailable)?;
        inner.listen(CHANNEL).await.map_err(unavailable)?;
        Ok(Some(ShareEventListener { inner }))
    }
}
