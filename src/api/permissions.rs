//! Backstage's permission framework, served by Cairn: `POST /api/permission/authorize` answers a
//! frontend's questions from the `PermissionPolicy` entities in the catalog, and the same
//! decisions guard Cairn's own routes, so what the frontend hides the server also refuses.
//! With `permission.enabled` off (Backstage's default) everything is allowed.

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::openapi::{shapes, Doc};
use super::routes::Routes;
use super::{ApiError, AppState, Principal};
use crate::error::Error;
use crate::model::permissions::{Condition, Decision, Policy, Scope, Subject};
use crate::readmodel::filter::{filter_set, Predicate};
use crate::readmodel::ReadModel;

/// The decisions, from the policies in the read model's newest snapshot.
pub struct Permissions {
    enabled: bool,
    readmodel: Arc<ReadModel>,
    /// The policy of the snapshot with this sequence number.
    cache: Mutex<Option<(i64, Arc<Policy>)>>,
}

impl Permissions {
    pub fn new(enabled: bool, readmodel: Arc<ReadModel>) -> Self {
        Permissions {
            enabled,
            readmodel,
            cache: Mutex::new(None),
        }
    }

    fn policy(&self) -> Arc<Policy> {
        let snapshot = self.readmodel.snapshot();
        let mut cache = self.cache.lock();
        if let Some((seq, policy)) = &*cache {
            if *seq == snapshot.seq {
                return policy.clone();
            }
        }
        let kinds = snapshot.index("kind");
        let entities: Vec<Value> = kinds
            .by_value
            .get("permissionpolicy")
            .into_iter()
            .flatten()
            .filter_map(|&i| serde_json::from_str(&snapshot.docs[i as usize].json).ok())
            .collect();
        let policy = Arc::new(Policy::of(&entities));
        *cache = Some((snapshot.seq, policy.clone()));
        policy
    }

    pub fn decide(
        &self,
        permission: &str,
        subject: &Subject,
        resource: Option<&Value>,
    ) -> Decision {
        if !self.enabled {
            return Decision::Allow;
        }
        self.policy().decide(permission, subject, resource)
    }

    /// Refuses a request the policy denies (403, naming the permission).
    pub fn require(
        &self,
        req: &HttpRequest,
        permission: &str,
        resource: Option<&Value>,
    ) -> Result<(), Error> {
        match self.decide(permission, &subject_of(req), resource) {
            Decision::Allow => Ok(()),
            Decision::Deny => {
                let who = req
                    .extensions()
                    .get::<Principal>()
                    .map_or("anonymous".to_string(), |p| p.subject.clone());
                Err(Error::NotAllowed(format!(
                    "{who} is not allowed {permission}"
                )))
            }
        }
    }

    /// The entities a request may read, as a filter to AND with its own (`None`: all).
    pub fn readable(&self, req: &HttpRequest) -> Option<Predicate> {
        if !self.enabled {
            return None;
        }
        let any =
            |conditions: &[Condition]| Predicate::Any(conditions.iter().map(condition).collect());
        match self.policy().scope(READ, &subject_of(req)) {
            Scope::All => None,
            Scope::Nothing => Some(Predicate::Any(Vec::new())),
            Scope::Where { allow, deny } => {
                let mut parts = Vec::new();
                if let Some(allow) = allow {
                    parts.push(any(&allow));
                }
                if !deny.is_empty() {
                    parts.push(Predicate::Not(Box::new(any(&deny))));
                }
                Some(Predicate::All(parts))
            }
        }
    }

    /// Whether a request may read one entity (its served JSON); one it may not is answered as
    /// if it did not exist.
    pub fn may_read(&self, req: &HttpRequest, json: &str) -> bool {
        if !self.enabled {
            return true;
        }
        let entity: Value = serde_json::from_str(json).unwrap_or(Value::Null);
        self.decide(READ, &subject_of(req), Some(&entity)) == Decision::Allow
    }

    /// `require` about the catalog entity `entity_ref` (lowercase canonical), when it exists.
    pub fn require_on_entity(
        &self,
        req: &HttpRequest,
        permission: &str,
        entity_ref: &str,
    ) -> Result<(), Error> {
        let entity = self.entity(entity_ref);
        self.require(req, permission, entity.as_ref())
    }

    fn entity(&self, entity_ref: &str) -> Option<Value> {
        self.readmodel
            .snapshot()
            .get_by_ref(entity_ref)
            .and_then(|d| serde_json::from_str(&d.json).ok())
    }
}

const READ: &str = "catalog.entity.read";

/// A rule's conditions as a catalog filter.
fn condition(c: &Condition) -> Predicate {
    let mut parts = Vec::new();
    if let Some(f) = &c.filter {
        // Validated at ingest; a filter of another shape selects nothing.
        parts.push(filter_set(f).unwrap_or(Predicate::Any(Vec::new())));
    }
    if let Some(owners) = &c.owners {
        parts.push(Predicate::In(
            "relations.ownedby".into(),
            owners.iter().map(|o| o.to_lowercase()).collect(),
        ));
    }
    Predicate::All(parts)
}

/// Who a request comes from, as policies name callers.
pub fn subject_of(req: &HttpRequest) -> Subject {
    match req.extensions().get::<Principal>() {
        None => Subject::Anonymous,
        Some(Principal {
            user: Some(user), ..
        }) => Subject::User(user.clone()),
        Some(p) => Subject::Service(p.subject.clone()),
    }
}

fn authorize_request() -> Value {
    json!({
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "permission"],
            "properties": {
                "id": {"type": "string"},
                "resourceRef": {"type": "string"},
                "permission": {
                    "type": "object",
                    "required": ["type", "name"],
                    "properties": {
                        "type": {"enum": ["basic", "resource"]},
                        "name": {"type": "string"},
                        "resourceType": {"type": "string"},
                        "attributes": {"type": "object"},
                    },
                },
            },
        }}},
    })
}
fn authorize_response() -> Value {
    json!({
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "result"],
            "properties": {"id": {"type": "string"}, "result": {"enum": ["ALLOW", "DENY"]}},
        }}},
    })
}
const AUTHORIZE: Doc =
    Doc::new("Decides permission requests from the catalog's PermissionPolicy entities")
        .body(authorize_request)
        .json(authorize_response)
        .also(400, shapes::error);

pub fn routes(r: &mut Routes) {
    r.post("/authorize", authorize).doc(&AUTHORIZE);
}

async fn authorize(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = super::json_body(&body)?;
    let items = body
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Input("request/body must have required property 'items'".into()))?;
    let subject = subject_of(&req);
    let mut answers = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let bad = |m: &str| Error::Input(format!("request/body/items/{i}{m}"));
        let id = item["id"]
            .as_str()
            .ok_or_else(|| bad(" must have required property 'id'"))?;
        let permission = &item["permission"];
        let name = permission["name"]
            .as_str()
            .ok_or_else(|| bad("/permission must have required property 'name'"))?;
        let resource_ref = match &item["resourceRef"] {
            Value::Null => None,
            Value::String(s) => Some(s.as_str()),
            _ => return Err(bad("/resourceRef must be string").into()),
        };
        let resource =
            match (permission["type"].as_str(), resource_ref) {
                (Some("basic"), None) => None,
                (Some("basic"), Some(_)) => {
                    return Err(bad(": a basic permission takes no resourceRef").into())
                }
                (Some("resource"), None) => {
                    return Err(bad(": a resource permission needs a resourceRef").into())
                }
                (Some("resource"), Some(r)) => match permission["resourceType"].as_str() {
                    Some("catalog-entity") => {
                        let entity_ref = crate::model::EntityRef::parse_full(r)
                            .map_err(|e| bad(&format!("/resourceRef: {e}")))?
                            .canonical();
                        // A missing entity meets no condition: only unconditional rules allow.
                        Some(state.permissions.entity(&entity_ref).unwrap_or(Value::Null))
                    }
                    _ => None,
                },
                _ => return Err(bad(
                    "/permission/type must be equal to one of the allowed values: basic, resource",
                )
                .into()),
            };
        let decision = state.permissions.decide(name, &subject, resource.as_ref());
        answers.push(json!({
            "id": id,
            "result": if decision == Decision::Allow { "ALLOW" } else { "DENY" },
        }));
    }
    Ok(HttpResponse::Ok().json(json!({ "items": answers })))
}
