//! The operator CLI, `modelshare`. Every command takes `--config DIR` and `--json`; with `--json`
//! a command prints one JSON object on stdout (created objects carry their `id`).
//!
//! This module holds the program's entry point and the command line's definition; running a
//! command is in `execute` (and `demo`), what it prints in `output`.

mod demo;
mod execute;
mod output;
mod policies;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use domain::{
    AccountId, ApiKeyId, Feature, ModelId, ModelStatus, ModelText, ModelTextError, ProjectId,
    ProjectSlug, Role, ScheduleStatus, UserId,
};

pub use execute::{CliError, run};
pub use output::Output;

use crate::app::{Application, StartupError};
use crate::settings::Settings;
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
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => return system.block_on(serve(settings, cli.config)),
        Command::Policies(cmd) => system.block_on(policies::run(cmd, &settings)),
        command => system.block_on(run(command, &settings)),
    };
    match result {
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
            err.exit_code()
        }
    }
}

/// Serves until stopped; `config_dir` is where SIGHUP reads the configuration again.
/// A bad configuration (policies and rules included) exits 2, another start-up failure 1.
async fn serve(settings: Settings, config_dir: Option<PathBuf>) -> ExitCode {
    telemetry::init(&settings.log);
    let app = match Application::build(settings).await {
        Ok(app) => app.reload_from(config_dir),
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            eprintln!("error: {err}");
            return match err {
                StartupError::Settings(_) | StartupError::Policy(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            };
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
    /// Scheduled shares and unshares.
    #[command(subcommand)]
    Schedules(SchedulesCommand),
    /// Webhook subscriptions.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Try the configured policies and rules before deploying them.
    #[command(subcommand)]
    Policies(PoliciesCommand),
}

#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// Build both chains, compiling every rule: exit 0, or 2 with the error.
    Check,
    /// Run the configured chain on a model and a caller given as JSON; print each policy's
    /// verdict (the checks of the eligibility dry-run).
    Eval {
        /// share or unshare.
        #[arg(long)]
        action: domain::ShareAction,
        /// A model as the API shows it (name, status, license, parameterCount, tags, …).
        #[arg(long = "model-json", value_name = "FILE")]
        model_json: PathBuf,
        /// {"role", "projectId", "accountId", "features", optional "userId"}.
        #[arg(long = "caller-json", value_name = "FILE")]
        caller_json: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// List a project's schedules (of all its models), newest first.
    List {
        #[arg(long)]
        project: ProjectId,
        /// Only this status: pending, succeeded, failed or cancelled.
        #[arg(long)]
        status: Option<ScheduleStatus>,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List a project's webhooks (never their secrets), newest first, with their state and
    /// count of events failed in a row.
    List {
        #[arg(long)]
        project: ProjectId,
    },
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
