//! Scorecards: rules in YAML evaluated against entities from other repositories, with levels,
//! evidence, exemptions and history.

use serde_json::Value;

use crate::git::{component, WorkRepo};
use crate::support::{root_location, spawn_with, Options, TestApp};

fn scorecard(exemption_expires: &str) -> String {
    format!(
        r#"apiVersion: cairn.dev/v1alpha1
kind: Scorecard
metadata: {{name: readiness}}
spec:
  filter: {{kind: component}}
  levels: [bronze, silver]
  checks:
    - id: described
      name: Has a description
      level: bronze
      rule: {{all: [{{fact: entity, path: $.metadata.description, operator: exists}}]}}
    - id: ci
      name: Has CI
      level: silver
      solution: Add a workflow.
      rule: {{any: [{{fact: repository, path: $.files, operator: matches, value: '^\.github/workflows/.+\.ya?ml$'}}]}}
    - id: docs
      name: Has docs
      level: silver
      rule: {{all: [{{fact: entity, path: "$.metadata.annotations['backstage.io/techdocs-ref']", operator: exists}}]}}
  exemptions:
    - {{entity: "component:default/svc", checks: [docs], reason: Docs move to the wiki, approver: jane, expires: "{exemption_expires}"}}
"#
    )
}

async fn app(card: &str, repo: &WorkRepo) -> TestApp {
    let config = format!(
        "cairn:\n  sources:\n    git:\n      - id: org\n        url: {}\n",
        repo.url()
    );
    spawn_with(
        &[
            ("all.yaml", &root_location(&["card.yaml"])),
            ("card.yaml", card),
        ],
        Options {
            extra_config: config,
            ..Default::default()
        },
    )
    .await
}

async fn results(app: &TestApp) -> Value {
    app.get_cairn("/entities/component/default/svc/scorecards")
        .await
        .1["items"][0]
        .clone()
}

fn status(r: &Value, id: &str) -> String {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()["status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn settled(app: &TestApp, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..50 {
        last = results(app).await;
        if !last.is_null() && check(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("results did not settle: {last}");
}

#[tokio::test]
async fn a_commit_that_fixes_a_failing_check_flips_it_and_records_history() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("svc"));
    let described = component("svc", "production").replace(
        "metadata:\n  name: svc\n",
        "metadata:\n  name: svc\n  description: A service\n",
    );
    repo.write("catalog-info.yaml", &described);
    repo.commit("first");
    let app = app(&scorecard("2999-01-01"), &repo).await;
    let r = settled(&app, |r| status(r, "ci") == "fail").await;
    assert_eq!(r["level"], "bronze");
    assert_eq!(status(&r, "described"), "pass");
    assert_eq!(status(&r, "docs"), "exempt", "{r}");
    let ci = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "ci")
        .unwrap();
    assert_eq!(ci["solution"], "Add a workflow.");
    assert_eq!(
        ci["evidence"][0]["actual"],
        serde_json::json!(["catalog-info.yaml"])
    );

    repo.write(".github/workflows/ci.yml", "on: push\n");
    repo.commit("add CI");
    let v = app
        .client
        .post(format!("{}/api/cairn/sources/org/crawl", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), 200);
    let r = settled(&app, |r| status(r, "ci") == "pass").await;
    assert_eq!(r["level"], "silver", "{r}");
    let (_, h) = app
        .get_cairn("/scorecards/default/readiness/history?entityRef=component:default/svc")
        .await;
    let ci: Vec<&str> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["checkId"] == "ci")
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(ci, vec!["fail", "pass"], "{h}");
    let (_, card) = app.get_cairn("/scorecards/default/readiness").await;
    assert_eq!(card["distribution"]["silver"], 1, "{card}");
}

#[tokio::test]
async fn an_expired_exemption_no_longer_hides_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("svc"));
    repo.write("catalog-info.yaml", &component("svc", "production"));
    repo.commit("first");
    let app = app(&scorecard("2020-01-01"), &repo).await;
    let r = settled(&app, |r| !r["checks"].is_null()).await;
    assert_eq!(status(&r, "docs"), "fail");
    assert!(r["level"].is_null(), "{r}");
}

#[tokio::test]
async fn a_broken_scorecard_is_reported_with_its_field_and_others_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("svc"));
    repo.write("catalog-info.yaml", &component("svc", "production"));
    repo.commit("first");
    let broken = scorecard("2999-01-01")
        .replace("name: readiness", "name: broken")
        .replace(
            "operator: exists}]}\n    - id: ci",
            "operator: existz}]}\n    - id: ci",
        )
        .replace(
            "level: silver\n      solution",
            "level: platinum\n      solution",
        );
    let card = format!("{}---\n{broken}", scorecard("2999-01-01"));
    let app = app(&card, &repo).await;
    let errors = app.location_errors().await;
    assert!(
        errors.contains(
            "scorecard:default/broken: spec.checks.0.rule.all.0.operator: unknown operator existz"
        ),
        "{errors}"
    );
    assert!(
        errors.contains("spec.checks.1.level: level platinum is not one of the scorecard's levels"),
        "{errors}"
    );
    settled(&app, |r| !r["checks"].is_null()).await;
}
