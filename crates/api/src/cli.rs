//! The operator CLI, `modelshare`. Every command takes `--config DIR` and `--json`; with `--json`
//! a command prints one JSON object on stdout (created objects carry their `id`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use domain::{
    AccountId, ApiKeyId, Feature, ModelId, ModelStatus, ModelText, ModelTextError, ProjectId,
    ProjectSlug, Role, UserId,
};
use serde_json::{Value, json};
use storage::{NewApiKey, NewModel, NewProject, StorageError, Store};

use crate::app::Application;
use crate::dto::ModelDto;
use crate::settings::{Settings, SettingsError};
use crate::telemetry;

/// The whole program: parse the command line, load the settings, run the command.
/// Exit codes: 0 success, 1 the command failed, 2 bad usage or configuration.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = cli.check() {
        err.exit();
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let system = actix_rt::System::new();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => system.block_on(serve(settings)),
        command => match system.block_on(run(command, &settings)) {
            Ok(output) => {
                if cli.json {
                    println!("{}", output.json);
                } else {
                    println!("{}", output.text);
                }
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(settings: Settings) -> ExitCode {
    telemetry::init(&settings.log);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "modelshare",
    version,
    about = "Share models to a public catalog: the service and its operator tools."
)]
pub struct Cli {
    /// Folder holding default.toml, {MODELSHARE_ENV}.toml and local.toml.
    #[arg(long, global = true, value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// Print one JSON object on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// What clap cannot check one value at a time: a new model's text against the caps
    /// ([`ModelText`]). A failure is bad usage, answered like the values clap refuses (exit 2).
    fn check(&self) -> Result<(), clap::Error> {
        if let Some(Command::Models(ModelsCommand::Create(args))) = &self.command {
            args.text().check().map_err(|err| {
                let flag = match &err {
                    ModelTextError::EmptyName => "--name",
                    ModelTextError::TooLong { field, .. } => match *field {
                        "name" => "--name",
                        "description" => "--description",
                        "architecture" => "--architecture",
                        "license" => "--license",
                        _ => "--tag",
                    },
                    ModelTextError::TooManyTags { .. } => "--tag",
                };
                Self::command().error(ErrorKind::ValueValidation, format!("{flag}: {err}"))
            })?;
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate, then serve HTTP (the default command).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Seed a demo tenant (idempotent) and print an admin key and curl lines.
    Demo,
    /// Customer accounts and their features.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Projects.
    #[command(subcommand)]
    Projects(ProjectsCommand),
    /// Users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Project memberships and roles.
    #[command(subcommand)]
    Members(MembersCommand),
    /// API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Models (stands in for the platform's upload pipeline).
    #[command(subcommand)]
    Models(ModelsCommand),
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create an account.
    Create {
        #[arg(long)]
        name: String,
        /// A feature to enable (repeatable): model_sharing.
        #[arg(long = "feature")]
        features: Vec<Feature>,
    },
    /// Enable a feature on an account.
    EnableFeature(FeatureArgs),
    /// Disable a feature on an account.
    DisableFeature(FeatureArgs),
}

#[derive(Debug, Args)]
pub struct FeatureArgs {
    #[arg(long)]
    account: AccountId,
    #[arg(long)]
    feature: Feature,
}

#[derive(Debug, Subcommand)]
pub enum ProjectsCommand {
    /// Create a project in an account.
    Create {
        #[arg(long)]
        account: AccountId,
        /// Lowercase letters, digits, inner hyphens; appears in the project's API keys.
        #[arg(long)]
        slug: ProjectSlug,
        /// External id, `proj_` + 6 to 32 letters or digits (generated when omitted).
        #[arg(long)]
        id: Option<ProjectId>,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user in an account.
    Create {
        #[arg(long)]
        account: AccountId,
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Add a user to a project with a role (or change their role).
    Add {
        #[arg(long)]
        project: ProjectId,
        #[arg(long)]
        user: UserId,
        /// admin, member or viewer.
        #[arg(long)]
        role: Role,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Mint an API key for a member of a project; the key is printed once.
    Create {
        #[arg(long)]
        project: ProjectId,
        #[arg(long)]
        user: UserId,
    },
    /// Revoke a key by its id.
    Revoke {
        #[arg(long = "key-id")]
        key_id: ApiKeyId,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Register a model in a project.
    Create(CreateModelArgs),
    /// Change a model's status.
    SetStatus {
        #[arg(long)]
        model: ModelId,
        /// uploading, validating, ready, active, failed or archived.
        #[arg(long)]
        status: ModelStatus,
    },
}

#[derive(Debug, Args)]
pub struct CreateModelArgs {
    #[arg(long)]
    project: ProjectId,
    #[arg(long)]
    name: String,
    /// Model id (a UUID; generated when omitted).
    #[arg(long)]
    id: Option<ModelId>,
    #[arg(long, default_value = "ready")]
    status: ModelStatus,
    #[arg(long)]
    architecture: Option<String>,
    #[arg(long)]
    parameters: Option<u64>,
    #[arg(long = "context-length")]
    context_length: Option<u64>,
    #[arg(long)]
    license: Option<String>,
    /// A tag (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    #[arg(long, default_value = "")]
    description: String,
}

impl CreateModelArgs {
    /// The model's text as it will be stored (the name trimmed).
    fn text(&self) -> ModelText<'_> {
        ModelText {
            name: self.name.trim(),
            description: &self.description,
            architecture: self.architecture.as_deref(),
            license: self.license.as_deref(),
            tags: &self.tags,
        }
    }
}

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

/// A command's result: a JSON object and the text a person reads.
#[derive(Debug)]
pub struct Output {
    pub json: Value,
    pub text: String,
}

impl Output {
    fn object(json: Value, text: impl Into<String>) -> Self {
        Self {
            json,
            text: text.into(),
        }
    }
}

async fn execute(command: Command, settings: &Settings, store: &Store) -> Result<Output, CliError> {
    match command {
        Command::Serve => Err(CliError::Usage("serve is not an operator command".into())),
        Command::Migrate => Ok(Output::object(
            json!({"migrated": true}),
            "Database is up to date.",
        )),
        Command::Demo => demo(settings, store).await,
        Command::Accounts(cmd) => accounts(cmd, store).await,
        Command::Projects(ProjectsCommand::Create {
            account,
            slug,
            id,
            name,
        }) => {
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
            Ok(Output::object(
                project_json(&project),
                format!("Created project {} ({}).", project.id, project.slug),
            ))
        }
        Command::Users(UsersCommand::Create { account, email }) => {
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
            Ok(Output::object(
                json!({"id": user.id, "accountId": user.account_id, "email": user.email, "createdAt": user.created_at}),
                format!("Created user {} ({}).", user.id, user.email),
            ))
        }
        Command::Members(MembersCommand::Add {
            project,
            user,
            role,
        }) => {
            let membership = store.set_membership(&project, user, role).await?;
            Ok(Output::object(
                json!({"projectId": membership.project_id, "userId": membership.user_id, "role": membership.role}),
                format!("User {user} is {role} in {project}."),
            ))
        }
        Command::Keys(KeysCommand::Create { project, user }) => {
            let (id, key) = create_key(settings, store, &project, user).await?;
            Ok(Output::object(
                json!({"id": id, "key": key.key, "prefix": key.display_prefix, "projectId": project, "userId": user}),
                format!(
                    "Created key {id}. Store it now; it is not shown again:\n{}",
                    key.key
                ),
            ))
        }
        Command::Keys(KeysCommand::Revoke { key_id }) => {
            let key = store.revoke_api_key(key_id).await?;
            Ok(Output::object(
                json!({"id": key.id, "prefix": key.display_prefix, "revokedAt": key.revoked_at}),
                format!("Revoked key {} ({}…).", key.id, key.display_prefix),
            ))
        }
        Command::Models(ModelsCommand::Create(args)) => {
            let model = create_model(store, args).await?;
            let text = format!(
                "Created model {} ({}, {}).",
                model.id, model.name, model.status
            );
            Ok(Output::object(model_json(model), text))
        }
        Command::Models(ModelsCommand::SetStatus { model, status }) => {
            let model = store.set_model_status(model, status).await?;
            let text = format!("Model {} is now {}.", model.id, model.status);
            Ok(Output::object(model_json(model), text))
        }
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
    let features: Vec<&str> = account.features.iter().map(|f| f.0.as_str()).collect();
    let text = format!(
        "{verb} account {} ({}); features: {}.",
        account.id,
        account.name,
        if features.is_empty() {
            "none".to_owned()
        } else {
            features.join(", ")
        }
    );
    Ok(Output::object(
        json!({"id": account.id, "name": account.name, "features": features, "createdAt": account.created_at}),
        text,
    ))
}

async fn create_key(
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

const DEMO_ACCOUNT: &str = "Demo Account";
const DEMO_PROJECT: &str = "proj_ABC123";
const DEMO_SLUG: &str = "myproject";
const DEMO_EMAIL: &str = "admin@demo.example";
const DEMO_MODEL: &str = "550e8400-e29b-41d4-a716-446655440000";

/// Seeds (or finds) the demo tenant: an account with model sharing, project `proj_ABC123`
/// (slug `myproject`, as in the product page's examples), an admin user, a `ready` model with
/// the product page's id, and a fresh admin key.
async fn demo(settings: &Settings, store: &Store) -> Result<Output, CliError> {
    let account = match store.find_account_by_name(DEMO_ACCOUNT).await? {
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
    };
    let project_id = ProjectId::parse(DEMO_PROJECT).map_err(|e| CliError::Usage(e.to_string()))?;
    let slug = ProjectSlug::parse(DEMO_SLUG).map_err(|e| CliError::Usage(e.to_string()))?;
    let project = match store.get_project(&project_id).await? {
        Some(project) if project.account_id == account.id => project,
        Some(_) => {
            return Err(CliError::Usage(format!(
                "{DEMO_PROJECT} exists in another account; the demo needs it"
            )));
        }
        None => {
            store
                .create_project(NewProject {
                    id: project_id.clone(),
                    account_id: account.id,
                    slug,
                    name: "My Project".into(),
                })
                .await?
        }
    };
    let user = match store.find_user_by_email(account.id, DEMO_EMAIL).await? {
        Some(user) => user,
        None => store.create_user(account.id, DEMO_EMAIL).await?,
    };
    store
        .set_membership(&project.id, user.id, Role::Admin)
        .await?;
    let model_id: ModelId = DEMO_MODEL
        .parse()
        .map_err(|e: domain::InvalidId| CliError::Usage(e.to_string()))?;
    match store.get_model(model_id).await? {
        Some(model) if model.project_id != project.id => {
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
                    project_id: project.id.clone(),
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
    let (key_id, key) = create_key(settings, store, &project.id, user.id).await?;
    let base = settings.base_url();
    let text = format!(
        "Demo tenant ready.\n\
         \n  project:  {project}\n  model:    {model}\n  API key:  {key} (admin; shown once)\n  base URL: {base}\n\
         \nStart the service (`cargo run --release`), then:\n\
         \n  curl -s {base}/{project}/v1/models/{model} -H \"Authorization: Bearer {key}\"\
         \n  curl -s -X POST {base}/{project}/v1/models/{model}/share -H \"Authorization: Bearer {key}\"\
         \n  curl -s -X POST {base}/{project}/v1/models/{model}/unshare -H \"Authorization: Bearer {key}\"",
        project = project.id,
        model = model_id,
        key = key.key,
    );
    Ok(Output::object(
        json!({
            "accountId": account.id,
            "projectId": project.id,
            "userId": user.id,
            "apiKeyId": key_id,
            "apiKey": key.key,
            "modelId": model_id,
            "baseUrl": base,
        }),
        text,
    ))
}

fn not_found(what: &str, id: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("{what} {id} not found"))
}

fn project_json(p: &storage::Project) -> Value {
    json!({"id": p.id, "accountId": p.account_id, "slug": p.slug, "name": p.name, "createdAt": p.created_at})
}

fn model_json(model: storage::Model) -> Value {
    let project_id = model.project_id.clone();
    let mut value = serde_json::to_value(ModelDto::from(model)).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("projectId".into(), json!(project_id));
    }
    value
}
