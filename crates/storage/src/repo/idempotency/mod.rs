//! Idempotency keys: a POST sent with an `Idempotency-Key` claims the key before it runs and
//! stores its response after, so that a retry with the same key is answered from the store.
//!
//! Every step is one statement whose outcome decides it, so concurrent requests with the same key
//! (on this instance or another) agree on who runs: the insert of the claim is the only way in,
//! a lease that ran out is taken over by a compare-and-set on it, and an expired row is replaced
//! by a compare-and-set on its creation time.

use std::time::Duration;

use domain::ApiKeyId;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TryInsertResult,
    UpdateMany,
};

mod lane;

pub(crate) use lane::IdempotencyLane;

use super::to_dt;
use crate::Store;
use crate::entities::idempotency_keys::{self as rows, Column};
use crate::error::{StorageError, classify, corrupt};

/// A request's claim on a key: who sent it, the key, and what the request was.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyClaim<'a> {
    pub api_key_id: ApiKeyId,
    pub key: &'a str,
    /// A digest of the request's method, path and body.
    pub fingerprint: &'a str,
    /// How long the request may run before another may take the key over.
    pub lease: Duration,
    /// How long a key is kept after its first use.
    pub ttl: Duration,
}

/// A response as first answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The key is this request's: run it, then complete or release the key.
    Run,
    /// The key was used for another request (method, path or body).
    Reused,
    /// A request with the key is still running.
    InFlight,
    /// The key's request ran: its response.
    Done(StoredResponse),
}

/// The row of `key` sent with `api_key_id`.
fn the_key(api_key_id: ApiKeyId, key: &str) -> Condition {
    Condition::all()
        .add(Column::ApiKeyId.eq(api_key_id.as_uuid()))
        .add(Column::Key.eq(key))
}

fn seconds(d: Duration) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 1000))
}

impl Store {
    /// Claims `claim.key` for this request, or says why not.
    pub async fn claim_idempotency_key(
        &self,
        claim: IdempotencyClaim<'_>,
    ) -> Result<Claimed, StorageError> {
        let op = Op::Claim(OwnedClaim::of(claim));
        Ok(self.idempotency(op).await?.unwrap_or(Claimed::InFlight))
    }

    /// Stores the response of the request that claimed the key.
    pub async fn complete_idempotency_key(
        &self,
        api_key_id: ApiKeyId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StorageError> {
        let op = Op::Complete(api_key_id, key.to_owned(), response.clone());
        self.idempotency(op).await.map(drop)
    }

    /// Gives the key up without a response (one not worth keeping, such as a 503), so that a
    /// retry runs the request again.
    pub async fn release_idempotency_key(
        &self,
        api_key_id: ApiKeyId,
        key: &str,
    ) -> Result<(), StorageError> {
        let op = Op::Release(api_key_id, key.to_owned());
        self.idempotency(op).await.map(drop)
    }

    /// Runs `op` on the writer: on SQLite through the lane, which commits many in one
    /// transaction; on PostgreSQL as its own statements (the server groups their commits).
    async fn idempotency(&self, op: Op) -> Result<Option<Claimed>, StorageError> {
        match &self.idempotency_lane {
            Some(lane) => lane.submit(op).await,
            None => op.apply(&self.writer).await,
        }
    }

    /// Deletes the keys first used more than `ttl` ago; returns how many.
    pub async fn sweep_idempotency_keys(&self, ttl: Duration) -> Result<u64, StorageError> {
        let cutoff = to_dt(domain::now()) - seconds(ttl);
        let swept = rows::Entity::delete_many()
            .filter(Column::CreatedAt.lte(cutoff))
            .exec(&self.writer)
            .await
            .map_err(classify)?;
        Ok(swept.rows_affected)
    }
}

/// [`IdempotencyClaim`], owned, to travel to the lane.
#[derive(Debug, Clone)]
pub(crate) struct OwnedClaim {
    api_key_id: ApiKeyId,
    key: String,
    fingerprint: String,
    lease: Duration,
    ttl: Duration,
}

impl OwnedClaim {
    fn of(claim: IdempotencyClaim<'_>) -> Self {
        Self {
            api_key_id: claim.api_key_id,
            key: claim.key.to_owned(),
            fingerprint: claim.fingerprint.to_owned(),
            lease: claim.lease,
            ttl: claim.ttl,
        }
    }
}

/// One write on the idempotency keys.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Claim(OwnedClaim),
    Complete(ApiKeyId, String, StoredResponse),
    Release(ApiKeyId, String),
}

impl Op {
    /// Runs the op's statements on `db`; a claim answers what it found.
    pub(crate) async fn apply<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Option<Claimed>, StorageError> {
        match self {
            Op::Claim(claim) => claim_on(db, claim).await.map(Some),
            Op::Complete(api_key_id, key, response) => complete_on(db, *api_key_id, key, response)
                .await
                .map(|()| None),
            Op::Release(api_key_id, key) => rows::Entity::delete_many()
                .filter(the_key(*api_key_id, key))
                .filter(Column::ResponseStatus.is_null())
                .exec(db)
                .await
                .map(|_| None)
                .map_err(classify),
        }
    }
}

/// Claims `claim.key` on `db`, or says why not.
async fn claim_on<C: ConnectionTrait>(db: &C, claim: &OwnedClaim) -> Result<Claimed, StorageError> {
    let now = to_dt(domain::now());
    let locked_until = now + seconds(claim.lease);
    let inserted = rows::Entity::insert(rows::ActiveModel {
        api_key_id: Set(claim.api_key_id.as_uuid()),
        key: Set(claim.key.clone()),
        fingerprint: Set(claim.fingerprint.clone()),
        locked_until: Set(locked_until),
        response_status: Set(None),
        response_headers: Set(None),
        response_body: Set(None),
        created_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await
    .map_err(classify)?;
    if matches!(inserted, TryInsertResult::Inserted(1)) {
        return Ok(Claimed::Run);
    }
    let Some(row) = rows::Entity::find_by_id((claim.api_key_id.as_uuid(), claim.key.clone()))
        .one(db)
        .await
        .map_err(classify)?
    else {
        // Swept between the insert and the read: a later attempt inserts it.
        return Ok(Claimed::InFlight);
    };
    if row.created_at + seconds(claim.ttl) <= now {
        // Past its time to live, not swept yet: this request's claim replaces it.
        let renewed = rows::Entity::update_many()
            .col_expr(Column::Fingerprint, Expr::value(claim.fingerprint.clone()))
            .col_expr(Column::LockedUntil, Expr::value(locked_until))
            .col_expr(Column::ResponseStatus, Expr::value(Option::<i32>::None))
            .col_expr(Column::ResponseHeaders, Expr::value(Option::<String>::None))
            .col_expr(Column::ResponseBody, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(Column::CreatedAt, Expr::value(now))
            .filter(the_key(claim.api_key_id, &claim.key))
            .filter(Column::CreatedAt.eq(row.created_at));
        return take(db, renewed).await;
    }
    if row.fingerprint != claim.fingerprint {
        return Ok(Claimed::Reused);
    }
    if let Some(status) = row.response_status {
        return stored_response(status, row.response_headers, row.response_body).map(Claimed::Done);
    }
    if row.locked_until > now {
        return Ok(Claimed::InFlight);
    }
    // The request that claimed it stopped without an answer (its process died): take over.
    let taken = rows::Entity::update_many()
        .col_expr(Column::LockedUntil, Expr::value(locked_until))
        .filter(the_key(claim.api_key_id, &claim.key))
        .filter(Column::LockedUntil.eq(row.locked_until))
        .filter(Column::ResponseStatus.is_null());
    take(db, taken).await
}

/// Runs a compare-and-set on a claim: this request's if it changed the row, else another
/// request got there first.
async fn take<C: ConnectionTrait>(
    db: &C,
    update: UpdateMany<rows::Entity>,
) -> Result<Claimed, StorageError> {
    let changed = update.exec(db).await.map_err(classify)?;
    Ok(if changed.rows_affected == 1 {
        Claimed::Run
    } else {
        Claimed::InFlight
    })
}

/// Stores the response of the request that claimed the key (once: a later one changes nothing).
async fn complete_on<C: ConnectionTrait>(
    db: &C,
    api_key_id: ApiKeyId,
    key: &str,
    response: &StoredResponse,
) -> Result<(), StorageError> {
    let headers = serde_json::to_string(&response.headers)
        .map_err(|e| StorageError::bug(format!("response headers: {e}")))?;
    rows::Entity::update_many()
        .col_expr(
            Column::ResponseStatus,
            Expr::value(Some(i32::from(response.status))),
        )
        .col_expr(Column::ResponseHeaders, Expr::value(Some(headers)))
        .col_expr(
            Column::ResponseBody,
            Expr::value(Some(response.body.clone())),
        )
        .filter(the_key(api_key_id, key))
        .filter(Column::ResponseStatus.is_null())
        .exec(db)
        .await
        .map_err(classify)?;
    Ok(())
}

fn stored_response(
    status: i32,
    headers: Option<String>,
    body: Option<Vec<u8>>,
) -> Result<StoredResponse, StorageError> {
    let status =
        u16::try_from(status).map_err(|_| corrupt(format!("stored response status {status}")))?;
    let headers = match headers {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| corrupt(format!("stored response headers: {e}")))?,
        None => Vec::new(),
    };
    Ok(StoredResponse {
        status,
        headers,
        body: body.unwrap_or_default(),
    })
}

impl Store {
    /// Deletes expired idempotency keys every `every`, as a task on the runtime that opened the
    /// store, until the returned handle is aborted. A failed sweep is logged; the next one
    /// catches up.
    pub fn spawn_idempotency_sweeper(
        &self,
        ttl: Duration,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        self.runtime.spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match store.sweep_idempotency_keys(ttl).await {
                    Ok(0) => {}
                    Ok(swept) => tracing::debug!(swept, "expired idempotency keys deleted"),
                    Err(err) => tracing::warn!(error = %err, "sweeping idempotency keys failed"),
                }
            }
        })
    }
}
