//! Reading descriptors from the local file system, confined to a location's root directory.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::descriptor::{ReadError, SourceReader};

/// Reads files under one root directory; every resolved path must stay inside it.
pub struct FileReader {
    root: PathBuf,
    max_bytes: usize,
    /// Files a directory or glob matched through a link out of the root: left out, with a
    /// warning on the location.
    skipped: std::sync::Mutex<Vec<String>>,
    /// Each file read, with its size and modification time when it was read.
    reads: std::sync::Mutex<HashMap<PathBuf, (u64, Option<std::time::SystemTime>)>>,
}

impl FileReader {
    /// A reader for a location whose top-level target is `target` (a file, a directory or a
    /// glob). The root is the directory the target lives in (or the directory itself).
    pub fn for_target(target: &Path) -> Self {
        let dir = if target.is_dir() {
            target.to_path_buf()
        } else {
            let mut base = PathBuf::new();
            for c in target.components() {
                let s = c.as_os_str().to_string_lossy();
                if s.contains(['*', '?', '[']) {
                    break;
                }
                base.push(c);
            }
            if base == target {
                base.parent().map(Path::to_path_buf).unwrap_or(base)
            } else {
                base
            }
        };
        let root = dir.canonicalize().unwrap_or_else(|_| normalize(&dir));
        FileReader {
            root,
            max_bytes: crate::model::catalog_rules::DEFAULT_MAX_DESCRIPTOR_BYTES,
            skipped: std::sync::Mutex::new(Vec::new()),
            reads: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Whether a file read so far has changed (size or time) since it was read: what was read
    /// may be half of a file being written.
    /// A file read empty that was written in the last moments counts too: it is most likely
    /// caught between its truncation and its first write.
    ///
    /// When a file read was written in the last moments, its writer may still be writing: give
    /// it a tenth of a second before looking again (a busy machine can hold a writer back).
    pub fn changed_since_read(&self) -> bool {
        let moments = std::time::Duration::from_millis(300);
        let reads = self.reads.lock().expect("reads");
        let recent = |at: &Option<std::time::SystemTime>| {
            at.and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age < moments)
        };
        if reads.values().any(|(_, at)| recent(at)) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        reads.iter().any(|(path, (len, at))| {
            let just_emptied = *len == 0 && recent(at);
            just_emptied
                || std::fs::metadata(path)
                    .map_or(true, |m| m.len() != *len || m.modified().ok() != *at)
        })
    }

    /// Refuses descriptor files larger than `limit` bytes.
    pub fn with_max_bytes(mut self, limit: usize) -> Self {
        self.max_bytes = limit;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A file a directory or glob matched: its real path inside the root, or `None` (recorded as
    /// skipped, naming the link it went through) when a link leads it out.
    fn matched(&self, p: &Path, target: &str) -> Option<PathBuf> {
        match self.confine(p, target) {
            Ok(real) => Some(real),
            Err(_) => {
                let link = p
                    .ancestors()
                    .filter(|a| {
                        std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink())
                    })
                    .last()
                    .unwrap_or(p);
                let to = std::fs::canonicalize(link).unwrap_or_else(|_| link.to_path_buf());
                let message = format!(
                    "{} is a symbolic link to {}, outside the location root {}; skipped",
                    link.display(),
                    to.display(),
                    self.root.display()
                );
                let mut skipped = self.skipped.lock().expect("skipped");
                if !skipped.contains(&message) {
                    skipped.push(message);
                }
                None
            }
        }
    }

    fn confine(&self, path: &Path, shown: &str) -> Result<PathBuf, String> {
        let real = path.canonicalize().unwrap_or_else(|_| normalize(path));
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(format!(
                "target {shown} resolves outside the location root {}",
                self.root.display()
            ))
        }
    }
}

/// Turns `file:///x`, `/x` or a path relative to `base`'s directory into an absolute path.
pub fn target_path(base: &str, target: &str) -> PathBuf {
    let target = target.strip_prefix("file://").unwrap_or(target);
    let p = Path::new(target);
    if p.is_absolute() {
        normalize(p)
    } else {
        let base = Path::new(base.strip_prefix("file://").unwrap_or(base));
        let dir = if base.is_dir() {
            base
        } else {
            base.parent().unwrap_or(Path::new("/"))
        };
        normalize(&dir.join(p))
    }
}

/// Lexical normalisation (`a/./b/../c` → `a/c`) for paths that may not exist.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

impl SourceReader for FileReader {
    fn resolve(&self, base: &str, target: &str) -> Result<Vec<String>, String> {
        let path = target_path(base, target);
        let text = path.to_string_lossy().to_string();
        if text.contains(['*', '?', '[']) {
            // Check the pattern's fixed prefix first, so a glob cannot be aimed outside the root.
            let fixed: PathBuf = path
                .components()
                .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
                .collect();
            if !normalize(&fixed).starts_with(&self.root) && !fixed.starts_with(&self.root) {
                self.confine(&fixed, target)?;
            }
            let mut found = Vec::new();
            for entry in glob::glob(&text).map_err(|e| format!("invalid glob {target}: {e}"))? {
                let p = entry.map_err(|e| e.to_string())?;
                if p.is_file() {
                    found.extend(
                        self.matched(&p, target)
                            .map(|r| r.to_string_lossy().to_string()),
                    );
                }
            }
            found.sort();
            return Ok(found);
        }
        let real = self.confine(&path, target)?;
        if real.is_dir() {
            let mut found = Vec::new();
            for name in ["catalog-info.yaml", "catalog-info.yml"] {
                let pattern = real.join("**").join(name);
                for p in glob::glob(&pattern.to_string_lossy())
                    .map_err(|e| e.to_string())?
                    .flatten()
                {
                    found.extend(
                        self.matched(&p, target)
                            .map(|r| r.to_string_lossy().to_string()),
                    );
                }
            }
            found.sort();
            return Ok(found);
        }
        if !real.exists() {
            return Err(format!("file {} does not exist", path.display()));
        }
        Ok(vec![real.to_string_lossy().to_string()])
    }

    fn take_skipped(&self) -> Vec<String> {
        std::mem::take(&mut *self.skipped.lock().expect("skipped"))
    }

    /// Size and modification time: as they were when this reader read the file (what it
    /// read may be older than the file now), or as they are now.
    fn fingerprint(&self, target: &str) -> Option<String> {
        let path = self.confine(Path::new(target), target).ok()?;
        let read = self.reads.lock().expect("reads").get(&path).copied();
        let (len, at) = match read {
            Some(r) => r,
            None => {
                let meta = std::fs::metadata(&path).ok()?;
                (meta.len(), meta.modified().ok())
            }
        };
        let nanos = at?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
        Some(format!("{len}:{nanos}"))
    }

    fn read(&self, target: &str) -> Result<Vec<u8>, ReadError> {
        let path = self
            .confine(Path::new(target), target)
            .map_err(ReadError::Refused)?;
        let unreadable =
            |e: std::io::Error| ReadError::NotFound(format!("cannot read {target}: {e}"));
        let meta = std::fs::metadata(&path).map_err(unreadable)?;
        if meta.len() > self.max_bytes as u64 {
            return Err(crate::descriptor::too_large(
                target,
                meta.len(),
                self.max_bytes,
            ));
        }
        let bytes = std::fs::read(&path).map_err(unreadable)?;
        self.reads
            .lock()
            .expect("reads")
            .insert(path, (bytes.len() as u64, meta.modified().ok()));
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_outside_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("catalog-info.yaml");
        std::fs::write(&file, "a: 1").unwrap();
        let r = FileReader::for_target(&file);
        let base = file.to_string_lossy().to_string();
        assert!(r
            .resolve(&base, "../../etc/passwd")
            .unwrap_err()
            .contains("outside"));
        assert!(r.resolve(&base, "/etc/*").unwrap_err().contains("outside"));
        assert_eq!(r.resolve(&base, "./catalog-info.yaml").unwrap().len(), 1);
    }
}
