//! The change feed `/api/cairn/events`: Server-Sent Events carrying CloudEvents, live and resumed
//! with `Last-Event-ID`.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::support::{spawn, TestApp, BASIC_CATALOG};

/// Follows the feed at `query` (resuming after `last` when given); parsed events arrive on the
/// receiver as `(id, event)`.
async fn follow(
    app: &TestApp,
    query: &str,
    last: Option<&str>,
) -> mpsc::UnboundedReceiver<(String, Value)> {
    follow_url(&app.url, query, last).await
}

async fn follow_url(
    url: &str,
    query: &str,
    last: Option<&str>,
) -> mpsc::UnboundedReceiver<(String, Value)> {
    let mut req = reqwest::Client::new()
        .get(format!("{url}/api/cairn/events{query}"))
        .header("accept", "text/event-stream");
    if let Some(id) = last {
        req = req.header("last-event-id", id);
    }
    let mut res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = String::new();
        while let Ok(Some(chunk)) = res.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let mut id = String::new();
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if !data.is_empty() && tx.send((id, serde_json::from_str(&data).unwrap())).is_err()
                {
                    return;
                }
            }
        }
    });
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(String, Value)>) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("an event within 15 s")
        .expect("the stream is open")
}

const FRESH: &str = "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: fresh}\nspec: {type: service, lifecycle: experimental, owner: team-a}\n";

#[tokio::test]
async fn the_feed_carries_entity_changes_live_and_a_resumed_client_misses_nothing() {
    let app = spawn(&[("all.yaml", BASIC_CATALOG)]).await;
    let mut live = follow(&app, "?kind=component", None).await;

    app.write("all.yaml", format!("{BASIC_CATALOG}{FRESH}"));
    let (id, added) = next(&mut live).await;
    assert_eq!(added["specversion"], "1.0");
    assert_eq!(added["type"], "dev.cairn.entity.added", "{added}");
    assert_eq!(added["subject"], "component:default/fresh");
    assert_eq!(added["id"], id.as_str());
    assert_eq!(added["source"], "/api/catalog");
    let etag = app.entity("component", "fresh").await.unwrap()["metadata"]["etag"].clone();
    assert_eq!(added["data"]["etag"], etag);
    assert!(added["data"]["sequence"].as_i64().unwrap() > 0);
    drop(live);

    // While no one listens: the new component changes and the legacy one goes.
    let changed = format!("{}{}", BASIC_CATALOG.replace(
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: legacy\nspec:\n  type: library\n  lifecycle: deprecated\n  owner: user:jdoe\n",
        "",
    ), FRESH.replace("experimental", "production"));
    assert!(!changed.contains("name: legacy"));
    app.write("all.yaml", changed);
    assert!(
        app.eventually(15, || async {
            app.entity("component", "legacy").await.is_none()
        })
        .await
    );

    let mut resumed = follow(&app, "?kind=component", Some(&id)).await;
    // Other components may change too (checkout-service loses the legacy dependency's relation).
    let mut seen = Vec::new();
    while !(seen.iter().any(|e: &Value| {
        e["type"] == "dev.cairn.entity.changed" && e["subject"] == "component:default/fresh"
    }) && seen.iter().any(|e| {
        e["type"] == "dev.cairn.entity.removed" && e["subject"] == "component:default/legacy"
    })) {
        assert!(seen.len() < 10, "{seen:?}");
        seen.push(next(&mut resumed).await.1);
    }
    let ids: Vec<i64> = seen
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
    assert!(
        ids[0] > id.parse::<i64>().unwrap(),
        "only events after the one named"
    );
    assert!(seen
        .iter()
        .all(|e| e["subject"].as_str().unwrap().starts_with("component:")));

    // An entity filter, in the catalog's syntax, judges the entity as served now; a removed one
    // on its kind, namespace and name.
    let mut fresh = follow(
        &app,
        "?filter=spec.lifecycle=production,metadata.name=fresh",
        Some(&id),
    )
    .await;
    let (_, e) = next(&mut fresh).await;
    assert_eq!(e["type"], "dev.cairn.entity.changed", "{e}");
    assert_eq!(e["subject"], "component:default/fresh");
    let mut gone = follow(
        &app,
        "?filter=kind=component,metadata.name=legacy",
        Some(&id),
    )
    .await;
    let (_, e) = next(&mut gone).await;
    assert_eq!(e["type"], "dev.cairn.entity.removed", "{e}");
    assert_eq!(e["subject"], "component:default/legacy");

    // Filters keep other kinds and types out; a bad event id is refused.
    let mut apis = follow(&app, "?kind=api&type=dev.cairn.entity.removed", Some("0")).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), apis.recv())
            .await
            .is_err(),
        "no API was removed"
    );
    let r = app
        .client
        .get(format!("{}/api/cairn/events", app.url))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

fn components(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {n}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n"))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[tokio::test]
async fn a_client_follows_the_feed_across_a_restart_and_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.yaml");
    std::fs::write(&catalog, components(&["c0", "c1", "c2"])).unwrap();
    let config = dir.path().join("app-config.yaml");
    std::fs::write(
        &config,
        format!(
            "backend:\n  listen: {{host: 127.0.0.1, port: 0}}\n  database: {{client: better-sqlite3, connection: '{}'}}\n  auth: {{dangerouslyDisableDefaultAuthPolicy: true}}\ncatalog:\n  processingInterval: false\n  rules:\n    - allow: [Component, Location]\n  locations:\n    - {{type: file, target: '{}'}}\ncairn:\n  watch: false\n  dataDir: '{}'\n",
            dir.path().join("cairn.sqlite").display(),
            catalog.display(),
            dir.path().join("data").display()
        ),
    )
    .unwrap();

    let (mut first, url) = crate::support::start_process(&config);
    let mut feed = follow_url(&url, "?kind=component&after=0", None).await;
    let mut last = String::new();
    let mut added = Vec::new();
    while added.len() < 3 {
        let (id, e) = next(&mut feed).await;
        assert_eq!(e["type"], "dev.cairn.entity.added", "{e}");
        added.push(e["subject"].as_str().unwrap().to_string());
        last = id;
    }
    added.sort();
    assert_eq!(
        added,
        [
            "component:default/c0",
            "component:default/c1",
            "component:default/c2"
        ]
    );
    let term = std::process::Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    first.wait().unwrap();
    // The stream ends with the process.
    assert!(tokio::time::timeout(Duration::from_secs(15), feed.recv())
        .await
        .expect("the stream ends")
        .is_none());

    // While it is down, c0 goes and c3 comes; the next process ingests that at start.
    std::fs::write(&catalog, components(&["c1", "c2", "c3"])).unwrap();
    let (mut second, url) = crate::support::start_process(&config);
    let mut resumed = follow_url(&url, "?kind=component", Some(&last)).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (id, e) = next(&mut resumed).await;
        assert!(id.parse::<i64>().unwrap() > last.parse::<i64>().unwrap());
        seen.push(format!(
            "{} {}",
            e["type"].as_str().unwrap(),
            e["subject"].as_str().unwrap()
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "dev.cairn.entity.added component:default/c3",
            "dev.cairn.entity.removed component:default/c0"
        ]
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), resumed.recv())
            .await
            .is_err(),
        "nothing else, and nothing twice"
    );
    let _ = second.kill();
    let _ = second.wait();
}

/// A webhook receiver on a free port: answers 500 to the first `failures` requests, then 200;
/// each request arrives on the receiver as (headers, body).
async fn receiver(
    failures: usize,
) -> (
    String,
    mpsc::UnboundedReceiver<(std::collections::HashMap<String, String>, String, u16)>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (tx, seen) = (tx.clone(), seen.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let headers: std::collections::HashMap<String, String> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
                        .collect();
                    let len: usize = headers["content-length"].parse().unwrap();
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
                    buf.drain(..head_end + len);
                    let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let status = if n < failures { 500 } else { 200 };
                    let _ = tx.send((headers, body, status));
                    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    if conn.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn webhooks_get_signed_events_in_order_with_retries_and_a_dead_one_is_reported() {
    use hmac::Mac;
    let (url, mut hooks) = receiver(2).await;
    let config = format!(
        "cairn:\n  webhooks:\n    - name: sink\n      url: {url}/hook?token=abc\n      secret: s3cret\n      kinds: [component]\n      retryBaseMillis: 50\n    - name: nowhere\n      url: http://127.0.0.1:1/hook\n      maxAttempts: 2\n      retryBaseMillis: 10\n"
    );
    let app = crate::support::spawn_with(
        &[("all.yaml", BASIC_CATALOG)],
        crate::support::Options {
            extra_config: config,
            ..Default::default()
        },
    )
    .await;
    app.settled().await;
    app.write("all.yaml", format!("{BASIC_CATALOG}{FRESH}"));

    let mut delivered: Vec<(i64, Value)> = Vec::new();
    let mut attempts = Vec::new();
    while !delivered
        .iter()
        .any(|(_, e)| e["subject"] == "component:default/fresh")
    {
        let (headers, body, status) = tokio::time::timeout(Duration::from_secs(20), hooks.recv())
            .await
            .expect("a delivery within 20 s")
            .unwrap();
        assert_eq!(
            headers["content-type"],
            "application/cloudevents+json; charset=utf-8"
        );
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body.as_bytes());
        assert_eq!(
            headers["x-cairn-signature-256"],
            format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
            "signed over the body"
        );
        let event: Value = serde_json::from_str(&body).unwrap();
        let id: i64 = headers["x-cairn-event-id"].parse().unwrap();
        assert_eq!(event["id"], id.to_string());
        assert!(event["subject"].as_str().unwrap().starts_with("component:"));
        attempts.push((id, headers["x-cairn-attempt"].clone()));
        if status == 200 {
            delivered.push((id, event));
        }
    }
    // The first event failed twice and went through on its third attempt.
    assert_eq!(attempts[0].1, "1");
    assert_eq!(attempts[1], (attempts[0].0, "2".to_string()));
    assert_eq!(attempts[2], (attempts[0].0, "3".to_string()));
    let ids: Vec<i64> = delivered.iter().map(|(id, _)| *id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, once: {ids:?}"
    );

    let (status, _) = app.get_cairn("/events/webhooks").await;
    assert_eq!(status, 200);
    let hook = |name: &'static str| {
        let app = &app;
        async move {
            let (_, list) = app.get_cairn("/events/webhooks").await;
            list.as_array()
                .unwrap()
                .iter()
                .find(|w| w["name"] == name)
                .unwrap()
                .clone()
        }
    };
    assert_eq!(
        hook("sink").await["url"],
        format!("{url}/hook"),
        "no query shown"
    );
    assert!(
        app.eventually(10, || async {
            hook("sink").await["delivered"].as_u64().unwrap() >= ids.len() as u64
        })
        .await,
        "{}",
        hook("sink").await
    );
    assert!(
        app.eventually(20, || async {
            let dead = hook("nowhere").await;
            dead["failed"].as_u64().unwrap_or(0) > 0 && dead["lastError"].is_string()
        })
        .await
    );
}
