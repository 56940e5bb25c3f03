//! Who is calling, and what an AI agent may call: decided from its own catalog entry (it must list
//! Cairn's MCP server in `spec.tools`) and the rule pack's `agents` rules (tier, human oversight,
//! autonomy), never from code.

use serde_json::{json, Value};

use super::tools::Tool;
use super::Context;
use crate::compliance::ToolAccess;
use crate::error::{Error, Result};
use crate::model::EntityRef;

/// The caller of one request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A person or a service (a token not bound to an agent, or none where reads are open):
    /// every tool, as the rest of the API allows them.
    Person(String),
    Agent(Agent),
}

/// An AI agent acting through a token bound to its `AIAgent` entity.
#[derive(Debug, Clone)]
pub struct Agent {
    pub entity_ref: String,
    pub tier: String,
    pub access: ToolAccess,
    /// The rule that set `access` (`id`, `cite`), when one narrowed it.
    pub rule: Option<(String, String)>,
}

impl Caller {
    /// The caller a token's subject names: an `aiagent:` ref is that agent, which must be in the
    /// catalog; anything else is a person.
    pub fn of(cx: &Context, subject: Option<&str>) -> Result<Caller> {
        let Some(subject) = subject else {
            return Ok(Caller::Person("anonymous".into()));
        };
        match EntityRef::parse_full(subject) {
            Ok(r) if r.kind.eq_ignore_ascii_case("aiagent") => {
                Ok(Caller::Agent(agent(cx, &r.canonical())?))
            }
            _ => Ok(Caller::Person(subject.to_string())),
        }
    }

    pub fn may_call(&self, tool: &Tool) -> bool {
        match self {
            Caller::Person(_) => true,
            Caller::Agent(a) => match a.access {
                ToolAccess::None => false,
                ToolAccess::ReadOnly => tool.read_only,
                ToolAccess::NonDestructive => !tool.destructive,
                ToolAccess::All => true,
            },
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Caller::Person(p) => p,
            Caller::Agent(a) => &a.entity_ref,
        }
    }

    /// Why a tool is refused, naming the rule.
    pub fn refusal(&self, tool: &Tool) -> Error {
        let Caller::Agent(a) = self else {
            return Error::NotAllowed(format!("{} may not call {}", self.name(), tool.id()));
        };
        let why = match &a.rule {
            Some((id, cite)) if cite.is_empty() => format!("rule {id}"),
            Some((id, cite)) => format!("rule {id} ({cite})"),
            None => "no rule".into(),
        };
        Error::NotAllowed(format!(
            "{} may not call {}: {why} allows {} tools to this {} agent",
            a.entity_ref,
            tool.id(),
            access_name(a.access),
            a.tier
        ))
    }

    pub fn describe(&self) -> Value {
        match self {
            Caller::Person(p) => json!({"caller": p, "agent": false}),
            Caller::Agent(a) => json!({
                "caller": a.entity_ref,
                "agent": true,
                "tier": a.tier,
                "access": access_name(a.access),
                "rule": a.rule.as_ref().map(|(id, cite)| json!({"id": id, "cite": cite})),
            }),
        }
    }
}

fn access_name(access: ToolAccess) -> &'static str {
    match access {
        ToolAccess::None => "no",
        ToolAccess::ReadOnly => "read-only",
        ToolAccess::NonDestructive => "non-destructive",
        ToolAccess::All => "all",
    }
}

fn agent(cx: &Context, entity_ref: &str) -> Result<Agent> {
    let snap = cx.readmodel.snapshot();
    let doc = snap
        .get_by_ref(entity_ref)
        .ok_or_else(|| Error::Unauthenticated(format!("Unknown agent {entity_ref}")))?;
    let entity: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
    let denied = |tier: String, id: &str, cite: &str| Agent {
        entity_ref: entity_ref.to_string(),
        tier,
        access: ToolAccess::None,
        rule: Some((id.to_string(), cite.to_string())),
    };
    let Ok((pack, _)) = cx.compliance.pack() else {
        return Ok(denied("unknown".into(), "rule-pack-unavailable", ""));
    };
    let tier = pack.classify(&entity)["tier"]
        .as_str()
        .unwrap_or(&pack.unclassified)
        .to_string();
    let policy = &pack.agents;
    let namespace = entity["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let lists_server = entity["spec"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|t| EntityRef::parse(t, Some("API"), namespace).ok())
        .any(|r| r.canonical() == policy.mcp_server);
    if policy.mcp_server.is_empty() || !lists_server {
        let server = if policy.mcp_server.is_empty() {
            "an MCP server (the rule pack names none)"
        } else {
            policy.mcp_server.as_str()
        };
        return Ok(denied(
            tier,
            &format!("spec.tools does not list {server}"),
            "",
        ));
    }
    let autonomy = entity["spec"]["autonomy"].as_str().unwrap_or_default();
    let overseen = entity["spec"]["humanOversight"]
        .as_object()
        .is_some_and(|o| !o.is_empty());
    let mut out = Agent {
        entity_ref: entity_ref.to_string(),
        tier: tier.clone(),
        access: ToolAccess::All,
        rule: None,
    };
    for rule in &policy.rules {
        let matches = (rule.tiers.is_empty() || rule.tiers.contains(&tier))
            && (rule.autonomy.is_empty() || rule.autonomy.iter().any(|a| a == autonomy))
            && rule.human_oversight.is_none_or(|h| h == overseen);
        if matches && rule.allow < out.access {
            out.access = rule.allow;
            out.rule = Some((rule.id.clone(), rule.cite.clone()));
        }
    }
    Ok(out)
}
