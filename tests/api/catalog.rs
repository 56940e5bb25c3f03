//! The catalog HTTP contract: shapes, status codes and error bodies a Backstage client reads.

use serde_json::json;

use crate::support::{root_location, spawn, BASIC_CATALOG};

fn files() -> Vec<(&'static str, String)> {
    vec![
        ("all.yaml", root_location(&["basic.yaml"])),
        ("basic.yaml", BASIC_CATALOG.to_string()),
    ]
}

async fn app() -> crate::support::TestApp {
    let f = files();
    let refs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (*a, b.as_str())).collect();
    spawn(&refs).await
}

#[tokio::test]
async fn entity_has_backstage_envelope_relations_and_annotations() {
    let app = app().await;
    let e = app
        .entity("component", "CHECKOUT-SERVICE")
        .await
        .expect("case-insensitive by-name");
    assert_eq!(e["metadata"]["name"], "Checkout-Service");
    assert_eq!(e["metadata"]["namespace"], "default");
    assert!(e["metadata"]["uid"].is_string());
    assert_eq!(e["metadata"]["etag"].as_str().unwrap().len(), 40);
    let ann = &e["metadata"]["annotations"];
    assert!(ann["backstage.io/managed-by-location"]
        .as_str()
        .unwrap()
        .ends_with("/catalog/basic.yaml"));
    assert!(ann["backstage.io/managed-by-origin-location"]
        .as_str()
        .unwrap()
        .ends_with("/catalog/all.yaml"));
    assert_eq!(
        e["relations"],
        json!([
            {"type":"dependsOn","targetRef":"component:default/legacy"},
            {"type":"ownedBy","targetRef":"group:default/team-a"},
            {"type":"providesApi","targetRef":"api:default/checkout-api"}
        ])
    );
    assert!(e.get("status").is_none());
    // Reverse relations land on the targets.
    let g = app.entity("group", "team-a").await.unwrap();
    let rels: Vec<String> = g["relations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}>{}",
                r["type"].as_str().unwrap(),
                r["targetRef"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        rels.contains(&"hasMember>user:default/jdoe".to_string()),
        "{rels:?}"
    );
    assert!(
        rels.contains(&"ownerOf>component:default/checkout-service".to_string()),
        "{rels:?}"
    );
    let legacy = app.entity("component", "legacy").await.unwrap();
    assert!(legacy["relations"].as_array().unwrap().contains(
        &json!({"type":"dependencyOf","targetRef":"component:default/checkout-service"})
    ));
}

#[tokio::test]
async fn errors_use_backstage_body_with_relative_request_url() {
    let app = app().await;
    let (s, body) = app.get("/entities/by-uid/nope").await;
    assert_eq!(s, 404);
    assert_eq!(
        body,
        json!({"error":{"name":"NotFoundError","message":"No entity with uid nope"},
               "request":{"method":"GET","url":"/entities/by-uid/nope"},
               "response":{"statusCode":404}})
    );
    let (s, body) = app.get("/entities/by-query?limit=abc").await;
    assert_eq!(s, 400);
    assert_eq!(body["error"]["name"], "InputError");
    assert_eq!(body["request"]["url"], "/entities/by-query?limit=abc");
    let (s, body) = app.get("/entities?foo=1").await;
    assert_eq!(s, 400);
    assert_eq!(body["error"]["message"], "Unknown query parameter 'foo'");
}

#[tokio::test]
async fn malformed_query_parameters_are_rejected_with_400() {
    let app = app().await;
    for (path, msg) in [
        ("/entities?filter==x", "Invalid filter"),
        ("/entities/by-query?cursor=not-a-cursor", "Malformed cursor"),
        ("/entities/by-query?limit=-1", "must be >= 0"),
        ("/entities?limit=0", "Invalid limit"),
        (
            "/entities?order=up:metadata.name",
            "Invalid order parameter",
        ),
        ("/entities/by-query?totalItems=maybe", "totalItems"),
        ("/entities/by-query?cursor=", "Empty value"),
        ("/entities/by-query?fields=spec.x[0]", "array type fields"),
        ("/entity-facets", "facet"),
    ] {
        let (s, body) = app.get(path).await;
        assert_eq!(s, 400, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(msg),
            "{path}: {body}"
        );
    }
    // The server is still serving.
    assert!(app.entity("component", "legacy").await.is_some());
}

#[tokio::test]
async fn unmatched_routes_are_404_with_an_empty_body() {
    let app = app().await;
    let r = app
        .client
        .get(format!(
            "{}/api/catalog/entities/by-name/component/default",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "");
}

#[tokio::test]
async fn filters_follow_backstage_matching() {
    let app = app().await;
    let names = |v: serde_json::Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let (_, v) = app
        .get("/entities?filter=kind=COMPONENT,metadata.tags=java")
        .await;
    assert_eq!(names(v), vec!["Checkout-Service"]);
    let (_, v) = app.get("/entities?filter=metadata.tags.java").await;
    assert_eq!(names(v), vec!["Checkout-Service"]);
    let (_, v) = app
        .get("/entities?filter=relations.ownedBy=group:default/team-a")
        .await;
    assert_eq!(names(v), vec!["Checkout-Service", "checkout-api"]);
    let (_, v) = app
        .get("/entities?filter=kind=user&filter=kind=group")
        .await;
    assert_eq!(names(v), vec!["jdoe", "team-a"]);
    let (_, v) = app
        .get("/entities?filter=kind=component&fields=metadata.name")
        .await;
    assert_eq!(
        v.as_array().unwrap()[0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["metadata"]
    );
    let (s, v) = app
        .post(
            "/entities/by-query",
            json!({"query": {"$all": [{"kind": "component"}, {"$not": {"spec.type": "library"}}]}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["totalItems"], 1);
}

#[tokio::test]
async fn by_query_pages_with_cursors_and_counts() {
    let app = app().await;
    let (s, v) = app
        .get("/entities/by-query?limit=2&orderField=metadata.name,asc")
        .await;
    assert_eq!(s, 200);
    let total = v["totalItems"].as_u64().unwrap();
    assert_eq!(total, 7); // 5 entities + the generated root Location + the `root` Location
    let mut seen = v["items"].as_array().unwrap().len();
    let mut cursor = v["pageInfo"]["nextCursor"].as_str().map(str::to_owned);
    assert!(v["pageInfo"].get("prevCursor").is_none());
    while let Some(c) = cursor {
        let (s, v) = app
            .get(&format!(
                "/entities/by-query?cursor={}&limit=2",
                urlencode(&c)
            ))
            .await;
        assert_eq!(s, 200);
        assert_eq!(v["totalItems"].as_u64().unwrap(), total);
        assert!(v["pageInfo"]["prevCursor"].is_string());
        seen += v["items"].as_array().unwrap().len();
        cursor = v["pageInfo"]["nextCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen as u64, total);
    let (_, v) = app
        .get("/entities/by-query?limit=0&filter=kind=component")
        .await;
    assert_eq!(v, json!({"items": [], "totalItems": 2, "pageInfo": {}}));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn facets_keep_requested_spelling_and_case_of_values() {
    let app = app().await;
    let (s, v) = app
        .get("/entity-facets?facet=kind&facet=relations.ownedBy&facet=spec.nothing")
        .await;
    assert_eq!(s, 200);
    assert!(v["facets"]["kind"]
        .as_array()
        .unwrap()
        .contains(&json!({"value":"Component","count":2})));
    assert!(v["facets"]["relations.ownedBy"]
        .as_array()
        .unwrap()
        .contains(&json!({"value":"group:default/team-a","count":2})));
    assert_eq!(v["facets"]["spec.nothing"], json!([]));
}

#[tokio::test]
async fn by_refs_keeps_order_with_nulls_and_refresh_and_validate_have_backstage_bodies() {
    let app = app().await;
    let (s, v) = app
        .post("/entities/by-refs", json!({"entityRefs": ["component:default/legacy", "component:default/nope", "component:default/legacy"], "fields": ["metadata.name"]}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"items": [{"metadata":{"name":"legacy"}}, null, {"metadata":{"name":"legacy"}}]})
    );
    let r = app
        .client
        .post(format!("{}/api/catalog/refresh", app.url))
        .json(&json!({"entityRef":"component:default/legacy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    let (s, v) = app
        .post("/refresh", json!({"entityRef":"component:default/missing"}))
        .await;
    assert_eq!(
        (s, v["error"]["name"].as_str().unwrap()),
        (404, "NotFoundError")
    );
    let (s, v) = app
        .post("/validate-entity", json!({"location": "url:https://x/y.yaml", "entity": {"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"x"},"spec":{"type":"service","lifecycle":"production"}}}))
        .await;
    assert_eq!(s, 400);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("owner"),
        "{v}"
    );
}

#[tokio::test]
async fn ancestry_walks_the_emitting_locations() {
    let app = app().await;
    let (s, v) = app
        .get("/entities/by-name/component/default/legacy/ancestry")
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["rootEntityRef"], "component:default/legacy");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{v}");
    assert_eq!(
        items[0]["parentEntityRefs"],
        json!(["location:default/root"])
    );
    assert_eq!(items[2]["parentEntityRefs"], json!([]));
}

#[tokio::test]
async fn cors_preflight_is_answered() {
    let app = crate::support::spawn_with(
        &[("all.yaml", &root_location(&[]))],
        crate::support::Options {
            extra_config:
                "backend:\n  cors:\n    origin: http://localhost:3000\n    credentials: true\n"
                    .into(),
            ..Default::default()
        },
    )
    .await;
    let r = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/catalog/entities", app.url),
        )
        .header("Origin", "http://localhost:3000")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
}
