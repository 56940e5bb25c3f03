//! The permission framework: `POST /api/permission/authorize` answers from `PermissionPolicy`
//! entities, and the same policy guards Cairn's own routes.

use serde_json::{json, Value};

use crate::support::{spawn_with, Options, TestApp, BASIC_CATALOG};

const POLICY: &str = r#"apiVersion: cairn.dev/v1alpha1
kind: PermissionPolicy
metadata:
  name: default
spec:
  rules:
    - permissions: [catalog.entity.read, catalog.location.read, "scaffolder.task.read"]
      decision: allow
      who: anyone
    - permissions: [catalog.entity.refresh, catalog.entity.delete]
      decision: allow
      who: users
      owned: true
    - permissions: [catalog.location.create, catalog.entity.create]
      decision: allow
      who: [team-platform, "service:ci"]
    - permissions: "scaffolder.task.create"
      decision: allow
      who: users
      resource: {metadata.name: [hello]}
"#;

const CONFIG: &str = "backend:\n  auth:\n    dangerouslyDisableDefaultAuthPolicy: false\n    externalAccess:\n      - type: static\n        options: {token: ci-token-0123456789, subject: ci}\nauth:\n  environment: development\n  providers:\n    guest:\n      userEntityRef: jdoe\npermission:\n  enabled: true\n";

const TEMPLATES: &str = r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: hello
spec:
  type: service
  owner: team-a
  steps:
    - id: log
      action: debug:log
      input: {message: hi}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: restricted
spec:
  type: service
  owner: team-a
  steps:
    - id: log
      action: debug:log
      input: {message: hi}
"#;

async fn app_with(policy: &str, config: &str) -> TestApp {
    let catalog = format!("{BASIC_CATALOG}---\n{policy}---\n{TEMPLATES}");
    spawn_with(
        &[("all.yaml", &catalog)],
        Options {
            extra_config: config.into(),
            ..Default::default()
        },
    )
    .await
}

/// `POST /api/permission/authorize` with items `(name, resourceRef)`; the results in order.
async fn authorize(app: &TestApp, token: &str, items: &[(&str, Option<&str>)]) -> Vec<String> {
    let items: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, (name, resource))| {
            let permission = match resource {
                None => json!({"type": "basic", "name": name, "attributes": {}}),
                Some(_) => json!({"type": "resource", "name": name, "attributes": {}, "resourceType": "catalog-entity"}),
            };
            let mut item = json!({"id": format!("id-{i}"), "permission": permission});
            if let Some(r) = resource {
                item["resourceRef"] = json!(r);
            }
            item
        })
        .collect();
    let r = app
        .client
        .post(format!("{}/api/permission/authorize", app.url))
        .bearer_auth(token)
        .json(&json!({ "items": items }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, item)| {
            assert_eq!(item["id"], format!("id-{i}"));
            item["result"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_policy_answers_the_frontend_and_guards_the_same_routes() {
    let app = app_with(POLICY, CONFIG).await;
    let jdoe = app.guest_token().await;
    let ci = "ci-token-0123456789";
    let answers = authorize(
        &app,
        &jdoe,
        &[
            ("catalog.entity.read", None),
            ("catalog.entity.create", None),
            (
                "catalog.entity.refresh",
                Some("component:default/checkout-service"),
            ),
            ("catalog.entity.refresh", Some("component:default/legacy")),
            ("catalog.entity.delete", Some("group:default/team-a")),
            (
                "catalog.entity.refresh",
                Some("component:default/nothing-here"),
            ),
            ("scaffolder.task.create", None),
            ("scaffolder.template.management", None),
        ],
    )
    .await;
    assert_eq!(
        answers,
        ["ALLOW", "DENY", "ALLOW", "ALLOW", "DENY", "DENY", "ALLOW", "DENY"]
    );
    assert_eq!(
        authorize(
            &app,
            ci,
            &[
                ("catalog.location.create", None),
                ("catalog.entity.refresh", Some("component:default/legacy"))
            ]
        )
        .await,
        ["ALLOW", "DENY"]
    );

    // The server refuses what the policy denies, whoever hides the button.
    let post = |path: &str, token: &str, body: Value| {
        app.client
            .post(format!("{}{path}", app.url))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let location = json!({"type": "url", "target": "https://example.com/catalog-info.yaml"});
    let r = post(
        "/api/catalog/locations?dryRun=true",
        &jdoe,
        location.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["name"], "NotAllowedError");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("catalog.location.create"),
        "{v}"
    );
    let r = post("/api/catalog/locations?dryRun=true", ci, location)
        .await
        .unwrap();
    assert_ne!(r.status(), 403, "the ci token may register");

    let refresh = |entity: &str| json!({ "entityRef": entity });
    let r = post(
        "/api/catalog/refresh",
        &jdoe,
        refresh("component:default/checkout-service"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "jdoe's team owns it");
    let r = post(
        "/api/catalog/refresh",
        &jdoe,
        refresh("group:default/team-a"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403, "nobody owns the group");
    let r = post(
        "/api/catalog/refresh",
        ci,
        refresh("component:default/legacy"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403, "a service owns nothing");

    let (_, group) = app.get("/entities/by-name/group/default/team-a").await;
    let uid = group["metadata"]["uid"].as_str().unwrap();
    let r = app
        .client
        .delete(format!("{}/api/catalog/entities/by-uid/{uid}", app.url))
        .bearer_auth(&jdoe)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(app.entity("group", "team-a").await.is_some());

    // Which templates a user may create from is the template's condition.
    let task = |template: &str| json!({"templateRef": format!("template:default/{template}"), "values": {}});
    let r = post("/api/scaffolder/v2/tasks", &jdoe, task("restricted"))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post("/api/scaffolder/v2/tasks", &jdoe, task("hello"))
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
}

#[tokio::test]
async fn everything_is_allowed_while_the_framework_is_off_and_nothing_without_a_rule_when_on() {
    let off = CONFIG.replace("enabled: true", "enabled: false");
    let app = app_with("apiVersion: cairn.dev/v1alpha1\nkind: PermissionPolicy\nmetadata: {name: empty}\nspec:\n  rules: []\n", &off).await;
    let jdoe = app.guest_token().await;
    assert_eq!(
        authorize(
            &app,
            &jdoe,
            &[("catalog.entity.create", None), ("anything.at.all", None)]
        )
        .await,
        ["ALLOW", "ALLOW"]
    );
    let on = app_with("apiVersion: cairn.dev/v1alpha1\nkind: PermissionPolicy\nmetadata: {name: empty}\nspec:\n  rules: []\n", CONFIG).await;
    let jdoe = on.guest_token().await;
    assert_eq!(
        authorize(&on, &jdoe, &[("catalog.entity.read", None)]).await,
        ["DENY"]
    );
}

#[tokio::test]
async fn a_policy_with_a_bad_rule_is_refused_with_its_field_and_the_good_one_kept() {
    let bad = POLICY.replace(
        "      decision: allow\n      who: users\n      owned: true",
        "      decision: perhaps\n      who: users\n      owned: true",
    );
    let bad = bad.replace("name: default", "name: broken");
    let app = app_with(&format!("{POLICY}---\n{bad}"), CONFIG).await;
    let errors = app.location_errors().await;
    assert!(errors.contains("spec.rules.1.decision"), "{errors}");
    assert!(app.entity("permissionpolicy", "default").await.is_some());
    assert!(app.entity("permissionpolicy", "broken").await.is_none());
}

const READ_POLICY: &str = r#"apiVersion: cairn.dev/v1alpha1
kind: PermissionPolicy
metadata:
  name: reads
spec:
  rules:
    - permissions: catalog.entity.read
      decision: allow
      who: anyone
      resource: {kind: [component, api]}
    - permissions: catalog.entity.read
      decision: allow
      who: users
      owned: true
    - permissions: catalog.entity.read
      decision: deny
      who: anyone
      resource: {spec.lifecycle: deprecated}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: orders-db}
spec: {type: database, owner: team-a}
"#;

/// The names a GET of the catalog API returns, with a token or without.
async fn names(app: &TestApp, token: Option<&str>, path: &str) -> (u16, Value) {
    let mut r = app.client.get(format!("{}/api/catalog{path}", app.url));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn sorted_names(items: &Value) -> Vec<String> {
    let mut names: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e.is_null())
        .map(|e| e["metadata"]["name"].as_str().unwrap().to_lowercase())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn reads_show_only_what_the_policy_lets_a_caller_read() {
    let app = app_with(READ_POLICY, CONFIG).await;
    let jdoe = app.guest_token().await;
    let (_, anyone) = names(&app, None, "/entities").await;
    assert_eq!(sorted_names(&anyone), ["checkout-api", "checkout-service"]);
    let (_, member) = names(&app, Some(&jdoe), "/entities").await;
    assert_eq!(
        sorted_names(&member),
        ["checkout-api", "checkout-service", "hello", "orders-db", "restricted"],
        "jdoe's team owns orders-db and the templates; the deprecated legacy stays hidden although jdoe owns it"
    );

    let (_, page) = names(&app, None, "/entities/by-query?limit=1").await;
    assert_eq!(page["totalItems"], 2);
    let cursor = page["pageInfo"]["nextCursor"].as_str().unwrap();
    let (_, next) = names(&app, None, &format!("/entities/by-query?cursor={cursor}")).await;
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    assert!(next["pageInfo"]["nextCursor"].is_null());

    assert_eq!(
        names(&app, None, "/entities/by-name/component/default/legacy")
            .await
            .0,
        404
    );
    assert_eq!(
        names(&app, None, "/entities/by-name/resource/default/orders-db")
            .await
            .0,
        404
    );
    assert_eq!(
        names(
            &app,
            Some(&jdoe),
            "/entities/by-name/resource/default/orders-db"
        )
        .await
        .0,
        200
    );

    let (_, facets) = names(&app, None, "/entity-facets?facet=kind").await;
    let mut kinds: Vec<String> = facets["facets"]["kind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}={}", f["value"].as_str().unwrap(), f["count"]))
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["API=1", "Component=1"]);

    let r = app
        .client
        .post(format!("{}/api/catalog/entities/by-refs", app.url))
        .bearer_auth(&jdoe)
        .json(&json!({"entityRefs": ["component:default/legacy", "api:default/checkout-api"]}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(v["items"][0].is_null());
    assert_eq!(v["items"][1]["metadata"]["name"], "checkout-api");

    let found: Value = app
        .client
        .get(format!("{}/api/search/query?term=", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["numberOfResults"], 2, "{found}");
}
