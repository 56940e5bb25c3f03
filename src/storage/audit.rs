//! The audit trail as stored: appending inside a write's transaction (see `audited!`), reading,
//! and verifying the hash chain.

use std::collections::HashMap;

use diesel::prelude::*;

use super::schema::audit_log;
use super::{Db, Result};
use crate::model::audit::{verify_page, Report, GENESIS};

/// One audit record as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
// A `None` binds NULL instead of asking for the column's default: SQLite has no DEFAULT in a
// VALUES list, so diesel inserted such a batch one statement at a time, each prepared anew.
#[diesel(treat_none_as_default_value = false)]
pub(super) struct AuditRow {
    pub(super) id: i64,
    pub(super) at: i64,
    pub(super) actor: String,
    pub(super) action: String,
    pub(super) entity_ref: Option<String>,
    pub(super) details: String,
    pub(super) prev_hash: String,
    pub(super) hash: String,
}

impl From<AuditRow> for crate::model::audit::Record {
    fn from(r: AuditRow) -> Self {
        crate::model::audit::Record {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            entity_ref: r.entity_ref,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

impl Db {
    /// Appends entries to the audit trail, all or none.
    pub fn append_audit(&self, entries: &[crate::model::audit::Entry]) -> Result<()> {
        audited!(self, conn, _done => {}, entries)
    }

    /// For one action, the details of the latest record per entity.
    pub fn latest_audit_details(&self, action: &str) -> Result<Vec<(String, String)>> {
        with_conn!(self, conn => {
            let rows: Vec<(Option<String>, String)> = audit_log::table
                .filter(audit_log::action.eq(action))
                .order(audit_log::id.asc())
                .select((audit_log::entity_ref, audit_log::details))
                .load(conn)?;
            let mut latest: HashMap<String, String> = HashMap::new();
            for (e, d) in rows {
                if let Some(e) = e {
                    latest.insert(e, d);
                }
            }
            Ok(latest.into_iter().collect())
        })
    }

    /// Audit records after `after_id`, oldest first, optionally for one entity and a time range.
    pub fn audit_records(
        &self,
        after_id: i64,
        limit: i64,
        entity_ref: Option<&str>,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<crate::model::audit::Record>> {
        with_conn!(self, conn => {
            let mut q = audit_log::table
                .select(AuditRow::as_select())
                .filter(audit_log::id.gt(after_id))
                .order(audit_log::id.asc())
                .limit(limit)
                .into_boxed();
            if let Some(e) = entity_ref {
                q = q.filter(audit_log::entity_ref.eq(e.to_string()));
            }
            if let Some(f) = from {
                q = q.filter(audit_log::at.ge(f));
            }
            if let Some(t) = to {
                q = q.filter(audit_log::at.le(t));
            }
            Ok(q.load(conn)?.into_iter().map(Into::into).collect())
        })
    }

    /// The id of the newest audit record (0 when there is none).
    pub fn last_audit_id(&self) -> Result<i64> {
        with_conn!(self, conn => {
            let last: Option<i64> = audit_log::table
                .select(diesel::dsl::max(audit_log::id))
                .first(conn)?;
            Ok(last.unwrap_or(0))
        })
    }

    /// Recomputes the chain from the first record, in pages.
    pub fn verify_audit(&self) -> Result<Report> {
        let mut last = (0i64, GENESIS.to_string());
        let mut count = 0i64;
        loop {
            let page = self.audit_records(last.0, 20_000, None, None, None)?;
            if page.is_empty() {
                return Ok(Report {
                    ok: true,
                    records: count,
                    last_hash: last.1,
                    first_broken: None,
                });
            }
            match verify_page(last.clone(), &page) {
                Ok(tail) => {
                    count += page.len() as i64;
                    last = tail;
                }
                Err(b) => {
                    let checked = page.iter().take_while(|r| r.id < b.id).count() as i64;
                    return Ok(Report {
                        ok: false,
                        records: count + checked,
                        last_hash: last.1,
                        first_broken: Some(b),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::{Connection, RunQueryDsl};

    use crate::model::audit::{Actor, Entry};

    /// An append that starts while another connection writes waits for it; it used to read the
    /// chain's last hash first and then fail to upgrade to a writer ("database is locked"), so an
    /// agent's call was refused as unauditable.
    #[test]
    fn an_append_during_another_write_waits_instead_of_failing() {
        let (_dir, path, db) = super::super::temporary_sqlite();
        let entry = || {
            Entry::new(
                &Actor::new("aiagent:default/a".to_string()),
                "mcp.tools/call",
                None,
                serde_json::json!({}),
            )
        };
        db.append_audit(&[entry()]).unwrap();
        for _ in 0..5 {
            let (held, go) = std::sync::mpsc::channel();
            let p = path.clone();
            let writer = std::thread::spawn(move || {
                let mut conn = diesel::SqliteConnection::establish(&p).unwrap();
                diesel::sql_query("PRAGMA busy_timeout = 5000")
                    .execute(&mut conn)
                    .unwrap();
                conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
                    diesel::sql_query("INSERT INTO leases (name, holder, expires_at) VALUES ('x', 'y', 0) ON CONFLICT (name) DO UPDATE SET expires_at = expires_at + 1")
                        .execute(conn)?;
                    held.send(()).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(150));
                    Ok(())
                })
                .unwrap();
            });
            go.recv().unwrap();
            db.append_audit(&[entry()])
                .expect("the append waits for the other writer");
            writer.join().unwrap();
        }
        assert!(db.verify_audit().unwrap().ok);
    }
}
