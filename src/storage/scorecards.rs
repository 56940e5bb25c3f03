//! Scorecard inputs and history: pushed facts, attestations and pushed results, exemptions, and
//! each change of a check's result.

use std::collections::HashMap;

use diesel::prelude::*;

use super::schema::{check_inputs, exemptions, pushed_facts, scorecard_history};
use super::{ChangeKind, Db, Result};

/// One change of a scorecard check's result.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = scorecard_history)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    #[serde(skip)]
    pub id: i64,
    pub scorecard: String,
    pub entity_ref: String,
    pub level: Option<String>,
    /// The checks whose status changed, `id=status;…`.
    pub checks: String,
    pub at: i64,
}

impl HistoryRow {
    /// The statuses recorded in this row, by check id.
    pub fn statuses(&self) -> HashMap<String, String> {
        self.checks
            .split(';')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = scorecard_history)]
// A `None` level binds NULL: asking for the default makes a statement of its own, never cached.
#[diesel(treat_none_as_default_value = false)]
pub struct NewHistoryRow {
    pub scorecard: String,
    pub entity_ref: String,
    pub level: Option<String>,
    pub checks: String,
    pub at: i64,
}

/// A fact pushed for an entity.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = pushed_facts)]
pub struct PushedFactRow {
    pub entity_ref: String,
    pub name: String,
    pub value_json: String,
    pub at: i64,
}

/// An attestation or a pushed result for one check of one entity.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = check_inputs)]
pub struct CheckInputRow {
    pub scorecard: String,
    pub entity_ref: String,
    pub check_id: String,
    pub result: String,
    pub justification: String,
    pub author: String,
    pub at: i64,
}

/// An exemption granted through the API.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = exemptions)]
pub struct ExemptionRow {
    pub id: String,
    pub scorecard: String,
    pub entity_ref: String,
    pub checks_json: String,
    pub reason: String,
    pub approver: String,
    pub expires: String,
    pub created_by: String,
    pub created_at: i64,
}

impl CheckInputRow {
    /// A result (`pass`/`fail`) recorded now by `actor` for one check of one entity.
    pub fn now(
        scorecard: &str,
        entity_ref: &str,
        check_id: &str,
        result: &str,
        justification: &str,
        actor: &crate::model::audit::Actor,
    ) -> CheckInputRow {
        CheckInputRow {
            scorecard: scorecard.to_string(),
            entity_ref: entity_ref.to_string(),
            check_id: check_id.to_string(),
            result: result.to_string(),
            justification: justification.to_string(),
            author: actor.as_str().to_string(),
            at: chrono::Utc::now().timestamp(),
        }
    }
}

impl ExemptionRow {
    pub fn checks(&self) -> Vec<String> {
        serde_json::from_str(&self.checks_json).unwrap_or_default()
    }

    /// The last day the exemption holds (`None` if the stored date does not parse: it holds
    /// on no day).
    pub fn expires_on(&self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::parse_from_str(&self.expires, "%Y-%m-%d").ok()
    }
}

impl Db {
    /// Appends history rows and, in the same transaction, their audit records.
    pub fn append_history(
        &self,
        rows: &[NewHistoryRow],
        audit: &[crate::model::audit::Entry],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let pg = self.is_postgres();
        audited!(self, conn, _done => {
            insert_rows!(conn, pg, scorecard_history::table, rows);
        }, audit)
    }

    /// History rows, oldest first; optionally for one entity and/or scorecard.
    pub fn history(
        &self,
        entity_ref: Option<&str>,
        scorecard: Option<&str>,
    ) -> Result<Vec<HistoryRow>> {
        with_conn!(self, conn => {
            let mut q = scorecard_history::table.select(HistoryRow::as_select()).order(scorecard_history::id.asc()).into_boxed();
            if let Some(e) = entity_ref {
                q = q.filter(scorecard_history::entity_ref.eq(e.to_string()));
            }
            if let Some(s) = scorecard {
                q = q.filter(scorecard_history::scorecard.eq(s.to_string()));
            }
            Ok(q.load(conn)?)
        })
    }

    pub fn push_facts(
        &self,
        rows: &[PushedFactRow],
        audit: &[crate::model::audit::Entry],
    ) -> Result<()> {
        let pg = self.is_postgres();
        audited!(self, conn, _done => {
            let mut logged: Option<&str> = None;
            for row in rows {
                // One change per entity written, not per fact.
                if logged != Some(row.entity_ref.as_str()) {
                    log_change!(conn, pg, ChangeKind::Facts, Some(row.entity_ref.as_str()));
                    logged = Some(row.entity_ref.as_str());
                }
                diesel::insert_into(pushed_facts::table)
                    .values(row)
                    .on_conflict((pushed_facts::entity_ref, pushed_facts::name))
                    .do_update()
                    .set(row)
                    .execute(conn)?;
            }
        }, audit)
    }

    /// The facts pushed for one entity, by name.
    pub fn pushed_facts_of(
        &self,
        entity_ref: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
        with_conn!(self, conn => {
            let rows: Vec<PushedFactRow> = pushed_facts::table
                .filter(pushed_facts::entity_ref.eq(entity_ref))
                .select(PushedFactRow::as_select())
                .load(conn)?;
            if rows.is_empty() {
                return Ok(None);
            }
            Ok(Some(rows.into_iter().map(|r| (r.name, serde_json::from_str(&r.value_json).unwrap_or(serde_json::Value::Null))).collect()))
        })
    }

    pub fn load_pushed_facts(&self) -> Result<Vec<PushedFactRow>> {
        with_conn!(self, conn => {
            Ok(pushed_facts::table.select(PushedFactRow::as_select()).load(conn)?)
        })
    }

    pub fn save_check_input(
        &self,
        row: &CheckInputRow,
        audit: &[crate::model::audit::Entry],
    ) -> Result<()> {
        let pg = self.is_postgres();
        audited!(self, conn, _done => {
            log_change!(conn, pg, ChangeKind::CheckInput, Some(row.entity_ref.as_str()));
            diesel::insert_into(check_inputs::table)
                .values(row)
                .on_conflict((check_inputs::scorecard, check_inputs::entity_ref, check_inputs::check_id))
                .do_update()
                .set(row)
                .execute(conn)?;
        }, audit)
    }

    pub fn load_check_inputs(&self) -> Result<Vec<CheckInputRow>> {
        with_conn!(self, conn => {
            Ok(check_inputs::table.select(CheckInputRow::as_select()).load(conn)?)
        })
    }

    pub fn insert_exemption(
        &self,
        row: &ExemptionRow,
        audit: &[crate::model::audit::Entry],
    ) -> Result<()> {
        let pg = self.is_postgres();
        audited!(self, conn, _done => {
            log_change!(conn, pg, ChangeKind::Exemption, Some(row.entity_ref.as_str()));
            diesel::insert_into(exemptions::table).values(row).execute(conn)?;
        }, audit)
    }

    /// Removes an API exemption; false if there was none with this id for the scorecard.
    pub fn delete_exemption(
        &self,
        scorecard: &str,
        id: &str,
        audit: &[crate::model::audit::Entry],
    ) -> Result<bool> {
        let pg = self.is_postgres();
        let n = audited!(self, conn, n => {
            let removed: Option<String> = exemptions::table
                .filter(exemptions::id.eq(id))
                .filter(exemptions::scorecard.eq(scorecard))
                .select(exemptions::entity_ref)
                .first(conn)
                .optional()?;
            match removed {
                Some(entity_ref) => {
                    log_change!(conn, pg, ChangeKind::Exemption, Some(entity_ref.as_str()));
                    diesel::delete(exemptions::table.filter(exemptions::id.eq(id))).execute(conn)?
                }
                None => 0,
            }
        }, if n > 0 { audit } else { &[] })?;
        Ok(n > 0)
    }

    pub fn load_exemptions(&self) -> Result<Vec<ExemptionRow>> {
        with_conn!(self, conn => {
            Ok(exemptions::table.select(ExemptionRow::as_select()).order(exemptions::created_at.asc()).load(conn)?)
        })
    }
}
