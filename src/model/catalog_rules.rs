//! `catalog.rules`: which kinds (optionally of which `spec.type`) a location may emit, and
//! `catalog.orphanStrategy`: what happens to an entity its location no longer emits.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrphanStrategy {
    Keep,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
    pub kind: String,
    pub spec_type: Option<String>,
}

/// Allowed kinds for one location: the global rules plus the location's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRules {
    /// `None` allows every kind.
    allow: Option<Vec<AllowRule>>,
}

impl CatalogRules {
    pub fn allow_all() -> Self {
        CatalogRules { allow: None }
    }

    pub fn new(allow: Vec<AllowRule>) -> Self {
        CatalogRules { allow: Some(allow) }
    }

    /// Backstage's default when `catalog.rules` is absent.
    pub fn backstage_default() -> Self {
        Self::new(
            ["Component", "API", "Location"]
                .iter()
                .map(|k| AllowRule {
                    kind: k.to_string(),
                    spec_type: None,
                })
                .collect(),
        )
    }

    pub fn extended(&self, more: &[AllowRule]) -> Self {
        match &self.allow {
            None => self.clone(),
            Some(list) => {
                let mut all = list.clone();
                all.extend(more.iter().cloned());
                Self::new(all)
            }
        }
    }

    pub fn allows(&self, entity: &Value) -> bool {
        self.allows_kind(
            entity["kind"].as_str().unwrap_or_default(),
            entity["spec"]["type"].as_str(),
        )
    }

    pub fn allows_kind(&self, kind: &str, spec_type: Option<&str>) -> bool {
        let Some(list) = &self.allow else { return true };
        list.iter().any(|r| {
            r.kind.eq_ignore_ascii_case(kind)
                && r.spec_type.as_deref().is_none_or(|t| Some(t) == spec_type)
        })
    }
}
