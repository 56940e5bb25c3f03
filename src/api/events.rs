//! `GET /api/cairn/events`: the change feed as Server-Sent Events, one CloudEvent (JSON) per
//! event, its `id` the audit record's; resumable with `Last-Event-ID` (or `?after=`). Filters:
//! `kind` (entity kinds), `type` (event types) and `filter` (the catalog's entity filter), each
//! repeatable.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};

use super::openapi::{q, shapes, Doc};
use super::params::Params;
use super::routes::Routes;
use super::{blocking, ApiError, AppState};
use crate::error::Error;
use crate::events::{Feed, Filter};

const FEED: Doc =
    Doc::new("Entity, scorecard and classification changes as Server-Sent Events (CloudEvents)")
        .query(&[
            q("kind").many(),
            q("type").many(),
            q("filter").many(),
            q("after").int(0),
        ])
        .media("text/event-stream");

/// A comment line sent when nothing happened for this long, so proxies keep the stream open.
const KEEPALIVE: Duration = Duration::from_secs(15);

const WEBHOOKS: Doc = Doc::new(
    "Each configured webhook: the last event handled, counts delivered and given up, the last error",
)
.json(shapes::objects);

pub fn routes(r: &mut Routes) {
    r.get("/events", feed)
        .doc(&FEED)
        .get("/events/webhooks", webhooks)
        .doc(&WEBHOOKS);
}

async fn webhooks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.feed.webhooks()))
}

struct Follow {
    feed: Arc<Feed>,
    filter: Filter,
    last: i64,
    pending: VecDeque<Bytes>,
    wake: tokio::sync::watch::Receiver<u64>,
    applied: tokio::sync::watch::Receiver<i64>,
    closed: tokio::sync::watch::Receiver<bool>,
}

async fn feed(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(req.query_string());
    params.allow(FEED.query)?;
    let filter = Filter {
        types: params.all("type"),
        kinds: params.all("kind"),
        entities: crate::readmodel::filter::parse_filter_params(&params.all("filter"))
            .map_err(Error::Input)?,
    };
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| Error::Input(format!("Last-Event-ID must be an event id, got {v}")))
        })
        .transpose()?;
    let feed = state.feed.clone();
    let last = match resume.or(params.int("after", 0)?) {
        Some(id) => id,
        None => {
            let f = feed.clone();
            blocking(move || Ok(f.head()?)).await?
        }
    };
    let follow = Follow {
        wake: feed.wake(),
        applied: feed.applied(),
        closed: feed.closed(),
        feed,
        filter,
        last,
        pending: VecDeque::new(),
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        loop {
            if let Some(frame) = f.pending.pop_front() {
                return Some((Ok::<_, actix_web::Error>(frame), f));
            }
            if *f.closed.borrow() {
                return None;
            }
            f.wake.borrow_and_update();
            f.applied.borrow_and_update();
            let (feed, filter, last) = (f.feed.clone(), f.filter.clone(), f.last);
            let read = web::block(move || feed.after(last, 500, &filter)).await;
            let Ok(Ok((events, read_to))) = read else {
                // The database is away: say so and try again shortly.
                tokio::time::sleep(Duration::from_secs(1)).await;
                return Some((Ok(Bytes::from_static(b": database unavailable\n\n")), f));
            };
            f.last = read_to;
            for (id, event) in events {
                let kind = event["type"].as_str().unwrap_or("message").to_string();
                f.pending.push_back(Bytes::from(format!(
                    "id: {id}\nevent: {kind}\ndata: {event}\n\n"
                )));
            }
            if !f.pending.is_empty() || read_to > last {
                continue;
            }
            tokio::select! {
                woke = tokio::time::timeout(KEEPALIVE, f.wake.changed()) => {
                    if woke.is_err() {
                        return Some((Ok(Bytes::from_static(b": keepalive\n\n")), f));
                    }
                }
                _ = f.applied.changed() => {}
                _ = f.closed.changed() => return None,
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream))
}
