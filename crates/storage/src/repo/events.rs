//! Reading the share events: a model's history, and the plain outbox reads by id (the
//! gap-free tail is [`super::outbox`]).

use domain::{ApiKeyId, ModelId, ScheduleId, UserId};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{project_id, to_ts};
use crate::Store;
use crate::entities::share_events;
use crate::error::{StorageError, classify, corrupt};
use crate::records::{Page, ShareEvent};

pub(crate) fn event_record(row: share_events::Model) -> Result<ShareEvent, StorageError> {
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
        server_request_id: row.server_request_id,
        schedule_id: row.schedule_id.map(ScheduleId::from_uuid),
        at: to_ts(row.at),
    })
}

impl Store {
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
        let query = query.order_by_desc(share_events::Column::Id);
        self.read_page(query, limit, event_record).await
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

    /// The event the run of `schedule_id` wrote, if it wrote one (a runner that takes over a
    /// claim whose holder stopped learns from it that the transition was already written).
    pub async fn share_event_of_schedule(
        &self,
        schedule_id: ScheduleId,
    ) -> Result<Option<ShareEvent>, StorageError> {
        share_events::Entity::find()
            .filter(share_events::Column::ScheduleId.eq(schedule_id.as_uuid()))
            .one(&self.reader)
            .await
            .map_err(classify)?
            .map(event_record)
            .transpose()
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
}
