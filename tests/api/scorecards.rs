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
    app.settled().await;
    let r = results(app).await;
    assert!(!r.is_null() && check(&r), "results once settled: {r}");
    r
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
    // History follows the engine, which re-evaluates within a quarter of a second.
    let ci_history = || async {
        let (_, h) = app
            .get_cairn("/scorecards/default/readiness/history?entityRef=component:default/svc")
            .await;
        h["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x["checks"]["ci"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    app.settled().await;
    assert!(
        ci_history().await == vec!["fail", "pass"],
        "{:?}",
        ci_history().await
    );
    let (_, card) = app.get_cairn("/scorecards/default/readiness").await;
    assert_eq!(card["distribution"]["silver"], 1, "{card}");
    // The trend replays the history: today the one entity is silver with every check passing.
    let (status_code, trend) = app
        .get_cairn("/scorecards/default/readiness/trend?interval=week&owner=group:default/team-a")
        .await;
    assert_eq!(status_code, 200, "{trend}");
    let last = trend["points"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["distribution"]["silver"], 1, "{trend}");
    assert_eq!(last["passRate"], 100.0, "{trend}");
    let (_, nobody) = app
        .get_cairn("/scorecards/default/readiness/trend?owner=group:default/nobody")
        .await;
    assert_eq!(nobody["points"][0]["entities"], 0, "{nobody}");
    let (bad, _) = app
        .get_cairn("/scorecards/default/readiness/trend?interval=hour")
        .await;
    assert_eq!(bad, 400);
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
            "  levels: [bronze, silver]",
            "  schedule: every tuesday\n  levels: [bronze, silver]",
        )
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
        errors.contains("spec.schedule: invalid cron expression"),
        "{errors}"
    );
    assert!(
        errors.contains("spec.checks.1.level: level platinum is not one of the scorecard's levels"),
        "{errors}"
    );
    settled(&app, |r| !r["checks"].is_null()).await;
}

/// A scorecard `basics`: a description for bronze, a tag for silver.
const BASICS: &str = r#"apiVersion: cairn.dev/v1alpha1
kind: Scorecard
metadata: {name: basics, title: Basics}
spec:
  filter: {kind: component}
  levels: [bronze, silver]
  checks:
    - {id: described, name: Described, level: bronze, rule: {all: [{fact: entity, path: $.metadata.description, operator: exists}]}}
    - {id: tagged, name: Tagged, level: silver, rule: {all: [{fact: entity, path: $.metadata.tags, operator: countAtLeast, value: 1}]}}
"#;

const CI_CARD: &str = r#"apiVersion: cairn.dev/v1alpha1
kind: Scorecard
metadata: {name: delivery}
spec:
  filter: {kind: component}
  levels: [bronze, silver]
  checks:
    - id: coverage
      name: Test coverage at least 80%
      level: bronze
      rule: {all: [{fact: pushed, path: $.coverage, operator: greaterThanInclusive, value: 80}]}
    - id: threat-model
      name: Threat model reviewed
      level: silver
      type: attested
      validForDays: 180
    - id: pentest
      name: Penetration test passed
      level: silver
      type: pushed
    - id: sbom
      name: Publishes an SBOM
      level: silver
      activeFrom: "2999-01-01"
      rule: {all: [{fact: pushed, path: $.sbom, operator: equal, value: true}]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc}
spec: {type: service, lifecycle: production, owner: team-a}
"#;

async fn post_cairn(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}/api/cairn{path}", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn pushed_facts_attestations_pushed_results_and_active_from() {
    let app = crate::support::spawn(&[
        ("all.yaml", &root_location(&["card.yaml"])),
        ("card.yaml", CI_CARD),
    ])
    .await;
    let r = settled(&app, |r| !r["checks"].is_null()).await;
    assert_eq!(status(&r, "coverage"), "fail");
    assert_eq!(status(&r, "threat-model"), "fail");
    assert_eq!(status(&r, "sbom"), "inactive", "{r}");
    assert!(r["level"].is_null());

    let (s, v) = post_cairn(
        &app,
        "/facts",
        serde_json::json!({"entityRef": "component:default/svc", "facts": {"coverage": 91.5}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post_cairn(
        &app,
        "/facts",
        serde_json::json!({"entityRef": "component:default/svc", "facts": {"coverage": "high"}}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("facts.coverage"),
        "{v}"
    );
    let (s, _) = post_cairn(
        &app,
        "/facts",
        serde_json::json!({"entityRef": "component:default/ghost", "facts": {"coverage": 1}}),
    )
    .await;
    assert_eq!(s, 404);
    let r = settled(&app, |r| status(r, "coverage") == "pass").await;
    assert_eq!(r["level"], "bronze");

    let (s, v) = post_cairn(
        &app,
        "/scorecards/default/delivery/checks/threat-model/attestations",
        serde_json::json!({"entityRef": "component:default/svc", "result": "pass"}),
    )
    .await;
    assert_eq!(s, 400, "a justification is required: {v}");
    let (s, v) = post_cairn(&app, "/scorecards/default/delivery/checks/threat-model/attestations", serde_json::json!({"entityRef": "component:default/svc", "result": "pass", "justification": "Reviewed with security on 2026-11-20"})).await;
    assert_eq!(s, 201, "{v}");
    let (s, _) = post_cairn(&app, "/scorecards/default/delivery/checks/coverage/attestations", serde_json::json!({"entityRef": "component:default/svc", "result": "pass", "justification": "x"})).await;
    assert_eq!(s, 400, "an automatic check cannot be attested");
    let (s, _) = post_cairn(&app, "/scorecards/default/delivery/checks/pentest/results", serde_json::json!({"entityRef": "component:default/svc", "result": "pass", "details": "CI run 4411"})).await;
    assert_eq!(s, 201);
    let r = settled(&app, |r| {
        status(r, "threat-model") == "pass" && status(r, "pentest") == "pass"
    })
    .await;
    assert_eq!(
        r["level"], "silver",
        "inactive checks do not hold the level back: {r}"
    );
    let reason = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "threat-model")
        .unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("attested by anonymous until") && reason.contains("Reviewed with security"),
        "{reason}"
    );
}

#[tokio::test]
async fn rollups_by_owner_and_system_and_an_svg_badge() {
    let catalog = &format!(
        "{BASICS}---\n{}",
        r#"apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: shop}
spec: {owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: good, description: Good, tags: [x]}
spec: {type: service, lifecycle: production, owner: team-a, system: shop}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: plain}
spec: {type: service, lifecycle: production, owner: team-b}
"#
    );
    let app = crate::support::spawn(&[
        ("all.yaml", &root_location(&["c.yaml"])),
        ("c.yaml", catalog),
    ])
    .await;
    app.settled().await;
    assert!(app.get_cairn("/scorecards/default/basics").await.1["entities"] == 2);
    let (s, v) = app
        .get_cairn("/scorecards/default/basics/rollup?by=owner")
        .await;
    assert_eq!(s, 200, "{v}");
    let items = v["items"].as_array().unwrap();
    let a = items
        .iter()
        .find(|g| g["group"] == "group:default/team-a")
        .unwrap();
    assert_eq!(
        (a["entities"].clone(), a["averageScore"].clone()),
        (serde_json::json!(1), serde_json::json!(100.0)),
        "{v}"
    );
    assert_eq!(a["distribution"]["silver"], 1);
    let b = items
        .iter()
        .find(|g| g["group"] == "group:default/team-b")
        .unwrap();
    assert_eq!(b["distribution"]["none"], 1, "{v}");
    let (_, v) = app
        .get_cairn("/scorecards/default/basics/rollup?by=system")
        .await;
    let groups: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, vec!["(none)", "system:default/shop"]);
    let r = app
        .client
        .get(format!(
            "{}/api/cairn/scorecards/default/basics/badge/component/default/good.svg",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    let svg = r.text().await.unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("Basics: silver"),
        "{svg}"
    );
}

#[tokio::test]
async fn the_dashboard_renders_scorecards_teams_and_entity_evidence() {
    let catalog = r#"apiVersion: cairn.dev/v1alpha1
kind: Scorecard
metadata: {name: basics, title: Basics}
spec:
  filter: {kind: component}
  levels: [bronze, silver]
  checks:
    - {id: described, name: Has a description, level: bronze, solution: Write one., rule: {all: [{fact: entity, path: $.metadata.description, operator: exists}]}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: plain}
spec: {type: service, lifecycle: production, owner: team-b}
"#;
    let app = crate::support::spawn(&[
        ("all.yaml", &root_location(&["c.yaml"])),
        ("c.yaml", catalog),
    ])
    .await;
    app.settled().await;
    assert!(app.get_cairn("/scorecards/default/basics").await.1["entities"] == 1);
    let r = app
        .client
        .get(format!("{}/scorecards", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = r.text().await.unwrap();
    for expected in [
        "<h2>Basics",
        "Has a description",
        "Write one.",
        "group:default/team-b",
        "/scorecards/entities/component/default/plain",
    ] {
        assert!(
            page.contains(expected),
            "{expected} missing from the dashboard:\n{page}"
        );
    }
    let page = app
        .client
        .get(format!(
            "{}/scorecards/entities/component/default/plain",
            app.url
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("class=\"fail\"") && page.contains("$.metadata.description"),
        "{page}"
    );
}

#[tokio::test]
async fn exemptions_granted_through_the_api_hide_a_failure_until_expired() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("svc"));
    repo.write("catalog-info.yaml", &component("svc", "production"));
    repo.commit("first");
    let app = app(&scorecard("2999-01-01"), &repo).await;
    settled(&app, |r| status(r, "described") == "fail").await;
    let grant = serde_json::json!({"entityRef": "component:default/svc", "checks": ["described"], "reason": "Docs land next sprint", "expires": "2999-12-31"});
    let (s, v) = post_cairn(
        &app,
        "/scorecards/default/readiness/exemptions",
        grant.clone(),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["approver"], "anonymous");
    let id = v["id"].as_str().unwrap().to_string();
    settled(&app, |r| status(r, "described") == "exempt").await;
    let (_, list) = app
        .get_cairn("/scorecards/default/readiness/exemptions")
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    let mut past = grant.clone();
    past["expires"] = serde_json::json!("2020-01-01");
    let (s, _) = post_cairn(&app, "/scorecards/default/readiness/exemptions", past).await;
    assert_eq!(s, 400, "an exemption cannot start expired");
    let mut no_reason = grant.clone();
    no_reason.as_object_mut().unwrap().remove("reason");
    assert_eq!(
        post_cairn(&app, "/scorecards/default/readiness/exemptions", no_reason)
            .await
            .0,
        400
    );
    let r = app
        .client
        .delete(format!(
            "{}/api/cairn/scorecards/default/readiness/exemptions/{id}",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // The engine re-evaluates within a moment; the live endpoint shows it at once.
    settled(&app, |r| status(r, "described") == "fail").await;
}

#[tokio::test]
async fn a_scheduled_scorecard_re_evaluates_time_based_rules_without_changes() {
    let reviewed = (chrono::Utc::now() - chrono::Duration::days(1) + chrono::Duration::seconds(2))
        .to_rfc3339();
    let catalog = format!(
        r#"apiVersion: cairn.dev/v1alpha1
kind: Scorecard
metadata: {{name: fresh}}
spec:
  filter: {{kind: component}}
  schedule: "* * * * * *"
  levels: [ok]
  checks:
    - {{id: reviewed, name: Reviewed within a day, level: ok, rule: {{all: [{{fact: entity, path: "$.metadata.annotations['example.com/reviewed-at']", operator: newerThanDays, value: 1}}]}}}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: svc
  annotations: {{example.com/reviewed-at: "{reviewed}"}}
spec: {{type: service, lifecycle: production, owner: team-a}}
"#
    );
    let app = crate::support::spawn(&[
        ("all.yaml", &root_location(&["c.yaml"])),
        ("c.yaml", &catalog),
    ])
    .await;
    let level = || async {
        app.get_cairn("/scorecards/default/fresh/entities").await.1["items"][0]["level"].clone()
    };
    app.settled().await;
    assert!(level().await == "ok", "passes while the review is recent");
    assert!(
        app.eventually(6, || async { level().await.is_null() })
            .await,
        "the schedule re-evaluated after the review aged"
    );
}

#[tokio::test]
async fn at_least_level_follows_the_levels_of_dependencies() {
    let lib = |tags: &str| {
        format!("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: lib, description: A library{tags}}}\nspec: {{type: library, lifecycle: production, owner: team-a}}\n")
    };
    let cards = &format!(
        "{BASICS}---\n{}",
        r#"apiVersion: cairn.dev/v1alpha1
kind: Scorecard
metadata: {name: supply-chain}
spec:
  filter: {kind: component, spec.type: service}
  levels: [ok]
  checks:
    - {id: deps-silver, name: Dependencies at least silver, level: ok, rule: {all: [{fact: relations, path: $.dependsOn, operator: atLeastLevel, value: silver, params: {scorecard: basics}}]}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: app}
spec: {type: service, lifecycle: production, owner: team-a, dependsOn: [component:lib]}
"#
    );
    let app = crate::support::spawn(&[
        ("all.yaml", &root_location(&["cards.yaml", "lib.yaml"])),
        ("cards.yaml", cards),
        ("lib.yaml", &lib(", tags: [core]")),
    ])
    .await;
    let level = || async {
        app.get_cairn("/scorecards/default/supply-chain/entities")
            .await
            .1["items"][0]["level"]
            .clone()
    };
    app.settled().await;
    assert!(level().await == "ok", "lib is silver, so app passes");
    app.write("lib.yaml", lib(""));
    app.refresh_root().await;
    app.settled().await;
    assert!(
        level().await.is_null(),
        "lib dropped to bronze, so app fails"
    );
}

#[tokio::test]
async fn a_campaign_tracks_progress_toward_a_level_by_a_date() {
    let catalog = &format!(
        "{BASICS}---\n{}",
        r#"apiVersion: cairn.dev/v1alpha1
kind: Campaign
metadata: {name: silver-services, title: Every service silver by spring}
spec: {scorecard: basics, targetLevel: silver, deadline: "2999-03-31", filter: {spec.type: service}}
---
apiVersion: cairn.dev/v1alpha1
kind: Campaign
metadata: {name: typo}
spec: {scorecard: basics, targetLevel: platinum, deadline: "2999-03-31"}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: done, description: Done, tags: [x]}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: todo, description: Not yet}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: lib}
spec: {type: library, lifecycle: production, owner: team-a}
"#
    );
    let app = crate::support::spawn(&[
        ("all.yaml", &root_location(&["c.yaml"])),
        ("c.yaml", catalog),
    ])
    .await;
    app.settled().await;
    let ok = app.get_cairn("/campaigns/default/silver-services").await.1["entities"] == 2;
    assert!(
        ok,
        "{}",
        app.get_cairn("/campaigns/default/silver-services").await.1
    );
    let (_, v) = app.get_cairn("/campaigns/default/silver-services").await;
    assert_eq!(
        (v["reached"].clone(), v["percent"].clone()),
        (serde_json::json!(1), serde_json::json!(50.0)),
        "{v}"
    );
    assert_eq!(v["behind"], serde_json::json!(["component:default/todo"]));
    assert_eq!(v["overdue"], false);
    let (_, list) = app.get_cairn("/campaigns").await;
    let typo = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["entityRef"] == "campaign:default/typo")
        .unwrap();
    assert!(
        typo["error"].as_str().unwrap().contains("spec.targetLevel"),
        "{typo}"
    );
}

#[tokio::test]
async fn a_cycle_of_at_least_level_rules_errs_on_its_checks_and_others_keep_working() {
    // ping's silver needs pong's gold; pong's gold needs ping's silver.
    let cards = &format!(
        "{BASICS}---\n{}",
        r#"apiVersion: cairn.dev/v1alpha1
kind: Scorecard
metadata: {name: ping}
spec:
  filter: {kind: component}
  levels: [bronze, silver]
  checks:
    - {id: named, name: Named, level: bronze, rule: {all: [{fact: entity, path: $.metadata.name, operator: exists}]}}
    - {id: pong-gold, name: Dependencies gold in pong, level: silver, rule: {all: [{fact: relations, path: $.dependsOn, operator: atLeastLevel, value: gold, params: {scorecard: pong}}]}}
---
apiVersion: cairn.dev/v1alpha1
kind: Scorecard
metadata: {name: pong}
spec:
  filter: {kind: component}
  levels: [gold]
  checks:
    - {id: ping-silver, name: Dependencies silver in ping, level: gold, rule: {all: [{fact: relations, path: $.dependsOn, operator: atLeastLevel, value: silver, params: {scorecard: ping}}]}}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc, description: A service, tags: [core]}
spec: {type: service, lifecycle: production, owner: team-a}
"#
    );
    let app = crate::support::spawn(&[
        ("all.yaml", &root_location(&["cards.yaml"])),
        ("cards.yaml", cards),
    ])
    .await;
    let card = |name: &'static str| {
        let app = &app;
        async move {
            app.get_cairn(&format!("/scorecards/default/{name}"))
                .await
                .1
        }
    };
    assert!({
        app.settled().await;
        card("ping").await["entities"] == 1
    });
    let ping = card("ping").await;
    assert_eq!(ping["errors"][0]["field"], "spec.checks.1.rule", "{ping}");
    let message = ping["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("scorecard:default/ping silver → scorecard:default/pong gold → scorecard:default/ping silver"),
        "{message}"
    );
    assert_eq!(
        card("pong").await["errors"][0]["field"],
        "spec.checks.0.rule"
    );
    let (_, results) = app
        .get_cairn("/entities/component/default/svc/scorecards")
        .await;
    let ping = results["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scorecard"] == "scorecard:default/ping")
        .unwrap();
    assert_eq!(status(ping, "pong-gold"), "error");
    assert_eq!(status(ping, "named"), "pass");
    // The scorecard outside the cycle is untouched.
    let basics = card("basics").await;
    assert_eq!(basics["errors"], serde_json::json!([]));
    assert_eq!(basics["distribution"]["silver"], 1, "{basics}");
}

#[tokio::test]
async fn an_exemption_by_filter_covers_every_matching_entity() {
    let card = BASICS.to_string()
        + r#"  exemptions:
    - filter: {spec.lifecycle: experimental}
      checks: [tagged]
      reason: Experiments are not tagged
      approver: jane
      expires: "2999-01-01"
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: trial, description: An experiment}
spec: {type: service, lifecycle: experimental, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: prod, description: In production}
spec: {type: service, lifecycle: production, owner: team-a}
"#;
    let app = crate::support::spawn(&[
        ("all.yaml", &root_location(&["cards.yaml"])),
        ("cards.yaml", &card),
    ])
    .await;
    let level = |name: &'static str| {
        let app = &app;
        async move {
            let (_, r) = app.get_cairn("/scorecards/default/basics/entities").await;
            r["items"]
                .as_array()?
                .iter()
                .find(|i| i["entityRef"] == format!("component:default/{name}"))
                .map(|i| i["level"].clone())
        }
    };
    app.settled().await;
    assert!(
        level("prod").await.is_some(),
        "{}",
        app.location_errors().await
    );
    assert_eq!(level("trial").await, Some(Value::from("silver")));
    assert_eq!(level("prod").await, Some(Value::from("bronze")));
    let (_, ex) = app.get_cairn("/scorecards/default/basics/exemptions").await;
    assert_eq!(
        ex["items"][0]["filter"],
        serde_json::json!({"spec.lifecycle": "experimental"}),
        "{ex}"
    );
}

/// A result is published only once its history is written: when the write fails, nobody sees a
/// result whose change is not recorded, and the next evaluation records and publishes it.
/// The results used to change in place before the write, and stayed changed when it failed.
#[tokio::test]
async fn a_result_whose_history_cannot_be_written_is_not_published() {
    use diesel::{Connection, RunQueryDsl, SqliteConnection};
    let one = |name: &str| {
        format!("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}, description: One}}\nspec: {{type: service, lifecycle: production, owner: team-a}}\n")
    };
    let app = crate::support::spawn(&[
        ("all.yaml", &root_location(&["cards.yaml", "first.yaml"])),
        ("cards.yaml", BASICS),
        ("first.yaml", &one("first")),
    ])
    .await;
    let listed = || async {
        let (_, r) = app.get_cairn("/scorecards/default/basics/entities").await;
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["entityRef"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let recorded = |entity: &'static str| {
        let app = &app;
        async move {
            let (_, h) = app
                .get_cairn(&format!(
                    "/scorecards/default/basics/history?entityRef={entity}"
                ))
                .await;
            h["items"].as_array().unwrap().len()
        }
    };
    app.settled().await;
    assert_eq!(listed().await, vec!["component:default/first"]);

    // The history refuses every row, as a full disk would.
    let db = app.dir.path().join("cairn.sqlite");
    let mut conn = SqliteConnection::establish(&db.to_string_lossy()).unwrap();
    diesel::sql_query(
        "CREATE TRIGGER refuse BEFORE INSERT ON scorecard_history BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    .execute(&mut conn)
    .unwrap();
    app.write("second.yaml", one("second"));
    app.write(
        "all.yaml",
        root_location(&["cards.yaml", "first.yaml", "second.yaml"]),
    );
    assert!(
        app.eventually(10, || async {
            app.entity("component", "second").await.is_some()
        })
        .await,
        "{}",
        app.location_errors().await
    );
    // The engine re-evaluates within a quarter of a second, and tries again on each tick.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(listed().await, vec!["component:default/first"]);
    assert_eq!(recorded("component:default/second").await, 0);

    diesel::sql_query("DROP TRIGGER refuse")
        .execute(&mut conn)
        .unwrap();
    assert!(
        app.eventually(10, || async { listed().await.len() == 2 })
            .await,
        "{:?}",
        listed().await
    );
    assert_eq!(recorded("component:default/second").await, 1);
    assert_eq!(recorded("component:default/first").await, 1);
}
