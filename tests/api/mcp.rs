//! The MCP server at `/api/mcp-actions/v1`, spoken to as an MCP client does: JSON-RPC 2.0 over
//! Streamable HTTP, one message per POST.

use serde_json::{json, Value};

use crate::support::{spawn, TestApp, BASIC_CATALOG};

/// POSTs a body to the MCP server, with a bearer token when given.
async fn post(app: &TestApp, token: Option<&str>, body: String) -> (u16, Option<Value>) {
    let mut req = app
        .client
        .post(format!("{}/api/mcp-actions/v1", app.url))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).ok())
}

async fn rpc_raw(app: &TestApp, body: String) -> (u16, Option<Value>) {
    post(app, None, body).await
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

const AGENT_TOKENS: &str = "backend:\n  auth:\n    externalAccess:\n      - {type: static, options: {token: coding-agent-token-0001, subject: 'aiagent:default/coding-agent'}}\n      - {type: static, options: {token: support-token-0000001, subject: 'aiagent:default/support-assistant'}}\n      - {type: static, options: {token: fresh-agent-token-001, subject: 'aiagent:default/fresh-agent'}}\n      - {type: static, options: {token: ghost-agent-token-001, subject: 'aiagent:default/ghost'}}\n      - {type: static, options: {token: a-person-token-000001, subject: 'user:default/elena.vasquez'}}\n";

/// An agent that lists Cairn's MCP server but has not answered the AI Act questionnaire.
const FRESH_AGENT: &str = "apiVersion: cairn.dev/v1alpha1\nkind: AIAgent\nmetadata: {name: fresh-agent}\nspec:\n  type: agent\n  lifecycle: experimental\n  owner: group:default/team-platform\n  tools: [api:default/cairn-mcp]\n";

async fn rpc_as(app: &TestApp, token: &str, method: &str, params: Value) -> (u16, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, answer) = post(app, Some(token), body.to_string()).await;
    (status, answer.expect("a JSON-RPC answer"))
}

/// A `tools/call` of `name` with `arguments`, as `token`.
async fn call_as(app: &TestApp, token: &str, name: &str, arguments: Value) -> (u16, Value) {
    rpc_as(
        app,
        token,
        "tools/call",
        json!({"name": name, "arguments": arguments}),
    )
    .await
}

async fn tool_names(app: &TestApp, token: &str) -> Vec<String> {
    let (_, v) = rpc_as(app, token, "tools/list", json!({})).await;
    v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn what_an_agent_may_call_follows_from_its_catalog_entry_and_the_rule_pack_and_is_audited() {
    let extra = tempfile::tempdir().unwrap();
    let fresh = extra.path().join("fresh.yaml");
    std::fs::write(&fresh, FRESH_AGENT).unwrap();
    let app = crate::support::spawn_with(
        &[],
        crate::support::Options {
            catalog_target: Some(crate::support::repo_root().join("catalog-examples/all.yaml")),
            extra_targets: vec![fresh],
            extra_config: AGENT_TOKENS.into(),
            ..Default::default()
        },
    )
    .await;

    // The coding agent lists api:default/cairn-mcp and is overseen: every tool.
    let coding = tool_names(&app, "coding-agent-token-0001").await;
    assert!(
        coding.contains(&"catalog_get_catalog_entity".to_string())
            && coding.contains(&"cairn_who_am_i".to_string()),
        "{coding:?}"
    );
    let (_, me) = call_as(&app, "coding-agent-token-0001", "cairn_who_am_i", json!({})).await;
    let me = &me["result"]["structuredContent"];
    assert_eq!(me["caller"], "aiagent:default/coding-agent", "{me}");
    assert_eq!(me["agent"], true);
    assert_eq!(me["access"], "all");
    assert_eq!(me["allowedTools"].as_array().unwrap().len(), coding.len());
    let (_, got) = call_as(
        &app,
        "coding-agent-token-0001",
        "catalog_get_catalog_entity",
        json!({"kind": "API", "name": "cairn-mcp"}),
    )
    .await;
    assert_eq!(
        got["result"]["structuredContent"]["spec"]["type"], "mcp-server",
        "{got}"
    );

    // The support assistant does not list Cairn's MCP server: nothing is listed, a call is refused
    // naming why.
    assert_eq!(
        tool_names(&app, "support-token-0000001").await,
        Vec::<String>::new()
    );
    let (_, refused) = call_as(
        &app,
        "support-token-0000001",
        "catalog_get_catalog_entity",
        json!({"name": "cairn-mcp"}),
    )
    .await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    let text = refused["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("NotAllowedError: aiagent:default/support-assistant may not call catalog:get-catalog-entity")
            && text.contains("spec.tools does not list api:default/cairn-mcp"),
        "{text}"
    );

    // An agent with unanswered questions is unclassified: the rule pack's rule says no tools.
    assert_eq!(
        tool_names(&app, "fresh-agent-token-001").await,
        Vec::<String>::new()
    );
    let (_, refused) = call_as(&app, "fresh-agent-token-001", "cairn_who_am_i", json!({})).await;
    let text = refused["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("rule unclassified-or-prohibited (Art. 5; Art. 9)"),
        "{text}"
    );

    // A token bound to an agent the catalog does not hold is refused outright.
    let (status, body) = rpc_as(&app, "ghost-agent-token-001", "tools/list", json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["name"], "AuthenticationError");

    // A person's token reaches every tool.
    let person = tool_names(&app, "a-person-token-000001").await;
    assert_eq!(person, coding);

    // Every agent call is on the audit trail, allowed or not; people's reads are not.
    let (_, audit) = app
        .get_cairn("/audit?entity=aiagent:default/coding-agent")
        .await;
    let calls: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "mcp.tools/call")
        .collect();
    assert_eq!(calls.len(), 2, "{audit}");
    assert_eq!(calls[1]["actor"], "aiagent:default/coding-agent");
    assert_eq!(calls[1]["details"]["tool"], "catalog:get-catalog-entity");
    assert_eq!(calls[1]["details"]["outcome"], "ok");
    assert_eq!(
        calls[1]["details"]["inputSha256"].as_str().unwrap().len(),
        64
    );
    let (_, audit) = app
        .get_cairn("/audit?entity=aiagent:default/support-assistant")
        .await;
    let refused: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "mcp.tools/call")
        .collect();
    assert_eq!(refused.len(), 1, "{audit}");
    assert_eq!(refused[0]["details"]["outcome"], "NotAllowedError");
    let (_, verify) = app.get_cairn("/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");

    // The agent's calls are part of its technical file.
    let bytes = app
        .client
        .get(format!(
            "{}/api/cairn/compliance/ai-act/entities/aiagent/default/coding-agent/technical-file",
            app.url
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut audit = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("audit.json").unwrap(), &mut audit).unwrap();
    let audit: Value = serde_json::from_str(&audit).unwrap();
    let in_file = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "mcp.tools/call")
        .count();
    assert_eq!(in_file, 2, "{audit}");
}

/// The example coding agent, renamed and made autonomous.
fn autonomous_agent() -> String {
    let examples = std::fs::read_to_string(
        crate::support::repo_root().join("catalog-examples/systems/ai.yaml"),
    )
    .unwrap();
    let doc = examples
        .split("\n---\n")
        .find(|d| d.contains("name: coding-agent\n") && d.contains("kind: AIAgent"))
        .expect("the coding agent example");
    doc.replace("name: coding-agent\n", "name: autonomous-agent\n")
        .replace("autonomy: human-in-the-loop", "autonomy: autonomous")
}

#[tokio::test]
async fn an_agent_runs_a_golden_path_and_an_autonomous_one_may_not() {
    let extra = tempfile::tempdir().unwrap();
    let repos = tempfile::tempdir().unwrap();
    let autonomous = extra.path().join("autonomous.yaml");
    std::fs::write(&autonomous, autonomous_agent()).unwrap();
    let app = crate::support::spawn_with(
        &[],
        crate::support::Options {
            catalog_target: Some(crate::support::repo_root().join("catalog-examples/all.yaml")),
            extra_targets: vec![
                autonomous,
                crate::support::repo_root().join("templates/all.yaml"),
            ],
            extra_config: format!(
                "{AGENT_TOKENS}      - {{type: static, options: {{token: autonomous-token-0001, subject: 'aiagent:default/autonomous-agent'}}}}\nscaffolder:\n  publish:\n    hosts:\n      - {{host: local, root: {}}}\n",
                repos.path().display()
            ),
            ..Default::default()
        },
    )
    .await;

    // An autonomous agent keeps reads and non-destructive writes, never a destructive tool.
    let tools = tool_names(&app, "autonomous-token-0001").await;
    assert!(
        tools.contains(&"catalog_register_entity".to_string()),
        "{tools:?}"
    );
    assert!(
        !tools.contains(&"scaffolder_execute_template".to_string()),
        "{tools:?}"
    );
    assert!(
        !tools.contains(&"catalog_unregister_entity".to_string()),
        "{tools:?}"
    );
    let (_, refused) = call_as(
        &app,
        "autonomous-token-0001",
        "scaffolder_execute_template",
        json!({"templateRef": "template:default/rust-service", "values": {}}),
    )
    .await;
    let text = refused["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains(
            "rule autonomous-agents-never-destroy (Art. 14(4)) allows non-destructive tools"
        ),
        "{text}"
    );

    // The coding agent runs the golden path; the task is its own and the new component arrives.
    let (_, started) = call_as(&app, "coding-agent-token-0001", "scaffolder_execute_template", json!({
            "templateRef": "template:default/rust-service",
            "values": {"name": "agent-made", "owner": "group:default/team-platform", "description": "Made by an agent"}}))
    .await;
    let task = started["result"]["structuredContent"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"))
        .to_string();
    let completed = app
        .eventually(60, || async {
            let (_, logs) = call_as(
                &app,
                "coding-agent-token-0001",
                "scaffolder_get_scaffolder_task_logs",
                json!({"taskId": task}),
            )
            .await;
            logs["result"]["structuredContent"]["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["type"] == "completion"))
        })
        .await;
    assert!(completed, "the task completed");
    let (_, owned) = call_as(
        &app,
        "coding-agent-token-0001",
        "scaffolder_list_scaffolder_tasks",
        json!({"owned": true}),
    )
    .await;
    let tasks = &owned["result"]["structuredContent"];
    assert_eq!(tasks["totalTasks"], 1, "{tasks}");
    assert_eq!(tasks["tasks"][0]["status"], "completed", "{tasks}");
    let arrived = app
        .eventually(30, || async {
            app.entity("component", "agent-made").await.is_some()
        })
        .await;
    assert!(arrived, "the scaffolded component is in the catalog");
}

#[tokio::test]
async fn cairns_own_tools_answer_what_its_api_answers() {
    let app = crate::support::spawn_with(
        &[],
        crate::support::Options {
            catalog_target: Some(crate::support::repo_root().join("catalog-examples/all.yaml")),
            extra_targets: vec![crate::support::repo_root().join("scorecards/all.yaml")],
            extra_config: AGENT_TOKENS.into(),
            ..Default::default()
        },
    )
    .await;
    app.settled().await;
    let tool = |name: &'static str, arguments: Value| {
        let app = &app;
        async move {
            let (_, v) = call_as(app, "a-person-token-000001", name, json!(arguments)).await;
            assert_ne!(v["result"]["isError"], true, "{name}: {v}");
            v["result"]["structuredContent"].clone()
        }
    };

    let cards = tool(
        "cairn_get_entity_scorecards",
        json!({"entityRef": "aiagent:default/credit-scorer"}),
    )
    .await;
    let (_, api) = app
        .get_cairn("/entities/aiagent/default/credit-scorer/scorecards")
        .await;
    assert_eq!(cards["items"], api["items"]);
    assert!(!cards["items"].as_array().unwrap().is_empty(), "{cards}");

    let obligations = tool(
        "cairn_get_ai_system_obligations",
        json!({"entityRef": "aiagent:default/credit-scorer"}),
    )
    .await;
    let (_, api) = app
        .get_cairn("/compliance/ai-act/entities/aiagent/default/credit-scorer")
        .await;
    assert_eq!(
        obligations["classification"], api["classification"],
        "{obligations}"
    );
    assert_eq!(obligations["classification"]["tier"], "high-risk");

    let what_if = tool(
        "cairn_classify_ai_system",
        json!({"role": "provider", "answers": {"S1": false}}),
    )
    .await;
    let (_, api) = app
        .post_cairn(
            "/compliance/ai-act/classify",
            json!({"role": "provider", "answers": {"S1": false}}),
        )
        .await;
    assert_eq!(what_if, api);

    let impact = tool(
        "cairn_get_entity_impact",
        json!({"entityRef": "api:default/orders-api"}),
    )
    .await;
    let (_, api) = app
        .get_cairn("/graph/impact?entityRef=api:default/orders-api")
        .await;
    assert_eq!(impact["items"], api["items"], "{impact}");
    assert!(!impact["items"].as_array().unwrap().is_empty());

    // The obligations scorecard asks that an agent's tools be reached through Cairn's MCP server.
    let gov_tools = |agent: &'static str| {
        let app = &app;
        async move {
            let (_, a) = app
                .get_cairn(&format!(
                    "/compliance/ai-act/entities/aiagent/default/{agent}"
                ))
                .await;
            a["obligations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["id"] == "GOV-TOOLS")
                .cloned()
                .unwrap_or_else(|| panic!("{a}"))
        }
    };
    let coding = gov_tools("coding-agent").await;
    assert_eq!(coding["status"], "pass", "{coding}");
    let support = gov_tools("support-assistant").await;
    assert_eq!(support["status"], "fail", "{support}");
    assert!(support["missing"][0]
        .as_str()
        .unwrap()
        .contains("api:default/cairn-mcp"));

    // Tech Insights' actions answer what its API answers.
    let checks = tool("tech_insights_get_checks", json!({})).await;
    let api: Value = app
        .client
        .get(format!("{}/api/tech-insights/checks", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(checks["checks"], api);
    let first = api[0]["id"].as_str().unwrap().to_string();
    let run = tool(
        "tech_insights_run_checks",
        json!({"entityRef": "component:default/checkout-service"}),
    )
    .await;
    let api: Value = app
        .client
        .post(format!(
            "{}/api/tech-insights/checks/run/default/component/checkout-service",
            app.url
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["results"], api);
    assert!(!api.as_array().unwrap().is_empty());
    let one = tool(
        "tech_insights_run_checks",
        json!({"entityRef": "component:default/checkout-service", "checks": [first]}),
    )
    .await;
    assert!(one["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["check"]["id"] == first.as_str()));
    let card = tool(
        "tech_insights_get_entity_scorecard",
        json!({"entityRef": "component:default/checkout-service"}),
    )
    .await;
    let items = card["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{card}");
    let counted: usize = items
        .iter()
        .map(|i| i["passed"].as_array().unwrap().len() + i["failed"].as_array().unwrap().len())
        .sum();
    assert_eq!(counted, api.as_array().unwrap().len());
    for i in items {
        let lowest_failing = i["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["rank"].as_u64().unwrap())
            .min();
        if let Some(f) = lowest_failing {
            assert!(i["rank"].as_u64().unwrap() < f, "{i}");
        }
    }
    let (_, missing) = call_as(
        &app,
        "a-person-token-000001",
        "tech_insights_run_checks",
        json!({"entityRef": "component:default/nope"}),
    )
    .await;
    assert_eq!(missing["result"]["isError"], true, "{missing}");
    assert!(missing["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("NotFoundError"));
}

#[tokio::test]
async fn an_agent_over_its_rate_limit_is_refused_and_its_calls_are_counted() {
    let app = crate::support::spawn_with(
        &[],
        crate::support::Options {
            catalog_target: Some(crate::support::repo_root().join("catalog-examples/all.yaml")),
            extra_config: format!(
                "{AGENT_TOKENS}mcpActions:\n  agentRateLimit: {{calls: 3, perSeconds: 3600}}\n"
            ),
            ..Default::default()
        },
    )
    .await;
    let mut texts = Vec::new();
    for _ in 0..4 {
        let (_, v) = call_as(&app, "coding-agent-token-0001", "cairn_who_am_i", json!({})).await;
        texts.push((
            v["result"]["isError"] == true,
            v["result"]["content"][0]["text"].clone(),
        ));
    }
    assert!(texts[..3].iter().all(|(error, _)| !error), "{texts:?}");
    let (refused, text) = &texts[3];
    assert!(refused, "{texts:?}");
    assert!(
        text.as_str().unwrap().starts_with(
            "NotAllowedError: aiagent:default/coding-agent is over its rate limit of 3 calls per 3600 s"
        ),
        "{text}"
    );
    // A person is not limited by the agents' limit.
    for _ in 0..4 {
        let (_, v) = call_as(&app, "a-person-token-000001", "cairn_who_am_i", json!({})).await;
        assert_ne!(v["result"]["isError"], true, "{v}");
    }
    let metrics = app.metrics().await;
    for line in [
        "cairn_mcp_tool_calls_total{agent=\"aiagent:default/coding-agent\",tool=\"cairn:who-am-i\",outcome=\"ok\"} 3",
        "cairn_mcp_tool_calls_total{agent=\"aiagent:default/coding-agent\",tool=\"cairn:who-am-i\",outcome=\"NotAllowedError\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_named_server_offers_the_tools_its_filter_keeps() {
    let app = crate::support::spawn_with(
        &[("all.yaml", BASIC_CATALOG)],
        crate::support::Options {
            extra_config: "mcpActions:\n  servers:\n    readers:\n      name: Cairn catalog, read-only\n      filter:\n        include: [{id: 'catalog:*'}]\n        exclude: [{attributes: {readOnly: false}}]\n".into(),
            ..Default::default()
        },
    )
    .await;
    let post = |path: &'static str, method: &'static str, params: Value| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(format!("{}/api/mcp-actions{path}", app.url))
                .header("accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (_, init) = post(
        "/v1/readers",
        "initialize",
        json!({"protocolVersion": "2025-06-18"}),
    )
    .await;
    assert_eq!(
        init["result"]["serverInfo"]["name"],
        "Cairn catalog, read-only"
    );
    let (_, list) = post("/v1/readers", "tools/list", json!({})).await;
    let mut names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "catalog_get_catalog_entity",
            "catalog_get_catalog_model_description",
            "catalog_query_catalog_entities",
            "catalog_validate_entity"
        ]
    );
    let (_, refused) = post(
        "/v1/readers",
        "tools/call",
        json!({"name": "catalog_register_entity", "arguments": {"locationUrl": "file:///x"}}),
    )
    .await;
    assert_eq!(
        refused["result"]["content"][0]["text"],
        "NotFoundError: Action \"catalog_register_entity\" not found"
    );
    // The default server still offers everything; an unknown key is not a server.
    let (_, all) = post("/v1", "tools/list", json!({})).await;
    assert!(all["result"]["tools"].as_array().unwrap().len() > names.len());
    let (status, body) = post("/v1/nope", "tools/list", json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["name"], "NotFoundError");
}

const DRY_TEMPLATE: &str = "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: hello}\nspec:\n  type: service\n  parameters:\n    - {properties: {name: {type: string}}, required: [name]}\n  steps:\n    - {id: say, name: Say hello, action: 'debug:log', input: {message: 'hello ${{ parameters.name }}'}}\n";

#[tokio::test]
async fn dry_run_template_validates_and_runs_a_template_without_publishing() {
    let app = spawn(&[("all.yaml", BASIC_CATALOG)]).await;
    let ok = call(
        &app,
        "scaffolder_dry_run_template",
        json!({"templateYaml": DRY_TEMPLATE, "values": {"name": "world"}}),
    )
    .await["structuredContent"]
        .clone();
    assert_eq!(ok["valid"], true, "{ok}");
    assert_eq!(
        ok["steps"],
        json!([{"id": "say", "name": "Say hello", "action": "debug:log"}])
    );
    assert!(
        ok["log"].as_array().unwrap().iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("hello world"))),
        "{ok}"
    );
    let missing = call(
        &app,
        "scaffolder_dry_run_template",
        json!({"templateYaml": DRY_TEMPLATE, "values": {}}),
    )
    .await["structuredContent"]
        .clone();
    assert_eq!(missing["valid"], false, "{missing}");
    assert!(!missing["errors"].as_array().unwrap().is_empty());
    let yaml = call(
        &app,
        "scaffolder_dry_run_template",
        json!({"templateYaml": "kind: [Template"}),
    )
    .await["structuredContent"]
        .clone();
    assert_eq!(yaml["message"], "Failed to parse YAML template", "{yaml}");
}
