//! The built-in actions, with Backstage's ids and input/output schemas, plus Cairn's
//! `publish:git`. Every path an action touches is resolved inside the task's workspace (or the
//! template's own folder for reading); nothing escapes it through `..`, absolute paths or links.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::render;
use super::Services;

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

/// Files (not directories) under `dir`, by relative path with `/`, symbolic links included
/// (they are copied as links' targets are never followed).
pub fn walk(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| format!("cannot read {}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let path = entry.path();
            let ft = entry.file_type().map_err(|e| e.to_string())?;
            if ft.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn copy_file(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    let meta = std::fs::symlink_metadata(from).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{} is a symbolic link; templates may not contain links",
            from.display()
        ));
    }
    std::fs::copy(from, to).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    Ok(())
}

fn fetch_plain(ctx: &mut ActionContext<'_>, file: bool) -> Result<(), String> {
    let url = str_in(&ctx.input, "url").unwrap_or_default().to_string();
    let from = source_path(ctx, &url)?;
    let to = target_path(ctx, "targetPath")?;
    (ctx.log)(format!("Fetching plain content from {url}"));
    if file {
        return copy_file(&from, &to);
    }
    for (rel, path) in walk(&from)? {
        copy_file(&path, &resolve_in(&to, &rel)?)?;
    }
    Ok(())
}

fn is_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8000).any(|b| *b == 0) || std::str::from_utf8(bytes).is_err()
}

fn globs(patterns: &[String]) -> Result<(globset::GlobSet, globset::GlobSet), String> {
    let mut yes = globset::GlobSetBuilder::new();
    let mut no = globset::GlobSetBuilder::new();
    for p in patterns {
        let (set, pat) = match p.strip_prefix('!') {
            Some(rest) => (&mut no, rest),
            None => (&mut yes, p.as_str()),
        };
        let pat = pat.trim_start_matches("./");
        set.add(
            globset::GlobBuilder::new(pat)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("invalid glob {p}: {e}"))?,
        );
        // A directory pattern covers what is inside it.
        set.add(
            globset::GlobBuilder::new(&format!("{}/**", pat.trim_end_matches('/')))
                .literal_separator(true)
                .build()
                .map_err(|e| format!("invalid glob {p}: {e}"))?,
        );
    }
    Ok((
        yes.build().map_err(|e| e.to_string())?,
        no.build().map_err(|e| e.to_string())?,
    ))
}

fn handlebars_engine() -> handlebars::Handlebars<'static> {
    let mut hb = handlebars::Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    hb
}

fn fetch_template(ctx: &mut ActionContext<'_>, file: bool) -> Result<(), String> {
    let input = ctx.input.clone();
    let url = str_in(&input, "url").unwrap_or_default().to_string();
    let cookiecutter = input["cookiecutterCompat"].as_bool().unwrap_or(false);
    let extension = match &input["templateFileExtension"] {
        Value::Bool(true) => Some(".njk".to_string()),
        Value::String(e) if !e.is_empty() => Some(if e.starts_with('.') {
            e.clone()
        } else {
            format!(".{e}")
        }),
        _ => None,
    };
    let mut no_render: Vec<String> = Vec::new();
    for key in ["copyWithoutTemplating", "copyWithoutRender"] {
        no_render.extend(
            input[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned),
        );
    }
    if extension.is_some() && (!no_render.is_empty() || cookiecutter) {
        return Err(
            "input extension incompatible with copyWithoutTemplating and cookiecutterCompat".into(),
        );
    }
    let handlebars = input["templateEngine"].as_str() == Some("handlebars");
    let (skip, keep) = globs(&no_render)?;
    let replace = input["replace"].as_bool().unwrap_or(false);
    let env = render::environment(
        cookiecutter,
        input["trimBlocks"].as_bool().unwrap_or(false),
        input["lstripBlocks"].as_bool().unwrap_or(false),
    );
    let values = input.get("values").cloned().unwrap_or(json!({}));
    let context = if cookiecutter {
        json!({"cookiecutter": values})
    } else {
        json!({"values": values})
    };
    let hb = handlebars_engine();
    let from = source_path(ctx, &url)?;
    let to = target_path(ctx, "targetPath")?;
    if let Some(dir) = ctx.template_dir {
        if to.starts_with(dir) {
            return Err("targetPath must not be inside the template's folder".into());
        }
    }
    (ctx.log)(format!("Fetching template content from {url}"));
    let entries: Vec<(String, PathBuf)> = if file {
        vec![(String::new(), from.clone())]
    } else {
        walk(&from)?
    };
    for (rel, path) in entries {
        if ctx.cancelled.load(Ordering::Relaxed) {
            return Err("cancelled".into());
        }
        let mut rendered_rel = if file {
            String::new()
        } else {
            render::render_str(&env, &rel, &context).map_err(|e| format!("{rel}: {e}"))?
        };
        if !file
            && (rendered_rel.is_empty()
                || rendered_rel.starts_with('/')
                || rendered_rel.contains("//"))
        {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {rel}: {e}"))?;
        let mut render_contents = !is_binary(&bytes);
        let mut use_handlebars = handlebars;
        if let Some(ext) = &extension {
            match rendered_rel.strip_suffix(ext.as_str()) {
                Some(stripped) => rendered_rel = stripped.to_string(),
                None => render_contents = false,
            }
        } else if !file && skip.is_match(&rel) && !keep.is_match(&rel) {
            render_contents = false;
        }
        if let Some(stripped) = rendered_rel.strip_suffix(".hbs") {
            rendered_rel = stripped.to_string();
            use_handlebars = true;
        }
        let out = if file {
            to.clone()
        } else {
            resolve_in(&to, &rendered_rel)?
        };
        if out.exists() && !replace {
            (ctx.log)(format!(
                "Skipping {rendered_rel}: it exists already (replace is false)"
            ));
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let data = if render_contents {
            let text = String::from_utf8(bytes).expect("checked");
            let shown = if rel.is_empty() {
                url.as_str()
            } else {
                rel.as_str()
            };
            let rendered = if use_handlebars {
                hb.render_template(&text, &context)
                    .map_err(|e| format!("{shown}: {e}"))?
            } else {
                render::render_str(&env, &text, &context).map_err(|e| format!("{shown}: {e}"))?
            };
            rendered.into_bytes()
        } else {
            bytes
        };
        std::fs::write(&out, data).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        if let Ok(meta) = std::fs::metadata(&path) {
            let _ = std::fs::set_permissions(&out, meta.permissions());
        }
        (ctx.log)(format!(
            "Writing file {} to template output path",
            if file {
                url.clone()
            } else {
                rendered_rel.clone()
            }
        ));
    }
    Ok(())
}

fn debug_log(ctx: &mut ActionContext<'_>) -> Result<(), String> {
    (ctx.log)(serde_json::to_string(&ctx.input).unwrap_or_default());
    if let Some(m) = str_in(&ctx.input, "message") {
        (ctx.log)(m.to_string());
    }
    let list = &ctx.input["listWorkspace"];
    if list.as_bool() == Some(true) || list.is_string() {
        for (rel, path) in walk(ctx.workspace)? {
            if list.as_str() == Some("with-contents") {
                let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "(binary)".into());
                (ctx.log)(format!("{rel}:\n{text}"));
            } else {
                (ctx.log)(rel);
            }
        }
    }
    Ok(())
}

fn debug_wait(ctx: &mut ActionContext<'_>) -> Result<(), String> {
    let n = |k: &str| ctx.input[k].as_f64().unwrap_or(0.0).max(0.0);
    let total = n("minutes") * 60.0 + n("seconds") + n("milliseconds") / 1000.0;
    if total > MAX_WAIT.as_secs_f64() {
        return Err(format!(
            "Waiting duration is longer than the maximum threshold of {} minutes",
            MAX_WAIT.as_secs() / 60
        ));
    }
    let until = Instant::now() + Duration::from_secs_f64(total);
    while Instant::now() < until {
        if ctx.cancelled.load(Ordering::Relaxed) {
            return Err("cancelled".into());
        }
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
    Ok(())
}

fn catalog_write(ctx: &mut ActionContext<'_>) -> Result<(), String> {
    let path = str_in(&ctx.input, "filePath")
        .unwrap_or("catalog-info.yaml")
        .to_string();
    let mut entity = ctx.input["entity"].clone();
    let meta = entity
        .as_object_mut()
        .ok_or("entity must be an object")?
        .entry("metadata")
        .or_insert_with(|| json!({}));
    let annotations = meta
        .as_object_mut()
        .ok_or("entity.metadata must be an object")?
        .entry("annotations")
        .or_insert_with(|| json!({}));
    if let Some(a) = annotations.as_object_mut() {
        a.insert(
            "backstage.io/source-template".into(),
            json!(ctx.template_ref),
        );
    }
    let out = resolve_in(ctx.workspace, &path)?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    (ctx.log)(format!("Writing {path}"));
    let yaml = serde_yaml::to_string(&entity).map_err(|e| e.to_string())?;
    std::fs::write(out, yaml).map_err(|e| e.to_string())
}

fn catalog_fetch(ctx: &mut ActionContext<'_>) -> Result<(), String> {
    let optional = ctx.input["optional"].as_bool().unwrap_or(false);
    let kind = str_in(&ctx.input, "defaultKind");
    let ns = str_in(&ctx.input, "defaultNamespace").unwrap_or("default");
    let snap = ctx.services.readmodel.snapshot();
    let lookup = |r: &str| -> Result<Value, String> {
        let parsed = crate::model::EntityRef::parse(r, kind, ns).map_err(|e| e.to_string())?;
        match snap.get_by_ref(&parsed.canonical()) {
            Some(d) => Ok(serde_json::from_str(&d.json).unwrap_or(Value::Null)),
            None if optional => Ok(Value::Null),
            None => Err(format!("Entity {r} not found")),
        }
    };
    if let Some(r) = str_in(&ctx.input, "entityRef") {
        let e = lookup(r)?;
        ctx.output.insert("entity".into(), e);
    }
    if let Some(list) = ctx.input["entityRefs"].as_array() {
        let mut out = Vec::new();
        for r in list.iter().filter_map(Value::as_str) {
            out.push(lookup(r)?);
        }
        ctx.output.insert("entities".into(), Value::Array(out));
    }
    Ok(())
}

fn catalog_register(ctx: &mut ActionContext<'_>) -> Result<(), String> {
    let optional = ctx.input["optional"].as_bool().unwrap_or(false);
    let url = match str_in(&ctx.input, "catalogInfoUrl") {
        Some(u) => u.to_string(),
        None => {
            let base = str_in(&ctx.input, "repoContentsUrl")
                .ok_or("repoContentsUrl or catalogInfoUrl is required")?;
            let path = str_in(&ctx.input, "catalogInfoPath").unwrap_or("/catalog-info.yaml");
            format!(
                "{}/{}",
                base.trim_end_matches('/'),
                path.trim_start_matches('/')
            )
        }
    };
    (ctx.log)(format!("Registering {url} in the catalog"));
    let catalog = &ctx.services.catalog;
    let result = catalog
        .add_location("url", &url, true, ctx.actor)
        .map_err(|e| e.to_string());
    match result {
        Ok(_) => {
            let refs: Vec<String> = catalog
                .refs_with_origin(&format!("url:{url}"))
                .into_iter()
                .filter(|r| !r.starts_with("location:"))
                .collect();
            let main = refs
                .iter()
                .find(|r| r.starts_with("component:") && !r.contains("/generated-"))
                .or(refs.first())
                .cloned();
            ctx.output.insert("catalogInfoUrl".into(), json!(url));
            match main {
                Some(r) => {
                    ctx.output.insert("entityRef".into(), json!(r));
                }
                None => (ctx.log)(format!(
                    "{url} registered no entity yet; see its Location's status for processing errors"
                )),
            }
            Ok(())
        }
        Err(e) if optional => {
            (ctx.log)(format!(
                "Could not register {url}: {e} (optional, so going on)"
            ));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn fs_delete(ctx: &mut ActionContext<'_>) -> Result<(), String> {
    let patterns: Vec<String> = ctx.input["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    for p in &patterns {
        resolve_in(ctx.workspace, p.trim_start_matches('!'))?;
    }
    let (matcher, keep) = globs(&patterns)?;
    let mut dirs = Vec::new();
    for (rel, path) in walk(ctx.workspace)? {
        if matcher.is_match(&rel) && !keep.is_match(&rel) {
            std::fs::remove_file(&path).map_err(|e| e.to_string())?;
            (ctx.log)(format!("File {rel} deleted successfully"));
        }
    }
    // Directories named exactly.
    for p in &patterns {
        let d = resolve_in(ctx.workspace, p)?;
        if d.is_dir() && d != ctx.workspace {
            dirs.push(d);
        }
    }
    for d in dirs {
        std::fs::remove_dir_all(&d).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn fs_rename(ctx: &mut ActionContext<'_>) -> Result<(), String> {
    for f in ctx.input["files"].as_array().cloned().unwrap_or_default() {
        let from = resolve_in(ctx.workspace, f["from"].as_str().unwrap_or_default())?;
        let to = resolve_in(ctx.workspace, f["to"].as_str().unwrap_or_default())?;
        if !from.exists() {
            return Err(format!(
                "File {} does not exist",
                f["from"].as_str().unwrap_or_default()
            ));
        }
        if to.exists() && !f["overwrite"].as_bool().unwrap_or(false) {
            return Err(format!(
                "File {} already exists",
                f["to"].as_str().unwrap_or_default()
            ));
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        if to.is_dir() {
            std::fs::remove_dir_all(&to).map_err(|e| e.to_string())?;
        }
        std::fs::rename(&from, &to).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn fs_readdir(ctx: &mut ActionContext<'_>) -> Result<(), String> {
    let recursive = ctx.input["recursive"].as_bool().unwrap_or(false);
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    for p in ctx.input["paths"].as_array().cloned().unwrap_or_default() {
        let dir = resolve_in(ctx.workspace, p.as_str().unwrap_or_default())?;
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&d)
                .map_err(|e| format!("cannot read {}: {e}", p.as_str().unwrap_or_default()))?
                .filter_map(Result::ok)
                .collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let path = e.path();
                let item = json!({
                    "name": e.file_name().to_string_lossy(),
                    "path": path.strip_prefix(ctx.workspace).unwrap_or(&path).to_string_lossy(),
                    "fullPath": path.to_string_lossy(),
                });
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    folders.push(item);
                    if recursive {
                        stack.push(path);
                    }
                } else {
                    files.push(item);
                }
            }
        }
    }
    ctx.output.insert("files".into(), Value::Array(files));
    ctx.output.insert("folders".into(), Value::Array(folders));
    Ok(())
}

fn safe_segment(s: &str, what: &str) -> Result<(), String> {
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

fn publish_git(ctx: &mut ActionContext<'_>) -> Result<(), String> {
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

fn commit_and_push(
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
