//! Webhook cursors: the last change-feed event each webhook has delivered.

use diesel::prelude::*;

use super::schema::webhook_cursors;
use super::{Db, Result};

impl Db {
    pub fn webhook_cursor(&self, name: &str) -> Result<Option<i64>> {
        with_conn!(self, conn => {
            Ok(webhook_cursors::table
                .filter(webhook_cursors::name.eq(name))
                .select(webhook_cursors::last_id)
                .first(conn)
                .optional()?)
        })
    }

    pub fn set_webhook_cursor(&self, name: &str, last_id: i64) -> Result<()> {
        let now = chrono::Utc::now().timestamp_millis();
        with_conn!(self, conn => {
            diesel::insert_into(webhook_cursors::table)
                .values((
                    webhook_cursors::name.eq(name),
                    webhook_cursors::last_id.eq(last_id),
                    webhook_cursors::updated_at.eq(now),
                ))
                .on_conflict(webhook_cursors::name)
                .do_update()
                .set((
                    webhook_cursors::last_id.eq(last_id),
                    webhook_cursors::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        })
    }
}
