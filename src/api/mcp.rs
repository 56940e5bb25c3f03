//! `/api/mcp-actions/v1`: the MCP server for AI agents (Streamable HTTP, stateless). A POST
//! carries one JSON-RPC message and gets its answer as JSON; GET and DELETE get 405, as
//! Backstage's `mcp-actions` plugin answers them.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use super::openapi::Doc;
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::agents::Answer;

fn message() -> serde_json::Value {
    json!({"type": "object", "required": ["jsonrpc"], "properties": {"jsonrpc": {"const": "2.0"}}})
}
const POST: Doc = Doc::new("One JSON-RPC message: initialize, ping, tools/list, tools/call")
    .body(message)
    .json(message)
    .also(202, message)
    .also(400, message);
const NOT_ALLOWED: Doc =
    Doc::new("Not served: the server keeps no sessions (405)").also(405, message);

const POST_NAMED: Doc = Doc::new("One JSON-RPC message to a named server (mcpActions.servers)")
    .body(message)
    .json(message)
    .also(202, message)
    .also(400, message);

pub fn routes(r: &mut Routes) {
    r.post("/v1", post)
        .doc(&POST)
        .get("/v1", not_allowed)
        .doc(&NOT_ALLOWED)
        .delete("/v1", not_allowed)
        .doc(&NOT_ALLOWED)
        .post("/v1/{key}", post_named)
        .doc(&POST_NAMED)
        .get("/v1/{key}", not_allowed)
        .doc(&NOT_ALLOWED)
        .delete("/v1/{key}", not_allowed)
        .doc(&NOT_ALLOWED);
}

fn reply(answer: Answer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    match answer.body {
        Some(body) => HttpResponse::build(status)
            .content_type("application/json")
            .body(body),
        None => HttpResponse::build(status).finish(),
    }
}

/// A client must take JSON (MCP clients send `application/json, text/event-stream`).
fn accepts_json(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("accept")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.split(';').next().unwrap_or_default().trim())
        .any(|t| matches!(t, "application/json" | "application/*" | "*/*"))
        || req.headers().get("accept").is_none()
}

async fn post(req: HttpRequest, body: Bytes, state: web::Data<AppState>) -> HttpResponse {
    answer(req, None, body, state).await
}

async fn post_named(
    req: HttpRequest,
    key: web::Path<String>,
    body: Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let key = key.into_inner();
    if state.mcp.server(&key).is_none() {
        return ApiError(crate::error::Error::NotFound(format!(
            "No MCP server named {key}"
        )))
        .error_response();
    }
    answer(req, Some(key), body, state).await
}

async fn answer(
    req: HttpRequest,
    server: Option<String>,
    body: Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if !accepts_json(&req) {
        return HttpResponse::NotAcceptable().json(json!({
            "jsonrpc": "2.0",
            "error": {"code": -32000, "message": "Not Acceptable: Client must accept application/json"},
            "id": null,
        }));
    }
    let subject = req
        .extensions()
        .get::<super::Principal>()
        .map(|p| p.subject.clone());
    let mcp = state.mcp.clone();
    let answer = web::block(move || {
        let server = server.as_deref().and_then(|k| mcp.server(k));
        mcp.caller(subject.as_deref())
            .map(|caller| mcp.handle(&caller, server, &body))
    })
    .await;
    match answer {
        Ok(Ok(answer)) => reply(answer),
        Ok(Err(e)) => ApiError(e).error_response(),
        Err(_) => reply(Answer::internal()),
    }
}

async fn not_allowed() -> HttpResponse {
    reply(Answer::method_not_allowed())
}
