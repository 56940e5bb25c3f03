//! Who a signed-in person is, as Backstage's identity API carries it: a user entity ref and the
//! refs of everything that person's ownership is counted through.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::relations::targets_of;

/// A signed-in user: the `identity` of a Backstage user token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    pub user_entity_ref: String,
    pub ownership_entity_refs: Vec<String>,
}

impl UserIdentity {
    /// The identity of a catalog `User`, as Backstage's default sign-in resolvers build it: the
    /// user itself and the groups it is directly a member of.
    pub fn of_user(entity_ref: &str, user: &Value) -> Self {
        let mut refs = vec![entity_ref.to_string()];
        for group in targets_of(user, "memberOf") {
            if !refs.iter().any(|r| r == group) {
                refs.push(group.to_string());
            }
        }
        UserIdentity {
            user_entity_ref: entity_ref.to_string(),
            ownership_entity_refs: refs,
        }
    }

    /// Whether this person owns an entity whose `ownedBy` targets are `owners`.
    pub fn owns<'a>(&self, mut owners: impl Iterator<Item = &'a str>) -> bool {
        owners.any(|o| self.ownership_entity_refs.iter().any(|r| r == o))
    }
}

/// A key Cairn signs user tokens with, as kept in the database.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    /// PKCS#8 DER, base64.
    pub private_key: String,
    /// The public key as a JWK (JSON text).
    pub public_jwk: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// The `profile` the frontend shows for a user: `displayName`, `email`, `picture` from the
/// entity's `spec.profile` (absent fields left out).
pub fn profile_of(user: Option<&Value>) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(profile) = user.and_then(|u| u["spec"]["profile"].as_object()) {
        for key in ["email", "displayName", "picture"] {
            if let Some(v) = profile.get(key).and_then(Value::as_str) {
                out.insert(key.into(), json!(v));
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_the_user_and_its_direct_groups_once_each() {
        let user = json!({"relations": [
            {"type": "memberOf", "targetRef": "group:default/team-a"},
            {"type": "ownerOf", "targetRef": "component:default/x"},
            {"type": "memberOf", "targetRef": "group:default/team-a"},
            {"type": "memberOf", "targetRef": "group:ops/sre"},
        ]});
        let id = UserIdentity::of_user("user:default/jdoe", &user);
        assert_eq!(
            id.ownership_entity_refs,
            ["user:default/jdoe", "group:default/team-a", "group:ops/sre"]
        );
        assert!(id.owns(["group:ops/sre"].into_iter()));
        assert!(!id.owns(["group:default/team-b"].into_iter()));
    }

    #[test]
    fn profile_keeps_only_the_fields_the_frontend_reads() {
        let user = json!({"spec": {"profile": {"displayName": "J", "email": "j@x", "other": 1}}});
        assert_eq!(
            profile_of(Some(&user)),
            json!({"displayName": "J", "email": "j@x"})
        );
        assert_eq!(profile_of(None), json!({}));
    }
}
