use std::collections::BTreeSet;

use domain::{AccountId, ApiKeyId, Feature, ProjectId, ProjectSlug, Role, UserId};

/// An authenticated caller: a user acting in one project through one API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub api_key_id: ApiKeyId,
    pub project_id: ProjectId,
    pub project_slug: ProjectSlug,
    pub project_name: String,
    pub account_id: AccountId,
    pub role: Role,
    pub features: BTreeSet<Feature>,
}

impl Principal {
    pub fn has_feature(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }
}
