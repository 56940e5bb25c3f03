//! `fs:delete`, `fs:rename` and `fs:readdir`, inside the workspace.

use serde_json::{json, Value};

use super::fetch::globs;
use super::{resolve_in, walk, ActionContext};

pub(super) fn fs_delete(ctx: &mut ActionContext<'_>) -> Result<(), String> {
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

pub(super) fn fs_rename(ctx: &mut ActionContext<'_>) -> Result<(), String> {
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

pub(super) fn fs_readdir(ctx: &mut ActionContext<'_>) -> Result<(), String> {
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
