//! SQLite: the WAL checkpointed off the writer's path.
//!
//! In WAL mode every commit appends the pages it changed to the log, and a checkpoint copies
//! them back into the database file and flushes it. By default SQLite runs that checkpoint
//! inside the commit that takes the log past 1,000 pages, so every few hundred transitions one
//! commit also copies and flushes the database file, and every transition queued behind it on
//! the one writer waits too: at 1,000 transitions/s, a commit of about 6 ms every 150 ms, which
//! was the whole tail of the share path.
//!
//! Instead the writer checkpoints only as a fallback (past [`WRITER_FALLBACK_PAGES`]), and a
//! task with a connection of its own runs a passive checkpoint [`CHECKPOINT_EVERY`] whenever
//! the file changed since its last whole one (a reader still using older pages can leave part
//! of the log to a later tick). A passive checkpoint never waits for a lock and never
//! holds one the writer needs: the writer goes on appending meanwhile, and the log restarts
//! from its beginning once everything in it has been copied.

use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{ConnectOptions, Connection};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::connect::SqliteSynchronous;

/// How often the checkpointer looks whether the file changed, and checkpoints if it did.
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(20);

/// The writer's own `wal_autocheckpoint`, in pages: only reached when the checkpointer cannot
/// keep up (or cannot run), so that the log stays bounded even then.
pub(crate) const WRITER_FALLBACK_PAGES: u32 = 10_000;

/// How long a checkpointer that lost its connection waits before opening another.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

/// The running checkpointer of one SQLite store: it stops when told to ([`Checkpointer::stop`])
/// or when every handle to it is gone.
pub(crate) struct Checkpointer {
    stop: mpsc::Sender<()>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts checkpointing the file `url` names on `runtime`, syncing as `synchronous` says.
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        url: &str,
        synchronous: SqliteSynchronous,
    ) -> Arc<Self> {
        let (stop, stopped) = mpsc::channel(1);
        let task = runtime.spawn(run(url.to_owned(), synchronous, stopped));
        Arc::new(Self {
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// Stops the checkpointer and waits (up to `within`) for its connection to close.
    pub(crate) async fn stop(&self, within: Duration) {
        let _ = self.stop.try_send(());
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && tokio::time::timeout(within, task).await.is_err()
        {
            tracing::debug!("the WAL checkpointer did not stop in time");
        }
    }
}

/// Opens the checkpointer's connection.
async fn open(url: &str, synchronous: SqliteSynchronous) -> Result<SqliteConnection, String> {
    SqliteConnectOptions::from_str(url)
        .map_err(|err| err.to_string())?
        // A checkpoint flushes the database file as this connection's `synchronous` says.
        .synchronous(synchronous.to_sqlx())
        .connect()
        .await
        .map_err(|err| err.to_string())
}

/// Every [`CHECKPOINT_EVERY`]: when the file changed (`PRAGMA data_version` moves when any
/// other connection commits) since the last checkpoint that copied the whole log,
/// `PRAGMA wal_checkpoint(PASSIVE)`. Ends when told to stop or when its store is gone.
async fn run(url: String, synchronous: SqliteSynchronous, mut stopped: mpsc::Receiver<()>) {
    // Whether the last attempt failed: the first failure after a success is a warning.
    let mut failing = false;
    loop {
        let mut connection = match open(&url, synchronous).await {
            Ok(connection) => connection,
            Err(err) => {
                tracing::debug!(error = %err, "cannot open the WAL checkpointer's connection");
                tokio::select! {
                    _ = stopped.recv() => return,
                    () = tokio::time::sleep(REOPEN_AFTER) => continue,
                }
            }
        };
        let mut checkpointed: Option<i64> = None;
        loop {
            tokio::select! {
                _ = stopped.recv() => {
                    let _ = connection.close().await;
                    return;
                }
                () = tokio::time::sleep(CHECKPOINT_EVERY) => {}
            }
            let step = async {
                let version: i64 = sea_orm::sqlx::query_scalar("PRAGMA data_version")
                    .fetch_one(&mut connection)
                    .await?;
                if checkpointed == Some(version) {
                    return Ok((version, true));
                }
                // (blocked, pages in the log, pages copied): a reader still using older pages
                // leaves some in the log, which the next tick tries again.
                let (_, log, copied): (i64, i64, i64) =
                    sea_orm::sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                        .fetch_one(&mut connection)
                        .await?;
                Ok::<_, sea_orm::sqlx::Error>((version, log == copied))
            };
            match step.await {
                Ok((version, whole)) => {
                    checkpointed = whole.then_some(version);
                    failing = false;
                }
                Err(err) => {
                    if failing {
                        tracing::debug!(error = %err, "WAL checkpoint failed again");
                    } else {
                        tracing::warn!(error = %err, "WAL checkpoint failed; retrying");
                    }
                    failing = true;
                    // A connection in an unknown state is not reused.
                    break;
                }
            }
        }
    }
}
