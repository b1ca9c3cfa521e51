//! Running an operator command (everything but `serve`): one function per command group, each
//! returning what to print, and the checks they share.

use domain::{ApiKeyId, ProjectId, UserId};
use storage::{NewApiKey, NewModel, NewProject, StorageError, Store};

use super::output::{
    AccountJson, MembershipJson, Migrated, ModelJson, NewKeyJson, Output, ProjectJson,
    RevokedKeyJson, SchedulesJson, UserJson, WebhooksJson,
};
use super::{
    AccountsCommand, Command, CreateModelArgs, FeatureArgs, KeysCommand, MembersCommand,
    ModelsCommand, ProjectsCommand, SchedulesCommand, UsersCommand, WebhooksCommand, demo,
};
use crate::routes::schedules::ScheduleDto;
use crate::settings::{Settings, SettingsError};

/// Why a command failed; printed as one line on stderr with a non-zero exit.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Usage(String),
    #[error("could not mint a key: {0}")]
    Key(#[from] auth::KeyFormatError),
    #[error("could not write the output: {0}")]
    Output(#[from] serde_json::Error),
    /// A policy or rule of the configuration does not build.
    #[error("configuration: {0}")]
    Policy(#[from] auth::PolicyConfigError),
    /// A file given on the command line could not be read or parsed.
    #[error("{0}")]
    BadInput(String),
}

impl CliError {
    /// 2 for a bad configuration or input file, 1 for a command that failed.
    pub fn exit_code(&self) -> std::process::ExitCode {
        match self {
            Self::Settings(_) | Self::Policy(_) | Self::BadInput(_) => {
                std::process::ExitCode::from(2)
            }
            _ => std::process::ExitCode::FAILURE,
        }
    }
}

/// Runs an operator command (everything but `serve`) and returns what to print.
pub async fn run(command: Command, settings: &Settings) -> Result<Output, CliError> {
    let store = Store::connect(&settings.db_settings()).await?;
    store.migrate().await?;
    let result = execute(command, settings, &store).await;
    if let Err(err) = store.close().await {
        tracing::warn!(error = %err, "closing the database failed");
    }
    result
}

async fn execute(command: Command, settings: &Settings, store: &Store) -> Result<Output, CliError> {
    match command {
        Command::Serve => Err(CliError::Usage("serve is not an operator command".into())),
        Command::Policies(cmd) => super::policies::run(cmd, settings).await,
        Command::Migrate => Output::new(&Migrated { migrated: true }, "Database is up to date."),
        Command::Demo => demo::demo(settings, store).await,
        Command::Accounts(cmd) => accounts(cmd, store).await,
        Command::Projects(cmd) => projects(cmd, store).await,
        Command::Users(cmd) => users(cmd, store).await,
        Command::Members(cmd) => members(cmd, store).await,
        Command::Keys(cmd) => keys(cmd, settings, store).await,
        Command::Models(cmd) => models(cmd, store).await,
        Command::Schedules(cmd) => schedules(cmd, store).await,
        Command::Webhooks(cmd) => webhooks(cmd, store).await,
    }
}

async fn accounts(cmd: AccountsCommand, store: &Store) -> Result<Output, CliError> {
    let (account, verb) = match cmd {
        AccountsCommand::Create { name, features } => {
            let name = name.trim().to_owned();
            if name.is_empty() {
                return Err(CliError::Usage("--name must not be empty".into()));
            }
            (store.create_account(&name, &features).await?, "Created")
        }
        AccountsCommand::EnableFeature(FeatureArgs { account, feature }) => (
            store.set_account_feature(account, feature, true).await?,
            "Updated",
        ),
        AccountsCommand::DisableFeature(FeatureArgs { account, feature }) => (
            store.set_account_feature(account, feature, false).await?,
            "Updated",
        ),
    };
    let json = AccountJson::from(&account);
    let text = format!(
        "{verb} account {} ({}); features: {}.",
        account.id,
        account.name,
        if json.features.is_empty() {
            "none".to_owned()
        } else {
            json.features.join(", ")
        }
    );
    Output::new(&json, text)
}

async fn projects(cmd: ProjectsCommand, store: &Store) -> Result<Output, CliError> {
    let ProjectsCommand::Create {
        account,
        slug,
        id,
        name,
    } = cmd;
    store
        .get_account(account)
        .await?
        .ok_or_else(|| not_found("account", account))?;
    let project = store
        .create_project(NewProject {
            id: id.unwrap_or_else(ProjectId::generate),
            account_id: account,
            name: name.unwrap_or_else(|| slug.to_string()),
            slug,
        })
        .await?;
    let text = format!("Created project {} ({}).", project.id, project.slug);
    Output::new(&ProjectJson::from(&project), text)
}

async fn users(cmd: UsersCommand, store: &Store) -> Result<Output, CliError> {
    let UsersCommand::Create { account, email } = cmd;
    let email = email.trim().to_owned();
    if !email.contains('@') || email.len() > 254 {
        return Err(CliError::Usage(format!(
            "{email:?} is not an email address"
        )));
    }
    store
        .get_account(account)
        .await?
        .ok_or_else(|| not_found("account", account))?;
    let user = store.create_user(account, &email).await?;
    let text = format!("Created user {} ({}).", user.id, user.email);
    Output::new(&UserJson::from(&user), text)
}

async fn members(cmd: MembersCommand, store: &Store) -> Result<Output, CliError> {
    let MembersCommand::Add {
        project,
        user,
        role,
    } = cmd;
    let membership = store.set_membership(&project, user, role).await?;
    let text = format!("User {user} is {role} in {project}.");
    Output::new(&MembershipJson::from(&membership), text)
}

async fn keys(cmd: KeysCommand, settings: &Settings, store: &Store) -> Result<Output, CliError> {
    match cmd {
        KeysCommand::Create { project, user } => {
            let (id, key) = create_key(settings, store, &project, user).await?;
            let json = NewKeyJson {
                id,
                key: &key.key,
                prefix: &key.display_prefix,
                project_id: &project,
                user_id: user,
            };
            let text = format!(
                "Created key {id}. Store it now; it is not shown again:\n{}",
                key.key
            );
            Output::new(&json, text)
        }
        KeysCommand::Revoke { key_id } => {
            let key = store.revoke_api_key(key_id).await?;
            let text = format!("Revoked key {} ({}…).", key.id, key.display_prefix);
            Output::new(&RevokedKeyJson::from(&key), text)
        }
    }
}

async fn models(cmd: ModelsCommand, store: &Store) -> Result<Output, CliError> {
    let (model, text) = match cmd {
        ModelsCommand::Create(args) => {
            let model = create_model(store, args).await?;
            let text = format!(
                "Created model {} ({}, {}).",
                model.id, model.name, model.status
            );
            (model, text)
        }
        ModelsCommand::SetStatus { model, status } => {
            let model = store.set_model_status(model, status).await?;
            let text = format!("Model {} is now {}.", model.id, model.status);
            (model, text)
        }
    };
    Output::new(&ModelJson::from(model), text)
}

/// Lists read a page at a time.
const LIST_PAGE: u64 = 100;

/// Every item of a keyset-paged list: `page(after)` reads the page after `after`, `key` gives
/// an item's cursor.
async fn every_page<T, K, F>(
    page: impl Fn(Option<K>) -> F,
    key: impl Fn(&T) -> K,
) -> Result<Vec<T>, StorageError>
where
    F: std::future::Future<Output = Result<storage::Page<T>, StorageError>>,
{
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let next = page(after).await?;
        after = next.items.last().map(&key);
        all.extend(next.items);
        if !next.has_more {
            return Ok(all);
        }
    }
}

async fn schedules(cmd: SchedulesCommand, store: &Store) -> Result<Output, CliError> {
    let SchedulesCommand::List { project, status } = cmd;
    store
        .get_project(&project)
        .await?
        .ok_or_else(|| not_found("project", &project))?;
    let all = every_page(
        |after| store.list_schedules(&project, None, status, after, LIST_PAGE),
        |s| (s.created_at, s.id),
    )
    .await?;
    let mut text = match (all.len(), status) {
        (0, _) => format!("No schedules in {project}."),
        (n, Some(status)) => format!("{n} {status} schedule(s) in {project}:"),
        (n, None) => format!("{n} schedule(s) in {project}:"),
    };
    for s in &all {
        let code = s
            .error
            .as_ref()
            .and_then(|e| e["code"].as_str())
            .map(|code| format!(" ({code})"))
            .unwrap_or_default();
        text.push_str(&format!(
            "\n{}  {:<7}  model {}  at {}  {}{code}",
            s.id,
            s.action,
            s.model_id,
            s.at.to_rfc3339(),
            s.status
        ));
    }
    let json = SchedulesJson {
        project_id: &project,
        schedules: all.into_iter().map(ScheduleDto::from).collect(),
    };
    Output::new(&json, text)
}

async fn webhooks(cmd: WebhooksCommand, store: &Store) -> Result<Output, CliError> {
    let WebhooksCommand::List { project } = cmd;
    store
        .get_project(&project)
        .await?
        .ok_or_else(|| not_found("project", &project))?;
    let all = every_page(
        |after| store.list_webhooks(&project, after, LIST_PAGE),
        |w| (w.created_at, w.id),
    )
    .await?;
    let mut text = match all.len() {
        0 => format!("No webhooks in {project}."),
        n => format!("{n} webhook(s) in {project}:"),
    };
    for w in &all {
        let events: Vec<&str> = w.events.iter().map(|e| e.as_str()).collect();
        text.push_str(&format!(
            "\n{}  {}  {}  [{}]  failed in a row: {}",
            w.id,
            if w.active { "active  " } else { "inactive" },
            w.url,
            events.join(", "),
            w.failed_events
        ));
    }
    let json = WebhooksJson {
        project_id: &project,
        webhooks: all
            .iter()
            .map(|w| crate::routes::webhooks::WebhookDto::new(w, None))
            .collect(),
    };
    Output::new(&json, text)
}

/// Mints a key for `user` in `project_id` (who must be a member) and stores its hash.
pub(super) async fn create_key(
    settings: &Settings,
    store: &Store,
    project_id: &ProjectId,
    user: UserId,
) -> Result<(ApiKeyId, auth::MintedKey), CliError> {
    let project = store
        .get_project(project_id)
        .await?
        .ok_or_else(|| not_found("project", project_id))?;
    let is_member = store.get_membership(project_id, user).await?.is_some();
    if !is_member {
        return Err(CliError::Usage(format!(
            "user {user} is not a member of {project_id}; add them first with `modelshare members add`"
        )));
    }
    let minted = auth::mint_key(&settings.auth.key_prefix, &project.slug)?;
    let id = ApiKeyId::new();
    store
        .insert_api_key(NewApiKey {
            id,
            project_id: project.id,
            user_id: user,
            hash: minted.hash,
            display_prefix: minted.display_prefix.clone(),
            expires_at: None,
        })
        .await?;
    Ok((id, minted))
}

async fn create_model(store: &Store, args: CreateModelArgs) -> Result<storage::Model, CliError> {
    // The text was checked against the caps when the command line was parsed
    // (`Cli::check`); the store checks it again.
    let name = args.name.trim().to_owned();
    let to_i64 = |flag: &str, v: Option<u64>| {
        v.map(|n| i64::try_from(n).map_err(|_| CliError::Usage(format!("{flag} is too large"))))
            .transpose()
    };
    store
        .get_project(&args.project)
        .await?
        .ok_or_else(|| not_found("project", &args.project))?;
    Ok(store
        .create_model(NewModel {
            id: args.id.unwrap_or_default(),
            project_id: args.project,
            name,
            description: args.description,
            status: args.status,
            architecture: args.architecture,
            parameter_count: to_i64("--parameters", args.parameters)?,
            context_length: to_i64("--context-length", args.context_length)?,
            license: args.license,
            tags: args.tags,
        })
        .await?)
}

fn not_found(what: &str, id: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("{what} {id} not found"))
}
