//! Access: Backstage's own settings. Two kinds of bearer token are accepted: static tokens from
//! `backend.auth.externalAccess` (compared in constant time, never logged) and Backstage user
//! tokens (`identity`). Writes need one unless `dangerouslyDisableDefaultAuthPolicy`; reads only
//! with `cairn.auth.protectReads`. A token that is given but not valid is refused (401) on every
//! route but the probes, as Backstage does: it never falls back to an anonymous caller.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::identity::Identity;
use super::routes::Access;
use crate::config::Config;
use crate::error::Error;
use crate::model::audit::Actor;
use crate::model::identity::UserIdentity;

struct StaticToken {
    token: Vec<u8>,
    subject: String,
    /// Plugins the token may call; empty = all.
    plugins: Vec<String>,
}

pub struct AuthPolicy {
    tokens: Vec<StaticToken>,
    open_writes: bool,
    protect_reads: bool,
    pub identity: Arc<Identity>,
}

impl AuthPolicy {
    pub fn new(config: &Config, identity: Arc<Identity>) -> Self {
        let tokens = config
            .backend
            .auth
            .external_access
            .iter()
            .filter(|a| a.access_type == "static")
            .map(|a| StaticToken {
                token: a.options.token.as_bytes().to_vec(),
                subject: a.options.subject.clone(),
                plugins: a
                    .access_restrictions
                    .iter()
                    .map(|r| r.plugin.clone())
                    .collect(),
            })
            .collect();
        AuthPolicy {
            tokens,
            open_writes: config.backend.auth.dangerously_disable_default_auth_policy,
            protect_reads: config.cairn.auth.protect_reads,
            identity,
        }
    }
}

/// Who made a request: the `subject` of the static token it carried, or the user entity ref of
/// a user token with that user's identity.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: String,
    pub user: Option<UserIdentity>,
}

impl Principal {
    fn service(subject: &str) -> Self {
        Principal {
            subject: subject.to_string(),
            user: None,
        }
    }
}

/// The signed-in user a request is for, on routes that are per user (notifications, settings,
/// userinfo): no token is 401, a service token 403.
pub fn signed_in_user(req: &actix_web::HttpRequest) -> Result<UserIdentity, Error> {
    match actix_web::HttpMessage::extensions(req).get::<Principal>() {
        None => Err(Error::Unauthenticated("Missing credentials".into())),
        Some(Principal { user: Some(u), .. }) => Ok(u.clone()),
        Some(_) => Err(Error::NotAllowed(
            "This endpoint is for users; it does not allow 'service' credentials".into(),
        )),
    }
}

/// Who a request acts for, as attestations and the audit trail record it: the token's subject,
/// or `anonymous`.
pub fn caller(req: &actix_web::HttpRequest) -> Actor {
    Actor::new(
        actix_web::HttpMessage::extensions(req)
            .get::<Principal>()
            .map_or("anonymous", |p| p.subject.as_str()),
    )
}

/// Decides whether a request to a route with `access` may proceed; returns the caller when a
/// valid token was given. `plugin` is the route's Backstage plugin, for tokens limited to some.
pub async fn check(
    policy: &AuthPolicy,
    access: Access,
    plugin: Option<&str>,
    authorization: Option<&str>,
) -> Result<Option<Principal>, Error> {
    let required = match access {
        Access::Open => return Ok(None),
        Access::Write => !policy.open_writes,
        Access::Read => policy.protect_reads && !policy.open_writes,
        Access::Internal => !policy.tokens.is_empty() && !policy.open_writes,
    };
    let token = authorization.and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    });
    match token {
        None if required => Err(Error::Unauthenticated("Missing credentials".into())),
        None => Ok(None),
        Some(t) => {
            let valid = policy.tokens.iter().find(|s| {
                bool::from(s.token.as_slice().ct_eq(t.trim().as_bytes()))
                    && (s.plugins.is_empty()
                        || plugin.is_some_and(|plugin| s.plugins.iter().any(|p| p == plugin)))
            });
            let known = || {
                policy
                    .tokens
                    .iter()
                    .any(|s| bool::from(s.token.as_slice().ct_eq(t.trim().as_bytes())))
            };
            match valid {
                Some(s) => Ok(Some(Principal::service(&s.subject))),
                // A static token limited to other plugins.
                None if known() && !required => Ok(None),
                None if known() => Err(Error::Unauthenticated("Illegal token".into())),
                None if Identity::looks_like_jwt(t.trim()) => {
                    let user = policy.identity.verify(t.trim()).await?;
                    Ok(Some(Principal {
                        subject: user.user_entity_ref.clone(),
                        user: Some(user),
                    }))
                }
                None => Err(Error::Unauthenticated("Illegal token".into())),
            }
        }
    }
}
