//! `fields=` projections written from an entity's stored JSON without parsing all of it: the
//! JSON is scanned, values nobody asked for are skipped byte by byte, and an object is left as
//! soon as every field looking into it has its key. Only the selected values are parsed.
//!
//! The selection is [`super::query::project`]'s: at each level a field's remaining segments are
//! joined greedily into the shortest key present, so annotation keys holding dots can be named.

use serde_json::{Map, Value};

/// A `fields=` list read once per request, then applied to each entity.
pub struct Projection<'f> {
    fields: &'f [String],
    parts: Vec<Vec<&'f str>>,
    wanted: Vec<Wanted>,
}

impl<'f> Projection<'f> {
    pub fn new(fields: &'f [String]) -> Projection<'f> {
        let parts: Vec<Vec<&str>> = fields.iter().map(|f| f.split('.').collect()).collect();
        let wanted = (0..parts.len()).map(|f| (f, 0)).collect();
        Projection {
            fields,
            parts,
            wanted,
        }
    }

    /// Appends the projection of `json` (a serialised object) to `out`, as `project` does on
    /// the parsed value. Falls back to parsing everything if the JSON is not as Cairn writes it.
    pub fn write(&self, json: &str, out: &mut String) {
        let mut found: Vec<Option<(Vec<String>, &str)>> = vec![None; self.parts.len()];
        let start = skip_ws(json.as_bytes(), 0);
        if select(
            json,
            start,
            &self.parts,
            &self.wanted,
            &mut Vec::new(),
            &mut found,
        )
        .is_none()
        {
            let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
            out.push_str(&super::query::project(&v, self.fields).to_string());
            return;
        }
        let found: Vec<(Vec<String>, &str)> = found.into_iter().flatten().collect();
        if let [(path, raw)] = found.as_slice() {
            // One scalar (the usual `fields=metadata.name`): nested as it is, nothing parsed.
            // An object or array goes through a value, which also compacts its layout.
            if !raw.starts_with(['{', '[']) {
                for key in path {
                    out.push('{');
                    out.push_str(&serde_json::to_string(key).expect("a string"));
                    out.push(':');
                }
                out.push_str(raw);
                out.extend(std::iter::repeat_n('}', path.len()));
                return;
            }
        }
        let mut value = Value::Object(Map::new());
        for (path, raw) in found {
            let v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
            super::query::insert_path(&mut value, &path, v);
        }
        out.push_str(&value.to_string());
    }
}

/// A field being looked for: its index, and the segment it is at.
type Wanted = (usize, usize);

/// Scans the object at `pos` for the fields in `wanted` (field index, next segment); records
/// each field's key path and raw value in `found`. `None` if the JSON is malformed.
fn select<'a>(
    json: &'a str,
    pos: usize,
    parts: &[Vec<&str>],
    wanted: &[Wanted],
    path: &mut Vec<String>,
    found: &mut [Option<(Vec<String>, &'a str)>],
) -> Option<()> {
    let b = json.as_bytes();
    if b.get(pos) != Some(&b'{') {
        return Some(()); // Not an object: the fields looking into it select nothing.
    }
    // Per wanted field: the shortest matching key so far (its last segment index), its key
    // and where its value is.
    let mut best: Vec<Option<(usize, String, usize, usize)>> = vec![None; wanted.len()];
    let mut i = skip_ws(b, pos + 1);
    if b.get(i) == Some(&b'}') {
        return Some(());
    }
    loop {
        let (key, after_key) = read_key(json, i)?;
        i = skip_ws(b, after_key);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let value_start = skip_ws(b, i + 1);
        let value_end = skip_value(b, value_start)?;
        for (w, &(f, at)) in wanted.iter().enumerate() {
            let segments = &parts[f][at..];
            if let Some(j) = matching_prefix(&key, segments) {
                if best[w].as_ref().is_none_or(|(bj, ..)| j < *bj) {
                    best[w] = Some((j, key.to_string(), value_start, value_end));
                }
            }
        }
        // The shortest key (one segment) cannot be beaten: once every field has it, stop.
        if best.iter().all(|b| matches!(b, Some((0, ..)))) {
            break;
        }
        i = skip_ws(b, value_end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => break,
            _ => return None,
        }
    }
    // Fields that end here take their value; the others look further into theirs, together
    // when they chose the same key.
    // (key, where its value starts, the fields that continue into it)
    let mut deeper: Vec<(String, usize, Vec<Wanted>)> = Vec::new();
    for (w, chosen) in best.into_iter().enumerate() {
        let Some((j, key, start, end)) = chosen else {
            continue;
        };
        let (f, at) = wanted[w];
        if at + j + 1 == parts[f].len() {
            let mut full = path.clone();
            full.push(key);
            found[f] = Some((full, &json[start..end]));
        } else {
            match deeper.iter_mut().find(|(k, ..)| *k == key) {
                Some((_, _, ws)) => ws.push((f, at + j + 1)),
                None => deeper.push((key, start, vec![(f, at + j + 1)])),
            }
        }
    }
    for (key, start, ws) in deeper {
        path.push(key);
        select(json, start, parts, &ws, path, found)?;
        path.pop();
    }
    Some(())
}

/// How many further segments (0 = just the first) `key` joins, if it is a dotted prefix of them.
fn matching_prefix(key: &str, segments: &[&str]) -> Option<usize> {
    let mut rest = key;
    for (j, s) in segments.iter().enumerate() {
        rest = rest.strip_prefix(s)?;
        if rest.is_empty() {
            return Some(j);
        }
        rest = rest.strip_prefix('.')?;
    }
    None
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// The key string at `i` (unescaped) and the position after its closing quote.
fn read_key(json: &str, i: usize) -> Option<(std::borrow::Cow<'_, str>, usize)> {
    let end = skip_string(json.as_bytes(), i)?;
    let raw = &json[i + 1..end - 1];
    if raw.contains('\\') {
        let s: String = serde_json::from_str(&json[i..end]).ok()?;
        Some((s.into(), end))
    } else {
        Some((raw.into(), end))
    }
}

/// The position after the string starting at `i`.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
}

/// The position after the value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while !matches!(
                b.get(j),
                None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            ) {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn written(json: &str, fields: &[String]) -> String {
        let mut out = String::new();
        Projection::new(fields).write(json, &mut out);
        out
    }

    fn same(entity: &Value, fields: &[&str]) {
        let fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        for text in [
            entity.to_string(),
            serde_json::to_string_pretty(entity).unwrap(),
        ] {
            assert_eq!(
                written(&text, &fields),
                super::super::query::project(entity, &fields).to_string(),
                "{fields:?} of {text}"
            );
        }
    }

    #[test]
    fn projections_from_the_text_match_projections_of_the_value() {
        let entity = json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": "svc",
                "namespace": "default",
                "description": "Quotes \" and \\ and braces { [ in text",
                "annotations": {"backstage.io/view-url": "https://x/y", "a.b": "dotted", "a": {"b": "nested"}},
                "tags": ["java", "tier-1"],
                "links": [{"url": "https://runbook", "title": "Runbook"}],
                "weird\"key": 1,
                "esc\\u0041": true
            },
            "spec": {"type": "service", "owner": "team-a", "count": -1.5e3, "on": false, "none": null,
                     "deep": {"er": {"est": [1, {"x": "}"}]}}},
            "relations": [{"type": "ownedBy", "targetRef": "group:default/team-a"}]
        });
        for fields in [
            vec!["metadata.name"],
            vec!["kind", "metadata.name", "metadata.namespace"],
            vec!["metadata"],
            vec!["metadata", "metadata.name"],
            vec!["metadata.name", "metadata"],
            vec!["metadata.annotations.backstage.io/view-url"],
            vec!["metadata.annotations.a.b"],
            vec!["metadata.annotations.a"],
            vec!["metadata.tags", "spec.count", "spec.on", "spec.none"],
            vec!["spec.deep.er.est", "relations"],
            vec![
                "metadata.description",
                "metadata.weird\"key",
                "metadata.escA",
            ],
            vec![
                "missing",
                "metadata.missing",
                "metadata.name.deeper",
                "spec.type.x",
            ],
            vec!["metadata.tags.0", "relations.type"],
            vec![],
        ] {
            same(&entity, &fields);
        }
        same(&json!({}), &["metadata.name"]);
    }

    #[test]
    fn malformed_text_falls_back_to_parsing() {
        assert_eq!(written("not json", &["a".to_string()]), "{}");
        assert_eq!(written("{\"a\":", &["a".to_string()]), "{}");
    }
}
