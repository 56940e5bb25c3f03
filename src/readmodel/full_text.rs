//! Backstage search over the read model: the documents the search backend's catalog collator
//! would index, matched and ranked in memory, so `/api/search/query` needs no search engine.
//!
//! A document matches when every word of the term is found in its name, title, description,
//! tags or profile; an exact name match ranks first, then a name that starts with the term, then
//! matches in the name or title, then matches elsewhere.

use serde_json::{json, Value};

use super::filter::Predicate;
use super::{Doc, Snapshot};

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub term: String,
    /// Empty: every type.
    pub types: Vec<String>,
    /// Document field → accepted values (any, case-insensitive).
    pub filters: Vec<(String, Vec<String>)>,
    pub page: usize,
    pub limit: usize,
}

#[derive(Debug)]
pub struct SearchPage {
    pub results: Vec<Value>,
    pub total: usize,
    pub has_next: bool,
}

/// Which fields a word is looked for in, and what a match there is worth.
const FIELDS: &[(&str, u32)] = &[
    ("metadata.name", 20),
    ("metadata.title", 15),
    ("metadata.tags", 8),
    ("metadata.description", 5),
    ("spec.profile.displayname", 5),
    ("spec.profile.email", 3),
];

struct Scored {
    doc: u32,
    score: u32,
    /// Lowercase title or name, to order equal scores.
    title: String,
}

/// `visible`, when given, is what the caller may read.
pub fn search(snap: &Snapshot, q: &SearchQuery, visible: Option<&Predicate>) -> SearchPage {
    let visible = visible.map(|v| v.eval(snap));
    let words: Vec<String> = q.term.split_whitespace().map(str::to_lowercase).collect();
    let whole = q.term.trim().to_lowercase();
    let fields: Vec<(u32, u32)> = FIELDS
        .iter()
        .filter_map(|(k, w)| snap.keys.get(k).map(|id| (id, *w)))
        .collect();
    let mut scored = Vec::new();
    for (i, doc) in snap.docs.iter().enumerate() {
        if visible.as_ref().is_some_and(|v| !v.contains(i as u32)) {
            continue;
        }
        let kind_type = search_type(doc);
        // Types: Backstage's catalog collator (`software-catalog`, every entity) and Cairn's
        // `templates` and `scorecards`; an unknown type has no documents.
        if !q.types.is_empty() && !q.types.iter().any(|t| type_matches(t, kind_type)) {
            continue;
        }
        if !passes(snap, doc, &q.filters) {
            continue;
        }
        let Some(score) = score(doc, &fields, &words, &whole) else {
            continue;
        };
        let title = doc
            .title
            .as_deref()
            .map(str::to_lowercase)
            .unwrap_or_else(|| name_of(doc).to_lowercase());
        scored.push(Scored {
            doc: i as u32,
            score,
            title,
        });
    }
    scored.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.title.cmp(&b.title)));
    let start = q.page * q.limit;
    let results = scored
        .iter()
        .skip(start)
        .take(q.limit)
        .enumerate()
        .filter_map(|(n, s)| {
            let doc = &snap.docs[s.doc as usize];
            let entity = serde_json::from_str::<Value>(&doc.json).ok()?;
            let narrow = search_type(doc);
            let ty = q
                .types
                .iter()
                .find(|t| type_matches(t, narrow))
                .map_or(narrow, String::as_str);
            Some(json!({
                "type": ty,
                "document": document(&entity, ty),
                "rank": start + n + 1,
            }))
        })
        .collect();
    SearchPage {
        results,
        total: scored.len(),
        has_next: scored.len() > start + q.limit,
    }
}

/// The entity field a document field comes from, for filters (Backstage filters on documents).
fn filter_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "kind" => "kind",
        "lifecycle" => "spec.lifecycle",
        "owner" => "spec.owner",
        "type" | "componentType" => "spec.type",
        "namespace" => "metadata.namespace",
        "name" => "metadata.name",
        "title" => "metadata.title",
        _ => return None,
    })
}

/// Whether the document of `doc` passes every filter.
fn passes(snap: &Snapshot, doc: &Doc, filters: &[(String, Vec<String>)]) -> bool {
    filters.iter().all(|(field, wanted)| {
        let Some(key) = filter_key(field).and_then(|k| snap.keys.get(k)) else {
            return false;
        };
        let value = doc.rows().find(|(k, _)| *k == key).and_then(|(_, v)| v);
        let value = match (value, field.as_str()) {
            (Some(v), _) => v,
            (None, "type" | "componentType") => "other",
            (None, _) => return false,
        };
        wanted.iter().any(|w| w.eq_ignore_ascii_case(value))
    })
}

/// The narrowest type a document belongs to (it is found under `software-catalog` too).
fn search_type(doc: &Doc) -> &'static str {
    match &*doc.kind {
        "Template" => "templates",
        "Scorecard" => "scorecards",
        _ => "software-catalog",
    }
}

fn type_matches(asked: &str, narrow: &str) -> bool {
    asked == narrow || asked == "software-catalog"
}

fn name_of(doc: &Doc) -> &str {
    doc.entity_ref.rsplit('/').next().unwrap_or_default()
}

/// The document's score for the words, or `None` if a word is found nowhere. No words: every
/// document, unscored.
fn score(doc: &Doc, fields: &[(u32, u32)], words: &[String], whole: &str) -> Option<u32> {
    if words.is_empty() {
        return Some(0);
    }
    let name = name_of(doc);
    let mut score = 0;
    if name.eq_ignore_ascii_case(whole) {
        score += 1000;
    } else if name.to_lowercase().starts_with(whole) {
        score += 200;
    }
    let values: Vec<(u32, String)> = doc
        .rows()
        .filter_map(|(k, v)| {
            let weight = fields.iter().find(|(id, _)| *id == k)?.1;
            Some((weight, v?.to_lowercase()))
        })
        .collect();
    for word in words {
        let best = values
            .iter()
            .filter(|(_, v)| v.contains(word.as_str()))
            .map(|(w, _)| *w)
            .max()?;
        score += best;
    }
    Some(score)
}

/// The search document of an entity, with the fields of Backstage's catalog collator.
fn document(entity: &Value, ty: &str) -> Value {
    let meta = &entity["metadata"];
    let spec = &entity["spec"];
    let kind = entity["kind"].as_str().unwrap_or_default();
    let namespace = meta["namespace"].as_str().unwrap_or("default");
    let name = meta["name"].as_str().unwrap_or_default();
    let mut text: Vec<&str> = meta["description"].as_str().into_iter().collect();
    if matches!(kind, "User" | "Group") {
        text.extend(spec["profile"]["displayName"].as_str());
        text.extend(spec["profile"]["email"].as_str());
    }
    let spec_type = spec["type"].as_str().unwrap_or("other");
    let location = match ty {
        "templates" => format!("/create/templates/{namespace}/{name}"),
        _ => format!("/catalog/{namespace}/{kind}/{name}"),
    }
    .to_lowercase();
    let mut doc = json!({
        "title": meta["title"].as_str().unwrap_or(name),
        "text": text.join(" : "),
        "location": location,
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "type": spec_type,
        "componentType": spec_type,
        "lifecycle": spec["lifecycle"].as_str().unwrap_or_default(),
        "owner": spec["owner"].as_str().unwrap_or_default(),
    });
    if let Some(tags) = meta["tags"].as_array() {
        doc["tags"] = json!(tags);
    }
    doc
}
