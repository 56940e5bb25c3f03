//! Stitching by splicing strings: the served entity is the processed entity's JSON with
//! `metadata.uid`, `metadata.etag`, `relations` and `status` added. Parsing each entity into a
//! tree to add them and writing it out again took 23 s of a million-entity ingest; the
//! processed JSON is already compact serde_json output, so the members can be written in
//! place. The splice is reversible, which lets storage keep one copy of the entity instead of
//! the processed and the served forms side by side ([`processed`]).

use std::ops::Range;

use sha1::{Digest, Sha1};

/// One member of a JSON object: its key as written and where it lies.
#[derive(Debug, Clone)]
struct Member<'a> {
    key: &'a str,
    /// From the key's opening quote to the end of the value.
    whole: Range<usize>,
    value: Range<usize>,
}

/// The members of `json` when it is one compact JSON object (no whitespace outside strings,
/// as serde_json writes it); `None` for anything else, and the caller takes the slow path.
fn members(json: &str) -> Option<Vec<Member<'_>>> {
    let b = json.as_bytes();
    if b.len() < 2 || b[0] != b'{' || b[b.len() - 1] != b'}' {
        return None;
    }
    let mut out = Vec::new();
    if b.len() == 2 {
        return Some(out);
    }
    let mut i = 1;
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i)?;
        if b.get(key_end) != Some(&b':') {
            return None;
        }
        let value_end = value_end(b, key_end + 1)?;
        out.push(Member {
            key: &json[i + 1..key_end - 1],
            whole: i..value_end,
            value: key_end + 1..value_end,
        });
        match b.get(value_end) {
            Some(b',') => i = value_end + 1,
            Some(b'}') if value_end == b.len() - 1 => return Some(out),
            _ => return None,
        }
    }
}

/// The index after the string starting at `start` (an opening quote).
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The index after the value starting at `start`.
fn value_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = string_end(b, i)?;
                if depth == 0 {
                    return Some(i);
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    return (i > start).then_some(i);
                }
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b',' if depth == 0 => return (i > start).then_some(i),
            b' ' | b'\n' | b'\r' | b'\t' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Where the stitched members go in a processed entity.
pub(super) struct Plan {
    /// Before `metadata`'s closing brace.
    metadata_end: usize,
    metadata_empty: bool,
}

/// The splice plan for `raw`, or `None` when the members to add are there already (they
/// would be replaced in place, which only the slow path does) or `raw` is not compact.
pub(super) fn plan(raw: &str) -> Option<Plan> {
    let top = members(raw)?;
    if top.is_empty()
        || top
            .iter()
            .any(|m| m.key == "relations" || m.key == "status")
    {
        return None;
    }
    let metadata = top.iter().find(|m| m.key == "metadata")?;
    let inner = members(&raw[metadata.value.clone()])?;
    if inner.iter().any(|m| m.key == "uid" || m.key == "etag") {
        return None;
    }
    Some(Plan {
        metadata_end: metadata.value.end - 1,
        metadata_empty: inner.is_empty(),
    })
}

/// The entity hashed for the etag: `raw` with `tail` (`,"relations":[…]` and perhaps
/// `,"status":{…}`) before its closing brace.
pub(super) fn with_tail(raw: &str, tail: &str) -> String {
    let mut out = String::with_capacity(raw.len() + tail.len());
    out.push_str(&raw[..raw.len() - 1]);
    out.push_str(tail);
    out.push('}');
    out
}

/// The served entity: `with_tail`'s output with `metadata.uid` and `metadata.etag` added.
pub(super) fn served(plan: &Plan, hashed: &str, uid: &str, etag: &str) -> String {
    let uid = serde_json::to_string(uid).expect("json");
    let mut out = String::with_capacity(hashed.len() + uid.len() + etag.len() + 20);
    out.push_str(&hashed[..plan.metadata_end]);
    if !plan.metadata_empty {
        out.push(',');
    }
    out.push_str("\"uid\":");
    out.push_str(&uid);
    out.push_str(",\"etag\":\"");
    out.push_str(etag);
    out.push('"');
    out.push_str(&hashed[plan.metadata_end..]);
    out
}

/// The processed entity a served one was spliced from, as the three pieces of `served` it is
/// made of: the served JSON without the last two members of `metadata` (`uid`, `etag`) and the
/// last top-level ones from `relations` on. `None` when `served` does not end that way.
fn unstitched_parts(served: &str) -> Option<[&str; 3]> {
    let top = members(served)?;
    let relations = top.iter().rposition(|m| m.key == "relations")?;
    let after: Vec<&str> = top[relations + 1..].iter().map(|m| m.key).collect();
    if !(after.is_empty() || after == ["status"]) {
        return None;
    }
    let metadata = top.iter().find(|m| m.key == "metadata")?;
    let inner = members(&served[metadata.value.clone()])?;
    let n = inner.len();
    if n < 2 || inner[n - 2].key != "uid" || inner[n - 1].key != "etag" {
        return None;
    }
    let offset = metadata.value.start;
    let cut = |start: usize| {
        if served.as_bytes()[start - 1] == b',' {
            start - 1
        } else {
            start
        }
    };
    let uid_from = cut(offset + inner[n - 2].whole.start);
    let etag_to = offset + inner[n - 1].whole.end;
    let relations_from = cut(top[relations].whole.start);
    Some([&served[..uid_from], &served[etag_to..relations_from], "}"])
}

/// A stored entity's processed JSON: `raw_json` as stored, or, when that is empty, recovered
/// from the served JSON.
pub fn processed(raw_json: String, final_json: &str) -> String {
    if !raw_json.is_empty() {
        return raw_json;
    }
    processed_parts("", final_json).concat()
}

/// SHA-1 of [`processed`], without building it (a restart hashes every entity).
pub fn processed_digest(raw_json: &str, final_json: &str) -> [u8; 20] {
    let mut hash = Sha1::new();
    for part in processed_parts(raw_json, final_json) {
        hash.update(part);
    }
    hash.finalize().into()
}

/// [`processed`] as pieces of the stored strings.
fn processed_parts<'a>(raw_json: &'a str, final_json: &'a str) -> [&'a str; 3] {
    if !raw_json.is_empty() {
        return [raw_json, "", ""];
    }
    unstitched_parts(final_json).unwrap_or_else(|| {
        // Only a damaged row gets here. The served JSON is a fair stand-in: the slow path of
        // stitching replaces the members it holds.
        tracing::error!(
            "a stored entity's processed JSON could not be recovered; using the served JSON"
        );
        [final_json, "", ""]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_of_compact_objects_and_nothing_else() {
        let json = r#"{"a":1,"b":"x\"},{","c":{"d":[1,{"e":null}]},"f":true,"g":[]}"#;
        let m = members(json).unwrap();
        let keys: Vec<&str> = m.iter().map(|m| m.key).collect();
        assert_eq!(keys, ["a", "b", "c", "f", "g"]);
        assert_eq!(&json[m[1].value.clone()], r#""x\"},{""#);
        assert_eq!(&json[m[2].value.clone()], r#"{"d":[1,{"e":null}]}"#);
        assert_eq!(&json[m[2].whole.clone()], r#""c":{"d":[1,{"e":null}]}"#);
        assert!(members("{}").unwrap().is_empty());
        for bad in [
            "",
            "[]",
            "{\"a\": 1}",
            "{\"a\":1,}",
            "{\"a\":}",
            "{\"a\"}",
            "{\"a\":1",
            "{\"a\":\"1}",
        ] {
            assert!(members(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn unstitched_gives_back_the_spliced_entity() {
        for raw in [
            r#"{"apiVersion":"v1","kind":"Component","metadata":{"name":"a","tags":["x"]},"spec":{"relations":"kept","status":1}}"#,
            r#"{"metadata":{},"kind":"K"}"#,
            r#"{"kind":"K","metadata":{"name":"é \"q\" \\","annotations":{"a/b":"}{,"}}}"#,
        ] {
            let plan = plan(raw).unwrap();
            for tail in [
                r#","relations":[]"#,
                r#","relations":[{"type":"t","targetRef":"r"}],"status":{"items":[{"m":"x"}]}"#,
            ] {
                let hashed = with_tail(raw, tail);
                let served = served(&plan, &hashed, "u-1", "e1");
                let v: serde_json::Value = serde_json::from_str(&served).unwrap();
                assert_eq!(v["metadata"]["uid"], "u-1");
                assert_eq!(v["metadata"]["etag"], "e1");
                assert_eq!(processed(String::new(), &served), raw, "{served}");
                let digest: [u8; 20] = Sha1::digest(raw).into();
                assert_eq!(processed_digest("", &served), digest);
            }
        }
        for taken in [
            r#"{"kind":"K","metadata":{"name":"a","uid":"x"}}"#,
            r#"{"kind":"K","metadata":{"name":"a"},"relations":[]}"#,
            r#"{"kind":"K","metadata":{"name":"a"},"status":{}}"#,
            r#"{"kind":"K"}"#,
            "{\"kind\": \"K\", \"metadata\": {}}",
        ] {
            assert!(plan(taken).is_none(), "{taken}");
        }
    }
}
