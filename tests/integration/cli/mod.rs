//! The operator CLI, run as a real binary; what it refuses, and how, in [`bad_input`].

mod bad_input;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use reqwest::StatusCode;
use serde_json::Value;

use crate::db::TestDb;
use crate::helpers::{changed_within, spawn_app_with};

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

    // The service on the same database accepts the key, then refuses it once the revocation
    // reaches it: the CLI is another process, so the service learns of it by watching the
    // database (its key cache converges within milliseconds; the bound allows a loaded machine).
    let url = cli.db_url();
    let app = spawn_app_with(|s| s.database.url = api::settings::Secret::new(url)).await;
    let project: domain::ProjectId = "proj_ACME01".parse().unwrap();
    let response = app.get_model(&project, &model_id, &secret).await;
    assert_eq!(response.status(), 200);
    let revoked = cli.json(&["keys", "revoke", "--key-id", &key_id]);
    assert!(revoked["revokedAt"].is_string());
    let since = Instant::now();
    changed_within(since, Duration::from_secs(2), StatusCode::OK, || {
        app.get_model(&project, &model_id, &secret)
    })
    .await;
    assert_eq!(
        app.get_model(&project, &model_id, &secret).await.status(),
        StatusCode::UNAUTHORIZED
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
