//! `catalog.rules`: which kinds (optionally of which `spec.type`) a location may emit, and
//! `catalog.orphanStrategy`: what happens to an entity its location no longer emits; and the
//! rule pack's vocabulary that `AIAgent` descriptors are validated against.

use std::sync::Arc;

use serde_json::Value;

use super::governance::AiActVocabulary;

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

/// The default of `cairn.maxDescriptorBytes`: organisation files of 100,000+ users and groups
/// fit.
pub const DEFAULT_MAX_DESCRIPTOR_BYTES: usize = 64 * 1024 * 1024;

/// Allowed kinds for one location: the global rules plus the location's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRules {
    /// `None` allows every kind.
    allow: Option<Vec<AllowRule>>,
    /// What `spec.aiAct` may say; `None` checks its shape only.
    ai_act: Option<Arc<AiActVocabulary>>,
    /// Descriptor files larger than this are refused before they are read.
    max_descriptor_bytes: usize,
}

impl CatalogRules {
    pub fn allow_all() -> Self {
        CatalogRules {
            allow: None,
            ai_act: None,
            max_descriptor_bytes: DEFAULT_MAX_DESCRIPTOR_BYTES,
        }
    }

    pub fn new(allow: Vec<AllowRule>) -> Self {
        CatalogRules {
            allow: Some(allow),
            ai_act: None,
            max_descriptor_bytes: DEFAULT_MAX_DESCRIPTOR_BYTES,
        }
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
                Self {
                    allow: Some(all),
                    ..self.clone()
                }
            }
        }
    }

    pub fn with_ai_act(mut self, vocabulary: Option<Arc<AiActVocabulary>>) -> Self {
        self.ai_act = vocabulary;
        self
    }

    pub fn ai_act(&self) -> Option<&AiActVocabulary> {
        self.ai_act.as_deref()
    }

    pub fn with_max_descriptor_bytes(mut self, limit: usize) -> Self {
        self.max_descriptor_bytes = limit;
        self
    }

    pub fn max_descriptor_bytes(&self) -> usize {
        self.max_descriptor_bytes
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
