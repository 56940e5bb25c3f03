//! AI agents as callers: the MCP server Backstage's `@backstage/plugin-mcp-actions-backend`
//! serves at `/api/mcp-actions/v1` — JSON-RPC 2.0 over Streamable HTTP, stateless (every POST is
//! answered on its own, so any replica can serve it) — and its tools.

mod catalog;
mod governance;
mod policy;
mod scaffolding;
mod tech_insights;
mod tools;
mod trail;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use serde_json::{json, Value};

use crate::compliance::Compliance;
use crate::config::{McpActions, McpServer, ToolRule};
use crate::ingest::Catalog;
use crate::readmodel::ReadModel;

pub use policy::{Agent, Caller};
pub use tools::Tool;

/// The protocol versions Cairn speaks, newest first.
const PROTOCOL_VERSIONS: &[&str] = &["2025-06-18", "2025-03-26", "2024-11-05"];

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

/// What the tools reach.
pub struct Context {
    pub catalog: Arc<Catalog>,
    pub readmodel: Arc<ReadModel>,
    pub compliance: Arc<Compliance>,
    pub scaffolder: Arc<crate::scaffolder::Scaffolder>,
    pub scorecards: Arc<crate::scorecard::Engine>,
}

/// One tool call: what it reaches, who makes it, and on which server.
pub struct Invocation<'a> {
    pub cx: &'a Context,
    pub caller: &'a Caller,
    mcp: &'a Mcp,
    server: Option<&'a McpServer>,
}

impl Invocation<'_> {
    /// The names of the tools this caller may call on this server (only `who-am-i` asks).
    pub fn allowed(&self) -> Vec<String> {
        self.mcp
            .tools
            .iter()
            .filter(|t| Mcp::offers(self.server, t) && self.caller.may_call(t))
            .map(|t| t.name(self.mcp.settings.namespaced_tool_names))
            .collect()
    }
}

/// The MCP server: its identity and its tools.
pub struct Mcp {
    context: Context,
    settings: McpActions,
    tools: Vec<Tool>,
    /// Calls by (agent, tool, outcome), for `/metrics`.
    counts: Mutex<BTreeMap<(String, String, String), u64>>,
    /// Each agent's current rate-limit window: when it began and the calls in it.
    windows: Mutex<HashMap<String, (Instant, u32)>>,
    trail: trail::Trail,
}

/// The HTTP answer to one POST: a status and, unless the POST held only a notification, a
/// JSON-RPC message.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The JSON-RPC response as JSON text.
    pub body: Option<String>,
}

impl Answer {
    fn result(id: Value, result: Value) -> Answer {
        Answer::result_json(id, &result.to_string())
    }

    /// A result already serialised, passed on as it is.
    fn result_json(id: Value, result: &str) -> Answer {
        Answer {
            status: 200,
            body: Some(format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{result}}}"
            )),
        }
    }

    fn error(status: u16, id: Value, code: i64, message: impl Into<String>) -> Answer {
        Answer {
            status,
            body: Some(
                json!({"jsonrpc": "2.0", "error": {"code": code, "message": message.into()}, "id": id})
                    .to_string(),
            ),
        }
    }

    /// What a GET or DELETE gets: this server keeps no sessions and sends nothing unasked.
    pub fn method_not_allowed() -> Answer {
        Answer::error(405, Value::Null, -32000, "Method not allowed.")
    }

    /// A failure outside any tool.
    pub fn internal() -> Answer {
        Answer::error(500, Value::Null, INTERNAL_ERROR, "Internal server error")
    }
}

impl Mcp {
    pub fn new(context: Context, settings: McpActions) -> Mcp {
        Mcp {
            context,
            settings,
            tools: catalog::tools()
                .into_iter()
                .chain(scaffolding::tools())
                .chain(tech_insights::tools())
                .chain(governance::tools())
                .collect(),
            counts: Mutex::new(BTreeMap::new()),
            trail: trail::Trail::default(),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The caller a token's subject names (an `aiagent:` ref must be a catalog agent).
    pub fn caller(&self, subject: Option<&str>) -> crate::error::Result<Caller> {
        Caller::of(&self.context, subject)
    }

    /// The tools as `tools/list` shows them.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The named server at `/api/mcp-actions/v1/<key>`, if configured.
    pub fn server(&self, key: &str) -> Option<&McpServer> {
        self.settings.servers.get(key)
    }

    /// Whether `server` (the default one when `None`) offers `tool`.
    fn offers(server: Option<&McpServer>, tool: &Tool) -> bool {
        let Some(server) = server else { return true };
        let matches = |rule: &ToolRule| {
            let id = rule.id.as_deref().is_none_or(|glob| {
                globset::Glob::new(glob)
                    .map(|g| g.compile_matcher().is_match(tool.id()))
                    .unwrap_or(false)
            });
            let a = &rule.attributes;
            id && a.destructive.is_none_or(|d| d == tool.destructive)
                && a.read_only.is_none_or(|r| r == tool.read_only)
                && a.idempotent.is_none_or(|i| i == tool.idempotent)
        };
        let f = &server.filter;
        (f.include.is_empty() || f.include.iter().any(matches)) && !f.exclude.iter().any(matches)
    }

    /// Answers one POSTed body from `caller` to `server` (the default server when `None`).
    pub fn handle(&self, caller: &Caller, server: Option<&McpServer>, body: &[u8]) -> Answer {
        let message: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Answer::error(400, Value::Null, PARSE_ERROR, format!("Parse error: {e}"))
            }
        };
        let Value::Object(message) = message else {
            let what = if message.is_array() {
                "batches are not supported (protocol 2025-06-18)"
            } else {
                "a message must be a JSON object"
            };
            return Answer::error(
                400,
                Value::Null,
                INVALID_REQUEST,
                format!("Invalid Request: {what}"),
            );
        };
        let id = message.get("id").cloned();
        let method = message.get("method").and_then(Value::as_str);
        if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") || method.is_none() {
            // A response to a request of ours (we send none) or a malformed message.
            if id.is_some() && method.is_none() && message.contains_key("result") {
                return Answer {
                    status: 202,
                    body: None,
                };
            }
            return Answer::error(
                400,
                id.unwrap_or(Value::Null),
                INVALID_REQUEST,
                "Invalid Request: expected a JSON-RPC 2.0 request with a method",
            );
        }
        let method = method.unwrap_or_default();
        let Some(id) = id else {
            // A notification (`notifications/initialized`, `notifications/cancelled`): accepted.
            return Answer {
                status: 202,
                body: None,
            };
        };
        let params = message.get("params").cloned().unwrap_or(json!({}));
        match method {
            "initialize" => Answer::result(id, self.initialize(server, &params)),
            "ping" => Answer::result(id, json!({})),
            "tools/list" => Answer::result_json(
                id,
                &format!("{{\"tools\":[{}]}}", self.list(caller, server).join(",")),
            ),
            "tools/call" => match self.call(caller, server, &params) {
                Ok(result) => Answer::result_json(id, &result),
                Err(CallError::Params(message)) => Answer::error(200, id, INVALID_PARAMS, message),
                Err(CallError::Internal(message)) => {
                    Answer::error(200, id, INTERNAL_ERROR, message)
                }
            },
            other => Answer::error(
                200,
                id,
                METHOD_NOT_FOUND,
                format!("Method not found: {other}"),
            ),
        }
    }

    fn initialize(&self, server: Option<&McpServer>, params: &Value) -> Value {
        let asked = params["protocolVersion"].as_str().unwrap_or_default();
        let version = PROTOCOL_VERSIONS
            .iter()
            .find(|v| **v == asked)
            .unwrap_or(&PROTOCOL_VERSIONS[0]);
        let (name, description) = match server {
            Some(s) => (&s.name, &s.description),
            None => (&self.settings.name, &self.settings.description),
        };
        let mut info = json!({"name": name, "version": env!("CARGO_PKG_VERSION")});
        if let Some(d) = description {
            info["description"] = json!(d);
        }
        json!({"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": info})
    }

    fn list(&self, caller: &Caller, server: Option<&McpServer>) -> Vec<std::sync::Arc<str>> {
        self.tools
            .iter()
            .filter(|t| Self::offers(server, t) && caller.may_call(t))
            .map(|t| t.listing(self.settings.namespaced_tool_names))
            .collect()
    }

    fn call(
        &self,
        caller: &Caller,
        server: Option<&McpServer>,
        params: &Value,
    ) -> Result<String, CallError> {
        let name = params["name"]
            .as_str()
            .ok_or_else(|| CallError::Params("params.name must be a string".into()))?;
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => json!({}),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => {
                return Err(CallError::Params(
                    "params.arguments must be an object".into(),
                ))
            }
        };
        let namespaced = self.settings.namespaced_tool_names;
        let Some(tool) = self
            .tools
            .iter()
            .find(|t| t.answers_to(name, namespaced) && Self::offers(server, t))
        else {
            return Ok(tool_error(&crate::error::Error::NotFound(format!(
                "Action \"{name}\" not found"
            )))
            .to_string());
        };
        let started = Instant::now();
        let outcome = if let Err(e) = self.within_rate(caller) {
            Err(e)
        } else if caller.may_call(tool) {
            let call = Invocation {
                cx: &self.context,
                caller,
                mcp: self,
                server,
            };
            tool.check_input(&arguments)
                .and_then(|()| tool.run.json(&call, &arguments))
        } else {
            Err(caller.refusal(tool))
        };
        if let Caller::Agent(agent) = caller {
            self.audit(agent, tool, &arguments, &outcome, started.elapsed())?;
            let result = outcome.as_ref().map_or_else(|e| e.name(), |_| "ok");
            *self
                .counts
                .lock()
                .entry((agent.entity_ref.clone(), tool.id(), result.to_string()))
                .or_default() += 1;
        }
        match outcome {
            // The text content is the structured content's JSON text, as Backstage answers.
            // Escaped straight from the text, without copying the answer first.
            Ok(output) => Ok(format!(
                "{{\"content\":[{{\"type\":\"text\",\"text\":{}}}],\"structuredContent\":{output}}}",
                serde_json::to_string(output.as_str()).map_err(|e| CallError::Internal(e.to_string()))?
            )),
            Err(crate::error::Error::Internal(message)) => Err(CallError::Internal(message)),
            Err(e) => Ok(tool_error(&e).to_string()),
        }
    }
}

impl Mcp {
    /// Counts an agent's call against its window; refuses it past the configured limit.
    fn within_rate(&self, caller: &Caller) -> crate::error::Result<()> {
        let Caller::Agent(agent) = caller else {
            return Ok(());
        };
        let limit = &self.settings.agent_rate_limit;
        let window = Duration::from_secs(limit.per_seconds.max(1));
        let now = Instant::now();
        let mut windows = self.windows.lock();
        let (began, calls) = windows.entry(agent.entity_ref.clone()).or_insert((now, 0));
        if now.duration_since(*began) >= window {
            (*began, *calls) = (now, 0);
        }
        if *calls >= limit.calls {
            return Err(crate::error::Error::NotAllowed(format!(
                "{} is over its rate limit of {} calls per {} s (mcpActions.agentRateLimit)",
                agent.entity_ref, limit.calls, limit.per_seconds
            )));
        }
        *calls += 1;
        Ok(())
    }

    /// Agents' calls per tool and outcome, in Prometheus' text format.
    pub fn metrics_text(&self) -> String {
        let mut out = String::from(
            "# HELP cairn_mcp_tool_calls_total MCP tool calls by AI agents.\n# TYPE cairn_mcp_tool_calls_total counter\n",
        );
        for ((agent, tool, outcome), n) in self.counts.lock().iter() {
            out.push_str(&format!(
                "cairn_mcp_tool_calls_total{{agent=\"{agent}\",tool=\"{tool}\",outcome=\"{outcome}\"}} {n}\n"
            ));
        }
        out
    }

    /// An agent's call on the audit trail: the tool, a hash of its input, the outcome and how
    /// long it took. A call that cannot be recorded is not answered.
    fn audit(
        &self,
        agent: &Agent,
        tool: &Tool,
        arguments: &Value,
        outcome: &crate::error::Result<String>,
        took: Duration,
    ) -> Result<(), CallError> {
        use sha2::Digest;
        let input = hex::encode(sha2::Sha256::digest(arguments.to_string().as_bytes()));
        let result = match outcome {
            Ok(_) => "ok",
            Err(e) => e.name(),
        };
        let entry = crate::model::audit::Entry::new(
            &crate::model::audit::Actor::new(agent.entity_ref.clone()),
            "mcp.tools/call",
            Some(&agent.entity_ref),
            json!({
                "tool": tool.id(),
                "inputSha256": input,
                "outcome": result,
                "durationMs": took.as_millis() as u64,
                "tier": agent.tier,
            }),
        );
        self.trail
            .append(self.context.catalog.db(), entry)
            .map_err(|e| CallError::Internal(format!("the call could not be audited: {e}")))
    }
}

enum CallError {
    Params(String),
    Internal(String),
}

/// A known error as the tool's result, as Backstage answers it: `isError` with `Name: message`.
fn tool_error(e: &crate::error::Error) -> Value {
    json!({
        "content": [{"type": "text", "text": format!("{}: {e}", e.name())}],
        "isError": true,
    })
}
