//! Git access with git2: one bare mirror per remote in the data directory, fetched without a
//! checkout; descriptors are read straight from the commit's tree by a [`GitReader`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use git2::{Cred, CredentialType, FetchOptions, Oid, RemoteCallbacks, Repository};
use parking_lot::Mutex;
use sha1::{Digest, Sha1};

use super::files::normalize;
use super::urls::redact;
use crate::descriptor::{ReadError, SourceReader};

/// What a fetch found on the remote.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub branch: String,
    pub commit: Oid,
    pub committed_at: i64,
    pub author: String,
}

/// Network timeouts for every remote (libgit2 applies them process-wide).
pub fn set_timeouts(connect: Duration, io: Duration) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: libgit2 option setters are safe to call before any concurrent git2 use,
        // which `Once` at the first crawl guarantees.
        unsafe {
            let _ =
                git2::opts::set_server_connect_timeout_in_milliseconds(connect.as_millis() as i32);
            let _ = git2::opts::set_server_timeout_in_milliseconds(io.as_millis() as i32);
        }
    });
}

/// Opens (creating if needed) the bare mirror of `url` under `data_dir/mirrors`.
pub fn open_mirror(data_dir: &Path, url: &str) -> Result<Repository, String> {
    let dir: PathBuf = data_dir
        .join("mirrors")
        .join(format!("{}.git", hex::encode(Sha1::digest(url.as_bytes()))));
    if dir.exists() {
        Repository::open_bare(&dir)
            .map_err(|e| format!("cannot open mirror {}: {}", dir.display(), e.message()))
    } else {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Repository::init_bare(&dir)
            .map_err(|e| format!("cannot create mirror {}: {}", dir.display(), e.message()))
    }
}

/// Fetches `branch` (or the remote's default branch) into the mirror, with credentials from
/// `token` and an overall deadline. Returns the branch's commit.
pub fn fetch(
    repo: &Repository,
    url: &str,
    branch: Option<&str>,
    token: Option<&str>,
    deadline: Duration,
    known: Option<Oid>,
) -> Result<Fetched, String> {
    let shown = redact(url);
    let mut remote = repo
        .remote_anonymous(url)
        .map_err(|e| format!("invalid remote {shown}: {}", e.message()))?;
    let started = Instant::now();
    // First list the remote's refs: when the branch still points at the last crawled commit,
    // there is nothing to download.
    let (branch, remote_head) = {
        let conn = remote
            .connect_auth(
                git2::Direction::Fetch,
                Some(callbacks(token, started, deadline)),
                None,
            )
            .map_err(|e| format!("cannot reach {shown}: {}", e.message()))?;
        let branch = match branch {
            Some(b) => b.to_string(),
            None => {
                let head = conn.default_branch().map_err(|e| {
                    format!(
                        "{shown} has no default branch (empty repository?): {}",
                        e.message()
                    )
                })?;
                head.as_str()
                    .unwrap_or_default()
                    .trim_start_matches("refs/heads/")
                    .to_string()
            }
        };
        let wanted = format!("refs/heads/{branch}");
        let head = conn
            .list()
            .map_err(|e| format!("cannot list the refs of {shown}: {}", e.message()))?
            .iter()
            .find(|h| h.name() == wanted)
            .map(|h| h.oid());
        (branch, head)
    };
    let Some(remote_head) = remote_head else {
        return Err(format!("branch {branch} not found on {shown}"));
    };
    if known == Some(remote_head) {
        if let Ok(commit) = repo.find_commit(remote_head) {
            let author = commit.author().name().unwrap_or_default().to_string();
            return Ok(Fetched {
                branch,
                commit: remote_head,
                committed_at: commit.time().seconds(),
                author,
            });
        }
    }
    let mut opts = FetchOptions::new();
    opts.remote_callbacks(callbacks(token, started, deadline));
    opts.download_tags(git2::AutotagOption::None);
    let local_ref = format!("refs/remotes/origin/{branch}");
    let refspec = format!("+refs/heads/{branch}:{local_ref}");
    remote
        .fetch(&[&refspec], Some(&mut opts), None)
        .map_err(|e| {
            if started.elapsed() >= deadline {
                format!("fetching {shown} took longer than {} s", deadline.as_secs())
            } else {
                format!("cannot fetch branch {branch} from {shown}: {}", e.message())
            }
        })?;
    let reference = repo
        .find_reference(&local_ref)
        .map_err(|e| format!("branch {branch} not found on {shown}: {}", e.message()))?;
    let commit = reference
        .peel_to_commit()
        .map_err(|e| format!("branch {branch} of {shown} has no commit: {}", e.message()))?;
    let author = commit.author().name().unwrap_or_default().to_string();
    Ok(Fetched {
        branch,
        commit: commit.id(),
        committed_at: commit.time().seconds(),
        author,
    })
}

fn callbacks(token: Option<&str>, started: Instant, deadline: Duration) -> RemoteCallbacks<'_> {
    let mut attempts = 0;
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |_url, username, allowed| {
        attempts += 1;
        if attempts > 2 {
            return Err(git2::Error::from_str("authentication failed"));
        }
        match token {
            Some(t) if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                Cred::userpass_plaintext("x-access-token", t)
            }
            _ if allowed.contains(CredentialType::SSH_KEY) => {
                Cred::ssh_key_from_agent(username.unwrap_or("git"))
            }
            _ => Cred::default(),
        }
    });
    callbacks.transfer_progress(move |_| started.elapsed() < deadline);
    callbacks
}

/// One entry of a commit's tree.
#[derive(Debug, Clone, Copy)]
pub struct TreeEntry {
    pub oid: Oid,
    pub mode: i32,
    pub size: usize,
}

/// Every file (blob or link) of a commit, by path.
pub fn list_tree(repo: &Repository, commit: Oid) -> Result<BTreeMap<String, TreeEntry>, String> {
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|e| format!("cannot read the tree of {commit}: {}", e.message()))?;
    let mut files = BTreeMap::new();
    let odb = repo.odb().map_err(|e| e.message().to_string())?;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if matches!(entry.kind(), Some(git2::ObjectType::Blob)) {
            let path = format!("{dir}{}", entry.name().unwrap_or_default());
            let size = odb.read_header(entry.id()).map(|(s, _)| s).unwrap_or(0);
            files.insert(
                path,
                TreeEntry {
                    oid: entry.id(),
                    mode: entry.filemode(),
                    size,
                },
            );
        }
        git2::TreeWalkResult::Ok
    })
    .map_err(|e| e.message().to_string())?;
    Ok(files)
}

/// Reads descriptors from one commit of a mirror. Targets are the repository's file URLs,
/// `<web_base>/blob/<branch>/<path>`; the repository root (`<web_base>`) expands to the
/// configured descriptor globs.
pub struct GitReader {
    repo: Mutex<Repository>,
    web_base: String,
    prefix: String,
    files: BTreeMap<String, TreeEntry>,
    globs: Vec<glob::Pattern>,
    max_bytes: usize,
}

const SYMLINK_MODE: i32 = 0o120000;

impl GitReader {
    pub fn new(
        repo: Repository,
        web_base: &str,
        branch: &str,
        files: BTreeMap<String, TreeEntry>,
        globs: &[String],
    ) -> Result<Self, String> {
        let globs = globs
            .iter()
            .map(|g| glob::Pattern::new(g).map_err(|e| format!("invalid descriptor glob {g}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(GitReader {
            repo: Mutex::new(repo),
            web_base: web_base.to_string(),
            prefix: format!("{web_base}/blob/{branch}/"),
            files,
            globs,
            max_bytes: crate::model::catalog_rules::DEFAULT_MAX_DESCRIPTOR_BYTES,
        })
    }

    /// Refuses descriptor files larger than `limit` bytes.
    pub fn with_max_bytes(mut self, limit: usize) -> Self {
        self.max_bytes = limit;
        self
    }

    pub fn file_url(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    fn path_of<'a>(&self, target: &'a str) -> Option<&'a str> {
        target.strip_prefix(&self.prefix)
    }

    fn matching(&self, pattern: &glob::Pattern) -> Vec<String> {
        let opts = glob::MatchOptions {
            require_literal_separator: false,
            ..Default::default()
        };
        self.files
            .keys()
            .filter(|p| pattern.matches_with(p, opts))
            .map(|p| self.file_url(p))
            .collect()
    }
}

impl GitReader {
    /// The blob id of a file target, if it is in this commit.
    pub fn fingerprint_of(&self, target: &str) -> Option<String> {
        self.path_of(target)
            .and_then(|p| self.files.get(p))
            .map(|e| e.oid.to_string())
    }
}

impl SourceReader for GitReader {
    fn resolve(&self, base: &str, target: &str) -> Result<Vec<String>, String> {
        if target.trim_end_matches('/') == self.web_base {
            let mut all: Vec<String> = self.globs.iter().flat_map(|g| self.matching(g)).collect();
            all.sort();
            all.dedup();
            return Ok(all);
        }
        let path = if let Some(p) = self.path_of(target) {
            p.to_string()
        } else if target.contains("://") {
            return Err(format!(
                "target {} is outside the repository {}",
                redact(target),
                redact(&self.web_base)
            ));
        } else {
            let base_path = self.path_of(base).unwrap_or("");
            let dir = Path::new(base_path).parent().unwrap_or(Path::new(""));
            let joined = dir.join(target.trim_start_matches('/'));
            let mut depth = 0i32;
            let escapes = joined.components().any(|c| {
                match c {
                    std::path::Component::ParentDir => depth -= 1,
                    std::path::Component::Normal(_) => depth += 1,
                    _ => {}
                }
                depth < 0
            });
            if escapes {
                return Err(format!(
                    "target {target} resolves outside the repository root"
                ));
            }
            normalize(&joined).to_string_lossy().to_string()
        };
        if path.contains(['*', '?', '[']) {
            let pattern =
                glob::Pattern::new(&path).map_err(|e| format!("invalid glob {target}: {e}"))?;
            return Ok(self.matching(&pattern));
        }
        if self.files.contains_key(&path) {
            return Ok(vec![self.file_url(&path)]);
        }
        let dir_prefix = format!("{}/", path.trim_end_matches('/'));
        let in_dir: Vec<String> = self
            .files
            .keys()
            .filter(|p| {
                p.starts_with(&dir_prefix)
                    && (p.ends_with("/catalog-info.yaml") || p.ends_with("/catalog-info.yml"))
            })
            .map(|p| self.file_url(p))
            .collect();
        if !in_dir.is_empty() {
            return Ok(in_dir);
        }
        Err(format!(
            "file {path} does not exist in {}",
            redact(&self.web_base)
        ))
    }

    fn read(&self, target: &str) -> Result<Vec<u8>, ReadError> {
        let path = self.path_of(target).ok_or_else(|| {
            ReadError::Refused(format!(
                "target {} is outside the repository",
                redact(target)
            ))
        })?;
        let entry = self
            .files
            .get(path)
            .ok_or_else(|| ReadError::NotFound(format!("file {path} does not exist")))?;
        if entry.mode == SYMLINK_MODE {
            return Err(ReadError::Refused(format!(
                "{path} is a symbolic link; links are not followed"
            )));
        }
        if entry.size > self.max_bytes {
            return Err(crate::descriptor::too_large(
                path,
                entry.size as u64,
                self.max_bytes,
            ));
        }
        let repo = self.repo.lock();
        let blob = repo
            .find_blob(entry.oid)
            .map_err(|e| ReadError::NotFound(format!("cannot read {path}: {}", e.message())))?;
        Ok(blob.content().to_vec())
    }

    fn fingerprint(&self, target: &str) -> Option<String> {
        self.fingerprint_of(target)
    }
}
