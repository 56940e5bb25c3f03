//! Access: Backstage's own settings. Static tokens from `backend.auth.externalAccess` are
//! accepted as bearer tokens (compared in constant time, never logged). Writes need one unless
//! `dangerouslyDisableDefaultAuthPolicy`; reads only with `cairn.auth.protectReads`.

use subtle::ConstantTimeEq;

use super::routes::Access;
use crate::config::Config;
use crate::error::Error;
use crate::model::audit::Actor;

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
}

impl AuthPolicy {
    pub fn from_config(config: &Config) -> Self {
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
        }
    }
}

/// Who made a request: the `subject` of the static token it carried.
#[derive(Debug, Clone)]
pub struct Principal(pub String);

/// Who a request acts for, as attestations and the audit trail record it: the token's subject,
/// or `anonymous`.
pub fn caller(req: &actix_web::HttpRequest) -> Actor {
    Actor::new(
        actix_web::HttpMessage::extensions(req)
            .get::<Principal>()
            .map_or("anonymous", |p| p.0.as_str()),
    )
}

/// Decides whether a request to a route with `access` may proceed; returns the caller when a
/// valid token was given. `plugin` is the route's Backstage plugin, for tokens limited to some.
pub fn check(
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
            match valid {
                Some(s) => Ok(Some(Principal(s.subject.clone()))),
                None if !required => Ok(None),
                None => Err(Error::Unauthenticated("Illegal token".into())),
            }
        }
    }
}
