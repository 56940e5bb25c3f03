//! `publish:git`: commits the workspace and pushes it to a configured host.

use std::path::Path;

use serde_json::{json, Value};

use super::{render, resolve_in, str_in, ActionContext};

pub(super) fn safe_segment(s: &str, what: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {s:?} must be a plain name: letters, digits, '-', '_' and '.', not . or .."
        ))
    }
}

pub(super) fn publish_git(ctx: &mut ActionContext<'_>) -> Result<(), String> {
    let repo_url = str_in(&ctx.input, "repoUrl").unwrap_or_default();
    let parts = render::repo_url_parts(repo_url)?;
    let host = parts["host"].as_str().unwrap_or_default();
    let owner = parts.get("owner").and_then(Value::as_str).ok_or_else(|| {
        format!("Invalid repo URL passed to publisher: {repo_url}, missing owner")
    })?;
    let name = parts["repo"].as_str().unwrap_or_default();
    safe_segment(owner, "owner")?;
    safe_segment(name, "repo")?;
    let target = ctx
        .services
        .publish
        .iter()
        .find(|h| h.host == host)
        .ok_or_else(|| {
            format!(
                "No publish root is configured for host {host}; add it under scaffolder.publish.hosts (configured: {})",
                ctx.services.publish.iter().map(|h| h.host.as_str()).collect::<Vec<_>>().join(", ")
            )
        })?;
    let branch = str_in(&ctx.input, "defaultBranch").unwrap_or("main");
    let (remote_url, token) = match (&target.root, &target.url) {
        (Some(root), _) => {
            let root = std::path::absolute(root).map_err(|e| e.to_string())?;
            let path = root.join(owner).join(format!("{name}.git"));
            if path.exists() {
                return Err(format!(
                    "A repository {owner}/{name} already exists under {}",
                    root.display()
                ));
            }
            std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
            let bare = git2::Repository::init_bare(&path).map_err(|e| e.message().to_string())?;
            bare.set_head(&format!("refs/heads/{branch}"))
                .map_err(|e| e.message().to_string())?;
            if let Some(d) = str_in(&ctx.input, "description") {
                let _ = std::fs::write(path.join("description"), d);
            }
            (format!("file://{}", path.display()), None)
        }
        (None, Some(url)) => (
            url.replace("{owner}", owner).replace("{repo}", name),
            target
                .token_env
                .as_ref()
                .and_then(|v| std::env::var(v).ok()),
        ),
        (None, None) => return Err(format!("publish host {host} needs a root or a url")),
    };
    let source = resolve_in(
        ctx.workspace,
        str_in(&ctx.input, "sourcePath").unwrap_or("./"),
    )?;
    let commit = commit_and_push(
        &source,
        &remote_url,
        branch,
        str_in(&ctx.input, "gitCommitMessage").unwrap_or("initial commit"),
        str_in(&ctx.input, "gitAuthorName").unwrap_or("Scaffolder"),
        str_in(&ctx.input, "gitAuthorEmail").unwrap_or("scaffolder@backstage.io"),
        token.as_deref(),
    )?;
    (ctx.log)(format!(
        "Pushed {commit} to {}",
        crate::ingest::urls::redact(&remote_url)
    ));
    ctx.output.insert("remoteUrl".into(), json!(remote_url));
    // Cairn's crawler reads file:// repositories as `<repo>.git/blob/<branch>/<path>`, hosts
    // as their web addresses `<owner>/<repo>/blob/<branch>/<path>`.
    let web = if remote_url.starts_with("file://") {
        remote_url.clone()
    } else {
        crate::ingest::urls::strip_credentials(remote_url.trim_end_matches(".git"))
    };
    ctx.output.insert(
        "repoContentsUrl".into(),
        json!(format!("{web}/blob/{branch}")),
    );
    ctx.output.insert("commitHash".into(), json!(commit));
    Ok(())
}

pub(super) fn commit_and_push(
    dir: &Path,
    remote: &str,
    branch: &str,
    message: &str,
    author: &str,
    email: &str,
    token: Option<&str>,
) -> Result<String, String> {
    let e = |e: git2::Error| e.message().to_string();
    let repo = git2::Repository::init(dir).map_err(e)?;
    let mut index = repo.index().map_err(e)?;
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .map_err(e)?;
    index.write().map_err(e)?;
    let tree = repo.find_tree(index.write_tree().map_err(e)?).map_err(e)?;
    let sig = git2::Signature::now(author, email).map_err(e)?;
    let refname = format!("refs/heads/{branch}");
    let oid = repo
        .commit(Some(&refname), &sig, &sig, message, &tree, &[])
        .map_err(e)?;
    let mut r = repo.remote_anonymous(remote).map_err(e)?;
    let mut callbacks = git2::RemoteCallbacks::new();
    if let Some(t) = token {
        let t = t.to_string();
        callbacks.credentials(move |_, _, _| git2::Cred::userpass_plaintext("x-access-token", &t));
    }
    let mut opts = git2::PushOptions::new();
    opts.remote_callbacks(callbacks);
    r.push(&[format!("{refname}:{refname}")], Some(&mut opts))
        .map_err(|err| {
            format!(
                "cannot push to {}: {}",
                crate::ingest::urls::redact(remote),
                err.message()
            )
        })?;
    // The workspace stays a plain directory for later steps (Backstage's does too, minus .git).
    let _ = std::fs::remove_dir_all(dir.join(".git"));
    Ok(oid.to_string())
}
