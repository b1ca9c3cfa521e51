//! Scheduled shares and unshares: what the API creates, lists and cancels, and what the runner
//! claims and completes.
//!
//! # Exactly once across instances
//!
//! A runner claims due rows with one statement that sets a claim token and a lease
//! (`claimed_until`) on rows still `pending`, due, and not held under a live lease. On
//! PostgreSQL the rows are chosen by a sub-select `FOR UPDATE SKIP LOCKED`: two instances
//! claiming at once lock different rows, and a row one of them claimed is re-checked by the
//! other against its new lease and skipped. On SQLite the single writer connection runs one
//! claim at a time (across processes, the file's write lock does), so the plain conditional
//! `UPDATE` is enough. Only the holder of the claim's token records the outcome; a runner that
//! stops mid-run leaves the lease to run out, and another claims the row after it.

use domain::{
    ApiKeyId, ModelId, ProjectId, ScheduleId, ScheduleStatus, ShareAction, Timestamp, UserId, now,
};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    Statement,
};

use super::{newest_first, project_id, to_dt, to_ts};
use crate::entities::schedules;
use crate::error::{StorageError, classify, classify_as, corrupt};
use crate::records::{CancelRefused, Claim, NewSchedule, Page, Schedule, ScheduleOutcome};
use crate::{Backend, Store};

/// The stored text of a status.
const PENDING: &str = "pending";

/// The claim: due pending rows not held under a live lease, oldest `at` first; `{lock}` is
/// `FOR UPDATE SKIP LOCKED` on PostgreSQL. Binds: token, lease end, now, now, limit.
const CLAIM: &str = "UPDATE schedules SET claim_token = {p1}, claimed_until = {p2}, \
attempts = attempts + 1 WHERE id IN (SELECT id FROM schedules WHERE status = 'pending' \
AND at <= {p3} AND (claimed_until IS NULL OR claimed_until < {p4}) ORDER BY at, id \
LIMIT {p5}{lock}) RETURNING *";

/// [`CLAIM`] in `backend`'s dialect.
fn claim_sql(backend: Backend) -> String {
    let (marks, lock) = match backend {
        Backend::Postgres => (["$1", "$2", "$3", "$4", "$5"], " FOR UPDATE SKIP LOCKED"),
        Backend::Sqlite => (["?", "?", "?", "?", "?"], ""),
    };
    let [p1, p2, p3, p4, p5] = marks;
    CLAIM
        .replace("{p1}", p1)
        .replace("{p2}", p2)
        .replace("{p3}", p3)
        .replace("{p4}", p4)
        .replace("{p5}", p5)
        .replace("{lock}", lock)
}

/// Stored JSON text as a value; text that is not JSON is a corrupt row.
fn json(id: uuid::Uuid, text: Option<String>) -> Result<Option<serde_json::Value>, StorageError> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| corrupt(format!("stored schedule {id}: {e}")))
    })
    .transpose()
}

fn schedule_record(row: schedules::Model) -> Result<Schedule, StorageError> {
    let bad = |e: domain::UnknownValue| corrupt(format!("stored schedule {}: {e}", row.id));
    Ok(Schedule {
        id: ScheduleId::from_uuid(row.id),
        project_id: project_id(&row.project_id)?,
        model_id: ModelId::from_uuid(row.model_id),
        action: row.action.parse::<ShareAction>().map_err(bad)?,
        at: to_ts(row.at),
        status: row.status.parse::<ScheduleStatus>().map_err(bad)?,
        created_at: to_ts(row.created_at),
        created_by_user_id: UserId::from_uuid(row.created_by_user_id),
        created_by_key_id: ApiKeyId::from_uuid(row.created_by_key_id),
        result_at: row.result_at.map(to_ts),
        result: json(row.id, row.result)?,
        error: json(row.id, row.error)?,
        cancelled_at: row.cancelled_at.map(to_ts),
        attempts: row.attempts,
    })
}

impl Store {
    /// Creates a pending schedule.
    pub async fn create_schedule(&self, new: NewSchedule) -> Result<Schedule, StorageError> {
        let row = schedules::Model {
            id: ScheduleId::generate().as_uuid(),
            project_id: new.project_id.as_str().to_owned(),
            model_id: new.model_id.as_uuid(),
            action: new.action.as_str().to_owned(),
            at: to_dt(new.at),
            status: PENDING.to_owned(),
            created_at: to_dt(now()),
            created_by_user_id: new.created_by_user_id.as_uuid(),
            created_by_key_id: new.created_by_key_id.as_uuid(),
            result_at: None,
            result: None,
            error: None,
            cancelled_at: None,
            claim_token: None,
            claimed_until: None,
            attempts: 0,
        };
        schedules::Entity::insert(schedules::ActiveModel {
            id: Set(row.id),
            project_id: Set(row.project_id.clone()),
            model_id: Set(row.model_id),
            action: Set(row.action.clone()),
            at: Set(row.at),
            status: Set(row.status.clone()),
            created_at: Set(row.created_at),
            created_by_user_id: Set(row.created_by_user_id),
            created_by_key_id: Set(row.created_by_key_id),
            result_at: Set(None),
            result: Set(None),
            error: Set(None),
            cancelled_at: Set(None),
            claim_token: Set(None),
            claimed_until: Set(None),
            attempts: Set(0),
        })
        .exec_without_returning(&self.writer)
        .await
        .map_err(|e| classify_as(e, "schedule id", "model"))?;
        schedule_record(row)
    }

    /// The schedule `id` of the model `model_id` in `project_id`, if there is one.
    pub async fn get_schedule(
        &self,
        project_id: &ProjectId,
        model_id: ModelId,
        id: ScheduleId,
    ) -> Result<Option<Schedule>, StorageError> {
        schedules::Entity::find_by_id(id.as_uuid())
            .filter(schedules::Column::ProjectId.eq(project_id.as_str()))
            .filter(schedules::Column::ModelId.eq(model_id.as_uuid()))
            .one(&self.reader)
            .await
            .map_err(classify)?
            .map(schedule_record)
            .transpose()
    }

    /// The project's schedules (of one model, or of all its models), newest first
    /// (`created_at DESC, id DESC`), optionally of one status, after the cursor.
    pub async fn list_schedules(
        &self,
        project_id: &ProjectId,
        model_id: Option<ModelId>,
        status: Option<ScheduleStatus>,
        after: Option<(Timestamp, ScheduleId)>,
        limit: u64,
    ) -> Result<Page<Schedule>, StorageError> {
        let mut query =
            schedules::Entity::find().filter(schedules::Column::ProjectId.eq(project_id.as_str()));
        if let Some(model_id) = model_id {
            query = query.filter(schedules::Column::ModelId.eq(model_id.as_uuid()));
        }
        if let Some(status) = status {
            query = query.filter(schedules::Column::Status.eq(status.as_str()));
        }
        let query = newest_first(
            query,
            schedules::Column::CreatedAt,
            schedules::Column::Id,
            after.map(|(at, id)| (at, id.as_uuid())),
        );
        self.read_page(query, limit, schedule_record).await
    }

    /// Cancels a pending schedule that no runner holds now; the schedule as cancelled, or why
    /// it could not be.
    pub async fn cancel_schedule(
        &self,
        project_id: &ProjectId,
        model_id: ModelId,
        id: ScheduleId,
    ) -> Result<Result<Schedule, CancelRefused>, StorageError> {
        let at = to_dt(now());
        let cancelled = schedules::Entity::update_many()
            .col_expr(
                schedules::Column::Status,
                Expr::value(ScheduleStatus::Cancelled.as_str()),
            )
            .col_expr(schedules::Column::CancelledAt, Expr::value(at))
            .filter(schedules::Column::Id.eq(id.as_uuid()))
            .filter(schedules::Column::ProjectId.eq(project_id.as_str()))
            .filter(schedules::Column::ModelId.eq(model_id.as_uuid()))
            .filter(schedules::Column::Status.eq(PENDING))
            .filter(unclaimed(at))
            .exec(&self.writer)
            .await
            .map_err(classify)?;
        let found = schedules::Entity::find_by_id(id.as_uuid())
            .filter(schedules::Column::ProjectId.eq(project_id.as_str()))
            .filter(schedules::Column::ModelId.eq(model_id.as_uuid()))
            .one(&self.writer)
            .await
            .map_err(classify)?;
        Ok(match found {
            None => Err(CancelRefused::NotFound),
            Some(_) if cancelled.rows_affected == 0 => Err(CancelRefused::NotPending),
            Some(row) => Ok(schedule_record(row)?),
        })
    }

    /// Whether any schedule is due at `at` and free to claim: a read, so that runners with
    /// nothing to do never take the writer.
    pub async fn has_due_schedules(&self, at: Timestamp) -> Result<bool, StorageError> {
        let at = to_dt(at);
        let due = schedules::Entity::find()
            .filter(schedules::Column::Status.eq(PENDING))
            .filter(schedules::Column::At.lte(at))
            .filter(unclaimed(at))
            .one(&self.reader)
            .await
            .map_err(classify)?;
        Ok(due.is_some())
    }

    /// Claims up to `limit` schedules due at `at` (pending, not held under a live lease) for
    /// `claim`, oldest first: see the module's notes on exactly once.
    pub async fn claim_due_schedules(
        &self,
        at: Timestamp,
        claim: Claim,
        limit: u64,
    ) -> Result<Vec<Schedule>, StorageError> {
        let now = to_dt(at);
        let statement = Statement::from_sql_and_values(
            self.writer.get_database_backend(),
            claim_sql(self.backend),
            [
                claim.token.into(),
                to_dt(claim.until).into(),
                now.into(),
                now.into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        );
        let rows = self
            .writer
            .query_all_raw(statement)
            .await
            .map_err(classify)?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                schedules::Model::from_query_result(row, "")
                    .map_err(classify)
                    .and_then(schedule_record)
            })
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|s| (s.at, s.id));
        Ok(claimed)
    }

    /// Records how the run of schedule `id` under `claim_token` ended, at `at`. False when the
    /// claim is no longer this runner's (its lease ran out and another runner took the schedule
    /// over): nothing is written then.
    pub async fn complete_schedule(
        &self,
        id: ScheduleId,
        claim_token: uuid::Uuid,
        outcome: &ScheduleOutcome,
        at: Timestamp,
    ) -> Result<bool, StorageError> {
        let (status, result, error) = match outcome {
            ScheduleOutcome::Succeeded(body) => {
                (ScheduleStatus::Succeeded, Some(body.to_string()), None)
            }
            ScheduleOutcome::Failed(body) => (ScheduleStatus::Failed, None, Some(body.to_string())),
        };
        let done = schedules::Entity::update_many()
            .col_expr(schedules::Column::Status, Expr::value(status.as_str()))
            .col_expr(schedules::Column::Result, Expr::value(result))
            .col_expr(schedules::Column::Error, Expr::value(error))
            .col_expr(schedules::Column::ResultAt, Expr::value(to_dt(at)))
            .filter(schedules::Column::Id.eq(id.as_uuid()))
            .filter(schedules::Column::ClaimToken.eq(claim_token))
            .filter(schedules::Column::Status.eq(PENDING))
            .exec(&self.writer)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected > 0)
    }

    /// Gives up the claim `claim_token` on schedule `id` (its run hit a transient failure), so
    /// that the next claim, by any runner, tries it again.
    pub async fn release_schedule(
        &self,
        id: ScheduleId,
        claim_token: uuid::Uuid,
    ) -> Result<bool, StorageError> {
        let released = schedules::Entity::update_many()
            .col_expr(
                schedules::Column::ClaimToken,
                Expr::value(Option::<uuid::Uuid>::None),
            )
            .col_expr(
                schedules::Column::ClaimedUntil,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .filter(schedules::Column::Id.eq(id.as_uuid()))
            .filter(schedules::Column::ClaimToken.eq(claim_token))
            .filter(schedules::Column::Status.eq(PENDING))
            .exec(&self.writer)
            .await
            .map_err(classify)?;
        Ok(released.rows_affected > 0)
    }
}

/// No runner holds the row at `at`: never claimed, or its lease ran out.
fn unclaimed(at: chrono::DateTime<chrono::Utc>) -> Condition {
    Condition::any()
        .add(schedules::Column::ClaimedUntil.is_null())
        .add(schedules::Column::ClaimedUntil.lt(at))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_claim_locks_on_postgres_only() {
        let pg = claim_sql(Backend::Postgres);
        assert!(pg.contains("$5 FOR UPDATE SKIP LOCKED)"), "{pg}");
        let sqlite = claim_sql(Backend::Sqlite);
        assert!(
            !sqlite.contains("FOR UPDATE") && !sqlite.contains('{'),
            "{sqlite}"
        );
    }
}
