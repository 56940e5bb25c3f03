//! The PostgreSQL backend, against the server named by CAIRN_TEST_POSTGRES_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres). Skipped, with the reason printed, when no
//! server answers.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::{Connection, PgConnection, RunQueryDsl};

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
            println!("SKIPPED: no PostgreSQL at {admin}: {e}");
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
fn both_migration_sets_define_the_same_tables() {
    let Some(url) = fresh_database() else { return };
    let pg = cairn::storage::Db::connect(&url).unwrap();
    pg.migrate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = cairn::storage::Db::connect(&dir.path().join("m.sqlite").to_string_lossy()).unwrap();
    lite.migrate().unwrap();
    assert_eq!(pg.table_names().unwrap(), lite.table_names().unwrap());
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
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let re = regex::Regex::new(r"listening on (http://127\.0\.0\.1:\d+)").unwrap();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(c) = re.captures(&line) {
                let _ = tx.send(c[1].to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("replica started");
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
    drop(first);
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
}
