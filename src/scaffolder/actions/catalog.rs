//! `catalog:write`, `catalog:fetch` and `catalog:register`: the actions that talk to the catalog.

use serde_json::{json, Value};

use super::{resolve_in, str_in, ActionContext};

pub(super) fn catalog_write(ctx: &mut ActionContext<'_>) -> Result<(), String> {
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

pub(super) fn catalog_fetch(ctx: &mut ActionContext<'_>) -> Result<(), String> {
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

pub(super) fn catalog_register(ctx: &mut ActionContext<'_>) -> Result<(), String> {
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
