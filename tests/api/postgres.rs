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
