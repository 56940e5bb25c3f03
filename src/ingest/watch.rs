//! Watches the directories of local locations with notify and re-processes a location about
//! a quarter of a second after its files stop changing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::Catalog;

/// Starts watching; the returned watcher must be kept alive. Changes under `ignore` (Cairn's
/// own database files and data directory; a file path also covers its `-wal` and `-shm`
/// siblings) are not the catalog's: every write of Cairn's would otherwise re-process a
/// location kept beside them.
pub fn watch(
    catalog: Arc<Catalog>,
    dirs: Vec<PathBuf>,
    ignore: Vec<PathBuf>,
) -> notify::Result<notify::RecommendedWatcher> {
    let ignore: Vec<String> = ignore
        .iter()
        .map(|p| absolute(p).to_string_lossy().into_owned())
        .collect();
    let ours = move |p: &std::path::Path| {
        let p = p.to_string_lossy();
        ignore.iter().any(|i| {
            p.strip_prefix(i.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '-']))
        })
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            if event.kind.is_access() {
                return;
            }
            for p in event.paths {
                if !ours(&p) {
                    let _ = tx.send(p);
                }
            }
        }
    })?;
    for d in &dirs {
        if let Err(e) = watcher.watch(d, RecursiveMode::Recursive) {
            tracing::warn!(dir = %d.display(), error = %e, "cannot watch directory");
        }
    }
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut paths = vec![first];
            // Debounce: editors write several events per save.
            loop {
                match tokio::time::timeout(Duration::from_millis(250), rx.recv()).await {
                    Ok(Some(p)) => paths.push(p),
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            paths.sort();
            paths.dedup();
            let catalog = catalog.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(e) = catalog.ingest_paths(&paths) {
                    tracing::warn!(error = %e, "re-processing after a change failed");
                }
            })
            .await;
        }
    });
    Ok(watcher)
}

fn absolute(p: &std::path::Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    super::files::normalize(&abs)
}
