//! PostgreSQL connections the store keeps itself, so that nothing done on a connection waits
//! without a deadline.
//!
//! sqlx's pool checks every connection handed back to it with a ping that has no deadline. A
//! connection that goes silent in that instant (a failover, a NAT or firewall that dropped its
//! state, a hung server or proxy) then holds its pool slot for good, and a few such instants
//! under load starve the pool: every request waits for a connection and answers 503 until a
//! restart. So on PostgreSQL the store opens its connections itself and keeps them between
//! statements ([`Kept`]): a statement or a transaction runs on a [`Lease`] under a deadline; a
//! connection that answered goes back to the idle stack with no further round trip; one that
//! missed its deadline, failed on the wire, or whose caller went away is closed, never reused,
//! and a fresh one is opened when needed. A connection idle longer than [`IDLE_CHECK`] is pinged
//! (within the acquire timeout) before it is used again, as sqlx's pool would.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{ConnectOptions as _, Connection as _, Executor as _};
use sea_orm::{ConnAcquireErr, DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::deadline::late;

/// A connection idle longer than this is pinged before it is used again.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// An idle connection older than this is closed when the next one is handed back (sqlx's pool
/// default), so that a quiet instance does not hold sessions it no longer needs.
const IDLE_LIMIT: Duration = Duration::from_secs(600);

/// How long a discarded connection is given to say goodbye to the server.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// What [`Kept`] needs to open and bound its connections.
#[derive(Debug, Clone)]
pub(crate) struct KeptSettings {
    pub(crate) url: String,
    /// Startup parameters sent with every connection (`-c name=value`).
    pub(crate) parameters: Vec<(&'static str, String)>,
    pub(crate) max_connections: u32,
    /// Idle connections [`Kept::release_idle`] leaves open.
    pub(crate) min_connections: u32,
    pub(crate) connect_timeout: Duration,
    /// The longest wait for a connection: a free slot, the idle check, opening one.
    pub(crate) acquire_timeout: Duration,
}

/// PostgreSQL connections kept between statements, at most `max_connections` at once; cheap to
/// clone. See the module documentation.
#[derive(Clone)]
pub(crate) struct Kept {
    inner: Arc<Inner>,
}

struct Inner {
    options: PgConnectOptions,
    connect_timeout: Duration,
    acquire_timeout: Duration,
    max: u32,
    min: u32,
    /// One permit per connection in use or being opened.
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Conn>>,
    open: Arc<AtomicU32>,
    closed: AtomicBool,
}

/// One open connection; counted in `open` until dropped. Dropping it closes it (politely, in the
/// background, when there is a runtime to do so).
struct Conn {
    raw: Option<PgConnection>,
    since: Instant,
    open: Arc<AtomicU32>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(raw) = self.raw.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(CLOSE_WAIT, raw.close()).await;
            });
        }
    }
}

/// A connection leased for one statement or transaction. [`Lease::keep`] puts it back for the
/// next caller; dropped otherwise (a deadline, an error on the wire, a caller that went away),
/// the connection is closed.
pub(crate) struct Lease {
    conn: Option<Conn>,
    kept: Arc<Inner>,
    _slot: OwnedSemaphorePermit,
}

impl Lease {
    pub(crate) fn raw(&mut self) -> Result<&mut PgConnection, DbErr> {
        self.conn
            .as_mut()
            .and_then(|c| c.raw.as_mut())
            .ok_or_else(|| DbErr::Conn(RuntimeErr::Internal("the connection was closed".into())))
    }

    /// Hands the connection back for reuse.
    pub(crate) fn keep(mut self) {
        if let Some(mut conn) = self.conn.take()
            && !self.kept.closed.load(Ordering::Relaxed)
        {
            conn.since = Instant::now();
            let mut idle = self
                .kept
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            idle.retain(|c| c.since.elapsed() < IDLE_LIMIT);
            idle.push(conn);
        }
    }
}

impl Kept {
    pub(crate) fn new(settings: &KeptSettings) -> Result<Self, DbErr> {
        let options = PgConnectOptions::from_str(&settings.url)
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?
            .options(settings.parameters.iter().map(|(k, v)| (*k, v)))
            .disable_statement_logging();
        let max = settings.max_connections.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                options,
                connect_timeout: settings.connect_timeout,
                acquire_timeout: settings.acquire_timeout,
                max,
                min: settings.min_connections,
                slots: Arc::new(Semaphore::new(usize::try_from(max).unwrap_or(1))),
                idle: Mutex::new(Vec::new()),
                open: Arc::new(AtomicU32::new(0)),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// A connection for one statement or transaction, within the acquire timeout.
    pub(crate) async fn lease(&self) -> Result<Lease, DbErr> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Relaxed) {
            return Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed));
        }
        tokio::time::timeout(inner.acquire_timeout, self.lease_now())
            .await
            .unwrap_or(Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)))
    }

    async fn lease_now(&self) -> Result<Lease, DbErr> {
        let inner = &self.inner;
        let slot = Arc::clone(&inner.slots)
            .acquire_owned()
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?;
        loop {
            let popped = inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let conn = match popped {
                Some(conn) if conn.since.elapsed() < IDLE_CHECK => conn,
                Some(mut conn) => {
                    let alive = match conn.raw.as_mut() {
                        Some(raw) => raw.ping().await.is_ok(),
                        None => false,
                    };
                    if !alive {
                        // Closed on drop; try the next one.
                        continue;
                    }
                    conn
                }
                None => self.open().await?,
            };
            return Ok(Lease {
                conn: Some(conn),
                kept: Arc::clone(inner),
                _slot: slot,
            });
        }
    }

    async fn open(&self) -> Result<Conn, DbErr> {
        let inner = &self.inner;
        let raw = tokio::time::timeout(inner.connect_timeout, inner.options.connect())
            .await
            .map_err(|_| late(inner.connect_timeout))?
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
        inner.open.fetch_add(1, Ordering::Relaxed);
        Ok(Conn {
            raw: Some(raw),
            since: Instant::now(),
            open: Arc::clone(&inner.open),
        })
    }

    /// Closes the idle connections and every one handed back from now on.
    pub(crate) fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
        self.inner.slots.close();
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Closes the idle connections beyond `min_connections`, those idle longest first, and
    /// returns how many: after a burst, the sessions it opened are not kept for the next one
    /// (a connection costs memory here and a backend process on the server). Connections in
    /// use are left alone; more are opened again when needed.
    pub(crate) fn release_idle(&self) -> usize {
        let keep = usize::try_from(self.inner.min).unwrap_or(usize::MAX);
        let released: Vec<Conn> = {
            let mut idle = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let extra = idle.len().saturating_sub(keep);
            // The stack's bottom has been idle longest.
            idle.drain(..extra).collect()
        };
        // Closed on drop, outside the lock.
        released.len()
    }

    /// Connections open now, of them idle, and the most there may be.
    pub(crate) fn counts(&self) -> (u32, u32, u32) {
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        (
            self.inner.open.load(Ordering::Relaxed),
            u32::try_from(idle).unwrap_or(u32::MAX),
            self.inner.max,
        )
    }

    /// `work` on a connection leased for it, which goes back for reuse when `work` leaves it
    /// intact (see [`Lease::run`]).
    async fn once<T>(
        &self,
        work: impl AsyncFnOnce(&mut Lease) -> Result<T, DbErr>,
    ) -> Result<T, DbErr> {
        let mut lease = self.lease().await?;
        let done = work(&mut lease).await;
        lease.keep();
        done
    }

    /// `statement`'s rows, on a leased connection, within `limit` (leasing aside).
    pub(crate) async fn fetch_all(
        &self,
        statement: &Statement,
        limit: Duration,
    ) -> Result<Vec<QueryResult>, DbErr> {
        self.once(async |lease| lease.fetch_all(statement, limit).await)
            .await
    }

    /// `statement`'s first row, if any, within `limit`.
    pub(crate) async fn fetch_optional(
        &self,
        statement: &Statement,
        limit: Duration,
    ) -> Result<Option<QueryResult>, DbErr> {
        self.once(async |lease| lease.fetch_optional(statement, limit).await)
            .await
    }

    /// `statement` executed within `limit`.
    pub(crate) async fn execute(
        &self,
        statement: &Statement,
        limit: Duration,
    ) -> Result<ExecResult, DbErr> {
        self.once(async |lease| lease.execute(statement, limit).await)
            .await
    }

    /// `sql` (no parameters, possibly several statements) executed within `limit`.
    pub(crate) async fn execute_unprepared(
        &self,
        sql: &str,
        limit: Duration,
    ) -> Result<ExecResult, DbErr> {
        self.once(async |lease| lease.execute_unprepared(sql, limit).await)
            .await
    }

    /// A transaction on a connection of its own; every statement in it, `COMMIT` included,
    /// runs within `limit`.
    pub(crate) async fn begin(&self, limit: Duration) -> Result<KeptTransaction, DbErr> {
        let mut lease = self.lease().await?;
        lease.run(limit, |raw| raw.execute("BEGIN")).await?;
        Ok(KeptTransaction {
            lease: tokio::sync::Mutex::new(lease),
            limit,
        })
    }
}

mod statements;
#[cfg(test)]
mod tests;

pub(crate) use statements::KeptTransaction;
