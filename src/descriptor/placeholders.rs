//! `$text`, `$json` and `$yaml` placeholders: an object with exactly one of these keys is
//! replaced by the content of the file it names, read relative to the descriptor.

use serde_json::Value;

use super::SourceReader;

/// Replaces every placeholder in `value`, reading through `reader` relative to `base`.
/// Returns the dotted path of the field that failed and why.
pub fn resolve_placeholders(
    value: &mut Value,
    base: &str,
    reader: &dyn SourceReader,
) -> Result<(), (String, String)> {
    walk(value, base, reader, &mut Vec::new())
}

fn walk(
    value: &mut Value,
    base: &str,
    reader: &dyn SourceReader,
    path: &mut Vec<String>,
) -> Result<(), (String, String)> {
    match value {
        Value::Object(map) => {
            if map.len() == 1 {
                let (key, target) = map.iter().next().expect("one entry");
                if let Some(kind) = key.strip_prefix('$') {
                    if matches!(kind, "text" | "json" | "yaml") {
                        let kind = kind.to_string();
                        let target = target.as_str().map(str::to_owned).ok_or_else(|| {
                            (
                                path.join("."),
                                format!("placeholder ${kind} expects a string"),
                            )
                        })?;
                        *value = read_placeholder(&kind, &target, base, reader)
                            .map_err(|m| (path.join("."), m))?;
                        return Ok(());
                    }
                }
            }
            for (k, v) in map.iter_mut() {
                path.push(k.clone());
                walk(v, base, reader, path)?;
                path.pop();
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                walk(v, base, reader, path)?;
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn read_placeholder(
    kind: &str,
    target: &str,
    base: &str,
    reader: &dyn SourceReader,
) -> Result<Value, String> {
    let resolved = reader.resolve(base, target)?;
    let [one] = resolved.as_slice() else {
        return Err(format!(
            "placeholder ${kind} target {target} must name exactly one file"
        ));
    };
    let bytes = reader.read(one)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("placeholder ${kind} target {target} is not valid UTF-8"))?;
    match kind {
        "text" => Ok(Value::String(text)),
        "json" => serde_json::from_str(&text)
            .map_err(|e| format!("placeholder $json target {target} is not valid JSON: {e}")),
        _ => {
            let docs = super::parse_documents(text.as_bytes())
                .map_err(|e| format!("placeholder $yaml target {target}: {}", e.message))?;
            Ok(docs
                .into_iter()
                .next()
                .map(|d| d.value)
                .unwrap_or(Value::Null))
        }
    }
}
