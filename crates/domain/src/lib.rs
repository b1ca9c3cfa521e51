//! The vocabulary every other modelshare crate speaks: identifiers that can only hold valid
//! values, model statuses, project roles, account features, wire timestamps, and the table of
//! error codes that the HTTP contract promises.
//!
//! Parse, don't validate: a [`ProjectId`] or an [`EndpointSlug`] is checked once, when it is made
//! from outside input, and every function that receives one can rely on it.

mod error;
mod ids;
mod model;
mod time;

pub use error::{ErrorCode, ErrorType};
pub use ids::{
    AccountId, ApiKeyId, EndpointId, EndpointSlug, InvalidId, ModelId, ProjectId, ProjectSlug,
    UserId,
};
pub use model::{Feature, ModelStatus, Role, ShareAction, UnknownValue};
pub use time::{Timestamp, now};
