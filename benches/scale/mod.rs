//! `cargo bench --bench catalog -- scale 1000000`: a corpus shaped like a large organisation, and
//! the figures of the one-node scale table (README, "Benchmarks").
//!
//! The corpus: one organisation file with every user and group (as an HR sync writes it); APIs
//! with inline OpenAPI or AsyncAPI definitions of 1–4 KB; components with many relations
//! (dependencies, provided and consumed APIs across namespaces, a system); resources, systems and
//! domains; four namespaces; a 30-check scorecard over every component. Descriptor files hold
//! 100 entities each, so "a 1,000-file change" is a push that touches 1,000 files.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{load, request, rss_mb, scorecard_yaml, start_layers, timed, Bench};

const NAMESPACES: [&str; 4] = ["default", "platform", "data", "payments"];
const PER_FILE: usize = 100;

/// The kind of entity `i` (of every 100: 3 users and 1 group in the organisation file, 20 APIs,
/// 61 components, 10 resources, 4 systems, 1 domain).
fn kind_of(i: usize) -> &'static str {
    match i % 100 {
        0..=2 => "User",
        3 => "Group",
        4..=23 => "API",
        24..=84 => "Component",
        85..=94 => "Resource",
        95..=98 => "System",
        _ => "Domain",
    }
}

/// The namespace of the file holding entity `i` (the organisation is in `default`).
fn namespace_of(i: usize) -> &'static str {
    NAMESPACES[(i / PER_FILE) % NAMESPACES.len()]
}

fn group_of(i: usize, groups: usize) -> usize {
    (i / 100 % groups) * 100 + 3
}

/// An OpenAPI (or, for every third API, AsyncAPI) document of 1–4 KB.
fn definition(i: usize) -> String {
    let paths = 4 + i % 16;
    let mut out = String::new();
    if i.is_multiple_of(3) {
        let _ = write!(
            out,
            "asyncapi: 2.6.0\ninfo:\n  title: Events {i}\n  version: 1.{}.0\nchannels:\n",
            i % 9
        );
        for p in 0..paths {
            let _ = write!(
                out,
                "  orders.{i}.v{p}:\n    subscribe:\n      message:\n        payload:\n          type: object\n          properties:\n            id: {{type: string, format: uuid}}\n            amount: {{type: number}}\n"
            );
        }
    } else {
        let _ = write!(
            out,
            "openapi: 3.0.3\ninfo:\n  title: Service API {i}\n  version: 2.{}.0\npaths:\n",
            i % 7
        );
        for p in 0..paths {
            let _ = write!(
                out,
                "  /v1/resource-{p}/{{id}}:\n    get:\n      summary: Read resource {p}\n      parameters: [{{name: id, in: path, required: true, schema: {{type: string}}}}]\n      responses:\n        '200': {{description: The resource, content: {{application/json: {{schema: {{type: object}}}}}}}}\n"
            );
        }
    }
    out
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// Entity `i` as YAML (`lifecycle` lets a change rewrite every component of a file).
fn entity(i: usize, groups: usize, lifecycle: &str) -> String {
    let ns = namespace_of(i);
    let owner = format!("group:default/group-{}", group_of(i, groups));
    let base = i / 100 * 100;
    let system = format!("system:{ns}/system-{}", base + 95 + i % 4);
    match kind_of(i) {
        "User" => format!(
            "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: user-{i}\n  annotations: {{backstage.io/managed-by-origin-location: 'hr:sync'}}\nspec:\n  profile: {{displayName: User {i}, email: user-{i}@example.com}}\n  memberOf: [group-{}]\n",
            group_of(i, groups)
        ),
        "Group" => {
            let parent = (i >= 100 * 10).then(|| format!("  parent: group-{}\n", group_of(i / 10, groups)));
            format!(
                "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: group-{i}\n  description: Team {i}\nspec:\n  type: team\n  profile: {{displayName: Team {i}, email: team-{i}@example.com}}\n{}  children: []\n",
                parent.unwrap_or_default()
            )
        }
        "API" => format!(
            "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: api-{i}\n  namespace: {ns}\n  description: API number {i}\n  tags: [tier-{}, domain-{}]\nspec:\n  type: {}\n  lifecycle: production\n  owner: {owner}\n  system: {system}\n  definition: |\n{}",
            i % 3,
            i % 11,
            if i.is_multiple_of(3) { "asyncapi" } else { "openapi" },
            indent(&definition(i), "    ")
        ),
        "Component" => {
            let api = |k: usize| base + 4 + (i + k) % 20;
            let depends: Vec<String> = (1..=4)
                .map(|k| format!("component:{ns}/component-{}", base + 24 + (i - base - 24 + k * 7) % 61))
                .chain((0..2).map(|k| format!("resource:{ns}/resource-{}", base + 85 + (i + k) % 10)))
                .collect();
            // Consumed APIs from the neighbouring namespace's files.
            let other = base + PER_FILE;
            let consumed: Vec<String> = (0..3)
                .map(|k| {
                    format!(
                        "api:{}/api-{}",
                        namespace_of(other),
                        other + 4 + (i + k) % 20
                    )
                })
                .collect();
            format!(
                "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: component-{i}\n  namespace: {ns}\n  description: Service number {i}\n  tags: [lang-{}, tier-{}]\n  annotations:\n    github.com/project-slug: acme/component-{i}\n    backstage.io/techdocs-ref: dir:.\n  links: [{{url: 'https://runbooks.example.com/component-{i}', title: Runbook}}]\nspec:\n  type: {}\n  lifecycle: {lifecycle}\n  owner: {owner}\n  system: {system}\n  providesApis: [api-{}]\n  consumesApis: [{}]\n  dependsOn: [{}]\n",
                i % 7,
                i % 3,
                ["service", "website", "library"][i % 3],
                api(0),
                consumed.join(", "),
                depends.join(", ")
            )
        }
        "Resource" => format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: resource-{i}\n  namespace: {ns}\n  description: Database {i}\nspec:\n  type: database\n  owner: {owner}\n  system: {system}\n"
        ),
        "System" => format!(
            "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: system-{i}\n  namespace: {ns}\n  description: System {i}\nspec:\n  owner: {owner}\n  domain: domain-{}\n",
            base + 99
        ),
        _ => format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata:\n  name: domain-{i}\n  namespace: {ns}\n  description: Domain {i}\nspec:\n  owner: {owner}\n"
        ),
    }
}

fn part_path(dir: &Path, f: usize) -> std::path::PathBuf {
    dir.join(format!("entities/{:03}/part-{f:05}.yaml", f / 1000))
}

/// One descriptor file: entities `f*100 .. f*100+100`, without the organisation's.
fn part(f: usize, groups: usize, lifecycle: &str) -> String {
    let mut out = String::new();
    for i in f * PER_FILE..(f + 1) * PER_FILE {
        if matches!(kind_of(i), "User" | "Group") {
            continue;
        }
        out.push_str("---\n");
        out.push_str(&entity(i, groups, lifecycle));
    }
    out
}

/// Writes the corpus of `n` entities; returns the number of descriptor files.
pub fn generate(dir: &Path, n: usize) -> usize {
    let files = n.div_ceil(PER_FILE);
    let groups = files;
    std::fs::write(
        dir.join("all.yaml"),
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: bench\nspec:\n  targets: [./org.yaml, ./scorecard.yaml, ./entities/*/*.yaml]\n",
    )
    .unwrap();
    let mut org = String::new();
    for i in 0..files * PER_FILE {
        if matches!(kind_of(i), "User" | "Group") {
            org.push_str("---\n");
            org.push_str(&entity(i, groups, "production"));
        }
    }
    std::fs::write(dir.join("org.yaml"), org).unwrap();
    std::fs::write(dir.join("scorecard.yaml"), scorecard_yaml()).unwrap();
    for f in 0..files {
        let path = part_path(dir, f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, part(f, groups, "production")).unwrap();
    }
    files
}

fn served_json_mb(bench: &Bench) -> u64 {
    let snap = bench.readmodel.snapshot();
    snap.docs.iter().map(|d| d.json.len() as u64).sum::<u64>() / 1_000_000
}

pub fn bench(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let files = generate(dir.path(), n);
    let bytes: u64 = walk_bytes(dir.path());
    println!(
        "generated {n} entities in {files} files + org.yaml ({} MB of YAML) in {:.2?}",
        bytes / 1_000_000,
        t.elapsed()
    );
    let catalog = catalog_section(dir.path());
    let watch = dir.path().join("watch.yaml");
    std::fs::write(
        &watch,
        "cairn:\n  watch: true\nbackend:\n  auth:\n    externalAccess:\n      - {type: static, options: {token: bench-person-token-0001, subject: 'user:default/bench'}}\n",
    )
    .unwrap();

    let (bench, ingest) = start_layers(dir.path(), &catalog, "", std::slice::from_ref(&watch));
    let served = bench.readmodel.snapshot().len();
    println!(
        "| first ingest from files | {served} entities served {ingest:.1?} after start ({:.0}/s) |",
        served as f64 / ingest.as_secs_f64()
    );
    let components = bench.components();
    let full = bench.wait_evaluated(components, Duration::from_secs(1800));
    println!(
        "| scorecards: 30 checks over {components} components, first evaluation | {full:.1?} after ready |"
    );
    std::thread::sleep(Duration::from_secs(5));
    println!(
        "| resident memory, settled | {} MB (served JSON {} MB) |",
        rss_mb(),
        served_json_mb(&bench)
    );

    // Restart: a second process on the same database and files, started while this one is
    // idle (the replica that does not hold the writer lease): ready once it has loaded and
    // serves the whole catalog.
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["scale-restart", &dir.path().display().to_string()])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));

    // For a heap profile (`valgrind --tool=massif`): stop once settled.
    if std::env::var_os("SCALE_MEMORY_ONLY").is_some() {
        return;
    }
    let port = bench.port;
    let query = "/api/catalog/entities/by-query?filter=kind=component&limit=20";
    request(port, query);
    let (rps, p50, p99) = load(port, query, 4, Duration::from_secs(5));
    println!("| by-query page (kind=component, limit=20) | {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms |");

    for facet in ["kind", "spec.type", "metadata.tags", "relations.ownedBy"] {
        let path = format!("/api/catalog/entity-facets?facet={facet}");
        request(port, &path);
        let (p50, max, _) = timed(port, &path, 20);
        println!("| facet {facet} | p50 {p50:.1} ms, max {max:.1} ms |");
    }

    let names = "/api/catalog/entities?filter=kind=component&fields=metadata.name";
    let (first, _, size) = timed(port, names, 1);
    let (p50, max, _) = timed(port, names, 5);
    println!(
        "| unpaged component names ({components}, {} KB) | first {first:.0} ms, then p50 {p50:.0} ms, max {max:.0} ms: {:.0} entities/ms |",
        size / 1000,
        components as f64 / p50
    );

    // MCP reads, as a person.
    let (path, token) = ("/api/mcp-actions/v1", "bench-person-token-0001");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut buf = Vec::new();
    super::post_on(&mut s, path, token, super::MCP_QUERY, &mut buf);
    assert!(String::from_utf8_lossy(&buf).contains("totalItems"));
    let (rps, p50, p99) = super::load_post(
        port,
        path,
        token,
        super::MCP_QUERY,
        4,
        Duration::from_secs(5),
    );
    println!("| MCP tools/call catalog query (limit=20) | {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms |");

    // One change: the scorecard result of one component moves.
    let f = 0;
    let target = "component:default/component-24";
    let text = std::fs::read_to_string(part_path(dir.path(), f)).unwrap();
    let t = Instant::now();
    std::fs::write(
        part_path(dir.path(), f),
        text.replacen("  description: Service number 24\n", "", 1),
    )
    .unwrap();
    bench.wait_first_check_fails(target, t, Duration::from_secs(120));
    println!("| one changed file: its scorecard result visible | {:.0?} after the write (watcher, re-process, evaluate) |", t.elapsed());

    // Under load: a full evaluation (the scorecard changes) and a 1,000-file change together.
    let busy = std::thread::spawn({
        let dir = dir.path().to_path_buf();
        move || {
            let t = Instant::now();
            let card = std::fs::read_to_string(dir.join("scorecard.yaml")).unwrap();
            std::fs::write(
                dir.join("scorecard.yaml"),
                card.replace("name: Check 0\n", "name: Check zero\n"),
            )
            .unwrap();
            for f in 0..1000.min(files) {
                std::fs::write(part_path(&dir, f), part(f, files, "experimental")).unwrap();
            }
            t.elapsed()
        }
    });
    let (rps, p50, p99) = load(port, query, 4, Duration::from_secs(10));
    busy.join().unwrap();
    println!("| by-query while a full evaluation and a 1,000-file change run | {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms (10 s) |");
}

/// The restart half of [`bench`], in its own process: Cairn on the corpus and database in `dir`;
/// reports when it is ready and serving, and its memory then.
pub fn restart(dir: &Path) {
    let catalog = catalog_section(dir);
    let (bench, ready) = start_layers(dir, &catalog, "", &[]);
    println!(
        "| restart: ready from the database | {} entities served {ready:.1?} after start, {} MB resident |",
        bench.readmodel.snapshot().len(),
        rss_mb()
    );
}

/// The `catalog:` section for the corpus in `dir`.
fn catalog_section(dir: &Path) -> String {
    format!(
        "  rules: [{{allow: [Component, API, Group, User, System, Domain, Resource, Location, Scorecard]}}]\n  locations: [{{type: file, target: '{}'}}]\n",
        dir.join("all.yaml").display()
    )
}

fn walk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        if m.is_dir() {
            total += walk_bytes(&e.path());
        } else if e.path().extension().is_some_and(|x| x == "yaml") {
            total += m.len();
        }
    }
    total
}
