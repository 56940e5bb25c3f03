//! Backstage notifications: what a user is told, in the shape `@backstage/plugin-notifications`
//! reads (`{id, user, created, read, saved, updated, origin, payload}`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the frontend links to (an app path such as `/catalog/default/component/x`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// `critical`, `high`, `normal` or `low`.
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Notifications with the same scope replace each other (an obligation's reminder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A notification to be sent to some users.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub origin: String,
    pub payload: Payload,
    pub recipients: Vec<String>,
}

/// One stored notification of one user.
#[derive(Debug, Clone)]
pub struct Stored {
    pub seq: i64,
    pub id: String,
    pub user: String,
    pub origin: String,
    pub payload: Payload,
    /// Unix milliseconds.
    pub created: i64,
    pub read: Option<i64>,
    pub saved: Option<i64>,
    pub updated: Option<i64>,
}

fn iso(ms: i64) -> Value {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

impl Stored {
    /// The notification as the frontend reads it.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "user": self.user,
            "created": iso(self.created),
            "read": self.read.map(iso),
            "saved": self.saved.map(iso),
            "updated": self.updated.map(iso),
            "origin": self.origin,
            "payload": self.payload,
        })
    }
}

/// Which of a user's notifications a list asks for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub read: Option<bool>,
    pub saved: Option<bool>,
    /// Case-insensitive, in the title or description.
    pub search: Option<String>,
    pub topic: Option<String>,
    /// Unix milliseconds.
    pub created_after: Option<i64>,
    /// At least this severe.
    pub minimum_severity: Option<String>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    pub offset: usize,
    pub limit: usize,
}

/// The rank of a severity: lower is more severe.
pub fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 0,
        "high" => 1,
        "normal" => 2,
        _ => 3,
    }
}

impl Query {
    pub fn keeps(&self, n: &Stored) -> bool {
        let text = |s: &str| s.to_lowercase();
        self.read.is_none_or(|r| r == n.read.is_some())
            && self.saved.is_none_or(|s| s == n.saved.is_some())
            && self
                .topic
                .as_ref()
                .is_none_or(|t| n.payload.topic.as_ref() == Some(t))
            && self.created_after.is_none_or(|after| n.created >= after)
            && self
                .minimum_severity
                .as_ref()
                .is_none_or(|m| severity_rank(&n.payload.severity) <= severity_rank(m))
            && self.search.as_ref().is_none_or(|s| {
                let s = text(s);
                text(&n.payload.title).contains(&s)
                    || n.payload
                        .description
                        .as_deref()
                        .is_some_and(|d| text(d).contains(&s))
            })
    }
}
