//! Share/unshare transitions and the share-events outbox.

use domain::{AccountId, ApiKeyId, ModelId, ShareAction, UserId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};

use super::{commit, model_record, page, project_id, to_dt, to_ts};
use crate::Store;
use crate::entities::{models, projects, share_events};
use crate::error::{StorageError, classify, corrupt};
use crate::records::{Page, ShareEvent, Transition, TransitionOutcome};

fn event_record(row: share_events::Model) -> Result<ShareEvent, StorageError> {
    Ok(ShareEvent {
        id: row.id,
        model_id: ModelId::from_uuid(row.model_id),
        project_id: project_id(&row.project_id)?,
        action: row
            .action
            .parse()
            .map_err(|e| corrupt(format!("stored share event {}: {e}", row.id)))?,
        actor_user_id: row.actor_user_id.map(UserId::from_uuid),
        api_key_id: row.api_key_id.map(ApiKeyId::from_uuid),
        request_id: row.request_id,
        at: to_ts(row.at),
    })
}

impl Store {
    /// Shares or unshares a model if it is still at `expected_version` and in the opposite
    /// state, writing the share event in the same transaction. On SQLite the transaction is
    /// `BEGIN IMMEDIATE`; on PostgreSQL the conditional `UPDATE` is the compare-and-set.
    pub async fn apply_transition(&self, t: Transition) -> Result<TransitionOutcome, StorageError> {
        let sharing = t.action == ShareAction::Share;
        let at = to_dt(t.at);
        let tx = self.write_tx().await?;
        let mut update = models::Entity::update_many()
            .col_expr(models::Column::Shared, Expr::value(sharing))
            .col_expr(
                models::Column::Version,
                Expr::col(models::Column::Version).add(1),
            )
            .col_expr(models::Column::UpdatedAt, Expr::value(at));
        update = if sharing {
            update.col_expr(models::Column::SharedAt, Expr::value(at))
        } else {
            update.col_expr(models::Column::UnsharedAt, Expr::value(at))
        };
        let result = update
            .filter(models::Column::Id.eq(t.model_id.as_uuid()))
            .filter(models::Column::Version.eq(t.expected_version))
            .filter(models::Column::Shared.eq(!sharing))
            .exec(&tx)
            .await
            .map_err(classify)?;
        if result.rows_affected == 0 {
            tx.rollback().await.map_err(classify)?;
            return Ok(TransitionOutcome::Stale);
        }
        let row = models::Entity::find_by_id(t.model_id.as_uuid())
            .one(&tx)
            .await
            .map_err(classify)?
            .ok_or(StorageError::NotFound("model"))?;
        let event = share_events::ActiveModel {
            id: NotSet,
            model_id: Set(row.id),
            project_id: Set(row.project_id.clone()),
            action: Set(t.action.as_str().to_owned()),
            actor_user_id: Set(t.actor_user_id.map(|u| u.as_uuid())),
            api_key_id: Set(t.api_key_id.map(|k| k.as_uuid())),
            request_id: Set(t.request_id),
            at: Set(at),
        }
        .insert(&tx)
        .await
        .map_err(classify)?;
        if self.backend == crate::Backend::Postgres {
            // Delivered when (and only if) the transaction commits: wakes other instances' tailers.
            tx.execute_unprepared(crate::listen::NOTIFY_SHARE_EVENTS)
                .await
                .map_err(classify)?;
        }
        commit(tx).await?;
        Ok(TransitionOutcome::Applied {
            model: model_record(row)?,
            event: event_record(event)?,
        })
    }

    /// A model's share history, newest first (`id DESC`), before the cursor `after`.
    pub async fn list_share_events(
        &self,
        model_id: ModelId,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Page<ShareEvent>, StorageError> {
        let mut query = share_events::Entity::find()
            .filter(share_events::Column::ModelId.eq(model_id.as_uuid()));
        if let Some(after) = after {
            query = query.filter(share_events::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(share_events::Column::Id)
            .limit(limit.saturating_add(1))
            .all(&self.reader)
            .await
            .map_err(classify)?;
        let items = rows
            .into_iter()
            .map(event_record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page(items, limit))
    }

    /// Events with `id > after_id`, oldest first: the outbox tail.
    pub async fn share_events_after(
        &self,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<ShareEvent>, StorageError> {
        share_events::Entity::find()
            .filter(share_events::Column::Id.gt(after_id))
            .order_by_asc(share_events::Column::Id)
            .limit(limit)
            .all(&self.reader)
            .await
            .map_err(classify)?
            .into_iter()
            .map(event_record)
            .collect()
    }

    /// The newest event id, 0 when there is none.
    pub async fn max_share_event_id(&self) -> Result<i64, StorageError> {
        let max: Option<Option<i64>> = share_events::Entity::find()
            .select_only()
            .column_as(share_events::Column::Id.max(), "max_id")
            .into_tuple()
            .one(&self.reader)
            .await
            .map_err(classify)?;
        Ok(max.flatten().unwrap_or(0))
    }

    /// How many models of the account's projects are shared.
    pub async fn count_shared_models_in_account(
        &self,
        account_id: AccountId,
    ) -> Result<u64, StorageError> {
        models::Entity::find()
            .join(
                sea_orm::JoinType::InnerJoin,
                models::Relation::Project.def(),
            )
            .filter(projects::Column::AccountId.eq(account_id.as_uuid()))
            .filter(models::Column::Shared.eq(true))
            .count(&self.reader)
            .await
            .map_err(classify)
    }
}
