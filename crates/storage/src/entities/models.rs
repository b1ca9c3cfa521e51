//! The `models` row, defined once. The entity's fields are the column list (its `Column` enum,
//! in declaration order), and every statement that reads whole rows is built from it
//! ([`select_list`], [`sqlite_json_array`]). Rows the driver returns (`RETURNING *`, the
//! one-model read the tailer uses, the PostgreSQL catalog load) are decoded by column name
//! (`FromQueryResult`); the SQLite catalog load's JSON arrays, built from the same list in the
//! same order, are read by `Deserialize`, which takes a struct's fields from an array in
//! declaration order (its `serde` attributes are that encoding's, and used nowhere else). The row
//! becomes a record in one place ([`Model::into_record`]). A new column touches this file, its
//! migration, the record and whatever shows it.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::ColumnType;
use sea_orm::{ActiveModelTrait, Iterable};

use crate::error::{StorageError, corrupt};
use crate::records::{self, NewModel};
use crate::repo::{project_id, to_dt, to_ts};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "models")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub architecture: Option<String>,
    pub parameter_count: Option<i64>,
    pub context_length: Option<i64>,
    pub license: Option<String>,
    /// A JSON array of strings, as text.
    pub tags: String,
    #[serde(deserialize_with = "bool_or_bit")]
    pub shared: bool,
    #[serde(with = "chrono::serde::ts_seconds_option")]
    pub shared_at: Option<DateTimeUtc>,
    #[serde(with = "chrono::serde::ts_seconds_option")]
    pub unshared_at: Option<DateTimeUtc>,
    pub version: i64,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created_at: DateTimeUtc,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id"
    )]
    Project,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The row of a model just registered: unshared, version 0, created and updated `at`.
    pub(crate) fn registered(new: NewModel, at: domain::Timestamp) -> Result<Self, StorageError> {
        let at = to_dt(at);
        Ok(Self {
            id: new.id.as_uuid(),
            project_id: new.project_id.as_str().to_owned(),
            name: new.name,
            description: new.description,
            status: new.status.as_str().to_owned(),
            architecture: new.architecture,
            parameter_count: new.parameter_count,
            context_length: new.context_length,
            license: new.license,
            tags: serde_json::to_string(&new.tags).map_err(StorageError::bug)?,
            shared: false,
            shared_at: None,
            unshared_at: None,
            version: 0,
            created_at: at,
            updated_at: at,
        })
    }

    /// Every column of the row, to insert.
    pub(crate) fn to_insert(&self) -> ActiveModel {
        ActiveModel::from(self.clone()).reset_all()
    }

    /// The row as the rest of the service sees it.
    pub(crate) fn into_record(self) -> Result<records::Model, StorageError> {
        let tags: Vec<String> = serde_json::from_str(&self.tags)
            .map_err(|e| corrupt(format!("stored tags of model {}: {e}", self.id)))?;
        Ok(records::Model {
            id: domain::ModelId::from_uuid(self.id),
            project_id: project_id(&self.project_id)?,
            name: self.name,
            description: self.description,
            // A status this version does not know is kept as `Unknown` (never shareable), so a
            // new value from the upload pipeline never makes a model unreadable.
            status: domain::ModelStatus::from_stored(&self.status),
            architecture: self.architecture,
            parameter_count: self.parameter_count,
            context_length: self.context_length,
            license: self.license,
            tags,
            shared: self.shared,
            shared_at: self.shared_at.map(to_ts),
            unshared_at: self.unshared_at.map(to_ts),
            version: self.version,
            created_at: to_ts(self.created_at),
            updated_at: to_ts(self.updated_at),
        })
    }
}

/// `alias.id, alias.project_id, …`: every column, in the entity's order.
pub(crate) fn select_list(alias: &str) -> String {
    Column::iter()
        .map(|column| format!("{alias}.{}", column.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQLite: the row of table `alias` as one JSON array of every column in the entity's order,
/// in the encoding [`Model`]'s `Deserialize` reads: ids as hex text (the column holds 16-byte
/// blobs), times as Unix seconds (every time the service writes is a whole second), booleans
/// as stored (0 or 1). Arrays rather than objects: a million rows load
/// a third faster without a key per value.
pub(crate) fn sqlite_json_array(alias: &str) -> String {
    let values: Vec<String> = Column::iter()
        .map(|column| {
            let value = format!("{alias}.{}", column.as_str());
            match column.def().get_column_type() {
                ColumnType::Uuid => format!("lower(hex({value}))"),
                ColumnType::TimestampWithTimeZone => format!("unixepoch({value})"),
                _ => value,
            }
        })
        .collect();
    format!("json_array({})", values.join(", "))
}

/// A boolean column as the SQLite load's JSON holds it: 0 or 1 (a JSON boolean is read too).
fn bool_or_bit<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct Bit;
    impl serde::de::Visitor<'_> for Bit {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("0, 1 or a boolean")
        }
        fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<bool, E> {
            Ok(value)
        }
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<bool, E> {
            match value {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(E::invalid_value(
                    serde::de::Unexpected::Unsigned(value),
                    &self,
                )),
            }
        }
    }
    deserializer.deserialize_any(Bit)
}
