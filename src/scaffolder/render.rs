//! Backstage's template dialect: `${{ … }}` expressions and `{% … %}` blocks, rendered with
//! minijinja (a Jinja engine close to the Nunjucks syntax templates are written in), with the
//! scaffolder's filters and the typed single-expression rule: a string that is exactly one
//! expression keeps the expression's type.

use minijinja::value::Value as JValue;
use minijinja::{Environment, Error as JError, ErrorKind, UndefinedBehavior};
use serde_json::{json, Map, Value};

/// The most instructions one rendering may run (a loop that does not end runs out of fuel).
const FUEL: u64 = 2_000_000;
/// The largest text one rendering may produce.
pub const MAX_OUTPUT: usize = 8 << 20;

/// A template environment; `cookiecutter` switches to `{{ }}` delimiters.
pub fn environment(
    cookiecutter: bool,
    trim_blocks: bool,
    lstrip_blocks: bool,
) -> Environment<'static> {
    let mut env = Environment::new();
    let (open, close) = if cookiecutter {
        ("{{", "}}")
    } else {
        ("${{", "}}")
    };
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .variable_delimiters(open, close)
            .block_delimiters("{%", "%}")
            .comment_delimiters("{#", "#}")
            .build()
            .expect("valid delimiters"),
    );
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    env.set_trim_blocks(trim_blocks);
    env.set_lstrip_blocks(lstrip_blocks);
    env.set_keep_trailing_newline(true);
    env.add_filter("dump", dump);
    env.add_filter("jsonify", dump);
    env.add_filter("parseRepoUrl", parse_repo_url);
    env.add_filter("projectSlug", project_slug);
    env.add_filter("parseEntityRef", parse_entity_ref);
    env.add_filter("pick", pick);
    env.add_filter("truncate", truncate);
    env.add_filter("wordcount", |s: String| s.split_whitespace().count());
    env.add_filter("nl2br", |s: String| s.replace('\n', "<br />\n"));
    env.add_filter("striptags", |s: String| {
        regex::Regex::new(r"<[^>]*>")
            .expect("valid")
            .replace_all(&s, "")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    });
    env.add_filter("d", default_filter);
    env.add_function("always", || true);
    env.add_function("failure", || false);
    env
}

fn default_filter(v: JValue, fallback: Option<JValue>) -> JValue {
    if v.is_undefined() || v.is_none() {
        fallback.unwrap_or_else(|| JValue::from(""))
    } else {
        v
    }
}

fn truncate(
    s: String,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<String>,
) -> String {
    let length = length.unwrap_or(255);
    if s.chars().count() <= length {
        return s;
    }
    let mut cut: String = s.chars().take(length).collect();
    if !killwords.unwrap_or(false) {
        if let Some(i) = cut.rfind(' ') {
            cut.truncate(i);
        }
    }
    cut + &end.unwrap_or_else(|| "...".into())
}

fn to_json(v: &JValue) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn dump(v: JValue, indent: Option<usize>) -> Result<String, JError> {
    let j = to_json(&v);
    let out = match indent {
        Some(_) => serde_json::to_string_pretty(&j),
        None => serde_json::to_string(&j),
    };
    out.map_err(|e| JError::new(ErrorKind::InvalidOperation, e.to_string()))
}

/// `host?owner=o&repo=r` → `{host, owner, repo, …}`, as Backstage's `parseRepoUrl` (without
/// its integrations check: Cairn's publish roots decide which hosts are usable).
pub fn repo_url_parts(s: &str) -> Result<Map<String, Value>, String> {
    let parsed = url::Url::parse(&format!("https://{s}"))
        .map_err(|_| format!("Invalid repo URL passed to publisher: {s}"))?;
    let host = parsed.host_str().unwrap_or_default().to_string();
    let mut out = Map::new();
    out.insert("host".into(), json!(host));
    for (k, v) in parsed.query_pairs() {
        if matches!(
            k.as_ref(),
            "owner" | "repo" | "organization" | "workspace" | "project"
        ) {
            out.insert(k.to_string(), json!(v.to_string()));
        }
    }
    if !out.contains_key("repo") {
        return Err(format!(
            "Invalid repo URL passed to publisher: {s}, missing repo"
        ));
    }
    Ok(out)
}

fn parse_repo_url(s: String) -> Result<JValue, JError> {
    repo_url_parts(&s)
        .map(|m| JValue::from_serialize(Value::Object(m)))
        .map_err(|e| JError::new(ErrorKind::InvalidOperation, e))
}

fn project_slug(s: String) -> Result<String, JError> {
    let parts = repo_url_parts(&s).map_err(|e| JError::new(ErrorKind::InvalidOperation, e))?;
    let owner = parts
        .get("owner")
        .or(parts.get("organization"))
        .or(parts.get("workspace"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(format!(
        "{owner}/{}",
        parts["repo"].as_str().unwrap_or_default()
    ))
}

fn parse_entity_ref(v: JValue, options: Option<JValue>) -> Result<JValue, JError> {
    let j = to_json(&v);
    let opts = options.map(|o| to_json(&o)).unwrap_or(Value::Null);
    let default_kind = opts["defaultKind"].as_str();
    let default_ns = opts["defaultNamespace"].as_str().unwrap_or("default");
    let text = match &j {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
            let ns = o
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(default_ns);
            match o.get("kind").and_then(Value::as_str).or(default_kind) {
                Some(k) => format!("{k}:{ns}/{name}"),
                None => format!("{ns}/{name}"),
            }
        }
        _ => String::new(),
    };
    let r = crate::model::EntityRef::parse(&text, default_kind, default_ns)
        .map_err(|e| JError::new(ErrorKind::InvalidOperation, e.to_string()))?;
    Ok(JValue::from_serialize(
        json!({"kind": r.kind, "namespace": r.namespace, "name": r.name}),
    ))
}

/// lodash `get`: a dotted path into an object.
fn pick(v: JValue, path: String) -> JValue {
    let mut cur = to_json(&v);
    for key in path.split('.') {
        cur = match cur {
            Value::Object(mut m) => m.remove(key).unwrap_or(Value::Null),
            Value::Array(mut a) => key
                .parse::<usize>()
                .ok()
                .filter(|i| *i < a.len())
                .map(|i| a.swap_remove(i))
                .unwrap_or(Value::Null),
            _ => return JValue::UNDEFINED,
        };
    }
    if cur.is_null() {
        JValue::UNDEFINED
    } else {
        JValue::from_serialize(cur)
    }
}

/// Renders a text template (a skeleton file, a path, mixed text in a step input).
pub fn render_str(env: &Environment<'_>, text: &str, ctx: &Value) -> Result<String, String> {
    if !text.contains("${{") && !text.contains("{%") && !text.contains("{{") {
        return Ok(text.to_string());
    }
    let out = env.render_str(text, ctx).map_err(|e| describe(&e))?;
    if out.len() > MAX_OUTPUT {
        return Err(format!(
            "the rendered text is larger than {MAX_OUTPUT} bytes"
        ));
    }
    Ok(out)
}

fn describe(e: &JError) -> String {
    let mut msg = e.to_string();
    if e.kind() == ErrorKind::OutOfFuel {
        msg = "the template expression ran too long (it may loop); stopped".into();
    }
    msg
}

/// The expression of a string that is exactly one `${{ … }}`.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("${{")?.strip_suffix("}}")?;
    (!inner.contains("${{") && !inner.contains("}}")).then_some(inner.trim())
}

/// Renders one string leaf of a step input: a single expression keeps its type (`None` when it
/// is undefined: the key is dropped); anything else gives a string.
pub fn render_leaf(env: &Environment<'_>, s: &str, ctx: &Value) -> Result<Option<Value>, String> {
    if let Some(expr) = single_expression(s) {
        let compiled = env.compile_expression(expr).map_err(|e| describe(&e))?;
        let v = compiled.eval(ctx).map_err(|e| describe(&e))?;
        if v.is_undefined() {
            return Ok(None);
        }
        let j = to_json(&v);
        if j.to_string().len() > MAX_OUTPUT {
            return Err(format!(
                "the rendered value is larger than {MAX_OUTPUT} bytes"
            ));
        }
        return Ok(Some(j));
    }
    render_str(env, s, ctx).map(|s| Some(Value::String(s)))
}

/// Renders every string leaf of a value (step input, `if`, `each`, `output`).
pub fn render_value(
    env: &Environment<'_>,
    v: &Value,
    ctx: &Value,
) -> Result<Option<Value>, String> {
    Ok(match v {
        Value::String(s) => return render_leaf(env, s, ctx),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                // Like JSON.stringify, an undefined array item becomes null.
                out.push(render_value(env, i, ctx)?.unwrap_or(Value::Null));
            }
            Some(Value::Array(out))
        }
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, child) in m {
                if let Some(r) = render_value(env, child, ctx)? {
                    out.insert(k.clone(), r);
                }
            }
            Some(Value::Object(out))
        }
        other => Some(other.clone()),
    })
}

/// Backstage's truthiness for `if`: an array is true when not empty, otherwise JavaScript's.
pub fn is_truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(_)) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Value {
        json!({"parameters": {"name": "svc", "tags": ["a", "b"], "count": 3, "enabled": false,
                              "owner": "group:team-a", "repoUrl": "github.com?repo=r&owner=o"},
               "steps": {"fetch": {"output": {"n": 1}}}})
    }

    fn leaf(s: &str) -> Option<Value> {
        render_leaf(&environment(false, false, false), s, &ctx()).unwrap()
    }

    #[test]
    fn a_single_expression_keeps_its_type() {
        assert_eq!(leaf("${{ parameters.tags }}"), Some(json!(["a", "b"])));
        assert_eq!(leaf("${{ parameters.count }}"), Some(json!(3)));
        assert_eq!(leaf("${{ parameters.enabled }}"), Some(json!(false)));
        assert_eq!(leaf("${{ parameters.count > 2 }}"), Some(json!(true)));
        assert_eq!(leaf("${{ parameters.name }}-x"), Some(json!("svc-x")));
        assert_eq!(leaf("${{ parameters.missing }}"), None);
        assert_eq!(
            leaf("{{ parameters.name }}"),
            Some(json!("{{ parameters.name }}"))
        );
        assert_eq!(leaf("${{ steps['fetch'].output.n }}"), Some(json!(1)));
    }

    #[test]
    fn scaffolder_filters() {
        assert_eq!(
            leaf("${{ parameters.repoUrl | parseRepoUrl }}"),
            Some(json!({"host": "github.com", "repo": "r", "owner": "o"}))
        );
        assert_eq!(
            leaf("${{ parameters.repoUrl | projectSlug }}"),
            Some(json!("o/r"))
        );
        assert_eq!(
            leaf("${{ parameters.owner | parseEntityRef }}"),
            Some(json!({"kind": "group", "namespace": "default", "name": "team-a"}))
        );
        assert_eq!(
            leaf("${{ parameters.owner | parseEntityRef | pick('name') }}"),
            Some(json!("team-a"))
        );
        assert_eq!(
            leaf("${{ parameters.tags | dump }}"),
            Some(json!("[\"a\",\"b\"]"))
        );
        assert_eq!(
            leaf("${{ parameters.tags | join(',') | upper }}"),
            Some(json!("A,B"))
        );
        assert_eq!(leaf("${{ 'file' if parameters.enabled }}"), None);
        let env = environment(false, false, false);
        assert_eq!(
            render_str(&env, "${{ 'file' if parameters.enabled }}", &ctx()).unwrap(),
            ""
        );
    }

    #[test]
    fn a_loop_that_does_not_end_runs_out_of_fuel() {
        let env = environment(false, false, false);
        let err = render_str(
            &env,
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            &ctx(),
        )
        .unwrap_err();
        assert!(
            err.contains("ran too long") || err.contains("larger"),
            "{err}"
        );
    }
}
