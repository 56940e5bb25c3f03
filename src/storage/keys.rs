//! Signing keys of Backstage user tokens: written once by the replica that creates one, read by
//! every replica that verifies a token or serves the JWKS.

use diesel::prelude::*;

use super::schema::signing_keys;
use super::{Db, Result};
use crate::model::identity::StoredKey;

#[derive(Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
struct SigningKeyRow {
    kid: String,
    private_key: String,
    public_jwk: String,
    created_at: i64,
}

impl Db {
    /// The keys created at or after `since` (unix seconds), newest first.
    pub fn signing_keys_since(&self, since: i64) -> Result<Vec<StoredKey>> {
        let rows: Vec<SigningKeyRow> = with_conn!(self, conn => {
            signing_keys::table
                .filter(signing_keys::created_at.ge(since))
                .order(signing_keys::created_at.desc())
                .select(SigningKeyRow::as_select())
                .load(conn)?
        });
        Ok(rows
            .into_iter()
            .map(|r| StoredKey {
                kid: r.kid,
                private_key: r.private_key,
                public_jwk: r.public_jwk,
                created_at: r.created_at,
            })
            .collect())
    }

    pub fn insert_signing_key(&self, key: &StoredKey) -> Result<()> {
        with_conn!(self, conn => {
            diesel::insert_into(signing_keys::table)
                .values((
                    signing_keys::kid.eq(&key.kid),
                    signing_keys::private_key.eq(&key.private_key),
                    signing_keys::public_jwk.eq(&key.public_jwk),
                    signing_keys::created_at.eq(key.created_at),
                ))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Forgets keys created before `before`: no token they signed can still be valid.
    pub fn delete_signing_keys_before(&self, before: i64) -> Result<usize> {
        with_conn!(self, conn => {
            Ok(diesel::delete(signing_keys::table.filter(signing_keys::created_at.lt(before)))
                .execute(conn)?)
        })
    }
}
