//! Inference endpoints bound to models.

use domain::{EndpointId, EndpointSlug, ModelId, ProjectId, Timestamp, now};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use super::{newest_first, project_id, to_dt, to_ts};
use crate::Store;
use crate::entities::{endpoints, models};
use crate::error::{StorageError, Violation, classify, corrupt, violation};
use crate::records::{Endpoint, EndpointSpread, Page};

fn endpoint_record(row: endpoints::Model) -> Result<Endpoint, StorageError> {
    Ok(Endpoint {
        id: EndpointId::from_uuid(row.id),
        project_id: project_id(&row.project_id)?,
        slug: EndpointSlug::parse(&row.slug)
            .map_err(|e| corrupt(format!("stored endpoint slug {:?}: {e}", row.slug)))?,
        model_id: ModelId::from_uuid(row.model_id),
        status: row.status,
        created_at: to_ts(row.created_at),
    })
}

impl Store {
    /// Creates an active endpoint named `slug` in the project, serving `model_id`.
    pub async fn create_endpoint(
        &self,
        project_id: &ProjectId,
        slug: &EndpointSlug,
        model_id: ModelId,
    ) -> Result<Endpoint, StorageError> {
        let row = endpoints::Model {
            id: EndpointId::new().as_uuid(),
            project_id: project_id.as_str().to_owned(),
            slug: slug.as_str().to_owned(),
            model_id: model_id.as_uuid(),
            status: "active".to_owned(),
            created_at: to_dt(now()),
        };
        let insert = endpoints::Entity::insert(endpoints::ActiveModel {
            id: Set(row.id),
            project_id: Set(row.project_id.clone()),
            slug: Set(row.slug.clone()),
            model_id: Set(row.model_id),
            status: Set(row.status.clone()),
            created_at: Set(row.created_at),
        })
        .exec_without_returning(&self.writer);
        let result = insert.await;
        if let Err(e) = result {
            return Err(match violation(&e) {
                Some(Violation::Unique(_)) => StorageError::Conflict("endpoint slug"),
                Some(Violation::ForeignKey(_)) => {
                    let model = models::Entity::find_by_id(model_id.as_uuid())
                        .one(&self.reader)
                        .await
                        .map_err(classify)?;
                    if model.is_none() {
                        StorageError::NotFound("model")
                    } else {
                        StorageError::NotFound("project")
                    }
                }
                None => classify(e),
            });
        }
        endpoint_record(row)
    }

    /// The project's endpoints, newest first (`created_at DESC, id DESC`), after the cursor.
    pub async fn list_endpoints(
        &self,
        project_id: &ProjectId,
        after: Option<(Timestamp, EndpointId)>,
        limit: u64,
    ) -> Result<Page<Endpoint>, StorageError> {
        let query =
            endpoints::Entity::find().filter(endpoints::Column::ProjectId.eq(project_id.as_str()));
        let query = newest_first(
            query,
            endpoints::Column::CreatedAt,
            endpoints::Column::Id,
            after.map(|(at, id)| (at, id.as_uuid())),
        );
        self.read_page(query, limit, endpoint_record).await
    }

    pub async fn get_endpoint(
        &self,
        project_id: &ProjectId,
        id: EndpointId,
    ) -> Result<Option<Endpoint>, StorageError> {
        endpoints::Entity::find_by_id(id.as_uuid())
            .filter(endpoints::Column::ProjectId.eq(project_id.as_str()))
            .one(&self.reader)
            .await
            .map_err(classify)?
            .map(endpoint_record)
            .transpose()
    }

    /// Deletes the endpoint; `false` when the project has no such endpoint.
    pub async fn delete_endpoint(
        &self,
        project_id: &ProjectId,
        id: EndpointId,
    ) -> Result<bool, StorageError> {
        let delete = endpoints::Entity::delete_many()
            .filter(endpoints::Column::Id.eq(id.as_uuid()))
            .filter(endpoints::Column::ProjectId.eq(project_id.as_str()))
            .exec(&self.writer);
        let result = delete.await.map_err(classify)?;
        Ok(result.rows_affected > 0)
    }

    pub async fn count_endpoints_for_model(&self, model_id: ModelId) -> Result<i64, StorageError> {
        let n = endpoints::Entity::find()
            .filter(endpoints::Column::ModelId.eq(model_id.as_uuid()))
            .count(&self.reader)
            .await
            .map_err(classify)?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// Where the endpoints on `model_id` are, seen from `own` (the model's project): counts
    /// only, so that no other project is named.
    pub async fn endpoint_spread(
        &self,
        model_id: ModelId,
        own: &ProjectId,
    ) -> Result<EndpointSpread, StorageError> {
        let per_project: Vec<(String, i64)> = endpoints::Entity::find()
            .select_only()
            .column(endpoints::Column::ProjectId)
            .column_as(endpoints::Column::Id.count(), "n")
            .filter(endpoints::Column::ModelId.eq(model_id.as_uuid()))
            .group_by(endpoints::Column::ProjectId)
            .into_tuple()
            .all(&self.reader)
            .await
            .map_err(classify)?;
        let mut spread = EndpointSpread::default();
        for (project, n) in per_project {
            let n = u64::try_from(n).unwrap_or(0);
            spread.total += n;
            if project == own.as_str() {
                spread.own_project += n;
            } else {
                spread.other_projects += n;
                spread.projects_affected += 1;
            }
        }
        Ok(spread)
    }
}
