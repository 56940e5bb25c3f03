//! Backstage user tokens: Cairn issues them (the guest provider) and accepts them as bearer
//! tokens on every API, its own and those of a Node Backstage auth backend named in
//! `auth.externalIssuers`.
//!
//! A token is an ES256 JWT (`typ: vnd.backstage.user`) with `sub` (the user entity ref), `ent`
//! (ownership refs), `aud: backstage`, `iat`, `exp` and `uip`, as Backstage's token factory
//! writes it. Signing keys are kept in the database so every replica verifies what any replica
//! issued; a new key signs after each token lifetime and old keys stay in the JWKS for three.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parking_lot::{Mutex, RwLock};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{Config, GuestProvider};
use crate::error::Error;
use crate::model::identity::{profile_of, StoredKey, UserIdentity};
use crate::model::EntityRef;
use crate::readmodel::ReadModel;

const USER_TOKEN: &str = "vnd.backstage.user";
const LIMITED_USER_TOKEN: &str = "vnd.backstage.limited-user";
/// A token whose key is not known yet makes Cairn look again, at most this often.
const RELOAD_EVERY: Duration = Duration::from_secs(1);
const REFETCH_EVERY: Duration = Duration::from_secs(10);

/// Where signing keys are kept; the storage implements it (wired in `app`).
pub trait KeyStore: Send + Sync {
    /// Keys created at or after `since` (unix seconds), newest first.
    fn keys_since(&self, since: i64) -> Result<Vec<StoredKey>, Error>;
    fn insert_key(&self, key: &StoredKey) -> Result<(), Error>;
}

struct SigningKey {
    kid: String,
    key: EncodingKey,
    created_at: i64,
}

#[derive(Default)]
struct Keys {
    signing: Option<Arc<SigningKey>>,
    verifying: HashMap<String, Arc<DecodingKey>>,
    /// (created_at, public JWK), newest first.
    published: Vec<(i64, Value)>,
    loaded: Option<Instant>,
}

struct External {
    issuer: String,
    jwks_url: String,
    keys: RwLock<(JwkSet, Option<Instant>)>,
}

/// Issues and verifies user tokens.
pub struct Identity {
    store: Arc<dyn KeyStore>,
    readmodel: Arc<ReadModel>,
    issuer: String,
    lifetime: i64,
    guest: Option<(GuestProvider, bool)>,
    keys: RwLock<Keys>,
    /// Serialises key creation within this replica.
    creating: Mutex<()>,
    external: Vec<External>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    iss: Option<String>,
    aud: Option<Value>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn unauthenticated(message: &str) -> Error {
    Error::Unauthenticated(message.into())
}

fn failed_verification() -> Error {
    unauthenticated("Failed user token verification")
}

impl Identity {
    pub fn new(
        config: &Config,
        store: Arc<dyn KeyStore>,
        readmodel: Arc<ReadModel>,
    ) -> Result<Self, Error> {
        let lifetime = config
            .user_token_lifetime()
            .map_err(|e| Error::Input(e.to_string()))?
            .as_secs() as i64;
        let development = config.auth.environment == "development";
        let guest = match &config.auth.providers.guest {
            None => None,
            Some(g) => {
                let user =
                    EntityRef::parse(&g.user_entity_ref, Some("user"), "default").map_err(|e| {
                        Error::Input(format!("auth.providers.guest.userEntityRef: {e}"))
                    })?;
                let mut g = g.clone();
                g.user_entity_ref = user.canonical();
                let allowed = development || g.dangerously_allow_outside_development;
                Some((g, allowed))
            }
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Identity {
            store,
            readmodel,
            issuer: format!("{}/api/auth", config.backend.base_url.trim_end_matches('/')),
            lifetime,
            guest,
            keys: RwLock::new(Keys::default()),
            creating: Mutex::new(()),
            external: config
                .auth
                .external_issuers
                .iter()
                .map(|e| External {
                    issuer: e.issuer.clone(),
                    jwks_url: e.jwks_url.clone(),
                    keys: RwLock::new((JwkSet { keys: Vec::new() }, None)),
                })
                .collect(),
            http,
        })
    }

    /// `GET|POST /api/auth/guest/refresh`: a session for the configured guest user.
    /// Blocking: it may create a signing key.
    pub fn guest_session(&self) -> Result<Value, Error> {
        let Some((guest, allowed)) = &self.guest else {
            return Err(Error::NotFound("Unknown auth provider 'guest'".into()));
        };
        if !*allowed {
            return Err(Error::NotAllowed(
                "The guest provider cannot be used outside of a development environment".into(),
            ));
        }
        let snapshot = self.readmodel.snapshot();
        let user: Option<Value> = snapshot
            .get_by_ref(&guest.user_entity_ref)
            .and_then(|d| serde_json::from_str(&d.json).ok());
        let identity = match &user {
            Some(u) => UserIdentity::of_user(&guest.user_entity_ref, u),
            None => not_in_catalog(guest),
        };
        let token = self.issue(&identity)?;
        Ok(json!({
            "profile": profile_of(user.as_ref()),
            "backstageIdentity": {
                "token": token,
                "expiresInSeconds": self.lifetime,
                "identity": {
                    "type": "user",
                    "userEntityRef": identity.user_entity_ref,
                    "ownershipEntityRefs": identity.ownership_entity_refs,
                },
            },
        }))
    }

    /// A signed user token for `identity`. Blocking: it may create a signing key.
    pub fn issue(&self, identity: &UserIdentity) -> Result<String, Error> {
        let key = self.signing_key()?;
        let iat = now();
        let exp = iat + self.lifetime;
        let sign = |header: &Value, payload: &Value| -> Result<String, Error> {
            let message = format!(
                "{}.{}",
                atob_safe(header.to_string()),
                atob_safe(payload.to_string())
            );
            let signature =
                jsonwebtoken::crypto::sign(message.as_bytes(), &key.key, Algorithm::ES256)
                    .map_err(|e| Error::Internal(format!("signing a user token: {e}")))?;
            Ok(format!("{message}.{signature}"))
        };
        // The user identity proof: the signature of the limited token (same subject and times),
        // which lets Backstage backends issue cookies from a user token.
        let limited = sign(
            &json!({"typ": LIMITED_USER_TOKEN, "alg": "ES256", "kid": key.kid}),
            &json!({"sub": identity.user_entity_ref, "iat": iat, "exp": exp}),
        )?;
        let uip = limited.rsplit('.').next().unwrap_or_default();
        sign(
            &json!({"typ": USER_TOKEN, "alg": "ES256", "kid": key.kid}),
            &json!({
                "iss": self.issuer,
                "sub": identity.user_entity_ref,
                "ent": identity.ownership_entity_refs,
                "aud": "backstage",
                "iat": iat,
                "exp": exp,
                "uip": uip,
            }),
        )
    }

    /// `GET /api/auth/.well-known/jwks.json`: the public keys of tokens that may still be valid.
    /// Blocking: it reads the keys other replicas made.
    pub fn jwks(&self) -> Result<Value, Error> {
        self.reload(true)?;
        let keys = self.keys.read();
        let since = now() - 3 * self.lifetime;
        let listed: Vec<&Value> = keys
            .published
            .iter()
            .filter(|(created, _)| *created >= since)
            .map(|(_, jwk)| jwk)
            .collect();
        Ok(json!({ "keys": listed }))
    }

    /// `GET /api/auth/.well-known/openid-configuration`.
    pub fn openid_configuration(&self) -> Value {
        let base = &self.issuer;
        json!({
            "issuer": base,
            "token_endpoint": format!("{base}/v1/token"),
            "userinfo_endpoint": format!("{base}/v1/userinfo"),
            "jwks_uri": format!("{base}/.well-known/jwks.json"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid"],
            "token_endpoint_auth_methods_supported": [],
            "claims_supported": ["sub", "ent"],
            "grant_types_supported": [],
        })
    }

    /// Whether a bearer token is a JWT (three dot-separated parts) rather than a static token.
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
    }

    /// The identity a user token proves: its signature (Cairn's keys or a configured issuer's),
    /// its expiry and its type are checked, and its subject must be a user in the catalog (or the
    /// enabled guest). Anything else is an `AuthenticationError`.
    pub async fn verify(self: &Arc<Self>, token: &str) -> Result<UserIdentity, Error> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("Illegal token"))?;
        match header.typ.as_deref() {
            Some(USER_TOKEN) | None => {}
            Some(LIMITED_USER_TOKEN) => return Err(unauthenticated("Illegal limited user token")),
            Some(_) => return Err(unauthenticated("Illegal token")),
        }
        let kid = header.kid.clone().ok_or_else(failed_verification)?;
        let (key, issuer) = self.key_for(&kid).await?;
        let claims = check(token, &header, &key)?;
        if let Some(issuer) = issuer {
            if claims.iss.as_deref() != Some(issuer.as_str()) {
                return Err(failed_verification());
            }
        }
        let sub = claims
            .sub
            .ok_or_else(|| unauthenticated("No user sub found in token"))?;
        self.known_user(&sub)
    }

    /// The identity of `sub` as the catalog knows it now (memberships may have changed since
    /// the token was issued).
    fn known_user(&self, sub: &str) -> Result<UserIdentity, Error> {
        let user_ref = EntityRef::parse(sub, Some("user"), "default")
            .map_err(|_| failed_verification())?
            .canonical();
        if let Some(doc) = self.readmodel.snapshot().get_by_ref(&user_ref) {
            if doc.kind.eq_ignore_ascii_case("user") {
                let user: Value =
                    serde_json::from_str(&doc.json).map_err(|_| failed_verification())?;
                return Ok(UserIdentity::of_user(&user_ref, &user));
            }
        }
        match &self.guest {
            Some((g, true)) if g.user_entity_ref == user_ref => Ok(not_in_catalog(g)),
            _ => Err(unauthenticated(&format!(
                "Failed user token verification: {user_ref} is not a user in the catalog"
            ))),
        }
    }

    /// The key a `kid` names, and the issuer the token must then carry (for external keys).
    async fn key_for(
        self: &Arc<Self>,
        kid: &str,
    ) -> Result<(Arc<DecodingKey>, Option<String>), Error> {
        if let Some(k) = self.keys.read().verifying.get(kid) {
            return Ok((k.clone(), None));
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.reload(false))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        if let Some(k) = self.keys.read().verifying.get(kid) {
            return Ok((k.clone(), None));
        }
        for external in &self.external {
            if let Some(key) = self.external_key(external, kid).await? {
                return Ok((Arc::new(key), Some(external.issuer.clone())));
            }
        }
        Err(failed_verification())
    }

    async fn external_key(
        &self,
        external: &External,
        kid: &str,
    ) -> Result<Option<DecodingKey>, Error> {
        let find = |set: &JwkSet| set.find(kid).map(DecodingKey::from_jwk);
        let stale = {
            let cached = external.keys.read();
            if let Some(found) = find(&cached.0) {
                return found.map(Some).map_err(|_| failed_verification());
            }
            cached.1.is_none_or(|at| at.elapsed() >= REFETCH_EVERY)
        };
        if !stale {
            return Ok(None);
        }
        let fetched = async {
            self.http
                .get(&external.jwks_url)
                .send()
                .await?
                .error_for_status()?
                .json::<JwkSet>()
                .await
        }
        .await;
        let mut cached = external.keys.write();
        cached.1 = Some(Instant::now());
        match fetched {
            Ok(set) => cached.0 = set,
            Err(e) => {
                tracing::warn!(jwks = %external.jwks_url, error = %e, "could not fetch the JWKS of an external issuer")
            }
        }
        find(&cached.0)
            .transpose()
            .map_err(|_| failed_verification())
    }

    /// Reads the keys from the store (at most once a second unless `force`).
    fn reload(&self, force: bool) -> Result<(), Error> {
        if !force
            && self
                .keys
                .read()
                .loaded
                .is_some_and(|at| at.elapsed() < RELOAD_EVERY)
        {
            return Ok(());
        }
        let stored = self.store.keys_since(now() - 3 * self.lifetime)?;
        let mut keys = Keys {
            loaded: Some(Instant::now()),
            ..Keys::default()
        };
        for k in stored {
            let Ok(jwk) = serde_json::from_str::<Value>(&k.public_jwk) else {
                continue;
            };
            let Ok(parsed) = serde_json::from_value::<Jwk>(jwk.clone()) else {
                continue;
            };
            let Ok(decoding) = DecodingKey::from_jwk(&parsed) else {
                continue;
            };
            keys.verifying.insert(k.kid.clone(), Arc::new(decoding));
            if keys.signing.is_none() && k.created_at + self.lifetime > now() {
                if let Ok(der) = STANDARD.decode(&k.private_key) {
                    keys.signing = Some(Arc::new(SigningKey {
                        kid: k.kid.clone(),
                        key: EncodingKey::from_ec_der(&der),
                        created_at: k.created_at,
                    }));
                }
            }
            keys.published.push((k.created_at, jwk));
        }
        *self.keys.write() = keys;
        Ok(())
    }

    /// The key new tokens are signed with: the newest one younger than a token lifetime, made
    /// (and stored for the other replicas) when there is none.
    fn signing_key(&self) -> Result<Arc<SigningKey>, Error> {
        let fresh = |k: &Option<Arc<SigningKey>>| {
            k.as_ref()
                .filter(|k| k.created_at + self.lifetime > now())
                .cloned()
        };
        if let Some(k) = fresh(&self.keys.read().signing) {
            return Ok(k);
        }
        let _creating = self.creating.lock();
        self.reload(true)?;
        if let Some(k) = fresh(&self.keys.read().signing) {
            return Ok(k);
        }
        let stored = new_key()?;
        self.store.insert_key(&stored)?;
        self.reload(true)?;
        fresh(&self.keys.read().signing)
            .ok_or_else(|| Error::Internal("a new signing key could not be read back".into()))
    }
}

/// The guest's identity when its user is not in the catalog: the configured ownership refs, or
/// the user alone (as Backstage's guest provider).
fn not_in_catalog(guest: &GuestProvider) -> UserIdentity {
    let refs = if guest.ownership_entity_refs.is_empty() {
        vec![guest.user_entity_ref.clone()]
    } else {
        guest.ownership_entity_refs.clone()
    };
    UserIdentity {
        user_entity_ref: guest.user_entity_ref.clone(),
        ownership_entity_refs: refs,
    }
}

/// Checks the signature, expiry and audience of a token whose key is known.
fn check(token: &str, header: &Header, key: &DecodingKey) -> Result<Claims, Error> {
    let mut validation = Validation::new(header.alg);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iat", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map_err(|_| failed_verification())?
        .claims;
    // Tokens without a type are legacy ones: only their audience says they are user tokens.
    let audience_ok = match &claims.aud {
        Some(Value::String(a)) => a == "backstage",
        Some(Value::Array(a)) => a.iter().any(|a| a == "backstage"),
        _ => header.typ.is_some(),
    };
    if !audience_ok {
        return Err(failed_verification());
    }
    Ok(claims)
}

/// A new P-256 key with its public JWK.
fn new_key() -> Result<StoredKey, Error> {
    let rng = SystemRandom::new();
    let internal =
        |e: &dyn std::fmt::Display| Error::Internal(format!("creating a signing key: {e}"));
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|e| internal(&e))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|e| internal(&e))?;
    // An uncompressed point: 0x04, then x and y (32 bytes each).
    let point = pair.public_key().as_ref();
    let kid = uuid::Uuid::new_v4().to_string();
    let jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        "kid": kid,
        "alg": "ES256",
        "use": "sig",
    });
    Ok(StoredKey {
        kid,
        private_key: STANDARD.encode(pkcs8.as_ref()),
        public_jwk: jwk.to_string(),
        created_at: now(),
    })
}

/// Base64url of a JSON text that has no `-` or `_`: Backstage's frontend reads a token's payload
/// with `atob`, which refuses those two. In base64 they come only from bytes above 0x7F and from
/// `>`, `?`, `~` and DEL; those characters can only sit inside JSON strings, where their
/// `\uXXXX` escapes mean the same.
fn atob_safe(json: String) -> String {
    let mut text = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() && !matches!(c, '>' | '?' | '~' | '\u{7f}') {
            text.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                text.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_parts_avoid_the_characters_atob_refuses() {
        // Unescaped, `?`, `>`, `~` and non-ASCII letters encode to `_` and `-` here.
        for text in [
            r#"{"a":"??>>~~"}"#,
            r#"{"sub":"user:default/a?b"}"#,
            r#"{"x":">>>","y":"Chloé Dubois ✓ 𝄞"}"#,
        ] {
            let encoded = atob_safe(text.to_string());
            assert!(!encoded.contains(['-', '_']), "{encoded}");
            let decoded = URL_SAFE_NO_PAD.decode(encoded).unwrap();
            let value: Value = serde_json::from_slice(&decoded).unwrap();
            assert_eq!(value, serde_json::from_str::<Value>(text).unwrap());
        }
    }
}
