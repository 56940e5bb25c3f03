//! Faults Cairn must survive: its database going away and coming back. The database is a private
//! PostgreSQL cluster the test starts itself (`initdb`/`pg_ctl`), so it can be stopped; the shared
//! server on 5432 is never touched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{root_location, spawn_with, Options, BASIC_CATALOG};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster of the test's own, in a temporary directory, on a free port.
pub struct PrivatePg {
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PrivatePg {
    /// `None` (the test is skipped, or fails in CI) when PostgreSQL's binaries are not here.
    pub fn start() -> Option<PrivatePg> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            crate::support::unavailable(&format!("no initdb under {PG_BIN}"));
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePg { dir, port };
        // PostgreSQL refuses to run as root; the Debian packages' `postgres` user runs it then.
        if is_root() {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path())
                .status()
                .unwrap();
        }
        pg.run(
            "initdb",
            &["-A", "trust", "-U", "postgres", "--no-sync", "-D"],
            true,
        );
        pg.ctl("start");
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str], with_data: bool) {
        let bin = Path::new(PG_BIN).join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        cmd.args(args);
        if with_data {
            cmd.arg(self.data());
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ctl(&self, action: &str) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        let data = self.data();
        let mut args = vec![action, "-w", "-D", data.to_str().unwrap()];
        if action == "start" {
            args.extend(["-o", &opts, "-l", log.to_str().unwrap()]);
        } else {
            args.extend(["-m", "immediate"]);
        }
        self.run("pg_ctl", &args, false);
    }

    pub fn stop(&self) {
        self.ctl("stop");
    }

    pub fn restart(&self) {
        self.ctl("start");
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let data = self.data();
        let _ = Command::new(Path::new(PG_BIN).join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&data)
            .output();
        if is_root() {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(Path::new(PG_BIN).join("pg_ctl"))
                .args(["stop", "-m", "immediate", "-D"])
                .arg(&data)
                .output();
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}

#[tokio::test]
async fn with_the_database_down_writes_fail_fast_with_503_and_reads_keep_being_served() {
    let Some(pg) = PrivatePg::start() else { return };
    let app = spawn_with(
        &[
            ("all.yaml", &root_location(&["basic.yaml"])),
            ("basic.yaml", BASIC_CATALOG),
        ],
        Options {
            database_url: Some(pg.url()),
            ..Default::default()
        },
    )
    .await;
    let before = app.get("/entities").await.1.as_array().unwrap().len();
    assert!(before > 3);

    pg.stop();
    for _ in 0..20 {
        let (s, v) = app.get("/entities?filter=kind=component").await;
        assert_eq!(s, 200, "reads are served from memory: {v}");
    }
    let started = Instant::now();
    let (s, v) = app
        .post_cairn(
            "/facts",
            json!({"entityRef": "component:default/legacy", "facts": {"coverage": 91}}),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["name"], "ServiceUnavailableError", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains(&pg.port.to_string()) && !message.contains("127.0.0.1"),
        "no connection details: {message}"
    );
    assert!(took < Duration::from_secs(5), "answered in {took:?}");

    pg.restart();
    let mut recovered = false;
    for _ in 0..50 {
        let (s, _) = app
            .post_cairn(
                "/facts",
                json!({"entityRef": "component:default/legacy", "facts": {"coverage": 92}}),
            )
            .await;
        if s == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "writes work again once the database is back");
    let after = app.get("/entities").await.1.as_array().unwrap().len();
    assert_eq!(before, after, "nothing was lost");
}

#[tokio::test]
async fn a_file_changed_while_the_database_is_down_is_ingested_once_it_is_back() {
    let Some(pg) = PrivatePg::start() else { return };
    let app = spawn_with(
        &[
            ("all.yaml", &root_location(&["basic.yaml", "more.yaml"])),
            ("basic.yaml", BASIC_CATALOG),
            (
                "more.yaml",
                &crate::git::component("before", "experimental"),
            ),
        ],
        Options {
            database_url: Some(pg.url()),
            ..Default::default()
        },
    )
    .await;
    let before = app.get("/entities").await.1.as_array().unwrap().len();

    pg.stop();
    app.write("more.yaml", crate::git::component("after", "production"));
    // The watcher sees the change and cannot store it; reads go on from memory, unchanged.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (s, v) = app.get("/entities").await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), before, "nothing was dropped");
    assert!(app.entity("component", "before").await.is_some());

    pg.restart();
    let applied = app
        .eventually(30, || async {
            app.entity("component", "after").await.is_some()
                && app.entity("component", "before").await.is_none()
        })
        .await;
    assert!(
        applied,
        "the change made while the database was down is applied once it is back, with no new edit"
    );
    let after = app.get("/entities").await.1.as_array().unwrap().len();
    assert_eq!(before, after);
    let (s, v) = app.get_cairn("/audit/verify").await;
    assert_eq!((s, &v["ok"]), (200, &json!(true)), "{v}");
}
