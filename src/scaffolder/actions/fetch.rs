//! `fetch:plain` and `fetch:template`: copying and rendering a template's skeleton into the workspace.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use super::{render, resolve_in, source_path, str_in, target_path, ActionContext};

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

pub(super) fn copy_file(from: &Path, to: &Path) -> Result<(), String> {
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

pub(super) fn fetch_plain(ctx: &mut ActionContext<'_>, file: bool) -> Result<(), String> {
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

pub(super) fn is_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8000).any(|b| *b == 0) || std::str::from_utf8(bytes).is_err()
}

pub(super) fn globs(patterns: &[String]) -> Result<(globset::GlobSet, globset::GlobSet), String> {
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

pub(super) fn handlebars_engine() -> handlebars::Handlebars<'static> {
    let mut hb = handlebars::Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    hb
}

pub(super) fn fetch_template(ctx: &mut ActionContext<'_>, file: bool) -> Result<(), String> {
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
