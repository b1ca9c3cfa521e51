//! The vocabulary every other modelshare crate speaks: identifiers that can only hold valid
//! values, model statuses, project roles, account features, wire timestamps, the caps on a
//! model's text, and the table of error codes that the HTTP contract promises.
//!
//! Parse, don't validate: a [`ProjectId`] or an [`EndpointSlug`] is checked once, when it is made
//! from outside input, and every function that receives one can rely on it.

mod error;
mod ids;
mod limits;
mod model;
mod time;

pub use error::{ErrorCode, ErrorType};
pub use ids::{
    AccountId, ApiKeyId, DeliveryId, EndpointId, EndpointSlug, InvalidId, ModelId, ProjectId,
    ProjectSlug, ScheduleId, UserId, WebhookId,
};
pub use limits::{
    MAX_MODEL_DESCRIPTION_CHARS, MAX_MODEL_LABEL_CHARS, MAX_MODEL_NAME_CHARS, MAX_MODEL_TAG_CHARS,
    MAX_MODEL_TAGS, ModelText, ModelTextError,
};
pub use model::{
    DeliveryStatus, EventType, Feature, ModelStatus, Role, ScheduleStatus, ShareAction,
    UnknownValue,
};
pub use time::{Timestamp, now};
