//! The one-shot commands of the CLI (`ingest`, `validate`, `export technical-file`, `audit
//! verify`): each builds what it needs from the config and returns its result for `main` to print.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{build_catalog, open_database};
use crate::config::Config;
use crate::model::audit::{Actor, Report};
use crate::processing::{CatalogRules, RootLocation};

/// Starts logging as the config asks.
pub fn init_logging(config: &Config) {
    crate::telemetry::init(config.cairn.json_logs);
}

/// Processes every configured location once and stores the result; returns the entity count.
pub fn ingest(config: &Config) -> anyhow::Result<usize> {
    let db = open_database(config)?;
    let catalog = build_catalog(config, db, Box::new(|| {}))?;
    catalog.ingest_all()?;
    Ok(catalog.entity_count())
}

/// What `validate` found: one `file:line: ref: field: message` line per problem.
pub struct Validation {
    pub entities: usize,
    pub problems: Vec<String>,
}

/// Lints descriptor files (or directories of catalog-info.yaml) the way the server ingests them.
/// AIAgent answers are checked against the configured rule pack's questions.
pub fn validate(config: &Config, paths: &[PathBuf]) -> Validation {
    let rules = CatalogRules::allow_all().with_ai_act(super::ai_act_vocabulary(config));
    let mut out = Validation {
        entities: 0,
        problems: Vec::new(),
    };
    for p in paths {
        let abs = crate::ingest::absolute_target("file", &p.to_string_lossy());
        if !Path::new(&abs).exists() {
            out.problems
                .push(format!("{}:1: -: -: file does not exist", p.display()));
            continue;
        }
        let result = crate::ingest::process(&RootLocation::new("file", &abs), &rules);
        out.entities += result.emitted.len() - 1;
        out.problems.extend(result.reports().map(|r| r.to_string()));
    }
    out
}

/// Recomputes the audit chain.
pub fn verify_audit(config: &Config) -> anyhow::Result<Report> {
    Ok(open_database(config)?.verify_audit()?)
}

/// The EU AI Act technical file of an AI system, as the API's technical-file endpoint builds it;
/// the export is audited as `actor`'s. Returns the ZIP and its file name.
pub fn export_technical_file(
    config: &Config,
    entity_ref: &str,
    actor: &str,
) -> anyhow::Result<(Vec<u8>, String)> {
    let actor = &Actor::new(actor);
    let db = open_database(config)?;
    let readmodel = crate::readmodel::ReadModel::new();
    readmodel.refresh(&db).context("cannot load the catalog")?;
    let catalog = build_catalog(config, db.clone(), Box::new(|| {}))?;
    let crawler = crate::ingest::crawler::Crawler::new(catalog, db.clone(), config)?;
    let pack = crate::compliance::RulePack::load(Path::new(&config.cairn.compliance.rule_pack))
        .map_err(|e| anyhow::anyhow!("the rule pack does not load: {e}"))?;
    let r = crate::model::EntityRef::parse(entity_ref, None, "default")?.canonical();
    let snap = readmodel.snapshot();
    let doc = snap
        .get_by_ref(&r)
        .ok_or_else(|| anyhow::anyhow!("no entity {r} in the catalog"))?;
    let entity: serde_json::Value = serde_json::from_str(&doc.json)?;
    if entity["kind"] != "AIAgent" {
        anyhow::bail!("{r} is not an AI system (the rule pack applies to AIAgent entities)");
    }
    let inputs = crate::compliance::Inputs::new(&db, &*crawler, snap.clone());
    Ok(crate::compliance::technical_file_zip(
        &inputs, &pack, &entity, &r, actor,
    )?)
}
