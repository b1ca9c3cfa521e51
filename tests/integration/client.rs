//! The OpenAPI document is valid (`openapi-spec-validator`), and a Python client generated from
//! it (`openapi-python-client`) shares, lists the catalog, creates an endpoint and unshares
//! against the real server. CI installs both tools; elsewhere the test says it skipped.

use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::spawn_app;

/// Shares, lists, creates an endpoint, unshares and unshares again with the generated client;
/// prints one line per step.
const SCRIPT: &str = r#"import sys
from modelshare_client import AuthenticatedClient
from modelshare_client.api.catalog import list_catalog
from modelshare_client.api.endpoints import create_endpoint
from modelshare_client.api.sharing import share, unshare
from modelshare_client.models import (
    CreateEndpoint, EndpointDto, ErrorEnvelope, ListCatalogModelDto, SharedDto, SortParam,
    UnsharedDto,
)

base, key, project, model = sys.argv[1:5]
client = AuthenticatedClient(base_url=base, token=key)
shared = share.sync(project, model, client=client)
assert isinstance(shared, SharedDto), shared
print("shared", shared.shared, shared.model_id)
page = list_catalog.sync(client=client, sort=SortParam.NAME, limit=10)
assert isinstance(page, ListCatalogModelDto), page
print("catalog", [item.model_id for item in page.data])
body = CreateEndpoint(slug="from-client", model_id=model)
endpoint = create_endpoint.sync(project, client=client, body=body)
assert isinstance(endpoint, EndpointDto), endpoint
print("endpoint", endpoint.slug, endpoint.model_id)
unshared = unshare.sync(project, model, client=client)
assert isinstance(unshared, UnsharedDto), unshared
print("unshared", unshared.shared)
again = unshare.sync(project, model, client=client)
assert isinstance(again, ErrorEnvelope), again
print("again", again.error.code)
"#;

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tools_present() -> bool {
    succeeds("openapi-spec-validator", &["--help"])
        && succeeds("openapi-python-client", &["--version"])
        && succeeds("python3", &["-c", "import httpx, attrs"])
}

fn run(program: &str, args: &[&str], dir: &Path) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PYTHONPATH", dir.join("client"))
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[actix_rt::test]
async fn a_client_generated_from_the_openapi_document_works() {
    if !tools_present() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have openapi-spec-validator and openapi-python-client"
        );
        eprintln!(
            "skipped: openapi-spec-validator or openapi-python-client is not installed (CI installs them)"
        );
        return;
    }
    let app = spawn_app().await;
    let t = app.tenant().await;
    let spec = app.get("/openapi.json", None).await.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.json"), spec).unwrap();

    let (path, base) = (dir.path().to_owned(), app.base.clone());
    let (project, model, key) = (t.project.to_string(), t.model.to_string(), t.key.clone());
    let printed = actix_web::rt::task::spawn_blocking(move || {
        run("openapi-spec-validator", &["spec.json"], &path);
        run(
            "openapi-python-client",
            &["generate", "--path", "spec.json", "--output-path", "client"],
            &path,
        );
        let out = run(
            "python3",
            &["-c", SCRIPT, &base, &key, &project, &model],
            &path,
        );
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap();

    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines,
        [
            format!("shared True {model}", model = t.model).as_str(),
            format!("catalog [UUID('{}')]", t.model).as_str(),
            format!("endpoint from-client {}", t.model).as_str(),
            "unshared False",
            "again model_not_shared",
        ],
        "{printed}"
    );
}
