//! `modelshare demo`: seeds (or finds) the demo tenant the product page's examples use, and
//! prints a fresh admin key with curl lines to try it.

use domain::{
    AccountId, ApiKeyId, Feature, ModelId, ModelStatus, ProjectId, ProjectSlug, Role, UserId,
};
use serde::Serialize;
use storage::{NewModel, NewProject, Store};

use super::execute::create_key;
use super::{CliError, Output};
use crate::settings::Settings;

const DEMO_ACCOUNT: &str = "Demo Account";
const DEMO_PROJECT: &str = "proj_ABC123";
const DEMO_SLUG: &str = "myproject";
const DEMO_EMAIL: &str = "admin@demo.example";
const DEMO_MODEL: &str = "550e8400-e29b-41d4-a716-446655440000";

/// What `demo --json` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoJson<'a> {
    account_id: AccountId,
    project_id: &'a ProjectId,
    user_id: UserId,
    api_key_id: ApiKeyId,
    api_key: &'a str,
    model_id: ModelId,
    base_url: &'a str,
}

/// Seeds (or finds) the demo tenant: an account with model sharing, project `proj_ABC123`
/// (slug `myproject`, as in the product page's examples), an admin user, a `ready` model with
/// the product page's id, and a fresh admin key.
pub(super) async fn demo(settings: &Settings, store: &Store) -> Result<Output, CliError> {
    let account = demo_account(store).await?;
    let project = demo_project(store, account.id).await?;
    let user = match store.find_user_by_email(account.id, DEMO_EMAIL).await? {
        Some(user) => user,
        None => store.create_user(account.id, DEMO_EMAIL).await?,
    };
    store
        .set_membership(&project.id, user.id, Role::Admin)
        .await?;
    let model_id = demo_model(store, &project.id).await?;
    let (key_id, key) = create_key(settings, store, &project.id, user.id).await?;
    let base = settings.base_url();
    let json = DemoJson {
        account_id: account.id,
        project_id: &project.id,
        user_id: user.id,
        api_key_id: key_id,
        api_key: &key.key,
        model_id,
        base_url: &base,
    };
    Output::new(&json, demo_text(&project.id, model_id, &key.key, &base))
}

/// The demo account, created or given model sharing if needed.
async fn demo_account(store: &Store) -> Result<storage::Account, CliError> {
    Ok(match store.find_account_by_name(DEMO_ACCOUNT).await? {
        Some(account) if account.has_feature(Feature::ModelSharing) => account,
        Some(account) => {
            store
                .set_account_feature(account.id, Feature::ModelSharing, true)
                .await?
        }
        None => {
            store
                .create_account(DEMO_ACCOUNT, &[Feature::ModelSharing])
                .await?
        }
    })
}

/// The demo project in `account`, created if needed; refused if another account holds its id.
async fn demo_project(store: &Store, account: AccountId) -> Result<storage::Project, CliError> {
    let project_id = ProjectId::parse(DEMO_PROJECT).map_err(|e| CliError::Usage(e.to_string()))?;
    let slug = ProjectSlug::parse(DEMO_SLUG).map_err(|e| CliError::Usage(e.to_string()))?;
    match store.get_project(&project_id).await? {
        Some(project) if project.account_id == account => Ok(project),
        Some(_) => Err(CliError::Usage(format!(
            "{DEMO_PROJECT} exists in another account; the demo needs it"
        ))),
        None => Ok(store
            .create_project(NewProject {
                id: project_id,
                account_id: account,
                slug,
                name: "My Project".into(),
            })
            .await?),
    }
}

/// The demo model in `project`, created or made usable (`ready`) if needed; refused if another
/// project holds its id.
async fn demo_model(store: &Store, project: &ProjectId) -> Result<ModelId, CliError> {
    let model_id: ModelId = DEMO_MODEL
        .parse()
        .map_err(|e: domain::InvalidId| CliError::Usage(e.to_string()))?;
    match store.get_model(model_id).await? {
        Some(model) if model.project_id != *project => {
            return Err(CliError::Usage(format!(
                "model {DEMO_MODEL} exists in another project; the demo needs it"
            )));
        }
        Some(model) if !model.status.is_usable() => {
            store.set_model_status(model_id, ModelStatus::Ready).await?;
        }
        Some(_) => {}
        None => {
            store
                .create_model(NewModel {
                    id: model_id,
                    project_id: project.clone(),
                    name: "demo-llama-3-8b-instruct".into(),
                    description: "An 8B instruction-tuned model for the modelshare demo.".into(),
                    status: ModelStatus::Ready,
                    architecture: Some("llama".into()),
                    parameter_count: Some(8_030_000_000),
                    context_length: Some(8192),
                    license: Some("llama3".into()),
                    tags: vec!["chat".into(), "demo".into()],
                })
                .await?;
        }
    }
    Ok(model_id)
}

/// What `demo` prints for a person: the tenant, the key, and curl lines that use them.
fn demo_text(project: &ProjectId, model: ModelId, key: &str, base: &str) -> String {
    format!(
        "Demo tenant ready.\n\
         \n  project:  {project}\n  model:    {model}\n  API key:  {key} (admin; shown once)\n  base URL: {base}\n\
         \nStart the service (`cargo run --release`), then:\n\
         \n  curl -s {base}/{project}/v1/models/{model} -H \"Authorization: Bearer {key}\"\
         \n  curl -s -X POST {base}/{project}/v1/models/{model}/share -H \"Authorization: Bearer {key}\"\
         \n  curl -s -X POST {base}/{project}/v1/models/{model}/unshare -H \"Authorization: Bearer {key}\"",
    )
}
