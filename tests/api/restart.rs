//! Restarts: a process killed while it held the writer lease leaves the lease behind; the next
//! process takes it at once, and answers ready only when it serves the whole catalog.

use std::process::Command;

use crate::support::start_process as start;
use std::time::{Duration, Instant};

fn catalog(n: usize) -> String {
    (0..n)
        .map(|i| format!("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: c{i}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n"))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// How many leases the SQLite database holds.
fn leases(db: &std::path::Path) -> i64 {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let Ok(mut conn) = diesel::SqliteConnection::establish(&db.to_string_lossy()) else {
        return 0;
    };
    diesel::sql_query("SELECT COUNT(*) AS n FROM leases")
        .load::<Count>(&mut conn)
        .map(|r| r[0].n)
        .unwrap_or(0)
}

fn write_config(
    dir: &std::path::Path,
    entities: usize,
) -> (std::path::PathBuf, std::path::PathBuf) {
    std::fs::write(dir.join("catalog.yaml"), catalog(entities)).unwrap();
    let db = dir.join("cairn.sqlite");
    let config = dir.join("app-config.yaml");
    std::fs::write(
        &config,
        format!(
            "backend:\n  listen: {{host: 127.0.0.1, port: 0}}\n  database: {{client: better-sqlite3, connection: '{}'}}\n  auth: {{dangerouslyDisableDefaultAuthPolicy: true}}\ncatalog:\n  processingInterval: false\n  rules:\n    - allow: [Component, Location]\n  locations:\n    - {{type: file, target: '{}'}}\ncairn:\n  watch: false\n  leaseSeconds: 120\n  dataDir: '{}'\n",
            db.display(),
            dir.join("catalog.yaml").display(),
            dir.join("data").display()
        ),
    )
    .unwrap();
    (config, db)
}

/// Waits up to 30 s for `/readyz` to answer 200.
fn wait_ready(client: &reqwest::blocking::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{url}/readyz"))
        .send()
        .map_or(true, |r| r.status() != 200)
    {
        assert!(Instant::now() < deadline, "ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_stops_the_server_and_releases_the_writer_lease() {
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = write_config(dir.path(), 10);
    let (mut child, url) = start(&config);
    let client = reqwest::blocking::Client::new();
    wait_ready(&client, &url);
    assert_eq!(leases(&db), 1, "the writer lease is held");
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "stopped after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert_eq!(leases(&db), 0, "the lease was released on the way out");
}

#[test]
fn a_restart_after_kill_takes_the_dead_lease_and_is_ready_only_with_the_whole_catalog() {
    const N: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = write_config(dir.path(), N);
    // Killed as soon as it holds the lease: during its first ingest.
    let (mut first, _) = start(&config);
    let lease_taken = || leases(&db) > 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lease_taken() {
        assert!(
            Instant::now() < deadline,
            "the first process took the lease"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().unwrap();
    first.wait().unwrap();

    let (mut second, url) = start(&config);
    let client = reqwest::blocking::Client::new();
    let started = Instant::now();
    let ready = loop {
        let r = client.get(format!("{url}/readyz")).send().unwrap();
        if r.status() == 200 {
            let count = client
                .get(format!(
                    "{url}/api/catalog/entities/by-query?filter=kind=component&limit=1"
                ))
                .send()
                .unwrap()
                .json::<serde_json::Value>()
                .unwrap()["totalItems"]
                .as_u64();
            break count;
        }
        if started.elapsed() > Duration::from_secs(60) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(
        ready,
        Some(N as u64),
        "ready with the whole catalog, without waiting for the dead process's 120 s lease"
    );
    assert_eq!(integrity(&db), "ok");
    audit_verifies(&config);
}

/// `cairn audit verify` with this config exits 0.
fn audit_verifies(config: &std::path::Path) {
    let verify = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--config")
        .arg(config)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "cairn audit verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

const WAITING: &str = "---\napiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: waiting}\nspec:\n  type: service\n  steps:\n    - {id: wait, action: debug:wait, input: {seconds: 60}}\n";

/// The workspaces the scaffolder holds under the data directory.
fn workspaces(data: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(data.join("scaffolder"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with("task-") || n.starts_with("template-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_kill_during_a_scaffolder_task_fails_it_cleans_its_workspace_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), 20);
    // The catalog gains a template with a long step.
    let mut text = std::fs::read_to_string(dir.path().join("catalog.yaml")).unwrap();
    text.push_str(WAITING);
    std::fs::write(dir.path().join("catalog.yaml"), text).unwrap();
    let cfg = std::fs::read_to_string(&config).unwrap().replace(
        "allow: [Component, Location]",
        "allow: [Component, Location, Template]",
    );
    std::fs::write(&config, cfg).unwrap();
    let client = reqwest::blocking::Client::new();

    let (mut first, url) = start(&config);
    wait_ready(&client, &url);
    let created: serde_json::Value = client
        .post(format!("{url}/api/scaffolder/v2/tasks"))
        .json(&serde_json::json!({"templateRef": "template:default/waiting", "values": {}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let data = dir.path().join("data");
    let deadline = Instant::now() + Duration::from_secs(20);
    while workspaces(&data).is_empty() {
        assert!(Instant::now() < deadline, "the task runs in a workspace");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        !workspaces(&data).is_empty(),
        "the killed process left its workspace"
    );

    let (mut second, url) = start(&config);
    wait_ready(&client, &url);
    assert_eq!(workspaces(&data), Vec::<String>::new(), "removed at start");
    let task: serde_json::Value = client
        .get(format!("{url}/api/scaffolder/v2/tasks/{id}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(task["status"], "failed", "{task}");
    let entities: serde_json::Value = client
        .get(format!("{url}/api/catalog/entities?filter=kind=component"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(entities.as_array().unwrap().len(), 20, "nothing lost");
    let verify: serde_json::Value = client
        .get(format!("{url}/api/cairn/audit/verify"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(verify["ok"], true, "{verify}");
    let _ = Command::new("kill").arg(second.id().to_string()).status();
    second.wait().unwrap();
}

/// `PRAGMA integrity_check` of a SQLite file, with the database closed by everyone else.
fn integrity(db: &std::path::Path) -> String {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let mut conn = diesel::SqliteConnection::establish(&db.to_string_lossy()).unwrap();
    diesel::sql_query("PRAGMA integrity_check")
        .load::<Check>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|c| c.integrity_check)
        .collect::<Vec<_>>()
        .join("; ")
}

/// How many components a server serves, and how many of them are in production.
fn components(client: &reqwest::blocking::Client, url: &str) -> (usize, usize) {
    let all: serde_json::Value = client
        .get(format!(
            "{url}/api/catalog/entities?filter=kind=component&fields=spec.lifecycle"
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let all = all.as_array().unwrap();
    let production = all
        .iter()
        .filter(|e| e["spec"]["lifecycle"] == "production")
        .count();
    (all.len(), production)
}

#[test]
fn a_kill_during_a_crawl_keeps_an_intact_catalog_and_the_next_crawl_completes_it() {
    const BEFORE: usize = 2000;
    const AFTER: usize = 2500;
    let dir = tempfile::tempdir().unwrap();
    let repo = crate::git::WorkRepo::init(&dir.path().join("repo"));
    let descriptor = |n: usize, lifecycle: &str| {
        (0..n)
            .map(|i| crate::git::component(&format!("c{i}"), lifecycle))
            .collect::<Vec<_>>()
            .join("---\n")
    };
    repo.write("catalog-info.yaml", &descriptor(BEFORE, "experimental"));
    repo.commit("first");
    let db = dir.path().join("cairn.sqlite");
    let config = dir.path().join("app-config.yaml");
    std::fs::write(
        &config,
        format!(
            "backend:\n  listen: {{host: 127.0.0.1, port: 0}}\n  database: {{client: better-sqlite3, connection: '{}'}}\n  auth: {{dangerouslyDisableDefaultAuthPolicy: true}}\ncatalog:\n  processingInterval: false\n  locations: []\ncairn:\n  watch: false\n  leaseSeconds: 120\n  dataDir: '{}'\n  sources:\n    git:\n      - {{id: org, url: '{}', schedule: '0 0 0 1 1 *'}}\n",
            db.display(),
            dir.path().join("data").display(),
            repo.url()
        ),
    )
    .unwrap();
    let client = reqwest::blocking::Client::new();
    let (mut first, url) = start(&config);
    wait_ready(&client, &url);
    let deadline = Instant::now() + Duration::from_secs(60);
    while components(&client, &url).0 < BEFORE {
        assert!(Instant::now() < deadline, "the first crawl finished");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A larger change, crawled on request; the process is killed while it is applied.
    repo.write("catalog-info.yaml", &descriptor(AFTER, "production"));
    repo.commit("second");
    let crawl_url = format!("{url}/api/cairn/sources/org/crawl");
    let crawl = std::thread::spawn(move || {
        let _ = reqwest::blocking::Client::new().post(crawl_url).send();
    });
    std::thread::sleep(Duration::from_millis(150));
    first.kill().unwrap();
    first.wait().unwrap();
    crawl.join().unwrap();
    assert_eq!(integrity(&db), "ok");

    let (mut second, url) = start(&config);
    wait_ready(&client, &url);
    let (count, production) = components(&client, &url);
    assert!(
        (count, production) == (BEFORE, 0) || (count, production) == (AFTER, AFTER),
        "the crawl is applied whole or not at all: {count} components, {production} in production"
    );
    let r = client
        .post(format!("{url}/api/cairn/sources/org/crawl"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    while components(&client, &url) != (AFTER, AFTER) {
        assert!(
            Instant::now() < deadline,
            "the next crawl completes the change: {:?}",
            components(&client, &url)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill").arg(second.id().to_string()).status();
    second.wait().unwrap();
    audit_verifies(&config);
}

/// (rows whose processed JSON is stored beside the served one, highest sequence number).
fn stored(db: &std::path::Path) -> (i64, i64) {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        twice: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
    }
    let mut conn = diesel::SqliteConnection::establish(&db.to_string_lossy()).unwrap();
    let r: Vec<Row> = diesel::sql_query(
        "SELECT COUNT(CASE WHEN raw_json != '' THEN 1 END) AS twice, MAX(seq) AS seq FROM entities",
    )
    .load(&mut conn)
    .unwrap();
    (r[0].twice, r[0].seq)
}

fn get_json(client: &reqwest::blocking::Client, url: &str) -> (u16, serde_json::Value) {
    let r = client.get(url).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or_default())
}

/// Each entity is stored once: its processed form is recovered from the served one. A wrong
/// recovery shows as every entity rewritten after a restart (its processed form looking
/// changed), or as a restitched entity losing or doubling members.
#[test]
fn entities_are_stored_once_and_a_restart_neither_rewrites_nor_damages_them() {
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = write_config(dir.path(), 0);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("watch: false", "watch: true")).unwrap();
    let a = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n  description: 'quotes \" and \\\\ and é, \"relations\": [] }'\n  annotations: {x/y: '{\"uid\": 1}'}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n  dependsOn: [component:default/b]\n  status: {relations: 2}\n";
    let files = |with_b: bool| {
        let mut all = format!("{a}---\n{}", catalog(1));
        if with_b {
            all.push_str("---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: b\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n");
        }
        all
    };
    let catalog_file = dir.path().join("catalog.yaml");
    std::fs::write(&catalog_file, files(true)).unwrap();
    let client = reqwest::blocking::Client::new();
    let settle = |url: &str| {
        let (s, _) = get_json(&client, &format!("{url}/api/cairn/settled?timeoutMs=30000"));
        assert_eq!(s, 200, "settled");
    };
    let entity = |url: &str, name: &str| {
        get_json(
            &client,
            &format!("{url}/api/catalog/entities/by-name/component/default/{name}"),
        )
    };

    let (mut first, url) = start(&config);
    wait_ready(&client, &url);
    settle(&url);
    let (s, before) = entity(&url, "a");
    assert_eq!(s, 200);
    let (twice, seq) = stored(&db);
    assert_eq!(twice, 0, "no entity is stored twice");
    first.kill().unwrap();
    first.wait().unwrap();

    let (mut second, url) = start(&config);
    wait_ready(&client, &url);
    settle(&url);
    assert_eq!(entity(&url, "a"), (200, before.clone()));
    assert_eq!(
        stored(&db).1,
        seq,
        "nothing was rewritten after the restart"
    );

    // b goes: a is restitched from its stored form, with one more dangling-reference warning.
    std::fs::write(&catalog_file, files(false)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while entity(&url, "b").0 != 404 {
        assert!(Instant::now() < deadline, "b was removed");
        std::thread::sleep(Duration::from_millis(50));
    }
    settle(&url);
    let (_, after) = entity(&url, "a");
    let _ = second.kill();
    let _ = second.wait();
    assert_ne!(after["metadata"]["etag"], before["metadata"]["etag"]);
    for part in ["apiVersion", "kind", "spec", "relations"] {
        assert_eq!(after[part], before[part], "{part}");
    }
    let mut meta = after["metadata"].clone();
    meta["etag"] = before["metadata"]["etag"].clone();
    assert_eq!(meta, before["metadata"]);
    let warnings = |e: &serde_json::Value| e["status"]["items"].as_array().unwrap().len();
    assert_eq!(warnings(&after), warnings(&before) + 1, "{after}");
    assert!(after["status"]
        .to_string()
        .contains("refers to component:default/b"));
    assert_eq!(stored(&db).0, 0);
}
