//! Models as the platform's upload pipeline registers them.

use domain::{ModelId, ModelStatus, ModelText, ProjectId, Timestamp, now};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{commit, newest_first, to_dt};
use crate::Store;
use crate::entities::models;
use crate::error::{StorageError, Violation, classify, violation};
use crate::records::{Model, NewModel, Page};

impl Store {
    /// Registers a model: version 0, not shared. Text over the caps ([`ModelText`]) is refused
    /// (`Invalid`), whatever path the model comes by.
    pub async fn create_model(&self, new: NewModel) -> Result<Model, StorageError> {
        ModelText {
            name: &new.name,
            description: &new.description,
            architecture: new.architecture.as_deref(),
            license: new.license.as_deref(),
            tags: &new.tags,
        }
        .check()
        .map_err(|err| StorageError::Invalid(err.rule()))?;
        let row = models::Model::registered(new, now())?;
        models::Entity::insert(row.to_insert())
            .exec_without_returning(&self.writer)
            .await
            .map_err(|e| match violation(&e) {
                Some(Violation::Unique(_)) => StorageError::Conflict("model id"),
                Some(Violation::ForeignKey(_)) => StorageError::NotFound("project"),
                None => classify(e),
            })?;
        row.into_record()
    }

    /// Sets the pipeline status; bumps `version` and `updated_at`.
    pub async fn set_model_status(
        &self,
        id: ModelId,
        status: ModelStatus,
    ) -> Result<Model, StorageError> {
        let tx = self.write_tx().await?;
        let result = models::Entity::update_many()
            .col_expr(models::Column::Status, Expr::value(status.as_str()))
            .col_expr(
                models::Column::Version,
                Expr::col(models::Column::Version).add(1),
            )
            .col_expr(models::Column::UpdatedAt, Expr::value(to_dt(now())))
            .filter(models::Column::Id.eq(id.as_uuid()))
            .exec(&tx)
            .await
            .map_err(classify)?;
        if result.rows_affected == 0 {
            return Err(StorageError::NotFound("model"));
        }
        let row = models::Entity::find_by_id(id.as_uuid())
            .one(&tx)
            .await
            .map_err(classify)?
            .ok_or(StorageError::NotFound("model"))?;
        commit(tx).await?;
        row.into_record()
    }

    pub async fn get_model(&self, id: ModelId) -> Result<Option<Model>, StorageError> {
        models::Entity::find_by_id(id.as_uuid())
            .one(&self.reader)
            .await
            .map_err(classify)?
            .map(models::Model::into_record)
            .transpose()
    }

    /// The project's models, newest first (`created_at DESC, id DESC`), after the keyset cursor.
    pub async fn list_project_models(
        &self,
        project_id: &ProjectId,
        after: Option<(Timestamp, ModelId)>,
        limit: u64,
    ) -> Result<Page<Model>, StorageError> {
        let query =
            models::Entity::find().filter(models::Column::ProjectId.eq(project_id.as_str()));
        let query = newest_first(
            query,
            models::Column::CreatedAt,
            models::Column::Id,
            after.map(|(at, id)| (at, id.as_uuid())),
        );
        self.read_page(query, limit, models::Model::into_record)
            .await
    }
}
