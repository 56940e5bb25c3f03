//! Webhook subscriptions to the change feed: each event that passes a subscription's filter is
//! POSTed to its URL as a CloudEvent (structured mode), signed with HMAC-SHA256 over the body
//! when a secret is set, and retried with exponential backoff. The position each webhook has
//! reached is kept in the database and one replica at a time delivers (a lease per webhook), so
//! a restart or a failover carries on where delivery stopped: at least once, in order.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::watch;

use super::{Feed, Filter};

/// One webhook, as configured.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub name: String,
    pub url: String,
    pub secret: Option<String>,
    pub filter: Filter,
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles for each further one, up to five minutes.
    pub retry_base: Duration,
    pub timeout: Duration,
}

/// How a webhook is doing, for `GET /api/cairn/events/webhooks`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub name: String,
    /// The URL without its query, which may hold a credential.
    pub url: String,
    /// The id of the last event handled (delivered or given up on); `None` before the first.
    pub last_event_id: Option<i64>,
    pub delivered: u64,
    /// Events given up on after every attempt failed.
    pub failed: u64,
    pub last_error: Option<String>,
    /// Whether this replica holds the webhook's lease and delivers.
    pub delivering: bool,
}

const MAX_BACKOFF: Duration = Duration::from_secs(300);
const LEASE_TTL_MILLIS: i64 = 30_000;
/// How often a replica without the lease looks again, and the longest wait between reads.
const IDLE: Duration = Duration::from_secs(5);

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Cairn-Signature-256";

/// `sha256=<hex>`: the signature of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A URL as shown: without query or fragment.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

enum Outcome {
    Delivered,
    GaveUp(String),
    Stopped,
}

impl Feed {
    /// Starts delivering to each subscription until `stopped` turns true. `holder` names this
    /// replica in the leases; `dead` says whether another holder has ended.
    pub fn deliver(
        self: &Arc<Self>,
        subscriptions: Vec<Subscription>,
        holder: String,
        dead: fn(&str) -> bool,
        stopped: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        *self.webhooks.lock() = subscriptions
            .iter()
            .map(|s| Status {
                name: s.name.clone(),
                url: shown(&s.url),
                ..Status::default()
            })
            .collect();
        subscriptions
            .into_iter()
            .enumerate()
            .map(|(i, sub)| {
                tokio::spawn(self.clone().run(
                    i,
                    Arc::new(sub),
                    holder.clone(),
                    dead,
                    stopped.clone(),
                ))
            })
            .collect()
    }

    /// Every webhook's status.
    pub fn webhooks(&self) -> Vec<Status> {
        self.webhooks.lock().clone()
    }

    fn status(&self, i: usize, f: impl FnOnce(&mut Status)) {
        if let Some(s) = self.webhooks.lock().get_mut(i) {
            f(s);
        }
    }

    async fn run(
        self: Arc<Self>,
        i: usize,
        sub: Arc<Subscription>,
        holder: String,
        dead: fn(&str) -> bool,
        mut stopped: watch::Receiver<bool>,
    ) {
        let client = match reqwest::Client::builder().timeout(sub.timeout).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(webhook = %sub.name, error = %e, "webhook client");
                return;
            }
        };
        let lease = format!("webhook:{}", sub.name);
        let mut wake = self.wake();
        loop {
            if *stopped.borrow() {
                break;
            }
            wake.borrow_and_update();
            let step = {
                let (feed, lease, holder, sub) =
                    (self.clone(), lease.clone(), holder.clone(), sub.clone());
                tokio::task::spawn_blocking(move || feed.next_batch(&sub, &lease, &holder, dead))
                    .await
            };
            let batch = match step {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => {
                    self.status(i, |s| s.last_error = Some(format!("database: {e}")));
                    None
                }
                Err(_) => None,
            };
            self.status(i, |s| s.delivering = batch.is_some());
            let Some((events, cursor, read_to)) = batch else {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE) => {}
                    _ = stopped.changed() => break,
                }
                continue;
            };
            let mut handled = cursor;
            for (id, event) in events {
                match self.send(&client, &sub, id, &event, &mut stopped).await {
                    Outcome::Delivered => self.status(i, |s| s.delivered += 1),
                    Outcome::GaveUp(error) => {
                        tracing::error!(webhook = %sub.name, event = id, %error, "webhook delivery given up");
                        self.status(i, |s| {
                            s.failed += 1;
                            s.last_error = Some(error);
                        });
                    }
                    Outcome::Stopped => break,
                }
                handled = id;
                if !self.save(&sub.name, handled).await {
                    break;
                }
                self.status(i, |s| s.last_event_id = Some(handled));
            }
            if *stopped.borrow() {
                break;
            }
            // Records the filter left out move the cursor too.
            if handled < read_to && self.save(&sub.name, read_to).await {
                handled = read_to;
            }
            if handled == cursor {
                tokio::select! {
                    _ = tokio::time::timeout(IDLE, wake.changed()) => {}
                    _ = stopped.changed() => break,
                }
            }
        }
        let (db, name) = (self.db.clone(), lease);
        let _ = tokio::task::spawn_blocking(move || db.release_lease(&name, &holder)).await;
    }

    /// With the lease held: the events after the webhook's cursor (a new webhook starts at the
    /// newest record), the cursor, and how far the read went. `None` without the lease.
    #[allow(clippy::type_complexity)]
    fn next_batch(
        &self,
        sub: &Subscription,
        lease: &str,
        holder: &str,
        dead: fn(&str) -> bool,
    ) -> crate::storage::Result<Option<(Vec<(i64, Value)>, i64, i64)>> {
        if !self.db.try_lease(lease, holder, LEASE_TTL_MILLIS, &dead)? {
            return Ok(None);
        }
        let cursor = match self.db.webhook_cursor(&sub.name)? {
            Some(c) => c,
            None => {
                let head = self.head()?;
                self.db.set_webhook_cursor(&sub.name, head)?;
                head
            }
        };
        // Few at a time: the lease is renewed between batches.
        let (events, read_to) = self.after(cursor, 50, &sub.filter)?;
        Ok(Some((events, cursor, read_to)))
    }

    async fn save(&self, name: &str, id: i64) -> bool {
        let (db, name) = (self.db.clone(), name.to_string());
        match tokio::task::spawn_blocking(move || db.set_webhook_cursor(&name, id)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "saving a webhook's position failed; retrying");
                false
            }
            Err(_) => false,
        }
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        sub: &Subscription,
        id: i64,
        event: &Value,
        stopped: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let body = event.to_string().into_bytes();
        let signed = sub.secret.as_deref().map(|s| signature(s, &body));
        let mut error = String::new();
        let attempts = sub.max_attempts.max(1);
        for attempt in 1..=attempts {
            let mut req = client
                .post(&sub.url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/cloudevents+json; charset=utf-8",
                )
                .header("X-Cairn-Event-Id", id.to_string())
                .header("X-Cairn-Attempt", attempt.to_string())
                .body(body.clone());
            if let Some(sig) = &signed {
                req = req.header(SIGNATURE_HEADER, sig);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => return Outcome::Delivered,
                Ok(r) => error = format!("{} answered {}", shown(&sub.url), r.status()),
                Err(e) => error = format!("{}: {}", shown(&sub.url), e.without_url()),
            }
            if attempt == attempts {
                break;
            }
            let backoff = sub
                .retry_base
                .saturating_mul(1 << (attempt - 1).min(20))
                .min(MAX_BACKOFF);
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopped.changed() => return Outcome::Stopped,
            }
        }
        Outcome::GaveUp(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_shown_url_loses_its_query_and_password() {
        assert_eq!(
            shown("https://u:p@hooks.example.com/x?token=abc#f"),
            "https://u@hooks.example.com/x"
        );
    }
}
