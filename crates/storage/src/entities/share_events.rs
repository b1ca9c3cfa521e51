use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "share_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub model_id: Uuid,
    pub project_id: String,
    pub action: String,
    pub actor_user_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub request_id: String,
    pub server_request_id: Option<String>,
    /// The schedule whose run wrote the event.
    pub schedule_id: Option<Uuid>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
