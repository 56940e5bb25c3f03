//! The built-in actions, with Backstage's ids and input/output schemas, plus Cairn's
//! `publish:git`. Every path an action touches is resolved inside the task's workspace (or the
//! template's own folder for reading); nothing escapes it through `..`, absolute paths or links.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::render;
use super::Services;

mod catalog;
mod debug;
mod fetch;
mod fs;
mod publish;

use catalog::{catalog_fetch, catalog_register, catalog_write};
use debug::{debug_log, debug_wait};
pub use fetch::walk;
use fetch::{fetch_plain, fetch_template};
use fs::{fs_delete, fs_readdir, fs_rename};
use publish::publish_git;

/// Longest `debug:wait`, as Backstage's.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

pub struct Action {
    pub id: &'static str,
    pub description: &'static str,
    pub input: Value,
    pub output: Option<Value>,
    pub supports_dry_run: bool,
}

/// What an action sees of its task.
pub struct ActionContext<'a> {
    pub workspace: &'a Path,
    /// The template's own folder (its `template.yaml` and skeletons).
    pub template_dir: Option<&'a Path>,
    pub template_ref: &'a str,
    pub input: Value,
    pub dry_run: bool,
    pub cancelled: &'a AtomicBool,
    pub services: &'a Services,
    pub actor: &'a crate::model::audit::Actor,
    pub log: &'a mut dyn FnMut(String),
    pub output: &'a mut Map<String, Value>,
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
        "$schema": "http://json-schema.org/draft-07/schema#",
    })
}

fn s(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn b(description: &str) -> Value {
    json!({"type": "boolean", "description": description})
}

fn strings(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

/// Every action, sorted by id.
pub fn registry() -> Vec<Action> {
    let token = s("A token for reading the resources (unused: Cairn reads templates itself).");
    let values = json!({"type": "object", "additionalProperties": {}, "description": "Values the templates render with, as `values.*`."});
    let fs_entry = json!({"type": "object", "properties": {
        "name": s("The file or directory name"), "path": s("Its path relative to the workspace"),
        "fullPath": s("Its absolute path")}, "required": ["name", "path", "fullPath"], "additionalProperties": false});
    let mut out = vec![
        Action {
            id: "fetch:plain",
            description: "Copies a directory of the template into the workspace as it is.",
            input: object(json!({"url": s("A path relative to the template"), "targetPath": s("Where to put it in the workspace"), "token": token}), &["url"]),
            output: None,
            supports_dry_run: true,
        },
        Action {
            id: "fetch:plain:file",
            description: "Copies one file of the template into the workspace as it is.",
            input: object(json!({"url": s("A path relative to the template"), "targetPath": s("The file to write in the workspace"), "token": token}), &["url", "targetPath"]),
            output: None,
            supports_dry_run: true,
        },
        Action {
            id: "fetch:template",
            description: "Renders a skeleton directory of the template into the workspace: paths and contents are templates over `values`.",
            input: object(json!({
                "url": s("A path relative to the template"),
                "targetPath": s("Where to put it in the workspace; the root by default"),
                "values": values,
                "copyWithoutRender": strings("Deprecated alias of copyWithoutTemplating"),
                "copyWithoutTemplating": strings("Globs of files copied without rendering their contents (paths are still rendered)"),
                "cookiecutterCompat": b("Use {{ }} delimiters and the cookiecutter context"),
                "templateFileExtension": {"type": ["string", "boolean"], "description": "Only files with this extension (true means .njk) are rendered, and lose it"},
                "replace": b("Overwrite files already in the workspace"),
                "trimBlocks": b("Remove the first newline after a block"),
                "lstripBlocks": b("Strip spaces before a block on its line"),
                "templateEngine": {"type": "string", "enum": ["nunjucks", "handlebars"], "description": "Cairn: render contents with handlebars instead"},
                "token": token,
            }), &["url"]),
            output: None,
            supports_dry_run: true,
        },
        Action {
            id: "fetch:template:file",
            description: "Renders one file of the template into the workspace.",
            input: object(json!({
                "url": s("A path relative to the template"),
                "targetPath": s("The file to write in the workspace"),
                "values": values,
                "cookiecutterCompat": b("Use {{ }} delimiters and the cookiecutter context"),
                "replace": b("Overwrite the file if it exists"),
                "trimBlocks": b("Remove the first newline after a block"),
                "lstripBlocks": b("Strip spaces before a block on its line"),
                "token": token,
            }), &["url", "targetPath"]),
            output: None,
            supports_dry_run: true,
        },
        Action {
            id: "debug:log",
            description: "Writes a message to the task log, and optionally the workspace's files.",
            input: object(json!({"message": s("The message"), "listWorkspace": {"anyOf": [{"type": "boolean"}, {"type": "string", "enum": ["with-filenames", "with-contents"]}], "description": "List the workspace's files (with-contents: and their contents)"}}), &[]),
            output: None,
            supports_dry_run: true,
        },
        Action {
            id: "debug:wait",
            description: "Waits, at most 10 minutes; cancelling the task ends the wait.",
            input: object(json!({"minutes": {"type": "number"}, "seconds": {"type": "number"}, "milliseconds": {"type": "number"}}), &[]),
            output: None,
            supports_dry_run: false,
        },
        Action {
            id: "catalog:register",
            description: "Registers a catalog-info file as a location in Cairn's catalog.",
            input: json!({"anyOf": [
                {"type": "object", "properties": {"catalogInfoUrl": s("The absolute URL of the catalog-info file"), "optional": b("Do not fail when it cannot be registered")}, "required": ["catalogInfoUrl"], "additionalProperties": false},
                {"type": "object", "properties": {"repoContentsUrl": s("The absolute URL of the repository's root"), "catalogInfoPath": s("The catalog-info file in the repository; /catalog-info.yaml by default"), "optional": b("Do not fail when it cannot be registered")}, "required": ["repoContentsUrl"], "additionalProperties": false}
            ], "$schema": "http://json-schema.org/draft-07/schema#"}),
            output: Some(object(json!({"catalogInfoUrl": s("The registered URL"), "entityRef": s("The main entity registered")}), &[])),
            supports_dry_run: false,
        },
        Action {
            id: "catalog:fetch",
            description: "Reads entities from Cairn's catalog.",
            input: object(json!({"entityRef": s("The entity to read"), "entityRefs": strings("The entities to read"), "optional": b("Give null for missing entities instead of failing"), "defaultKind": s("The kind of refs without one"), "defaultNamespace": s("The namespace of refs without one")}), &[]),
            output: Some(object(json!({"entity": {"description": "The entity (with entityRef)"}, "entities": {"type": "array"}}), &[])),
            supports_dry_run: true,
        },
        Action {
            id: "catalog:write",
            description: "Writes an entity to a catalog-info file, noting the template it came from.",
            input: object(json!({"filePath": s("catalog-info.yaml by default"), "entity": {"type": "object", "additionalProperties": {}, "description": "The entity"}}), &["entity"]),
            output: None,
            supports_dry_run: true,
        },
        Action {
            id: "fs:delete",
            description: "Deletes files and directories of the workspace (globs).",
            input: object(json!({"files": strings("Globs of the files and directories to delete")}), &["files"]),
            output: None,
            supports_dry_run: true,
        },
        Action {
            id: "fs:rename",
            description: "Renames files and directories of the workspace.",
            input: object(json!({"files": {"type": "array", "items": {"type": "object", "properties": {"from": s("The source"), "to": s("The destination"), "overwrite": b("Replace an existing destination")}, "required": ["from", "to"], "additionalProperties": false}, "description": "The renames"}}), &["files"]),
            output: None,
            supports_dry_run: true,
        },
        Action {
            id: "fs:readdir",
            description: "Lists directories of the workspace.",
            input: object(json!({"paths": {"type": "array", "items": {"type": "string", "minLength": 1}}, "recursive": {"type": "boolean", "default": false}}), &["paths"]),
            output: Some(object(json!({"files": {"type": "array", "items": fs_entry}, "folders": {"type": "array", "items": fs_entry}}), &["files", "folders"])),
            supports_dry_run: true,
        },
        Action {
            id: "publish:git",
            description: "Cairn: commits the workspace and pushes it to a new repository under a configured publish root (a local directory of bare repositories, or a Git host).",
            input: object(json!({
                "repoUrl": s("host?owner=o&repo=r; the host names a root in scaffolder.publish"),
                "description": s("The repository's description"),
                "defaultBranch": s("main by default"),
                "gitCommitMessage": s("initial commit by default"),
                "gitAuthorName": s("Scaffolder by default"),
                "gitAuthorEmail": s("scaffolder@backstage.io by default"),
                "sourcePath": s("The part of the workspace to publish; all of it by default"),
            }), &["repoUrl"]),
            output: Some(object(json!({"remoteUrl": s("What git clones"), "repoContentsUrl": s("The repository's contents, for catalog:register"), "commitHash": s("The commit pushed")}), &[])),
            supports_dry_run: false,
        },
    ];
    out.sort_by(|a, b| a.id.cmp(b.id));
    out
}

/// Runs one action.
pub fn run(id: &str, ctx: &mut ActionContext<'_>) -> Result<(), String> {
    match id {
        "fetch:plain" => fetch_plain(ctx, false),
        "fetch:plain:file" => fetch_plain(ctx, true),
        "fetch:template" => fetch_template(ctx, false),
        "fetch:template:file" => fetch_template(ctx, true),
        "debug:log" => debug_log(ctx),
        "debug:wait" => debug_wait(ctx),
        "catalog:register" => catalog_register(ctx),
        "catalog:fetch" => catalog_fetch(ctx),
        "catalog:write" => catalog_write(ctx),
        "fs:delete" => fs_delete(ctx),
        "fs:rename" => fs_rename(ctx),
        "fs:readdir" => fs_readdir(ctx),
        "publish:git" => publish_git(ctx),
        other => Err(format!(
            "Template action with ID '{other}' is not registered."
        )),
    }
}

/// `rel` inside `base`: no absolute path, no `..` above the base, no symbolic link on the way.
pub fn resolve_in(base: &Path, rel: &str) -> Result<PathBuf, String> {
    let rel_path = Path::new(rel);
    let mut clean = PathBuf::new();
    for c in rel_path.components() {
        match c {
            Component::Normal(p) => clean.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !clean.pop() {
                    return Err(format!("Relative path is not allowed to refer to a directory outside its parent: {rel}"));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("Absolute paths are not allowed here: {rel}"))
            }
        }
    }
    let mut cur = base.to_path_buf();
    for c in clean.components() {
        cur.push(c);
        if std::fs::symlink_metadata(&cur).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "{rel} goes through a symbolic link, which is not allowed"
            ));
        }
    }
    Ok(base.join(clean))
}

fn str_in<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}

fn source_path(ctx: &ActionContext<'_>, url: &str) -> Result<PathBuf, String> {
    if url.contains("://") {
        return Err(format!(
            "Cairn reads templates from the template's own folder; {url} is not a path relative to it"
        ));
    }
    let dir = ctx
        .template_dir
        .ok_or("this task has no template folder to fetch from")?;
    resolve_in(dir, url)
}

fn target_path(ctx: &ActionContext<'_>, key: &str) -> Result<PathBuf, String> {
    resolve_in(ctx.workspace, str_in(&ctx.input, key).unwrap_or("./"))
}

/// A fake output for an action skipped in a dry run, from its output schema.
pub fn example_output(schema: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(props) = schema.and_then(|s| s["properties"].as_object()) {
        for (k, p) in props {
            let v = match p["type"].as_str() {
                Some("string") => json!("<example>"),
                Some("number") | Some("integer") => json!(0),
                Some("boolean") => json!(false),
                Some("array") => json!([]),
                Some("object") => json!({}),
                _ => json!("<example>"),
            };
            out.insert(k.clone(), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_base() {
        let dir = tempfile::tempdir().unwrap();
        assert!(resolve_in(dir.path(), "a/../b").is_ok());
        assert!(resolve_in(dir.path(), "../x").is_err());
        assert!(resolve_in(dir.path(), "a/../../x").is_err());
        assert!(resolve_in(dir.path(), "/etc/passwd").is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/tmp", dir.path().join("link")).unwrap();
            assert!(resolve_in(dir.path(), "link/x").is_err());
        }
    }

    #[test]
    fn the_registry_is_sorted_and_complete() {
        let ids: Vec<&str> = registry().iter().map(|a| a.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(ids.len(), 13);
    }
}
