//! The technical file of an AI system (Annex IV): one ZIP with the report in Markdown and HTML,
//! the classification, the obligations, the documents from its repository, its scorecard history
//! and audit records, the CI results, and a manifest with hashes. The export is audited.

use serde_json::{json, Value};

use super::assess::{assess, attestations, Inputs};
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
    let targets: Vec<String> = entity["relations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["type"] == t)
        .filter_map(|r| r["targetRef"].as_str().map(str::to_owned))
        .collect();
    if targets.is_empty() {
        vec![]
    } else {
        vec![(label.to_string(), targets.join(", "))]
    }
}

/// Annex IV's nine sections, filled from the entity, its relations, pushed facts and files.
fn annex_iv(
    entity: &Value,
    pushed: Option<&serde_json::Map<String, Value>>,
    files: &[String],
    counts: (usize, usize),
    commit: Option<&str>,
) -> Vec<Value> {
    let spec = &entity["spec"];
    let fact = |name: &str, label: &str| -> Vec<(String, String)> {
        pushed
            .and_then(|p| p.get(name))
            .map(|v| vec![(label.to_string(), v.to_string())])
            .unwrap_or_default()
    };
    let file = |name: &str| -> Vec<(String, String)> {
        files
            .iter()
            .filter(|f| f.ends_with(name))
            .map(|f| ("Repository file".to_string(), f.clone()))
            .collect()
    };
    let mut s1 = vec![
        (
            "Description".to_string(),
            show(&entity["metadata"]["description"]),
        ),
        ("Intended purpose".to_string(), show(&spec["purpose"])),
        ("Provider".to_string(), show(&spec["provider"])),
        ("Deployment".to_string(), show(&spec["deployment"])),
        ("Models".to_string(), show(&spec["models"])),
        ("Tools".to_string(), show(&spec["tools"])),
    ];
    s1.extend(links_of(entity, &["instructions-for-use"]));
    s1.extend(annotation(
        entity,
        "cairn.dev/instructions-for-use",
        "Instructions for use",
    ));
    let mut s2 = relations(entity, "consumesDataProduct", "Data products used");
    s2.push(("Data sources".to_string(), show(&spec["dataSources"])));
    s2.extend(annotation(entity, "cairn.dev/model-card", "Model card"));
    s2.extend(links_of(entity, &["model-card", "technical-documentation"]));
    s2.extend(file("MODEL_CARD.md"));
    s2.extend(fact("evaluation", "Evaluation (CI)"));
    s2.extend(fact("eval-results", "Evaluation results (CI)"));
    s2.extend(fact("bias-check", "Bias check (CI)"));
    s2.push(("Human oversight".to_string(), show(&spec["humanOversight"])));
    let mut s3 = vec![
        ("Human oversight".to_string(), show(&spec["humanOversight"])),
        ("Logging".to_string(), show(&spec["logging"])),
    ];
    s3.extend(fact("bias-check", "Per-group results (bias check)"));
    s3.extend(annotation(
        entity,
        "cairn.dev/model-card",
        "Capabilities and limitations (model card)",
    ));
    let mut s4 = fact("evaluation", "Evaluation (CI)");
    s4.extend(fact("eval-results", "Evaluation results (CI)"));
    let mut s5 = links_of(entity, &["risk-management"]);
    s5.extend(annotation(
        entity,
        "cairn.dev/risk-register",
        "Risk register",
    ));
    let mut s6 = vec![
        ("Scorecard result changes".to_string(), counts.0.to_string()),
        ("Audit records".to_string(), counts.1.to_string()),
    ];
    if let Some(c) = commit {
        s6.push(("Crawled commit".to_string(), c.to_string()));
    }
    let s7 = vec![("Standards".to_string(), show(&spec["aiAct"]["standards"]))];
    let s8 = links_of(entity, &["eu-declaration-of-conformity"]);
    let mut s9 = links_of(entity, &["post-market-monitoring-plan"]);
    s9.extend(relations(entity, "logsTo", "Log sink"));
    vec![
        section(1, "General description of the AI system", s1, "Add metadata.description, spec.purpose, spec.provider and instructions for use."),
        section(2, "Elements of the AI system and its development process", s2, "Add a model card, data products (consumesDataProducts) and CI evaluation and bias-check facts."),
        section(3, "Monitoring, functioning and control", s3, "Add spec.humanOversight and a bias-check fact with per-group results."),
        section(4, "Appropriateness of the performance metrics", s4, "Push the evaluation results from CI (POST /api/cairn/facts)."),
        section(5, "Risk management system (Art. 9)", s5, "Add a link of type risk-management or the cairn.dev/risk-register annotation."),
        section(6, "Relevant changes through the lifecycle", s6, ""),
        section(7, "Harmonised standards applied", s7, "List them in spec.aiAct.standards."),
        section(8, "EU declaration of conformity (Art. 47)", s8, "Add a link of type eu-declaration-of-conformity."),
        section(9, "Post-market monitoring system and plan (Art. 72)", s9, "Add a link of type post-market-monitoring-plan."),
    ]
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
    let origin = crate::model::origin_of(entity);
    let repo = match origin {
        Some(o) => ctx.repository(o)?,
        None => None,
    };
    let files: Vec<String> = repo
        .as_ref()
        .and_then(|x| serde_json::from_str(&x.files_json).ok())
        .unwrap_or_default();
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
        "sections": annex_iv(entity, pushed.as_ref(), &files, (history.len(), audit.len()), repo.as_ref().map(|x| x.commit_id.as_str())),
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
