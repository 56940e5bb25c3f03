-- The keys Cairn signs Backstage user tokens with (ES256). Kept in the database so every replica
-- verifies a token any replica issued and a restart keeps signed-in users signed in; a key is
-- rotated out of signing after a while and out of the JWKS once no token it signed can be valid.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    -- PKCS#8 DER, base64.
    private_key TEXT NOT NULL,
    -- The public key as a JWK (JSON text).
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
