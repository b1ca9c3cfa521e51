use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[actix_rt::test]
async fn healthz_and_readyz_answer_when_the_database_does() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}
