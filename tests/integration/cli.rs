//! The operator CLI, run as a real binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

use crate::db::TestDb;
use crate::helpers::spawn_app_with;

/// A scratch folder with its own database; commands run against it.
pub struct Cli {
    db: TestDb,
}

impl Cli {
    pub fn new() -> Self {
        Self { db: TestDb::new() }
    }

    pub fn db_url(&self) -> String {
        self.db.url.clone()
    }

    pub fn path(&self) -> &Path {
        self.db.dir()
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelshare-under-test"));
        cmd.current_dir(self.db.dir())
            .env("MODELSHARE__DATABASE__URL", self.db_url())
            .env_remove("MODELSHARE_ENV")
            .arg("--config")
            .arg(config_dir());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs with `--json`, expects success, returns the printed object.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.command().arg("--json").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Expects failure with the given exit code and a message containing `needle`.
    pub fn fails(&self, args: &[&str], code: i32, needle: &str) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    }
}

pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

fn id(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}

#[actix_rt::test]
async fn an_operator_sets_up_a_tenant_and_its_key_works() {
    let cli = Cli::new();
    let account = cli.json(&[
        "accounts",
        "create",
        "--name",
        "Acme",
        "--feature",
        "model_sharing",
    ]);
    assert_eq!(account["features"], serde_json::json!(["model_sharing"]));
    let account = id(&account);
    let project = cli.json(&[
        "projects",
        "create",
        "--account",
        &account,
        "--slug",
        "acme",
        "--id",
        "proj_ACME01",
        "--name",
        "Acme",
    ]);
    assert_eq!(project["id"], "proj_ACME01");
    let user = id(&cli.json(&[
        "users",
        "create",
        "--account",
        &account,
        "--email",
        "ops@acme.example",
    ]));
    let member = cli.json(&[
        "members",
        "add",
        "--project",
        "proj_ACME01",
        "--user",
        &user,
        "--role",
        "admin",
    ]);
    assert_eq!(member["role"], "admin");
    let key = cli.json(&[
        "keys",
        "create",
        "--project",
        "proj_ACME01",
        "--user",
        &user,
    ]);
    let (key_id, secret) = (id(&key), key["key"].as_str().unwrap().to_owned());
    assert!(secret.starts_with("xero_acme_"), "{secret}");
    let model = cli.json(&[
        "models",
        "create",
        "--project",
        "proj_ACME01",
        "--name",
        "acme-7b",
        "--status",
        "validating",
        "--architecture",
        "mistral",
        "--parameters",
        "7000000000",
        "--context-length",
        "32768",
        "--license",
        "apache-2.0",
        "--tag",
        "chat",
        "--tag",
        "code",
        "--description",
        "Acme's model",
    ]);
    assert_eq!(model["status"], "validating");
    assert_eq!(model["tags"], serde_json::json!(["chat", "code"]));
    let model_id = id(&model);
    let model = cli.json(&[
        "models",
        "set-status",
        "--model",
        &model_id,
        "--status",
        "active",
    ]);
    assert_eq!(model["status"], "active");
    let disabled = cli.json(&[
        "accounts",
        "disable-feature",
        "--account",
        &account,
        "--feature",
        "model_sharing",
    ]);
    assert_eq!(disabled["features"], serde_json::json!([]));
    let enabled = cli.json(&[
        "accounts",
        "enable-feature",
        "--account",
        &account,
        "--feature",
        "model_sharing",
    ]);
    assert_eq!(enabled["features"], serde_json::json!(["model_sharing"]));

    // The service on the same database accepts the key, then refuses it once revoked.
    let url = cli.db_url();
    let app = spawn_app_with(|s| s.database.url = api::settings::Secret::new(url)).await;
    let project: domain::ProjectId = "proj_ACME01".parse().unwrap();
    let response = app.get_model(&project, &model_id, &secret).await;
    assert_eq!(response.status(), 200);
    let revoked = cli.json(&["keys", "revoke", "--key-id", &key_id]);
    assert!(revoked["revokedAt"].is_string());
    assert_eq!(
        app.get_model(&project, &model_id, &secret).await.status(),
        401
    );
}

#[test]
fn bad_input_gets_a_clear_error_and_no_panic() {
    let cli = Cli::new();
    let account = id(&cli.json(&["accounts", "create", "--name", "Acme"]));
    cli.json(&[
        "projects",
        "create",
        "--account",
        &account,
        "--slug",
        "acme",
    ]);
    let unknown = uuid::Uuid::new_v4().to_string();
    cli.fails(
        &[
            "projects",
            "create",
            "--account",
            &unknown,
            "--slug",
            "other",
        ],
        1,
        "account",
    );
    cli.fails(
        &[
            "projects",
            "create",
            "--account",
            &account,
            "--slug",
            "acme",
        ],
        1,
        "already exists",
    );
    cli.fails(
        &[
            "projects",
            "create",
            "--account",
            &account,
            "--slug",
            "Bad_Slug",
        ],
        2,
        "slug",
    );
    cli.fails(
        &[
            "projects",
            "create",
            "--account",
            &account,
            "--slug",
            "ok",
            "--id",
            "proj_x",
        ],
        2,
        "project id",
    );
    cli.fails(
        &[
            "projects",
            "create",
            "--account",
            "not-a-uuid",
            "--slug",
            "ok",
        ],
        2,
        "UUID",
    );
    let user = id(&cli.json(&[
        "users",
        "create",
        "--account",
        &account,
        "--email",
        "a@acme.example",
    ]));
    let project = cli.json(&[
        "projects",
        "create",
        "--account",
        &account,
        "--slug",
        "acme2",
    ]);
    let project = id(&project);
    cli.fails(
        &[
            "members",
            "add",
            "--project",
            &project,
            "--user",
            &user,
            "--role",
            "owner",
        ],
        2,
        "role",
    );
    cli.fails(
        &["keys", "create", "--project", &project, "--user", &user],
        1,
        "not a member",
    );
    cli.fails(
        &[
            "models",
            "create",
            "--project",
            &project,
            "--name",
            "m",
            "--status",
            "shiny",
        ],
        2,
        "status",
    );
    cli.fails(
        &[
            "models",
            "set-status",
            "--model",
            &unknown,
            "--status",
            "ready",
        ],
        1,
        "not found",
    );
    cli.fails(
        &[
            "models",
            "set-status",
            "--model",
            "nope",
            "--status",
            "ready",
        ],
        2,
        "UUID",
    );
    cli.fails(&["keys", "revoke", "--key-id", &unknown], 1, "not found");
    cli.fails(
        &[
            "accounts",
            "enable-feature",
            "--account",
            &unknown,
            "--feature",
            "model_sharing",
        ],
        1,
        "not found",
    );
    cli.fails(
        &["accounts", "create", "--name", "x", "--feature", "teleport"],
        2,
        "feature",
    );
    cli.fails(
        &[
            "users",
            "create",
            "--account",
            &account,
            "--email",
            "a@acme.example",
        ],
        1,
        "already exists",
    );
}

#[actix_rt::test]
async fn demo_is_idempotent_and_each_run_prints_a_working_admin_key() {
    let cli = Cli::new();
    let first = cli.json(&["demo"]);
    let second = cli.json(&["demo"]);
    for field in ["projectId", "modelId", "accountId", "userId", "baseUrl"] {
        assert!(first[field].is_string(), "{field} missing: {first}");
        assert_eq!(first[field], second[field], "{field} changed");
    }
    assert_ne!(first["apiKey"], second["apiKey"]);

    let url = cli.db_url();
    let app = spawn_app_with(|s| s.database.url = api::settings::Secret::new(url)).await;
    let project: domain::ProjectId = first["projectId"].as_str().unwrap().parse().unwrap();
    let model = first["modelId"].as_str().unwrap();
    for run in [&first, &second] {
        let response = app
            .get_model(&project, model, run["apiKey"].as_str().unwrap())
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ready");
    }
    let models: Value = app
        .list_models(&project, "", first["apiKey"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        models["data"].as_array().unwrap().len(),
        1,
        "demo seeded twice: {models}"
    );
    let text = String::from_utf8(cli.run(&["demo"]).stdout).unwrap();
    assert!(text.contains("curl"), "{text}");
}

#[test]
fn bad_configuration_stops_start_up_naming_the_key() {
    let cli = Cli::new();
    for (var, value, needle) in [
        ("MODELSHARE__SERVER__PORT", "not-a-port", "port"),
        ("MODELSHARE__LOG__FORMAT", "fancy", "format"),
        (
            "MODELSHARE__DATABASE__SQLITE_SYNCHRONOUS",
            "sometimes",
            "database.sqlite_synchronous",
        ),
        (
            "MODELSHARE__AUTH__KEY_PREFIX",
            "bad_prefix",
            "auth.key_prefix",
        ),
    ] {
        let out = cli
            .command()
            .env(var, value)
            .arg("migrate")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert!(stderr.contains(needle), "{var}: {stderr}");
    }
    // A local.toml in the config folder overrides default.toml.
    let dir = cli.path().join("conf");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(config_dir().join("default.toml"), dir.join("default.toml")).unwrap();
    std::fs::write(dir.join("local.toml"), "[api]\nmax_page_size = 0\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_modelshare-under-test"))
        .env("MODELSHARE__DATABASE__URL", cli.db_url())
        .args(["--config", dir.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("api.max_page_size"));
}

#[test]
fn serve_starts_from_the_binary_and_answers() {
    let cli = Cli::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_modelshare-under-test"))
        .current_dir(cli.path())
        .env("MODELSHARE__DATABASE__URL", cli.db_url())
        .env("MODELSHARE__SERVER__PORT", port.to_string())
        .env("MODELSHARE__LOG__FORMAT", "json")
        .args(["--config", config_dir().to_str().unwrap(), "serve"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).unwrap();
            answered = Some(reply);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let reply = answered.expect("the server never answered");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("x-request-id"),
        "{reply}"
    );
}

/// A model's name, description, tags (count and length), architecture and license are capped
/// when it is registered: over a cap is bad usage (exit 2) naming the flag and the cap, at the
/// cap is fine, and the storage layer refuses the same text whatever path it comes by.
#[actix_rt::test]
async fn model_text_over_the_caps_is_bad_usage() {
    let cli = Cli::new();
    let account = id(&cli.json(&["accounts", "create", "--name", "Acme"]));
    let project = id(&cli.json(&[
        "projects",
        "create",
        "--account",
        &account,
        "--slug",
        "acme",
    ]));
    let create = |name: &str, extra: &[&str]| -> Vec<String> {
        ["models", "create", "--project", &project, "--name", name]
            .iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let long_name = "n".repeat(domain::MAX_MODEL_NAME_CHARS + 1);
    let long_description = "d".repeat(domain::MAX_MODEL_DESCRIPTION_CHARS + 1);
    let long_tag = "t".repeat(domain::MAX_MODEL_TAG_CHARS + 1);
    let long_label = "l".repeat(domain::MAX_MODEL_LABEL_CHARS + 1);
    let too_many_tags: Vec<String> = (0..=domain::MAX_MODEL_TAGS)
        .flat_map(|i| ["--tag".to_owned(), format!("t{i}")])
        .collect();
    let too_many_tags: Vec<&str> = too_many_tags.iter().map(String::as_str).collect();
    let cases = [
        (
            create(&long_name, &[]),
            "--name: the model name has 129 characters; at most 128 are allowed",
        ),
        (
            create("capped", &["--description", &long_description]),
            "--description: the model description has 4097 characters; at most 4096",
        ),
        (
            create("capped", &["--tag", "ok", "--tag", &long_tag]),
            "--tag: the model tag has 65 characters; at most 64",
        ),
        (
            create("capped", &too_many_tags),
            "--tag: the model has 33 tags; at most 32",
        ),
        (
            create("capped", &["--license", &long_label]),
            "--license: the model license has 65 characters",
        ),
        (create("   ", &[]), "--name: the model name is empty"),
    ];
    for (args, needle) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli.fails(&args, 2, needle);
    }

    // At the caps (counted in characters, not bytes), the model is created whole.
    let name = "é".repeat(domain::MAX_MODEL_NAME_CHARS);
    let description = "é".repeat(domain::MAX_MODEL_DESCRIPTION_CHARS);
    let tag = "t".repeat(domain::MAX_MODEL_TAG_CHARS);
    let mut args = vec![
        "models",
        "create",
        "--project",
        &project,
        "--name",
        &name,
        "--description",
        &description,
    ];
    for _ in 0..domain::MAX_MODEL_TAGS {
        args.extend(["--tag", &tag]);
    }
    let model = cli.json(&args);
    assert_eq!(model["name"], name.as_str());
    assert_eq!(model["description"], description.as_str());
    assert_eq!(
        model["tags"].as_array().unwrap().len(),
        domain::MAX_MODEL_TAGS
    );

    // Another way in than the CLI meets the same caps, in the store.
    let store = crate::helpers::connect_store(&cli.db).await;
    let refused = store
        .create_model(storage::NewModel {
            id: domain::ModelId::new(),
            project_id: project.parse().unwrap(),
            name: "by another path".into(),
            description: long_description.clone(),
            status: domain::ModelStatus::Ready,
            architecture: None,
            parameter_count: None,
            context_length: None,
            license: None,
            tags: Vec::new(),
        })
        .await;
    assert!(
        matches!(
            refused,
            Err(storage::StorageError::Invalid(
                "the model description is too long"
            ))
        ),
        "{refused:?}"
    );
}
