//! The PostgreSQL backend, against the server named by CAIRN_TEST_POSTGRES_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres). Skipped, with the reason printed, when no
//! server answers.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::{Connection, PgConnection, RunQueryDsl};

use serde_json::Value;

use crate::support::{root_location, spawn_with, Options, BASIC_CATALOG};

fn admin_url() -> String {
    std::env::var("CAIRN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Creates a fresh database and returns its URL, or None (printed) when PostgreSQL is down.
fn fresh_database() -> Option<String> {
    static N: AtomicU32 = AtomicU32::new(0);
    let admin = admin_url();
    let mut conn = match PgConnection::establish(&admin) {
        Ok(c) => c,
        Err(e) => {
            crate::support::unavailable(&format!("no PostgreSQL at {admin}: {e}"));
            return None;
        }
    };
    let name = format!(
        "cairn_test_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
    Some(format!("{base}/{name}"))
}

#[tokio::test]
async fn the_catalog_runs_on_postgres() {
    let Some(url) = fresh_database() else { return };
    let app = spawn_with(
        &[
            ("all.yaml", &root_location(&["basic.yaml"])),
            ("basic.yaml", BASIC_CATALOG),
        ],
        Options {
            database_url: Some(url),
            ..Default::default()
        },
    )
    .await;
    let e = app
        .entity("component", "checkout-service")
        .await
        .expect("served from postgres-backed catalog");
    assert_eq!(e["relations"].as_array().unwrap().len(), 3);
    let (_, v) = app
        .get("/entities/by-query?filter=kind=component&limit=1")
        .await;
    assert_eq!(v["totalItems"], 2);
}

#[test]
fn both_migration_sets_define_the_same_tables_and_columns() {
    let Some(url) = fresh_database() else { return };
    let pg = cairn::storage::Db::connect(&url).unwrap();
    pg.migrate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = cairn::storage::Db::connect(&dir.path().join("m.sqlite").to_string_lossy()).unwrap();
    lite.migrate().unwrap();
    assert_eq!(pg.table_names().unwrap(), lite.table_names().unwrap());
    for table in pg.table_names().unwrap() {
        assert!(!pg.column_names(&table).unwrap().is_empty(), "{table}");
        assert_eq!(
            pg.column_names(&table).unwrap(),
            lite.column_names(&table).unwrap(),
            "the columns of {table}"
        );
    }
}

/// A `cairn` process; killed when dropped.
struct Replica {
    child: std::process::Child,
    url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_replica(config: &std::path::Path) -> Replica {
    let (child, url) = crate::support::start_process(config);
    Replica { child, url }
}

fn wait_for(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

fn lifecycle(client: &reqwest::blocking::Client, base: &str) -> Option<String> {
    let r = client
        .get(format!(
            "{base}/api/catalog/entities/by-name/component/default/leased"
        ))
        .send()
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    let v: serde_json::Value = r.json().ok()?;
    v["spec"]["lifecycle"].as_str().map(str::to_owned)
}

#[test]
fn only_the_lease_holder_crawls_and_another_replica_takes_over() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let repo = crate::git::WorkRepo::init(&dir.path().join("repo"));
    repo.write(
        "catalog-info.yaml",
        &crate::git::component("leased", "experimental"),
    );
    repo.commit("first");
    let config = |name: &str| {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                "backend:\n  listen: {{host: 127.0.0.1, port: 0}}\n  database: {{client: pg, connection: '{db}'}}\n  auth: {{dangerouslyDisableDefaultAuthPolicy: true}}\ncatalog:\n  processingInterval: false\n  locations: []\ncairn:\n  watch: false\n  leaseSeconds: 2\n  dataDir: {}\n  sources:\n    git:\n      - id: org\n        url: {}\n",
                dir.path().join(name).display(),
                repo.url()
            ),
        )
        .unwrap();
        path
    };
    let client = reqwest::blocking::Client::new();
    let first = start_replica(&config("first"));
    assert!(wait_for(20, || lifecycle(&client, &first.url).as_deref()
        == Some("experimental")));
    let second = start_replica(&config("second"));
    assert!(
        wait_for(20, || lifecycle(&client, &second.url).as_deref()
            == Some("experimental")),
        "the second replica serves from the database"
    );
    let crawled = |base: &str| -> usize {
        let v: serde_json::Value = client
            .get(format!("{base}/api/cairn/sources"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["items"][0]["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["lastAttemptAt"].is_string())
            .count()
    };
    assert_eq!(crawled(&first.url), 1);
    assert_eq!(crawled(&second.url), 0, "only the lease holder crawls");
    // Reads on the survivor, all through the switch: none may fail.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, url) = (stop.clone(), second.url.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            let (mut reads, mut failed) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                reads += 1;
                if lifecycle(&client, &url).is_none() {
                    failed.push(reads);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            (reads, failed)
        })
    };
    drop(first); // SIGKILL: the lease is left behind until it expires
    repo.write(
        "catalog-info.yaml",
        &crate::git::component("leased", "production"),
    );
    repo.commit("second");
    assert!(
        wait_for(30, || lifecycle(&client, &second.url).as_deref()
            == Some("production")),
        "the second replica took the lease and crawled"
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (reads, failed) = reader.join().unwrap();
    assert!(reads > 20, "{reads} reads during and after the switch");
    assert!(
        failed.is_empty(),
        "{} of {reads} reads failed during the switch",
        failed.len()
    );
}

/// A card with a check on a pushed fact and a check every component fails, and one component.
const REPLICA_CARD: &str = r#"apiVersion: cairn.dev/v1alpha1
kind: Scorecard
metadata: {name: delivery}
spec:
  filter: {kind: component}
  levels: [bronze]
  checks:
    - id: coverage
      name: Test coverage at least 80%
      level: bronze
      rule: {all: [{fact: pushed, path: $.coverage, operator: greaterThanInclusive, value: 80}]}
    - id: described
      name: Described
      level: bronze
      rule: {all: [{fact: entity, path: $.metadata.description, operator: exists}]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc}
spec: {type: service, lifecycle: production, owner: team-a}
"#;

/// The status of one check of `delivery` for component svc, as a replica serves it.
async fn check_status(app: &crate::support::TestApp, check: &str) -> Option<String> {
    let (_, v) = app
        .get_cairn("/entities/component/default/svc/scorecards")
        .await;
    v["items"]
        .as_array()?
        .iter()
        .find(|i| i["scorecard"] == "scorecard:default/delivery")?["checks"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == check)?["status"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test]
async fn replicas_on_one_database_agree_on_facts_exemptions_history_and_audit() {
    let Some(url) = fresh_database() else { return };
    let a = spawn_with(
        &[
            ("all.yaml", &root_location(&["card.yaml"])),
            ("card.yaml", REPLICA_CARD),
        ],
        Options {
            database_url: Some(url.clone()),
            ..Default::default()
        },
    )
    .await;
    let b = spawn_with(
        &[],
        Options {
            database_url: Some(url.clone()),
            catalog_target: Some(a.catalog_dir().join("all.yaml")),
            ..Default::default()
        },
    )
    .await;
    for app in [&a, &b] {
        app.settled().await;
        assert_eq!(
            check_status(app, "coverage").await.as_deref(),
            Some("fail"),
            "both replicas evaluate the card"
        );
    }
    // A fact pushed to one replica changes the other's results within a second, whichever
    // holds the writer lease.
    let (s, v) = b
        .post_cairn(
            "/facts",
            serde_json::json!({"entityRef": "component:default/svc", "facts": {"coverage": 91}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        a.settled_within(1_000).await,
        "A follows B's write within a second"
    );
    assert_eq!(
        check_status(&a, "coverage").await.as_deref(),
        Some("pass"),
        "a fact pushed on B reaches A"
    );
    // An exemption granted on A shows on B.
    let (s, v) = a
        .post_cairn(
            "/scorecards/default/delivery/exemptions",
            serde_json::json!({"entityRef": "component:default/svc", "checks": ["described"], "reason": "Docs next sprint", "expires": "2999-12-31"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert!(
        b.settled_within(1_000).await,
        "B follows A's write within a second"
    );
    assert_eq!(
        check_status(&b, "described").await.as_deref(),
        Some("exempt"),
        "an exemption granted on A reaches B"
    );
    let (_, facts) = a.get_cairn("/facts?entityRef=component:default/svc").await;
    assert_eq!(facts["facts"]["coverage"], 91, "{facts}");
    // Both replicas have seen every change; each was recorded once.
    a.settled().await;
    b.settled().await;
    let (_, history) = a
        .get_cairn("/scorecards/default/delivery/history?entityRef=component:default/svc")
        .await;
    let items = history["items"].as_array().unwrap();
    let mut seen = std::collections::HashSet::new();
    for h in items {
        assert!(
            seen.insert(h["checks"].to_string()),
            "a result change recorded twice: {history}"
        );
    }
    assert!(items.len() >= 3, "{history}");
    let (_, audit) = a
        .get_cairn("/audit?entity=component:default/svc&limit=1000")
        .await;
    let changed: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "scorecard.result-changed")
        .collect();
    let details: std::collections::HashSet<String> =
        changed.iter().map(|r| r["details"].to_string()).collect();
    assert_eq!(
        details.len(),
        changed.len(),
        "duplicated audit records: {audit}"
    );
    let (_, verify) = b.get_cairn("/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");
}
