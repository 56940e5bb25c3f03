//! The audit trail: every change Cairn makes or accepts, appended as a hash chain. Each record's
//! hash covers its id, time, actor, action, entity and details and the previous record's hash, so
//! editing, deleting or reordering any row breaks the chain from that row on.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A record to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Milliseconds since the epoch.
    pub at: i64,
    /// Who: a token's subject, `cairn` for the catalog's own processing, a commit author.
    pub actor: String,
    /// What, as `noun.verb`: `entity.created`, `location.registered`, `scorecard.result-changed`…
    pub action: String,
    pub entity_ref: Option<String>,
    pub details: Value,
}

impl Entry {
    pub fn new(actor: &Actor, action: &str, entity_ref: Option<&str>, details: Value) -> Entry {
        Entry {
            at: chrono::Utc::now().timestamp_millis(),
            actor: actor.0.clone(),
            action: action.to_string(),
            entity_ref: entity_ref.map(str::to_owned),
            details,
        }
    }
}

/// The hash of a record, chained to the previous one. Fields are length-prefixed, so no two
/// different records hash the same text.
pub fn chain(
    prev_hash: &str,
    id: i64,
    at: i64,
    actor: &str,
    action: &str,
    entity_ref: Option<&str>,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev_hash,
        &id.to_string(),
        &at.to_string(),
        actor,
        action,
        entity_ref.unwrap_or("\u{0}"),
        details,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// A stored record, as read back.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub entity_ref: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Broken {
    pub id: i64,
    pub reason: String,
}

/// Checks records that follow `(last_id, last_hash)`; returns the new tail or the first break.
pub fn verify_page(mut last: (i64, String), records: &[Record]) -> Result<(i64, String), Broken> {
    for r in records {
        if r.id != last.0 + 1 {
            return Err(Broken {
                id: r.id,
                reason: format!(
                    "record {} is missing (the chain jumps from {} to {})",
                    last.0 + 1,
                    last.0,
                    r.id
                ),
            });
        }
        if r.prev_hash != last.1 {
            return Err(Broken {
                id: r.id,
                reason: "its previous-hash does not match the record before it".into(),
            });
        }
        let expected = chain(
            &r.prev_hash,
            r.id,
            r.at,
            &r.actor,
            &r.action,
            r.entity_ref.as_deref(),
            &r.details,
        );
        if r.hash != expected {
            return Err(Broken {
                id: r.id,
                reason: "its content does not match its hash (the row was changed)".into(),
            });
        }
        last = (r.id, r.hash.clone());
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: i64, prev: &str, actor: &str) -> Record {
        let hash = chain(
            prev,
            id,
            1,
            actor,
            "entity.created",
            Some("component:default/a"),
            "{}",
        );
        Record {
            id,
            at: 1,
            actor: actor.into(),
            action: "entity.created".into(),
            entity_ref: Some("component:default/a".into()),
            details: "{}".into(),
            prev_hash: prev.into(),
            hash,
        }
    }

    #[test]
    fn a_changed_missing_or_relinked_record_breaks_the_chain_there() {
        let a = record(1, GENESIS, "x");
        let b = record(2, &a.hash, "y");
        let c = record(3, &b.hash, "z");
        let start = (0, GENESIS.to_string());
        assert!(verify_page(start.clone(), &[a.clone(), b.clone(), c.clone()]).is_ok());
        let mut edited = b.clone();
        edited.actor = "mallory".into();
        assert_eq!(
            verify_page(start.clone(), &[a.clone(), edited, c.clone()])
                .unwrap_err()
                .id,
            2
        );
        assert_eq!(
            verify_page(start.clone(), &[a.clone(), c.clone()])
                .unwrap_err()
                .id,
            3
        );
        let forged = record(2, &a.hash, "mallory");
        assert_eq!(verify_page(start, &[a, forged, c]).unwrap_err().id, 3);
    }
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub ok: bool,
    pub records: i64,
    pub last_hash: String,
    pub first_broken: Option<Broken>,
}

/// Who a write is by, as the audit trail records it: a token's subject, `cli:<user>`, or `cairn`
/// for the catalog's own processing. Passed explicitly to every write that audits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    pub fn new(who: impl Into<String>) -> Actor {
        Actor(who.into())
    }

    /// The catalog's own processing: crawls, schedules, file watches.
    pub fn cairn() -> Actor {
        Actor("cairn".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
