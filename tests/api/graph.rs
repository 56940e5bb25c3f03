//! The governance kinds and Cairn's graph queries, over a small event-driven, data and AI
//! catalog.

use serde_json::{json, Value};

use crate::support::{root_location, spawn, TestApp};

const GOVERNANCE: &str = r#"apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: orders-events}
spec: {type: asyncapi, lifecycle: production, owner: team-a, definition: "asyncapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: order-svc}
spec: {type: service, lifecycle: production, owner: team-a, producesEvents: [order-placed]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shipping}
spec: {type: service, lifecycle: production, owner: team-a, consumesEvents: [order-placed]}
---
apiVersion: cairn.dev/v1alpha1
kind: Event
metadata: {name: order-placed}
spec:
  type: domain-event
  lifecycle: production
  owner: team-a
  api: orders-events
  transport: {protocol: kafka, address: orders.placed.v1}
  schema: {format: asyncapi}
  classification: [personal-data]
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: orders-dwh}
spec: {type: table, owner: team-a}
---
apiVersion: cairn.dev/v1alpha1
kind: DataProduct
metadata: {name: orders-history}
spec:
  type: source-aligned
  lifecycle: production
  owner: team-a
  inputs: [event:order-placed, dataproduct:customer-360]
  outputPorts: [{name: table, ref: resource:orders-dwh}]
  classification: {personalData: true, specialCategories: []}
---
apiVersion: cairn.dev/v1alpha1
kind: DataProduct
metadata: {name: customer-360}
spec:
  type: consumer-aligned
  lifecycle: production
  owner: team-a
  inputs: [dataproduct:orders-history]
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: llm}
spec: {type: ai-model, owner: team-a}
---
apiVersion: cairn.dev/v1alpha1
kind: AIAgent
metadata: {name: support-bot}
spec:
  type: assistant
  lifecycle: production
  owner: team-a
  purpose: Answer order questions.
  autonomy: human-in-the-loop
  models: [{ref: llm, role: primary}]
  tools: [orders-events]
  dataSources: [dataproduct:customer-360]
  humanOversight: {owner: team-a, mechanisms: [override]}
  logging: {sink: audit-logs}
  aiAct:
    role: deployer
    answers: {S1: true, S2: false, S3: true, H3: none, T1: true, Z1: true}
"#;

async fn app() -> TestApp {
    spawn(&[
        ("all.yaml", &root_location(&["gov.yaml"])),
        ("gov.yaml", GOVERNANCE),
    ])
    .await
}

fn has_rel(e: &Value, t: &str, target: &str) -> bool {
    e["relations"]
        .as_array()
        .unwrap()
        .contains(&json!({"type": t, "targetRef": target}))
}

async fn cairn(app: &TestApp, path: &str) -> (u16, Value) {
    app.get_cairn(path).await
}

#[tokio::test]
async fn governance_kinds_serve_relations_both_ways_and_filter_on_their_fields() {
    let app = app().await;
    let event = app
        .entity("event", "order-placed")
        .await
        .expect("event served");
    assert!(has_rel(
        &event,
        "eventProducedBy",
        "component:default/order-svc"
    ));
    assert!(has_rel(
        &event,
        "eventConsumedBy",
        "component:default/shipping"
    ));
    assert!(has_rel(
        &event,
        "eventConsumedBy",
        "dataproduct:default/orders-history"
    ));
    assert!(has_rel(
        &event,
        "describedByApi",
        "api:default/orders-events"
    ));
    let bot = app.entity("aiagent", "support-bot").await.unwrap();
    assert!(has_rel(&bot, "usesModel", "resource:default/llm"));
    assert!(has_rel(&bot, "consumesApi", "api:default/orders-events"));
    assert!(has_rel(
        &bot,
        "consumesDataProduct",
        "dataproduct:default/customer-360"
    ));
    assert!(has_rel(&bot, "overseenBy", "group:default/team-a"));
    let api = app.entity("api", "orders-events").await.unwrap();
    assert!(
        has_rel(&api, "apiConsumedBy", "aiagent:default/support-bot"),
        "the API page lists the agent as consumer"
    );
    assert!(has_rel(
        &api,
        "describesEvent",
        "event:default/order-placed"
    ));
    let dwh = app.entity("resource", "orders-dwh").await.unwrap();
    assert!(has_rel(
        &dwh,
        "outputPortOf",
        "dataproduct:default/orders-history"
    ));
    // Warnings: the unknown questionnaire key and the missing log sink; the entity is served.
    let messages: Vec<String> = bot["status"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["level"].as_str().unwrap(),
                i["message"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("warning:") && m.contains("Z1")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("warning:")
            && m.contains("spec.logging.sink refers to resource:default/audit-logs")),
        "{messages:?}"
    );
    let (_, v) = app
        .get("/entities?filter=kind=aiagent,spec.aiAct.role=deployer")
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = app
        .get("/entities?filter=spec.classification.personalData=true")
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = app
        .get("/entity-facets?facet=spec.transport.protocol&filter=kind=event")
        .await;
    assert_eq!(
        v["facets"]["spec.transport.protocol"],
        json!([{"value": "kafka", "count": 1}])
    );
}

#[tokio::test]
async fn impact_follows_events_data_products_and_tools_with_paths() {
    let app = app().await;
    let (s, v) = cairn(
        &app,
        "/graph/impact?entityRef=component:default/order-svc&paths=full",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let refs: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["entityRef"].as_str().unwrap())
        .collect();
    for expected in [
        "event:default/order-placed",
        "component:default/shipping",
        "dataproduct:default/orders-history",
        "dataproduct:default/customer-360",
        "aiagent:default/support-bot",
        "resource:default/orders-dwh",
    ] {
        assert!(refs.contains(&expected), "{expected} missing from {refs:?}");
    }
    let bot = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["entityRef"] == "aiagent:default/support-bot")
        .unwrap();
    let path: Vec<&str> = bot["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        path,
        vec![
            "producesEvent",
            "eventConsumedBy",
            "dataProductConsumedBy",
            "dataProductConsumedBy"
        ],
        "{bot}"
    );
}

#[tokio::test]
async fn lineage_walks_upstream_and_survives_input_cycles() {
    let app = app().await;
    let (s, v) = cairn(&app, "/graph/lineage?entityRef=aiagent:default/support-bot").await;
    assert_eq!(s, 200, "{v}");
    let refs: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["entityRef"].as_str().unwrap())
        .collect();
    for expected in [
        "dataproduct:default/customer-360",
        "dataproduct:default/orders-history",
        "event:default/order-placed",
        "component:default/order-svc",
        "resource:default/llm",
        "api:default/orders-events",
    ] {
        assert!(refs.contains(&expected), "{expected} missing from {refs:?}");
    }
    assert!(v["truncated"].is_null());
}

#[tokio::test]
async fn neighbourhood_path_and_dangling_references() {
    let app = app().await;
    let (s, v) = cairn(
        &app,
        "/graph/neighbourhood?entityRef=event:default/order-placed&depth=1&kind=component",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let refs: Vec<&str> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["entityRef"].as_str().unwrap())
        .collect();
    assert_eq!(
        refs,
        vec![
            "event:default/order-placed",
            "component:default/order-svc",
            "component:default/shipping"
        ]
    );
    let (_, v) = cairn(
        &app,
        "/graph/neighbourhood?entityRef=group:default/team-a&depth=3&limit=3",
    )
    .await;
    assert_eq!(v["truncated"], "node limit of 3");
    let (_, v) = cairn(
        &app,
        "/graph/path?from=component:default/shipping&to=aiagent:default/support-bot",
    )
    .await;
    assert_eq!(v["found"], true, "{v}");
    assert!(v["path"].as_array().unwrap().len() <= 3, "{v}");
    let (_, v) = cairn(&app, "/graph/dangling").await;
    assert_eq!(
        v,
        json!({"items": [{"entityRef": "aiagent:default/support-bot", "field": "spec.logging.sink", "type": "logsTo", "targetRef": "resource:default/audit-logs"}], "totalItems": 1})
    );
    let (s, _) = cairn(&app, "/graph/impact?entityRef=component:default/nope").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn wrong_target_kinds_types_and_self_references_are_errors() {
    let bad = r#"apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: confused}
spec: {type: service, lifecycle: production, owner: team-a, producesEvents: [api:orders-events]}
---
apiVersion: cairn.dev/v1alpha1
kind: AIAgent
metadata: {name: sloppy}
spec: {type: assistant, lifecycle: production, owner: team-a, aiAct: {role: deployer, answers: {S1: "yes"}}}
---
apiVersion: cairn.dev/v1alpha1
kind: DataProduct
metadata: {name: ouroboros}
spec: {type: aggregate, lifecycle: production, owner: team-a, inputs: [dataproduct:ouroboros]}
"#;
    let app = spawn(&[
        ("all.yaml", &root_location(&["gov.yaml", "bad.yaml"])),
        ("gov.yaml", GOVERNANCE),
        ("bad.yaml", bad),
    ])
    .await;
    let errors = app.location_errors().await;
    assert!(errors.contains("bad.yaml:4: component:default/confused: spec.producesEvents: api:default/orders-events is of kind api, expected one of: event"), "{errors}");
    assert!(
        errors.contains("aiagent:default/sloppy: spec.aiAct.answers.S1: must be a boolean"),
        "{errors}"
    );
    assert!(
        errors.contains("dataproduct:default/ouroboros: spec.inputs:") && errors.contains("itself"),
        "{errors}"
    );
    assert!(app.entity("aiagent", "support-bot").await.is_some());
}

#[tokio::test]
async fn huge_fan_out_is_served_and_graph_walks_stay_bounded() {
    let mut deps = String::new();
    for i in 0..10_000 {
        deps.push_str(&format!("    - resource:db-{i}\n"));
    }
    let fan = format!("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: hub}}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n  dependsOn:\n{deps}");
    let app = spawn(&[
        ("all.yaml", &root_location(&["gov.yaml", "fan.yaml"])),
        ("gov.yaml", GOVERNANCE),
        ("fan.yaml", &fan),
    ])
    .await;
    let hub = app.entity("component", "hub").await.expect("served");
    assert_eq!(hub["relations"].as_array().unwrap().len(), 10_001);
    let (_, v) = cairn(&app, "/graph/dangling?limit=5").await;
    assert_eq!(v["totalItems"], 10_001);
    assert_eq!(v["items"].as_array().unwrap().len(), 5);
}
