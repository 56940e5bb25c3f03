//! The JSON shapes of Cairn's own endpoints (`/api/cairn/...`), snapshot-tested: a change to a
//! wire shape shows as a diff of `tests/api/snapshots/` (review it with `cargo insta review`, or
//! accept it with `INSTA_UPDATE=always cargo nextest run wire_shapes`). Backstage's own shapes are
//! judged by its npm clients (`tests/compat/`), not here.
//!
//! Values that change from run to run (times, ids, hashes, the temporary directory) are replaced by
//! placeholders before the comparison; everything else, keys and values, is compared.

use serde_json::{json, Value};

use crate::support::{root_location, spawn, TestApp};

const CATALOG: &str = r#"apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: jane}
spec: {memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc, description: A service}
spec: {type: service, lifecycle: production, owner: team-a, providesApis: [svc-api]}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: svc-api}
spec: {type: openapi, lifecycle: production, owner: team-a, definition: "openapi: 3.0.0"}
---
apiVersion: cairn.dev/v1alpha1
kind: Scorecard
metadata: {name: readiness}
spec:
  filter: {kind: component}
  levels: [bronze, silver]
  checks:
    - {id: described, name: Has a description, level: bronze, rule: {all: [{fact: entity, path: $.metadata.description, operator: exists}]}}
    - {id: coverage, name: Coverage at least 80, level: silver, rule: {all: [{fact: pushed, path: $.coverage, operator: greaterThanInclusive, value: 80}]}}
---
apiVersion: cairn.dev/v1alpha1
kind: Campaign
metadata: {name: silver-services}
spec: {scorecard: readiness, targetLevel: silver, deadline: "2999-12-31", filter: {spec.type: service}}
---
apiVersion: cairn.dev/v1alpha1
kind: AIAgent
metadata: {name: helpdesk-bot}
spec:
  type: assistant
  lifecycle: production
  owner: team-a
  aiAct:
    role: deployer
    answers: {S1: true, S2: false, S3: true, P1: false, P2: false, P3: false, P4: false, P5: false, P6: false, P7: false, P8: false, P9: false,
              H1: false, H3: none, T1: true, T2: false, T3: false, T4: false, T5: false, G1: false}
"#;

/// Keys whose values differ between runs.
const VOLATILE: &[&str] = &[
    "at",
    "evaluatedAt",
    "createdAt",
    "etag",
    "hash",
    "prevHash",
    "lastHash",
    "daysLeft",
];

fn normalise(v: &mut Value, dir: &str) {
    match v {
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                // Record ids are counters or UUIDs; check and obligation ids are names.
                let volatile_id = k == "id"
                    && (x.is_number()
                        || x.as_str()
                            .is_some_and(|s| s.len() == 36 && s.matches('-').count() == 4));
                if (VOLATILE.contains(&k.as_str()) || volatile_id) && !x.is_null() {
                    *x = json!(format!("<{k}>"));
                } else {
                    normalise(x, dir);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| normalise(x, dir)),
        Value::String(s) if s.contains(dir) => *s = s.replace(dir, "<dir>"),
        _ => {}
    }
}

async fn shape(app: &TestApp, path: &str) -> Value {
    let (status, mut body) = app.get_cairn(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    normalise(&mut body, &app.dir.path().to_string_lossy());
    body
}

#[tokio::test]
async fn cairns_own_endpoints_keep_their_wire_shapes() {
    let app = spawn(&[
        ("all.yaml", &root_location(&["catalog.yaml"])),
        ("catalog.yaml", CATALOG),
    ])
    .await;
    assert_eq!(
        app.location_errors().await,
        "",
        "every fixture entity is ingested"
    );
    // The first evaluation is recorded before the writes below, so history has both.
    app.settled().await;
    let (s, v) = app
        .post_cairn(
            "/facts",
            json!({"entityRef": "component:default/svc", "facts": {"coverage": 91}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Settled between the writes, so the audit trail's order is the same every run.
    app.settled().await;
    let (s, v) = app
        .post_cairn(
            "/scorecards/default/readiness/exemptions",
            json!({"entityRef": "component:default/svc", "checks": ["described"], "reason": "Kept for the shape", "expires": "2999-12-31", "approver": "user:default/jane"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    app.settled().await;

    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    settings.set_prepend_module_to_snapshot(false);
    let _guard = settings.bind_to_scope();
    for (name, path) in [
        ("scorecards", "/scorecards"),
        ("scorecard", "/scorecards/default/readiness"),
        (
            "scorecard-entities",
            "/scorecards/default/readiness/entities",
        ),
        ("scorecard-history", "/scorecards/default/readiness/history"),
        (
            "scorecard-rollup",
            "/scorecards/default/readiness/rollup?by=owner",
        ),
        (
            "scorecard-exemptions",
            "/scorecards/default/readiness/exemptions",
        ),
        (
            "entity-scorecards",
            "/entities/component/default/svc/scorecards",
        ),
        ("facts", "/facts?entityRef=component:default/svc"),
        ("campaigns", "/campaigns"),
        ("campaign", "/campaigns/default/silver-services"),
        ("audit", "/audit?entity=component:default/svc"),
        ("audit-verify", "/audit/verify"),
        ("sources", "/sources"),
        (
            "graph-neighbourhood",
            "/graph/neighbourhood?entityRef=component:default/svc",
        ),
        (
            "graph-impact",
            "/graph/impact?entityRef=api:default/svc-api",
        ),
        ("graph-dangling", "/graph/dangling"),
        ("compliance-systems", "/compliance/ai-act/entities"),
        (
            "compliance-system",
            "/compliance/ai-act/entities/aiagent/default/helpdesk-bot",
        ),
    ] {
        insta::assert_json_snapshot!(name, shape(&app, path).await);
    }
}
