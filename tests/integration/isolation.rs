//! Tenant isolation: for every project route, a key of another project (same account or not)
//! gets 404 and the same body whether or not the object exists; nothing changes.

use domain::{ProjectId, ProjectSlug, Role};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use storage::NewProject;

use crate::helpers::{Tenant, TestApp, assert_error, spawn_app};

/// A second project in the same account as `t`, with an admin key.
async fn sibling(app: &TestApp, t: &Tenant) -> (ProjectId, String) {
    let project = ProjectId::generate();
    let slug = ProjectSlug::parse(&format!(
        "s{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    ))
    .unwrap();
    app.store
        .create_project(NewProject {
            id: project.clone(),
            account_id: t.account,
            slug: slug.clone(),
            name: "Sibling".into(),
        })
        .await
        .unwrap();
    let user = app
        .store
        .create_user(t.account, &format!("{slug}@example.com"))
        .await
        .unwrap();
    app.store
        .set_membership(&project, user.id, Role::Admin)
        .await
        .unwrap();
    let (_, key) = app.key_for(&project, &slug, user.id).await;
    (project, key)
}

async fn call(app: &TestApp, method: Method, path: &str, key: &str) -> reqwest::Response {
    let mut req = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(key);
    if method == Method::POST && path.ends_with("/endpoints") {
        req = req.json(&serde_json::json!({"slug": "intruder", "modelId": uuid::Uuid::new_v4()}));
    }
    if method == Method::POST
        && (path.ends_with("/models/share") || path.ends_with("/models/unshare"))
    {
        req = req.json(&serde_json::json!({"modelIds": [uuid::Uuid::new_v4()]}));
    }
    if method == Method::POST && path.ends_with("/schedules") {
        req = req.json(&serde_json::json!({"action": "share", "at": in_an_hour()}));
    }
    req.send().await.unwrap()
}

/// A valid schedule time.
fn in_an_hour() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn routes(project: &str, model: &str, endpoint: &str, schedule: &str) -> Vec<(Method, String)> {
    vec![
        (Method::GET, format!("/{project}/v1/models")),
        (Method::POST, format!("/{project}/v1/models/share")),
        (Method::POST, format!("/{project}/v1/models/unshare")),
        (Method::GET, format!("/{project}/v1/models/{model}")),
        (
            Method::GET,
            format!("/{project}/v1/models/{model}/share-events"),
        ),
        (
            Method::GET,
            format!("/{project}/v1/models/{model}/share-eligibility"),
        ),
        (
            Method::GET,
            format!("/{project}/v1/models/{model}/unshare-impact"),
        ),
        (Method::POST, format!("/{project}/v1/models/{model}/share")),
        (
            Method::POST,
            format!("/{project}/v1/models/{model}/unshare"),
        ),
        (
            Method::POST,
            format!("/{project}/v1/models/{model}/schedules"),
        ),
        (
            Method::GET,
            format!("/{project}/v1/models/{model}/schedules"),
        ),
        (
            Method::GET,
            format!("/{project}/v1/models/{model}/schedules/{schedule}"),
        ),
        (
            Method::DELETE,
            format!("/{project}/v1/models/{model}/schedules/{schedule}"),
        ),
        (Method::POST, format!("/{project}/v1/endpoints")),
        (Method::GET, format!("/{project}/v1/endpoints")),
        (Method::GET, format!("/{project}/v1/endpoints/{endpoint}")),
        (
            Method::DELETE,
            format!("/{project}/v1/endpoints/{endpoint}"),
        ),
    ]
}

#[actix_rt::test]
async fn another_tenants_key_learns_nothing_on_any_route() {
    let app = spawn_app().await;
    let victim = app.tenant().await;
    let shared = app
        .model_in(&victim.project, "shared", domain::ModelStatus::Ready)
        .await;
    app.shared(&victim, shared).await;
    let created: Value = app
        .create_endpoint(
            &victim.project,
            "secret",
            &victim.model.to_string(),
            &victim.key,
        )
        .await
        .json()
        .await
        .unwrap();
    let endpoint = created["id"].as_str().unwrap().to_owned();
    let scheduled: Value = app
        .client
        .post(app.url(&format!(
            "/{}/v1/models/{}/schedules",
            victim.project, victim.model
        )))
        .bearer_auth(&victim.key)
        .json(&serde_json::json!({"action": "share", "at": in_an_hour()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schedule = scheduled["id"].as_str().unwrap().to_owned();
    let missing_schedule = format!("sch_{}", uuid::Uuid::new_v4().simple());
    let other_account = app.tenant().await;
    let (sibling_project, sibling_key) = sibling(&app, &victim).await;
    let intruders = [
        (other_account.project.clone(), other_account.key.clone()),
        (sibling_project, sibling_key),
    ];
    let missing_model = uuid::Uuid::new_v4().to_string();
    let missing_endpoint = uuid::Uuid::new_v4().to_string();

    for (own_project, key) in &intruders {
        // The victim's project in the path: the same 404 as a project that does not exist.
        let real = routes(
            victim.project.as_str(),
            &victim.model.to_string(),
            &endpoint,
            &schedule,
        );
        let fake = routes(
            "proj_NOSUCHPROJECT",
            &missing_model,
            &missing_endpoint,
            &missing_schedule,
        );
        for ((method, real_path), (_, fake_path)) in real.iter().zip(&fake) {
            let a = assert_error(
                call(&app, method.clone(), real_path, key).await,
                StatusCode::NOT_FOUND,
                "project_not_found",
            )
            .await;
            let b = assert_error(
                call(&app, method.clone(), fake_path, key).await,
                StatusCode::NOT_FOUND,
                "project_not_found",
            )
            .await;
            assert_eq!(a, b, "{method} {real_path}");
        }
        // Their own project in the path, the victim's ids: the same 404 as ids that do not exist.
        let real = routes(
            own_project.as_str(),
            &victim.model.to_string(),
            &endpoint,
            &schedule,
        );
        let fake = routes(
            own_project.as_str(),
            &missing_model,
            &missing_endpoint,
            &missing_schedule,
        );
        for ((method, real_path), (_, fake_path)) in real
            .iter()
            .zip(&fake)
            .filter(|((_, p), _)| p.contains(&endpoint) || p.contains(&victim.model.to_string()))
        {
            let a = call(&app, method.clone(), real_path, key).await;
            let b = call(&app, method.clone(), fake_path, key).await;
            assert_eq!(a.status(), StatusCode::NOT_FOUND, "{method} {real_path}");
            assert_eq!(b.status(), StatusCode::NOT_FOUND, "{method} {fake_path}");
            let a: Value = a.json().await.unwrap();
            let b: Value = b.json().await.unwrap();
            assert_eq!(a, b, "{method} {real_path}");
        }
        // Listing their own project shows none of the victim's objects.
        let models: Value = app
            .get(&format!("/{own_project}/v1/models"), Some(key))
            .await
            .json()
            .await
            .unwrap();
        assert!(!models.to_string().contains(&victim.model.to_string()));
        let endpoints: Value = app
            .get(&format!("/{own_project}/v1/endpoints"), Some(key))
            .await
            .json()
            .await
            .unwrap();
        assert!(!endpoints.to_string().contains(&endpoint));
    }

    // Nothing changed for the victim.
    let model: Value = app
        .get_model(&victim.project, &victim.model.to_string(), &victim.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(model["shared"], false);
    let still_shared: Value = app
        .get_model(&victim.project, &shared.to_string(), &victim.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still_shared["shared"], true);
    let endpoint_now = app
        .get(
            &format!("/{}/v1/endpoints/{endpoint}", victim.project),
            Some(&victim.key),
        )
        .await;
    assert_eq!(endpoint_now.status(), StatusCode::OK);
    let events = app.store.list_share_events(shared, None, 10).await.unwrap();
    assert_eq!(events.items.len(), 1);
    let schedules = app
        .store
        .list_schedules(&victim.project, None, None, None, 10)
        .await
        .unwrap();
    assert_eq!(schedules.items.len(), 1, "an intruder created a schedule");
    assert_eq!(schedules.items[0].status, domain::ScheduleStatus::Pending);
}
