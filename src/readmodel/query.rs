//! Query evaluation over a snapshot: ordering, keyset cursors (Backstage's base64-JSON shape),
//! full-text filtering, totals, facets and `fields` projection.

use std::cmp::Ordering;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Bitset, Predicate, Snapshot};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderField {
    pub field: String,
    pub order: String,
}

impl OrderField {
    fn asc(&self) -> bool {
        self.order != "desc"
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullTextFilter {
    #[serde(default)]
    pub term: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// The decoded cursor. Field names follow Backstage's so its client can look inside.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    pub order_fields: Vec<OrderField>,
    pub is_previous: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Value>,
    #[serde(default)]
    pub full_text_filter: Option<FullTextFilter>,
    pub order_field_values: Vec<String>,
    #[serde(default)]
    pub first_sort_field_values: Option<Vec<String>>,
    pub total_items: usize,
}

impl Cursor {
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(self).expect("json"))
    }

    pub fn decode(s: &str) -> Result<Cursor, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| format!("Malformed cursor: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("Malformed cursor: {e}"))
    }
}

/// An initial (non-cursor) query.
#[derive(Debug, Clone, Default)]
pub struct QuerySpec {
    pub filter: Option<Predicate>,
    pub order: Option<OrderField>,
    pub full_text: FullTextFilter,
    pub offset: usize,
    pub include_total: bool,
}

#[derive(Debug)]
pub struct Page {
    pub items: Vec<u32>,
    pub total_items: usize,
    pub next_cursor: Option<String>,
    pub prev_cursor: Option<String>,
}

const UID: &str = "metadata.uid";

fn matching(
    snap: &Snapshot,
    filter: Option<&Predicate>,
    full_text: &FullTextFilter,
    sort_field: &str,
) -> Bitset {
    let mut set = match filter {
        Some(p) => p.eval(snap),
        None => snap.all(),
    };
    let term = full_text.term.trim().to_lowercase();
    if !term.is_empty() {
        let fields: Vec<String> = match &full_text.fields {
            Some(f) if !f.is_empty() => f.iter().map(|s| s.to_lowercase()).collect(),
            _ => vec![sort_field.to_string()],
        };
        let kids: Vec<u32> = fields.iter().filter_map(|f| snap.keys.get(f)).collect();
        let mut keep = Bitset::empty(snap.len());
        for i in set.iter() {
            let doc = &snap.docs[i as usize];
            if doc.rows().any(|(k, v)| {
                kids.contains(&k) && v.is_some_and(|v| v.to_lowercase().contains(&term))
            }) {
                keep.insert(i);
            }
        }
        set = keep;
    }
    set
}

/// Runs `GET|POST /entities/by-query`: an initial spec or a cursor, and a limit.
/// `visible`, when given, narrows every page to what the caller may read; it is not part of
/// the cursor, which the client holds.
pub fn query_page(
    snap: &Snapshot,
    spec: Option<&QuerySpec>,
    cursor: Option<&Cursor>,
    limit: usize,
    visible: Option<&Predicate>,
) -> Result<Page, String> {
    let (filter, order, full_text, offset) = match (cursor, spec) {
        (Some(c), _) => {
            let filter = c
                .query
                .as_ref()
                .map(super::filter::parse_predicate)
                .transpose()
                .map_err(|e| format!("Malformed cursor: {e}"))?;
            (
                filter,
                c.order_fields.first().cloned(),
                c.full_text_filter.clone().unwrap_or_default(),
                0,
            )
        }
        (None, Some(s)) => (
            s.filter.clone(),
            s.order.clone(),
            s.full_text.clone(),
            s.offset,
        ),
        (None, None) => (None, None, FullTextFilter::default(), 0),
    };
    let order = order.map(|o| OrderField {
        field: o.field.to_lowercase(),
        order: o.order,
    });
    let effective = order.clone().unwrap_or(OrderField {
        field: UID.into(),
        order: "asc".into(),
    });
    let asc = effective.asc();
    let mut set = matching(snap, filter.as_ref(), &full_text, &effective.field);
    if let Some(v) = visible {
        set.and(&v.eval(snap));
    }
    let ix = snap.index(&effective.field);
    let sorted = &ix.sorted;
    let n = sorted.len();
    let at = |i: usize| if asc { sorted[i] } else { sorted[n - 1 - i] };
    let key_of = |doc: u32| -> (String, String) {
        let v = snap.sort_value(doc, &effective.field).unwrap_or_default();
        (v, snap.docs[doc as usize].uid.to_string())
    };
    let dir = |a: &(String, String), b: &(String, String)| if asc { a.cmp(b) } else { b.cmp(a) };

    let total_items = match (cursor, spec) {
        (Some(c), _) => c.total_items,
        (None, Some(s)) if !s.include_total => 0,
        _ => {
            if n == snap.len() {
                set.count()
            } else {
                sorted.iter().filter(|&&i| set.contains(i)).count()
            }
        }
    };
    let cursor_key = cursor.map(|c| {
        let vals = &c.order_field_values;
        match vals.len() {
            0 => (String::new(), String::new()),
            1 => (vals[0].clone(), vals[0].clone()),
            _ => (vals[0].clone(), vals[1].clone()),
        }
    });
    // For the uid order the sort value is the uid itself.
    let first_of_all = cursor
        .and_then(|c| c.first_sort_field_values.clone())
        .map(|v| v.last().cloned().unwrap_or_default());
    // Position of the first element strictly after (or, with `strict = false`, not before) the key.
    let position = |key: &(String, String), strict: bool| -> usize {
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let ord = dir(&key_of(at(mid)), key);
            let before = if strict {
                ord != Ordering::Greater
            } else {
                ord == Ordering::Less
            };
            if before {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    };

    let mut items = Vec::new();
    let is_previous = cursor.is_some_and(|c| c.is_previous);
    let has_more_after;
    let has_more_before;
    if is_previous {
        let end = position(cursor_key.as_ref().expect("cursor"), false);
        let mut i = end;
        while i > 0 && items.len() < limit {
            i -= 1;
            if set.contains(at(i)) {
                items.push(at(i));
            }
        }
        items.reverse();
        has_more_before = (0..i).any(|j| set.contains(at(j)));
        has_more_after = true;
    } else {
        let start = match &cursor_key {
            Some(k) => position(k, true),
            None => 0,
        };
        let mut skipped = 0;
        let mut i = start;
        while i < n && items.len() < limit {
            let id = at(i);
            i += 1;
            if !set.contains(id) {
                continue;
            }
            if skipped < offset {
                skipped += 1;
                continue;
            }
            items.push(id);
        }
        has_more_after = limit > 0 && (i..n).any(|j| set.contains(at(j)));
        has_more_before = cursor.is_some();
    }
    if limit == 0 {
        return Ok(Page {
            items,
            total_items,
            next_cursor: None,
            prev_cursor: None,
        });
    }
    let first_sort_values = match &first_of_all {
        Some(_) => cursor.and_then(|c| c.first_sort_field_values.clone()),
        None => items.first().map(|&i| {
            let (v, u) = key_of(i);
            vec![v, u]
        }),
    };
    let make = |doc: u32, previous: bool| {
        let (v, u) = key_of(doc);
        Cursor {
            order_fields: order.clone().into_iter().collect(),
            is_previous: previous,
            query: filter.as_ref().map(Predicate::to_json),
            full_text_filter: Some(full_text.clone()),
            order_field_values: vec![v, u],
            first_sort_field_values: first_sort_values.clone(),
            total_items,
        }
        .encode()
    };
    let next_cursor = match items.last() {
        Some(&last) if has_more_after => Some(make(last, false)),
        _ => None,
    };
    let prev_cursor = match items.first() {
        Some(&first) if has_more_before => {
            let first_uid = &snap.docs[first as usize].uid;
            let is_first_page = first_of_all.as_deref() == Some(&**first_uid);
            (!is_first_page).then(|| make(first, true))
        }
        _ => None,
    };
    Ok(Page {
        items,
        total_items,
        next_cursor,
        prev_cursor,
    })
}

/// `GET /entities`: ids in Backstage's order for the legacy list endpoint.
pub fn list(
    snap: &Snapshot,
    filter: Option<&Predicate>,
    order: &[OrderField],
    paged: bool,
) -> Vec<u32> {
    let set = match filter {
        Some(p) => p.eval(snap),
        None => snap.all(),
    };
    match order.first() {
        None if !paged => set.iter().collect(),
        None => {
            let mut ids: Vec<u32> = set.iter().collect();
            ids.sort_by(|a, b| {
                snap.docs[*a as usize]
                    .entity_ref
                    .cmp(&snap.docs[*b as usize].entity_ref)
            });
            ids
        }
        Some(o) => {
            let ix = snap.index(&o.field.to_lowercase());
            let mut with: Vec<u32> = ix
                .sorted
                .iter()
                .copied()
                .filter(|i| set.contains(*i))
                .collect();
            if !o.asc() {
                with.reverse();
            }
            if paged {
                let mut has = Bitset::from_sorted(snap.len(), &[]);
                for &i in &with {
                    has.insert(i);
                }
                with.extend(set.iter().filter(|i| !has.contains(*i)));
            }
            with
        }
    }
}

/// Facet counts: for each requested facet (keyed as spelled), distinct case-preserved values.
pub fn facets(
    snap: &Snapshot,
    facets: &[String],
    filter: Option<&Predicate>,
) -> Map<String, Value> {
    let set = match filter {
        Some(p) => p.eval(snap),
        None => snap.all(),
    };
    let mut out = Map::new();
    for facet in facets {
        let ix = snap.facet_index(&facet.to_lowercase());
        let list: Vec<Value> = ix
            .iter()
            .filter_map(|(v, ids)| {
                let count = match filter {
                    None => ids.len(),
                    Some(_) => ids.iter().filter(|i| set.contains(**i)).count(),
                };
                (count > 0).then(|| serde_json::json!({"value": v, "count": count}))
            })
            .collect();
        out.insert(facet.clone(), Value::Array(list));
    }
    out
}

/// Keeps only the selected dotted paths; segments are joined greedily so keys containing dots
/// (annotation keys) can be selected.
pub fn project(entity: &Value, fields: &[String]) -> Value {
    let mut out = Value::Object(Map::new());
    for f in fields {
        let parts: Vec<&str> = f.split('.').collect();
        let mut src = entity;
        let mut path: Vec<String> = Vec::new();
        let mut i = 0;
        let mut ok = true;
        while i < parts.len() {
            let Some(obj) = src.as_object() else {
                ok = false;
                break;
            };
            let start = i;
            let found = (start..parts.len()).find_map(|j| {
                let key = parts[start..=j].join(".");
                obj.get(&key).map(|v| (j, key, v))
            });
            match found {
                Some((j, key, v)) => {
                    src = v;
                    path.push(key);
                    i = j + 1;
                }
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        insert_path(&mut out, &path, src.clone());
    }
    out
}

pub(super) fn insert_path(dst: &mut Value, path: &[String], v: Value) {
    let Some(obj) = dst.as_object_mut() else {
        return;
    };
    match path {
        [] => {}
        [last] => {
            obj.insert(last.clone(), v);
        }
        [first, rest @ ..] => {
            let child = obj
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            insert_path(child, rest, v);
        }
    }
}

/// Serialises documents as a JSON array (`null` for each `None`), projecting `fields` when given,
/// straight from the stored JSON when there is no projection.
pub fn write_items(
    snap: &Snapshot,
    ids: impl Iterator<Item = Option<u32>>,
    fields: Option<&[String]>,
) -> String {
    let projection = fields.map(super::projection::Projection::new);
    let mut out = String::from("[");
    for (n, id) in ids.enumerate() {
        if n > 0 {
            out.push(',');
        }
        match id {
            None => out.push_str("null"),
            Some(i) => {
                let doc = &snap.docs[i as usize];
                match &projection {
                    None => out.push_str(&doc.json),
                    Some(p) => p.write(&doc.json, &mut out),
                }
            }
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_selects_dotted_annotation_keys() {
        let e = json!({"kind":"Component","metadata":{"name":"a","annotations":{"backstage.io/orphan":"true","x":"y"}}});
        let p = project(
            &e,
            &[
                "kind".into(),
                "metadata.annotations.backstage.io/orphan".into(),
                "spec.none".into(),
            ],
        );
        assert_eq!(
            p,
            json!({"kind":"Component","metadata":{"annotations":{"backstage.io/orphan":"true"}}})
        );
    }
}
