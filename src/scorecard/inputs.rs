//! What people and CI add to scorecards through the API, each write with its audit record:
//! pushed facts (a fact keeps the type of its first value), attestations and pushed results of
//! one check, and exemptions granted, listed and ended. History as it is read back.

use serde_json::{json, Map, Value};

use super::{CheckKind, Engine, ExemptEntities, Scorecard};
use crate::error::Error;
use crate::model::audit::{Actor, Entry};
use crate::model::validation::type_name;
use crate::storage::{CheckInputRow, ExemptionRow, PushedFactRow};

impl Engine {
    /// Stores facts pushed for an entity; a fact whose value changes type is refused, naming it.
    /// Returns how many were stored.
    pub fn push_facts(
        &self,
        entity_ref: &str,
        facts: &Map<String, Value>,
        actor: &Actor,
    ) -> Result<usize, Error> {
        if facts.is_empty() {
            return Err(Error::Input(
                "request/body/facts must be a non-empty object".into(),
            ));
        }
        let existing = self.db().load_pushed_facts()?;
        let now = chrono::Utc::now().timestamp();
        let mut rows = Vec::new();
        for (name, value) in facts {
            let before = existing
                .iter()
                .filter(|f| &f.name == name)
                .map(|f| serde_json::from_str::<Value>(&f.value_json).unwrap_or(Value::Null))
                .find(|v| !v.is_null());
            if let Some(before) = before {
                if type_name(&before) != type_name(value) && !value.is_null() {
                    return Err(Error::Input(format!(
                        "facts.{name}: is a {}, got a {}",
                        type_name(&before),
                        type_name(value)
                    )));
                }
            }
            rows.push(PushedFactRow {
                entity_ref: entity_ref.to_string(),
                name: name.clone(),
                value_json: value.to_string(),
                at: now,
            });
        }
        let audit = [Entry::new(
            actor,
            "fact.pushed",
            Some(entity_ref),
            json!({ "facts": facts }),
        )];
        self.db().push_facts(&rows, &audit)?;
        Ok(rows.len())
    }

    /// Records an attestation (`attested`) or a pushed result of one check for one entity.
    /// `text` is the justification (required for an attestation) or the details.
    #[allow(clippy::too_many_arguments)]
    pub fn record_check_input(
        &self,
        card: &Scorecard,
        check_id: &str,
        entity_ref: &str,
        result: Option<&str>,
        text: Option<&str>,
        attested: bool,
        actor: &Actor,
    ) -> Result<Value, Error> {
        let check = card
            .checks
            .iter()
            .find(|c| c.id == check_id)
            .ok_or_else(|| {
                Error::NotFound(format!("No check {check_id} in {}", card.entity_ref))
            })?;
        match (&check.kind, attested) {
            (CheckKind::Attested { .. }, true) | (CheckKind::Pushed, false) => {}
            _ => {
                let wanted = if attested { "attested" } else { "pushed" };
                return Err(Error::Input(format!(
                    "check {check_id} is not a {wanted} check"
                )));
            }
        }
        let result = match result {
            Some(r @ ("pass" | "fail")) => r,
            _ => {
                return Err(Error::Input(
                    "request/body/result must be pass or fail".into(),
                ))
            }
        };
        let justification = text.unwrap_or_default().trim();
        if attested && justification.is_empty() {
            return Err(Error::Input(
                "request/body/justification is required for an attestation".into(),
            ));
        }
        let row = CheckInputRow::now(
            &card.entity_ref,
            entity_ref,
            check_id,
            result,
            justification,
            actor,
        );
        let audit = [Entry::new(
            actor,
            if attested {
                "check.attested"
            } else {
                "check.result-pushed"
            },
            Some(entity_ref),
            json!({"scorecard": row.scorecard, "check": row.check_id, "result": row.result, "justification": row.justification}),
        )];
        self.db().save_check_input(&row, &audit)?;
        Ok(json!({
            "scorecard": row.scorecard, "entityRef": row.entity_ref, "checkId": row.check_id,
            "result": row.result, "justification": row.justification, "author": row.author, "at": row.at,
        }))
    }

    /// A scorecard's exemptions: those written in it (unless granted through the API too) and
    /// those granted through the API, each with whether it has expired.
    pub fn exemptions_of(&self, card: &Scorecard) -> Result<Vec<Value>, Error> {
        let today = chrono::Utc::now().date_naive();
        let granted = self.db().load_exemptions()?;
        let mut items: Vec<Value> = Vec::new();
        for e in &card.exemptions {
            if granted.iter().any(|g| {
                g.scorecard == card.entity_ref
                    && matches!(&e.entity, ExemptEntities::Ref(r) if *r == g.entity_ref)
                    && g.checks() == e.checks
                    && g.reason == e.reason
            }) {
                continue;
            }
            let mut item = json!({"source": "scorecard", "checks": e.checks, "reason": e.reason, "approver": e.approver, "expires": e.expires.to_string(), "expired": e.expires < today});
            match &e.entity {
                ExemptEntities::Ref(r) => item["entityRef"] = json!(r),
                ExemptEntities::Filter(_, written) => item["filter"] = written.clone(),
            }
            items.push(item);
        }
        for g in granted.iter().filter(|g| g.scorecard == card.entity_ref) {
            let expired = g.expires_on().is_none_or(|d| d < today);
            let mut v = granted_view(g);
            v["source"] = json!("api");
            v["expired"] = json!(expired);
            items.push(v);
        }
        Ok(items)
    }

    /// Grants an exemption of some checks of `card` for one entity until `expires`
    /// (`YYYY-MM-DD`, not in the past). The approver defaults to the actor.
    #[allow(clippy::too_many_arguments)]
    pub fn grant_exemption(
        &self,
        card: &Scorecard,
        entity_ref: &str,
        checks: Option<Vec<String>>,
        reason: Option<String>,
        expires: Option<String>,
        approver: Option<String>,
        actor: &Actor,
    ) -> Result<Value, Error> {
        let checks = checks.filter(|c| !c.is_empty()).ok_or_else(|| {
            Error::Input("request/body/checks must be a non-empty list of check ids".into())
        })?;
        if let Some(unknown) = checks
            .iter()
            .find(|c| !card.checks.iter().any(|x| &x.id == *c))
        {
            return Err(Error::Input(format!(
                "checks: {unknown} is not a check of {}",
                card.entity_ref
            )));
        }
        let reason =
            reason.ok_or_else(|| Error::Input("request/body/reason is required".into()))?;
        let expires = expires
            .ok_or_else(|| Error::Input("request/body/expires is required (YYYY-MM-DD)".into()))?;
        let date = chrono::NaiveDate::parse_from_str(&expires, "%Y-%m-%d")
            .map_err(|_| Error::Input("request/body/expires must be a date (YYYY-MM-DD)".into()))?;
        if date < chrono::Utc::now().date_naive() {
            return Err(Error::Input(format!("expires: {expires} is in the past")));
        }
        let row = ExemptionRow {
            id: uuid::Uuid::new_v4().to_string(),
            scorecard: card.entity_ref.clone(),
            entity_ref: entity_ref.to_string(),
            checks_json: json!(checks).to_string(),
            reason,
            approver: approver.unwrap_or_else(|| actor.as_str().to_string()),
            expires,
            created_by: actor.as_str().to_string(),
            created_at: chrono::Utc::now().timestamp(),
        };
        let audit = [Entry::new(
            actor,
            "exemption.granted",
            Some(entity_ref),
            json!({"scorecard": row.scorecard, "id": row.id, "checks": checks, "reason": row.reason, "approver": row.approver, "expires": row.expires}),
        )];
        self.db().insert_exemption(&row, &audit)?;
        Ok(granted_view(&row))
    }

    /// Ends an exemption granted through the API now.
    pub fn end_exemption(&self, card: &Scorecard, id: &str, actor: &Actor) -> Result<(), Error> {
        let audit = [Entry::new(
            actor,
            "exemption.ended",
            None,
            json!({"scorecard": card.entity_ref, "id": id}),
        )];
        if !self.db().delete_exemption(&card.entity_ref, id, &audit)? {
            return Err(Error::NotFound(
                "No such exemption granted through the API".into(),
            ));
        }
        Ok(())
    }

    /// Each change of a scorecard's results, optionally for one entity, oldest first.
    pub fn history_of(
        &self,
        card: &Scorecard,
        entity_ref: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        Ok(self
            .db()
            .history(entity_ref, Some(&card.entity_ref))?
            .iter()
            .map(|r| {
                json!({
                    "entityRef": r.entity_ref,
                    "level": r.level,
                    "checks": r.statuses(),
                    "left": r.checks.is_empty(),
                    "at": chrono::DateTime::from_timestamp(r.at, 0).map(|t| t.to_rfc3339()),
                })
            })
            .collect())
    }
}

/// An exemption granted through the API, as its endpoints show it.
fn granted_view(g: &ExemptionRow) -> Value {
    json!({
        "id": g.id, "scorecard": g.scorecard, "entityRef": g.entity_ref, "checks": g.checks(),
        "reason": g.reason, "approver": g.approver, "expires": g.expires,
        "createdBy": g.created_by, "createdAt": g.created_at,
    })
}
