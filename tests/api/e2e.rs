//! A stock Backstage app in a real browser against Cairn alone: the app of
//! `@backstage/create-app` 0.9.2 (legacy `App.tsx`, guest sign-in, permissions on), built once by
//! `tests/e2e/build-app.sh` and cached outside the clone, driven in Chromium by
//! `tests/e2e/browser.mjs`, page by page, with no failed backend request and no error panel.
//! The catalog import is driven against a Git repository made here and served over smart HTTP by
//! `git http-backend` behind the app's own test server, as a Git host would serve it.
//! Screenshots land in `target/e2e-screenshots/`. Needs Chromium (`/usr/bin/chromium`, or
//! `CHROMIUM`); skipped without it unless `CAIRN_TEST_REQUIRE_SERVICES` is set.

use std::path::PathBuf;
use std::process::Command;

use crate::git::WorkRepo;
use crate::support::{repo_root, spawn_with, Options};

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stock_backstage_app_works_on_cairn_in_a_browser() {
    let Some(chromium) = chromium() else {
        crate::support::unavailable("Chromium is needed for the browser test");
        return;
    };
    let e2e = repo_root().join("tests/e2e");
    let dist = tokio::task::spawn_blocking({
        let e2e = e2e.clone();
        move || {
            if !e2e.join("node_modules/playwright-core").exists() {
                let ci = Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund"])
                    .current_dir(&e2e)
                    .output()
                    .unwrap();
                assert!(
                    ci.status.success(),
                    "npm ci: {}",
                    String::from_utf8_lossy(&ci.stderr)
                );
            }
            let built = Command::new("bash")
                .arg(e2e.join("build-app.sh"))
                .output()
                .unwrap();
            assert!(
                built.status.success(),
                "building the stock app failed:\n{}",
                String::from_utf8_lossy(&built.stderr)
            );
            String::from_utf8_lossy(&built.stdout)
                .trim()
                .lines()
                .last()
                .unwrap()
                .to_string()
        }
    })
    .await
    .unwrap();

    // The app is served from its own origin, so Cairn must allow it (with credentials: the guest
    // sign-in sends them).
    let app_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let repos = tempfile::tempdir().unwrap();
    // The repository the import page registers by its http URL. `git http-backend` finds a
    // work tree's `.git` under the name the URL gives (`import-demo.git`).
    let hosted = tempfile::tempdir().unwrap();
    WorkRepo::init(&hosted.path().join("import-demo.git"))
        .write(
            "catalog-info.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: import-demo\n  description: Registered from the import page\nspec:\n  type: service\n  lifecycle: experimental\n  owner: group:default/team-orders\n",
        )
        .commit("import-demo");
    let config = format!(
        "scaffolder:\n  publish:\n    hosts:\n      - {{host: local, root: {}}}\nbackend:\n  reading:\n    allow: [{{host: '127.0.0.1:{app_port}', paths: [/git/]}}]\n  cors:\n    origin: http://127.0.0.1:{app_port}\n    methods: [GET, HEAD, PATCH, POST, PUT, DELETE]\n    credentials: true\nauth:\n  environment: development\n  providers:\n    guest: {{userEntityRef: 'user:default/guest'}}\npermission:\n  enabled: true\ntechdocs:\n  publisher:\n    local:\n      publishDirectory: {}\n",
        repos.path().display(),
        repo_root().join("catalog-examples/techdocs").display()
    );
    let app = spawn_with(
        &[],
        Options {
            catalog_target: Some(repo_root().join("catalog-examples/all.yaml")),
            extra_targets: vec![
                repo_root().join("scorecards/all.yaml"),
                repo_root().join("templates/all.yaml"),
                repo_root().join("policies/all.yaml"),
            ],
            extra_config: config,
            ..Default::default()
        },
    )
    .await;
    let shots = repo_root().join("target/e2e-screenshots");
    let url = app.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("browser.mjs")
            .env("CAIRN_URL", url)
            .env("APP_DIST", dist)
            .env("APP_PORT", app_port.to_string())
            .env("SCREENSHOTS", shots)
            .env("GIT_ROOT", hosted.path())
            .env("CHROMIUM", chromium)
            .current_dir(e2e)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
