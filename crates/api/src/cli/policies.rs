//! `modelshare policies check` and `policies eval`: operators try their policies and rules before
//! deploying them, with the code the server runs (the registry builds the chains; `eval` runs
//! [`auth::PolicyChains::check_all`], as the eligibility dry-run does).

use std::collections::BTreeSet;
use std::path::Path;

use auth::{PolicyChains, PolicyRegistry, Principal};
use domain::{AccountId, ApiKeyId, Feature, ModelId, ModelStatus, ProjectId, Role, ShareAction};
use serde::{Deserialize, Serialize};
use storage::{Model, Store};

use super::PoliciesCommand;
use super::execute::CliError;
use super::output::Output;
use crate::settings::Settings;

/// Runs a `policies` command.
pub async fn run(cmd: PoliciesCommand, settings: &Settings) -> Result<Output, CliError> {
    let chains = build(settings)?;
    match cmd {
        PoliciesCommand::Check => check(&chains),
        PoliciesCommand::Eval {
            action,
            model_json,
            caller_json,
        } => {
            let model: ModelInput = read_json(&model_json)?;
            let caller: CallerInput = read_json(&caller_json)?;
            let principal = caller.principal()?;
            let model = model.model(&principal.project_id)?;
            let store = Store::connect(&settings.db_settings()).await?;
            store.migrate().await?;
            let result = eval(&chains, action, &principal, &model, &store).await;
            if let Err(err) = store.close().await {
                tracing::warn!(error = %err, "closing the database failed");
            }
            result
        }
    }
}

/// Both chains, every rule compiled, exactly as the server builds them at start-up.
fn build(settings: &Settings) -> Result<PolicyChains, CliError> {
    let config = settings.policy_config()?;
    Ok(PolicyRegistry::with_builtins().build(&config)?)
}

#[derive(Serialize)]
struct Checked<'a> {
    ok: bool,
    share: Vec<&'a str>,
    unshare: Vec<&'a str>,
}

fn check(chains: &PolicyChains) -> Result<Output, CliError> {
    let share = chains.names(ShareAction::Share);
    let unshare = chains.names(ShareAction::Unshare);
    let text = format!(
        "Policies OK.\nshare:   {}\nunshare: {}",
        share.join(", "),
        unshare.join(", ")
    );
    Output::new(
        &Checked {
            ok: true,
            share,
            unshare,
        },
        text,
    )
}

/// One policy's verdict, as `eval` prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Verdict {
    policy: String,
    passed: bool,
    status: Option<u16>,
    code: Option<String>,
    message: Option<String>,
}

#[derive(Serialize)]
struct Evaluated {
    action: ShareAction,
    allowed: bool,
    checks: Vec<Verdict>,
}

async fn eval(
    chains: &PolicyChains,
    action: ShareAction,
    principal: &Principal,
    model: &Model,
    store: &Store,
) -> Result<Output, CliError> {
    let checks: Vec<Verdict> = chains
        .check_all(action, principal, model, store)
        .await?
        .into_iter()
        .map(|c| Verdict {
            policy: c.policy,
            passed: c.denial.is_none(),
            status: c.denial.as_ref().map(|d| d.status.as_u16()),
            code: c.denial.as_ref().map(|d| d.code.to_string()),
            message: c.denial.map(|d| d.message.to_string()),
        })
        .collect();
    let allowed = checks.iter().all(|c| c.passed);
    let mut text = String::new();
    for c in &checks {
        match (&c.code, c.status, &c.message) {
            (Some(code), Some(status), Some(message)) => {
                text.push_str(&format!("DENY  {}: {status} {code}: {message}\n", c.policy))
            }
            _ => text.push_str(&format!("PASS  {}\n", c.policy)),
        }
    }
    text.push_str(if allowed { "=> allowed" } else { "=> refused" });
    Output::new(
        &Evaluated {
            action,
            allowed,
            checks,
        },
        text,
    )
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::BadInput(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| CliError::BadInput(format!("{}: {e}", path.display())))
}

/// `--model-json`: a model as the API shows it; missing fields are empty.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ModelInput {
    id: Option<ModelId>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    status: Option<ModelStatus>,
    architecture: Option<String>,
    parameter_count: Option<i64>,
    context_length: Option<i64>,
    license: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    shared: bool,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
    shared_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ModelInput {
    fn model(self, project_id: &ProjectId) -> Result<Model, CliError> {
        let now = domain::now();
        Ok(Model {
            id: self.id.unwrap_or_default(),
            project_id: project_id.clone(),
            name: self.name,
            description: self.description,
            status: self.status.unwrap_or(ModelStatus::Ready),
            architecture: self.architecture,
            parameter_count: self.parameter_count,
            context_length: self.context_length,
            license: self.license,
            tags: self.tags,
            shared: self.shared || self.shared_at.is_some(),
            shared_at: self.shared_at.map(Into::into),
            unshared_at: None,
            version: 1,
            created_at: self.created_at.map_or(now, Into::into),
            updated_at: now,
        })
    }
}

/// `--caller-json`: who asks, in which project of which account, with which features.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CallerInput {
    user_id: Option<domain::UserId>,
    role: Role,
    project_id: ProjectId,
    account_id: AccountId,
    #[serde(default)]
    features: BTreeSet<Feature>,
}

impl CallerInput {
    fn principal(self) -> Result<Principal, CliError> {
        Ok(Principal {
            user_id: self.user_id.unwrap_or_default(),
            api_key_id: ApiKeyId::new(),
            project_slug: "eval"
                .parse()
                .map_err(|e: domain::InvalidId| CliError::BadInput(e.to_string()))?,
            project_name: self.project_id.to_string(),
            project_id: self.project_id,
            account_id: self.account_id,
            role: self.role,
            features: self.features,
        })
    }
}
