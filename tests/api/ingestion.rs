//! Ingestion behaviour: watching, orphans, conflicts, uid/etag, placeholders, nested locations.

use serde_json::json;

use crate::support::{root_location, spawn, spawn_with, Options, BASIC_CATALOG};

fn comp(name: &str, owner: &str) -> String {
    format!("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: service\n  lifecycle: production\n  owner: {owner}\n")
}

#[tokio::test]
async fn saving_a_watched_file_shows_up_within_seconds() {
    let app = spawn(&[
        ("all.yaml", &root_location(&["svc.yaml"])),
        ("svc.yaml", &comp("watched", "team-a")),
    ])
    .await;
    assert_eq!(
        app.entity("component", "watched").await.unwrap()["spec"]["owner"],
        "team-a"
    );
    app.write("svc.yaml", comp("watched", "team-b"));
    let changed = app
        .eventually(5, || async {
            app.entity("component", "watched")
                .await
                .is_some_and(|e| e["spec"]["owner"] == "team-b")
        })
        .await;
    assert!(changed, "the change was not picked up by the watcher");
}

#[tokio::test]
async fn removed_entities_are_deleted_with_the_delete_strategy() {
    let app = spawn(&[
        ("all.yaml", &root_location(&["svc.yaml"])),
        (
            "svc.yaml",
            &format!("{}---\n{}", comp("a", "t"), comp("b", "t")),
        ),
    ])
    .await;
    assert!(app.entity("component", "b").await.is_some());
    app.write("svc.yaml", comp("a", "t"));
    app.refresh_root().await;
    assert!(app.entity("component", "b").await.is_none());
    assert!(app.entity("component", "a").await.is_some());
}

#[tokio::test]
async fn removed_entities_become_orphans_with_the_keep_strategy() {
    let app = spawn_with(
        &[
            ("all.yaml", &root_location(&["svc.yaml"])),
            (
                "svc.yaml",
                &format!("{}---\n{}", comp("a", "t"), comp("b", "t")),
            ),
        ],
        Options {
            extra_config: "catalog:\n  orphanStrategy: keep\n".into(),
            ..Default::default()
        },
    )
    .await;
    app.write("svc.yaml", comp("a", "t"));
    app.refresh_root().await;
    let b = app.entity("component", "b").await.expect("orphan kept");
    assert_eq!(b["metadata"]["annotations"]["backstage.io/orphan"], "true");
    let (s, _) = app
        .post("/refresh", json!({"entityRef": "component:default/b"}))
        .await;
    assert_eq!(s, 404);
    let (_, v) = app
        .get("/entities?filter=metadata.annotations.backstage.io/orphan=true")
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    // Deleting the orphan removes it for good.
    let uid = b["metadata"]["uid"].as_str().unwrap();
    let r = app
        .client
        .delete(format!("{}/api/catalog/entities/by-uid/{uid}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(app.entity("component", "b").await.is_none());
}

#[tokio::test]
async fn uid_is_stable_and_etag_changes_exactly_when_the_entity_changes() {
    let app = spawn(&[
        ("all.yaml", &root_location(&["basic.yaml"])),
        ("basic.yaml", BASIC_CATALOG),
    ])
    .await;
    let before = app.entity("group", "team-a").await.unwrap();
    app.refresh_root().await;
    let same = app.entity("group", "team-a").await.unwrap();
    assert_eq!(
        before["metadata"]["etag"], same["metadata"]["etag"],
        "unchanged entity keeps its etag"
    );
    // A new component owned by team-a adds a reverse relation on the group: its etag changes.
    app.write("extra.yaml", comp("newcomer", "team-a"));
    app.write("all.yaml", root_location(&["basic.yaml", "extra.yaml"]));
    app.refresh_root().await;
    let after = app.entity("group", "team-a").await.unwrap();
    assert_eq!(before["metadata"]["uid"], after["metadata"]["uid"]);
    assert_ne!(before["metadata"]["etag"], after["metadata"]["etag"]);
    assert!(after["relations"]
        .as_array()
        .unwrap()
        .contains(&json!({"type":"ownerOf","targetRef":"component:default/newcomer"})));
}

#[tokio::test]
async fn a_ref_claimed_by_two_locations_stays_with_the_first() {
    let app = spawn(&[
        ("all.yaml", &root_location(&["one.yaml"])),
        ("one.yaml", &comp("shared", "first")),
    ])
    .await;
    let other = app.dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("catalog-info.yaml"), comp("shared", "second")).unwrap();
    let target = format!("file://{}", other.join("catalog-info.yaml").display());
    let (s, v) = app
        .post("/locations", json!({"type": "url", "target": target}))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        app.entity("component", "shared").await.unwrap()["spec"]["owner"],
        "first"
    );
    let loc_ref = v["location"]["entityRef"].as_str().unwrap().to_string();
    let name = loc_ref.split('/').nth(1).unwrap();
    let loc = app.entity("location", name).await.unwrap();
    let msg = loc["status"]["items"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("conflicting entityRef component:default/shared"),
        "{msg}"
    );
}

#[tokio::test]
async fn placeholders_and_globbed_nested_locations_are_followed() {
    let nested = "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: nested\nspec:\n  targets: [./apis/*.yaml]\n";
    let api = "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: pets\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n  definition:\n    $text: ../defs/pets.yaml\n";
    let app = spawn(&[
        ("all.yaml", &root_location(&["nested.yaml"])),
        ("nested.yaml", nested),
        ("apis/pets.yaml", api),
        ("defs/pets.yaml", "openapi: 3.0.0\ninfo: {title: Pets}\n"),
    ])
    .await;
    let e = app
        .entity("api", "pets")
        .await
        .expect("nested glob followed");
    assert_eq!(
        e["spec"]["definition"],
        "openapi: 3.0.0\ninfo: {title: Pets}\n"
    );
}

#[tokio::test]
async fn deleting_a_registered_location_removes_its_entities_at_once() {
    let app = spawn(&[("all.yaml", &root_location(&[]))]).await;
    let other = app.dir.path().join("reg");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("catalog-info.yaml"),
        comp("registered", "team-a"),
    )
    .unwrap();
    let (s, v) = app
        .post(
            "/locations",
            json!({"type": "file", "target": other.join("catalog-info.yaml")}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert!(app.entity("component", "registered").await.is_some());
    let id = v["location"]["id"].as_str().unwrap();
    let r = app
        .client
        .delete(format!("{}/api/catalog/locations/{id}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(app.entity("component", "registered").await.is_none());
    let (s, _) = app.get(&format!("/locations/{id}")).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn entities_survive_a_restart_from_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keep.sqlite").to_string_lossy().to_string();
    let app = spawn_with(
        &[
            ("all.yaml", &root_location(&["basic.yaml"])),
            ("basic.yaml", BASIC_CATALOG),
        ],
        Options {
            database_url: Some(db.clone()),
            ..Default::default()
        },
    )
    .await;
    let uid = app.entity("component", "legacy").await.unwrap()["metadata"]["uid"].clone();
    // A second server on the same database serves the same entity with the same uid.
    let again = spawn_with(
        &[
            ("all.yaml", &root_location(&["basic.yaml"])),
            ("basic.yaml", BASIC_CATALOG),
        ],
        Options {
            database_url: Some(db),
            ..Default::default()
        },
    )
    .await;
    let e = again.entity("component", "legacy").await.unwrap();
    assert_eq!(e["metadata"]["uid"], uid);
}

#[tokio::test]
async fn locations_can_be_queried_and_moved() {
    let app = spawn(&[("all.yaml", &root_location(&[]))]).await;
    let mk = |name: &str| {
        let dir = app.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("catalog-info.yaml"), comp(name, "team-a")).unwrap();
        dir.join("catalog-info.yaml").to_string_lossy().to_string()
    };
    let (first, second) = (mk("first"), mk("second"));
    let (s, v) = app
        .post("/locations", json!({"type": "file", "target": first}))
        .await;
    assert_eq!(s, 201);
    let id = v["location"]["id"].as_str().unwrap().to_string();
    let (s, v) = app
        .post("/locations/by-query", json!({"query": {"target": first}}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["totalItems"], 1);
    assert_eq!(v["items"][0]["id"], id.as_str());
    let (s, v) = app
        .post("/locations/by-query", json!({"query": {"colour": "red"}}))
        .await;
    assert_eq!(s, 400, "{v}");
    let r = app
        .client
        .put(format!("{}/api/catalog/locations/{id}", app.url))
        .json(&json!({"type": "file", "target": second}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(app.entity("component", "first").await.is_none());
    assert!(app.entity("component", "second").await.is_some());
}

#[tokio::test]
async fn a_directory_location_reads_every_catalog_info_file_and_optional_targets_may_be_missing() {
    let optional = "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: maybe\nspec:\n  presence: optional\n  targets: [./not-there.yaml]\n";
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in [
        ("a/catalog-info.yaml", comp("in-a", "team-a")),
        ("b/deeper/catalog-info.yaml", comp("in-b", "team-a")),
        ("c/catalog-info.yaml", optional.to_string()),
        ("d/openapi.yaml", "openapi: 3.0.0\n".to_string()),
    ] {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    let app = spawn_with(
        &[],
        Options {
            catalog_target: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
    )
    .await;
    assert!(app.entity("component", "in-a").await.is_some());
    assert!(app.entity("component", "in-b").await.is_some());
    assert!(app
        .entity("location", "maybe")
        .await
        .unwrap()
        .get("status")
        .is_none());
    assert_eq!(app.location_errors().await, "");
}

/// The status items of every Location entity.
async fn location_status_items(app: &crate::support::TestApp) -> Vec<serde_json::Value> {
    let (_, locations) = app.get("/entities?filter=kind=location").await;
    locations
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["status"]["items"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// An organisation file of `n` groups, each with one user; each group's description is 2 KB so
/// that a few thousand entities make a file of several megabytes.
fn org_file(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        out.push_str(&format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {{name: team-{i}, description: {pad}}}\nspec: {{type: team, children: []}}\n---\napiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {{name: user-{i}}}\nspec: {{memberOf: [team-{i}]}}\n---\n",
            pad = "x".repeat(2000)
        ));
    }
    out
}

#[tokio::test]
async fn a_large_organisation_file_is_ingested_and_one_over_the_configured_limit_is_an_input_error()
{
    // 4.4 MB: over the old fixed limit of 4 MiB, well under the 64 MiB default.
    let org = org_file(2_000);
    assert!(org.len() > 4_200_000, "{}", org.len());
    let app = crate::support::spawn_with(
        &[
            ("all.yaml", &root_location(&["org.yaml"])),
            ("org.yaml", &org),
        ],
        crate::support::Options {
            extra_config: "catalog:\n  rules:\n    - allow: [Group, User, Location]\n".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(app.location_errors().await, "");
    assert!(app.entity("group", "team-1999").await.is_some());
    assert!(app.entity("user", "user-0").await.is_some());

    // With a smaller configured limit the file is refused as an InputError naming the file and
    // the limit, and nothing already ingested from it is lost.
    let limited = crate::support::spawn_with(
        &[
            ("all.yaml", &root_location(&["org.yaml"])),
            ("org.yaml", &org_file(10)),
        ],
        crate::support::Options {
            extra_config: "catalog:\n  rules:\n    - allow: [Group, User, Location]\ncairn:\n  maxDescriptorBytes: 65536\n".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(limited.entity("group", "team-9").await.is_some());
    limited.write("org.yaml", org_file(40));
    limited.refresh_root().await;
    let items = location_status_items(&limited).await;
    let refused = items
        .iter()
        .find(|i| {
            i["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("org.yaml"))
        })
        .unwrap_or_else(|| panic!("{items:?}"));
    assert_eq!(refused["error"]["name"], "InputError", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("65536"), "names the limit: {message}");
    assert!(message.contains("cairn.maxDescriptorBytes"), "{message}");
    assert!(
        limited.entity("group", "team-9").await.is_some(),
        "the last good data is kept"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_out_of_a_directory_location_is_skipped_with_a_warning_and_the_rest_is_kept() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("catalog-info.yaml"),
        comp("from-outside", "team-x"),
    )
    .unwrap();
    let tree = tempfile::tempdir().unwrap();
    for name in ["a", "b", "c"] {
        let d = tree.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("catalog-info.yaml"), comp(name, "team-a")).unwrap();
    }
    std::os::unix::fs::symlink(outside.path(), tree.path().join("escape")).unwrap();
    let app = spawn_with(
        &[("all.yaml", &root_location(&[]))],
        Options {
            extra_targets: vec![tree.path().to_path_buf()],
            ..Default::default()
        },
    )
    .await;
    for name in ["a", "b", "c"] {
        assert!(
            app.entity("component", name).await.is_some(),
            "{name} is kept"
        );
    }
    assert!(app.entity("component", "from-outside").await.is_none());
    let items = location_status_items(&app).await;
    let link = tree.path().join("escape").to_string_lossy().to_string();
    let warning = items
        .iter()
        .find(|i| {
            i["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&link))
        })
        .unwrap_or_else(|| panic!("a status item names the link {link}: {items:?}"));
    assert_eq!(warning["level"], "warning", "{warning}");
}

#[tokio::test]
async fn entities_never_blink_while_watched_files_are_rewritten_in_place() {
    let names: Vec<String> = (0..200).map(|i| format!("svc-{i}")).collect();
    let files: Vec<(String, String)> = names
        .iter()
        .map(|n| (format!("{n}.yaml"), comp(n, "team-a")))
        .collect();
    let targets: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
    let root = root_location(&targets);
    let mut all: Vec<(&str, &str)> = vec![("all.yaml", &root)];
    all.extend(files.iter().map(|(f, c)| (f.as_str(), c.as_str())));
    let app = spawn(&all).await;
    let count = |v: &serde_json::Value| v.as_array().map_or(0, Vec::len);
    let (_, before) = app.get("/entities?filter=kind=component").await;
    assert_eq!(count(&before), 200);

    // Rewrite every file in place (truncate, then write) over and over, as an editor or a
    // generator script does, while reading the catalog.
    let dir = app.catalog_dir();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let files = files.clone();
        std::thread::spawn(move || {
            let mut round = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let owner = if round.is_multiple_of(2) {
                    "team-b"
                } else {
                    "team-a"
                };
                for (f, c) in &files {
                    let c = c.replace("team-a", owner);
                    use std::io::Write;
                    let mut file = std::fs::File::create(dir.join(f)).unwrap();
                    // Two writes: a reader can see the first half alone.
                    let (a, b) = c.split_at(c.len() / 2);
                    file.write_all(a.as_bytes()).unwrap();
                    file.flush().unwrap();
                    std::thread::sleep(std::time::Duration::from_micros(200));
                    file.write_all(b.as_bytes()).unwrap();
                    file.write_all(format!("# round {round}\n").as_bytes())
                        .unwrap();
                }
                round += 1;
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
        })
    };
    let mut lowest = usize::MAX;
    for _ in 0..60 {
        let (_, v) = app.get("/entities?filter=kind=component").await;
        lowest = lowest.min(count(&v));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
    assert_eq!(
        lowest, 200,
        "an entity went missing while its file was rewritten"
    );
    // Once the files hold still, the last rewrite is what is served.
    let last_owner = {
        let text = std::fs::read_to_string(app.catalog_dir().join("svc-0.yaml")).unwrap();
        if text.contains("team-b") {
            "team-b"
        } else {
            "team-a"
        }
    };
    let served = app
        .eventually(10, || async {
            app.entity("component", "svc-0")
                .await
                .is_some_and(|e| e["spec"]["owner"] == last_owner)
        })
        .await;
    assert!(
        served,
        "the last rewrite is ingested once the files are still"
    );
}

/// `cairn_location_processings_total` from `/metrics`.
async fn processings(app: &crate::support::TestApp) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix("cairn_location_processings_total "))
        .unwrap_or_else(|| panic!("no processing counter in {text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_database_beside_a_watched_location_does_not_make_it_reprocess_for_ever() {
    // Cairn's own writes (lease renewals every second here, scorecard history) land in the
    // SQLite files beside the descriptors; the watcher used to re-process the location for each.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("all.yaml"),
        format!("{BASIC_CATALOG}---\n{}", comp("beside", "team-a")),
    )
    .unwrap();
    let app = spawn_with(
        &[],
        Options {
            catalog_target: Some(dir.path().join("all.yaml")),
            database_url: Some(dir.path().join("cairn.sqlite").display().to_string()),
            extra_config: "cairn:\n  leaseSeconds: 3\n".into(),
            ..Default::default()
        },
    )
    .await;
    app.settled().await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let before = processings(&app).await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(
        processings(&app).await,
        before,
        "re-processed with no descriptor changed"
    );

    // A descriptor that changes is still seen.
    std::fs::write(
        dir.path().join("all.yaml"),
        format!("{BASIC_CATALOG}---\n{}", comp("beside", "team-b")),
    )
    .unwrap();
    let seen = app
        .eventually(10, || async {
            app.entity("component", "beside").await.unwrap()["spec"]["owner"] == "team-b"
        })
        .await;
    assert!(seen);
}

/// (`cairn_local_files_read_total`, `cairn_local_files_kept_total`) from `/metrics`.
async fn files_read_and_kept(app: &crate::support::TestApp) -> (u64, u64) {
    let text = app.metrics().await;
    let counter = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .parse()
            .unwrap()
    };
    (
        counter("cairn_local_files_read_total"),
        counter("cairn_local_files_kept_total"),
    )
}

/// Re-processes the location, then says how many files that read and kept.
async fn refresh_counting(app: &crate::support::TestApp) -> (u64, u64) {
    let (read, kept) = files_read_and_kept(app).await;
    app.refresh_root().await;
    app.settled().await;
    let (read_after, kept_after) = files_read_and_kept(app).await;
    (read_after - read, kept_after - kept)
}

#[tokio::test]
async fn only_changed_files_are_read_again_and_unchanged_ones_keep_their_entities() {
    let api = "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: pets\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n  definition:\n    $text: ./defs/pets.txt\n";
    let app = spawn_with(
        &[
            (
                "all.yaml",
                &root_location(&["a.yaml", "b.yaml", "c.yaml", "api.yaml"]),
            ),
            ("a.yaml", &comp("a", "team-a")),
            ("b.yaml", &comp("b", "team-a")),
            ("c.yaml", &comp("c", "team-a")),
            ("api.yaml", api),
            ("defs/pets.txt", "v1"),
        ],
        Options {
            extra_config: "cairn:\n  watch: false\n".into(),
            ..Default::default()
        },
    )
    .await;
    app.settled().await;
    let owner = |e: Option<serde_json::Value>| e.expect("served")["spec"]["owner"].clone();

    // Nothing changed: only the Location file is read.
    assert_eq!(refresh_counting(&app).await, (1, 4));

    app.write("b.yaml", comp("b", "team-b"));
    assert_eq!(refresh_counting(&app).await, (2, 3), "all.yaml and b.yaml");
    assert_eq!(owner(app.entity("component", "b").await), "team-b");
    for name in ["a", "c"] {
        assert_eq!(owner(app.entity("component", name).await), "team-a");
    }

    // A placeholder target is part of the file that reads it.
    app.write("defs/pets.txt", "v2");
    assert_eq!(
        refresh_counting(&app).await,
        (2, 3),
        "all.yaml and api.yaml"
    );
    let pets = app.entity("api", "pets").await.unwrap();
    assert_eq!(pets["spec"]["definition"], "v2");

    // A file moved away and back keeps its size and time, yet its entities return.
    let c = app.catalog_dir().join("c.yaml");
    let away = app.dir.path().join("c.yaml");
    std::fs::rename(&c, &away).unwrap();
    app.refresh_root().await;
    app.settled().await;
    assert!(app.entity("component", "c").await.is_none());
    std::fs::rename(&away, &c).unwrap();
    app.refresh_root().await;
    app.settled().await;
    assert!(app.entity("component", "c").await.is_some(), "c came back");

    // An entity deleted through the API returns on the next pass, though its file is unchanged.
    let uid = app.entity("component", "a").await.unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let status = app
        .client
        .delete(format!("{}/api/catalog/entities/by-uid/{uid}", app.url))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    assert!(app.entity("component", "a").await.is_none());
    app.refresh_root().await;
    app.settled().await;
    assert!(app.entity("component", "a").await.is_some(), "a came back");
}

#[tokio::test]
async fn an_unchanged_file_whose_ref_is_now_emitted_earlier_in_the_tree_is_read_as_a_duplicate() {
    let app = spawn_with(
        &[
            ("all.yaml", &root_location(&["x1.yaml", "x2.yaml"])),
            ("x1.yaml", &comp("one", "team-a")),
            ("x2.yaml", &comp("two", "team-a")),
        ],
        Options {
            extra_config: "cairn:\n  watch: false\n".into(),
            ..Default::default()
        },
    )
    .await;
    app.settled().await;
    app.refresh_root().await;
    app.settled().await;

    // x1 comes first in the tree, so it wins "two"; unchanged x2 must be read to say so.
    app.write(
        "x1.yaml",
        format!("{}---\n{}", comp("one", "team-a"), comp("two", "team-b")),
    );
    app.refresh_root().await;
    app.settled().await;
    let two = app.entity("component", "two").await.unwrap();
    assert_eq!(two["spec"]["owner"], "team-b");
    assert!(
        two["metadata"]["annotations"]["backstage.io/managed-by-location"]
            .as_str()
            .unwrap()
            .ends_with("x1.yaml")
    );
    assert!(
        app.location_errors()
            .await
            .contains("Duplicate entity component:default/two"),
        "{}",
        app.location_errors().await
    );
}
