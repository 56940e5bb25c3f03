//! Spawning a real Cairn for a test: a temp dir with a catalog, a config file, a SQLite file
//! (or a PostgreSQL URL), and an HTTP client.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct TestApp {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

#[derive(Default)]
pub struct Options {
    pub extra_config: String,
    pub database_url: Option<String>,
    pub catalog_target: Option<PathBuf>,
    /// More `file` locations beside the catalog target.
    pub extra_targets: Vec<PathBuf>,
}

/// A small valid catalog: a group, a user, two components and an API.
pub const BASIC_CATALOG: &str = r#"apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
spec:
  type: team
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: jdoe
spec:
  memberOf: [team-a]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Checkout-Service
  tags: [java]
spec:
  type: service
  lifecycle: production
  owner: team-a
  providesApis: [checkout-api]
  dependsOn: [component:legacy]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: legacy
spec:
  type: library
  lifecycle: deprecated
  owner: user:jdoe
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: checkout-api
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: "openapi: 3.0.0"
"#;

pub async fn spawn_with(files: &[(&str, &str)], opts: Options) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    for (name, content) in files {
        let p = catalog.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    let target = opts
        .catalog_target
        .unwrap_or_else(|| catalog.join("all.yaml"));
    let db = opts.database_url.unwrap_or_else(|| {
        dir.path()
            .join("cairn.sqlite")
            .to_string_lossy()
            .to_string()
    });
    let client_kind = if db.starts_with("postgres") {
        "pg"
    } else {
        "better-sqlite3"
    };
    let config = format!(
        r#"backend:
  listen: {{host: 127.0.0.1, port: 0}}
  database: {{client: {client_kind}, connection: "{db}"}}
  auth:
    dangerouslyDisableDefaultAuthPolicy: true
catalog:
  processingInterval: false
  orphanStrategy: delete
  rules:
    - allow: [Component, System, API, Resource, Location, Domain, Group, User, Template, Event, DataProduct, AIAgent, AiResource, Scorecard, Campaign, PermissionPolicy]
  locations:
    - type: file
      target: {}
{}cairn:
  watch: true
  dataDir: {}
"#,
        target.display(),
        opts.extra_targets
            .iter()
            .map(|t| format!("    - type: file\n      target: {}\n", t.display()))
            .collect::<String>(),
        dir.path().join("data").display()
    );
    let config_path = dir.path().join("app-config.yaml");
    std::fs::write(&config_path, config).unwrap();
    let mut paths = vec![config_path];
    if !opts.extra_config.is_empty() {
        let extra = dir.path().join("extra.yaml");
        std::fs::write(&extra, &opts.extra_config).unwrap();
        paths.push(extra);
    }
    let config = cairn::config::Config::load(&paths).expect("config");
    let app = cairn::app::Application::build(config)
        .await
        .expect("app builds");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let t = TestApp { url, dir, client };
    t.wait_ready().await;
    t
}

pub async fn spawn(files: &[(&str, &str)]) -> TestApp {
    spawn_with(files, Options::default()).await
}

impl TestApp {
    pub fn catalog_dir(&self) -> PathBuf {
        self.dir.path().join("catalog")
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.catalog_dir().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = self.client.get(format!("{}/readyz", self.url)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become ready");
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> (u16, Value) {
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GET of a path from the server's root.
    /// A user token from the guest sign-in (the app must configure `auth.providers.guest`).
    pub async fn guest_token(&self) -> String {
        let v: Value = self
            .client
            .get(format!("{}/api/auth/guest/refresh", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["backstageIdentity"]["token"]
            .as_str()
            .expect("a guest session")
            .to_string()
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get_raw_json(&self, path: &str) -> (u16, Value) {
        self.send(self.client.get(format!("{}{path}", self.url)))
            .await
    }

    /// GET under `/api/catalog`.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.client.get(format!("{}/api/catalog{path}", self.url)))
            .await
    }

    /// GET under `/api/cairn`.
    pub async fn get_cairn(&self, path: &str) -> (u16, Value) {
        self.send(self.client.get(format!("{}/api/cairn{path}", self.url)))
            .await
    }

    /// POST a JSON body under `/api/catalog`.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(
            self.client
                .post(format!("{}/api/catalog{path}", self.url))
                .json(&body),
        )
        .await
    }

    /// POST a JSON body under `/api/cairn`.
    pub async fn post_cairn(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(
            self.client
                .post(format!("{}/api/cairn{path}", self.url))
                .json(&body),
        )
        .await
    }

    pub async fn entity(&self, kind: &str, name: &str) -> Option<Value> {
        let (s, v) = self
            .get(&format!("/entities/by-name/{kind}/default/{name}"))
            .await;
        (s == 200).then_some(v)
    }

    /// Re-processes the config location now.
    pub async fn refresh_root(&self) {
        let (s, items) = self.get("/entities?filter=kind=location").await;
        assert_eq!(s, 200);
        for l in items.as_array().unwrap() {
            let name = l["metadata"]["name"].as_str().unwrap();
            if name.starts_with("generated-") {
                let (s, _) = self
                    .post(
                        "/refresh",
                        serde_json::json!({"entityRef": format!("location:default/{name}")}),
                    )
                    .await;
                assert_eq!(s, 200);
            }
        }
    }

    /// Error messages in the status of every Location entity, joined.
    pub async fn location_errors(&self) -> String {
        let (_, items) = self.get("/entities?filter=kind=location").await;
        items
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| l["status"]["items"].as_array().cloned().unwrap_or_default())
            .map(|i| i["message"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits for the server's settled signal: every write so far is visible to reads and to the
    /// background work (scorecards, classification). For what only time changes (a schedule,
    /// a file watcher that has not written yet), [`Self::eventually`].
    pub async fn settled(&self) {
        assert!(
            self.settled_within(30_000).await,
            "the server did not settle"
        );
    }

    /// Whether the server settles (see [`Self::settled`]) within `ms` milliseconds.
    pub async fn settled_within(&self, ms: u64) -> bool {
        let r = self
            .client
            .get(format!("{}/api/cairn/settled?timeoutMs={ms}", self.url))
            .send()
            .await
            .unwrap();
        r.status() == 200
    }

    /// Polls until `check` holds, for up to `secs` seconds.
    pub async fn eventually<F, Fut>(&self, secs: u64, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if check().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

/// The root `all.yaml` pointing at the given files.
pub fn root_location(targets: &[&str]) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("    - ./{t}")).collect();
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: root\nspec:\n  targets:\n{}\n",
        list.join("\n")
    )
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A service a test needs is missing: the test is skipped, unless `CAIRN_TEST_REQUIRE_SERVICES`
/// is set (CI sets it), where that is a failure.
pub fn unavailable(what: &str) {
    if std::env::var_os("CAIRN_TEST_REQUIRE_SERVICES").is_some() {
        panic!("{what}, and CAIRN_TEST_REQUIRE_SERVICES is set");
    }
    println!("SKIPPED: {what}");
}

/// Starts the `cairn` binary with a config; returns the child and its base URL (read from its log).
pub fn start_process(config: &Path) -> (std::process::Child, String) {
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
        .recv_timeout(Duration::from_secs(30))
        .expect("cairn started");
    (child, url)
}
