//! Processing: from a root location to the entities it emits. Reads the location's targets
//! through a [`SourceReader`], parses descriptors, resolves placeholders, validates, applies
//! catalog rules, sets Backstage's location annotations, follows nested `Location` entities
//! (with cycle detection) and derives relations. Pure: the result is applied by [`state`].

mod cache;
mod names;
pub mod splice;
pub mod state;

pub use crate::model::catalog_rules::CatalogRules;
pub use cache::{KeptEntry, KeptFiles, PrepareCache};

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::descriptor::{self, SourceReader};
use crate::model::governance::AiActVocabulary;
use crate::model::{self, annotations, kinds::SORTED_REF_ARRAYS, validation, Relation};

/// A location registered through config or the API: the root of one processing tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RootLocation {
    #[serde(rename = "type")]
    pub loc_type: String,
    pub target: String,
}

impl RootLocation {
    pub fn new(loc_type: &str, target: &str) -> Self {
        RootLocation {
            loc_type: loc_type.to_string(),
            target: target.to_string(),
        }
    }
    /// `type:target`, the location ref Backstage uses in annotations and conflict keys.
    pub fn key(&self) -> String {
        format!("{}:{}", self.loc_type, self.target)
    }
    pub fn entity_ref(&self) -> String {
        format!("location:default/{}", self.entity_name())
    }
    fn entity_name(&self) -> String {
        format!(
            "generated-{}",
            hex::encode(Sha1::digest(self.key().as_bytes()))
        )
    }
    /// The `Location` entity Backstage generates for a registered location.
    pub fn entity(&self) -> Value {
        json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Location",
            "metadata": {
                "name": self.entity_name(),
                "namespace": "default",
                "annotations": {
                    annotations::MANAGED_BY_LOCATION: self.key(),
                    annotations::MANAGED_BY_ORIGIN_LOCATION: self.key(),
                }
            },
            "spec": {"type": self.loc_type, "target": self.target}
        })
    }
}

/// An error as Backstage serialises it, plus where it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingError {
    pub name: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cause: Option<Box<ProcessingError>>,
}

/// One problem with its position, printable as `file:line: ref: field: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub file: String,
    pub line: usize,
    pub entity_ref: Option<String>,
    pub field: Option<String>,
    pub error_name: String,
    pub message: String,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}: {}",
            self.file,
            self.line,
            self.entity_ref.as_deref().unwrap_or("-"),
            self.field.as_deref().unwrap_or("-"),
            self.message
        )
    }
}

impl Report {
    pub fn to_error(&self) -> ProcessingError {
        ProcessingError {
            name: self.error_name.clone(),
            message: self.to_string(),
            cause: None,
        }
    }
}

/// An entity that processing produced, ready to be stitched.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub entity_ref: String,
    /// The processed entity as compact JSON (kept as text: large catalogs hold many).
    pub raw: String,
    /// The spec of a `Location` entity, which processing follows; `None` for other kinds.
    pub location_spec: Option<Value>,
    /// The location ref of the file it came from.
    pub location_key: String,
    /// The entity that emitted it (a Location), `None` for the root.
    pub parent: Option<String>,
    pub relations: Vec<Relation>,
    pub errors: Vec<Report>,
    /// Problems that do not stop ingestion (unknown fields, unknown questionnaire keys).
    pub warnings: Vec<Report>,
}

/// An entity that was found but failed processing: its last good version is kept.
#[derive(Debug, Clone)]
pub struct Failed {
    pub entity_ref: String,
    pub parent: String,
    pub reports: Vec<Report>,
}

#[derive(Debug, Default)]
pub struct RootResult {
    pub origin: String,
    pub emitted: Vec<Emitted>,
    pub failed: Vec<Failed>,
    /// Files that could not be read or parsed whole: what they emitted before is kept.
    pub kept_location_keys: HashSet<String>,
    /// The source could not be read at all (unreachable remote, bad credentials, missing
    /// branch): everything it emitted before is kept.
    pub keep_all: bool,
    /// With [`Reuse::Kept`]: files (by location key) read in full and admitted whole, which
    /// may be left unread next time.
    pub read_files: Vec<(String, KeptEntry)>,
}

impl RootResult {
    /// The result for a source that cannot be read: the root Location with the error, and
    /// everything else kept as it was.
    pub fn unreadable(root: &RootLocation, message: String) -> RootResult {
        let entity = root.entity();
        let report = Report {
            file: root.target.clone(),
            line: 1,
            entity_ref: Some(root.entity_ref()),
            field: None,
            error_name: "Error".into(),
            message,
        };
        RootResult {
            origin: root.key(),
            emitted: vec![Emitted {
                entity_ref: root.entity_ref(),
                raw: entity.to_string(),
                location_spec: Some(entity["spec"].clone()),
                location_key: root.key(),
                parent: None,
                relations: vec![],
                errors: vec![report],
                warnings: vec![],
            }],
            keep_all: true,
            ..Default::default()
        }
    }

    /// Nothing changed since the last crawl: keep everything, write nothing.
    pub fn unchanged(root: &RootLocation) -> RootResult {
        RootResult {
            origin: root.key(),
            keep_all: true,
            ..Default::default()
        }
    }

    /// Every problem found, in order.
    pub fn reports(&self) -> impl Iterator<Item = &Report> {
        self.emitted
            .iter()
            .flat_map(|e| e.errors.iter())
            .chain(self.failed.iter().flat_map(|f| f.reports.iter()))
    }
}

/// What a pass may reuse of earlier passes over the same root.
#[derive(Clone, Copy)]
pub enum Reuse<'a> {
    Nothing,
    /// Prepared documents of files whose fingerprints are unchanged (Git blobs).
    Prepared(&'a PrepareCache),
    /// Unchanged local files are not read: their entities stay as stored.
    Kept(&'a KeptFiles),
}

/// Processes one root location and everything reachable from it.
pub fn process_root(
    root: &RootLocation,
    reader: &dyn SourceReader,
    rules: &CatalogRules,
) -> RootResult {
    process_root_reusing(root, reader, rules, Reuse::Nothing)
}

/// [`process_root`], reusing what `reuse` holds of earlier passes.
pub fn process_root_reusing(
    root: &RootLocation,
    reader: &dyn SourceReader,
    rules: &CatalogRules,
    reuse: Reuse<'_>,
) -> RootResult {
    let origin = root.key();
    let mut result = RootResult {
        origin: origin.clone(),
        ..Default::default()
    };
    let root_entity = root.entity();
    result.emitted.push(Emitted {
        entity_ref: root.entity_ref(),
        raw: root_entity.to_string(),
        location_spec: Some(root_entity["spec"].clone()),
        location_key: origin.clone(),
        parent: None,
        relations: vec![],
        errors: vec![],
        warnings: vec![],
    });
    let mut seen_refs: HashSet<String> = HashSet::from([root.entity_ref()]);
    let mut visited_files: HashSet<String> = HashSet::new();
    let mut queue = VecDeque::from([(0usize, root.loc_type.clone(), root.target.clone())]);
    while let Some((idx, parent_type, base)) = queue.pop_front() {
        let spec = result.emitted[idx]
            .location_spec
            .clone()
            .unwrap_or_default();
        let loc_ref = result.emitted[idx].entity_ref.clone();
        let loc_file = result.emitted[idx].location_key.clone();
        let loc_type = spec["type"].as_str().unwrap_or(&parent_type).to_string();
        let optional = spec["presence"].as_str() == Some("optional");
        let mut targets: Vec<String> = spec["target"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect();
        if let Some(list) = spec["targets"].as_array() {
            targets.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        let mut files = Vec::new();
        for target in targets {
            let resolved = reader.resolve(&base, &target);
            for skipped in reader.take_skipped() {
                let report = location_report(&loc_file, &loc_ref, "Warning", skipped);
                result.emitted[idx].warnings.push(report);
            }
            match resolved {
                Ok(found) => files.extend(found),
                Err(e) => {
                    if !(optional && e.contains("does not exist")) {
                        let report = location_report(&loc_file, &loc_ref, "NotFoundError", e);
                        result.emitted[idx].errors.push(report);
                    }
                }
            }
        }
        let mut fresh_files = Vec::new();
        for file in files {
            if visited_files.insert(file.clone()) {
                fresh_files.push((file_key(&loc_type, &file), file));
            } else {
                let msg = format!(
                    "Location cycle: {} is already read in this location tree",
                    file_key(&loc_type, &file)
                );
                result.emitted[idx].errors.push(location_report(
                    &loc_file,
                    &loc_ref,
                    "InputError",
                    msg,
                ));
            }
        }
        let kept: Vec<Option<Vec<String>>> = fresh_files
            .iter()
            .map(|(key, _)| match reuse {
                Reuse::Kept(k) => k.unchanged(&origin, key, &loc_ref, reader),
                _ => None,
            })
            .collect();
        let to_read: Vec<(String, String)> = fresh_files
            .iter()
            .zip(&kept)
            .filter(|(_, k)| k.is_none())
            .map(|(f, _)| f.clone())
            .collect();
        let ai_act = rules.ai_act();
        let mut prepared = prepare_files(&to_read, &origin, reader, reuse, ai_act).into_iter();
        for ((key, file), kept) in fresh_files.into_iter().zip(kept) {
            let (outcome, deps) = match kept {
                // In tree order, as if read: a ref emitted earlier makes it read after all.
                Some(refs) if !refs.iter().any(|r| seen_refs.contains(r)) => {
                    seen_refs.extend(refs);
                    result.kept_location_keys.insert(key);
                    if let Reuse::Kept(k) = reuse {
                        k.kept.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    continue;
                }
                Some(_) => prepare_one(&key, &file, &origin, reader, reuse, ai_act),
                None => prepared.next().expect("one outcome per file read"),
            };
            let before = result.emitted.len();
            let errors_before = result.emitted[idx].errors.len();
            let documents = outcome.as_ref().map_or(usize::MAX, Vec::len);
            let ctx = FileContext {
                key: &key,
                origin: &origin,
                parent: &loc_ref,
                rules,
            };
            admit(&ctx, outcome, &mut result, &mut seen_refs, idx);
            let added = &result.emitted[before..];
            let whole = added.len() == documents
                && result.emitted[idx].errors.len() == errors_before
                && added.iter().all(|e| e.location_spec.is_none());
            if let (Some(deps), true) = (deps, whole) {
                let refs = added.iter().map(|e| e.entity_ref.clone()).collect();
                let entry = KeptEntry::new(&loc_ref, deps, refs);
                result.read_files.push((key.clone(), entry));
            }
            for i in before..result.emitted.len() {
                if result.emitted[i].location_spec.is_some() {
                    queue.push_back((i, loc_type.clone(), file.clone()));
                }
            }
        }
    }
    result
}

struct FileContext<'a> {
    key: &'a str,
    origin: &'a str,
    parent: &'a str,
    rules: &'a CatalogRules,
}

fn file_key(loc_type: &str, file: &str) -> String {
    if loc_type == "url" && !file.contains("://") {
        format!("url:file://{file}")
    } else {
        format!("{loc_type}:{file}")
    }
}

fn location_report(file: &str, loc_ref: &str, name: &str, message: String) -> Report {
    Report {
        file: file.to_string(),
        line: 1,
        entity_ref: Some(loc_ref.to_string()),
        field: None,
        error_name: name.to_string(),
        message,
    }
}

/// A document processed as far as it can be without knowing the rest of the tree.
#[derive(Clone)]
enum Prepared {
    /// Not an entity (no valid envelope): reported on the Location that read it.
    Invalid(Report),
    Entity(Box<PreparedEntity>),
}

#[derive(Clone)]
struct PreparedEntity {
    entity_ref: String,
    kind: String,
    spec_type: Option<String>,
    line: usize,
    raw: String,
    location_spec: Option<Value>,
    relations: Vec<Relation>,
    failures: Vec<Report>,
    warnings: Vec<Report>,
}

/// What reading one file gave: its documents, or a problem with the whole file.
type FileOutcome = Result<Vec<Prepared>, Box<Report>>;

/// A file's outcome and, with [`Reuse::Kept`], the (target, fingerprint) of all it read.
type Read = (FileOutcome, Option<Vec<(String, String)>>);

fn prepare_one(
    key: &str,
    file: &str,
    origin: &str,
    reader: &dyn SourceReader,
    reuse: Reuse<'_>,
    ai_act: Option<&AiActVocabulary>,
) -> Read {
    let compute = |r: &dyn SourceReader| prepare_file(key, file, origin, r, ai_act);
    match reuse {
        Reuse::Nothing => (compute(reader), None),
        Reuse::Prepared(c) => (c.prepare(file, reader, compute), None),
        Reuse::Kept(k) => k.prepare(file, reader, compute),
    }
}

/// Reads, parses and validates files, in parallel: the costly, independent part of processing.
fn prepare_files(
    files: &[(String, String)],
    origin: &str,
    reader: &dyn SourceReader,
    reuse: Reuse<'_>,
    ai_act: Option<&AiActVocabulary>,
) -> Vec<Read> {
    let prep = |key: &str, file: &str| prepare_one(key, file, origin, reader, reuse, ai_act);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if threads <= 1 || files.len() < 8 {
        return files.iter().map(|(key, file)| prep(key, file)).collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                let prep = &prep;
                scope.spawn(move || {
                    part.iter()
                        .map(|(key, file)| prep(key, file))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("descriptor worker panicked"))
            .collect()
    })
}

fn prepare_file(
    key: &str,
    file: &str,
    origin: &str,
    reader: &dyn SourceReader,
    ai_act: Option<&AiActVocabulary>,
) -> FileOutcome {
    let report =
        |line: usize, entity: Option<&str>, field: Option<&str>, name: &str, message: String| {
            Report {
                file: file.to_string(),
                line,
                entity_ref: entity.map(str::to_owned),
                field: field.map(str::to_owned),
                error_name: name.to_string(),
                message,
            }
        };
    let bytes = reader
        .read(file)
        .map_err(|e| report(1, None, None, e.error_name(), e.into()))?;
    let docs = descriptor::parse_documents(&bytes).map_err(|e| {
        let msg = match e.column {
            Some(c) => format!("{} (line {}, column {c})", e.message, e.line),
            None => e.message,
        };
        Box::new(report(e.line, None, None, "Error", msg))
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let mut out = Vec::with_capacity(docs.len());
    for doc in &docs {
        let mut entity = doc.value.clone();
        if let Some(p) = validation::validate_envelope(&entity).first() {
            let line = descriptor::field_line(&text, doc, &p.field);
            out.push(Prepared::Invalid(report(
                line,
                None,
                Some(&p.field),
                p.error_name,
                p.message.clone(),
            )));
            continue;
        }
        if entity["metadata"].get("namespace").is_none() {
            entity["metadata"]["namespace"] = json!("default");
        }
        let entity_ref = model::entity_ref_of(&entity).canonical();
        // Each step runs only if the ones before it found nothing; a problem names its field.
        let at_field = |field: &str, name: &str, message: String| {
            report(
                descriptor::field_line(&text, doc, field),
                Some(&entity_ref),
                Some(field),
                name,
                message,
            )
        };
        let mut failures = Vec::new();
        if let Err((field, msg)) = descriptor::resolve_placeholders(&mut entity, file, reader) {
            failures.push(at_field(&field, "InputError", msg));
        }
        if failures.is_empty() {
            for p in validation::validate_fields(&entity, ai_act) {
                failures.push(at_field(&p.field, p.error_name, p.message));
            }
        }
        let mut relations = vec![];
        if failures.is_empty() {
            match model::relations::emitted_relations(&entity) {
                Ok(r) => relations = r,
                Err((field, e)) => failures.push(at_field(&field, "InputError", e)),
            }
        }
        let warnings = validation::warnings(&entity, ai_act)
            .into_iter()
            .map(|p| {
                let line = descriptor::field_line(&text, doc, &p.field);
                report(
                    line,
                    Some(&entity_ref),
                    Some(&p.field),
                    "Warning",
                    p.message,
                )
            })
            .collect();
        set_location_annotations(&mut entity, key, origin);
        sort_ref_arrays(&mut entity);
        let kind = entity["kind"].as_str().unwrap_or_default().to_string();
        out.push(Prepared::Entity(Box::new(PreparedEntity {
            warnings,
            entity_ref,
            spec_type: entity["spec"]["type"].as_str().map(str::to_owned),
            line: doc.line,
            location_spec: (kind == "Location").then(|| entity["spec"].clone()),
            kind,
            raw: entity.to_string(),
            relations,
            failures,
        })));
    }
    Ok(out)
}

/// The tree-dependent part: duplicates, catalog rules, and what is emitted or failed.
fn admit(
    ctx: &FileContext<'_>,
    outcome: FileOutcome,
    result: &mut RootResult,
    seen_refs: &mut HashSet<String>,
    loc_idx: usize,
) {
    let docs = match outcome {
        Ok(docs) => docs,
        Err(report) => {
            result.emitted[loc_idx].errors.push(*report);
            result.kept_location_keys.insert(ctx.key.to_string());
            return;
        }
    };
    for doc in docs {
        let p = match doc {
            Prepared::Invalid(report) => {
                result.emitted[loc_idx].errors.push(report);
                result.kept_location_keys.insert(ctx.key.to_string());
                continue;
            }
            Prepared::Entity(p) => p,
        };
        let file = ctx
            .key
            .split_once(':')
            .map(|(_, f)| f.trim_start_matches("file://"))
            .unwrap_or(ctx.key);
        let report = |field: Option<&str>, name: &str, message: String| Report {
            file: file.to_string(),
            line: p.line,
            entity_ref: Some(p.entity_ref.clone()),
            field: field.map(str::to_owned),
            error_name: name.to_string(),
            message,
        };
        if !seen_refs.insert(p.entity_ref.clone()) {
            let msg = format!(
                "Duplicate entity {}: it is already emitted by this location tree",
                p.entity_ref
            );
            result.emitted[loc_idx]
                .errors
                .push(report(None, "ConflictError", msg));
            continue;
        }
        if !ctx.rules.allows_kind(&p.kind, p.spec_type.as_deref()) {
            let msg = format!(
                "Entity {} at {}, originated at {}, is not of an allowed kind for that location",
                p.entity_ref, ctx.key, ctx.origin
            );
            result.emitted[loc_idx]
                .errors
                .push(report(Some("kind"), "NotAllowedError", msg));
            continue;
        }
        if !p.failures.is_empty() {
            result.failed.push(Failed {
                entity_ref: p.entity_ref,
                parent: ctx.parent.to_string(),
                reports: p.failures,
            });
            continue;
        }
        result.emitted.push(Emitted {
            entity_ref: p.entity_ref,
            raw: p.raw,
            location_spec: p.location_spec,
            location_key: ctx.key.to_string(),
            parent: Some(ctx.parent.to_string()),
            relations: p.relations,
            errors: vec![],
            warnings: p.warnings,
        });
    }
}

fn set_location_annotations(entity: &mut Value, key: &str, origin: &str) {
    let meta = entity["metadata"].as_object_mut().expect("validated");
    let ann = meta.entry("annotations").or_insert_with(|| json!({}));
    ann[annotations::MANAGED_BY_LOCATION] = json!(key);
    ann[annotations::MANAGED_BY_ORIGIN_LOCATION] = json!(origin);
    // Files on a Git host get links to view, edit and browse their source; values written
    // in the descriptor win.
    for (k, v) in scm_annotations(key) {
        if ann.get(k).is_none() {
            ann[k] = json!(v);
        }
    }
    for k in [annotations::VIEW_URL, annotations::EDIT_URL] {
        if let Some(v) = ann.get(k).and_then(Value::as_str) {
            if v.trim_start().to_lowercase().starts_with("javascript:") {
                ann[k] = json!("https://backstage.io/annotation-rejected-for-security-reasons");
            }
        }
    }
}

/// `view-url`, `edit-url` and `source-location` for a `url:https://host/…/blob/<branch>/<path>`
/// location; nothing for local files.
fn scm_annotations(key: &str) -> Vec<(&'static str, String)> {
    let Some(url) = key.strip_prefix("url:") else {
        return vec![];
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return vec![];
    }
    let Some((base, rest)) = url.split_once("/blob/") else {
        return vec![];
    };
    let mut out = vec![(annotations::VIEW_URL, url.to_string())];
    let pinned = rest
        .split('/')
        .next()
        .is_some_and(|r| r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit()));
    if !pinned {
        out.push((annotations::EDIT_URL, format!("{base}/edit/{rest}")));
    }
    let dir = rest.rsplit_once('/').map(|(d, _)| d).unwrap_or(rest);
    out.push((
        annotations::SOURCE_LOCATION,
        format!("url:{base}/tree/{dir}/"),
    ));
    out
}

fn sort_ref_arrays(entity: &mut Value) {
    if let Some(spec) = entity.get_mut("spec").and_then(Value::as_object_mut) {
        for field in SORTED_REF_ARRAYS {
            if let Some(Value::Array(items)) = spec.get_mut(*field) {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
}

/// Validates one entity as `POST /validate-entity` does: envelope, formats, kind rules and
/// relations. Returns Backstage-serialised errors (empty when valid).
pub fn validate_single(
    entity: &Value,
    location: &str,
    rules: &CatalogRules,
) -> Vec<ProcessingError> {
    let ai_act = rules.ai_act();
    let err = |name: &str, message: String| ProcessingError {
        name: name.into(),
        message,
        cause: None,
    };
    match location.split_once(':') {
        Some(("url", t)) if !t.trim().is_empty() => {}
        _ => {
            return vec![err(
                "TypeError",
                format!("Invalid location ref {location}, only 'url:<target>' is supported, e.g. url:https://host/path"),
            )]
        }
    }
    let envelope = validation::validate_envelope(entity);
    if !envelope.is_empty() {
        return envelope
            .into_iter()
            .map(|p| err("TypeError", format!("{}: {}", p.field, p.message)))
            .collect();
    }
    let mut entity = entity.clone();
    if entity["metadata"].get("namespace").is_none() {
        entity["metadata"]["namespace"] = json!("default");
    }
    let entity_ref = model::entity_ref_of(&entity).canonical();
    // A kind no one knows (not built in, not a governance kind, not allowed by catalog.rules) is
    // most often a typo; people run this in CI to catch it.
    let kind = entity["kind"].as_str().unwrap_or_default();
    if model::kinds::spec_rules(kind).is_none()
        && !rules.allows_kind(kind, entity["spec"]["type"].as_str())
    {
        return vec![ProcessingError {
            name: "InputError".into(),
            message: format!("{entity_ref}: kind: Unknown kind {kind}: it is neither a built-in nor a governance kind, and catalog.rules does not allow it"),
            cause: None,
        }];
    }
    let mut out: Vec<ProcessingError> = validation::validate_fields(&entity, ai_act)
        .into_iter()
        .map(|p| ProcessingError {
            name: "InputError".into(),
            message: format!("{entity_ref}: {}: {}", p.field, p.message),
            cause: Some(Box::new(err(p.error_name, p.message))),
        })
        .collect();
    if out.is_empty() {
        if let Err((field, e)) = model::relations::emitted_relations(&entity) {
            out.push(err("InputError", format!("{entity_ref}: {field}: {e}")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_host_files_get_view_edit_and_source_links() {
        let a =
            scm_annotations("url:https://github.com/acme/widget/blob/main/svc/catalog-info.yaml");
        assert_eq!(
            a,
            vec![
                (
                    annotations::VIEW_URL,
                    "https://github.com/acme/widget/blob/main/svc/catalog-info.yaml".to_string()
                ),
                (
                    annotations::EDIT_URL,
                    "https://github.com/acme/widget/edit/main/svc/catalog-info.yaml".to_string()
                ),
                (
                    annotations::SOURCE_LOCATION,
                    "url:https://github.com/acme/widget/tree/main/svc/".to_string()
                ),
            ]
        );
        assert!(scm_annotations("file:/srv/catalog-info.yaml").is_empty());
        assert!(scm_annotations("url:file:///r/blob/main/catalog-info.yaml").is_empty());
    }
}
