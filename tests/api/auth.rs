//! Access control from Backstage's own settings.

use serde_json::json;

use crate::support::{root_location, spawn_with, Options};

const LOCKED: &str = "backend:\n  auth:\n    dangerouslyDisableDefaultAuthPolicy: false\n    externalAccess:\n      - type: static\n        options: {token: s3cr3t-token-value, subject: ci}\n";

#[tokio::test]
async fn writes_need_a_static_token_and_reads_stay_open() {
    let app = spawn_with(
        &[("all.yaml", &root_location(&[]))],
        Options {
            extra_config: LOCKED.into(),
            ..Default::default()
        },
    )
    .await;
    let url = format!("{}/api/catalog/refresh", app.url);
    let body = json!({"entityRef": "component:default/x"});
    let r = app.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["error"],
        json!({"name": "AuthenticationError", "message": "Missing credentials"})
    );
    let r = app
        .client
        .post(&url)
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .post(&url)
        .bearer_auth("s3cr3t-token-value")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "authorised, and the entity does not exist");
    let r = app
        .client
        .get(format!("{}/api/catalog/entities", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn protect_reads_requires_a_token_for_reads_too() {
    let extra = format!("{LOCKED}cairn:\n  auth:\n    protectReads: true\n");
    let app = spawn_with(
        &[("all.yaml", &root_location(&[]))],
        Options {
            extra_config: extra,
            ..Default::default()
        },
    )
    .await;
    let url = format!("{}/api/catalog/entities", app.url);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth("s3cr3t-token-value")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Health endpoints stay open.
    assert_eq!(
        app.client
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

const AGENT: &str = r#"apiVersion: cairn.dev/v1alpha1
kind: AIAgent
metadata: {name: bot}
spec: {type: assistant, lifecycle: production, owner: team-a, aiAct: {role: deployer, answers: {S1: false}}}
"#;

async fn status(app: &crate::support::TestApp, path: &str, token: Option<&str>) -> u16 {
    let mut r = app.client.get(format!("{}{path}", app.url));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn protect_reads_covers_every_page_and_the_technical_file_always_needs_a_token() {
    let technical_file = "/api/cairn/compliance/ai-act/entities/aiagent/default/bot/technical-file";
    for protect_reads in [false, true] {
        let extra = format!("{LOCKED}cairn:\n  auth:\n    protectReads: {protect_reads}\n");
        let app = spawn_with(
            &[
                ("all.yaml", &root_location(&["ai.yaml"])),
                ("ai.yaml", AGENT),
            ],
            Options {
                extra_config: extra,
                ..Default::default()
            },
        )
        .await;
        // Internal documents: a token whenever one is configured, whatever protectReads says.
        assert_eq!(
            status(&app, technical_file, None).await,
            401,
            "protectReads={protect_reads}"
        );
        assert_eq!(
            status(&app, technical_file, Some("s3cr3t-token-value")).await,
            200
        );
        let pages = [
            "/scorecards",
            "/scorecards/entities/aiagent/default/bot",
            "/compliance",
            "/compliance/entities/aiagent/default/bot",
            "/metrics",
            "/api/cairn/compliance/ai-act/entities/aiagent/default/bot",
        ];
        for page in pages {
            let expected = if protect_reads { 401 } else { 200 };
            assert_eq!(
                status(&app, page, None).await,
                expected,
                "{page}, protectReads={protect_reads}"
            );
            assert_eq!(
                status(&app, page, Some("s3cr3t-token-value")).await,
                200,
                "{page}"
            );
        }
        for probe in ["/healthz", "/readyz"] {
            assert_eq!(status(&app, probe, None).await, 200, "{probe} stays open");
        }
    }
}

#[test]
fn only_the_probes_and_sign_in_are_open_and_every_route_declares_its_access() {
    let mut open: Vec<String> = cairn::api::routes()
        .into_iter()
        .filter(|r| r.access == cairn::api::Access::Open)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    open.sort();
    assert_eq!(
        open,
        [
            "GET /api/auth/.well-known/jwks.json",
            "GET /api/auth/.well-known/openid-configuration",
            "GET /api/auth/guest/refresh",
            "GET /api/signals",
            "GET /healthz",
            "GET /readyz",
            "POST /api/auth/guest/refresh",
        ]
    );
}

#[tokio::test]
async fn oversized_request_bodies_are_refused() {
    let app = spawn_with(&[("all.yaml", &root_location(&[]))], Options::default()).await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let r = app
        .client
        .post(format!("{}/api/catalog/validate-entity", app.url))
        .header("content-type", "application/json")
        .body(format!("{{\"entity\":\"{huge}\",\"location\":\"url:x\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // In Backstage's error body, as every other error.
    let v: serde_json::Value = r.json().await.expect("a JSON body");
    assert_eq!(v["error"]["name"], "PayloadTooLargeError", "{v}");
    assert_eq!(v["response"]["statusCode"], 413, "{v}");
    assert_eq!(v["request"]["url"], "/validate-entity", "{v}");
}

/// Sends one raw HTTP/1.1 request, so the path reaches the server exactly as written (an HTTP
/// client would normalise `/./` away), and returns the status.
async fn raw_status(base: &str, method: &str, path: &str, token: Option<&str>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = "{}";
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Only the status line is read: some routes (the change feed) stream without end.
    let mut response = Vec::new();
    let mut chunk = [0u8; 1024];
    while !response.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&response);
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The same route spelt the ways a client or proxy might: the first letter percent-encoded, a
/// doubled slash, a dot segment, upper case, a trailing slash.
fn spellings(path: &str) -> Vec<String> {
    let rest = &path[1..];
    let first = rest.as_bytes()[0];
    let (segment, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let tail = if tail.is_empty() {
        String::new()
    } else {
        format!("/{tail}")
    };
    vec![
        path.to_string(),
        format!("/%{:02X}{}", first, &rest[1..]),
        format!("/%{:02x}{}", first, &rest[1..]),
        format!("/{path}"),
        format!("/{segment}/.{tail}"),
        format!("/{segment}/x/..{tail}"),
        format!("/{}{tail}", segment.to_uppercase()),
        format!("{path}/"),
    ]
}

#[tokio::test]
async fn every_route_refuses_a_missing_or_wrong_token_however_its_path_is_spelt() {
    let routes = cairn::api::routes();
    assert!(routes.len() > 60, "the table lists the registered routes");
    for protect_reads in [false, true] {
        let extra = format!("{LOCKED}cairn:\n  auth:\n    protectReads: {protect_reads}\n");
        let app = spawn_with(
            &[
                ("all.yaml", &root_location(&["basic.yaml"])),
                ("basic.yaml", crate::support::BASIC_CATALOG),
            ],
            Options {
                extra_config: extra,
                ..Default::default()
            },
        )
        .await;
        let entities_before = entity_count(&app).await;
        let mut failures = Vec::new();
        for route in &routes {
            let protected = match route.access {
                cairn::api::Access::Open => false,
                cairn::api::Access::Read => protect_reads,
                cairn::api::Access::Internal | cairn::api::Access::Write => true,
            };
            if !protected {
                continue;
            }
            let path = route.example_path();
            let method = route.method.as_str();
            for spelt in spellings(&path) {
                for token in [None, Some("wrong-token")] {
                    let status = raw_status(&app.url, method, &spelt, token).await;
                    // The canonical spelling and the percent-encoded one reach the route and must be
                    // refused; the others may also not route at all (404), but never get further.
                    let allowed: &[u16] = if spelt == path || spelt.contains('%') {
                        &[401]
                    } else {
                        &[401, 404]
                    };
                    if !allowed.contains(&status) {
                        failures.push(format!("{method} {spelt} token={token:?} -> {status}"));
                    }
                }
            }
            let status = raw_status(&app.url, method, &path, Some("s3cr3t-token-value")).await;
            if status == 401 {
                failures.push(format!("{method} {path} with the right token -> 401"));
            }
        }
        assert!(
            failures.is_empty(),
            "protectReads={protect_reads}:\n{}",
            failures.join("\n")
        );
        let entities_after = entity_count(&app).await;
        assert_eq!(entities_before, entities_after, "nothing was deleted");
    }
}

async fn entity_count(app: &crate::support::TestApp) -> usize {
    app.client
        .get(format!("{}/api/catalog/entities", app.url))
        .bearer_auth("s3cr3t-token-value")
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}
