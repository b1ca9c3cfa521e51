//! Turning an `Authorization` header into a [`Principal`].

use std::sync::Arc;
use std::time::Duration;

use domain::{ApiKeyId, Feature, ProjectId, Timestamp, UserId, now};
use storage::Account;
use storage::{KeyLookup, StorageError, Store};

use crate::cache::{KeyCache, KeyCacheSettings};
use crate::keys::parse_key;
use crate::principal::Principal;

/// How stale `last_used_at` may get before a request refreshes it; keeps the hot path read-only.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// Malformed, unknown, revoked or expired key; or its owner left the project.
    #[error("invalid API key")]
    Invalid,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Verifies keys against the store, through a [`KeyCache`].
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    prefix: String,
    cache: Arc<KeyCache>,
}

impl Authenticator {
    /// An authenticator whose cache hears of the standing changes made through `store` at once.
    /// Its cache keeps nothing until [`Authenticator::follow`] runs.
    pub fn new(store: Store, prefix: impl Into<String>, cache: KeyCacheSettings) -> Self {
        let cache = Arc::new(KeyCache::new(cache));
        let heard = Arc::downgrade(&cache);
        store.on_standing_change(move |change| {
            if let Some(cache) = heard.upgrade() {
                cache.forget(change);
            }
        });
        Self {
            store,
            prefix: prefix.into(),
            cache,
        }
    }

    /// Reads the standing changes other instances make, so that the cache can keep keys; runs
    /// until dropped (see [`crate::cache`]).
    pub fn follow(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        crate::cache::follow(self.store.clone(), Arc::clone(&self.cache))
    }

    /// The key cache (for metrics and tests).
    pub fn cache(&self) -> &KeyCache {
        &self.cache
    }

    /// Authenticates the value of an `Authorization` header (`Bearer <key>`).
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::Invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Invalid);
        }
        let parsed = parse_key(&self.prefix, token.trim()).ok_or(AuthError::Invalid)?;
        let hash = parsed.hash();
        let (found, last_used) = match self.cache.get(hash) {
            Some(cached) => (cached.lookup, cached.last_used),
            None => {
                let epoch = self.cache.epoch();
                let found = Arc::new(
                    self.store
                        .find_key_by_hash(hash)
                        .await?
                        .ok_or(AuthError::Invalid)?,
                );
                self.cache.insert(*hash, Arc::clone(&found), epoch);
                let last_used = found.key.last_used_at;
                (found, last_used)
            }
        };
        if !parsed.matches(&found.key.hash) {
            return Err(AuthError::Invalid);
        }
        let at = now();
        let principal = usable(&found, at).ok_or(AuthError::Invalid)?;
        self.touch_if_stale(hash, &found, last_used, at);
        Ok(principal)
    }

    fn touch_if_stale(
        &self,
        hash: &[u8; 32],
        found: &KeyLookup,
        last_used: Option<Timestamp>,
        at: Timestamp,
    ) {
        let stale = last_used.is_none_or(|last| {
            (at.as_datetime() - last.as_datetime())
                .to_std()
                .is_ok_and(|age| age >= TOUCH_INTERVAL)
        });
        if stale {
            self.cache.touched(hash, at);
            let store = self.store.clone();
            let id = found.key.id;
            tokio::spawn(async move {
                if let Err(err) = store.touch_api_key(id, at).await {
                    tracing::debug!(error = %err, "could not record key use");
                }
            });
        }
    }
}

/// The principal a looked-up key stands for, if the key may be used at `at`.
fn usable(found: &KeyLookup, at: Timestamp) -> Option<Principal> {
    if found.key.revoked_at.is_some() || found.key.expires_at.is_some_and(|exp| exp <= at) {
        return None;
    }
    let role = found.role?;
    let features = features_of(&found.account);
    Some(Principal {
        user_id: found.key.user_id,
        api_key_id: found.key.id,
        project_id: found.project.id.clone(),
        project_slug: found.project.slug.clone(),
        project_name: found.project.name.clone(),
        account_id: found.project.account_id,
        role,
        features,
    })
}

/// The known features the account has enabled.
fn features_of(account: &Account) -> std::collections::BTreeSet<Feature> {
    Feature::ALL
        .iter()
        .copied()
        .filter(|f| account.has_feature(*f))
        .collect()
}

/// The principal `user_id` has in `project_id` now (their role there, their account's features),
/// acting through the key `api_key_id`, read fresh from the store: how a schedule runs as the
/// user who created it, as of its run. `None` when the user is no longer a member of the project
/// (or the project is gone). The key is named, not checked: a schedule acts with the user's
/// standing, not the key's.
pub async fn member_principal(
    store: &Store,
    project_id: &ProjectId,
    user_id: UserId,
    api_key_id: ApiKeyId,
) -> Result<Option<Principal>, StorageError> {
    let Some(membership) = store.get_membership(project_id, user_id).await? else {
        return Ok(None);
    };
    let Some(project) = store.get_project(project_id).await? else {
        return Ok(None);
    };
    let Some(account) = store.get_account(project.account_id).await? else {
        return Ok(None);
    };
    Ok(Some(Principal {
        user_id,
        api_key_id,
        project_id: project.id,
        project_slug: project.slug,
        project_name: project.name,
        account_id: project.account_id,
        role: membership.role,
        features: features_of(&account),
    }))
}
