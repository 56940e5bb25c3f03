//! Per-user settings of the frontend: a JSON value per (user, bucket, key).

use diesel::prelude::*;

use super::schema::user_settings as us;
use super::{Db, Result};

impl Db {
    pub fn user_setting(&self, user: &str, bucket: &str, key: &str) -> Result<Option<String>> {
        with_conn!(self, conn => {
            Ok(us::table
                .filter(us::user_ref.eq(user))
                .filter(us::bucket.eq(bucket))
                .filter(us::key.eq(key))
                .select(us::value)
                .first(conn)
                .optional()?)
        })
    }

    pub fn set_user_setting(&self, user: &str, bucket: &str, key: &str, value: &str) -> Result<()> {
        with_conn!(self, conn => {
            diesel::insert_into(us::table)
                .values((
                    us::user_ref.eq(user),
                    us::bucket.eq(bucket),
                    us::key.eq(key),
                    us::value.eq(value),
                ))
                .on_conflict((us::user_ref, us::bucket, us::key))
                .do_update()
                .set(us::value.eq(value))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Whether there was a value to delete.
    pub fn delete_user_setting(&self, user: &str, bucket: &str, key: &str) -> Result<bool> {
        with_conn!(self, conn => {
            Ok(diesel::delete(
                us::table
                    .filter(us::user_ref.eq(user))
                    .filter(us::bucket.eq(bucket))
                    .filter(us::key.eq(key)),
            )
            .execute(conn)?
                > 0)
        })
    }
}
