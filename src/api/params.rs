//! Query-string and body parsing with Backstage's validation messages.

use actix_web::web::Bytes;
use serde_json::Value;

use crate::error::{Error, Result};

/// Decoded query parameters in order; repeated keys kept.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(qs: &str) -> Self {
        Params(
            url::form_urlencoded::parse(qs.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// Refuses parameters the endpoint does not know (those its [`Doc`](super::openapi::Doc)
    /// lists), as Backstage's OpenAPI validator does.
    pub fn allow(&self, known: &[super::openapi::Param]) -> Result<()> {
        match self
            .0
            .iter()
            .find(|(k, _)| !known.iter().any(|p| p.name == k.as_str()))
        {
            Some((k, _)) => Err(Error::Input(format!("Unknown query parameter '{k}'"))),
            None => Ok(()),
        }
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// All values, refusing empty ones.
    pub fn non_empty(&self, key: &str) -> Result<Vec<String>> {
        let values = self.all(key);
        if values.iter().any(String::is_empty) {
            return Err(Error::Input(format!(
                "Empty value found for query parameter '{key}'"
            )));
        }
        Ok(values)
    }

    pub fn one(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// An integer parameter that must be at least `min`.
    pub fn int(&self, key: &str, min: i64) -> Result<Option<i64>> {
        match self.one(key) {
            None => Ok(None),
            Some(v) => {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| Error::Input(format!("request/query/{key} must be integer")))?;
                if n < min {
                    return Err(Error::Input(format!(
                        "request/query/{key} must be >= {min}"
                    )));
                }
                Ok(Some(n))
            }
        }
    }

    /// `fields`: comma lists, repeatable, union; array paths refused.
    pub fn fields(&self, key: &str) -> Result<Option<Vec<String>>> {
        let values = self.all(key);
        if values.is_empty() {
            return Ok(None);
        }
        fields_list(values.iter().flat_map(|v| v.split(',')).map(str::to_owned))
    }
}

pub fn fields_list(items: impl Iterator<Item = String>) -> Result<Option<Vec<String>>> {
    let mut out: Vec<String> = Vec::new();
    for f in items {
        let f = f.trim().to_string();
        if f.is_empty() {
            continue;
        }
        if f.contains('[') {
            return Err(Error::Input(format!(
                "Invalid field \"{f}\", array type fields are not supported"
            )));
        }
        if !out.contains(&f) {
            out.push(f);
        }
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}

/// Parses a JSON request body (an object).
pub fn json_body(bytes: &Bytes) -> Result<serde_json::Map<String, Value>> {
    if bytes.is_empty() {
        return Err(Error::Input(
            "Malformed request body (did you remember to specify an application/json content type?)".into(),
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::Input("request/body must be object".into())),
        Err(e) => Err(Error::Input(format!("Malformed request body: {e}"))),
    }
}

/// Refuses a body key outside `allowed`, as Backstage's request validation does.
pub fn only_keys(body: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<()> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(extra) => Err(Error::Input(format!(
            "Malformed request: unrecognized key '{extra}'"
        ))),
        None => Ok(()),
    }
}

/// CORS from `backend.cors`.
pub fn cors(config: &Option<crate::config::Cors>) -> actix_cors::Cors {
    let Some(c) = config else {
        return actix_cors::Cors::default();
    };
    let mut cors = actix_cors::Cors::default().allow_any_header().max_age(3600);
    match &c.origin {
        Some(Value::String(o)) if o == "*" => cors = cors.allow_any_origin(),
        Some(Value::String(o)) => cors = cors.allowed_origin(o),
        Some(Value::Array(list)) => {
            for o in list.iter().filter_map(Value::as_str) {
                cors = cors.allowed_origin(o);
            }
        }
        _ => {}
    }
    let methods: Vec<String> = c.methods.clone().unwrap_or_else(|| {
        ["GET", "HEAD", "PATCH", "POST", "PUT", "DELETE"]
            .map(String::from)
            .to_vec()
    });
    cors = cors.allowed_methods(methods.iter().map(String::as_str).collect::<Vec<_>>());
    if c.credentials {
        cors = cors.supports_credentials();
    }
    cors
}
