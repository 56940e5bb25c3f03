//! The OpenAPI documents: every registered route is in its plugin's document, and schemathesis
//! (from PyPI) drives the running server from those documents and finds no server error and no
//! response that contradicts them.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use crate::support::{repo_root, spawn_with, Options};

/// The documents Cairn serves, one per mount.
const DOCUMENTS: &[(&str, &str)] = &[
    ("/api/catalog", "/api/catalog/openapi.json"),
    ("/api/scaffolder", "/api/scaffolder/openapi.json"),
    ("/api/tech-insights", "/api/tech-insights/openapi.json"),
    ("/api/cairn", "/api/cairn/openapi.json"),
    ("/api/mcp-actions", "/api/mcp-actions/openapi.json"),
    ("/api/auth", "/api/auth/openapi.json"),
    ("/api/permission", "/api/permission/openapi.json"),
    ("/api/search", "/api/search/openapi.json"),
    ("/api/techdocs", "/api/techdocs/openapi.json"),
    ("/api/user-settings", "/api/user-settings/openapi.json"),
    ("/api/notifications", "/api/notifications/openapi.json"),
    ("", "/openapi.json"),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_route_is_documented_in_its_plugins_document() {
    let routes = cairn::api::routes();
    let undocumented: Vec<String> = routes
        .iter()
        .filter(|r| r.doc.is_none())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        undocumented.is_empty(),
        "routes without a Doc: {undocumented:?}"
    );
    let app = spawn_with(&[], Options::default()).await;
    let mut seen = BTreeSet::new();
    for (mount, url) in DOCUMENTS {
        let (status, doc) = app.get_raw_json(url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(doc["openapi"], "3.1.0", "{url}");
        let server = if mount.is_empty() { "/" } else { mount };
        assert_eq!(doc["servers"][0]["url"], server, "{url}");
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                seen.insert(format!("{} {mount}{path}", method.to_uppercase()));
            }
        }
    }
    let registered: BTreeSet<String> = routes
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(seen, registered, "the documents and the route table differ");
    // A query parameter the handler refuses is not documented, and one it accepts is.
    let (status, _) = app.get("/entities?nope=1").await;
    assert_eq!(status, 400);
    let (_, doc) = app.get_raw_json("/api/catalog/openapi.json").await;
    let names: Vec<&str> = doc["paths"]["/entities"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"filter") && !names.contains(&"nope"),
        "{names:?}"
    );
}

/// schemathesis in a virtualenv under `target/`, installed on first use.
fn schemathesis() -> Option<PathBuf> {
    let venv = repo_root().join("target/schemathesis");
    let bin = venv.join("bin/schemathesis");
    if bin.exists() {
        return Some(bin);
    }
    let python = ["python3", "python"].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    let ok = Command::new(python)
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "-r"])
            .arg(repo_root().join("tests/openapi/requirements.txt"))
            .status()
            .is_ok_and(|s| s.success());
    ok.then_some(bin)
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_error_and_no_response_contradicting_the_documents() {
    let Some(bin) = tokio::task::spawn_blocking(schemathesis).await.unwrap() else {
        crate::support::unavailable("python3 with pip is needed to install schemathesis");
        return;
    };
    let repos = tempfile::tempdir().unwrap();
    let app = spawn_with(
        &[],
        Options {
            catalog_target: Some(repo_root().join("catalog-examples/all.yaml")),
            extra_targets: vec![
                repo_root().join("scorecards/all.yaml"),
                repo_root().join("templates/all.yaml"),
            ],
            extra_config: format!(
                "scaffolder:\n  publish:\n    hosts:\n      - {{host: local, root: {}}}\n",
                repos.path().display()
            ),
            ..Default::default()
        },
    )
    .await;
    app.settled().await;
    let mut failures = Vec::new();
    for (_, document) in DOCUMENTS {
        let url = format!("{}{document}", app.url);
        let origin = app.url.clone();
        let (bin, cwd) = (bin.clone(), app.dir.path().to_path_buf());
        let out = tokio::task::spawn_blocking(move || {
            Command::new(bin)
                .args(["run", &url, "--origin", &origin])
                .args([
                    "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                    "--phases",
                    "examples,coverage,fuzzing",
                    "--max-examples",
                    "25",
                    // One worker: with two, CPython 3.11 sometimes fails compiling schemathesis's own
                    // code in two threads at once ("AST constructor recursion depth mismatch").
                    "--workers",
                    "1",
                    "--request-timeout",
                    "20",
                    "--seed",
                    "1",
                    "--suppress-health-check",
                    "all",
                    "--warnings",
                    "off",
                ])
                // A registered `file` location may name any directory on this machine; `settled`
                // waits and `events` streams on purpose: each is covered by its own tests.
                .args(["--exclude-path-regex", "^/locations$|^/settled$|^/events$"])
                .current_dir(cwd)
                .env("NO_COLOR", "1")
                .env("SCHEMATHESIS_TELEMETRY", "false")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        println!("== {document}\n{stdout}");
        if !out.status.success() {
            failures.push(format!(
                "{document}:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
