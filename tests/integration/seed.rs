//! The product page's own curl and Python examples, with only the base URL, key and ids
//! replaced, work against the service.

use std::process::Command;

use tokio::process::Command as AsyncCommand;

use crate::helpers::spawn_app;

/// The Python example of the product page, line for line; `{BASE}`, `{KEY}`, `{MODEL}`,
/// `{PROJECT}` and `{ACTION}` are the only substitutions.
const PYTHON_SHARE: &str = r#"import requests

API_KEY = "{KEY}"
BASE_URL = "{BASE}/{PROJECT}/v1"
MODEL_ID = "{MODEL}"

response = requests.post(
    f"{BASE_URL}/models/{MODEL_ID}/share",
    headers={"Authorization": f"Bearer {API_KEY}"}
)

if response.status_code == 200:
    data = response.json()
    print(f"Model shared: {data['shared']}")
else:
    print(f"Error: {response.json()}")
"#;

const PYTHON_UNSHARE: &str = r#"import requests

API_KEY = "{KEY}"
BASE_URL = "{BASE}/{PROJECT}/v1"
MODEL_ID = "{MODEL}"

response = requests.post(
    f"{BASE_URL}/models/{MODEL_ID}/unshare",
    headers={"Authorization": f"Bearer {API_KEY}"}
)

if response.status_code == 200:
    data = response.json()
    print(f"Model unshared: {not data['shared']}")
else:
    print(f"Error: {response.json()}")
"#;

fn python_with_requests() -> bool {
    Command::new("python3")
        .args(["-c", "import requests"])
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn run_python(script: &str) -> String {
    let out = AsyncCommand::new("python3")
        .args(["-c", script])
        .output()
        .await
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[actix_rt::test]
async fn the_product_pages_python_examples_print_true() {
    if !python_with_requests() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have python3 with requests"
        );
        eprintln!("skipped: python3 with `requests` is not installed (CI installs it)");
        return;
    }
    let app = spawn_app().await;
    let t = app.tenant().await;
    let fill = |template: &str| {
        template
            .replace("{KEY}", &t.key)
            .replace("{BASE}", &app.base)
            .replace("{PROJECT}", t.project.as_str())
            .replace("{MODEL}", &t.model.to_string())
    };
    assert_eq!(
        run_python(&fill(PYTHON_SHARE)).await.trim(),
        "Model shared: True"
    );
    assert_eq!(
        run_python(&fill(PYTHON_UNSHARE)).await.trim(),
        "Model unshared: True"
    );
    // The error branch prints the envelope.
    let again = run_python(&fill(PYTHON_UNSHARE)).await;
    assert!(
        again.starts_with("Error: ") && again.contains("model_not_shared"),
        "{again}"
    );
}

#[actix_rt::test]
async fn the_product_pages_curl_examples_answer_the_documented_bodies() {
    if Command::new("curl").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must have curl");
        eprintln!("skipped: curl is not installed");
        return;
    }
    let app = spawn_app().await;
    let t = app.tenant().await;
    for (action, field) in [("share", "sharedAt"), ("unshare", "unsharedAt")] {
        let url = format!("{}/{}/v1/models/{}/{action}", app.base, t.project, t.model);
        let out = AsyncCommand::new("curl")
            .args([
                "-s",
                "-X",
                "POST",
                &url,
                "-H",
                &format!("Authorization: Bearer {}", t.key),
            ])
            .output()
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(body["modelId"], t.model.to_string());
        assert_eq!(body["shared"], action == "share");
        assert!(body[field].is_string(), "{body}");
    }
}
