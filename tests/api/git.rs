//! Git crawling against real repositories made by the tests with git2, reached by file:// URLs.

use std::path::{Path, PathBuf};

use git2::{Repository, Signature};
use serde_json::{json, Value};

use crate::support::{root_location, spawn_with, Options, TestApp};

/// A working repository on branch `main` that tests commit to.
pub struct WorkRepo {
    pub path: PathBuf,
    repo: Repository,
}

impl WorkRepo {
    pub fn init(path: &Path) -> WorkRepo {
        std::fs::create_dir_all(path).unwrap();
        let repo = Repository::init(path).unwrap();
        repo.set_head("refs/heads/main").unwrap();
        WorkRepo {
            path: path.to_path_buf(),
            repo,
        }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    pub fn write(&self, file: &str, content: &str) -> &Self {
        let p = self.path.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    pub fn remove(&self, file: &str) -> &Self {
        std::fs::remove_file(self.path.join(file)).unwrap();
        self
    }

    pub fn commit(&self, message: &str) -> String {
        let mut index = self.repo.index().unwrap();
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.update_all(["*"].iter(), None).unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::now("Ada Tester", "ada@example.com").unwrap();
        let parents: Vec<git2::Commit> = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parent_refs)
            .unwrap()
            .to_string()
    }
}

pub fn component(name: &str, lifecycle: &str) -> String {
    format!("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: service\n  lifecycle: {lifecycle}\n  owner: team-a\n")
}

/// A Cairn with one Git source `org`; `extra` adds keys to the source entry, `settings` to
/// `cairn.sources`.
pub async fn app_with_source(url: &str, extra: &str) -> TestApp {
    app_with_settings(url, extra, "").await
}

async fn app_with_settings(url: &str, extra: &str, settings: &str) -> TestApp {
    let config = format!(
        "cairn:\n  sources:\n{settings}    git:\n      - id: org\n        url: {url}\n{extra}"
    );
    spawn_with(
        &[("all.yaml", &root_location(&[]))],
        Options {
            extra_config: config,
            ..Default::default()
        },
    )
    .await
}

/// A server whose config lists one `url` location: the file `path` of `repo`'s main branch.
async fn app_with_url_location(repo: &WorkRepo, path: &str, extra: &str) -> TestApp {
    let config = format!(
        "catalog:\n  locations:\n    - type: url\n      target: {}/blob/main/{path}\n{extra}",
        repo.url()
    );
    spawn_with(
        &[("all.yaml", &root_location(&[]))],
        Options {
            extra_config: config,
            ..Default::default()
        },
    )
    .await
}

pub async fn crawl(app: &TestApp, id: &str) -> Value {
    let r = app
        .client
        .post(format!("{}/api/cairn/sources/{id}/crawl", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn sources(app: &TestApp) -> Value {
    app.client
        .get(format!("{}/api/cairn/sources", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn repo_status(v: &Value, id: &str) -> Value {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()["repositories"][0]
        .clone()
}

#[tokio::test]
async fn a_new_repository_is_crawled_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("svc"));
    repo.write("catalog-info.yaml", &component("crawled", "production"))
        .write("README.md", "# svc\n");
    let commit = repo.commit("first");
    let app = app_with_source(&repo.url(), "").await;
    let e = app
        .entity("component", "crawled")
        .await
        .expect("crawled at start");
    let ann = &e["metadata"]["annotations"];
    assert_eq!(
        ann["backstage.io/managed-by-location"],
        format!("url:{}/blob/main/catalog-info.yaml", repo.url())
    );
    assert_eq!(
        ann["backstage.io/managed-by-origin-location"],
        format!("url:{}", repo.url())
    );
    let status = repo_status(&sources(&app).await, "org");
    assert_eq!(status["commit"], commit.as_str());
    assert_eq!(status["entities"], 1);
    assert_eq!(status["branch"], "main");
    assert!(status["lastError"].is_null(), "{status}");
    let (s, facts) = app
        .get_cairn("/entities/component/default/crawled/repository")
        .await;
    assert_eq!(s, 200, "{facts}");
    assert_eq!(facts["commit"], commit.as_str());
    assert_eq!(facts["author"], "Ada Tester");
    assert_eq!(facts["files"], json!(["README.md", "catalog-info.yaml"]));
    let (_, readme) = app
        .get_cairn("/entities/component/default/crawled/repository?path=README.md")
        .await;
    assert_eq!(
        (readme["exists"].clone(), readme["content"].clone()),
        (json!(true), json!("# svc\n"))
    );
    let (_, missing) = app
        .get_cairn("/entities/component/default/crawled/repository?path=CODEOWNERS")
        .await;
    assert_eq!(missing["exists"], false);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("cairn_crawls_total{result=\"changed\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_commit_that_edits_one_descriptor_changes_only_that_entity() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("mono"));
    repo.write("a/catalog-info.yaml", &component("svc-a", "production"))
        .write("b/catalog-info.yaml", &component("svc-b", "production"));
    repo.commit("two services");
    let app = app_with_source(&repo.url(), "").await;
    let a1 = app.entity("component", "svc-a").await.unwrap();
    let b1 = app.entity("component", "svc-b").await.unwrap();
    repo.write("a/catalog-info.yaml", &component("svc-a", "deprecated"));
    repo.commit("deprecate a");
    crawl(&app, "org").await;
    let a2 = app.entity("component", "svc-a").await.unwrap();
    let b2 = app.entity("component", "svc-b").await.unwrap();
    assert_eq!(a2["spec"]["lifecycle"], "deprecated");
    assert_ne!(a1["metadata"]["etag"], a2["metadata"]["etag"]);
    assert_eq!(b1, b2, "the untouched entity is not rewritten");
    let status = repo_status(&sources(&app).await, "org");
    assert_eq!(
        (
            status["descriptorsParsed"].clone(),
            status["descriptorsSkipped"].clone()
        ),
        (json!(1), json!(1)),
        "{status}"
    );
    // Nothing new: a fetch and nothing else.
    let v = crawl(&app, "org").await;
    assert_eq!(v["changedRepositories"], 0);
}

#[tokio::test]
async fn a_deleted_descriptor_removes_its_entities() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("mono"));
    repo.write("a/catalog-info.yaml", &component("stays", "production"))
        .write("b/catalog-info.yaml", &component("goes", "production"));
    repo.commit("two");
    let app = app_with_source(&repo.url(), "").await;
    assert!(app.entity("component", "goes").await.is_some());
    repo.remove("b/catalog-info.yaml");
    repo.commit("remove b");
    crawl(&app, "org").await;
    assert!(app.entity("component", "goes").await.is_none());
    assert!(app.entity("component", "stays").await.is_some());
}

#[tokio::test]
async fn a_repository_whose_last_descriptor_is_deleted_retires_its_entities() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("solo"));
    repo.write("catalog-info.yaml", &component("solo", "production"))
        .write("README.md", "# solo\n");
    repo.commit("first");
    let app = app_with_source(&repo.url(), "").await;
    assert!(app.entity("component", "solo").await.is_some());
    repo.remove("catalog-info.yaml");
    repo.commit("no longer in the catalog");
    crawl(&app, "org").await;
    assert!(
        app.entity("component", "solo").await.is_none(),
        "a successful crawl of a tree without the file is a deletion"
    );
}

#[tokio::test]
async fn a_deleted_target_of_a_url_location_retires_its_entities() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("cfg"));
    repo.write("a.yaml", &component("kept", "production"))
        .write("b.yaml", &component("retired", "production"))
        .write("all.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: cfg-root\nspec:\n  targets: [./a.yaml, ./b.yaml]\n");
    repo.commit("first");
    let app = app_with_url_location(&repo, "all.yaml", "").await;
    assert!(app.entity("component", "retired").await.is_some());
    // Deleted, and still listed: the tree was read, and it does not hold the file.
    repo.remove("b.yaml");
    repo.commit("b leaves");
    let (s, _) = app
        .post(
            "/refresh",
            json!({"entityRef": "location:default/cfg-root"}),
        )
        .await;
    assert!(s < 300, "{s}");
    assert!(app.entity("component", "retired").await.is_none());
    assert!(app.entity("component", "kept").await.is_some());
}

#[tokio::test]
async fn a_deleted_root_target_of_a_url_location_retires_its_entities() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("direct"));
    repo.write("catalog-info.yaml", &component("direct", "production"))
        .write("README.md", "# direct\n");
    repo.commit("first");
    let app = app_with_url_location(&repo, "catalog-info.yaml", "").await;
    assert!(app.entity("component", "direct").await.is_some());
    repo.remove("catalog-info.yaml");
    repo.commit("leaves the catalog");
    let (_, locations) = app.get("/entities?filter=kind=location").await;
    let root = locations
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["spec"]["target"]
                .as_str()
                .is_some_and(|t| t.ends_with("/blob/main/catalog-info.yaml"))
        })
        .map(|l| {
            format!(
                "location:default/{}",
                l["metadata"]["name"].as_str().unwrap()
            )
        })
        .unwrap_or_else(|| panic!("{locations}"));
    let (s, _) = app.post("/refresh", json!({"entityRef": root})).await;
    assert!(s < 300, "{s}");
    assert!(
        app.entity("component", "direct").await.is_none(),
        "{}",
        app.location_errors().await
    );
}

#[tokio::test]
async fn a_remote_that_disappears_keeps_everything_and_reports_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("gone"));
    repo.write("catalog-info.yaml", &component("survivor", "production"));
    repo.commit("first");
    let app = app_with_source(&repo.url(), "").await;
    assert!(app.entity("component", "survivor").await.is_some());
    std::fs::rename(&repo.path, dir.path().join("elsewhere")).unwrap();
    crawl(&app, "org").await;
    assert!(
        app.entity("component", "survivor").await.is_some(),
        "last good state kept"
    );
    let status = repo_status(&sources(&app).await, "org");
    assert!(
        status["lastError"].as_str().unwrap().contains("cannot"),
        "{status}"
    );
    assert_eq!(status["consecutiveFailures"], 1);
    assert!(
        app.location_errors().await.contains("gone"),
        "the Location shows the error"
    );
}

#[tokio::test]
async fn a_force_push_to_an_unrelated_history_is_handled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rewritten");
    let repo = WorkRepo::init(&path);
    repo.write("catalog-info.yaml", &component("before", "production"));
    repo.commit("old history");
    let app = app_with_source(&repo.url(), "").await;
    assert!(app.entity("component", "before").await.is_some());
    drop(repo);
    std::fs::remove_dir_all(&path).unwrap();
    let fresh = WorkRepo::init(&path);
    fresh.write("catalog-info.yaml", &component("after", "production"));
    fresh.commit("new root");
    crawl(&app, "org").await;
    assert!(app.entity("component", "after").await.is_some());
    assert!(app.entity("component", "before").await.is_none());
}

#[tokio::test]
async fn a_yaml_error_reports_file_and_line_and_keeps_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("svc"));
    repo.write("catalog-info.yaml", &component("fragile", "production"));
    repo.commit("good");
    let app = app_with_source(&repo.url(), "").await;
    repo.write(
        "catalog-info.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: [fragile\n",
    );
    repo.commit("broken");
    crawl(&app, "org").await;
    let e = app
        .entity("component", "fragile")
        .await
        .expect("previous version kept");
    assert_eq!(e["spec"]["lifecycle"], "production");
    let errors = app.location_errors().await;
    assert!(
        errors.contains("/blob/main/catalog-info.yaml:") && errors.contains("line"),
        "{errors}"
    );
}

#[tokio::test]
async fn a_text_placeholder_follows_changes_to_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("api"));
    let api = "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: pets\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n  definition:\n    $text: ./openapi.yaml\n";
    repo.write("catalog-info.yaml", api)
        .write("openapi.yaml", "openapi: 3.0.0\ninfo: {title: v1}\n");
    repo.commit("api");
    let app = app_with_source(&repo.url(), "").await;
    assert!(
        app.entity("api", "pets").await.unwrap()["spec"]["definition"]
            .as_str()
            .unwrap()
            .contains("v1")
    );
    repo.write("openapi.yaml", "openapi: 3.0.0\ninfo: {title: v2}\n");
    repo.commit("only the definition");
    crawl(&app, "org").await;
    assert!(
        app.entity("api", "pets").await.unwrap()["spec"]["definition"]
            .as_str()
            .unwrap()
            .contains("v2")
    );
}

#[tokio::test]
async fn a_url_location_registered_through_the_api_is_crawled_and_refreshed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("registered"));
    repo.write("catalog-info.yaml", &component("via-api", "experimental"));
    repo.commit("first");
    let app = spawn_with(&[("all.yaml", &root_location(&[]))], Options::default()).await;
    let target = format!("{}/blob/main/catalog-info.yaml", repo.url());
    let (s, v) = app
        .post(
            "/locations?dryRun=true",
            json!({"type": "url", "target": target}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert!(v["entities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["metadata"]["name"] == "via-api"));
    let (s, v) = app
        .post("/locations", json!({"type": "url", "target": target}))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        app.entity("component", "via-api").await.unwrap()["spec"]["lifecycle"],
        "experimental"
    );
    repo.write("catalog-info.yaml", &component("via-api", "production"));
    repo.commit("promote");
    let (s, _) = app
        .post(
            "/refresh",
            json!({"entityRef": "component:default/via-api"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        app.entity("component", "via-api").await.unwrap()["spec"]["lifecycle"],
        "production"
    );
}

#[tokio::test]
async fn credentials_never_appear_in_api_output() {
    let app = app_with_source(
        "https://ci-bot:hunter2-secret@127.0.0.1:9/org/repo.git",
        "        branch: main\n",
    )
    .await;
    crawl(&app, "org").await;
    let sources = sources(&app).await.to_string();
    assert!(!sources.contains("hunter2"), "{sources}");
    assert!(sources.contains("lastError"), "{sources}");
    let (_, everything) = app.get("/entities").await;
    assert!(!everything.to_string().contains("hunter2"));
}

#[tokio::test]
async fn local_repositories_can_be_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("svc"));
    repo.write("catalog-info.yaml", &component("forbidden", "production"));
    repo.commit("first");
    let app = app_with_settings(&repo.url(), "", "    allowLocal: false\n").await;
    assert!(app.entity("component", "forbidden").await.is_none());
    let status = repo_status(&sources(&app).await, "org");
    assert!(
        status["lastError"].as_str().unwrap().contains("allowLocal"),
        "{status}"
    );
}

#[tokio::test]
async fn urls_that_are_not_git_and_links_out_of_the_tree_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("not-a-repo");
    std::fs::create_dir_all(&plain).unwrap();
    let app = app_with_source(&format!("file://{}", plain.display()), "").await;
    let status = repo_status(&sources(&app).await, "org");
    assert!(status["lastError"].is_string(), "{status}");

    let repo = WorkRepo::init(&dir.path().join("links"));
    repo.write("catalog-info.yaml", &component("linked", "production"));
    std::os::unix::fs::symlink("/etc/passwd", repo.path.join("other/catalog-info.yaml"))
        .unwrap_or_else(|_| {
            std::fs::create_dir_all(repo.path.join("other")).unwrap();
            std::os::unix::fs::symlink("/etc/passwd", repo.path.join("other/catalog-info.yaml"))
                .unwrap();
        });
    repo.commit("with a link");
    let app = app_with_source(&repo.url(), "").await;
    assert!(app.entity("component", "linked").await.is_some());
    let errors = app.location_errors().await;
    assert!(errors.contains("symbolic link"), "{errors}");
}

#[tokio::test]
async fn a_scheduled_source_picks_up_commits_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("svc"));
    repo.write("catalog-info.yaml", &component("ticking", "experimental"));
    repo.commit("first");
    let app = app_with_source(&repo.url(), "        schedule: '* * * * * *'\n").await;
    repo.write("catalog-info.yaml", &component("ticking", "production"));
    repo.commit("second");
    let seen = app
        .eventually(10, || async {
            app.entity("component", "ticking")
                .await
                .is_some_and(|e| e["spec"]["lifecycle"] == "production")
        })
        .await;
    assert!(seen, "the schedule did not crawl the new commit");
}

#[tokio::test]
async fn a_hanging_remote_times_out_without_blocking_the_others() {
    // A server that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("fine"));
    repo.write("catalog-info.yaml", &component("unblocked", "production"));
    repo.commit("first");
    let config = format!(
        "cairn:\n  sources:\n    connectTimeoutSeconds: 1\n    fetchTimeoutSeconds: 2\n    git:\n      - id: org\n        urls: [http://127.0.0.1:{port}/hangs.git, {}]\n        branch: main\n",
        repo.url()
    );
    let started = std::time::Instant::now();
    let app = spawn_with(
        &[("all.yaml", &root_location(&[]))],
        Options {
            extra_config: config,
            ..Default::default()
        },
    )
    .await;
    assert!(app.entity("component", "unblocked").await.is_some());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "startup waited {:?}",
        started.elapsed()
    );
    let v = sources(&app).await;
    let repos = v["items"][0]["repositories"].as_array().unwrap().clone();
    let hung = repos
        .iter()
        .find(|r| r["url"].as_str().unwrap().contains("hangs"))
        .unwrap();
    assert!(hung["lastError"].is_string(), "{hung}");
}

#[tokio::test]
async fn a_deleted_branch_keeps_the_entities_and_reports_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let work = WorkRepo::init(&dir.path().join("branchy"));
    work.write("catalog-info.yaml", &component("on-main", "production"));
    work.commit("first");
    {
        let repo = Repository::open(&work.path).unwrap();
        let head = repo.head().unwrap().peel_to_commit().unwrap();
        repo.branch("release", &head, false).unwrap();
    }
    let app = app_with_source(&work.url(), "        branch: release\n").await;
    assert!(app.entity("component", "on-main").await.is_some());
    Repository::open(&work.path)
        .unwrap()
        .find_branch("release", git2::BranchType::Local)
        .unwrap()
        .delete()
        .unwrap();
    crawl(&app, "org").await;
    assert!(
        app.entity("component", "on-main").await.is_some(),
        "entities kept"
    );
    let status = repo_status(&sources(&app).await, "org");
    assert!(
        status["lastError"].as_str().unwrap().contains("release"),
        "{status}"
    );
}

#[tokio::test]
async fn config_url_locations_on_git_hosts_and_oversized_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("cfg"));
    repo.write("catalog-info.yaml", &component("from-config", "production"));
    repo.write(
        "big/catalog-info.yaml",
        &format!("# {}\n", "x".repeat(5 * 1024 * 1024)),
    );
    repo.write("all.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: cfg-root\nspec:\n  targets: [./catalog-info.yaml, ./big/catalog-info.yaml]\n");
    repo.commit("first");
    // The Git reader honours the configured limit (4 MiB here, under the 5 MiB file).
    let app =
        app_with_url_location(&repo, "all.yaml", "cairn:\n  maxDescriptorBytes: 4194304\n").await;
    assert!(app.entity("component", "from-config").await.is_some());
    let errors = app.location_errors().await;
    assert!(
        errors.contains("larger than the limit of 4194304 bytes"),
        "{errors}"
    );
    // Refresh re-crawls the repository of a config location.
    repo.write("catalog-info.yaml", &component("from-config", "deprecated"));
    repo.commit("second");
    let (s, _) = app
        .post(
            "/refresh",
            json!({"entityRef": "component:default/from-config"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        app.entity("component", "from-config").await.unwrap()["spec"]["lifecycle"],
        "deprecated"
    );
}

#[tokio::test]
async fn refreshing_an_entity_recrawls_its_source_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = WorkRepo::init(&dir.path().join("svc"));
    repo.write("catalog-info.yaml", &component("refreshed", "experimental"));
    repo.commit("first");
    let app = app_with_source(&repo.url(), "").await;
    repo.write("catalog-info.yaml", &component("refreshed", "production"));
    repo.commit("second");
    let (s, _) = app
        .post(
            "/refresh",
            json!({"entityRef": "component:default/refreshed"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        app.entity("component", "refreshed").await.unwrap()["spec"]["lifecycle"],
        "production"
    );
}

/// A listener that counts the connections made to it: the "host" a location points at.
fn counting_host() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(conn);
        }
    });
    (port, seen)
}

#[tokio::test]
async fn a_location_on_a_host_not_allowed_is_refused_before_anything_is_fetched() {
    let (port, seen) = counting_host();
    let target = format!("http://127.0.0.1:{port}/o/r/blob/main/catalog-info.yaml");
    let app = spawn_with(&[("all.yaml", &root_location(&[]))], Options::default()).await;
    for path in ["/locations?dryRun=true", "/locations"] {
        let (s, v) = app
            .post(path, json!({"type": "url", "target": target}))
            .await;
        assert_eq!(s, 400, "{path}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("backend.reading.allow"),
            "{v}"
        );
    }
    // An MCP tool registers through the same catalog, and is refused the same way.
    let r = app
        .client
        .post(format!("{}/api/mcp-actions/v1", app.url))
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "catalog_register_entity", "arguments": {"locationUrl": target}}}),
        )
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"]["isError"], true, "{v}");
    assert!(
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("backend.reading.allow"),
        "{v}"
    );
    let (_, locations) = app.get("/locations").await;
    assert!(
        !locations.to_string().contains(&format!(":{port}/")),
        "{locations}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);

    // Listed in backend.reading.allow, the same host is read (here it answers nothing useful).
    let allowed = spawn_with(
        &[("all.yaml", &root_location(&[]))],
        Options {
            extra_config: format!(
                "backend:\n  reading:\n    allow:\n      - host: 127.0.0.1:{port}\n"
            ),
            ..Default::default()
        },
    )
    .await;
    let (s, v) = allowed
        .post(
            "/locations?dryRun=true",
            json!({"type": "url", "target": target}),
        )
        .await;
    assert!(!v.to_string().contains("backend.reading.allow"), "{s} {v}");
    assert!(seen.load(std::sync::atomic::Ordering::SeqCst) > 0);
}
