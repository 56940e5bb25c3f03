//! Locations registered through the API, each write with its audit record.

use diesel::prelude::*;

use super::schema::locations;
use super::{Db, Result};
use crate::model::audit::Actor;

/// A location registered through the API.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = locations)]
pub struct LocationRow {
    pub id: String,
    pub loc_type: String,
    pub target: String,
    pub created_at: i64,
}

impl Db {
    /// Location writes, with their audit record in the same transaction.
    pub fn insert_location(&self, row: &LocationRow, actor: &Actor) -> Result<()> {
        let audit = [crate::model::audit::Entry::new(
            actor,
            "location.registered",
            None,
            serde_json::json!({"id": row.id, "type": row.loc_type, "target": row.target}),
        )];
        audited!(self, conn, _done => {
            diesel::insert_into(locations::table).values(row).execute(conn)?;
        }, &audit)
    }

    pub fn update_location(
        &self,
        id: &str,
        loc_type: &str,
        target: &str,
        actor: &Actor,
    ) -> Result<()> {
        let audit = [crate::model::audit::Entry::new(
            actor,
            "location.updated",
            None,
            serde_json::json!({"id": id, "type": loc_type, "target": target}),
        )];
        audited!(self, conn, _done => {
            diesel::update(locations::table.filter(locations::id.eq(id)))
                .set((locations::loc_type.eq(loc_type), locations::target.eq(target)))
                .execute(conn)?;
        }, &audit)
    }

    pub fn delete_location(&self, id: &str, actor: &Actor) -> Result<bool> {
        let audit = [crate::model::audit::Entry::new(
            actor,
            "location.removed",
            None,
            serde_json::json!({"id": id}),
        )];
        let n = audited!(self, conn, n => {
            diesel::delete(locations::table.filter(locations::id.eq(id))).execute(conn)?
        }, if n > 0 { &audit[..] } else { &[] })?;
        Ok(n > 0)
    }

    pub fn list_locations(&self) -> Result<Vec<LocationRow>> {
        with_conn!(self, conn => {
            Ok(locations::table
                .select(LocationRow::as_select())
                .order(locations::created_at.asc())
                .load(conn)?)
        })
    }
}
