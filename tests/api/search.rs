//! `/api/search/query` as the search page and the sidebar search modal call it.

use serde_json::Value;

use crate::support::{spawn, TestApp};

const CATALOG: &str = r#"apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-pay}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Payments-Gateway
  title: Payments Gateway
  description: Card payments for the web shop
  tags: [java]
spec: {type: service, lifecycle: production, owner: team-pay}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments
  description: The ledger
spec: {type: library, lifecycle: experimental, owner: team-pay}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: billing-api
  description: Bills customers; calls the payments ledger
spec: {type: openapi, lifecycle: production, owner: team-pay, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: unrelated
spec: {type: website, lifecycle: production, owner: team-pay}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: payments-service
  title: New payments service
spec:
  type: service
  owner: team-pay
  steps: [{id: log, action: "debug:log", input: {message: hi}}]
"#;

/// `GET /api/search/query?{qs}` (brackets percent-encoded, as `qs` writes them).
async fn search(app: &TestApp, qs: &str) -> Value {
    let qs = qs.replace('[', "%5B").replace(']', "%5D");
    let r = app
        .client
        .get(format!("{}/api/search/query?{qs}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{qs}");
    r.json().await.unwrap()
}

fn titles(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["document"]["title"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn catalog_documents_are_found_ranked_filtered_and_paged() {
    let app = spawn(&[("all.yaml", CATALOG)]).await;

    // The search page's first call: everything in the catalog, paged.
    let all = search(&app, "term=&types[0]=software-catalog").await;
    assert!(all["numberOfResults"].as_u64().unwrap() >= 6, "{all}");

    // An exact name first, then names that start with the term (by title), then the others.
    let found = search(&app, "term=payments&types[0]=software-catalog").await;
    assert_eq!(
        titles(&found),
        [
            "payments",
            "New payments service",
            "Payments Gateway",
            "billing-api"
        ]
    );
    let gateway = &found["results"][2];
    assert_eq!(gateway["type"], "software-catalog");
    let doc = &gateway["document"];
    assert_eq!(
        doc["location"],
        "/catalog/default/component/payments-gateway"
    );
    assert_eq!(doc["text"], "Card payments for the web shop");
    assert_eq!(doc["kind"], "Component");
    assert_eq!(doc["lifecycle"], "production");
    assert_eq!(doc["owner"], "team-pay");
    assert_eq!(doc["type"], "service");
    assert_eq!(doc["componentType"], "service");
    assert_eq!(doc["namespace"], "default");

    // Every word must be found.
    assert_eq!(
        titles(&search(&app, "term=payments%20ledger").await),
        ["payments", "billing-api"]
    );

    let apis = search(&app, "term=payments&filters[kind]=API").await;
    assert_eq!(titles(&apis), ["billing-api"]);
    let lifecycles = search(
        &app,
        "term=&filters[kind]=Component&filters[lifecycle][0]=experimental&filters[lifecycle][1]=production",
    )
    .await;
    assert_eq!(lifecycles["numberOfResults"], 3, "{lifecycles}");

    // Pages: a cursor forward, and one back.
    let first = search(&app, "term=payments&pageLimit=2").await;
    assert_eq!(titles(&first), ["payments", "New payments service"]);
    assert!(first.get("previousPageCursor").is_none());
    let next = first["nextPageCursor"].as_str().unwrap();
    let second = search(
        &app,
        &format!("term=payments&pageLimit=2&pageCursor={next}"),
    )
    .await;
    assert_eq!(titles(&second), ["Payments Gateway", "billing-api"]);
    assert!(second.get("nextPageCursor").is_none());
    assert!(second["previousPageCursor"].is_string());
    assert_eq!(second["numberOfResults"], 4);

    // Cairn's own types.
    let templates = search(&app, "term=payments&types[0]=templates").await;
    assert_eq!(titles(&templates), ["New payments service"]);
    assert_eq!(templates["results"][0]["type"], "templates");
    assert_eq!(
        templates["results"][0]["document"]["location"],
        "/create/templates/default/payments-service"
    );
    let none = search(&app, "term=payments&types[0]=techdocs").await;
    assert_eq!(none["numberOfResults"], 0);

    let r = app
        .client
        .get(format!("{}/api/search/query?pageCursor=%25%25", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
