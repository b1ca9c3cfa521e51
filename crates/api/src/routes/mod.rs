//! One module per resource. Each exposes `configure`, which registers its routes.

pub mod catalog;
pub mod endpoints;
pub mod health;
pub mod models;
pub mod sharing;

use domain::ModelId;

use crate::error::ApiError;

/// A model id from the path; anything that is not a UUID names no model.
pub(crate) fn model_id(raw: &str) -> Result<ModelId, ApiError> {
    raw.parse().map_err(|_| ApiError::model_not_found())
}
