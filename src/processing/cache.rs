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

/// Unchanged files of local roots. Unlike [`PrepareCache`], nothing of a file's content is
/// held: while a file and everything it read keep their fingerprints, its entities are kept as
/// stored and the file is not read at all. A file is remembered only once what it emitted is
/// in the state as emitted (see [`KeptFiles::commit`]).
#[derive(Default)]
pub struct KeptFiles {
    /// By (origin, file).
    entries: Mutex<HashMap<(String, String), KeptEntry>>,
    /// Files read, and files left unread because unchanged, since start.
    pub read: AtomicUsize,
    pub kept: AtomicUsize,
}

/// What a file emitted when it was last read in full, and what that read depended on.
#[derive(Debug, Clone)]
pub struct KeptEntry {
    /// The file's location key.
    pub key: String,
    /// The Location that read it.
    pub parent: String,
    /// (target, fingerprint) of the file and every placeholder target it read.
    deps: Vec<(String, String)>,
    pub refs: Vec<String>,
}

impl KeptFiles {
    /// The refs a file emitted, if it is unchanged since and still read by the same Location.
    pub fn unchanged(
        &self,
        origin: &str,
        file: &str,
        key: &str,
        parent: &str,
        reader: &dyn SourceReader,
    ) -> Option<Vec<String>> {
        let entries = self.entries.lock();
        let e = entries.get(&(origin.to_string(), file.to_string()))?;
        let same = e.key == key
            && e.parent == parent
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

    /// After a pass over `origin` was applied: remembers the files it read in full whose
    /// entities `stored` confirms (each is in the state from that file and Location), and
    /// forgets every other file of the origin except those it kept.
    pub fn commit(
        &self,
        origin: &str,
        kept: &[String],
        read: Vec<(String, KeptEntry)>,
        stored: impl Fn(&str, &KeptEntry) -> bool,
    ) {
        let mut entries = self.entries.lock();
        let kept: std::collections::HashSet<&str> = kept.iter().map(String::as_str).collect();
        entries.retain(|(o, f), _| o != origin || kept.contains(f.as_str()));
        for (file, entry) in read {
            if entry.refs.iter().all(|r| stored(r, &entry)) {
                entries.insert((origin.to_string(), file), entry);
            }
        }
    }

    /// Forgets everything: the state was changed or reloaded other than by these passes.
    pub fn clear(&self) {
        self.entries.lock().clear();
    }
}

impl KeptEntry {
    pub fn new(key: &str, parent: &str, deps: Vec<(String, String)>, refs: Vec<String>) -> Self {
        KeptEntry {
            key: key.to_string(),
            parent: parent.to_string(),
            deps,
            refs,
        }
    }
}
