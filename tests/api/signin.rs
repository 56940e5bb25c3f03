//! Sign-in as a Backstage frontend does it: the guest provider's session, its user token as a
//! bearer on every API, the JWKS that verifies it, and user tokens from another Backstage's auth
//! backend. A token that is not valid is refused, never treated as a guest.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{spawn_with, Options, TestApp, BASIC_CATALOG};

/// Writes need a token; the guest provider signs in as `jdoe` (a catalog user in `team-a`).
const GUEST_AS_JDOE: &str = "backend:\n  auth:\n    dangerouslyDisableDefaultAuthPolicy: false\nauth:\n  environment: development\n  providers:\n    guest:\n      userEntityRef: jdoe\n";

async fn guest_app() -> TestApp {
    spawn_with(
        &[("all.yaml", BASIC_CATALOG)],
        Options {
            extra_config: GUEST_AS_JDOE.into(),
            ..Default::default()
        },
    )
    .await
}

async fn refresh(app: &TestApp) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}/api/auth/guest/refresh", app.url))
        .header("x-requested-with", "XMLHttpRequest")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// A GET with a bearer token: (status, body).
async fn get_as(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}{path}", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn payload_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    // The frontend reads it with `atob`, which knows only the standard alphabet.
    assert!(!part.contains(['-', '_']), "not readable by atob: {part}");
    let padded = format!("{part}{}", "=".repeat((4 - part.len() % 4) % 4));
    serde_json::from_slice(&STANDARD.decode(padded).unwrap()).unwrap()
}

#[tokio::test]
async fn a_guest_signs_in_and_its_token_is_a_verifiable_backstage_user_token() {
    let app = guest_app().await;
    let (status, session) = refresh(&app).await;
    assert_eq!(status, 200, "{session}");
    let identity = &session["backstageIdentity"]["identity"];
    assert_eq!(
        identity,
        &json!({
            "type": "user",
            "userEntityRef": "user:default/jdoe",
            "ownershipEntityRefs": ["user:default/jdoe", "group:default/team-a"],
        })
    );
    assert_eq!(session["backstageIdentity"]["expiresInSeconds"], 3600);
    assert!(session["profile"].is_object());
    let token = session["backstageIdentity"]["token"].as_str().unwrap();

    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("vnd.backstage.user"));
    assert_eq!(header.alg, Algorithm::ES256);
    let claims = payload_of(token);
    assert_eq!(claims["sub"], "user:default/jdoe");
    assert_eq!(claims["aud"], "backstage");
    assert_eq!(claims["iss"], format!("http://127.0.0.1:7007/api/auth"));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );

    // Anyone holding the published keys can verify it, as a Node Backstage backend would.
    let (status, jwks) = get_as(&app, "", "/api/auth/.well-known/jwks.json").await;
    assert_eq!(status, 200);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid listed");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["backstage"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("signature verifies against the JWKS");

    // A second sign-in is signed by the same key.
    let (_, again) = refresh(&app).await;
    let again = again["backstageIdentity"]["token"].as_str().unwrap();
    assert_eq!(jsonwebtoken::decode_header(again).unwrap().kid, header.kid);

    let (status, info) = get_as(&app, token, "/api/auth/v1/userinfo").await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["claims"]["sub"], "user:default/jdoe");
    assert_eq!(info["claims"]["ent"][1], "group:default/team-a");
}

#[tokio::test]
async fn a_user_token_writes_and_a_bad_one_is_refused_everywhere() {
    let app = guest_app().await;
    let (_, session) = refresh(&app).await;
    let token = session["backstageIdentity"]["token"].as_str().unwrap();
    let refresh_url = format!("{}/api/catalog/refresh", app.url);
    let body = json!({"entityRef": "component:default/legacy"});
    let post = |auth: Option<String>| {
        let mut r = app.client.post(&refresh_url).json(&body);
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        r.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    let r = post(Some(token.to_string())).await.unwrap();
    assert_eq!(r.status(), 200, "a signed-in user may refresh");

    // Tampered: the subject changed, the signature kept.
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut claims = payload_of(token);
    claims["sub"] = json!("user:default/admin");
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = parts.join(".");
    // Unsigned: `alg: none`.
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"vnd.backstage.user"}"#),
        parts[1]
    );
    // Signed by a key Cairn does not know, under Cairn's own key id.
    let kid = jsonwebtoken::decode_header(token).unwrap().kid;
    let (foreign, _) = new_key();
    let forged = sign(&foreign, kid.as_deref(), &claims);
    for bad in [&tampered, &unsigned, &forged, &"not-a-token".to_string()] {
        let r = post(Some(bad.clone())).await.unwrap();
        assert_eq!(r.status(), 401, "write with {bad}");
        // Reads are open, but a token that is given must be valid.
        let (status, v) = get_as(&app, bad, "/api/catalog/entities").await;
        assert_eq!(status, 401, "read with {bad}: {v}");
        assert_eq!(v["error"]["name"], "AuthenticationError");
        assert_eq!(v["response"]["statusCode"], 401);
    }
    let (status, _) = get_as(&app, &tampered, "/api/auth/v1/userinfo").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_guest_is_off_outside_development_and_when_not_configured() {
    let production = "auth:\n  providers:\n    guest: {}\n";
    let app = spawn_with(
        &[("all.yaml", BASIC_CATALOG)],
        Options {
            extra_config: production.into(),
            ..Default::default()
        },
    )
    .await;
    let (status, v) = refresh(&app).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["name"], "NotAllowedError");

    let none = spawn_with(&[("all.yaml", BASIC_CATALOG)], Options::default()).await;
    let (status, _) = refresh(&none).await;
    assert_eq!(status, 404);
}

/// A P-256 key: its PKCS#8 DER and public JWK.
fn new_key() -> (Vec<u8>, Value) {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "node-key-1",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    (pkcs8.as_ref().to_vec(), jwk)
}

fn sign(der: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(String::from);
    header.typ = Some("vnd.backstage.user".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(der)).unwrap()
}

/// Serves one JSON document to every request, as a Node Backstage serves its JWKS.
async fn serve_json(doc: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let body = doc.to_string();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn user_tokens_of_a_node_backstage_are_accepted_through_its_jwks() {
    let (der, jwk) = new_key();
    let jwks = serve_json(json!({"keys": [jwk]})).await;
    let issuer = "http://backstage.example:7007/api/auth";
    let config = format!(
        "backend:\n  auth:\n    dangerouslyDisableDefaultAuthPolicy: false\nauth:\n  externalIssuers:\n    - issuer: {issuer}\n      jwksUrl: {jwks}/api/auth/.well-known/jwks.json\n"
    );
    let app = spawn_with(
        &[("all.yaml", BASIC_CATALOG)],
        Options {
            extra_config: config,
            ..Default::default()
        },
    )
    .await;
    let now = chrono::Utc::now().timestamp();
    let claims = |sub: &str, iss: &str, exp: i64| json!({"iss": iss, "sub": sub, "aud": "backstage", "iat": now - 10, "exp": exp});
    let valid = sign(
        &der,
        Some("node-key-1"),
        &claims("user:default/jdoe", issuer, now + 600),
    );
    let (status, info) = get_as(&app, &valid, "/api/auth/v1/userinfo").await;
    assert_eq!(status, 200, "{info}");
    // Ownership comes from Cairn's catalog (Backstage leaves `ent` out of new tokens).
    assert_eq!(
        info["claims"]["ent"],
        json!(["user:default/jdoe", "group:default/team-a"])
    );
    let r = app
        .client
        .post(format!("{}/api/catalog/refresh", app.url))
        .bearer_auth(&valid)
        .json(&json!({"entityRef": "component:default/legacy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let expired = sign(
        &der,
        Some("node-key-1"),
        &claims("user:default/jdoe", issuer, now - 1),
    );
    let unknown_user = sign(
        &der,
        Some("node-key-1"),
        &claims("user:default/nobody", issuer, now + 600),
    );
    let other_issuer = sign(
        &der,
        Some("node-key-1"),
        &claims("user:default/jdoe", "http://elsewhere/api/auth", now + 600),
    );
    let unknown_kid = sign(
        &der,
        Some("node-key-2"),
        &claims("user:default/jdoe", issuer, now + 600),
    );
    for (what, bad) in [
        ("expired", expired),
        ("unknown user", unknown_user),
        ("other issuer", other_issuer),
        ("unknown key", unknown_kid),
    ] {
        let (status, v) = get_as(&app, &bad, "/api/catalog/entities").await;
        assert_eq!(status, 401, "{what}: {v}");
        assert_eq!(v["error"]["name"], "AuthenticationError", "{what}");
    }
}
