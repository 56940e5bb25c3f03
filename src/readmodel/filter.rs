//! Filters: Backstage's legacy `filter=k=v,k2` syntax and its JSON predicate language, parsed
//! into one [`Predicate`] tree and evaluated against a snapshot's key indexes.

use serde_json::{json, Map, Value};

use super::{Bitset, Snapshot};

#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    Not(Box<Predicate>),
    /// Key (lowercase) is one of these (lowercase) values.
    In(String, Vec<String>),
    Exists(String, bool),
    HasPrefix(String, String),
}

/// Parses repeated `filter` parameters: sets are ORed, statements in a set ANDed, repeated keys
/// in a set ORed. Returns `None` when no set has a statement.
pub fn parse_filter_params(params: &[String]) -> Result<Option<Predicate>, String> {
    let mut sets = Vec::new();
    for param in params {
        let mut keys: Vec<(String, Vec<String>, bool)> = Vec::new();
        for statement in param.split(',') {
            let statement = statement.trim();
            if statement.is_empty() {
                continue;
            }
            let (key, value) = match statement.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (statement, None),
            };
            if key.is_empty() {
                return Err(format!(
                    "Invalid filter, '{statement}' is not a valid statement (expected a string on the form a=b or a= or a)"
                ));
            }
            let key = key.to_lowercase();
            let entry = match keys.iter_mut().find(|(k, _, _)| *k == key) {
                Some(e) => e,
                None => {
                    keys.push((key.clone(), vec![], false));
                    keys.last_mut().expect("pushed")
                }
            };
            match value {
                Some(v) => entry.1.push(v.to_lowercase()),
                None => entry.2 = true,
            }
        }
        if keys.is_empty() {
            continue;
        }
        let conds = keys
            .into_iter()
            .map(|(k, values, _)| {
                if values.is_empty() {
                    Predicate::Exists(k, true)
                } else {
                    Predicate::In(k, values)
                }
            })
            .collect();
        sets.push(Predicate::All(conds));
    }
    Ok(match sets.len() {
        0 => None,
        1 => sets.pop(),
        _ => Some(Predicate::Any(sets)),
    })
}

/// A filter as scorecards and permission policies write it: an object of key → value or values
/// (ANDed keys, ORed values), or a list of such objects (ORed), compared case-insensitively.
/// `None` if it is not of that shape.
pub fn filter_set(v: &Value) -> Option<Predicate> {
    let sets: Vec<&Value> = match v {
        Value::Array(list) => list.iter().collect(),
        Value::Object(_) => vec![v],
        _ => return None,
    };
    let mut any = Vec::new();
    for set in sets {
        let mut all = Vec::new();
        for (k, val) in set.as_object()? {
            let values: Vec<String> = match val {
                Value::String(s) => vec![s.to_lowercase()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_lowercase)
                    .collect(),
                _ => return None,
            };
            all.push(Predicate::In(k.to_lowercase(), values));
        }
        any.push(Predicate::All(all));
    }
    Some(Predicate::Any(any))
}

fn primitive(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses the JSON predicate language (`$all`, `$any`, `$not`, field maps with `$exists`,
/// `$in`, `$hasPrefix`, `$contains`).
pub fn parse_predicate(v: &Value) -> Result<Predicate, String> {
    let Value::Object(map) = v else {
        return Err("Invalid filter predicate: top-level primitive values are not supported, expected an object".into());
    };
    if map.len() > 1 {
        if let Some(op) = map.keys().find(|k| k.starts_with('$')) {
            return Err(format!(
                "Invalid filter predicate: {op} must be the only key of its object (wrap field conditions in $all)"
            ));
        }
    }
    let mut conds = Vec::new();
    for (key, value) in map {
        conds.push(match key.as_str() {
            "$all" | "$any" => {
                let items = value
                    .as_array()
                    .ok_or_else(|| format!("Invalid filter predicate: {key} expects an array"))?;
                let parsed = items
                    .iter()
                    .map(parse_predicate)
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "$all" {
                    Predicate::All(parsed)
                } else {
                    Predicate::Any(parsed)
                }
            }
            "$not" => Predicate::Not(Box::new(parse_predicate(value)?)),
            field => parse_field(field, value)?,
        });
    }
    Ok(if conds.len() == 1 {
        conds.pop().expect("one")
    } else {
        Predicate::All(conds)
    })
}

fn parse_field(field: &str, value: &Value) -> Result<Predicate, String> {
    let key = field.to_lowercase();
    let bad = || {
        format!(
            "Invalid filter predicate value for field \"{field}\": expected a primitive value, $exists, $in, $hasPrefix, or $contains operator"
        )
    };
    if let Some(p) = primitive(value) {
        return Ok(Predicate::In(key, vec![p]));
    }
    let Value::Object(op) = value else {
        return Err(bad());
    };
    if op.len() != 1 {
        return Err(bad());
    }
    let (name, arg) = op.iter().next().expect("one");
    match name.as_str() {
        "$exists" => Ok(Predicate::Exists(key, arg.as_bool().ok_or_else(bad)?)),
        "$in" => {
            let items = arg.as_array().ok_or_else(bad)?;
            Ok(Predicate::In(
                key,
                items
                    .iter()
                    .map(|i| primitive(i).ok_or_else(bad))
                    .collect::<Result<_, _>>()?,
            ))
        }
        "$hasPrefix" => Ok(Predicate::HasPrefix(
            key,
            arg.as_str().ok_or_else(bad)?.to_lowercase(),
        )),
        "$contains" => {
            if let Some(p) = primitive(arg) {
                return Ok(Predicate::In(key, vec![p]));
            }
            if key != "relations" {
                return Err(bad());
            }
            let rel_type = arg["type"].as_str().ok_or_else(bad)?.to_lowercase();
            let rel_key = format!("relations.{rel_type}");
            match &arg["targetRef"] {
                Value::Null => Ok(Predicate::Exists(rel_key, true)),
                Value::String(s) => Ok(Predicate::In(rel_key, vec![s.to_lowercase()])),
                Value::Object(m) => {
                    let list = m.get("$in").and_then(Value::as_array).ok_or_else(bad)?;
                    Ok(Predicate::In(
                        rel_key,
                        list.iter()
                            .map(|i| primitive(i).ok_or_else(bad))
                            .collect::<Result<_, _>>()?,
                    ))
                }
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

impl Predicate {
    /// The JSON predicate form, stored in cursors under `query`.
    pub fn to_json(&self) -> Value {
        match self {
            Predicate::All(items) => {
                json!({"$all": items.iter().map(Predicate::to_json).collect::<Vec<_>>()})
            }
            Predicate::Any(items) => {
                json!({"$any": items.iter().map(Predicate::to_json).collect::<Vec<_>>()})
            }
            Predicate::Not(p) => json!({"$not": p.to_json()}),
            Predicate::In(k, values) if values.len() == 1 => {
                let mut m = Map::new();
                m.insert(k.clone(), json!(values[0]));
                Value::Object(m)
            }
            Predicate::In(k, values) => {
                let mut m = Map::new();
                m.insert(k.clone(), json!({"$in": values}));
                Value::Object(m)
            }
            Predicate::Exists(k, b) => {
                let mut m = Map::new();
                m.insert(k.clone(), json!({"$exists": b}));
                Value::Object(m)
            }
            Predicate::HasPrefix(k, p) => {
                let mut m = Map::new();
                m.insert(k.clone(), json!({"$hasPrefix": p}));
                Value::Object(m)
            }
        }
    }

    /// Whether an entity (its JSON, not a snapshot doc) satisfies the predicate.
    pub fn matches_entity(&self, entity: &Value) -> bool {
        let mut rows: Vec<(String, Option<String>)> = Vec::new();
        super::search::search_rows(entity, &mut |k, v| rows.push((k.to_lowercase(), v)));
        self.matches_rows(&rows)
    }

    fn matches_rows(&self, rows: &[(String, Option<String>)]) -> bool {
        fn values<'a>(
            rows: &'a [(String, Option<String>)],
            k: &'a str,
        ) -> impl Iterator<Item = Option<&'a str>> + 'a {
            rows.iter()
                .filter(move |(key, _)| key == k)
                .map(|(_, v)| v.as_deref())
        }
        let values = |k| values(rows, k);
        match self {
            Predicate::All(items) => items.iter().all(|p| p.matches_rows(rows)),
            Predicate::Any(items) => items.iter().any(|p| p.matches_rows(rows)),
            Predicate::Not(p) => !p.matches_rows(rows),
            Predicate::In(k, wanted) => {
                values(k).any(|v| v.is_some_and(|v| wanted.contains(&v.to_lowercase())))
            }
            Predicate::Exists(k, want) => values(k).next().is_some() == *want,
            Predicate::HasPrefix(k, prefix) => {
                values(k).any(|v| v.is_some_and(|v| v.to_lowercase().starts_with(prefix.as_str())))
            }
        }
    }

    /// Whether one doc satisfies the predicate, without building indexes (for a few docs).
    pub fn matches_doc(&self, snap: &Snapshot, doc: u32) -> bool {
        let d = &snap.docs[doc as usize];
        let rows = |k: &str| {
            let kid = snap.keys.get(k);
            d.rows()
                .filter(move |(key, _)| Some(*key) == kid)
                .map(|(_, v)| v)
        };
        match self {
            Predicate::All(items) => items.iter().all(|p| p.matches_doc(snap, doc)),
            Predicate::Any(items) => items.iter().any(|p| p.matches_doc(snap, doc)),
            Predicate::Not(p) => !p.matches_doc(snap, doc),
            Predicate::In(k, values) => {
                rows(k).any(|v| v.is_some_and(|v| values.contains(&v.to_lowercase())))
            }
            Predicate::Exists(k, want) => rows(k).next().is_some() == *want,
            Predicate::HasPrefix(k, prefix) => {
                rows(k).any(|v| v.is_some_and(|v| v.to_lowercase().starts_with(prefix.as_str())))
            }
        }
    }

    /// The set of docs of `snap` that satisfy the predicate.
    pub fn eval(&self, snap: &Snapshot) -> Bitset {
        let n = snap.len();
        match self {
            Predicate::All(items) => {
                let mut acc = Bitset::full(n);
                for p in items {
                    acc.and(&p.eval(snap));
                }
                acc
            }
            Predicate::Any(items) => {
                let mut acc = Bitset::empty(n);
                for p in items {
                    acc.or(&p.eval(snap));
                }
                acc
            }
            Predicate::Not(p) => {
                let mut b = p.eval(snap);
                b.not();
                b
            }
            Predicate::In(k, values) => {
                let ix = snap.index(k);
                if let [value] = values.as_slice() {
                    return (*ix.set_of(value, n)).clone();
                }
                let mut acc = Bitset::empty(n);
                for v in values {
                    if let Some(ids) = ix.by_value.get(v) {
                        for &i in ids {
                            acc.insert(i);
                        }
                    }
                }
                acc
            }
            Predicate::Exists(k, want) => {
                let ix = snap.index(k);
                let mut b = Bitset::from_sorted(n, &ix.exists);
                if !want {
                    b.not();
                }
                b
            }
            Predicate::HasPrefix(k, prefix) => {
                let ix = snap.index(k);
                let mut acc = Bitset::empty(n);
                for (v, ids) in &ix.by_value {
                    if v.starts_with(prefix.as_str()) {
                        for &i in ids {
                            acc.insert(i);
                        }
                    }
                }
                acc
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_filters_and_or_and_repeat_keys() {
        let p = parse_filter_params(&[
            "kind=API,kind=component, spec.type = service".into(),
            "metadata.tags".into(),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            p,
            Predicate::Any(vec![
                Predicate::All(vec![
                    Predicate::In("kind".into(), vec!["api".into(), "component".into()]),
                    Predicate::In("spec.type".into(), vec!["service".into()]),
                ]),
                Predicate::All(vec![Predicate::Exists("metadata.tags".into(), true)]),
            ])
        );
        assert!(parse_filter_params(&["=x".into()]).is_err());
        assert_eq!(parse_filter_params(&[",".into()]).unwrap(), None);
    }

    #[test]
    fn predicates_round_trip_through_json() {
        let v = json!({"$all":[{"kind":"component"},{"$not":{"spec.type":{"$in":["a","b"]}}},
                     {"relations":{"$contains":{"type":"ownedBy","targetRef":"group:default/x"}}}]});
        let p = parse_predicate(&v).unwrap();
        assert_eq!(parse_predicate(&p.to_json()).unwrap(), p);
        assert!(parse_predicate(&json!("x")).is_err());
        assert!(parse_predicate(&json!({"a": {"$bad": 1}})).is_err());
    }
}
