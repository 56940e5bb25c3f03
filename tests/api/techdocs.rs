//! TechDocs sites published to a local directory, served as the TechDocs reader asks for them.

use serde_json::Value;

use crate::support::{repo_root, spawn_with, Options, TestApp};

const CATALOG: &str = r#"apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments-service
  annotations: {backstage.io/techdocs-ref: "dir:."}
spec: {type: service, lifecycle: production, owner: team-payments}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: undocumented}
spec: {type: service, lifecycle: production, owner: team-payments}
"#;

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/api/techdocs{path}", app.url))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_published_site_is_served_with_its_metadata() {
    let sites = repo_root().join("catalog-examples/techdocs");
    let app = spawn_with(
        &[("all.yaml", CATALOG)],
        Options {
            extra_config: format!(
                "techdocs:\n  publisher:\n    local:\n      publishDirectory: {}\n",
                sites.display()
            ),
            ..Default::default()
        },
    )
    .await;

    let r = get(
        &app,
        "/metadata/techdocs/default/component/payments-service",
    )
    .await;
    assert_eq!(r.status(), 200);
    let meta: Value = r.json().await.unwrap();
    assert_eq!(meta["site_name"], "Payments Service");

    let r = get(&app, "/metadata/entity/default/Component/payments-service").await;
    assert_eq!(r.status(), 200);
    let entity: Value = r.json().await.unwrap();
    assert_eq!(entity["metadata"]["name"], "payments-service");
    assert_eq!(entity["locationMetadata"]["type"], "file");

    let r = get(
        &app,
        "/static/docs/default/component/payments-service/index.html",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<h1 id=\"payments-service\">"));
    // A folder is its index page.
    let r = get(
        &app,
        "/static/docs/default/component/payments-service/runbook/",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Runbook"));
    // Mixed case goes to the lowercase folder the publisher wrote.
    let r = get(
        &app,
        "/static/docs/default/Component/payments-service/index.html",
    )
    .await;
    assert_eq!(r.status(), 301);
    assert_eq!(
        r.headers()["location"],
        "/api/techdocs/static/docs/default/component/payments-service/index.html"
    );
    // Nothing outside the site.
    for escape in [
        "/static/docs/default/component/payments-service/../../../README.md",
        "/static/docs/default/component/payments-service/%2E%2E/%2E%2E/%2E%2E/README.md",
        "/static/docs/default/component/..%2F..%2F..%2Ftechdocs/README.md",
    ] {
        let r = get(&app, escape).await;
        assert_eq!(r.status(), 404, "{escape}");
    }

    let r = get(&app, "/sync/default/component/payments-service").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("event: finish"));
    let r = get(&app, "/sync/default/component/undocumented").await;
    assert!(r.text().await.unwrap().contains("event: error"));

    let r = get(&app, "/metadata/techdocs/default/component/undocumented").await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["name"], "NotFoundError");
}
