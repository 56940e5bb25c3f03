//! Permission policies as data: `PermissionPolicy` entities (YAML in Git, like scorecards) whose
//! rules say who may do what to which entities, in the names of Backstage's permission framework
//! (`catalog.entity.read`, `catalog.location.create`, `scaffolder.task.create`, …).
//!
//! A request is allowed when some rule allows it and no rule denies it; a permission no rule
//! speaks of is denied. A rule that names a resource condition (`resource`, `owned`) applies to a
//! request about a resource only when the resource meets it; asked without a resource (a
//! frontend deciding whether to show a button), an allowing rule with conditions counts as
//! allowing, and the server decides again with the resource when it is used.

use serde_json::Value;

use super::facts::matches_filter;
use super::identity::UserIdentity;
use super::relations::targets_of;
use super::validation::Problem;

/// Who is asking.
#[derive(Debug, Clone)]
pub enum Subject {
    Anonymous,
    /// A static token's subject.
    Service(String),
    User(UserIdentity),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
struct Rule {
    permissions: Vec<globset::GlobMatcher>,
    allow: bool,
    who: Vec<String>,
    resource: Option<Value>,
    owned: bool,
}

/// The rules of every loaded policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<Rule>,
}

impl Policy {
    /// The rules of the given `PermissionPolicy` entities, in order. Entities that do not
    /// validate were refused at ingest; a rule that still does not parse is skipped.
    pub fn of<'a>(entities: impl IntoIterator<Item = &'a Value>) -> Policy {
        let mut rules = Vec::new();
        for entity in entities {
            for rule in entity["spec"]["rules"].as_array().into_iter().flatten() {
                if let Ok(r) = parse_rule(rule) {
                    rules.push(r);
                }
            }
        }
        Policy { rules }
    }

    /// The decision for `permission`, asked by `subject`, about `resource` (an entity) if any.
    pub fn decide(
        &self,
        permission: &str,
        subject: &Subject,
        resource: Option<&Value>,
    ) -> Decision {
        let mut allowed = false;
        for rule in &self.rules {
            if !rule.permissions.iter().any(|g| g.is_match(permission)) || !rule.covers(subject) {
                continue;
            }
            let conditional = rule.resource.is_some() || rule.owned;
            let holds = match resource {
                Some(entity) => rule.holds_for(subject, entity),
                None => !conditional,
            };
            if rule.allow {
                allowed |= holds || (resource.is_none() && conditional);
            } else if holds {
                return Decision::Deny;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }
}

/// Which resources a subject may act on with a permission, for filtering lists: everything
/// some allowing rule's conditions select (all, if one has none), minus what a denying rule's
/// conditions select.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    All,
    Nothing,
    Where {
        /// `None`: everything is allowed before the denials.
        allow: Option<Vec<Condition>>,
        deny: Vec<Condition>,
    },
}

/// A rule's conditions on an entity: a filter, and the owners it must have (`owned`).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub filter: Option<Value>,
    /// The entity's `ownedBy` must be one of these (none: nothing is owned).
    pub owners: Option<Vec<String>>,
}

impl Policy {
    pub fn scope(&self, permission: &str, subject: &Subject) -> Scope {
        let mut allow_all = false;
        let mut allow = Vec::new();
        let mut deny = Vec::new();
        for rule in &self.rules {
            if !rule.permissions.iter().any(|g| g.is_match(permission)) || !rule.covers(subject) {
                continue;
            }
            let condition = Condition {
                filter: rule.resource.clone(),
                owners: rule.owned.then(|| match subject {
                    Subject::User(u) => u.ownership_entity_refs.clone(),
                    _ => Vec::new(),
                }),
            };
            let unconditional = condition.filter.is_none() && condition.owners.is_none();
            match (rule.allow, unconditional) {
                (true, true) => allow_all = true,
                (true, false) => allow.push(condition),
                (false, true) => return Scope::Nothing,
                (false, false) => deny.push(condition),
            }
        }
        match (allow_all, allow.is_empty(), deny.is_empty()) {
            (true, _, true) => Scope::All,
            (false, true, _) => Scope::Nothing,
            (true, _, false) => Scope::Where { allow: None, deny },
            (false, false, _) => Scope::Where {
                allow: Some(allow),
                deny,
            },
        }
    }
}

impl Rule {
    fn covers(&self, subject: &Subject) -> bool {
        self.who.iter().any(|w| match (w.as_str(), subject) {
            ("anyone", _) => true,
            ("users", Subject::User(_)) => true,
            ("services", Subject::Service(_)) => true,
            (w, Subject::Service(s)) => w.strip_prefix("service:") == Some(s.as_str()),
            (w, Subject::User(u)) => u.ownership_entity_refs.iter().any(|r| r == w),
            _ => false,
        })
    }

    fn holds_for(&self, subject: &Subject, entity: &Value) -> bool {
        let filter_ok = self
            .resource
            .as_ref()
            .is_none_or(|f| matches_filter(entity, f));
        let owned_ok = !self.owned
            || match subject {
                Subject::User(u) => u.owns(targets_of(entity, "ownedBy")),
                _ => false,
            };
        filter_ok && owned_ok
    }
}

fn parse_rule(rule: &Value) -> Result<Rule, (String, String)> {
    let strings = |key: &str| -> Result<Vec<String>, (String, String)> {
        match &rule[key] {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(String::from)
                        .ok_or_else(|| (key.to_string(), "must be a list of strings".into()))
                })
                .collect(),
            Value::Null => Err((key.to_string(), "is required".into())),
            _ => Err((
                key.to_string(),
                "must be a string or a list of strings".into(),
            )),
        }
    };
    let permissions = strings("permissions")?
        .iter()
        .map(|p| {
            globset::Glob::new(p)
                .map(|g| g.compile_matcher())
                .map_err(|e| {
                    (
                        "permissions".to_string(),
                        format!("{p:?} is not a valid glob: {e}"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let allow = match rule["decision"].as_str() {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(("decision".into(), "must be allow or deny".into())),
    };
    let who = strings("who")?
        .into_iter()
        .map(|w| match w.as_str() {
            "anyone" | "users" | "services" => Ok(w),
            _ if w.starts_with("service:") => Ok(w),
            _ => super::EntityRef::parse(&w, Some("group"), "default")
                .map(|r| r.canonical())
                .map_err(|e| ("who".to_string(), format!("{w:?}: {e}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let resource = match &rule["resource"] {
        Value::Null => None,
        f @ Value::Object(_) if super::governance::is_filter_set(f) => Some(f.clone()),
        Value::Array(list)
            if !list.is_empty() && list.iter().all(super::governance::is_filter_set) =>
        {
            Some(Value::Array(list.clone()))
        }
        _ => {
            return Err((
                "resource".into(),
                "must be a filter (an object of field → value)".into(),
            ))
        }
    };
    let owned = match &rule["owned"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => return Err(("owned".into(), "must be true or false".into())),
    };
    Ok(Rule {
        permissions,
        allow,
        who,
        resource,
        owned,
    })
}

/// Problems in a `PermissionPolicy` spec, named by field (`spec.rules.2.decision`).
pub fn check_policy(spec: &serde_json::Map<String, Value>, problems: &mut Vec<Problem>) {
    for (i, rule) in spec
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Err((field, message)) = parse_rule(rule) {
            problems.push(Problem::new(format!("spec.rules.{i}.{field}"), message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(rules: Value) -> Policy {
        Policy::of([&json!({"spec": {"rules": rules}})])
    }

    fn user(refs: &[&str]) -> Subject {
        Subject::User(UserIdentity {
            user_entity_ref: refs[0].into(),
            ownership_entity_refs: refs.iter().map(|r| r.to_string()).collect(),
        })
    }

    #[test]
    fn nothing_is_allowed_that_no_rule_allows_and_a_deny_wins() {
        let p = policy(json!([
            {"permissions": "catalog.*", "decision": "allow", "who": "users"},
            {"permissions": ["catalog.location.delete"], "decision": "deny", "who": "anyone"},
        ]));
        let jdoe = user(&["user:default/jdoe"]);
        assert_eq!(
            p.decide("catalog.entity.read", &jdoe, None),
            Decision::Allow
        );
        assert_eq!(
            p.decide("catalog.location.delete", &jdoe, None),
            Decision::Deny
        );
        assert_eq!(
            p.decide("scaffolder.task.create", &jdoe, None),
            Decision::Deny
        );
        assert_eq!(
            p.decide("catalog.entity.read", &Subject::Anonymous, None),
            Decision::Deny
        );
    }

    #[test]
    fn who_names_groups_users_and_service_tokens() {
        let p = policy(json!([
            {"permissions": "scaffolder.task.create", "decision": "allow", "who": ["team-a", "service:ci"]},
        ]));
        let member = user(&["user:default/jdoe", "group:default/team-a"]);
        let other = user(&["user:default/ann", "group:default/team-b"]);
        let decide = |s: &Subject| p.decide("scaffolder.task.create", s, None);
        assert_eq!(decide(&member), Decision::Allow);
        assert_eq!(decide(&other), Decision::Deny);
        assert_eq!(decide(&Subject::Service("ci".into())), Decision::Allow);
        assert_eq!(decide(&Subject::Service("cd".into())), Decision::Deny);
    }

    #[test]
    fn resource_conditions_hold_for_the_resource_and_count_as_allowing_without_one() {
        let p = policy(json!([
            {"permissions": "catalog.entity.delete", "decision": "allow", "who": "users", "owned": true},
            {"permissions": "catalog.entity.read", "decision": "allow", "who": "anyone"},
            {"permissions": "catalog.entity.read", "decision": "deny", "who": "anyone", "resource": {"kind": "User"}},
        ]));
        let jdoe = user(&["user:default/jdoe", "group:default/team-a"]);
        let mine = json!({"kind": "Component", "relations": [{"type": "ownedBy", "targetRef": "group:default/team-a"}]});
        let theirs = json!({"kind": "Component", "relations": [{"type": "ownedBy", "targetRef": "group:default/team-b"}]});
        let person = json!({"kind": "User"});
        assert_eq!(
            p.decide("catalog.entity.delete", &jdoe, Some(&mine)),
            Decision::Allow
        );
        assert_eq!(
            p.decide("catalog.entity.delete", &jdoe, Some(&theirs)),
            Decision::Deny
        );
        assert_eq!(
            p.decide("catalog.entity.delete", &jdoe, None),
            Decision::Allow
        );
        assert_eq!(
            p.decide("catalog.entity.read", &jdoe, Some(&mine)),
            Decision::Allow
        );
        assert_eq!(
            p.decide("catalog.entity.read", &jdoe, Some(&person)),
            Decision::Deny
        );
    }

    #[test]
    fn the_scope_of_a_list_is_what_allowing_rules_select_minus_what_denying_ones_do() {
        let p = policy(json!([
            {"permissions": "catalog.entity.read", "decision": "allow", "who": "anyone", "resource": {"kind": ["Component", "API"]}},
            {"permissions": "catalog.entity.read", "decision": "allow", "who": "users", "owned": true},
            {"permissions": "catalog.entity.read", "decision": "deny", "who": "anyone", "resource": {"spec.lifecycle": "secret"}},
        ]));
        let jdoe = user(&["user:default/jdoe", "group:default/team-a"]);
        let Scope::Where {
            allow: Some(allow),
            deny,
        } = p.scope("catalog.entity.read", &jdoe)
        else {
            panic!("conditional");
        };
        assert_eq!(allow.len(), 2);
        assert_eq!(
            allow[1].owners.as_deref(),
            Some(
                &[
                    "user:default/jdoe".to_string(),
                    "group:default/team-a".to_string()
                ][..]
            )
        );
        assert_eq!(deny[0].filter, Some(json!({"spec.lifecycle": "secret"})));
        assert_eq!(p.scope("catalog.entity.delete", &jdoe), Scope::Nothing);
        let open = policy(json!([{"permissions": "*", "decision": "allow", "who": "anyone"}]));
        assert_eq!(
            open.scope("catalog.entity.read", &Subject::Anonymous),
            Scope::All
        );
    }

    #[test]
    fn a_bad_rule_is_named_by_its_field() {
        let mut problems = Vec::new();
        let spec = json!({"rules": [
            {"permissions": "x", "decision": "allow", "who": "anyone"},
            {"permissions": "x", "decision": "maybe", "who": "anyone"},
            {"permissions": "[", "decision": "deny", "who": "anyone"},
        ]});
        check_policy(spec.as_object().unwrap(), &mut problems);
        let fields: Vec<String> = problems.iter().map(|p| p.field.clone()).collect();
        assert_eq!(
            fields,
            ["spec.rules.1.decision", "spec.rules.2.permissions"]
        );
    }
}
