//! The change feed: entity, scorecard-result and classification changes as CloudEvents, read
//! from the audit trail. The trail is append-only, shared by every replica and written in the
//! same transaction as the change, so any replica serves the feed and a client resuming from the
//! last event id it saw (`Last-Event-ID`) misses nothing, across restarts.

use serde_json::{json, Value};

pub mod notifications;
pub mod user_settings;
pub mod webhooks;

use std::sync::Arc;

use crate::model::audit::Record;
use crate::model::EntityRef;
use crate::readmodel::filter::Predicate;
use crate::readmodel::{ReadModel, Snapshot};
use crate::storage::Db;

/// What a client follows: event types (`dev.cairn.entity.added`, …; all when empty), entity
/// kinds (all when empty) and an entity filter in the catalog's `filter=` syntax.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub types: Vec<String>,
    pub kinds: Vec<String>,
    pub entities: Option<Predicate>,
}

impl Filter {
    /// The entity filter is judged on the entity as the catalog serves it now; an entity that is
    /// gone is judged on its kind, namespace and name alone, which is all that is left of it.
    fn keeps(&self, event_type: &str, entity_ref: Option<&str>, snap: &Snapshot) -> bool {
        let kind = entity_ref
            .and_then(|r| r.split_once(':'))
            .map(|(k, _)| k.to_lowercase());
        let typed = self.types.is_empty() || self.types.iter().any(|t| t == event_type);
        let kinded = self.kinds.is_empty()
            || kind.is_some_and(|k| self.kinds.iter().any(|w| w.eq_ignore_ascii_case(&k)));
        typed
            && kinded
            && self
                .entities
                .as_ref()
                .is_none_or(|p| matches(p, entity_ref, snap))
    }
}

fn matches(p: &Predicate, entity_ref: Option<&str>, snap: &Snapshot) -> bool {
    let Some(r) = entity_ref else {
        return false;
    };
    if let Some(&doc) = snap.by_ref.get(r) {
        return p.matches_doc(snap, doc);
    }
    let Ok(r) = EntityRef::parse_full(r) else {
        return false;
    };
    p.matches_entity(&json!({
        "kind": r.kind,
        "metadata": {"namespace": r.namespace, "name": r.name},
    }))
}

/// The CloudEvents type and source of an audit action that belongs in the feed.
fn type_of(action: &str) -> Option<(&'static str, &'static str)> {
    Some(match action {
        "entity.created" => ("dev.cairn.entity.added", "/api/catalog"),
        "entity.changed" => ("dev.cairn.entity.changed", "/api/catalog"),
        "entity.removed" => ("dev.cairn.entity.removed", "/api/catalog"),
        "scorecard.result-changed" => ("dev.cairn.scorecard.changed", "/api/cairn/scorecards"),
        "classification.changed" => (
            "dev.cairn.classification.changed",
            "/api/cairn/compliance/ai-act",
        ),
        _ => return None,
    })
}

/// One audit record as a CloudEvent (JSON format, spec 1.0), or `None` when it is not a change
/// the feed carries.
pub fn cloud_event(r: &Record) -> Option<Value> {
    let (event_type, source) = type_of(&r.action)?;
    let mut data: Value = serde_json::from_str(&r.details).unwrap_or(json!({}));
    if let Some(d) = data.as_object_mut() {
        d.insert("entityRef".into(), json!(r.entity_ref));
        d.insert("actor".into(), json!(r.actor));
    }
    Some(json!({
        "specversion": "1.0",
        "id": r.id.to_string(),
        "source": source,
        "type": event_type,
        "subject": r.entity_ref,
        "time": chrono::DateTime::from_timestamp_millis(r.at)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        "datacontenttype": "application/json",
        "data": data,
    }))
}

/// The feed over one database.
pub struct Feed {
    db: Db,
    readmodel: Arc<ReadModel>,
    closing: tokio::sync::watch::Sender<bool>,
    webhooks: parking_lot::Mutex<Vec<webhooks::Status>>,
}

impl Feed {
    pub fn new(db: Db, readmodel: Arc<ReadModel>) -> Feed {
        Feed {
            db,
            readmodel,
            closing: tokio::sync::watch::channel(false).0,
            webhooks: Default::default(),
        }
    }

    /// Ends every stream: the process is stopping, and a follower left open would hold the
    /// shutdown until its drain timeout. Clients resume elsewhere with `Last-Event-ID`.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Turns true when the feed closes.
    pub fn closed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// The feed's events after audit record `after`, oldest first; at most `limit` records are
    /// read. Returns the events that pass `filter` with their ids, and the id of the last record
    /// read (to continue from).
    pub fn after(
        &self,
        after: i64,
        limit: i64,
        filter: &Filter,
    ) -> crate::storage::Result<(Vec<(i64, Value)>, i64)> {
        let records = self.db.audit_records(after, limit, None, None, None)?;
        let snap = self.readmodel.snapshot();
        let mut last = after;
        let mut events = Vec::new();
        for r in &records {
            let event = cloud_event(r);
            // An entity change this replica has not applied yet waits: a client that reads the
            // entity on hearing of it must find it.
            let sequence = event.as_ref().and_then(|e| e["data"]["sequence"].as_i64());
            if sequence.is_some_and(|s| s > snap.seq) {
                break;
            }
            last = r.id;
            if let Some(e) = event {
                if filter.keeps(
                    e["type"].as_str().unwrap_or_default(),
                    r.entity_ref.as_deref(),
                    &snap,
                ) {
                    events.push((r.id, e));
                }
            }
        }
        Ok((events, last))
    }

    /// Where a client that names no event starts: after the newest record.
    pub fn head(&self) -> crate::storage::Result<i64> {
        self.db.last_audit_id()
    }

    /// Changes after each write this process commits or hears of (another replica's, on
    /// PostgreSQL): when to look for new events.
    pub fn wake(&self) -> tokio::sync::watch::Receiver<u64> {
        crate::storage::writes()
    }

    /// Each snapshot this replica's read model applies: when held-back entity events become
    /// deliverable.
    pub fn applied(&self) -> tokio::sync::watch::Receiver<i64> {
        self.readmodel.subscribe()
    }
}
