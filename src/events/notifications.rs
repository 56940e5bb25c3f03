//! Notifications and their signals: what `@backstage/plugin-notifications` reads for the signed-in
//! user, and the push that tells an open app a new one arrived (the `notifications` channel of
//! `@backstage/plugin-signals`). Notifications are rows in the database, written by whoever
//! notifies (the scorecard engine, the scaffolder); every replica pushes the ones it sees.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use crate::model::notifications::{Query, Stored};
use crate::storage::Db;

/// One signal: to a user, on a channel.
#[derive(Debug, Clone)]
pub struct Signal {
    pub user: String,
    pub channel: String,
    pub message: Value,
}

/// How often the push looks for notifications another replica wrote, when nothing woke it.
const POLL: Duration = Duration::from_secs(2);

pub struct Notifications {
    db: Db,
    signals: broadcast::Sender<Signal>,
}

impl Notifications {
    pub fn new(db: Db) -> Self {
        Notifications {
            db,
            signals: broadcast::channel(1024).0,
        }
    }

    pub fn list(&self, user: &str, query: &Query) -> crate::storage::Result<(Vec<Stored>, usize)> {
        self.db.notifications(user, query)
    }

    pub fn get(&self, user: &str, id: &str) -> crate::storage::Result<Option<Stored>> {
        self.db.notification(user, id)
    }

    pub fn update(
        &self,
        user: &str,
        ids: &[String],
        read: Option<bool>,
        saved: Option<bool>,
    ) -> crate::storage::Result<Vec<Stored>> {
        let updated = self.db.update_notifications(user, ids, read, saved)?;
        if let Some(read) = read {
            let action = if read {
                "notification_read"
            } else {
                "notification_unread"
            };
            let _ = self.signals.send(Signal {
                user: user.to_string(),
                channel: "notifications".into(),
                message: json!({"action": action, "notification_ids": ids}),
            });
        }
        Ok(updated)
    }

    /// (unread, read).
    pub fn status(&self, user: &str) -> crate::storage::Result<(i64, i64)> {
        self.db.notification_status(user)
    }

    /// The topics of a user's notifications.
    pub fn topics(&self, user: &str) -> crate::storage::Result<Vec<String>> {
        let all = Query {
            limit: usize::MAX,
            ..Query::default()
        };
        let mut topics: Vec<String> = self
            .db
            .notifications(user, &all)?
            .0
            .into_iter()
            .filter_map(|n| n.payload.topic)
            .collect();
        topics.sort();
        topics.dedup();
        Ok(topics)
    }

    /// Sends a signal to a user's open apps on this replica.
    pub fn signal(&self, signal: Signal) {
        let _ = self.signals.send(signal);
    }

    /// Signals for every connected app; each keeps those for its user.
    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe()
    }

    /// Pushes a `new_notification` signal for each notification stored after this starts, by
    /// this replica or another, until `stopped`.
    pub fn push(
        self: &Arc<Self>,
        mut stopped: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut wake = crate::storage::writes();
            let db = this.db.clone();
            let mut last =
                match tokio::task::spawn_blocking(move || db.last_notification_seq()).await {
                    Ok(Ok(seq)) => seq,
                    _ => 0,
                };
            loop {
                wake.borrow_and_update();
                let db = this.db.clone();
                let after = last;
                if let Ok(Ok(new)) =
                    tokio::task::spawn_blocking(move || db.notifications_after(after, 500)).await
                {
                    for n in &new {
                        last = last.max(n.seq);
                        let _ = this.signals.send(Signal {
                            user: n.user.clone(),
                            channel: "notifications".into(),
                            message: json!({"action": "new_notification", "notification_id": n.id}),
                        });
                    }
                    if new.len() == 500 {
                        continue;
                    }
                }
                tokio::select! {
                    _ = wake.changed() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stopped.changed() => return,
                }
            }
        })
    }
}
