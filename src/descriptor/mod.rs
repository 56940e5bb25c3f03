//! Descriptor files: multi-document YAML turned into raw entity values, each with the line it
//! starts on, so that every later error can name `file:line`. Also resolves the `$text`, `$json`
//! and `$yaml` placeholders through a [`SourceReader`], which confines reads to a location's root.

mod placeholders;

pub use placeholders::resolve_placeholders;

use serde::Deserialize;
use serde_json::Value;

/// Why a target could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// It does not exist, or cannot be read (`NotFoundError`).
    NotFound(String),
    /// It exists but is refused as it is: larger than the limit, a link (`InputError`).
    Refused(String),
}

impl ReadError {
    /// The Backstage error name a location's status reports it under.
    pub fn error_name(&self) -> &'static str {
        match self {
            ReadError::NotFound(_) => "NotFoundError",
            ReadError::Refused(_) => "InputError",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ReadError::NotFound(m) | ReadError::Refused(m) => m,
        }
    }
}

impl From<ReadError> for String {
    fn from(e: ReadError) -> String {
        match e {
            ReadError::NotFound(m) | ReadError::Refused(m) => m,
        }
    }
}

/// The refusal of a file over the descriptor size limit.
pub fn too_large(target: &str, size: u64, limit: usize) -> ReadError {
    ReadError::Refused(format!(
        "{target} is {size} bytes, larger than the limit of {limit} bytes (cairn.maxDescriptorBytes)"
    ))
}

/// One YAML document of a descriptor file.
#[derive(Debug, Clone)]
pub struct Document {
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// 1-based line of the document's last line.
    pub end_line: usize,
    pub value: Value,
}

/// A problem in a descriptor file, positioned as precisely as it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorError {
    pub line: usize,
    pub column: Option<usize>,
    pub message: String,
}

/// Where descriptor bytes come from: local files now, Git trees later. Keys are location
/// refs without the type prefix being interpreted here (`/abs/path`, `file:///…`).
pub trait SourceReader: Send + Sync {
    /// Resolves `target` (relative, absolute, or a glob) against the file `base`, returning
    /// every matching target. Refuses targets outside the reader's root.
    fn resolve(&self, base: &str, target: &str) -> Result<Vec<String>, String>;
    /// Reads one resolved target.
    fn read(&self, target: &str) -> Result<Vec<u8>, ReadError>;
    /// A cheap content fingerprint of a resolved target (a Git blob id), when the source has
    /// one; processing then re-parses a descriptor only when it or a placeholder target changed.
    fn fingerprint(&self, _target: &str) -> Option<String> {
        None
    }
    /// What the resolutions so far left out and why (a link out of the root), for a warning on
    /// the location; taken once.
    fn take_skipped(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Parses the bytes of a descriptor file into its non-empty documents.
/// The reader has already refused files over `cairn.maxDescriptorBytes`.
pub fn parse_documents(bytes: &[u8]) -> Result<Vec<Document>, DescriptorError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let upto = &bytes[..e.valid_up_to()];
        let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
        DescriptorError {
            line,
            column: None,
            message: format!(
                "descriptor is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        }
    })?;
    let starts = document_start_lines(text);
    let total_lines = text.lines().count().max(1);
    let mut docs = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(de).map_err(|e| yaml_error(&e))?;
        let line = starts.get(i).copied().unwrap_or(1);
        let end_line = starts
            .get(i + 1)
            .map(|n| n.saturating_sub(1))
            .unwrap_or(total_lines);
        if value.is_null() {
            continue;
        }
        docs.push(Document {
            line,
            end_line,
            value: yaml_to_json(value),
        });
    }
    Ok(docs)
}

fn yaml_error(e: &serde_yaml::Error) -> DescriptorError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), Some(l.column())))
        .unwrap_or((1, None));
    DescriptorError {
        line,
        column,
        message: format!("YAML error: {e}"),
    }
}

/// The first content line of each document, found from `---` markers.
fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut content_before_marker = false;
    let mut seen_marker = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("---") {
            if !seen_marker && content_before_marker {
                starts.push(1);
            }
            seen_marker = true;
            starts.push(i + 2);
        } else if !seen_marker {
            let t = line.trim();
            if !t.is_empty() && !t.starts_with('#') && !t.starts_with('%') {
                content_before_marker = true;
            }
        }
    }
    if !seen_marker {
        starts.push(1);
    }
    starts
}

fn yaml_to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (yaml_key(k), yaml_to_json(v)))
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

fn yaml_key(k: serde_yaml::Value) -> String {
    match k {
        serde_yaml::Value::String(s) => s,
        other => serde_yaml::to_string(&other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
    }
}

/// Best-effort line of a dotted field path (`spec.owner`, `metadata.tags.2`) inside a document,
/// found by walking the keys in order through the document's text.
pub fn field_line(text: &str, doc: &Document, field: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let mut line = doc.line;
    for segment in field.split('.') {
        if segment.parse::<usize>().is_ok() {
            continue;
        }
        let key_a = format!("{segment}:");
        let key_b = format!("\"{segment}\":");
        let found = (line..=doc.end_line.min(lines.len())).find(|n| {
            let t = lines[n - 1].trim_start().trim_start_matches("- ");
            t.starts_with(&key_a) || t.starts_with(&key_b)
        });
        match found {
            Some(n) => line = n,
            None => break,
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_know_their_start_lines() {
        let text = "# c\napiVersion: v1\nkind: A\n---\nkind: B\n---\n\n---\nkind: C\n";
        let docs = parse_documents(text.as_bytes()).unwrap();
        let lines: Vec<_> = docs.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![1, 5, 9]);
        assert_eq!(docs[1].value["kind"], "B");
    }

    #[test]
    fn invalid_yaml_reports_line_and_column() {
        let e = parse_documents(b"a: 1\nb: [unclosed\nc: d\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        assert!(e.column.is_some());
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let mut prev = 'a';
        for c in 'b'..='j' {
            bomb.push_str(&format!("{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
            prev = c;
        }
        assert!(parse_documents(bomb.as_bytes()).is_err());
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_documents(deep.as_bytes()).is_err());
    }

    #[test]
    fn non_utf8_files_are_refused() {
        assert!(parse_documents(b"a: \xff\xfe\n")
            .unwrap_err()
            .message
            .contains("UTF-8"));
    }

    #[test]
    fn field_lines_follow_the_path() {
        let text = "kind: A\nmetadata:\n  name: x\nspec:\n  type: t\n  owner: o\n";
        let docs = parse_documents(text.as_bytes()).unwrap();
        assert_eq!(field_line(text, &docs[0], "spec.owner"), 6);
        assert_eq!(field_line(text, &docs[0], "metadata.name"), 3);
    }
}
