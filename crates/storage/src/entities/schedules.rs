use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "schedules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: String,
    pub model_id: Uuid,
    pub action: String,
    pub at: DateTimeUtc,
    pub status: String,
    pub created_at: DateTimeUtc,
    pub created_by_user_id: Uuid,
    pub created_by_key_id: Uuid,
    pub result_at: Option<DateTimeUtc>,
    /// JSON text: the seed's response body of a schedule that succeeded.
    pub result: Option<String>,
    /// JSON text: the error object of a schedule that failed.
    pub error: Option<String>,
    pub cancelled_at: Option<DateTimeUtc>,
    pub claim_token: Option<Uuid>,
    pub claimed_until: Option<DateTimeUtc>,
    pub attempts: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
