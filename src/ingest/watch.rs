//! Watches the directories of local locations with notify and re-processes a location about
//! a quarter of a second after its files stop changing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::Catalog;

/// Starts watching; the returned watcher must be kept alive.
pub fn watch(
    catalog: Arc<Catalog>,
    dirs: Vec<PathBuf>,
) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            if event.kind.is_access() {
                return;
            }
            for p in event.paths {
                let _ = tx.send(p);
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
