//! The bad-input table: each bad descriptor gets a clear error on the location (with file and
//! line), never crashes the server, and never removes what was already ingested.

use crate::support::{root_location, spawn, TestApp};

const GOOD: &str = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: steady\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n";

async fn app_with_steady() -> TestApp {
    let app = spawn(&[
        ("all.yaml", &root_location(&["good.yaml", "bad.yaml"])),
        ("good.yaml", GOOD),
        ("bad.yaml", ""),
    ])
    .await;
    assert!(app.entity("component", "steady").await.is_some());
    app
}

/// Writes `content` to bad.yaml, re-processes, and returns the location errors.
async fn ingest_bad(app: &TestApp, content: impl AsRef<[u8]>) -> String {
    app.write("bad.yaml", content);
    app.refresh_root().await;
    let errors = app.location_errors().await;
    assert!(
        app.entity("component", "steady").await.is_some(),
        "existing entity survived"
    );
    let (s, _) = app.get("/entities").await;
    assert_eq!(s, 200, "server still serves");
    errors
}

fn component(name: &str, spec: &str) -> String {
    format!("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

#[tokio::test]
async fn invalid_yaml_is_reported_with_line_and_column() {
    let app = app_with_steady().await;
    let e = ingest_bad(
        &app,
        "kind: Component\nmetadata:\n  name: [unclosed\nspec: {}\n",
    )
    .await;
    assert!(e.contains("bad.yaml:"), "{e}");
    assert!(e.contains("line") && e.contains("column"), "{e}");
}

#[tokio::test]
async fn a_document_that_is_not_a_mapping_is_reported() {
    let app = app_with_steady().await;
    let e = ingest_bad(&app, "- just\n- a list\n").await;
    assert!(e.contains("Expected object at root, got array"), "{e}");
}

#[tokio::test]
async fn wrong_types_and_missing_fields_name_file_line_and_field() {
    let app = app_with_steady().await;
    let e = ingest_bad(
        &app,
        component(
            "typed",
            "  type: service\n  lifecycle: production\n  owner: [team-a]\n",
        ),
    )
    .await;
    assert!(
        e.contains("bad.yaml:8: component:default/typed: spec.owner:"),
        "{e}"
    );
    let e = ingest_bad(
        &app,
        component("unowned", "  type: service\n  lifecycle: production\n"),
    )
    .await;
    assert!(
        e.contains(
            "component:default/unowned: spec.owner: /spec must have required property 'owner'"
        ),
        "{e}"
    );
    assert!(app.entity("component", "unowned").await.is_none());
}

#[tokio::test]
async fn a_64_character_name_is_rejected() {
    let app = app_with_steady().await;
    let name = "a".repeat(64);
    let e = ingest_bad(
        &app,
        component(
            &name,
            "  type: service\n  lifecycle: production\n  owner: team-a\n",
        ),
    )
    .await;
    assert!(
        e.contains("bad.yaml:4:") && e.contains("metadata.name"),
        "{e}"
    );
}

#[tokio::test]
async fn an_invalid_ref_is_rejected() {
    let app = app_with_steady().await;
    let e = ingest_bad(
        &app,
        component(
            "refs",
            "  type: service\n  lifecycle: production\n  owner: team-a\n  dependsOn: [legacy]\n",
        ),
    )
    .await;
    assert!(
        e.contains("spec.dependsOn") && e.contains("missing or empty kind"),
        "{e}"
    );
}

#[tokio::test]
async fn a_kind_forbidden_by_catalog_rules_is_rejected() {
    let app = app_with_steady().await;
    let e = ingest_bad(
        &app,
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    )
    .await;
    assert!(e.contains("is not of an allowed kind"), "{e}");
}

#[tokio::test]
async fn a_duplicate_ref_is_rejected_and_the_first_wins() {
    let app = app_with_steady().await;
    let dup = GOOD.replace("lifecycle: production", "lifecycle: experimental");
    let e = ingest_bad(&app, dup).await;
    assert!(
        e.contains("Duplicate entity component:default/steady"),
        "{e}"
    );
    let steady = app.entity("component", "steady").await.unwrap();
    assert_eq!(steady["spec"]["lifecycle"], "production");
}

#[tokio::test]
async fn a_descriptor_over_the_default_limit_of_64_mib_is_refused() {
    let app = app_with_steady().await;
    let big = format!("# {}\n", "x".repeat(64 * 1024 * 1024));
    let e = ingest_bad(&app, big).await;
    assert!(e.contains("larger than the limit of 67108864 bytes"), "{e}");
}

#[tokio::test]
async fn an_alias_bomb_is_refused() {
    let app = app_with_steady().await;
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = 'a';
    for c in 'b'..='k' {
        bomb.push_str(&format!(
            "{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
        prev = c;
    }
    let e = ingest_bad(&app, bomb).await;
    assert!(e.contains("YAML error"), "{e}");
}

#[tokio::test]
async fn deep_nesting_is_refused() {
    let app = app_with_steady().await;
    let deep = format!("a: {}1{}\n", "[".repeat(5000), "]".repeat(5000));
    let e = ingest_bad(&app, deep).await;
    assert!(e.contains("YAML error") && e.contains("recursion"), "{e}");
}

#[tokio::test]
async fn non_utf8_bytes_are_refused() {
    let app = app_with_steady().await;
    let e = ingest_bad(
        &app,
        b"kind: Component\nmetadata:\n  name: \xff\xfe\n".to_vec(),
    )
    .await;
    assert!(e.contains("bad.yaml:3:") && e.contains("UTF-8"), "{e}");
}

#[tokio::test]
async fn a_placeholder_escaping_the_root_is_refused() {
    let app = app_with_steady().await;
    let api = "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: leak\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n  definition:\n    $text: ../../../../../../etc/passwd\n";
    let e = ingest_bad(&app, api).await;
    assert!(
        e.contains("bad.yaml:9: api:default/leak: spec.definition:")
            && e.contains("outside the location root"),
        "{e}"
    );
    assert!(app.entity("api", "leak").await.is_none());
}

#[tokio::test]
async fn a_location_target_escaping_the_root_is_refused() {
    let app = app_with_steady().await;
    let loc = "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: escape\nspec:\n  targets: [../../../../../../etc/passwd]\n";
    let e = ingest_bad(&app, loc).await;
    assert!(e.contains("outside the location root"), "{e}");
}

#[tokio::test]
async fn a_location_cycle_is_detected() {
    let app = app_with_steady().await;
    let loc = "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: loop\nspec:\n  targets: [./bad.yaml]\n";
    let e = ingest_bad(&app, loc).await;
    assert!(e.contains("Location cycle"), "{e}");
}

#[tokio::test]
async fn a_broken_file_keeps_the_entities_it_emitted_before() {
    let app = app_with_steady().await;
    ingest_bad(
        &app,
        component(
            "kept",
            "  type: service\n  lifecycle: production\n  owner: team-a\n",
        ),
    )
    .await;
    assert!(app.entity("component", "kept").await.is_some());
    ingest_bad(&app, "kind: [oops\n").await;
    assert!(
        app.entity("component", "kept").await.is_some(),
        "last good state kept"
    );
    // A later invalid version of an entity keeps its last good version, with the error in status.
    ingest_bad(
        &app,
        component("kept", "  type: service\n  lifecycle: production\n"),
    )
    .await;
    let kept = app.entity("component", "kept").await.unwrap();
    assert_eq!(kept["spec"]["owner"], "team-a");
    let status = kept["status"]["items"][0].clone();
    assert_eq!(status["type"], "backstage.io/catalog-processing");
    assert_eq!(status["level"], "error");
    assert!(
        status["error"]["message"]
            .as_str()
            .unwrap()
            .contains("spec.owner"),
        "{status}"
    );
    // Fixing it clears the error; the owner team-a does not exist, which stays as a warning.
    ingest_bad(
        &app,
        component(
            "kept",
            "  type: service\n  lifecycle: production\n  owner: team-a\n",
        ),
    )
    .await;
    let items = app.entity("component", "kept").await.unwrap()["status"]["items"].clone();
    let levels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, vec!["warning"], "{items}");
    assert!(
        items[0]["message"]
            .as_str()
            .unwrap()
            .contains("spec.owner refers to group:default/team-a"),
        "{items}"
    );
}

/// Every entity's ref and etag: what a bad request must leave as it was.
async fn etags(app: &TestApp) -> Vec<(String, String)> {
    let (_, all) = app.get("/entities").await;
    let mut out: Vec<(String, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                format!("{}/{}", e["kind"], e["metadata"]["name"]),
                e["metadata"]["etag"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn bad_requests_are_refused_with_400_naming_the_field_and_change_nothing() {
    use serde_json::json;
    let app = app_with_steady().await;
    app.settled().await;
    let before = etags(&app).await;
    // (method, path, body, what the message must name)
    let cases: Vec<(&str, &str, serde_json::Value, &str)> = vec![
        (
            "POST",
            "/api/catalog/locations",
            json!({"type": "url", "target": "file:///tmp/a\u{0}b.yaml"}),
            "target",
        ),
        (
            "POST",
            "/api/catalog/locations",
            json!({"type": "file", "target": "/tmp/x.yaml", "presence": 5}),
            "presence",
        ),
        (
            "POST",
            "/api/catalog/locations",
            json!({"type": "file", "target": "/tmp/x.yaml", "presence": "sometimes"}),
            "presence",
        ),
        (
            "POST",
            "/api/catalog/entities/by-query",
            json!({"filter": 5}),
            "filter",
        ),
        (
            "POST",
            "/api/catalog/entities/by-query",
            json!({"orderField": 7}),
            "orderField",
        ),
        (
            "POST",
            "/api/catalog/entities/by-query",
            json!({"offset": -1}),
            "offset",
        ),
        (
            "POST",
            "/api/catalog/entities/by-query",
            json!({"query": {"$not": {"kind": "component"}, "kind": "api"}}),
            "$not",
        ),
        (
            "POST",
            "/api/tech-insights/checks/run",
            json!({"entities": "x"}),
            "entities",
        ),
        (
            "POST",
            "/api/catalog/validate-entity",
            json!({"location": "url:https://x/y.yaml", "entity": {"apiVersion": "backstage.io/v1alpha1", "kind": "Compnent", "metadata": {"name": "typo"}, "spec": {}}}),
            "Compnent",
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, body, names) in &cases {
        let r = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.url))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        let text = v.to_string();
        let named = v["error"]["name"] == "InputError" || v["errors"][0]["name"] == "InputError";
        if status != 400 || !named || !text.contains(names) {
            failures.push(format!("{method} {path} {body} -> {status} {text}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(etags(&app).await, before, "nothing changed");
}
