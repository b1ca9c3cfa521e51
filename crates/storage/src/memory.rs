//! Giving back the memory the database connections took during a burst.
//!
//! A pool opens connections up to its maximum while requests queue for one, and keeps them
//! open for minutes once the burst has passed. On SQLite each connection also keeps the pages
//! it read in its own cache, up to its `cache_size`: a burst of reads over many models leaves
//! every reader open with a full cache, and the writer's cache full, about 8 MB with the
//! default settings. On PostgreSQL each connection holds its buffers and statements here and
//! a backend process on the server. [`Store::release_memory`] gives it back at once.

use sea_orm::sqlx::{self, Sqlite, pool::PoolConnection};

use crate::kept::Kept;
use crate::{Backend, Store};

/// What [`Store::release_memory`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Idle connections closed (SQLite readers, PostgreSQL connections), beyond the minimum.
    pub closed: usize,
    /// Idle connections whose page cache was emptied (the readers kept, the writer).
    pub emptied: usize,
}

impl Store {
    /// On SQLite, closes the idle readers beyond the pool's `min_connections` and empties the
    /// page cache of the other idle connections (`PRAGMA shrink_memory`), the writer's too.
    /// Busy connections are left alone, and no request waits for this: only idle connections
    /// are taken, none is opened. The pool opens readers again when requests need them.
    /// On PostgreSQL, closes the idle connections beyond `min_connections` (the server holds
    /// the caches).
    pub async fn release_memory(&self) -> Released {
        let mut released = Released::default();
        if self.backend != Backend::Sqlite {
            released.closed = self.reader.connections().map_or(0, Kept::release_idle);
            return released;
        }
        for db in [self.reader.pool(), self.writer.pool()] {
            let pool = db.get_sqlite_connection_pool();
            let keep = usize::try_from(pool.options().get_min_connections()).unwrap_or(1);
            // Held until all are done, so that each idle connection is taken once.
            let mut kept: Vec<PoolConnection<Sqlite>> = Vec::new();
            // At most one pass over the pool, even if requests keep returning readers to it.
            let most = pool.options().get_max_connections();
            for _ in 0..most {
                let Some(mut conn) = pool.try_acquire() else {
                    break;
                };
                if kept.len() >= keep {
                    // Closing fails only on a connection already broken: it is gone either way.
                    if let Err(error) = conn.close().await {
                        tracing::debug!(%error, "closing an idle reader failed");
                    }
                    released.closed += 1;
                    continue;
                }
                match sqlx::query("PRAGMA shrink_memory")
                    .execute(&mut *conn)
                    .await
                {
                    Ok(_) => released.emptied += 1,
                    Err(error) => tracing::debug!(%error, "emptying a connection's cache failed"),
                }
                kept.push(conn);
            }
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteSynchronous;
    use crate::connect::sqlite_test_settings;

    /// Waits until `n` connections of `pool` are idle: a dropped connection goes back to its
    /// pool on a task of its own.
    async fn idle(pool: &sqlx::Pool<Sqlite>, n: usize) {
        for _ in 0..1000 {
            if pool.num_idle() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("{n} connections never became idle");
    }

    #[tokio::test]
    async fn a_burst_leaves_the_minimum_of_readers_and_the_busy_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings =
            sqlite_test_settings(&dir.path().join("t.db"), SqliteSynchronous::Normal);
        settings.max_connections = 4;
        settings.min_connections = 1;
        let store = Store::connect(&settings).await.unwrap();
        let pool = store.reader.pool().get_sqlite_connection_pool();
        // A burst: four readers at once, each reading a page.
        let mut burst = Vec::new();
        for _ in 0..4 {
            let mut conn = pool.acquire().await.unwrap();
            sqlx::query("SELECT COUNT(*) FROM sqlite_master")
                .execute(&mut *conn)
                .await
                .unwrap();
            burst.push(conn);
        }
        // One is still busy when the burst is over.
        let busy = burst.pop().unwrap();
        drop(burst);
        assert_eq!(pool.size(), 4);
        idle(pool, 3).await;

        let released = store.release_memory().await;
        // Of the three idle readers, one (the minimum) is kept and emptied, the others closed;
        // the writer is emptied; the busy reader is untouched.
        assert_eq!(
            released,
            Released {
                closed: 2,
                emptied: 2
            }
        );
        assert_eq!(pool.size(), 2);
        drop(busy);
        // Reads go on, and the pool opens readers again when they are needed.
        let mut again = Vec::new();
        for _ in 0..4 {
            again.push(pool.acquire().await.unwrap());
        }
        assert_eq!(pool.size(), 4);
        drop(again);
        store.ping().await.unwrap();
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn nothing_to_release_while_every_connection_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let settings = sqlite_test_settings(&dir.path().join("t.db"), SqliteSynchronous::Normal);
        let store = Store::connect(&settings).await.unwrap();
        let readers = store.reader.pool().get_sqlite_connection_pool();
        let writer = store.writer.pool().get_sqlite_connection_pool();
        // Every connection either pool may have (two readers, the writer), all busy.
        let held = (
            readers.acquire().await.unwrap(),
            readers.acquire().await.unwrap(),
            writer.acquire().await.unwrap(),
        );
        assert_eq!(readers.size(), 2);
        assert_eq!(store.release_memory().await, Released::default());
        drop(held);
        store.close().await.unwrap();
    }
}
