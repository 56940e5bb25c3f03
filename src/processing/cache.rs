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
        let (outcome, deps) = recorded(file, reader, compute);
        self.parsed.fetch_add(1, Ordering::Relaxed);
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

/// Runs `compute` on a reader that records what it reads: the outcome, and the (target,
/// fingerprint) of the file and of every target it read, if each has a fingerprint.
fn recorded(
    file: &str,
    reader: &dyn SourceReader,
    compute: impl FnOnce(&dyn SourceReader) -> FileOutcome,
) -> (FileOutcome, Option<Vec<(String, String)>>) {
    let recording = Recording {
        inner: reader,
        reads: Mutex::new(vec![file.to_string()]),
    };
    let outcome = compute(&recording);
    let deps = recording
        .reads
        .into_inner()
        .into_iter()
        .map(|t| reader.fingerprint(&t).map(|fp| (t, fp)))
        .collect();
    (outcome, deps)
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

/// Unchanged files of local roots. Unlike [`PrepareCache`], nothing of a file's content is
/// held: while a file and everything it read keep their fingerprints, its entities are kept as
/// stored and the file is not read at all. A file is remembered only once what it emitted is
/// in the state as emitted (see [`KeptFiles::commit`]).
#[derive(Default)]
pub struct KeptFiles {
    /// By (origin, the file's location key).
    entries: Mutex<HashMap<(String, String), KeptEntry>>,
    /// Files read, and files left unread because unchanged, since start.
    pub read: AtomicUsize,
    pub kept: AtomicUsize,
}

/// What a file emitted when it was last read in full, and what that read depended on.
#[derive(Debug, Clone)]
pub struct KeptEntry {
    /// The Location that read it.
    pub parent: String,
    /// (target, fingerprint) of the file and every placeholder target it read.
    deps: Vec<(String, String)>,
    pub refs: Vec<String>,
}

impl KeptFiles {
    /// The refs a file (by location key) emitted, if it is unchanged since and still read by
    /// the same Location.
    pub fn unchanged(
        &self,
        origin: &str,
        key: &str,
        parent: &str,
        reader: &dyn SourceReader,
    ) -> Option<Vec<String>> {
        let entries = self.entries.lock();
        let e = entries.get(&(origin.to_string(), key.to_string()))?;
        let same = e.parent == parent
            && e.deps
                .iter()
                .all(|(t, fp)| reader.fingerprint(t).as_deref() == Some(fp.as_str()));
        same.then(|| e.refs.clone())
    }

    /// Reads a file with its reads recorded: the outcome, and the entry to remember if the
    /// outcome is admitted whole (every target read has a fingerprint).
    pub(super) fn prepare(
        &self,
        file: &str,
        reader: &dyn SourceReader,
        compute: impl FnOnce(&dyn SourceReader) -> FileOutcome,
    ) -> (FileOutcome, Option<Vec<(String, String)>>) {
        self.read.fetch_add(1, Ordering::Relaxed);
        recorded(file, reader, compute)
    }

    /// Before a pass over `origin` is applied: forgets its files except those the pass kept
    /// (the files a pass no longer finds, above all).
    pub fn forget_all_but(&self, origin: &str, kept: &std::collections::HashSet<String>) {
        self.entries
            .lock()
            .retain(|(o, key), _| o != origin || kept.contains(key));
    }

    /// After a pass over `origin` was applied: remembers the files (by location key) it read
    /// in full whose entities `stored` confirms are in the state from that file and Location.
    pub fn remember(
        &self,
        origin: &str,
        read: Vec<(String, KeptEntry)>,
        stored: impl Fn(&str, &str, &KeptEntry) -> bool,
    ) {
        let mut entries = self.entries.lock();
        for (key, entry) in read {
            if entry.refs.iter().all(|r| stored(r, &key, &entry)) {
                entries.insert((origin.to_string(), key), entry);
            }
        }
    }

    /// Forgets everything: the state was changed or reloaded other than by these passes.
    pub fn clear(&self) {
        self.entries.lock().clear();
    }
}

impl KeptEntry {
    pub fn new(parent: &str, deps: Vec<(String, String)>, refs: Vec<String>) -> Self {
        KeptEntry {
            parent: parent.to_string(),
            deps,
            refs,
        }
    }
}
