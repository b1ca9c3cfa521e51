//! `modelshare schedules list --project`: the project's schedules as the API shows them.

use reqwest::StatusCode;
use serde_json::Value;

use super::{one, scheduled, whole_seconds_ahead};
use crate::helpers::{run_cli, spawn_app};

#[actix_rt::test]
async fn operators_list_a_projects_schedules_from_the_cli() {
    let app = spawn_app().await;
    let t = app.tenant().await;
    let (_, at) = whole_seconds_ahead(3600);
    let kept = scheduled(&app, &t, t.model, "share", &at).await;
    let dropped = scheduled(&app, &t, t.model, "unshare", &at).await;
    let dropped_id = dropped["id"].as_str().unwrap();
    assert_eq!(
        one(&app, &t, t.model, dropped_id, true, &t.key)
            .await
            .status(),
        StatusCode::OK
    );
    let cli = |args: &[&str]| run_cli(&app, args);
    let project = t.project.as_str();
    let all: Value =
        serde_json::from_str(&cli(&["--json", "schedules", "list", "--project", project])).unwrap();
    assert_eq!(all["projectId"], project);
    let schedules = all["schedules"].as_array().unwrap();
    assert_eq!(schedules.len(), 2);
    // The API's view of each.
    let listed: Vec<&Value> = schedules.iter().filter(|s| s["id"] == kept["id"]).collect();
    assert_eq!(listed, vec![&kept]);
    let cancelled: Value = serde_json::from_str(&cli(&[
        "--json",
        "schedules",
        "list",
        "--project",
        project,
        "--status",
        "cancelled",
    ]))
    .unwrap();
    assert_eq!(cancelled["schedules"].as_array().unwrap().len(), 1);
    assert_eq!(cancelled["schedules"][0]["id"], dropped["id"]);
    let text = cli(&["schedules", "list", "--project", project]);
    assert!(
        text.contains(kept["id"].as_str().unwrap()) && text.contains("cancelled"),
        "{text}"
    );
}
