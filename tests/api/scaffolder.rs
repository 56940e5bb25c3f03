//! The scaffolder end to end: a shipped template run through the API, its files pushed to a
//! real bare repository, and the new component in the catalog.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::{root_location, spawn_with, Options, TestApp};

const TEAM: &str = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-a}\nspec: {type: team, children: []}\n";

async fn app(extra: &str) -> (TestApp, PathBuf) {
    let repos = tempfile::tempdir().unwrap().keep();
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/all.yaml");
    let app = spawn_with(
        &[
            ("all.yaml", &root_location(&["team.yaml"])),
            ("team.yaml", TEAM),
        ],
        Options {
            extra_config: format!(
                "scaffolder:\n  publish:\n    hosts:\n      - {{host: local, root: {}}}\n{extra}",
                repos.display()
            ),
            extra_targets: vec![templates],
            ..Default::default()
        },
    )
    .await;
    (app, repos)
}

async fn scaffolder_post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}/api/scaffolder/v2{path}", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn scaffolder_get(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}/api/scaffolder/v2{path}", app.url))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Creates a task once its template has been ingested (the catalog may lag the file write);
/// returns the task id.
async fn create_when_ingested(app: &TestApp, body: Value) -> String {
    for _ in 0..50 {
        let (status, created) = scaffolder_post(app, "/tasks", body.clone()).await;
        if status == 201 {
            return created["id"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the template was not ingested: {body}");
}

/// Reads the SSE stream to its end; the server closes it after the completion.
async fn stream(app: &TestApp, id: &str, after: Option<i64>) -> Vec<(String, Value)> {
    let q = after.map(|a| format!("?after={a}")).unwrap_or_default();
    let r = app
        .client
        .get(format!(
            "{}/api/scaffolder/v2/tasks/{id}/eventstream{q}",
            app.url
        ))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = tokio::time::timeout(std::time::Duration::from_secs(60), r.text())
        .await
        .expect("the stream ends after the completion")
        .unwrap();
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut lines = block.lines();
            let event = lines
                .next()
                .unwrap()
                .strip_prefix("event: ")
                .unwrap()
                .to_string();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            (event, serde_json::from_str(data).unwrap())
        })
        .collect()
}

fn file_in(repo: &Path, path: &str) -> String {
    let repo = git2::Repository::open_bare(repo).unwrap();
    let head = repo
        .find_reference("refs/heads/main")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let id = head.tree().unwrap().get_path(Path::new(path)).unwrap().id();
    let blob = repo.find_blob(id).unwrap();
    let text = String::from_utf8(blob.content().to_vec()).unwrap();
    text
}

#[tokio::test]
async fn a_template_runs_end_to_end_publishes_to_git_and_registers_the_component() {
    let (app, repos) = app("").await;
    let (status, schema) = scaffolder_get(
        &app,
        "/templates/default/Template/rust-service/parameter-schema",
    )
    .await;
    assert_eq!(status, 200, "{schema}");
    assert_eq!(schema["title"], "Rust service (actix-web)");
    assert_eq!(schema["steps"].as_array().unwrap().len(), 2);

    let (status, created) = scaffolder_post(
        &app,
        "/tasks",
        json!({"templateRef": "template:default/rust-service",
               "values": {"name": "orders-api", "owner": "group:default/team-a", "description": "Takes orders"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let events = stream(&app, &id, None).await;
    let (last_type, completion) = events.last().unwrap();
    assert_eq!(last_type, "completion", "{events:?}");
    assert_eq!(
        completion["body"]["message"], "Run completed with status: completed",
        "{events:?}"
    );
    assert_eq!(
        events[0].1["body"]["message"],
        "Starting up task with 4 steps"
    );
    let ids: Vec<i64> = events
        .iter()
        .map(|(_, e)| e["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for step in ["fetch", "catalog", "publish", "register"] {
        let statuses: Vec<&str> = events
            .iter()
            .filter(|(_, e)| e["body"]["stepId"] == step)
            .filter_map(|(_, e)| e["body"]["status"].as_str())
            .collect();
        assert_eq!(
            statuses,
            vec!["processing", "completed"],
            "{step}: {events:?}"
        );
    }
    let links = &completion["body"]["output"]["links"];
    let bare = repos.join("services/orders-api.git");
    assert_eq!(links[0]["url"], format!("file://{}", bare.display()));
    assert_eq!(
        links[1]["entityRef"], "component:default/orders-api",
        "{links} {events:?}"
    );

    // The published repository holds the rendered skeleton.
    assert!(file_in(&bare, "Cargo.toml").contains("name = \"orders-api\""));
    assert!(file_in(&bare, "README.md").contains("Owned by `group:default/team-a`"));
    assert!(
        file_in(&bare, ".github/workflows/ci.yml").contains("${{ github.event_name == 'push' }}"),
        "workflows are copied without templating"
    );
    let catalog_info = file_in(&bare, "catalog-info.yaml");
    assert!(
        catalog_info.contains("backstage.io/source-template: template:default/rust-service"),
        "{catalog_info}"
    );
    assert!(
        !catalog_info.contains("system:"),
        "an undefined value drops its key: {catalog_info}"
    );

    // The component came in through the crawl of the registered location.
    let (status, entity) = app
        .get("/entities/by-name/component/default/orders-api")
        .await;
    assert_eq!(status, 200, "{entity}");
    assert_eq!(entity["spec"]["owner"], "group:default/team-a");

    // A replay after the third event sends only later events (and the completion).
    let third = ids[2];
    let later = stream(&app, &id, Some(third)).await;
    assert!(later
        .iter()
        .all(|(t, e)| e["id"].as_i64().unwrap() > third || t == "completion"));

    // The task and the list, without secrets.
    let (_, task) = scaffolder_get(&app, &format!("/tasks/{id}")).await;
    assert_eq!(task["status"], "completed");
    assert_eq!(task["createdBy"], "user:default/guest");
    assert!(task["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(task.get("secrets").is_none());
    let (_, list) = scaffolder_get(&app, "/tasks?createdBy=user:default/guest&limit=1").await;
    assert_eq!(list["totalTasks"], 1);

    // The same name again: the repository exists, so the task fails at publish and skips the rest.
    let (_, again) = scaffolder_post(
        &app,
        "/tasks",
        json!({"templateRef": "template:default/rust-service",
               "values": {"name": "orders-api", "owner": "group:default/team-a"}}),
    )
    .await;
    let events = stream(&app, again["id"].as_str().unwrap(), None).await;
    let completion = &events.last().unwrap().1;
    assert!(
        completion["body"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{completion}"
    );
    assert!(events
        .iter()
        .any(|(_, e)| e["body"]["stepId"] == "register" && e["body"]["status"] == "skipped"));
}

#[tokio::test]
async fn bad_requests_get_backstage_errors() {
    let (app, _) = app("").await;
    let (status, body) = scaffolder_post(
        &app,
        "/tasks",
        json!({"templateRef": "template:default/rust-service", "values": {"name": "Not Valid!"}}),
    )
    .await;
    assert_eq!(status, 400);
    let errors = body["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["name"] == "required"), "{body}");
    assert!(
        errors
            .iter()
            .any(|e| e["property"] == "instance.name" && e["name"] == "pattern"),
        "{body}"
    );

    let (status, body) = scaffolder_get(
        &app,
        "/templates/default/component/rust-service/parameter-schema",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        scaffolder_get(&app, "/templates/default/template/nope/parameter-schema").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["name"], "NotFoundError");
    let (status, _) = scaffolder_get(&app, "/tasks/unknown").await;
    assert_eq!(status, 404);
    let (status, _) = scaffolder_get(&app, "/tasks?order=sideways:created_at").await;
    assert_eq!(status, 400);
    let (status, _) = scaffolder_post(
        &app,
        "/autocomplete/github/repos",
        json!({"token": "t", "context": {}}),
    )
    .await;
    assert_eq!(status, 400);
}

fn dry_run_body(steps: Value, files: &[(&str, &str)]) -> Value {
    use base64::Engine;
    json!({
        "template": {"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template",
                     "metadata": {"name": "t"},
                     "spec": {"type": "service", "parameters": [{"properties": {"name": {"type": "string"}}}],
                              "steps": steps,
                              "output": {"links": [{"title": "x", "url": "${{ parameters.name }}", "if": "${{ parameters.name == 'svc' }}"},
                                                   {"title": "hidden", "url": "y", "if": false}]}}},
        "values": {"name": "svc"},
        "directoryContents": files.iter().map(|(p, c)| json!({"path": p, "base64Content": base64::engine::general_purpose::STANDARD.encode(c)})).collect::<Vec<_>>(),
    })
}

fn decoded(result: &Value, path: &str) -> Option<String> {
    use base64::Engine;
    result["directoryContents"]
        .as_array()?
        .iter()
        .find(|f| f["path"] == path)
        .map(|f| {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(f["base64Content"].as_str().unwrap())
                    .unwrap(),
            )
            .unwrap()
        })
}

#[tokio::test]
async fn dry_run_renders_the_backstage_dialect() {
    let (app, _) = app("").await;
    let steps = json!([
        {"id": "fetch", "action": "fetch:template", "input": {"url": "./skeleton", "values": {"name": "${{ parameters.name }}", "tags": ["a", "b"], "on": true}}},
        {"id": "each", "action": "debug:log", "each": ["x", "y"], "input": {"message": "item ${{ each.value }}"}},
        {"id": "skipped", "if": "${{ parameters.name == 'other' }}", "action": "debug:log", "input": {"message": "never"}},
        {"id": "rename", "action": "fs:rename", "input": {"files": [{"from": "svc/old.txt", "to": "svc/new.txt"}]}},
        {"id": "write", "action": "catalog:write", "input": {"entity": {"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "${{ parameters.name }}"}, "spec": {"tags": "${{ steps.fetch.output.none }}"}}}},
        {"id": "publish", "action": "publish:git", "input": {"repoUrl": "local?owner=o&repo=r"}},
    ]);
    let files = [
        ("template.yaml", "ignored"),
        ("skeleton/${{ values.name }}/README.md", "# ${{ values.name }}\n{% for t in values.tags %}- ${{ t }}\n{% endfor %}${{ values.tags | dump }}\n"),
        ("skeleton/${{ values.name }}/old.txt", "x"),
        ("skeleton/${{ 'extra.txt' if values.off }}", "skipped"),
        ("skeleton/binary.bin", "\u{0}${{ values.name }}"),
    ];
    let (status, result) = scaffolder_post(&app, "/dry-run", dry_run_body(steps, &files)).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        decoded(&result, "svc/README.md").unwrap(),
        "# svc\n- a\n- b\n[\"a\",\"b\"]\n"
    );
    assert!(decoded(&result, "svc/new.txt").is_some());
    assert!(
        decoded(&result, "extra.txt").is_none(),
        "an empty rendered path skips the file"
    );
    assert_eq!(
        decoded(&result, "binary.bin").unwrap(),
        "\u{0}${{ values.name }}"
    );
    let info = decoded(&result, "catalog-info.yaml").unwrap();
    assert!(
        info.contains("backstage.io/source-template: template:default/dry-run"),
        "{info}"
    );
    let messages: Vec<&str> = result["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["body"]["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"item x") && messages.contains(&"item y"),
        "{messages:?}"
    );
    assert!(messages.contains(&"Skipping step skipped because its if condition was false"));
    assert!(
        messages.contains(&"Skipping because publish:git does not support dry-run"),
        "{messages:?}"
    );
    assert_eq!(
        result["output"]["links"],
        json!([{"title": "x", "url": "svc"}])
    );
    assert_eq!(result["steps"][0]["name"], "fetch:template");

    // Escapes and limits fail the run with a clear message.
    for (steps, expected) in [
        (
            json!([{"id": "a", "action": "fs:rename", "input": {"files": [{"from": "../x", "to": "y"}]}}]),
            "outside",
        ),
        (
            json!([{"id": "a", "action": "fetch:plain", "input": {"url": "/etc"}}]),
            "Absolute",
        ),
        (
            json!([{"id": "a", "action": "debug:wait", "input": {"minutes": 11}}]),
            "Skipping because debug:wait",
        ),
        (
            json!([{"id": "a", "action": "nope:nope"}]),
            "is not registered",
        ),
        (
            json!([{"id": "a", "action": "debug:log", "input": {"message": 3}}]),
            "Invalid input passed to action debug:log",
        ),
        (
            json!([{"id": "a", "action": "debug:log", "input": {"message": "${{ range(100000) | map('string') | join(',') | length > 0 and range(100000000) | list | length }}"}}]),
            "ran too long",
        ),
    ] {
        let (status, result) = scaffolder_post(&app, "/dry-run", dry_run_body(steps, &[])).await;
        assert_eq!(status, 200, "{result}");
        let log = result["log"].to_string();
        assert!(
            log.contains(expected) || (expected == "ran too long" && log.contains("too many")),
            "{expected}: {log}"
        );
    }
}

const WAITING: &str = r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: waiting}
spec:
  type: service
  secrets: {schema: {required: [TOKEN], properties: {TOKEN: {type: string}}}}
  steps:
    - {id: say, action: debug:log, input: {message: "token is ${{ secrets.TOKEN }}"}}
    - {id: wait, action: debug:wait, input: {seconds: 30}}
    - {id: after, action: debug:log, input: {message: never}}
"#;

#[tokio::test]
async fn cancelling_a_running_task_stops_it_and_secrets_are_masked_and_cleared() {
    let (app, _) = app("").await;
    app.write("waiting.yaml", WAITING);
    app.write("all.yaml", root_location(&["team.yaml", "waiting.yaml"]));
    app.refresh_root().await;
    let (status, body) = scaffolder_post(
        &app,
        "/tasks",
        json!({"templateRef": "template:default/waiting", "values": {}}),
    )
    .await;
    assert_eq!(status, 400, "the secrets schema is checked: {body}");
    let id = create_when_ingested(
        &app,
        json!({"templateRef": "template:default/waiting", "values": {}, "secrets": {"TOKEN": "s3cr3t-value"}}),
    )
    .await;
    // Cancelled while it waits, after its first step logged (with the secret masked).
    assert!(
        app.eventually(10, || async {
            scaffolder_get(&app, &format!("/tasks/{id}/events"))
                .await
                .1
                .to_string()
                .contains("token is ***")
        })
        .await
    );
    let db = cairn::storage::Db::connect(&app.dir.path().join("cairn.sqlite").to_string_lossy())
        .unwrap();
    assert_eq!(
        db.task(&id).unwrap().unwrap().secrets_json,
        None,
        "cleared when claimed"
    );
    let (status, body) = scaffolder_post(&app, &format!("/tasks/{id}/cancel"), json!({})).await;
    assert_eq!((status, body), (200, json!({"status": "cancelled"})));
    let events = stream(&app, &id, None).await;
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("s3cr3t-value"), "{text}");
    assert!(text.contains("token is ***"), "{text}");
    assert!(events.iter().any(|(t, _)| t == "cancelled"), "{text}");
    let completion = &events.last().unwrap().1;
    assert!(
        completion["body"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has been cancelled"),
        "{completion}"
    );
    assert!(events
        .iter()
        .any(|(_, e)| e["body"]["stepId"] == "after" && e["body"]["status"] == "skipped"));
    assert_eq!(
        scaffolder_get(&app, &format!("/tasks/{id}")).await.1["status"],
        "cancelled"
    );
    let (status, _) = scaffolder_post(&app, &format!("/tasks/{id}/retry"), json!({})).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_template_from_a_git_repository_renders_its_skeleton_from_the_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let repo = crate::git::WorkRepo::init(&dir.path().join("templates"));
    repo.write(
        "tpl/template.yaml",
        r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: from-git}
spec:
  type: service
  parameters: [{required: [name], properties: {name: {type: string}}}]
  steps:
    - {id: fetch, action: fetch:template, input: {url: ./skeleton, values: {name: "${{ parameters.name }}"}}}
    - {id: publish, action: publish:git, input: {repoUrl: "local?owner=git&repo=${{ parameters.name }}"}}
"#,
    );
    repo.write("tpl/skeleton/hello.txt", "hello ${{ values.name }}\n");
    repo.write("tpl/skeleton/notes.md.hbs", "# {{values.name}}\n");
    repo.commit("a template");
    let (app, repos) = app(&format!(
        "cairn:\n  sources:\n    git:\n      - id: templates\n        url: {}\n        paths: ['**/template.yaml']\n",
        repo.url()
    ))
    .await;
    let id = create_when_ingested(
        &app,
        json!({"templateRef": "template:default/from-git", "values": {"name": "gitsvc"}}),
    )
    .await;
    let events = stream(&app, &id, None).await;
    let completion = &events.last().unwrap().1;
    assert_eq!(
        completion["body"]["message"], "Run completed with status: completed",
        "{events:?}"
    );
    let bare = repos.join("git/gitsvc.git");
    assert_eq!(file_in(&bare, "hello.txt"), "hello gitsvc\n");
    assert_eq!(
        file_in(&bare, "notes.md"),
        "# gitsvc\n",
        "handlebars for .hbs files"
    );
}

#[tokio::test]
async fn after_a_restart_interrupted_tasks_fail_or_start_over() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir
        .path()
        .join("shared.sqlite")
        .to_string_lossy()
        .to_string();
    let db = cairn::storage::Db::connect(&db_path).unwrap();
    db.migrate().unwrap();
    let spec = |recovery: Value| {
        json!({"apiVersion": "scaffolder.backstage.io/v1beta3", "parameters": {},
               "steps": [{"id": "hello", "name": "hello", "action": "debug:log", "input": {"message": "hi"}}],
               "output": {}, "user": {"ref": "user:default/guest"},
               "templateInfo": {"entityRef": "template:default/x"}, "EXPERIMENTAL_recovery": recovery})
        .to_string()
    };
    for (id, recovery) in [
        ("plain", json!({})),
        ("again", json!({"EXPERIMENTAL_strategy": "startOver"})),
    ] {
        db.insert_task(&cairn::storage::TaskRow {
            id: id.into(),
            spec_json: spec(recovery),
            status: "processing".into(),
            created_at: 1_700_000_000_000,
            last_heartbeat_at: Some(1_700_000_000_000),
            created_by: Some("user:default/guest".into()),
            secrets_json: Some("{\"TOKEN\":\"x\"}".into()),
        })
        .unwrap();
    }
    drop(db);
    let app = spawn_with(
        &[
            ("all.yaml", &root_location(&["team.yaml"])),
            ("team.yaml", TEAM),
        ],
        Options {
            database_url: Some(db_path.clone()),
            ..Default::default()
        },
    )
    .await;
    let plain = stream(&app, "plain", None).await;
    let message = plain.last().unwrap().1["body"]["error"]["message"].clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("Cairn stopped while it ran"),
        "{plain:?}"
    );
    assert_eq!(
        scaffolder_get(&app, "/tasks/plain").await.1["status"],
        "failed"
    );
    // A recoverable task's SSE stream stays open after its completion (as Backstage's): poll.
    assert!(
        app.eventually(10, || async {
            scaffolder_get(&app, "/tasks/again").await.1["status"] == "completed"
        })
        .await
    );
    let (_, again) = scaffolder_get(&app, "/tasks/again/events").await;
    assert_eq!(again[0]["type"], "recovered", "{again}");
    assert_eq!(again[0]["isTaskRecoverable"], true);
    let db = cairn::storage::Db::connect(&db_path).unwrap();
    assert_eq!(db.task("plain").unwrap().unwrap().secrets_json, None);
    assert_eq!(
        db.task("again").unwrap().unwrap().secrets_json,
        None,
        "cleared at the end"
    );
}

#[tokio::test]
async fn the_ai_agent_golden_path_produces_its_evidence_and_a_dry_run_over_10_mb_is_refused() {
    let (app, repos) = app("").await;
    let (status, created) = scaffolder_post(
        &app,
        "/tasks",
        json!({"templateRef": "template:default/ai-agent",
               "values": {"name": "triage-bot", "owner": "group:default/team-a", "purpose": "Sorts tickets"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let events = stream(&app, created["id"].as_str().unwrap(), None).await;
    let completion = &events.last().unwrap().1;
    assert_eq!(
        completion["body"]["output"]["links"][1]["entityRef"], "aiagent:default/triage-bot",
        "{events:?}"
    );
    let bare = repos.join("ai/triage-bot.git");
    assert!(file_in(&bare, "MODEL_CARD.md").contains("Sorts tickets"));
    assert!(file_in(&bare, "logging.yaml").contains("retentionDays: 180"));
    let ci = file_in(&bare, ".github/workflows/ci.yml");
    assert!(
        ci.contains("bias-check") && ci.contains("${{ secrets.CAIRN_TOKEN }}"),
        "{ci}"
    );
    let (status, agent) = app
        .get("/entities/by-name/aiagent/default/triage-bot")
        .await;
    assert_eq!(status, 200, "{agent}");
    assert_eq!(
        agent["metadata"]["annotations"]["cairn.dev/model-card"],
        "./MODEL_CARD.md"
    );
    assert_eq!(agent["spec"]["aiAct"]["answers"]["T1"], true);

    // The ai-agent template is mandatory for high-risk systems: others are refused with 403.
    for values in [
        json!({"name": "scorer", "owner": "group:default/team-a", "riskTier": "high-risk"}),
        json!({"name": "scorer", "owner": "group:default/team-a", "aiAct": {"role": "provider", "answers": {
            "S1": true, "S2": false, "S3": true, "P1": false, "P2": false, "P3": false, "P4": false, "P5": false,
            "P6": false, "P7": false, "P8": false, "P9": false, "H1": false, "H3": "5b", "H4": [], "H5": false,
            "T1": false, "T2": false, "T3": false, "T4": false, "T5": false, "G1": false}}}),
    ] {
        let (status, body) = scaffolder_post(
            &app,
            "/tasks",
            json!({"templateRef": "template:default/rust-service", "values": values}),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(
                "AI systems of tier high-risk must be created with template:default/ai-agent"
            ),
            "{body}"
        );
    }
    let (status, body) = scaffolder_post(
        &app,
        "/tasks",
        json!({"templateRef": "template:default/rust-service", "values": {"name": "xy", "owner": "group:default/team-a", "riskTier": "prohibited"}}),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    let big = "x".repeat(11 << 20);
    let (status, _) = scaffolder_post(&app, "/dry-run", json!({"template": {}, "values": {}, "directoryContents": [{"path": "a", "base64Content": big}]})).await;
    assert_eq!(status, 413);
}

const BAD_STEPS: &str = r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: long-wait}
spec:
  type: service
  steps: [{id: wait, action: debug:wait, input: {minutes: 11}}]
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: other-host}
spec:
  type: service
  steps: [{id: publish, action: publish:git, input: {repoUrl: "github.com?owner=o&repo=r"}}]
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: climbing-owner}
spec:
  type: service
  steps: [{id: publish, action: publish:git, input: {repoUrl: "local?owner=..&repo=r"}}]
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: escaping-skeleton}
spec:
  type: service
  steps: [{id: fetch, action: fetch:template, input: {url: ../../, targetPath: ./x}}]
"#;

#[tokio::test]
async fn bad_steps_fail_their_task_with_a_clear_message_and_write_nothing_outside() {
    let (app, repos) = app("").await;
    app.write("bad.yaml", BAD_STEPS);
    app.write("all.yaml", root_location(&["team.yaml", "bad.yaml"]));
    app.refresh_root().await;
    for (template, expected) in [
        (
            "long-wait",
            "longer than the maximum threshold of 10 minutes",
        ),
        (
            "other-host",
            "No publish root is configured for host github.com",
        ),
        ("climbing-owner", "owner \"..\" must be a plain name"),
        ("escaping-skeleton", "outside its parent"),
    ] {
        let id = create_when_ingested(
            &app,
            json!({"templateRef": format!("template:default/{template}"), "values": {}}),
        )
        .await;
        let events = stream(&app, &id, None).await;
        let error = events.last().unwrap().1["body"]["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(error.contains(expected), "{template}: {error}");
    }
    assert!(
        std::fs::read_dir(&repos).unwrap().next().is_none(),
        "nothing was published"
    );
}
