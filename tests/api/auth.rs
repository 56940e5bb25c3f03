//! Access control from Backstage's own settings.

use serde_json::json;

use crate::support::{root_location, spawn_with, Options};

const LOCKED: &str = "backend:\n  auth:\n    dangerouslyDisableDefaultAuthPolicy: false\n    externalAccess:\n      - type: static\n        options: {token: s3cr3t-token-value, subject: ci}\n";

#[tokio::test]
async fn writes_need_a_static_token_and_reads_stay_open() {
    let app = spawn_with(
        &[("all.yaml", &root_location(&[]))],
        Options {
            extra_config: LOCKED.into(),
            ..Default::default()
        },
    )
    .await;
    let url = format!("{}/api/catalog/refresh", app.url);
    let body = json!({"entityRef": "component:default/x"});
    let r = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["error"],
        json!({"name": "AuthenticationError", "message": "Missing credentials"})
    );
    let r = app
        .client
        .post(&url)
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .post(&url)
        .bearer_auth("s3cr3t-token-value")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "authorised, and the entity does not exist");
    let r = app
        .client
        .get(format!("{}/api/catalog/entities", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn protect_reads_requires_a_token_for_reads_too() {
    let extra = format!("{LOCKED}cairn:\n  auth:\n    protectReads: true\n");
    let app = spawn_with(
        &[("all.yaml", &root_location(&[]))],
        Options {
            extra_config: extra,
            ..Default::default()
        },
    )
    .await;
    let url = format!("{}/api/catalog/entities", app.url);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth("s3cr3t-token-value")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Health endpoints stay open.
    assert_eq!(
        app.client
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn oversized_request_bodies_are_refused() {
    let app = spawn_with(&[("all.yaml", &root_location(&[]))], Options::default()).await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let r = app
        .client
        .post(format!("{}/api/catalog/validate-entity", app.url))
        .header("content-type", "application/json")
        .body(format!("{{\"entity\":\"{huge}\",\"location\":\"url:x\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}
