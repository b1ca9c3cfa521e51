//! Accounts, projects, users and memberships.

use std::collections::BTreeSet;

use domain::{AccountId, Feature, ProjectId, ProjectSlug, Role, UserId, now};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::standing::{StandingChange, record_standing};
use super::{commit, load_account, project_record, to_dt, to_ts};
use crate::Store;
use crate::entities::{account_features, accounts, memberships, projects, users};
use crate::error::{StorageError, Violation, classify, classify_as, corrupt, violation};
use crate::records::{Account, Membership, NewProject, Project, User};

fn user_record(row: users::Model) -> User {
    User {
        id: UserId::from_uuid(row.id),
        account_id: AccountId::from_uuid(row.account_id),
        email: row.email,
        created_at: to_ts(row.created_at),
    }
}

impl Store {
    /// Creates an account with the given features switched on.
    pub async fn create_account(
        &self,
        name: &str,
        features: &[Feature],
    ) -> Result<Account, StorageError> {
        let id = AccountId::new();
        let created_at = now();
        let tx = self.write_tx().await?;
        accounts::Entity::insert(accounts::ActiveModel {
            id: Set(id.as_uuid()),
            name: Set(name.to_owned()),
            created_at: Set(to_dt(created_at)),
        })
        .exec_without_returning(&tx)
        .await
        .map_err(|e| classify_as(e, "account id", "account"))?;
        let features: BTreeSet<&'static str> = features.iter().map(|f| f.as_str()).collect();
        if !features.is_empty() {
            account_features::Entity::insert_many(features.iter().map(|f| {
                account_features::ActiveModel {
                    account_id: Set(id.as_uuid()),
                    feature: Set((*f).to_owned()),
                }
            }))
            .exec_without_returning(&tx)
            .await
            .map_err(classify)?;
        }
        let account = load_account(&tx, id)
            .await?
            .ok_or(StorageError::NotFound("account"))?;
        let change = StandingChange::Account(id);
        record_standing(&tx, &change).await?;
        commit(tx).await?;
        self.standing_changed(&change);
        Ok(account)
    }

    pub async fn get_account(&self, id: AccountId) -> Result<Option<Account>, StorageError> {
        load_account(&self.reader, id).await
    }

    /// The oldest account with this name.
    pub async fn find_account_by_name(&self, name: &str) -> Result<Option<Account>, StorageError> {
        let row = accounts::Entity::find()
            .filter(accounts::Column::Name.eq(name))
            .order_by_asc(accounts::Column::CreatedAt)
            .order_by_asc(accounts::Column::Id)
            .one(&self.reader)
            .await
            .map_err(classify)?;
        match row {
            Some(row) => load_account(&self.reader, AccountId::from_uuid(row.id)).await,
            None => Ok(None),
        }
    }

    /// Switches a feature on or off; both are idempotent.
    pub async fn set_account_feature(
        &self,
        id: AccountId,
        feature: Feature,
        enabled: bool,
    ) -> Result<Account, StorageError> {
        let tx = self.write_tx().await?;
        if accounts::Entity::find_by_id(id.as_uuid())
            .one(&tx)
            .await
            .map_err(classify)?
            .is_none()
        {
            return Err(StorageError::NotFound("account"));
        }
        if enabled {
            account_features::Entity::insert(account_features::ActiveModel {
                account_id: Set(id.as_uuid()),
                feature: Set(feature.as_str().to_owned()),
            })
            .on_conflict(
                OnConflict::columns([
                    account_features::Column::AccountId,
                    account_features::Column::Feature,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&tx)
            .await
            .map_err(|e| classify_as(e, "account feature", "account"))?;
        } else {
            account_features::Entity::delete_many()
                .filter(account_features::Column::AccountId.eq(id.as_uuid()))
                .filter(account_features::Column::Feature.eq(feature.as_str()))
                .exec(&tx)
                .await
                .map_err(classify)?;
        }
        let account = load_account(&tx, id)
            .await?
            .ok_or(StorageError::NotFound("account"))?;
        let change = StandingChange::Account(id);
        record_standing(&tx, &change).await?;
        commit(tx).await?;
        self.standing_changed(&change);
        Ok(account)
    }

    pub async fn create_project(&self, new: NewProject) -> Result<Project, StorageError> {
        let created_at = now();
        let row = projects::Model {
            id: new.id.as_str().to_owned(),
            account_id: new.account_id.as_uuid(),
            slug: new.slug.as_str().to_owned(),
            name: new.name,
            created_at: to_dt(created_at),
        };
        projects::Entity::insert(projects::ActiveModel {
            id: Set(row.id.clone()),
            account_id: Set(row.account_id),
            slug: Set(row.slug.clone()),
            name: Set(row.name.clone()),
            created_at: Set(row.created_at),
        })
        .exec_without_returning(&self.writer)
        .await
        .map_err(|e| match violation(&e) {
            Some(v @ Violation::Unique(_)) if v.mentions("slug") => {
                StorageError::Conflict("project slug")
            }
            Some(Violation::Unique(_)) => StorageError::Conflict("project id"),
            Some(Violation::ForeignKey(_)) => StorageError::NotFound("account"),
            None => classify(e),
        })?;
        project_record(row)
    }

    pub async fn get_project(&self, id: &ProjectId) -> Result<Option<Project>, StorageError> {
        projects::Entity::find_by_id(id.as_str().to_owned())
            .one(&self.reader)
            .await
            .map_err(classify)?
            .map(project_record)
            .transpose()
    }

    pub async fn find_project_by_slug(
        &self,
        slug: &ProjectSlug,
    ) -> Result<Option<Project>, StorageError> {
        projects::Entity::find()
            .filter(projects::Column::Slug.eq(slug.as_str()))
            .one(&self.reader)
            .await
            .map_err(classify)?
            .map(project_record)
            .transpose()
    }

    pub async fn create_user(
        &self,
        account_id: AccountId,
        email: &str,
    ) -> Result<User, StorageError> {
        let row = users::Model {
            id: UserId::new().as_uuid(),
            account_id: account_id.as_uuid(),
            email: email.to_owned(),
            created_at: to_dt(now()),
        };
        users::Entity::insert(users::ActiveModel {
            id: Set(row.id),
            account_id: Set(row.account_id),
            email: Set(row.email.clone()),
            created_at: Set(row.created_at),
        })
        .exec_without_returning(&self.writer)
        .await
        .map_err(|e| classify_as(e, "user email", "account"))?;
        Ok(user_record(row))
    }

    pub async fn get_user(&self, id: UserId) -> Result<Option<User>, StorageError> {
        Ok(users::Entity::find_by_id(id.as_uuid())
            .one(&self.reader)
            .await
            .map_err(classify)?
            .map(user_record))
    }

    pub async fn find_user_by_email(
        &self,
        account_id: AccountId,
        email: &str,
    ) -> Result<Option<User>, StorageError> {
        Ok(users::Entity::find()
            .filter(users::Column::AccountId.eq(account_id.as_uuid()))
            .filter(users::Column::Email.eq(email))
            .one(&self.reader)
            .await
            .map_err(classify)?
            .map(user_record))
    }

    /// Gives `user_id` the role `role` in the project, replacing any previous role.
    pub async fn set_membership(
        &self,
        project_id: &ProjectId,
        user_id: UserId,
        role: Role,
    ) -> Result<Membership, StorageError> {
        let tx = self.write_tx().await?;
        let project = projects::Entity::find_by_id(project_id.as_str().to_owned())
            .one(&tx)
            .await
            .map_err(classify)?
            .ok_or(StorageError::NotFound("project"))?;
        let user = users::Entity::find_by_id(user_id.as_uuid())
            .one(&tx)
            .await
            .map_err(classify)?
            .ok_or(StorageError::NotFound("user"))?;
        if user.account_id != project.account_id {
            return Err(StorageError::Invalid("user belongs to another account"));
        }
        memberships::Entity::insert(memberships::ActiveModel {
            project_id: Set(project.id),
            user_id: Set(user.id),
            role: Set(role.as_str().to_owned()),
        })
        .on_conflict(
            OnConflict::columns([memberships::Column::ProjectId, memberships::Column::UserId])
                .update_column(memberships::Column::Role)
                .to_owned(),
        )
        .exec_without_returning(&tx)
        .await
        .map_err(classify)?;
        let change = StandingChange::Membership {
            project_id: project_id.clone(),
            user_id,
        };
        record_standing(&tx, &change).await?;
        commit(tx).await?;
        self.standing_changed(&change);
        Ok(Membership {
            project_id: project_id.clone(),
            user_id,
            role,
        })
    }

    /// The user's membership in the project, if any.
    pub async fn get_membership(
        &self,
        project_id: &ProjectId,
        user_id: UserId,
    ) -> Result<Option<Membership>, StorageError> {
        let row =
            memberships::Entity::find_by_id((project_id.as_str().to_owned(), user_id.as_uuid()))
                .one(&self.reader)
                .await
                .map_err(classify)?;
        row.map(|row| {
            Ok(Membership {
                project_id: project_id.clone(),
                user_id,
                role: role_of(&row.role)?,
            })
        })
        .transpose()
    }

    /// Removes the user from the project; true if they were a member. Their keys of that project
    /// stop working.
    pub async fn remove_membership(
        &self,
        project_id: &ProjectId,
        user_id: UserId,
    ) -> Result<bool, StorageError> {
        let tx = self.write_tx().await?;
        let result =
            memberships::Entity::delete_by_id((project_id.as_str().to_owned(), user_id.as_uuid()))
                .exec(&tx)
                .await
                .map_err(classify)?;
        let removed = result.rows_affected > 0;
        let change = StandingChange::Membership {
            project_id: project_id.clone(),
            user_id,
        };
        if removed {
            record_standing(&tx, &change).await?;
        }
        commit(tx).await?;
        if removed {
            self.standing_changed(&change);
        }
        Ok(removed)
    }
}

pub(crate) fn role_of(raw: &str) -> Result<Role, StorageError> {
    raw.parse()
        .map_err(|e| corrupt(format!("stored role {raw:?}: {e}")))
}
