//! Catalog benchmark: generates N entities as descriptor files, starts a real Cairn on them
//! (SQLite file database) and reports ingest time, `by-query` throughput and p99 under load,
//! facets latency and resident memory.
//!
//! `cargo bench --bench catalog -- 100000` (N defaults to 10000).
//!
//! With `git R N`: R Git repositories holding N entities in all, crawled from `file://` URLs:
//! a cold crawl, a crawl with no change, and how soon 10 changed repositories are visible.
//! `cargo bench --bench catalog -- git 1000 100000`
//!
//! With `graph N`: N entities with realistic fan-out (services depending on services, APIs,
//! events, data products, AI agents, 1% dangling refs); reports depth-3 neighbourhood, full
//! impact and dangling-report latencies. `cargo bench --bench catalog -- graph 100000`
//!
//! With `scorecards N`: N entities and one scorecard of 30 checks: full evaluation, one changed
//! entity visible in the API, and a Tech Insights bulk run.
//! `cargo bench --bench catalog -- scorecards 100000`
//!
//! With `compliance N`: N AI agents (minimal, limited and high-risk in turn): every system's
//! classification and obligations in one request, and one technical file.
//! `cargo bench --bench catalog -- compliance 10000`
//!
//! With `mcp N`: N entities plus the example AI systems; `tools/call` of
//! `catalog_query_catalog_entities` under load as a person and as the coding agent (each agent
//! call audited), then 100 clients following `/api/cairn/events` and how long after its record a
//! new entity's event reaches each. `cargo bench --bench catalog -- mcp 100000`
//!
//! With `audit N`: appends N audit records (batches of 1,000) to a SQLite database and verifies
//! the chain. `cargo bench --bench catalog -- audit 1000000`
//!
//! With `scale N`: a corpus shaped like a large organisation (see `scale/mod.rs`) and the
//! one-node scale figures. `cargo bench --bench catalog -- scale 1000000`

mod scale;

cairn::binary_allocator!();

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn main() {
    cairn::telemetry::init(false);
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.first().map(String::as_str) == Some("scorecards") {
        let n = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
        return scorecard_bench(n);
    }
    if args.first().map(String::as_str) == Some("compliance") {
        let n = args.iter().find_map(|a| a.parse().ok()).unwrap_or(10_000);
        return compliance_bench(n);
    }
    if args.first().map(String::as_str) == Some("audit") {
        let n = args
            .iter()
            .find_map(|a| a.parse().ok())
            .unwrap_or(1_000_000);
        return audit_bench(n);
    }
    if args.first().map(String::as_str) == Some("mcp") {
        let n = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
        return mcp_bench(n);
    }
    if args.first().map(String::as_str) == Some("scale-restart") {
        return scale::restart(std::path::Path::new(&args[1]));
    }
    if args.first().map(String::as_str) == Some("scale") {
        let n = args
            .iter()
            .find_map(|a| a.parse().ok())
            .unwrap_or(1_000_000);
        return scale::bench(n);
    }
    if args.first().map(String::as_str) == Some("graph") {
        let n = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
        return graph_bench(n);
    }
    if args.first().map(String::as_str) == Some("git") {
        let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
        return git_bench(
            nums.first().copied().unwrap_or(1000),
            nums.get(1).copied().unwrap_or(100_000),
        );
    }
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    generate(dir.path(), n);
    println!("generated {n} entities in {:.2?}", started.elapsed());

    let catalog = format!(
        "  rules: [{{allow: [Component, API, Group, User, System, Location]}}]\n  locations: [{{type: file, target: '{}'}}]\n",
        dir.path().join("all.yaml").display()
    );
    let (bench, ingest) = start(dir.path(), &catalog, "");
    let (port, readmodel) = (bench.port, bench.readmodel.clone());
    let served = readmodel.snapshot().len();
    println!(
        "ingest: {served} entities served {ingest:.2?} after start ({:.0} entities/s)",
        served as f64 / ingest.as_secs_f64()
    );
    println!("resident memory after ingest: {} MB", rss_mb());

    let query = "/api/catalog/entities/by-query?filter=kind=component&limit=20&orderField=metadata.name,asc";
    // Warm the per-key indexes once, as the first real request would.
    request(port, query);
    let (rps, p50, p99) = load(port, query, 4, Duration::from_secs(5));
    println!("by-query (kind=component, limit=20, totalItems): {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms (4 connections, 5 s)");

    let facets = "/api/catalog/entity-facets?facet=kind&facet=spec.type&facet=relations.ownedBy&filter=kind=component";
    let mut lat = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        request(port, facets);
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "facets (kind, spec.type, relations.ownedBy over components): p50 {:.2} ms, max {:.2} ms",
        lat[lat.len() / 2],
        lat[lat.len() - 1]
    );
    println!("resident memory at the end: {} MB", rss_mb());
}

/// A running Cairn for a benchmark.
struct Bench {
    _rt: tokio::runtime::Runtime,
    port: u16,
    readmodel: std::sync::Arc<cairn::readmodel::ReadModel>,
    crawler: std::sync::Arc<cairn::ingest::crawler::Crawler>,
    scorecards: std::sync::Arc<cairn::scorecard::Engine>,
}

impl Bench {
    /// Components served now.
    fn components(&self) -> usize {
        let snap = self.readmodel.snapshot();
        snap.docs.iter().filter(|d| &*d.kind == "Component").count()
    }

    /// Waits until the bench scorecard has a result for `components` entities; how long it took.
    fn wait_evaluated(&self, components: usize, limit: Duration) -> Duration {
        let t = Instant::now();
        while self.scorecards.results_for("scorecard:default/bench").len() < components {
            assert!(t.elapsed() < limit, "scorecards did not settle");
            std::thread::sleep(Duration::from_millis(5));
        }
        t.elapsed()
    }

    /// Waits until the bench scorecard's first check fails for `entity`, at most `limit` after
    /// `since`.
    fn wait_first_check_fails(&self, entity: &str, since: Instant, limit: Duration) {
        while !self
            .scorecards
            .result_of("scorecard:default/bench", entity)
            .is_some_and(|r| r.statuses[0] == cairn::scorecard::Status::Fail)
        {
            assert!(
                since.elapsed() < limit,
                "the change never reached the scorecard"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Starts Cairn on an SQLite file in `dir` with `catalog` and `cairn` config sections, and
/// waits until the first ingest has finished; returns it with the time that took.
fn start(dir: &std::path::Path, catalog: &str, cairn: &str) -> (Bench, Duration) {
    start_layers(dir, catalog, cairn, &[])
}

/// `start` with further config files layered on top.
fn start_layers(
    dir: &std::path::Path,
    catalog: &str,
    cairn: &str,
    layers: &[std::path::PathBuf],
) -> (Bench, Duration) {
    let config = format!(
        "backend:\n  listen: {{host: 127.0.0.1, port: 0}}\n  database: {{client: better-sqlite3, connection: '{}'}}\n  auth: {{dangerouslyDisableDefaultAuthPolicy: true}}\ncatalog:\n  processingInterval: false\n{catalog}cairn:\n  watch: false\n  dataDir: {}\n{cairn}",
        dir.join("bench.sqlite").display(),
        dir.join("data").display()
    );
    let cfg_path = dir.join("app-config.yaml");
    std::fs::write(&cfg_path, config).unwrap();
    let mut paths = vec![cfg_path];
    paths.extend(layers.iter().cloned());
    let config = cairn::config::Config::load(&paths).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let app = rt.block_on(cairn::app::Application::build(config)).unwrap();
    let (port, readmodel, crawler, scorecards) = (
        app.port(),
        app.readmodel.clone(),
        app.crawler.clone(),
        app.scorecards.clone(),
    );
    rt.spawn(app.run_until_stopped());
    while !readmodel.is_ready() {
        std::thread::sleep(Duration::from_millis(10));
    }
    (
        Bench {
            _rt: rt,
            port,
            readmodel,
            crawler,
            scorecards,
        },
        started.elapsed(),
    )
}

fn generate(dir: &std::path::Path, n: usize) {
    let files = (n / 1000).max(1);
    std::fs::create_dir_all(dir.join("entities")).unwrap();
    std::fs::write(
        dir.join("all.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: bench\nspec:\n  targets: [./entities/*.yaml]\n",
    )
    .unwrap();
    let groups = (n / 100).max(1);
    let mut i = 0;
    for f in 0..files {
        let mut out = String::new();
        let per = if f == files - 1 { n - i } else { n / files };
        for _ in 0..per {
            let doc = match i % 10 {
                0 => format!("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: group-{i}\nspec:\n  type: team\n  children: []\n"),
                1 => format!("apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: user-{i}\nspec:\n  memberOf: [group-{}]\n", (i / 10) % groups * 10),
                2 | 3 => format!("apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: api-{i}\n  description: API number {i}\nspec:\n  type: openapi\n  lifecycle: production\n  owner: group-{}\n  definition: 'openapi: 3.0.0'\n", (i / 10) % groups * 10),
                _ => format!(
                    "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: component-{i}\n  description: Service number {i}\n  tags: [lang-{}, tier-{}]\n  annotations:\n    github.com/project-slug: acme/component-{i}\nspec:\n  type: {}\n  lifecycle: {}\n  owner: group-{}\n  providesApis: [api-{}]\n",
                    i % 7,
                    i % 3,
                    ["service", "website", "library"][i % 3],
                    ["production", "experimental"][i % 2],
                    (i / 10) % groups * 10,
                    (i / 10) * 10 + 2
                ),
            };
            out.push_str("---\n");
            out.push_str(&doc);
            i += 1;
        }
        std::fs::write(dir.join(format!("entities/part-{f:04}.yaml")), out).unwrap();
    }
}

fn rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

/// One HTTP/1.1 keep-alive GET on an open stream; returns the body length.
fn get(stream: &mut TcpStream, path: &str, buf: &mut Vec<u8>) -> usize {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    read_response(stream, buf)
}

/// Reads one 200 response with a `Content-Length` into `buf`; returns the body length.
fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> usize {
    buf.clear();
    let mut chunk = [0u8; 65536];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            return len;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn request(port: u16, path: &str) -> usize {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    get(&mut s, path, &mut Vec::new())
}

/// Closed-loop load: `conns` connections, each sending requests back to back for `dur`.
fn load(port: u16, path: &str, conns: usize, dur: Duration) -> (f64, f64, f64) {
    let path = path.to_string();
    closed_loop(port, conns, dur, move |s, buf| {
        get(s, &path, buf);
    })
}

/// `conns` connections, each sending `request` back to back for `dur`: req/s, p50 and p99 in ms.
fn closed_loop(
    port: u16,
    conns: usize,
    dur: Duration,
    request: impl Fn(&mut TcpStream, &mut Vec<u8>) + Clone + Send + 'static,
) -> (f64, f64, f64) {
    let deadline = Instant::now() + dur;
    let handles: Vec<_> = (0..conns)
        .map(|_| {
            let request = request.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_nodelay(true).unwrap();
                let mut buf = Vec::new();
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    request(&mut s, &mut buf);
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<f64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (
        all.len() as f64 / dur.as_secs_f64(),
        all[all.len() / 2],
        all[(all.len() * 99 / 100).min(all.len() - 1)],
    )
}

fn commit_all(repo: &git2::Repository, message: &str) {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("Bench", "bench@example.com").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap();
}

fn repo_descriptor(r: usize, per: usize, lifecycle: &str) -> String {
    let mut out = String::new();
    for j in 0..per {
        out.push_str(&format!(
            "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: repo{r}-svc{j}\n  description: Service {j} of repository {r}\nspec:\n  type: service\n  lifecycle: {lifecycle}\n  owner: team-{}\n",
            r % 50
        ));
    }
    out
}

fn git_bench(repos: usize, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let per = (n / repos).max(1);
    let started = Instant::now();
    let mut urls = String::new();
    let mut handles = Vec::new();
    for r in 0..repos {
        let path = dir.path().join(format!("repos/r{r}"));
        std::fs::create_dir_all(&path).unwrap();
        let repo = git2::Repository::init(&path).unwrap();
        repo.set_head("refs/heads/main").unwrap();
        std::fs::write(
            path.join("catalog-info.yaml"),
            repo_descriptor(r, per, "production"),
        )
        .unwrap();
        std::fs::write(path.join("README.md"), "# readme\n").unwrap();
        commit_all(&repo, "init");
        urls.push_str(&format!("file://{}\n", path.display()));
        handles.push(path);
    }
    std::fs::write(dir.path().join("repos.txt"), urls).unwrap();
    println!(
        "generated {repos} repositories with {} entities in {:.2?}",
        repos * per,
        started.elapsed()
    );

    let cairn = format!(
        "  sources:\n    concurrency: 8\n    git:\n      - id: bench\n        urlsFile: {}\n        branch: main\n        schedule: '0 0 0 1 1 * 2099'\n",
        dir.path().join("repos.txt").display()
    );
    let (bench, cold) = start(
        dir.path(),
        "  locations: []\n  rules: [{allow: [Component, Location]}]\n",
        &cairn,
    );
    let (readmodel, crawler) = (bench.readmodel.clone(), bench.crawler.clone());
    println!(
        "cold crawl: {} entities from {repos} repositories served {:.2?} after start",
        readmodel.snapshot().len(),
        cold
    );
    println!("resident memory after the cold crawl: {} MB", rss_mb());

    let t = Instant::now();
    let changed = crawler.crawl_source("bench").unwrap();
    println!(
        "crawl with no change: {:.2?} ({changed} repositories changed)",
        t.elapsed()
    );

    let step = repos / 10;
    let changed_repos: Vec<usize> = (0..10).map(|i| i * step.max(1) % repos).collect();
    for &r in &changed_repos {
        let repo = git2::Repository::open(&handles[r]).unwrap();
        std::fs::write(
            handles[r].join("catalog-info.yaml"),
            repo_descriptor(r, per, "deprecated"),
        )
        .unwrap();
        commit_all(&repo, "deprecate");
    }
    let t = Instant::now();
    let c = crawler.clone();
    let crawl = std::thread::spawn(move || c.crawl_source("bench").unwrap());
    let visible = |r: usize| {
        readmodel
            .snapshot()
            .get_by_ref(&format!("component:default/repo{r}-svc0"))
            .is_some_and(|d| d.json.contains("\"lifecycle\":\"deprecated\""))
    };
    while !changed_repos.iter().all(|&r| visible(r)) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let seen = t.elapsed();
    let changed = crawl.join().unwrap();
    println!("10 changed repositories visible in the API {seen:.2?} after the crawl started; crawl took {:.2?} ({changed} changed)", t.elapsed());
}

fn generate_graph(dir: &std::path::Path, n: usize) {
    std::fs::create_dir_all(dir.join("entities")).unwrap();
    std::fs::write(
        dir.join("all.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: bench\nspec:\n  targets: [./entities/*.yaml]\n",
    )
    .unwrap();
    let teams = (n / 200).max(1);
    let mut out = String::new();
    let mut file = 0;
    let mut rng = 0x2545f4914f6cdd1du64;
    let mut next = |m: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % m.max(1) as u64) as usize
    };
    for i in 0..n {
        let team = format!("team-{}", i % teams);
        let doc = match i % 20 {
            0 => format!("kind: Group\nmetadata: {{name: team-{}}}\nspec: {{type: team, children: []}}\n", (i / 20) % teams),
            1 | 2 => format!("kind: API\nmetadata: {{name: api-{i}}}\nspec: {{type: openapi, lifecycle: production, owner: {team}, definition: x}}\n"),
            3 => format!("apiVersion: cairn.dev/v1alpha1\nkind: Event\nmetadata: {{name: event-{i}}}\nspec: {{type: domain-event, lifecycle: production, owner: {team}}}\n"),
            4 => {
                let input = if i > 100 { format!("dataproduct:dp-{}", (i - 100) / 20 * 20 + 4) } else { format!("event:event-{}", 3) };
                format!("apiVersion: cairn.dev/v1alpha1\nkind: DataProduct\nmetadata: {{name: dp-{i}}}\nspec: {{type: aggregate, lifecycle: production, owner: {team}, inputs: [{input}, event:event-{}]}}\n", next(i / 20 + 1) * 20 + 3)
            }
            5 if i % 100 == 5 => format!(
                "apiVersion: cairn.dev/v1alpha1\nkind: AIAgent\nmetadata: {{name: agent-{i}}}\nspec: {{type: agent, lifecycle: production, owner: {team}, tools: [api-{}], dataSources: [dataproduct:dp-{}]}}\n",
                next(i / 20 + 1) * 20 + 1,
                next(i / 20 + 1) * 20 + 4
            ),
            _ => {
                // Services depend on services of earlier blocks: no self-references.
                let block = i / 20;
                let mut dep = || match block {
                    0 => "resource:legacy-db".to_string(),
                    _ => format!("component:svc-{}", next(block) * 20 + 6 + next(10)),
                };
                let (a, b) = (dep(), dep());
                let dangling = if next(100) == 0 { ", component:ghost" } else { "" };
                format!(
                    "kind: Component\nmetadata: {{name: svc-{i}}}\nspec: {{type: service, lifecycle: production, owner: {team}, dependsOn: [{a}, {b}{dangling}], consumesApis: [api-{}], producesEvents: [event-{}]}}\n",
                    next(n / 20) * 20 + 1,
                    next(n / 20) * 20 + 3
                )
            }
        };
        out.push_str("---\n");
        if !doc.starts_with("apiVersion") {
            out.push_str("apiVersion: backstage.io/v1alpha1\n");
        }
        out.push_str(&doc);
        if (i + 1) % 1000 == 0 || i + 1 == n {
            std::fs::write(
                dir.join(format!("entities/part-{file:04}.yaml")),
                std::mem::take(&mut out),
            )
            .unwrap();
            file += 1;
        }
    }
}

fn timed(port: u16, path: &str, runs: usize) -> (f64, f64, usize) {
    let mut lat = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        size = request(port, path);
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (
        lat[lat.len() / 2],
        lat[(lat.len() * 99 / 100).min(lat.len() - 1)],
        size,
    )
}

fn graph_bench(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    generate_graph(dir.path(), n);
    let catalog = format!(
        "  rules: [{{allow: [Component, API, Group, Location, Event, DataProduct, AIAgent]}}]\n  locations: [{{type: file, target: '{}'}}]\n",
        dir.path().join("all.yaml").display()
    );
    let (bench, _) = start(dir.path(), &catalog, "");
    let (port, readmodel) = (bench.port, bench.readmodel.clone());
    let snap = readmodel.snapshot();
    let relations: usize = snap.docs.iter().map(|d| d.relations().count()).sum();
    println!("graph: {} entities, {relations} relations", snap.len());
    let t = Instant::now();
    snap.graph();
    println!(
        "graph index built in {:.2?} (once per snapshot)",
        t.elapsed()
    );
    let (p50, p99, size) = timed(
        port,
        "/api/cairn/graph/neighbourhood?entityRef=component:default/svc-1006&depth=3",
        50,
    );
    println!("depth-3 neighbourhood of a service (default limit 1000 nodes): p50 {p50:.2} ms, p99 {p99:.2} ms ({size} bytes)");
    let (p50, p99, size) = timed(port, "/api/cairn/graph/neighbourhood?entityRef=component:default/svc-1006&depth=3&relation=dependsOn&relation=dependencyOf&relation=consumesApi&relation=apiProvidedBy", 50);
    println!("depth-3 dependency/API neighbourhood of a service: p50 {p50:.2} ms, p99 {p99:.2} ms ({size} bytes)");
    let (p50, p99, size) = timed(
        port,
        "/api/cairn/graph/neighbourhood?entityRef=component:default/svc-1006&depth=3&limit=100000",
        20,
    );
    println!("depth-3 neighbourhood of a service, all relations, no limit: p50 {p50:.2} ms, p99 {p99:.2} ms ({size} bytes)");
    let (p50, p99, size) = timed(
        port,
        "/api/cairn/graph/impact?entityRef=event:default/event-3&limit=100000",
        20,
    );
    println!("full transitive impact of a widely consumed event: p50 {p50:.2} ms, p99 {p99:.2} ms ({size} bytes)");
    let (p50, p99, size) = timed(
        port,
        "/api/cairn/graph/impact?entityRef=component:default/svc-6&depth=50&limit=100000",
        20,
    );
    println!(
        "full transitive impact of a base service: p50 {p50:.2} ms, p99 {p99:.2} ms ({size} bytes)"
    );
    let (p50, p99, size) = timed(port, "/api/cairn/graph/dangling?limit=1000000", 10);
    println!("dangling-reference report: p50 {p50:.2} ms, p99 {p99:.2} ms ({size} bytes)");
}

fn scorecard_yaml() -> String {
    let mut checks = String::new();
    let rules = [
        "{fact: entity, path: $.metadata.description, operator: exists}",
        "{fact: relationCounts, path: $.ownedBy, operator: greaterThanInclusive, value: 1}",
        "{fact: entity, path: $.spec.lifecycle, operator: in, value: [production, experimental]}",
        "{fact: entity, path: \"$.metadata.annotations['github.com/project-slug']\", operator: startsWith, value: acme/}",
        "{fact: entity, path: $.metadata.tags, operator: contains, value: tier-1}",
        "{fact: relationCounts, path: $.providesApi, operator: greaterThanInclusive, value: 1}",
    ];
    for i in 0..30 {
        checks.push_str(&format!(
            "    - id: check-{i}\n      name: Check {i}\n      level: {}\n      rule: {{all: [{}]}}\n",
            ["bronze", "silver", "gold"][i % 3],
            rules[i % rules.len()]
        ));
    }
    format!("apiVersion: cairn.dev/v1alpha1\nkind: Scorecard\nmetadata:\n  name: bench\nspec:\n  filter: {{kind: component}}\n  levels: [bronze, silver, gold]\n  checks:\n{checks}")
}

fn scorecard_bench(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), n);
    std::fs::write(dir.path().join("entities/scorecard.yaml"), scorecard_yaml()).unwrap();
    let catalog = format!(
        "  rules: [{{allow: [Component, API, Group, User, System, Location, Scorecard]}}]\n  locations: [{{type: file, target: '{}'}}]\n",
        dir.path().join("all.yaml").display()
    );
    let (bench, _) = start(dir.path(), &catalog, "");
    let components = bench.components();
    // The server evaluates in the background once the catalog is ready.
    let full = bench.wait_evaluated(components, Duration::from_secs(600));
    println!("full evaluation: {components} components × 30 checks in {full:.2?} (incl. history)");
    println!("resident memory: {} MB", rss_mb());

    // One entity changes: wait for the served result to change.
    let file = dir.path().join("entities/part-0000.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("  description: Service number 4\n", "", 1),
    )
    .unwrap();
    let port = bench.port;
    let t = Instant::now();
    post(
        port,
        "/api/catalog/refresh",
        "{\"entityRef\":\"component:default/component-4\"}",
    );
    let served = |snap: &cairn::readmodel::Snapshot| {
        snap.get_by_ref("component:default/component-4")
            .is_some_and(|d| !d.json.contains("Service number 4\""))
    };
    while !served(&bench.readmodel.snapshot()) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the change never reached the catalog"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let in_catalog = t.elapsed();
    let t2 = Instant::now();
    bench.wait_first_check_fails("component:default/component-4", t2, Duration::from_secs(30));
    println!(
        "one changed entity: in the catalog {in_catalog:.2?} after the refresh (re-processing its 100k-entity location), re-evaluated and visible {:.2?} after that",
        t2.elapsed()
    );
    let some: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                "\"component:default/component-{}\"",
                (i / 6) * 10 + 4 + i % 6
            )
        })
        .collect();
    let body = format!("{{\"entities\":[{}]}}", some.join(","));
    let t = Instant::now();
    let size = post(port, "/api/tech-insights/checks/run", &body);
    println!(
        "bulk /api/tech-insights/checks/run for 1,000 entities × 30 checks: {:.2?} ({} MB)",
        t.elapsed(),
        size / 1_000_000
    );
}

fn post(port: u16, path: &str, body: &str) -> usize {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out.len()
}

fn audit_bench(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db =
        cairn::storage::Db::connect(&dir.path().join("audit.sqlite").to_string_lossy()).unwrap();
    db.migrate().unwrap();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        batch.push(cairn::model::audit::Entry::new(
            &cairn::model::audit::Actor::new("ci-bot"),
            "entity.changed",
            Some(&format!("component:default/svc-{}", i % 10_000)),
            serde_json::json!({"origin": "url:https://git.example/o/r/blob/main/catalog-info.yaml", "etag": format!("{i:040x}"), "commit": format!("{:040x}", i / 7)}),
        ));
        if batch.len() == 1000 {
            db.append_audit(&batch).unwrap();
            batch.clear();
        }
    }
    db.append_audit(&batch).unwrap();
    println!("appended {n} audit records in {:.2?}", started.elapsed());
    let started = Instant::now();
    let report = db.verify_audit().unwrap();
    println!(
        "audit verify over {} records: {:.2?} (ok: {})",
        report.records,
        started.elapsed(),
        report.ok
    );
}

fn compliance_bench(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let files = n.div_ceil(1000);
    let mut targets = Vec::new();
    for f in 0..files {
        let mut text = String::new();
        for i in (f * 1000)..((f + 1) * 1000).min(n) {
            let (h3, t1) = match i % 3 {
                0 => ("none", false),
                1 => ("none", true),
                _ => ("5b", true),
            };
            text.push_str(&format!(
                "---\napiVersion: cairn.dev/v1alpha1\nkind: AIAgent\nmetadata:\n  name: agent-{i}\n  links: [{{url: 'https://docs.example/{i}/risk', type: risk-management}}, {{url: 'https://docs.example/{i}/ifu', type: instructions-for-use}}]\nspec:\n  type: assistant\n  lifecycle: production\n  owner: group:default/team-{}\n  purpose: Agent {i}\n  humanOversight: {{owner: group:default/team-{}}}\n  aiAct:\n    role: provider\n    answers: {{S1: true, S2: false, S3: true, P1: false, P2: false, P3: false, P4: false, P5: false, P6: false, P7: false, P8: false, P9: false, H1: false, H3: '{h3}', H4: [], H5: false, T1: {t1}, T2: false, T3: false, T4: false, T5: false, G1: false}}\n",
                i % 50,
                i % 50
            ));
        }
        let name = format!("agents-{f}.yaml");
        std::fs::write(dir.path().join(&name), text).unwrap();
        targets.push(format!("./{name}"));
    }
    std::fs::write(
        dir.path().join("all.yaml"),
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {{name: agents}}\nspec:\n  targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .unwrap();
    let catalog = format!(
        "  rules: [{{allow: [Location, AIAgent]}}]\n  locations: [{{type: file, target: '{}'}}]\n",
        dir.path().join("all.yaml").display()
    );
    let (bench, ingest) = start(dir.path(), &catalog, "");
    let agents = bench
        .readmodel
        .snapshot()
        .docs
        .iter()
        .filter(|d| &*d.kind == "AIAgent")
        .count();
    println!("{agents} AI agents ingested in {ingest:.2?}");
    // Measure at rest: after the obligations scorecard has evaluated every system once.
    let t = Instant::now();
    while bench
        .scorecards
        .results_for(cairn::compliance::ATTESTATIONS)
        .len()
        < agents
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "obligations scorecard evaluated for every system {:.2?} later",
        t.elapsed()
    );
    let (p50, max, size) = timed(bench.port, "/api/cairn/compliance/ai-act/entities", 5);
    println!("classification and obligations of every system (GET …/compliance/ai-act/entities): p50 {p50:.0} ms, max {max:.0} ms ({} KB)", size / 1024);
    let (p50, max, size) = timed(
        bench.port,
        "/api/cairn/compliance/ai-act/entities/aiagent/default/agent-2",
        20,
    );
    println!("one system's to-do list: p50 {p50:.1} ms, max {max:.1} ms ({size} bytes)");
    let (p50, max, size) = timed(
        bench.port,
        "/api/cairn/compliance/ai-act/entities/aiagent/default/agent-2/technical-file",
        10,
    );
    println!(
        "technical file of one high-risk system: p50 {p50:.0} ms, max {max:.0} ms ({} KB zip)",
        size / 1024
    );
}

/// One HTTP/1.1 keep-alive POST of a JSON body on an open stream; returns the body length.
fn post_on(
    stream: &mut TcpStream,
    path: &str,
    token: &str,
    body: &str,
    buf: &mut Vec<u8>,
) -> usize {
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    read_response(stream, buf)
}

/// Closed-loop POST load, as `load` does for GETs.
fn load_post(
    port: u16,
    path: &str,
    token: &str,
    body: &str,
    conns: usize,
    dur: Duration,
) -> (f64, f64, f64) {
    let (path, token, body) = (path.to_string(), token.to_string(), body.to_string());
    closed_loop(port, conns, dur, move |s, buf| {
        post_on(s, &path, &token, &body, buf);
    })
}

/// `tools/call` of the catalog query tool: the first 20 components.
const MCP_QUERY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"catalog_query_catalog_entities","arguments":{"query":{"kind":"component"},"limit":20}}}"#;

fn mcp_bench(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), n);
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog-examples");
    let catalog = format!(
        "  rules: [{{allow: [Component, API, Group, User, System, Domain, Resource, Location, AIAgent, DataProduct, Event]}}]\n  locations:\n    - {{type: file, target: '{}'}}\n    - {{type: file, target: '{}'}}\n",
        dir.path().join("all.yaml").display(),
        examples.join("systems/ai.yaml").display(),
    );
    let tokens = "backend:\n  auth:\n    externalAccess:\n      - {type: static, options: {token: bench-person-token-0001, subject: 'user:default/bench'}}\n      - {type: static, options: {token: bench-agent-token-00001, subject: 'aiagent:default/coding-agent'}}\nmcpActions:\n  agentRateLimit: {calls: 100000000, perSeconds: 1}\n";
    let config_dir = dir.path().join("cfg");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("tokens.yaml"), tokens).unwrap();
    let (bench, ingest) = start_layers(dir.path(), &catalog, "", &[config_dir.join("tokens.yaml")]);
    let port = bench.port;
    println!(
        "mcp: {} entities served {ingest:.2?} after start",
        bench.readmodel.snapshot().len()
    );
    let call = MCP_QUERY;
    let path = "/api/mcp-actions/v1";
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    post_on(&mut s, path, "bench-person-token-0001", call, &mut buf);
    let answer = String::from_utf8_lossy(&buf);
    assert!(
        answer.contains("totalItems") && !answer.contains("isError"),
        "{answer}"
    );
    post_on(&mut s, path, "bench-agent-token-00001", call, &mut buf);
    let answer = String::from_utf8_lossy(&buf);
    assert!(
        answer.contains("totalItems") && !answer.contains("\"isError\":true"),
        "the agent may query: {answer}"
    );
    for (what, body) in [
        ("ping", r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_string()),
        ("tools/list", r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_string()),
        ("who-am-i", r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"cairn_who_am_i","arguments":{}}}"#.to_string()),
        ("query", call.to_string()),
    ] {
        for (who, token) in [("person", "bench-person-token-0001"), ("agent", "bench-agent-token-00001")] {
            let t = Instant::now();
            let mut size = 0;
            for _ in 0..200 {
                size = post_on(&mut s, path, token, &body, &mut buf);
            }
            println!("  one connection, {what} as {who}: {:.3} ms per call ({size} bytes)", t.elapsed().as_secs_f64() * 1000.0 / 200.0);
        }
    }
    {
        let t = Instant::now();
        let mut size = 0;
        for _ in 0..200 {
            size = get(
                &mut s,
                "/api/catalog/entities/by-query?filter=kind=component&limit=20",
                &mut buf,
            );
        }
        println!(
            "  one connection, GET by-query: {:.3} ms per call ({size} bytes)",
            t.elapsed().as_secs_f64() * 1000.0 / 200.0
        );
        let t = Instant::now();
        for _ in 0..200 {
            size = post_on(
                &mut s,
                "/api/catalog/entities/by-query",
                "bench-person-token-0001",
                r#"{"query":{"kind":"component"},"limit":20}"#,
                &mut buf,
            );
        }
        println!(
            "  one connection, POST by-query: {:.3} ms per call ({size} bytes)",
            t.elapsed().as_secs_f64() * 1000.0 / 200.0
        );
    }
    let (rps, p50, p99) = load_post(
        port,
        path,
        "bench-person-token-0001",
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        4,
        Duration::from_secs(3),
    );
    println!("ping: {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms");
    for (who, token) in [
        ("a person", "bench-person-token-0001"),
        ("the coding agent (audited)", "bench-agent-token-00001"),
    ] {
        let (rps, p50, p99) = load_post(port, path, token, call, 4, Duration::from_secs(5));
        println!("tools/call catalog_query_catalog_entities (kind=component, limit=20) as {who}: {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms (4 connections, 5 s)");
    }
    let (rps, p50, p99) = load(
        port,
        "/api/catalog/entities/by-query?filter=kind=component&limit=20",
        4,
        Duration::from_secs(5),
    );
    println!("for comparison, GET by-query (kind=component, limit=20): {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms");

    // 100 followers of the change feed; one new entity; when its event reaches each.
    const CLIENTS: usize = 100;
    let (tx, rx) = std::sync::mpsc::channel::<(i64, i64)>();
    let ready = std::sync::Arc::new(std::sync::Barrier::new(CLIENTS + 1));
    for _ in 0..CLIENTS {
        let (tx, ready) = (tx.clone(), ready.clone());
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(s, "GET /api/cairn/events?kind=component HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n").unwrap();
            let mut chunk = [0u8; 65536];
            let mut text = String::new();
            let n = s.read(&mut chunk).unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk[..n]));
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            ready.wait();
            loop {
                if let Some(i) = text.find("\"subject\":\"component:default/fed-") {
                    let arrived = chrono::Utc::now().timestamp_millis();
                    let j = i + text[i..].find("\"time\":\"").expect("the event's time");
                    let t = &text[j + 8..j + 32];
                    let at = chrono::DateTime::parse_from_rfc3339(t)
                        .unwrap()
                        .timestamp_millis();
                    let _ = tx.send((at, arrived));
                    return;
                }
                let n = s.read(&mut chunk).unwrap();
                if n == 0 {
                    return;
                }
                text.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
    }
    ready.wait();
    std::thread::sleep(Duration::from_millis(200));
    let file = dir.path().join("fed.yaml");
    std::fs::write(&file, "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: fed-1\nspec:\n  type: service\n  lifecycle: production\n  owner: group-0\n").unwrap();
    let body = format!("{{\"type\":\"file\",\"target\":\"{}\"}}", file.display());
    post(port, "/api/catalog/locations", &body);
    let mut lags: Vec<i64> = (0..CLIENTS)
        .map(|_| {
            let (at, arrived) = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("every client gets the event");
            arrived - at
        })
        .collect();
    lags.sort();
    println!(
        "change feed: {CLIENTS} followers got the new entity's event p50 {} ms, max {} ms after its record (ms clock)",
        lags[CLIENTS / 2],
        lags[CLIENTS - 1]
    );
}
