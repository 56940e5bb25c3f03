//! Entities: the processed and final JSON of every entity, written in batches stamped with the
//! change sequence, and tombstones for the removed.

use std::collections::HashMap;

use diesel::prelude::*;

use super::schema::{deleted_entities, entities, repositories};
use super::{Db, Result};

/// One stored entity: the processing state plus the final, served JSON.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = entities)]
#[diesel(treat_none_as_default_value = false)]
pub struct EntityRow {
    pub entity_ref: String,
    pub uid: String,
    pub origin: String,
    pub location_key: String,
    pub parent_ref: Option<String>,
    /// The processed entity, or empty when it is `final_json` with the stitched members taken
    /// out (see `processing::splice`).
    pub raw_json: String,
    pub relations_json: String,
    pub errors_json: String,
    pub orphan: bool,
    pub final_json: String,
    pub etag: String,
    pub seq: i64,
}

/// What changed after a given sequence number.
#[derive(Debug, Default)]
pub struct Changes {
    pub upserted: Vec<(String, String, String, i64)>, // (ref, uid, final_json, seq)
    pub deleted: Vec<(String, i64)>,
    pub max_seq: i64,
}

/// Every column but the key, from the row an upsert tried to insert: each value is bound once.
macro_rules! replaced {
    ($($column:ident),*) => {
        ($(entities::$column.eq(diesel::upsert::excluded(entities::$column)),)*)
    };
}

impl Db {
    pub fn load_entities(&self) -> Result<Vec<EntityRow>> {
        with_conn!(self, conn => {
            Ok(entities::table.select(EntityRow::as_select()).load(conn)?)
        })
    }

    pub fn max_seq(&self) -> Result<i64> {
        with_conn!(self, conn => {
            let a: Option<i64> = entities::table.select(diesel::dsl::max(entities::seq)).first(conn)?;
            let b: Option<i64> = deleted_entities::table
                .select(diesel::dsl::max(deleted_entities::seq))
                .first(conn)?;
            Ok(a.unwrap_or(0).max(b.unwrap_or(0)))
        })
    }

    /// Writes one batch atomically: every row and tombstone carries the batch's change sequence
    /// number (the next in the change log, at least `floor`), and every entity created, changed
    /// or removed is appended to the audit trail in the same transaction (with the commit and
    /// author of its repository, when it came from one). Returns how many rows were written, and
    /// the sequence number.
    pub fn write_batch(
        &self,
        upserts: &mut dyn Iterator<Item = EntityRow>,
        deletes: &[String],
        floor: i64,
        actor: &crate::model::audit::Actor,
    ) -> Result<(usize, i64)> {
        let pg = self.is_postgres();
        let (written, _, seq) = audited!(self, conn, out => {
                let seq = next_change!(conn, pg, floor);
                // Entities are written in chunks (a large first ingest must not be held twice in
                // memory); each chunk first reads what it replaces, to tell creations from changes.
                let mut repos: HashMap<String, Option<(String, String)>> = HashMap::new();
                let mut audit = Vec::new();
                let mut entry = |conn: &mut _, action: &str, r: &str, origin: &str, etag: &str| -> std::result::Result<(), diesel::result::Error> {
                    if !repos.contains_key(origin) {
                        let found: Option<(String, String)> = repositories::table
                            .filter(repositories::origin.eq(origin))
                            .select((repositories::commit_id, repositories::author))
                            .first(conn)
                            .optional()?;
                        repos.insert(origin.to_string(), found);
                    }
                    let mut details = serde_json::json!({"origin": origin, "etag": etag, "sequence": seq});
                    let by = match &repos[origin] {
                        Some((commit, author)) => {
                            details["commit"] = serde_json::json!(commit);
                            details["author"] = serde_json::json!(author);
                            crate::model::audit::Actor::new(author.clone())
                        }
                        None => actor.clone(),
                    };
                    audit.push(crate::model::audit::Entry::new(&by, action, Some(r), details));
                    Ok(())
                };
                let mut written = deletes.len();
                let mut chunk: Vec<EntityRow> = Vec::with_capacity(500);
                let mut upserts = upserts.peekable();
                while upserts.peek().is_some() {
                    chunk.clear();
                    chunk.extend(upserts.by_ref().take(500));
                    let refs: Vec<&str> = chunk.iter().map(|r| r.entity_ref.as_str()).collect();
                    let before: HashMap<String, String> = entities::table
                        .filter(entities::entity_ref.eq_any(&refs))
                        .select((entities::entity_ref, entities::etag))
                        .load::<(String, String)>(conn)?
                        .into_iter()
                        .collect();
                    for row in chunk.iter_mut() {
                        row.seq = seq;
                        written += 1;
                        match before.get(&row.entity_ref) {
                            None => entry(conn, "entity.created", &row.entity_ref, &row.origin, &row.etag)?,
                            Some(etag) if *etag != row.etag => entry(conn, "entity.changed", &row.entity_ref, &row.origin, &row.etag)?,
                            Some(_) => {}
                        }
                        diesel::insert_into(entities::table)
                            .values(&*row)
                            .on_conflict(entities::entity_ref)
                            .do_update()
                            .set(replaced!(uid, origin, location_key, parent_ref, raw_json, relations_json, errors_json, orphan, final_json, etag, seq))
                            .execute(conn)?;
                    }
                }
                for r in deletes {
                    let gone: Option<(String, String)> = entities::table
                        .filter(entities::entity_ref.eq(r))
                        .select((entities::etag, entities::origin))
                        .first(conn)
                        .optional()?;
                    if let Some((etag, origin)) = gone {
                        entry(conn, "entity.removed", r, &origin, &etag)?;
                    }
                    diesel::delete(entities::table.filter(entities::entity_ref.eq(r))).execute(conn)?;
                    diesel::insert_into(deleted_entities::table)
                        .values((deleted_entities::entity_ref.eq(r), deleted_entities::seq.eq(seq)))
                        .on_conflict(deleted_entities::entity_ref)
                        .do_update()
                        .set(deleted_entities::seq.eq(seq))
                        .execute(conn)?;
                }
                if written > 0 {
                    record_change!(conn, pg, seq, super::ChangeKind::Entities, None);
                }
                (written, audit, seq)
        }, &out.1)?;
        Ok((written, seq))
    }

    /// The processed (unstitched) JSON of the given entities, as (ref, raw_json, final_json):
    /// `raw_json` is empty when processing can recover it from `final_json`.
    pub fn load_raw(&self, refs: &[String]) -> Result<Vec<(String, String, String)>> {
        let mut out = Vec::with_capacity(refs.len());
        for chunk in refs.chunks(500) {
            with_conn!(self, conn => {
                let rows: Vec<(String, String, String)> = entities::table
                    .filter(entities::entity_ref.eq_any(chunk))
                    .select((entities::entity_ref, entities::raw_json, entities::final_json))
                    .load(conn)?;
                out.extend(rows);
            })
        }
        Ok(out)
    }

    /// Everything that changed after `seq`, for read models.
    pub fn changes_since(&self, seq: i64) -> Result<Changes> {
        with_conn!(self, conn => {
            let upserted: Vec<(String, String, String, i64)> = entities::table
                .filter(entities::seq.gt(seq))
                .select((entities::entity_ref, entities::uid, entities::final_json, entities::seq))
                .load(conn)?;
            let deleted: Vec<(String, i64)> = deleted_entities::table
                .filter(deleted_entities::seq.gt(seq))
                .select((deleted_entities::entity_ref, deleted_entities::seq))
                .load(conn)?;
            let max_seq = upserted
                .iter()
                .map(|u| u.3)
                .chain(deleted.iter().map(|d| d.1))
                .max()
                .unwrap_or(seq);
            Ok(Changes { upserted, deleted, max_seq })
        })
    }
}
