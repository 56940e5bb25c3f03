//! The MCP server at `/api/mcp-actions/v1`, spoken to as an MCP client does: JSON-RPC 2.0 over
//! Streamable HTTP, one message per POST.

use serde_json::{json, Value};

use crate::support::{spawn, TestApp, BASIC_CATALOG};

async fn rpc_raw(app: &TestApp, body: String) -> (u16, Option<Value>) {
    let r = app
        .client
        .post(format!("{}/api/mcp-actions/v1", app.url))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).ok())
}

async fn rpc(app: &TestApp, method: &str, params: Value) -> Value {
    let (status, body) = rpc_raw(
        app,
        json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).to_string(),
    )
    .await;
    let body = body.expect("a JSON-RPC answer");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], 7, "{body}");
    body
}

async fn call(app: &TestApp, tool: &str, arguments: Value) -> Value {
    rpc(
        app,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
    .await["result"]
        .clone()
}

#[tokio::test]
async fn an_mcp_client_initializes_lists_the_catalog_tools_and_calls_them() {
    let app = spawn(&[("all.yaml", BASIC_CATALOG)]).await;
    let init = rpc(
        &app,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
    )
    .await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "cairn");
    assert!(init["result"]["capabilities"]["tools"].is_object());
    let (status, body) = rpc_raw(
        &app,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
    )
    .await;
    assert_eq!((status, body), (202, None), "a notification is accepted");
    assert_eq!(rpc(&app, "ping", json!({})).await["result"], json!({}));

    let tools = rpc(&app, "tools/list", json!({})).await["result"]["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in [
        "catalog_get_catalog_entity",
        "catalog_query_catalog_entities",
        "catalog_get_catalog_model_description",
        "catalog_validate_entity",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let get = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "catalog_get_catalog_entity")
        .unwrap();
    assert_eq!(get["inputSchema"]["required"], json!(["name"]));
    assert_eq!(get["annotations"]["readOnlyHint"], true);
    assert_eq!(get["annotations"]["destructiveHint"], false);
    assert_eq!(get["annotations"]["openWorldHint"], false);

    // By name alone, and by the older dotted tool name with kind and namespace.
    let found = call(
        &app,
        "catalog_get_catalog_entity",
        json!({"name": "legacy"}),
    )
    .await;
    assert_eq!(
        found["structuredContent"]["metadata"]["name"], "legacy",
        "{found}"
    );
    let text: Value = serde_json::from_str(found["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, found["structuredContent"]);
    let found = call(
        &app,
        "catalog.get-catalog-entity",
        json!({"kind": "Component", "namespace": "default", "name": "checkout-service"}),
    )
    .await;
    assert_eq!(found["structuredContent"]["kind"], "Component", "{found}");

    // Known errors are the tool's result, named as Backstage names them.
    let missing = call(&app, "catalog_get_catalog_entity", json!({"name": "nope"})).await;
    assert_eq!(missing["isError"], true);
    assert_eq!(
        missing["content"][0]["text"],
        "NotFoundError: No entity found with name \"nope\""
    );
    let bad = call(&app, "catalog_get_catalog_entity", json!({"kind": 5})).await;
    assert_eq!(bad["isError"], true);
    let message = bad["content"][0]["text"].as_str().unwrap();
    assert!(
        message.starts_with("InputError: Invalid input to action \"catalog:get-catalog-entity\"")
            && message.contains("name")
            && message.contains("/kind"),
        "{message}"
    );
    let unknown = call(&app, "catalog_drop_everything", json!({})).await;
    assert_eq!(
        unknown["content"][0]["text"],
        "NotFoundError: Action \"catalog_drop_everything\" not found"
    );

    // Query pages with the by-query predicate language and a cursor.
    let page = call(
        &app,
        "catalog_query_catalog_entities",
        json!({"query": {"kind": "component"}, "fields": ["metadata.name"], "limit": 1,
               "orderFields": {"field": "metadata.name", "order": "asc"}}),
    )
    .await["structuredContent"]
        .clone();
    assert_eq!(page["totalItems"], 2, "{page}");
    assert_eq!(page["hasMoreEntities"], true);
    assert_eq!(
        page["items"],
        json!([{"metadata": {"name": "Checkout-Service"}}])
    );
    let next = call(
        &app,
        "catalog_query_catalog_entities",
        json!({"cursor": page["nextPageCursor"], "fields": ["metadata.name"], "limit": 1}),
    )
    .await["structuredContent"]
        .clone();
    assert_eq!(
        next["items"],
        json!([{"metadata": {"name": "legacy"}}]),
        "{next}"
    );
    assert_eq!(next["hasMoreEntities"], false);
    let wrong = call(
        &app,
        "catalog_query_catalog_entities",
        json!({"query": {"$not": {"kind": "x"}, "kind": "y"}}),
    )
    .await;
    assert_eq!(wrong["isError"], true, "{wrong}");

    // Validation, as ingestion would judge.
    let valid = call(
        &app,
        "catalog_validate_entity",
        json!({"entity": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec: {type: service, lifecycle: production, owner: team-a}\n"}),
    )
    .await["structuredContent"]
        .clone();
    assert_eq!(valid["isValid"], true, "{valid}");
    assert_eq!(valid["entity"]["metadata"]["name"], "x");
    let yaml = call(&app, "catalog_validate_entity", json!({"entity": "a: [b"})).await
        ["structuredContent"]
        .clone();
    assert_eq!(
        (&yaml["isValid"], &yaml["isValidYaml"]),
        (&json!(false), &json!(false))
    );
    let invalid = call(
        &app,
        "catalog_validate_entity",
        json!({"entity": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: 'bad name!'}\nspec: {type: service, lifecycle: production, owner: team-a}\n"}),
    )
    .await["structuredContent"]
        .clone();
    assert_eq!(invalid["isValid"], false, "{invalid}");
    assert!(!invalid["errors"].as_array().unwrap().is_empty());

    let model = call(&app, "catalog_get_catalog_model_description", json!({})).await;
    let description = model["structuredContent"]["description"].as_str().unwrap();
    assert!(
        description.contains("### Component") && description.contains("`ownedBy`"),
        "{description}"
    );
}

#[tokio::test]
async fn bad_mcp_messages_get_json_rpc_errors_and_never_act() {
    let app = spawn(&[("all.yaml", BASIC_CATALOG)]).await;
    let (status, body) = rpc_raw(&app, "{not json".into()).await;
    assert_eq!(status, 400);
    assert_eq!(body.unwrap()["error"]["code"], -32700);
    let (status, body) = rpc_raw(
        &app,
        json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body.unwrap()["error"]["code"], -32600);
    let (_, body) = rpc_raw(
        &app,
        json!({"jsonrpc": "2.0", "id": 1, "method": "resources/list"}).to_string(),
    )
    .await;
    assert_eq!(body.unwrap()["error"]["code"], -32601);
    let (_, body) = rpc_raw(
        &app,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": {}}})
            .to_string(),
    )
    .await;
    assert_eq!(body.unwrap()["error"]["code"], -32602);

    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = app
            .client
            .request(method, format!("{}/api/mcp-actions/v1", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"jsonrpc": "2.0", "error": {"code": -32000, "message": "Method not allowed."}, "id": null})
        );
    }
    let r = app
        .client
        .post(format!("{}/api/mcp-actions/v1", app.url))
        .header("accept", "text/html")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
}
