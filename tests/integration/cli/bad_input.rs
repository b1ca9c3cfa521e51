//! What the CLI refuses: bad arguments and values, bad configuration, model text over the caps;
//! each a clear message and exit code 2, never a panic.

use assert_cmd::Command;

use super::{Cli, config_dir, id};

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
