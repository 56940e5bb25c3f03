//! The technical file of an AI system (Annex IV): one ZIP with the report in Markdown and HTML,
//! the classification, the obligations, the documents from its repository, its scorecard history
//! and audit records, the CI results, and a manifest with hashes. The export is audited.

use serde_json::{json, Value};

use super::assess::{assess, attestations, Inputs};
use super::pack::AnnexItem;
use super::RulePack;
use crate::error::Error;
use crate::model::audit::{Actor, Entry};

/// One Annex IV section: what the catalog holds for it, or a hint of what to add.
fn section(number: u8, title: &str, items: Vec<(String, String)>, hint: &str) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .filter(|(_, v)| !v.is_empty() && v != "null")
        .map(|(label, value)| json!({"label": label, "value": value}))
        .collect();
    json!({"number": number, "title": title, "items": items, "hint": hint})
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn links_of(entity: &Value, types: &[&str]) -> Vec<(String, String)> {
    entity["metadata"]["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| types.iter().any(|t| l["type"] == *t))
        .map(|l| {
            (
                format!("Link ({})", show(&l["type"])),
                format!("{} <{}>", show(&l["title"]), show(&l["url"])),
            )
        })
        .collect()
}

fn annotation(entity: &Value, key: &str, label: &str) -> Vec<(String, String)> {
    let v = show(&entity["metadata"]["annotations"][key]);
    if v.is_empty() {
        vec![]
    } else {
        vec![(label.to_string(), v)]
    }
}

fn relations(entity: &Value, t: &str, label: &str) -> Vec<(String, String)> {
    let targets: Vec<&str> = crate::model::relations::targets_of(entity, t).collect();
    if targets.is_empty() {
        vec![]
    } else {
        vec![(label.to_string(), targets.join(", "))]
    }
}

/// The pack's Annex IV sections, each filled from the entity, its relations, pushed facts,
/// repository files and record counts.
fn annex_iv(
    p: &RulePack,
    entity: &Value,
    pushed: Option<&serde_json::Map<String, Value>>,
    files: &[String],
    counts: (usize, usize),
    commit: Option<&str>,
) -> Vec<Value> {
    let at = |path: &str| path.split('.').fold(entity, |v, k| &v[k]);
    p.annex_iv
        .iter()
        .map(|s| {
            let items = s
                .items
                .iter()
                .flat_map(|item| -> Vec<(String, String)> {
                    match item {
                        AnnexItem::Field { label, path } => vec![(label.clone(), show(at(path)))],
                        AnnexItem::Links(types) => {
                            let types: Vec<&str> = types.iter().map(String::as_str).collect();
                            links_of(entity, &types)
                        }
                        AnnexItem::Annotation { label, key } => annotation(entity, key, label),
                        AnnexItem::Relation { label, relation } => {
                            relations(entity, relation, label)
                        }
                        AnnexItem::Fact { label, name } => pushed
                            .and_then(|p| p.get(name))
                            .map(|v| vec![(label.clone(), v.to_string())])
                            .unwrap_or_default(),
                        AnnexItem::File(suffix) => files
                            .iter()
                            .filter(|f| f.ends_with(suffix.as_str()))
                            .map(|f| ("Repository file".to_string(), f.clone()))
                            .collect(),
                        AnnexItem::Count { label, of } => {
                            let n = if of == "history" { counts.0 } else { counts.1 };
                            vec![(label.clone(), n.to_string())]
                        }
                        AnnexItem::Commit { label } => commit
                            .map(|c| vec![(label.clone(), c.to_string())])
                            .unwrap_or_default(),
                    }
                })
                .collect();
            section(s.number, &s.title, items, &s.hint)
        })
        .collect()
}

/// The technical file of one AI system as a ZIP, and its file name; the export is audited.
pub fn technical_file_zip(
    ctx: &Inputs,
    p: &RulePack,
    entity: &Value,
    r: &str,
    actor: &Actor,
) -> Result<(Vec<u8>, String), Error> {
    let assessment = assess(ctx, p, entity, r, &attestations(ctx.db)?)?;
    let db = ctx.db;
    let history = db.history(Some(r), None)?;
    let mut audit = Vec::new();
    let mut after = 0;
    loop {
        let page = db.audit_records(after, 5000, Some(r), None, None)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        audit.extend(page);
    }
    let head = db.verify_audit()?;
    let (repo, files) = ctx.repository_of(entity)?;
    // Documents the entity points at in its own repository, and the model card.
    let mut wanted: Vec<String> = entity["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("cairn.dev/"))
        .filter_map(|(_, v)| v.as_str())
        .filter(|v| v.starts_with("./"))
        .map(|v| v.trim_start_matches("./").to_string())
        .collect();
    wanted.extend(
        files
            .iter()
            .filter(|f| f.ends_with("MODEL_CARD.md"))
            .cloned(),
    );
    wanted.sort();
    wanted.dedup();
    let mut documents = Vec::new();
    if let Some(row) = &repo {
        for w in wanted.iter().filter(|w| files.contains(w)) {
            if let Ok(Some(bytes)) = ctx.files.read_file(row, w) {
                documents.push((w.clone(), bytes));
            }
        }
    }
    let pushed = ctx.pushed(r)?;
    let answers: Vec<Value> = p
        .questions
        .iter()
        .map(|q| {
            json!({"id": q.id, "text": q.text, "cite": q.cite,
                            "answer": show(&entity["spec"]["aiAct"]["answers"][q.id.as_str()])})
        })
        .map(|mut v| {
            if v["answer"] == "" {
                v["answer"] = json!("(not answered)");
            }
            v
        })
        .collect();
    let data = json!({
        "title": entity["metadata"]["title"].as_str().or(entity["metadata"]["name"].as_str()),
        "entityRef": r,
        "generatedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "rulePack": assessment["rulePack"],
        "repository": assessment["repository"],
        "classification": assessment["classification"],
        "answers": answers,
        "sections": annex_iv(p, entity, pushed.as_ref(), &files, (history.len(), audit.len()), repo.as_ref().map(|x| x.commit_id.as_str())),
        "obligations": assessment["obligations"],
        "historyCount": history.len(),
        "auditCount": audit.len(),
        "auditHead": head.last_hash,
        "documents": documents.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
    });
    let md = crate::render::report("technical-file.md", &data).map_err(Error::Internal)?;
    let html = crate::render::report("technical-file.html", &data).map_err(Error::Internal)?;
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).unwrap_or_default();
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        ("technical-file.md".into(), md.into_bytes()),
        ("technical-file.html".into(), html.into_bytes()),
        ("entity.json".into(), pretty(entity)),
        (
            "classification.json".into(),
            pretty(
                &json!({"answers": entity["spec"]["aiAct"], "classification": assessment["classification"]}),
            ),
        ),
        (
            "obligations.json".into(),
            pretty(&assessment["obligations"]),
        ),
        (
            "scorecard-history.json".into(),
            pretty(&serde_json::to_value(&history).unwrap_or_default()),
        ),
        (
            "audit.json".into(),
            pretty(&serde_json::to_value(&audit).unwrap_or_default()),
        ),
        ("ci-results.json".into(), pretty(&json!(pushed))),
    ];
    for (path, bytes) in documents {
        entries.push((format!("documents/{path}"), bytes));
    }
    let manifest: Vec<Value> = entries
        .iter()
        .map(|(p, b)| {
            use sha2::Digest;
            json!({"path": p, "bytes": b.len(), "sha256": hex::encode(sha2::Sha256::digest(b))})
        })
        .collect();
    entries.push(("manifest.json".into(), pretty(&json!({
            "entityRef": r, "generatedAt": data["generatedAt"], "rulePack": assessment["rulePack"],
            "repository": assessment["repository"], "auditChainHead": head.last_hash, "auditChainIntact": head.ok,
            "files": manifest,
        }))));
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (path, bytes) in &entries {
            zip.start_file(path.as_str(), opts)
                .map_err(|e| Error::Internal(e.to_string()))?;
            std::io::Write::write_all(&mut zip, bytes)
                .map_err(|e| Error::Internal(e.to_string()))?;
        }
        zip.finish().map_err(|e| Error::Internal(e.to_string()))?;
    }
    let file_name = format!("technical-file-{}.zip", r.replace([':', '/'], "-"));
    let zip = buf.into_inner();
    use sha2::Digest;
    db.append_audit(&[Entry::new(
            actor,
            "technical-file.exported",
            Some(r),
            json!({"sha256": hex::encode(sha2::Sha256::digest(&zip)), "bytes": zip.len(), "auditChainHead": head.last_hash}),
        )])?;
    Ok((zip, file_name))
}
