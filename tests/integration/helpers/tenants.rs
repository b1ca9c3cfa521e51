//! Tenants, their keys and models, and the requests tests send on their behalf.

use domain::{
    AccountId, ApiKeyId, Feature, ModelId, ModelStatus, ProjectId, ProjectSlug, Role, UserId,
};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use storage::{NewApiKey, NewModel, NewProject};

use super::TestApp;

/// An account, a project in it, a user with a role there, that user's key and one model.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub account: AccountId,
    pub project: ProjectId,
    pub slug: ProjectSlug,
    pub user: UserId,
    pub key: String,
    pub key_id: ApiKeyId,
    pub model: ModelId,
}

pub struct TenantSpec {
    pub features: Vec<Feature>,
    pub role: Role,
    pub model_status: ModelStatus,
}

impl Default for TenantSpec {
    fn default() -> Self {
        Self {
            features: vec![Feature::ModelSharing],
            role: Role::Admin,
            model_status: ModelStatus::Ready,
        }
    }
}

impl TestApp {
    pub async fn tenant(&self) -> Tenant {
        self.tenant_with(TenantSpec::default()).await
    }

    pub async fn tenant_with(&self, spec: TenantSpec) -> Tenant {
        let account = self
            .store
            .create_account("Test Account", &spec.features)
            .await
            .expect("account");
        let project = ProjectId::generate();
        let slug = ProjectSlug::parse(&format!(
            "p{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ))
        .expect("slug");
        self.store
            .create_project(NewProject {
                id: project.clone(),
                account_id: account.id,
                slug: slug.clone(),
                name: format!("Project {slug}"),
            })
            .await
            .expect("project");
        let user = self
            .store
            .create_user(account.id, &format!("{slug}@example.com"))
            .await
            .expect("user");
        self.store
            .set_membership(&project, user.id, spec.role)
            .await
            .expect("membership");
        let (key_id, key) = self.key_for(&project, &slug, user.id).await;
        let model = self
            .model_in(&project, "test-model", spec.model_status)
            .await;
        Tenant {
            account: account.id,
            project,
            slug,
            user: user.id,
            key,
            key_id,
            model,
        }
    }

    /// Mints a key for a member.
    pub async fn key_for(
        &self,
        project: &ProjectId,
        slug: &ProjectSlug,
        user: UserId,
    ) -> (ApiKeyId, String) {
        let minted = auth::mint_key(&self.settings.auth.key_prefix, slug).expect("mint");
        let id = ApiKeyId::new();
        self.store
            .insert_api_key(NewApiKey {
                id,
                project_id: project.clone(),
                user_id: user,
                hash: minted.hash,
                display_prefix: minted.display_prefix.clone(),
                expires_at: None,
            })
            .await
            .expect("key");
        (id, minted.key)
    }

    pub async fn model_in(&self, project: &ProjectId, name: &str, status: ModelStatus) -> ModelId {
        let id = ModelId::new();
        self.store
            .create_model(NewModel {
                id,
                project_id: project.clone(),
                name: name.to_owned(),
                description: format!("{name} for tests"),
                status,
                architecture: Some("llama".into()),
                parameter_count: Some(7_000_000_000),
                context_length: Some(4096),
                license: Some("apache-2.0".into()),
                tags: vec!["chat".into()],
            })
            .await
            .expect("model");
        id
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.expect("request")
    }

    pub async fn get_model(&self, project: &ProjectId, model: &str, key: &str) -> Response {
        self.get(&format!("/{project}/v1/models/{model}"), Some(key))
            .await
    }

    pub async fn list_models(&self, project: &ProjectId, query: &str, key: &str) -> Response {
        self.get(&format!("/{project}/v1/models{query}"), Some(key))
            .await
    }

    pub async fn post(&self, path: &str, key: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.expect("request")
    }

    pub async fn share(&self, project: &ProjectId, model: &str, key: &str) -> Response {
        self.post(&format!("/{project}/v1/models/{model}/share"), Some(key))
            .await
    }

    pub async fn unshare(&self, project: &ProjectId, model: &str, key: &str) -> Response {
        self.post(&format!("/{project}/v1/models/{model}/unshare"), Some(key))
            .await
    }

    /// Shares and asserts 200.
    pub async fn shared(&self, t: &Tenant, model: ModelId) -> Value {
        let response = self.share(&t.project, &model.to_string(), &t.key).await;
        assert_eq!(response.status(), StatusCode::OK, "share failed");
        response.json().await.expect("json")
    }

    pub async fn share_events(
        &self,
        project: &ProjectId,
        model: &str,
        query: &str,
        key: &str,
    ) -> Response {
        self.get(
            &format!("/{project}/v1/models/{model}/share-events{query}"),
            Some(key),
        )
        .await
    }

    /// `GET /v1/catalog/models{query}` without a key.
    pub async fn catalog(&self, query: &str) -> Response {
        self.get(&format!("/v1/catalog/models{query}"), None).await
    }

    /// Every catalog item id over all pages of `query` (which must not hold `after`).
    pub async fn catalog_ids(&self, query: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let sep = if query.is_empty() { "?" } else { "&" };
        let mut next: Option<String> = None;
        loop {
            let q = match &next {
                None => query.to_owned(),
                Some(cursor) => format!("{query}{sep}after={cursor}"),
            };
            let q = if q.is_empty() || q.starts_with('?') {
                q
            } else {
                format!("?{q}")
            };
            let response = self.catalog(&q).await;
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.expect("json");
            ids.extend(
                body["data"]
                    .as_array()
                    .expect("data")
                    .iter()
                    .map(|i| i["modelId"].as_str().expect("id").to_owned()),
            );
            match body["nextCursor"].as_str() {
                Some(cursor) => next = Some(cursor.to_owned()),
                None => return ids,
            }
        }
    }

    pub async fn create_endpoint(
        &self,
        project: &ProjectId,
        slug: &str,
        model: &str,
        key: &str,
    ) -> Response {
        self.client
            .post(self.url(&format!("/{project}/v1/endpoints")))
            .bearer_auth(key)
            .json(&serde_json::json!({"slug": slug, "modelId": model}))
            .send()
            .await
            .expect("request")
    }

    /// A second user of the tenant's account and project with `role`, and their key.
    pub async fn member(&self, t: &Tenant, role: Role) -> String {
        let user = self
            .store
            .create_user(
                t.account,
                &format!("{}-{role}@example.com", uuid::Uuid::new_v4().simple()),
            )
            .await
            .expect("user");
        self.store
            .set_membership(&t.project, user.id, role)
            .await
            .expect("membership");
        self.key_for(&t.project, &t.slug, user.id).await.1
    }
}
