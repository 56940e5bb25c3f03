//! Entity references (`kind:namespace/name`), parsed once into a typed value.

use std::fmt;

/// A fully qualified, case-preserving entity reference. Comparison and hashing go through
/// [`EntityRef::canonical`], which is lowercase, as Backstage's `stringifyEntityRef` is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("Entity reference \"{0}\" had missing or empty kind (e.g. did not start with \"component:\" or similar)")]
    MissingKind(String),
    #[error("Entity reference \"{0}\" was not on the form [<kind>:][<namespace>/]<name>")]
    Malformed(String),
}

impl EntityRef {
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        EntityRef {
            kind: kind.to_lowercase(),
            namespace: namespace.to_lowercase(),
            name: name.to_lowercase(),
        }
    }

    /// Parses `[kind:][namespace/]name`, filling the gaps from the defaults. A missing kind
    /// with no default is an error, as in `@backstage/catalog-model`.
    pub fn parse(
        input: &str,
        default_kind: Option<&str>,
        default_namespace: &str,
    ) -> Result<Self, RefError> {
        let trimmed = input.trim();
        let (kind, rest) = match trimmed.split_once(':') {
            Some((k, rest)) => (Some(k), rest),
            None => (None, trimmed),
        };
        let (namespace, name) = match rest.split_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, rest),
        };
        if name.is_empty()
            || name.contains(':')
            || name.contains('/')
            || kind == Some("")
            || namespace == Some("")
        {
            return Err(RefError::Malformed(input.to_string()));
        }
        let kind = match kind.or(default_kind) {
            Some(k) => k,
            None => return Err(RefError::MissingKind(input.to_string())),
        };
        Ok(EntityRef::new(
            kind,
            namespace.unwrap_or(default_namespace),
            name,
        ))
    }

    /// Parses a full canonical ref (`kind:namespace/name`) as stored and served.
    pub fn parse_full(input: &str) -> Result<Self, RefError> {
        let r = Self::parse(input, None, "default")?;
        Ok(r)
    }

    pub fn canonical(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.kind, self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_parts_and_case_is_folded() {
        let r = EntityRef::parse("Team-A", Some("Group"), "other").unwrap();
        assert_eq!(r.to_string(), "group:other/team-a");
        let r = EntityRef::parse("api:ns/x", Some("Group"), "other").unwrap();
        assert_eq!(r.to_string(), "api:ns/x");
        let r = EntityRef::parse("user:jdoe", Some("Group"), "other").unwrap();
        assert_eq!(r.to_string(), "user:other/jdoe");
    }

    #[test]
    fn missing_kind_without_default_is_an_error() {
        assert!(matches!(
            EntityRef::parse("legacy", None, "default"),
            Err(RefError::MissingKind(_))
        ));
    }

    #[test]
    fn malformed_refs_are_rejected() {
        for bad in ["", "a:", ":x", "a:b/", "a:/x", "a:b/c/d", "a:b:c"] {
            assert!(
                EntityRef::parse(bad, Some("x"), "default").is_err(),
                "{bad}"
            );
        }
    }
}
