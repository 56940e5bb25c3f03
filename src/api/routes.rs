//! The route table. Every route is registered here with the access it needs, and that access is
//! enforced by a middleware on the route itself: the check runs on what the router matched (after
//! it decoded and matched the path), never on a spelling of the raw path. A path that matches no
//! route reaches no handler (404). The same registration lists the table for tests and docs.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, Handler, HttpMessage, Responder, ResponseError};

use super::auth;
use super::openapi::Doc;
use super::{ApiError, AppState};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Probes: never need a token.
    Open,
    /// Needs a token when `cairn.auth.protectReads` is on.
    Read,
    /// Internal documents (the technical file): need a token whenever any token is configured,
    /// even with reads open.
    Internal,
    /// Needs a token unless `dangerouslyDisableDefaultAuthPolicy`.
    Write,
}

/// One registered route: its method, full path pattern, access, the mount it belongs to and the
/// description of its inputs and reply.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub method: Method,
    pub path: String,
    pub access: Access,
    pub mount: &'static str,
    pub doc: Option<&'static Doc>,
}

impl RouteInfo {
    /// The path with every `{param}` filled with `x`: a request that reaches this route.
    pub fn example_path(&self) -> String {
        let mut out = String::new();
        let mut rest = self.path.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            out.push('x');
            rest = rest[open..].split_once('}').map_or("", |(_, r)| r);
        }
        out.push_str(rest);
        out
    }
}

/// Registers routes under one mount path (`/api/catalog`, or `""` for top-level pages).
pub struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    mount: &'static str,
    table: &'a mut Vec<RouteInfo>,
}

/// One registering method per (HTTP method, access): `open`, `get`, `post`, `put`, `delete`.
macro_rules! register_as {
    ($($(#[$doc:meta])* $name:ident: $method:ident, $access:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
        where
            F: Handler<Args>,
            Args: actix_web::FromRequest + 'static,
            F::Output: Responder + 'static,
        {
            let route = web::method(Method::$method).to(handler);
            self.add(Method::$method, path, Access::$access, route, None)
        }
    )*};
}

impl<'a> Routes<'a> {
    register_as! {
        /// A GET that needs no token (probes, sign-in).
        open: GET, Open;
        /// A POST that needs no token (sign-in).
        open_post: POST, Open;
        get: GET, Read;
        /// A GET of internal documents: a token whenever any is configured.
        internal: GET, Internal;
        post: POST, Write;
        put: PUT, Write;
        delete: DELETE, Write;
    }

    /// Describes the route registered last (its query parameters, body and reply) for the
    /// OpenAPI document.
    pub fn doc(&mut self, doc: &'static Doc) -> &mut Self {
        if let Some(last) = self.table.last_mut() {
            last.doc = Some(doc);
        }
        self
    }

    /// Serves this mount's OpenAPI document at `openapi.json`.
    pub fn openapi(&mut self) -> &mut Self {
        let mount = self.mount;
        self.get("/openapi.json", move || super::openapi::serve(mount))
            .doc(&super::openapi::SERVE)
    }

    /// A POST whose body may be larger than the server-wide limit.
    pub fn post_with_limit<F, Args>(&mut self, path: &str, limit: usize, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::post().to(handler);
        self.add(Method::POST, path, Access::Write, route, Some(limit))
    }

    fn add(
        &mut self,
        method: Method,
        path: &str,
        access: Access,
        route: actix_web::Route,
        body_limit: Option<usize>,
    ) -> &mut Self {
        self.table.push(RouteInfo {
            method,
            path: format!("{}{}", self.mount, template(path)),
            access,
            mount: self.mount,
            doc: None,
        });
        let route = guarded(route, access, self.mount);
        match body_limit {
            None => {
                self.cfg.route(path, route);
            }
            Some(limit) => {
                self.cfg.service(
                    web::resource(path)
                        .app_data(web::PayloadConfig::new(limit))
                        .route(route),
                );
            }
        }
        self
    }
}

/// The path as an OpenAPI template: `{path:.*}` (a parameter with its pattern) is `{path}`.
fn template(path: &str) -> String {
    let (mut out, mut in_param, mut skipping) = (String::with_capacity(path.len()), false, false);
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            ':' if in_param => skipping = true,
            '}' => (in_param, skipping) = (false, false),
            _ => {}
        }
        if !skipping {
            out.push(c);
        }
    }
    out
}

/// The Backstage plugin a mount belongs to (`/api/catalog` → `catalog`), for tokens limited to
/// some plugins.
fn plugin_of(mount: &'static str) -> Option<&'static str> {
    mount.strip_prefix("/api/")
}

fn guarded(route: actix_web::Route, access: Access, mount: &'static str) -> actix_web::Route {
    let plugin = plugin_of(mount);
    route.wrap(from_fn(move |req, next| enforce(access, plugin, req, next)))
}

/// The access check of one route, run after the router chose it.
async fn enforce(
    access: Access,
    plugin: Option<&'static str>,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .expect("state");
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    match auth::check(&state.auth, access, plugin, authorization.as_deref()).await {
        Err(e) => Ok(req.into_response(ApiError(e).error_response())),
        Ok(principal) => {
            if let Some(p) = principal {
                req.extensions_mut().insert(p);
            }
            next.call(req).await
        }
    }
}

/// Registers routes under `mount`, recording each in `table`.
pub fn mount(
    cfg: &mut web::ServiceConfig,
    table: &mut Vec<RouteInfo>,
    mount: &'static str,
    register: impl FnOnce(&mut Routes),
) {
    if mount.is_empty() {
        register(&mut Routes { cfg, mount, table });
    } else {
        cfg.service(web::scope(mount).configure(|cfg| register(&mut Routes { cfg, mount, table })));
    }
}
