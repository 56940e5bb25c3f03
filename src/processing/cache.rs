//! Incremental processing: a file's prepared documents are reused while the file and every
//! placeholder target it read keep the same fingerprint (Git blob ids), so a crawl re-parses only
//! the descriptors that changed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::FileOutcome;
use crate::descriptor::SourceReader;

struct Entry {
    deps: Vec<(String, String)>,
    outcome: FileOutcome,
}

/// Prepared files of one source, by file target.
#[derive(Default)]
pub struct PrepareCache {
    entries: Mutex<HashMap<String, Entry>>,
    parsed: AtomicUsize,
    skipped: AtomicUsize,
}

impl PrepareCache {
    /// Descriptors parsed and reused since the last call.
    pub fn take_counts(&self) -> (usize, usize) {
        (
            self.parsed.swap(0, Ordering::Relaxed),
            self.skipped.swap(0, Ordering::Relaxed),
        )
    }

    /// Drops entries for files that no longer exist.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.entries.lock().retain(|k, _| keep(k));
    }

    pub(super) fn prepare(
        &self,
        file: &str,
        reader: &dyn SourceReader,
        compute: impl FnOnce(&dyn SourceReader) -> FileOutcome,
    ) -> FileOutcome {
        if let Some(e) = self.entries.lock().get(file) {
            if e.deps
                .iter()
                .all(|(t, fp)| reader.fingerprint(t).as_deref() == Some(fp.as_str()))
            {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                return e.outcome.clone();
            }
        }
        let recording = Recording {
            inner: reader,
            reads: Mutex::new(vec![file.to_string()]),
        };
        let outcome = compute(&recording);
        self.parsed.fetch_add(1, Ordering::Relaxed);
        let deps: Option<Vec<(String, String)>> = recording
            .reads
            .into_inner()
            .into_iter()
            .map(|t| reader.fingerprint(&t).map(|fp| (t, fp)))
            .collect();
        if let Some(deps) = deps {
            self.entries.lock().insert(
                file.to_string(),
                Entry {
                    deps,
                    outcome: outcome.clone(),
                },
            );
        }
        outcome
    }
}

/// Remembers which targets a file's processing read.
struct Recording<'a> {
    inner: &'a dyn SourceReader,
    reads: Mutex<Vec<String>>,
}

impl SourceReader for Recording<'_> {
    fn resolve(&self, base: &str, target: &str) -> Result<Vec<String>, String> {
        self.inner.resolve(base, target)
    }
    fn read(&self, target: &str) -> Result<Vec<u8>, crate::descriptor::ReadError> {
        self.reads.lock().push(target.to_string());
        self.inner.read(target)
    }
    fn fingerprint(&self, target: &str) -> Option<String> {
        self.inner.fingerprint(target)
    }
    fn take_skipped(&self) -> Vec<String> {
        self.inner.take_skipped()
    }
}
