//! `/api/signals`: the WebSocket `@backstage/plugin-signals` keeps open. The browser cannot set
//! headers on a WebSocket, so the user token comes as the subprotocol (echoed back, as browsers
//! require). The app subscribes to channels (`{"action":"subscribe","channel":"notifications"}`)
//! and gets `{"channel", "message"}` frames for its user.

use std::collections::HashSet;

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::identity::Identity;
use super::openapi::{shapes, Doc};
use super::{ApiError, AppState};
use crate::error::Error;

pub const CONNECT: Doc = Doc::new("WebSocket of user signals (token as the subprotocol)")
    .json(shapes::object)
    .also(400, shapes::error)
    .also(401, shapes::error);

pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|h| h.to_str().ok())
        .and_then(|p| {
            p.split(',')
                .map(str::trim)
                .find(|t| Identity::looks_like_jwt(t))
        })
        .map(str::to_string);
    // Without a token the socket stays open but carries nothing: signals are per user.
    let user = match &token {
        Some(t) => Some(state.auth.identity.verify(t).await?.user_entity_ref),
        None => None,
    };
    let protocols: Vec<&str> = token.iter().map(String::as_str).collect();
    let (response, mut session, mut messages) =
        actix_ws::handle_with_protocols(&req, body, &protocols)
            .map_err(|e| Error::Input(format!("not a WebSocket upgrade: {e}")))?;
    let mut signals = state.notifications.subscribe();
    let mut closed = state.feed.closed();
    actix_web::rt::spawn(async move {
        let mut channels: HashSet<String> = HashSet::new();
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(Ok(actix_ws::Message::Text(text))) => {
                        let Ok(request) = serde_json::from_str::<Value>(&text) else { continue };
                        let channel = request["channel"].as_str().unwrap_or_default().to_string();
                        match request["action"].as_str() {
                            Some("subscribe") => { channels.insert(channel); }
                            Some("unsubscribe") => { channels.remove(&channel); }
                            _ => {}
                        }
                    }
                    Some(Ok(actix_ws::Message::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() { break; }
                    }
                    Some(Ok(actix_ws::Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                signal = signals.recv() => match signal {
                    Ok(s) if Some(&s.user) == user.as_ref() && channels.contains(&s.channel) => {
                        let frame = json!({"channel": s.channel, "message": s.message});
                        if session.text(frame.to_string()).await.is_err() { break; }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                },
                _ = closed.changed() => break,
            }
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}
