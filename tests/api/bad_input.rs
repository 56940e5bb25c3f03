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
