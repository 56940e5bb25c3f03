//! Git hosting URLs: the file URLs users paste (GitHub, GitLab, Bitbucket, Gitea, and `file://`
//! repositories for self-hosted and test use) turned into a clone URL, a branch and a path; and
//! credentials redacted from any URL before it is shown or logged.

/// A file (or directory) inside a Git repository, as named by a hosting URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    /// What git fetches.
    pub clone_url: String,
    /// The repository's web address; file URLs are `<web_base>/blob/<branch>/<path>`.
    pub web_base: String,
    pub branch: Option<String>,
    pub path: Option<String>,
}

/// Recognises `…/blob/<branch>/<path>` (GitHub, Gitea's raw style, `file://` repositories),
/// `…/-/blob/<branch>/<path>` (GitLab), `…/src/<branch>/<path>` (Bitbucket) and
/// `…/src/branch/<branch>/<path>` (Gitea), or a bare repository URL.
pub fn parse_repo_url(url: &str) -> Option<RepoUrl> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "https" | "http" | "ssh" | "git" | "file") {
        return None;
    }
    let mut repo = parse_clean(&strip_credentials(url))?;
    if let Some(creds) = parse_clean(url) {
        // Only the clone URL keeps credentials; everything shown is built from the web base.
        repo.clone_url = creds.clone_url;
    }
    Some(repo)
}

/// The URL without any `user:password@`.
pub fn strip_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn parse_clean(url: &str) -> Option<RepoUrl> {
    let (prefix, rest) = split_scheme_host(url)?;
    let segments: Vec<&str> = rest.split('/').collect();
    let find = |marker: &[&str]| -> Option<usize> {
        (0..segments.len()).find(|&i| segments[i..].starts_with(marker) && i > 0)
    };
    let (repo_end, after) = if let Some(i) = find(&["-", "blob"]).or(find(&["-", "tree"])) {
        (i, i + 2)
    } else if let Some(i) = find(&["src", "branch"]) {
        (i, i + 2)
    } else if let Some(i) = find(&["blob"]).or(find(&["tree"])).or(find(&["src"])) {
        (i, i + 1)
    } else {
        let repo = rest.trim_end_matches('/');
        let web = format!("{prefix}{}", repo.trim_end_matches(".git"));
        return Some(RepoUrl {
            clone_url: clone_of(&prefix, repo),
            web_base: web,
            branch: None,
            path: None,
        });
    };
    let repo = segments[..repo_end].join("/");
    let branch = segments
        .get(after)
        .filter(|b| !b.is_empty())
        .map(|b| b.to_string());
    let path = segments
        .get(after + 1..)
        .map(|p| p.join("/"))
        .filter(|p| !p.is_empty());
    Some(RepoUrl {
        clone_url: clone_of(&prefix, &repo),
        web_base: format!("{prefix}{}", repo.trim_end_matches(".git")),
        branch,
        path,
    })
}

fn split_scheme_host(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme == "file" {
        return Some(("file://".to_string(), rest.to_string()));
    }
    let (host, path) = rest.split_once('/')?;
    Some((format!("{scheme}://{host}/"), path.to_string()))
}

fn clone_of(prefix: &str, repo: &str) -> String {
    if prefix.starts_with("file://") || repo.ends_with(".git") {
        format!("{prefix}{repo}")
    } else {
        format!("{prefix}{repo}.git")
    }
}

/// The hosts a registered `url` location may be read from, as Backstage's
/// `backend.reading.allow` says it: an exact `host[:port]` or a `*.suffix`, and optionally path
/// prefixes. `file://` URLs are always local; every other URL is refused unless listed, so
/// registering a location cannot make Cairn fetch from an arbitrary host.
#[derive(Debug, Clone, Default)]
pub struct ReadAllow(Vec<(String, Option<Vec<String>>)>);

impl ReadAllow {
    pub fn new(entries: impl IntoIterator<Item = (String, Option<Vec<String>>)>) -> ReadAllow {
        ReadAllow(
            entries
                .into_iter()
                .map(|(h, paths)| (h.to_lowercase(), paths))
                .collect(),
        )
    }

    /// `Err` with Backstage's message when the URL may not be read.
    pub fn check(&self, target: &str) -> Result<(), String> {
        let refused = || {
            format!(
                "Reading from '{}' is not allowed. You may need to configure an integration for the target host, or add it to the configured backend.reading.allow list",
                redact(target)
            )
        };
        let url = url::Url::parse(target).map_err(|_| refused())?;
        if url.scheme() == "file" {
            return Ok(());
        }
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(refused()),
        };
        let path = url.path();
        // The parser resolved dot segments, but the crawler hands the target to Git as written:
        // a `..` there could climb out of an allowed path prefix on the host.
        let raw_path = target.split_once("://").map_or("", |(_, rest)| rest);
        let climbs = raw_path.split(['/', '?', '#']).any(|s| {
            matches!(
                s.to_lowercase().as_str(),
                "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."
            )
        });
        let allowed = self.0.iter().any(|(allowed, paths)| {
            let host_ok = match allowed.strip_prefix('*') {
                Some(suffix) if suffix.starts_with('.') => host.ends_with(suffix),
                _ => host == *allowed,
            };
            host_ok
                && paths
                    .as_ref()
                    .is_none_or(|ps| !climbs && ps.iter().any(|p| path.starts_with(p.as_str())))
        });
        if allowed {
            Ok(())
        } else {
            Err(refused())
        }
    }
}

/// The `host[:port]` of a URL, as [`ReadAllow`] matches it.
pub fn host_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?;
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// Removes any `user:password@` from a URL.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("***");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosting_urls_are_recognised() {
        let gh = parse_repo_url("https://github.com/acme/widget/blob/main/svc/catalog-info.yaml")
            .unwrap();
        assert_eq!(gh.clone_url, "https://github.com/acme/widget.git");
        assert_eq!(gh.web_base, "https://github.com/acme/widget");
        assert_eq!(gh.branch.as_deref(), Some("main"));
        assert_eq!(gh.path.as_deref(), Some("svc/catalog-info.yaml"));
        let gl = parse_repo_url("https://gitlab.com/group/sub/repo/-/blob/dev/catalog-info.yaml")
            .unwrap();
        assert_eq!(gl.clone_url, "https://gitlab.com/group/sub/repo.git");
        assert_eq!(gl.branch.as_deref(), Some("dev"));
        let bb =
            parse_repo_url("https://bitbucket.org/ws/repo/src/main/catalog-info.yaml").unwrap();
        assert_eq!(bb.web_base, "https://bitbucket.org/ws/repo");
        let gt =
            parse_repo_url("https://gitea.example.com/o/r/src/branch/main/a/catalog-info.yaml")
                .unwrap();
        assert_eq!(
            (gt.branch.as_deref(), gt.path.as_deref()),
            (Some("main"), Some("a/catalog-info.yaml"))
        );
        let local = parse_repo_url("file:///tmp/repos/one/blob/main/catalog-info.yaml").unwrap();
        assert_eq!(local.clone_url, "file:///tmp/repos/one");
        let bare = parse_repo_url("https://github.com/acme/widget.git").unwrap();
        assert_eq!(
            (bare.web_base.as_str(), bare.branch),
            ("https://github.com/acme/widget", None)
        );
        assert!(parse_repo_url("mailto:x@y").is_none());
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("https://user:s3cret@host/o/r.git"),
            "https://***@host/o/r.git"
        );
        assert_eq!(redact("https://host/o/r.git"), "https://host/o/r.git");
        let r = parse_repo_url("https://bot:tok@host/o/r.git").unwrap();
        assert_eq!(r.web_base, "https://host/o/r");
        assert_eq!(r.clone_url, "https://bot:tok@host/o/r.git");
    }

    #[test]
    fn only_listed_hosts_and_paths_may_be_read() {
        let allow = ReadAllow::new([
            ("git.example.com".to_string(), None),
            ("*.corp.test".to_string(), None),
            (
                "127.0.0.1:8080".to_string(),
                Some(vec!["/git/".to_string()]),
            ),
        ]);
        for ok in [
            "file:///anything/catalog-info.yaml",
            "https://git.example.com/o/r/blob/main/catalog-info.yaml",
            "https://Git.Example.com/o/r/blob/main/catalog-info.yaml",
            "https://scm.corp.test/o/r/blob/main/catalog-info.yaml",
            "http://127.0.0.1:8080/git/r.git/blob/main/catalog-info.yaml",
        ] {
            assert!(allow.check(ok).is_ok(), "{ok}");
        }
        for refused in [
            "https://evil.example.org/o/r/blob/main/catalog-info.yaml",
            "https://git.example.com.evil.org/o/r/blob/main/c.yaml",
            "https://corp.test.evil/o/r/blob/main/c.yaml",
            "http://127.0.0.1:8081/git/r.git/blob/main/c.yaml",
            "http://127.0.0.1:8080/admin/r.git/blob/main/c.yaml",
            "http://127.0.0.1:8080/git/../admin/r.git/blob/main/c.yaml",
            "http://127.0.0.1:8080/git/%2E%2E/admin/r.git/blob/main/c.yaml",
            "http://169.254.169.254/latest/meta-data",
            "not a url",
        ] {
            let err = allow.check(refused).unwrap_err();
            assert!(err.contains("backend.reading.allow"), "{refused}: {err}");
        }
        assert!(ReadAllow::default()
            .check("https://github.com/o/r/blob/main/catalog-info.yaml")
            .is_err());
    }
}
