//! What a group of share/unshare transitions writes: what every database shares here (the
//! guards, the answers), each database's writes in [`sqlite`] and [`postgres`]. The engine that
//! groups transitions is [`super::group_commit`]; the share events' reads are
//! [`super::events`].

use domain::{AccountId, ProjectId};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
    RelationTrait,
};

use super::events::event_record;
use super::to_dt;
use crate::connect::Deadlines;
use crate::deadline::Bounded;
use crate::entities::{models, projects, share_events};
use crate::error::{StorageError, classify};
use crate::records::{Transition, TransitionOutcome, WriteGuard};
use crate::{Backend, Store};

mod postgres;
mod sqlite;

impl Store {
    /// Shares or unshares a model if it is still at `expected_version` and in the opposite
    /// state, writing the share event in the same transaction, and counts the model's endpoints
    /// when it shares it (the catalog shows the count).
    ///
    /// Every transition goes through [`GroupCommit`]: the transitions queued while the previous
    /// commit was in flight are written together, each with its own compare-and-set. On SQLite
    /// that is one `BEGIN IMMEDIATE` transaction on the writer connection holding, per batch of
    /// unguarded transitions, one `UPDATE … FROM (VALUES …) RETURNING *` (the compare-and-sets,
    /// which also read the new rows back), one `INSERT … RETURNING` of their events and one
    /// count of their shares' endpoints (each statement is a round trip to the driver's thread);
    /// a guarded share is written alone in its place. On PostgreSQL it is one statement for
    /// the whole group (data-modifying CTEs over the group as a JSON record set: the conditional
    /// `UPDATE`, the event `INSERT` fed by its result, the counts in the final `SELECT`).
    /// Other instances are told with [`Store::announce_share_events`], not from inside the
    /// transaction: a `NOTIFY` holds a database-wide lock until its transaction's commit is
    /// flushed, which would make every commit wait for the previous one's disk flush.
    ///
    /// A share's [`WriteGuard`]s are checked inside the same transaction, just before its
    /// compare-and-set, so that no concurrent write can slip between the check and the write;
    /// one that fails writes nothing and answers [`TransitionOutcome::LimitReached`] (or
    /// [`TransitionOutcome::Stale`] if the model changed meanwhile). On SQLite the writer's
    /// lock serializes every write, across processes too, and the count sees the group's
    /// earlier transitions. On PostgreSQL a group holding a guarded share is not the one
    /// statement but one transaction that first locks the guarded accounts' rows (in id order,
    /// `FOR NO KEY UPDATE`), then writes each transition in model order with that statement,
    /// counting each share's guard after the transitions before it.
    pub async fn apply_transition(&self, t: Transition) -> Result<TransitionOutcome, StorageError> {
        self.group_commit.submit(t).await
    }

    /// The most transitions one group commit has written together since the store opened.
    pub fn largest_transition_group(&self) -> usize {
        self.group_commit.largest()
    }

    /// How many models of the account's projects are shared.
    pub async fn count_shared_models_in_account(
        &self,
        account_id: AccountId,
    ) -> Result<u64, StorageError> {
        count_shared_in_account(&self.reader, account_id).await
    }

    /// How many models of the project are shared (what policy rules see as
    /// `project.sharedModels`).
    pub async fn count_shared_models_in_project(
        &self,
        project_id: &ProjectId,
    ) -> Result<u64, StorageError> {
        models::Entity::find()
            .filter(models::Column::ProjectId.eq(project_id.as_str()))
            .filter(models::Column::Shared.eq(true))
            .count(&self.reader)
            .await
            .map_err(classify)
    }
}

/// How many models of the account's projects are shared, as `db` sees it (inside a write
/// transaction: with that transaction's own writes).
async fn count_shared_in_account<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
) -> Result<u64, StorageError> {
    models::Entity::find()
        .join(
            sea_orm::JoinType::InnerJoin,
            models::Relation::Project.def(),
        )
        .filter(projects::Column::AccountId.eq(account_id.as_uuid()))
        .filter(models::Column::Shared.eq(true))
        .count(db)
        .await
        .map_err(classify)
}

/// What a transition came to in its transaction. Wrapped in an `Option`, whose `None` means
/// its compare-and-set found the model changed (nothing written).
// One per transition of a group, turned into its answer at once: boxing the row would only
// cost an allocation per write.
#[allow(clippy::large_enum_variant)]
pub(super) enum Written {
    /// Committed: the model's new row, the event id, the endpoint count.
    Applied(models::Model, i64, i64),
    /// The model was as expected but `guard` failed with `shared` shared; nothing written.
    Held { guard: WriteGuard, shared: u64 },
}

/// A committed transition as the caller sees it.
fn outcome(
    t: Transition,
    row: models::Model,
    event_id: i64,
    endpoint_count: i64,
) -> Result<TransitionOutcome, StorageError> {
    let at = to_dt(t.at);
    let event = share_events::Model {
        id: event_id,
        model_id: row.id,
        project_id: row.project_id.clone(),
        action: t.action.as_str().to_owned(),
        actor_user_id: t.actor_user_id.map(|u| u.as_uuid()),
        api_key_id: t.api_key_id.map(|k| k.as_uuid()),
        request_id: t.request_id,
        server_request_id: t.server_request_id,
        schedule_id: t.schedule_id.map(|s| s.as_uuid()),
        at,
    };
    Ok(TransitionOutcome::Applied {
        model: row.into_record()?,
        event: event_record(event)?,
        endpoint_count,
    })
}

/// The caller's answer for a committed transition: what it wrote, why its guard held it back,
/// or stale.
pub(super) fn answer(
    t: Transition,
    written: Option<Written>,
) -> Result<TransitionOutcome, StorageError> {
    match written {
        Some(Written::Applied(row, event_id, endpoint_count)) => {
            outcome(t, row, event_id, endpoint_count)
        }
        Some(Written::Held { guard, shared }) => {
            Ok(TransitionOutcome::LimitReached { guard, shared })
        }
        None => Ok(TransitionOutcome::Stale),
    }
}

/// Whether `t`'s guards hold inside `tx` (whose counts include its own earlier writes). When
/// one fails, `Err` holds the transition's answer, nothing being written: held if the model is
/// still as expected, else stale, as its compare-and-set would say (the caller re-reads, and
/// may find the model already shared).
async fn check_guards(
    tx: &impl ConnectionTrait,
    t: &Transition,
) -> Result<Result<(), Option<Written>>, StorageError> {
    for guard in t.guards_to_check() {
        let (shared, limit) = match *guard {
            WriteGuard::MaxSharedInAccount { account_id, limit } => {
                (count_shared_in_account(tx, account_id).await?, limit)
            }
        };
        if shared < limit {
            continue;
        }
        let as_expected = models::Entity::find_by_id(t.model_id.as_uuid())
            .filter(models::Column::Version.eq(t.expected_version))
            .filter(models::Column::Shared.eq(false))
            .count(tx)
            .await
            .map_err(classify)?;
        let held = Written::Held {
            guard: *guard,
            shared,
        };
        return Ok(Err((as_expected > 0).then_some(held)));
    }
    Ok(Ok(()))
}

/// Every transition of `group` in one transaction on `backend`, in order; for each, what it
/// wrote (`None`: its compare-and-set found the model changed).
pub(super) async fn commit_group(
    writer: &Bounded,
    backend: Backend,
    deadlines: Deadlines,
    group: &[&Transition],
) -> Result<Vec<Option<Written>>, StorageError> {
    match backend {
        Backend::Sqlite => sqlite::group(writer, deadlines, group).await,
        Backend::Postgres => postgres::group(writer, group).await,
    }
}
