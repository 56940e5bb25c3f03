//! Backstage's error body: `{error:{name,message}, request:{method,url}, response:{statusCode}}`,
//! with `request.url` relative to the plugin mount.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::error::Error;

#[derive(Debug)]
pub struct ApiError(pub Error);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// Carried on an error response until the request is known.
#[derive(Clone)]
struct ErrorInfo {
    name: &'static str,
    message: String,
    status: u16,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let info = ErrorInfo {
            name: self.0.name(),
            message: self.0.to_string(),
            status: self.0.status(),
        };
        let mut res = HttpResponse::build(self.status_code()).json(body(&info, "", ""));
        res.extensions_mut().insert(info);
        res
    }
}

fn body(info: &ErrorInfo, method: &str, url: &str) -> serde_json::Value {
    json!({
        "error": {"name": info.name, "message": info.message},
        "request": {"method": method, "url": url},
        "response": {"statusCode": info.status},
    })
}

/// Middleware step: puts the request's method and plugin-relative URL into error bodies.
/// Errors actix raised before a handler ran (a body over the limit, a malformed header) come
/// as plain text; they get Backstage's body too. An empty 404 (no route) stays as Backstage's.
pub fn fill_request<B: MessageBody + 'static>(res: ServiceResponse<B>) -> ServiceResponse<BoxBody> {
    let info = res
        .response()
        .extensions()
        .get::<ErrorInfo>()
        .cloned()
        .or_else(|| framework_error(res.response()));
    let Some(info) = info else {
        return res.map_into_boxed_body();
    };
    let req = res.request().clone();
    let path = req.path();
    let rel = path
        .strip_prefix("/api/")
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(path);
    let url = match req.query_string() {
        "" => rel.to_string(),
        q => format!("{rel}?{q}"),
    };
    let headers = res.response().headers().clone();
    let mut new = HttpResponse::build(res.status()).json(body(&info, req.method().as_str(), &url));
    for (k, v) in headers.iter() {
        if k != actix_web::http::header::CONTENT_LENGTH
            && k != actix_web::http::header::CONTENT_TYPE
        {
            new.headers_mut().insert(k.clone(), v.clone());
        }
    }
    ServiceResponse::new(req, new)
}

/// The error info of an error response that is not JSON and not a bare 404.
fn framework_error<B>(res: &HttpResponse<B>) -> Option<ErrorInfo> {
    let status = res.status();
    let json = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || status == StatusCode::NOT_FOUND || json {
        return None;
    }
    let (name, message) = match status.as_u16() {
        413 => ("PayloadTooLargeError", "request entity too large"),
        401 => ("AuthenticationError", "Missing credentials"),
        405 => ("NotAllowedError", "method not allowed"),
        500..=599 => ("Error", "An internal error occurred"),
        _ => (
            "InputError",
            status.canonical_reason().unwrap_or("bad request"),
        ),
    };
    Some(ErrorInfo {
        name,
        message: message.to_string(),
        status: status.as_u16(),
    })
}
