//! The processing state: every entity's last good processed form, who emitted it, and the
//! relations it emits. Applying a [`RootResult`] yields the minimal set of rows to write:
//! unchanged entities are neither rewritten nor restitched. Stitching builds the served
//! entity: relations from every emitter, `status.items` from errors, the orphan annotation,
//! `uid` and `etag`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use super::names::{Name, Names};
use super::splice;
use super::{Emitted, ProcessingError, Report, RootResult};
use crate::model::{annotations, Relation};
use crate::storage::EntityRow;

pub use crate::model::catalog_rules::OrphanStrategy;

/// What the state keeps of one entity. Strings shared between entities (refs, origins,
/// files, relation types) are [`Name`]s: at a million entities with a dozen relations each,
/// the relations held as strings were the largest part of the process.
#[derive(Debug, Clone)]
struct Row {
    uid: Box<str>,
    origin: Name,
    location_key: Name,
    parent: Option<Name>,
    /// SHA-1 of the processed entity JSON; the JSON itself lives in the database and, for
    /// entities changed in the current batch, in the [`ChangeSet`].
    raw_hash: [u8; 20],
    /// Exactly sized: kept for every entity, and the emitting code's vector had room to spare.
    relations: Box<[Rel]>,
    /// Errors and warnings for `status.items`.
    errors: Vec<StatusItem>,
    orphan: bool,
    etag: Box<str>,
}

/// Stitches by writing the added members into the processed JSON.
fn stitch_spliced(
    plan: &splice::Plan,
    raw: &str,
    relations: &[Target<'_>],
    status: &[Value],
    uid: &str,
) -> (String, String) {
    let mut tail = String::from(",\"relations\":");
    tail.push_str(&serde_json::to_string(relations).expect("json"));
    if !status.is_empty() {
        // `{"items":[…]}` written out: `json!` would copy every item first.
        tail.push_str(",\"status\":{\"items\":");
        tail.push_str(&serde_json::to_string(status).expect("json"));
        tail.push('}');
    }
    let hashed = splice::with_tail(raw, &tail);
    let etag = hex::encode(Sha1::digest(hashed.as_bytes()));
    (splice::served(plan, &hashed, uid, &etag), etag)
}

/// Stitches through a parsed tree: for what splicing cannot do (an orphan's annotation, members
/// already there that are replaced in place).
fn stitch_tree(
    raw: &str,
    orphan: bool,
    relations: &[Target<'_>],
    status: &[Value],
    uid: &str,
) -> (String, String) {
    let mut entity: Value = serde_json::from_str(raw).expect("stored raw entity is JSON");
    if orphan {
        let meta = entity["metadata"].as_object_mut().expect("validated");
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        ann[annotations::ORPHAN] = json!("true");
    }
    let obj = entity.as_object_mut().expect("validated");
    obj.insert("relations".into(), json!(relations));
    if !status.is_empty() {
        obj.insert("status".into(), json!({ "items": status }));
    }
    let etag = hex::encode(Sha1::digest(serde_json::to_vec(&entity).expect("json")));
    let meta = entity["metadata"].as_object_mut().expect("validated");
    meta.insert("uid".into(), json!(uid));
    meta.insert("etag".into(), json!(etag));
    (serde_json::to_string(&entity).expect("json"), etag)
}

/// One stitched entity.
struct Stitched {
    json: String,
    etag: String,
    spliced: bool,
}

/// One served relation, in the order the served JSON has its members.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
struct Target<'a> {
    #[serde(rename = "type")]
    rel_type: &'a str,
    #[serde(rename = "targetRef")]
    target_ref: &'a str,
}

/// A [`Relation`] in [`Name`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rel {
    source: Name,
    rel_type: Name,
    target: Name,
    field: Name,
}

/// One stored `status.items` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct StatusItem {
    level: String,
    error: ProcessingError,
}

fn items(errors: &[Report], warnings: &[Report]) -> Vec<StatusItem> {
    let item = |level: &str, r: &Report| StatusItem {
        level: level.into(),
        error: r.to_error(),
    };
    errors
        .iter()
        .map(|r| item("error", r))
        .chain(warnings.iter().map(|r| item("warning", r)))
        .collect()
}

/// A batch to write: the entities to restitch (rows are produced lazily by
/// [`CatalogState::stitched_rows`], so a large batch is never held in memory twice) and the
/// refs to delete.
#[derive(Debug, Default)]
pub struct ChangeSet {
    restitch: Vec<String>,
    /// Processed entity JSON of every restitched entity, by ref.
    raw: HashMap<String, String>,
    touched: HashSet<String>,
    pub deletes: Vec<String>,
    seq: i64,
}

#[derive(Default)]
pub struct CatalogState {
    names: Names,
    /// By entity ref.
    rows: HashMap<Name, Row>,
    /// source ref → (type, target) → number of emitters.
    relations: HashMap<Name, BTreeMap<(Name, Name), u32>>,
    /// origin → number of entities it owns.
    origins: HashMap<Name, usize>,
}

impl ChangeSet {
    /// Folds a later change set (same sequence number) into this one.
    pub fn merge(&mut self, later: ChangeSet) {
        self.restitch.extend(later.restitch);
        self.restitch.sort();
        self.restitch.dedup();
        self.raw.extend(later.raw);
        self.touched.extend(later.touched);
        self.deletes.extend(later.deletes);
    }

    /// After merging: an entity deleted and re-created in one batch is written, not deleted.
    pub fn settle(&mut self, state: &CatalogState) {
        self.deletes.retain(|r| !state.contains(r));
        self.deletes.sort();
        self.deletes.dedup();
        self.restitch.retain(|r| state.contains(r));
    }

    /// Restitched entities whose JSON is not in the batch; the caller loads it from storage.
    pub fn missing_raw(&self) -> Vec<String> {
        self.restitch
            .iter()
            .filter(|r| !self.raw.contains_key(*r))
            .cloned()
            .collect()
    }

    /// Adds stored entities' processed JSON, as `Db::load_raw` gives it.
    pub fn add_raw(&mut self, stored: impl IntoIterator<Item = (String, String, String)>) {
        self.raw.extend(
            stored
                .into_iter()
                .map(|(r, raw, served)| (r, splice::processed(raw, &served))),
        );
    }
}

impl CatalogState {
    pub fn from_rows(rows: Vec<EntityRow>) -> Self {
        let mut state = CatalogState::default();
        for r in rows {
            let relations: Vec<Relation> =
                serde_json::from_str(&r.relations_json).unwrap_or_default();
            let relations = state.rels(&relations);
            state.add_relations(&relations);
            let origin = state.names.intern(&r.origin);
            *state.origins.entry(origin).or_default() += 1;
            let row = Row {
                uid: r.uid.into_boxed_str(),
                origin,
                location_key: state.names.intern(&r.location_key),
                parent: r.parent_ref.map(|p| state.names.intern(&p)),
                raw_hash: splice::processed_digest(&r.raw_json, &r.final_json),
                relations,
                errors: serde_json::from_str(&r.errors_json).unwrap_or_default(),
                orphan: r.orphan,
                etag: r.etag.into_boxed_str(),
            };
            let key = state.names.intern(&r.entity_ref);
            state.rows.insert(key, row);
        }
        state
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn name(&self, s: &str) -> Option<Name> {
        self.names.get(s)
    }

    fn str(&self, n: Name) -> &str {
        self.names.str(n)
    }

    fn contains(&self, entity_ref: &str) -> bool {
        self.name(entity_ref)
            .is_some_and(|n| self.rows.contains_key(&n))
    }

    fn row(&self, entity_ref: &str) -> Option<&Row> {
        self.name(entity_ref).and_then(|n| self.rows.get(&n))
    }

    fn rels(&mut self, relations: &[Relation]) -> Box<[Rel]> {
        relations
            .iter()
            .map(|r| Rel {
                source: self.names.intern(&r.source),
                rel_type: self.names.intern(&r.rel_type),
                target: self.names.intern(&r.target),
                field: self.names.intern(&r.field),
            })
            .collect()
    }

    fn relation(&self, r: &Rel) -> Relation {
        Relation {
            source: self.str(r.source).to_string(),
            rel_type: self.str(r.rel_type).to_string(),
            target: self.str(r.target).to_string(),
            field: self.str(r.field).to_string(),
        }
    }

    /// Entities with a relation to `entity_ref` (their reverse relations have it as source).
    fn pointing_at(&self, entity_ref: Name) -> impl Iterator<Item = String> + '_ {
        self.relations
            .get(&entity_ref)
            .into_iter()
            .flat_map(|m| m.keys().map(|(_, target)| self.str(*target).to_string()))
    }

    fn count_origin(&mut self, origin: Name, add: bool) {
        if add {
            *self.origins.entry(origin).or_default() += 1;
        } else if let Some(n) = self.origins.get_mut(&origin) {
            *n -= 1;
            if *n == 0 {
                self.origins.remove(&origin);
            }
        }
    }

    /// Whether any entity came from this origin.
    pub fn has_origin(&self, origin: &str) -> bool {
        self.name(origin)
            .is_some_and(|o| self.origins.contains_key(&o))
    }

    /// The entities of an origin, as names.
    fn with_origin(&self, origin: &str) -> Vec<Name> {
        let Some(origin) = self.name(origin) else {
            return Vec::new();
        };
        self.rows
            .iter()
            .filter(|(_, r)| r.origin == origin)
            .map(|(k, _)| *k)
            .collect()
    }

    /// The entities a root location emitted, sorted.
    pub fn refs_with_origin(&self, origin: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .with_origin(origin)
            .into_iter()
            .map(|k| self.str(k).to_string())
            .collect();
        out.sort();
        out
    }

    pub fn origin_of(&self, entity_ref: &str) -> Option<(&str, bool)> {
        self.row(entity_ref).map(|r| (self.str(r.origin), r.orphan))
    }

    pub fn ref_of_uid(&self, uid: &str) -> Option<String> {
        self.rows
            .iter()
            .find(|(_, r)| r.uid.eq_ignore_ascii_case(uid))
            .map(|(k, _)| self.str(*k).to_string())
    }

    /// Whether an entity is stored, not orphaned, as emitted by `parent` in the file
    /// `location_key` of `origin`.
    pub fn holds(&self, entity_ref: &str, origin: &str, location_key: &str, parent: &str) -> bool {
        self.row(entity_ref).is_some_and(|r| {
            !r.orphan
                && self.str(r.origin) == origin
                && self.str(r.location_key) == location_key
                && r.parent.is_some_and(|p| self.str(p) == parent)
        })
    }

    /// Parent links for the ancestry endpoint: entity → the entity that emitted it.
    pub fn parent_of(&self, entity_ref: &str) -> Option<&str> {
        self.row(entity_ref)
            .and_then(|r| r.parent)
            .map(|p| self.str(p))
    }

    fn add_relations(&mut self, rels: &[Rel]) {
        for r in rels {
            *self
                .relations
                .entry(r.source)
                .or_default()
                .entry((r.rel_type, r.target))
                .or_insert(0) += 1;
        }
    }

    fn remove_relations(&mut self, rels: &[Rel]) {
        for r in rels {
            if let Some(map) = self.relations.get_mut(&r.source) {
                let key = (r.rel_type, r.target);
                if let Some(n) = map.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        map.remove(&key);
                    }
                }
                if map.is_empty() {
                    self.relations.remove(&r.source);
                }
            }
        }
    }

    /// Frees the names nothing refers to any more, once enough were made since the last time.
    fn sweep_names(&mut self) {
        if !self.names.sweep_due() {
            return;
        }
        let (rows, names) = (&self.rows, &mut self.names);
        names.sweep(|mark| {
            for (k, r) in rows {
                mark(*k);
                mark(r.origin);
                mark(r.location_key);
                r.parent.into_iter().for_each(&mut *mark);
                for rel in r.relations.iter() {
                    mark(rel.source);
                    mark(rel.rel_type);
                    mark(rel.target);
                    mark(rel.field);
                }
            }
        });
    }

    /// Applies the result of processing one root location.
    pub fn apply(&mut self, result: RootResult, strategy: OrphanStrategy, seq: i64) -> ChangeSet {
        let origin_str = result.origin.clone();
        let origin = self.names.intern(&origin_str);
        let mut emitted = result.emitted;
        let mut touched: HashSet<String> = HashSet::new();
        let mut restitch: HashSet<String> = HashSet::new();
        let index: HashMap<String, usize> = emitted
            .iter()
            .enumerate()
            .map(|(i, e)| (e.entity_ref.clone(), i))
            .collect();

        // Conflicts: a ref owned by another (live) origin stays with its first owner.
        let mut skipped: HashSet<usize> = HashSet::new();
        for (i, e) in emitted.iter().enumerate() {
            if let Some(row) = self.row(&e.entity_ref) {
                if row.origin != origin && !row.orphan {
                    skipped.insert(i);
                }
            }
        }
        for &i in &skipped {
            let e = &emitted[i];
            let existing = self.str(self.row(&e.entity_ref).expect("skipped").location_key);
            let msg = format!(
                "Detected conflicting entityRef {} already referenced by {} and now also {}",
                e.entity_ref, existing, e.location_key
            );
            let report = Report {
                file: e.location_key.clone(),
                line: 1,
                entity_ref: Some(e.entity_ref.clone()),
                field: None,
                error_name: "ConflictError".into(),
                message: msg,
            };
            if let Some(&p) = e.parent.as_ref().and_then(|p| index.get(p)) {
                emitted[p].errors.push(report);
            }
        }

        // Entities that failed: keep the last good version with the errors, or, if there is
        // none, show the errors on the Location that read them.
        let mut retained: HashSet<Name> = HashSet::new();
        for f in &result.failed {
            let errors = items(&f.reports, &[]);
            let key = self.name(&f.entity_ref);
            match key.and_then(|k| self.rows.get_mut(&k).map(|row| (k, row))) {
                Some((k, row)) if row.origin == origin || row.orphan => {
                    retained.insert(k);
                    if row.errors != errors || row.orphan {
                        row.errors = errors;
                        row.orphan = false;
                        touched.insert(f.entity_ref.clone());
                    }
                }
                _ => {
                    if let Some(&p) = index.get(&f.parent) {
                        emitted[p].errors.extend(f.reports.iter().cloned());
                    }
                }
            }
        }

        let mut emitted_refs: HashSet<Name> = HashSet::new();
        let mut fresh: HashMap<String, String> = HashMap::new();
        for (i, e) in emitted.into_iter().enumerate() {
            if skipped.contains(&i) {
                continue;
            }
            emitted_refs.insert(self.names.intern(&e.entity_ref));
            if let Some(changed_ref) = self.upsert(origin, e, &mut restitch, &mut fresh) {
                touched.insert(changed_ref);
            }
        }

        // What this origin emitted before and no longer does: kept when its file failed or
        // was not read (unchanged), otherwise orphaned. Kept rows are told by their file, not
        // listed: with unchanged files that is nearly every row of a large root.
        let kept_keys: HashSet<Name> = result
            .kept_location_keys
            .iter()
            .filter_map(|k| self.name(k))
            .collect();
        // A row of this origin that it did not emit, from a file it kept (unchanged or failed).
        let kept_by_file = |k: &Name, r: &Row| {
            r.origin == origin
                && !emitted_refs.contains(k)
                && (result.keep_all || kept_keys.contains(&r.location_key))
        };
        let previous: Vec<Name> = self
            .rows
            .iter()
            .filter(|(k, r)| {
                r.origin == origin
                    && !emitted_refs.contains(*k)
                    && !retained.contains(*k)
                    && !kept_by_file(k, r)
            })
            .map(|(k, _)| *k)
            .collect();
        // Those under a kept Location are kept too.
        let kept_parent = |p: &Name, retained: &HashSet<Name>| {
            retained.contains(p) || self.rows.get(p).is_some_and(|r| kept_by_file(p, r))
        };
        loop {
            let more: Vec<Name> = previous
                .iter()
                .filter(|r| !retained.contains(*r))
                .filter(|r| {
                    self.rows[*r]
                        .parent
                        .is_some_and(|p| kept_parent(&p, &retained))
                })
                .copied()
                .collect();
            if more.is_empty() {
                break;
            }
            retained.extend(more);
        }
        let mut deletes = Vec::new();
        for r in previous.into_iter().filter(|r| !retained.contains(r)) {
            let name = self.str(r).to_string();
            match strategy {
                OrphanStrategy::Delete => {
                    self.delete_row(r, &mut restitch);
                    deletes.push(name);
                }
                OrphanStrategy::Keep => {
                    let row = self.rows.get_mut(&r).expect("listed");
                    if !row.orphan {
                        row.orphan = true;
                        row.parent = None;
                        touched.insert(name);
                    }
                }
            }
        }
        restitch.extend(touched.iter().cloned());
        let mut changes = self.stitch_all(restitch, &touched, deletes, seq);
        changes.raw = fresh;
        self.sweep_names();
        changes
    }

    /// Inserts or updates one emitted entity; returns its ref when the stored row changed.
    fn upsert(
        &mut self,
        origin: Name,
        e: Emitted,
        restitch: &mut HashSet<String>,
        fresh: &mut HashMap<String, String>,
    ) -> Option<String> {
        let raw_hash: [u8; 20] = Sha1::digest(e.raw.as_bytes()).into();
        let errors = items(&e.errors, &e.warnings);
        let key = self.names.intern(&e.entity_ref);
        let relations = self.rels(&e.relations);
        let location_key = self.names.intern(&e.location_key);
        let parent = e.parent.as_deref().map(|p| self.names.intern(p));
        if let Some(row) = self.rows.get(&key) {
            if row.raw_hash == raw_hash
                && row.relations == relations
                && row.errors == errors
                && row.parent == parent
                && row.location_key == location_key
                && row.origin == origin
                && !row.orphan
            {
                return None;
            }
        }
        let old = self.rows.remove(&key);
        if let Some(o) = &old {
            self.count_origin(o.origin, false);
        }
        self.count_origin(origin, true);
        let uid = match &old {
            Some(o) => {
                self.remove_relations(&o.relations);
                restitch.extend(o.relations.iter().map(|r| self.str(r.source).to_string()));
                o.uid.clone()
            }
            None => {
                // Entities that point at this one lose their dangling-reference warning.
                restitch.extend(self.pointing_at(key));
                uuid::Uuid::new_v4().to_string().into_boxed_str()
            }
        };
        self.add_relations(&relations);
        restitch.extend(relations.iter().map(|r| self.str(r.source).to_string()));
        self.rows.insert(
            key,
            Row {
                uid,
                origin,
                location_key,
                parent,
                raw_hash,
                relations,
                errors,
                orphan: false,
                etag: old.map(|o| o.etag).unwrap_or_default(),
            },
        );
        fresh.insert(e.entity_ref.clone(), e.raw);
        Some(e.entity_ref)
    }

    fn delete_row(&mut self, entity_ref: Name, restitch: &mut HashSet<String>) {
        if let Some(old) = self.rows.remove(&entity_ref) {
            self.count_origin(old.origin, false);
            restitch.extend(self.pointing_at(entity_ref));
            self.remove_relations(&old.relations);
            restitch.extend(old.relations.iter().map(|r| self.str(r.source).to_string()));
        }
    }

    /// Removes every entity of an origin (a deleted location): no orphans, gone at once.
    pub fn remove_origin(&mut self, origin: &str, seq: i64) -> ChangeSet {
        let refs: Vec<String> = self
            .with_origin(origin)
            .into_iter()
            .map(|k| self.str(k).to_string())
            .collect();
        self.remove_refs(refs, seq)
    }

    /// Removes entities by ref (e.g. `DELETE /entities/by-uid`); they return if re-emitted.
    pub fn remove_refs(&mut self, refs: Vec<String>, seq: i64) -> ChangeSet {
        let mut restitch = HashSet::new();
        for r in &refs {
            if let Some(k) = self.name(r) {
                self.delete_row(k, &mut restitch);
            }
        }
        let changes = self.stitch_all(restitch, &HashSet::new(), refs, seq);
        self.sweep_names();
        changes
    }

    fn stitch_all(
        &mut self,
        restitch: HashSet<String>,
        touched: &HashSet<String>,
        deletes: Vec<String>,
        seq: i64,
    ) -> ChangeSet {
        let mut refs: Vec<String> = restitch.into_iter().filter(|r| self.contains(r)).collect();
        refs.sort();
        ChangeSet {
            restitch: refs,
            raw: HashMap::new(),
            touched: touched.clone(),
            deletes,
            seq,
        }
    }

    /// The rows to write for a change set: every restitched entity whose served form changed
    /// (or whose stored state did).
    pub fn stitched_rows<'a>(
        &'a mut self,
        changes: &'a ChangeSet,
    ) -> impl Iterator<Item = EntityRow> + 'a {
        changes.restitch.iter().filter_map(move |r| {
            let raw = changes.raw.get(r)?;
            let key = self.name(r).filter(|k| self.rows.contains_key(k))?;
            let Stitched {
                json: final_json,
                etag,
                spliced,
            } = self.stitch(key, raw);
            let row = &self.rows[&key];
            if *row.etag == etag && !changes.touched.contains(r) {
                return None;
            }
            let relations: Vec<Relation> = row.relations.iter().map(|x| self.relation(x)).collect();
            let out = EntityRow {
                entity_ref: r.clone(),
                uid: row.uid.to_string(),
                origin: self.str(row.origin).to_string(),
                location_key: self.str(row.location_key).to_string(),
                parent_ref: row.parent.map(|p| self.str(p).to_string()),
                // Empty when the raw entity is the served one with the stitched members taken
                // out: a million entities stored twice was half of the first ingest's writing.
                raw_json: if spliced { String::new() } else { raw.clone() },
                relations_json: serde_json::to_string(&relations).expect("json"),
                errors_json: serde_json::to_string(&row.errors).expect("json"),
                orphan: row.orphan,
                final_json,
                etag: etag.clone(),
                seq: changes.seq,
            };
            self.rows.get_mut(&key).expect("checked").etag = etag.into_boxed_str();
            Some(out)
        })
    }

    /// Builds the served entity and its etag; `spliced` when the raw entity can be recovered
    /// from the served one ([`splice::processed`]), so storage need not keep both.
    fn stitch(&self, key: Name, raw: &str) -> Stitched {
        let row = &self.rows[&key];
        let mut relations: Vec<Target<'_>> = self
            .relations
            .get(&key)
            .into_iter()
            .flat_map(|m| {
                m.keys().map(|(t, target)| Target {
                    rel_type: self.str(*t),
                    target_ref: self.str(*target),
                })
            })
            .collect();
        relations.sort_unstable();
        let status = self.status_items(key, row);
        let plan = if row.orphan { None } else { splice::plan(raw) };
        let spliced = plan.is_some();
        let (json, etag) = match plan {
            Some(plan) => stitch_spliced(&plan, raw, &relations, &status, &row.uid),
            None => stitch_tree(raw, row.orphan, &relations, &status, &row.uid),
        };
        Stitched {
            json,
            etag,
            spliced,
        }
    }

    /// `status.items`: the entity's errors and warnings, then a warning for each ref to an
    /// entity that is not in the catalog.
    fn status_items(&self, key: Name, row: &Row) -> Vec<Value> {
        let mut status: Vec<Value> = row
            .errors
            .iter()
            .map(|i| {
                json!({
                    "type": "backstage.io/catalog-processing",
                    "level": i.level,
                    "message": format!("{}: {}", i.error.name, i.error.message),
                    "error": i.error,
                })
            })
            .collect();
        let mut dangling: Vec<(&str, &str)> = row
            .relations
            .iter()
            .filter(|r| {
                r.source == key
                    && !self.str(r.field).is_empty()
                    && !self.rows.contains_key(&r.target)
            })
            .map(|r| (self.str(r.field), self.str(r.target)))
            .collect();
        dangling.sort();
        dangling.dedup();
        for (field, target) in dangling {
            let message = format!("{field} refers to {target}, which is not in the catalog");
            status.push(json!({
                "type": "backstage.io/catalog-processing",
                "level": "warning",
                "message": format!("DanglingReference: {message}"),
                "error": {"name": "DanglingReference", "message": message},
            }));
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splicing writes the very bytes (and so the etag) the tree gives, and storage can
    /// recover the processed entity from them.
    #[test]
    fn spliced_and_tree_stitching_agree() {
        let raws = [
            json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "a", "namespace": "default", "annotations": {"x/y": "z"}}, "spec": {"type": "service", "owner": "g", "relations": [1], "status": {"k": 2.5}}}),
            json!({"kind": "API", "metadata": {"name": "é \"quoted\" \\ </script> \u{1F600}", "tags": ["a", "b"], "links": [{"url": "u", "title": "t"}]}, "spec": {"definition": "openapi: 3.0.0\npaths: {}\n", "n": -1e300, "m": 0.1, "big": 18446744073709551615u64, "nothing": null}}),
            json!({"metadata": {}, "kind": "Group"}),
        ];
        let relations = [
            Target {
                rel_type: "ownedBy",
                target_ref: "group:default/g",
            },
            Target {
                rel_type: "partOf",
                target_ref: "system:default/\"s\"",
            },
        ];
        let status = [
            json!({"type": "backstage.io/catalog-processing", "level": "warning", "message": "m", "error": {"name": "N", "message": "m"}}),
        ];
        for raw in raws {
            let raw = raw.to_string();
            for (relations, status) in [(&relations[..], &status[..]), (&[][..], &[][..])] {
                let plan = splice::plan(&raw).expect("compact and free of the added members");
                let spliced = stitch_spliced(&plan, &raw, relations, status, "8f1c-uid");
                let tree = stitch_tree(&raw, false, relations, status, "8f1c-uid");
                assert_eq!(spliced, tree);
                assert_eq!(splice::processed(String::new(), &spliced.0), raw);
            }
        }
    }
}
