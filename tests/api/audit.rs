//! The audit trail: changes from a Git crawl (with commit and author), registrations and pushed
//! facts are appended as a hash chain; editing a row in the database breaks `verify` there.

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::git::{app_with_source, component, crawl, WorkRepo};

async fn audit(app: &crate::support::TestApp, query: &str) -> Vec<Value> {
    app.get_cairn(&format!("/audit{query}")).await.1["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn changes_are_chained_and_an_edited_row_breaks_verification_at_that_row() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("svc"));
    repo.write("catalog-info.yaml", &component("svc", "experimental"));
    let first = repo.commit("first");
    let app = app_with_source(&repo.url(), "").await;
    crawl(&app, "org").await;
    repo.write("catalog-info.yaml", &component("svc", "production"));
    let second = repo.commit("to production");
    crawl(&app, "org").await;

    let records = audit(&app, "?entity=component:default/svc").await;
    let actions: Vec<&str> = records
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert!(actions.starts_with(&["entity.created"]), "{records:?}");
    let created = &records[0];
    assert_eq!(created["details"]["commit"], first);
    assert!(created["actor"].as_str().unwrap().len() > 1);
    let changed = records
        .iter()
        .find(|r| r["action"] == "entity.changed")
        .expect("a change");
    assert_eq!(changed["details"]["commit"], second);

    let (status, _) = app
        .post(
            "/locations",
            json!({"type": "url", "target": format!("{}/blob/main/catalog-info.yaml", repo.url())}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .post_cairn(
            "/facts",
            json!({"entityRef": "component:default/svc", "facts": {"coverage": 80}}),
        )
        .await;
    assert_eq!(status, 200);
    let all = audit(&app, "?limit=1000").await;
    assert!(
        all.iter()
            .any(|r| r["action"] == "location.registered" && r["actor"] == "anonymous"),
        "{all:?}"
    );
    assert!(all
        .iter()
        .any(|r| r["action"] == "fact.pushed" && r["details"]["facts"]["coverage"] == 80));
    for pair in all.windows(2) {
        assert_eq!(pair[1]["prevHash"], pair[0]["hash"]);
    }
    let (_, page) = app.get_cairn("/audit?limit=1").await;
    assert_eq!(page["nextAfter"], all[0]["id"]);
    let (status, _) = app.get_cairn("/audit?from=yesterday").await;
    assert_eq!(status, 400);

    let (_, report) = app.get_cairn("/audit/verify").await;
    assert_eq!(report["ok"], true, "{report}");

    // Someone edits a row behind Cairn's back.
    let target = all[1]["id"].as_i64().unwrap();
    let db_path = app.dir.path().join("cairn.sqlite");
    let mut conn = SqliteConnection::establish(&db_path.to_string_lossy()).unwrap();
    diesel::sql_query(format!(
        "UPDATE audit_log SET actor = 'mallory' WHERE id = {target}"
    ))
    .execute(&mut conn)
    .unwrap();
    let (_, report) = app.get_cairn("/audit/verify").await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["firstBroken"]["id"], target, "{report}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["--config"])
        .arg(app.dir.path().join("app-config.yaml"))
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("BROKEN at record {target}")),
        "{stdout}"
    );
}
