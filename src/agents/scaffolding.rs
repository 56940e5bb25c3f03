//! The scaffolder's tools, with the inputs and outputs of Backstage's scaffolder actions: list
//! the actions and tasks, run a golden-path template, read a task's log.

use serde_json::{json, Map, Value};

use super::tools::{object, Run, Tool};
use super::Invocation;
use crate::error::{Error, Result};
use crate::scaffolder::{CreateError, TaskQuery};

const STATUSES: &[&str] = &[
    "open",
    "processing",
    "completed",
    "failed",
    "cancelled",
    "skipped",
];

pub fn tools() -> Vec<Tool> {
    vec![
        Tool {
            plugin: "scaffolder",
            action: "list-scaffolder-actions",
            title: "List Scaffolder Actions",
            description: "Lists the scaffolder actions templates can use: id, description, input and output JSON schemas.",
            input: || object(json!({}), &[]),
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(list_actions),
        },
        Tool {
            plugin: "scaffolder",
            action: "list-scaffolder-tasks",
            title: "List Scaffolder Tasks",
            description: "Lists scaffolder tasks (id, spec, status, createdAt), newest first. `owned: true` keeps the caller's own; filter by status; page with limit and offset.",
            input: || {
                let status = json!({"type": "string", "enum": STATUSES});
                object(
                    json!({
                        "owned": {"type": "boolean", "default": false, "description": "Only tasks created by the caller"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
                        "offset": {"type": "integer", "minimum": 0},
                        "status": {"anyOf": [status.clone(), {"type": "array", "items": status, "minItems": 1}]},
                    }),
                    &[],
                )
            },
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(list_tasks),
        },
        Tool {
            plugin: "scaffolder",
            action: "execute-template",
            title: "Execute Scaffolder Template",
            description: "Runs a scaffolder template (a golden path) with parameter values; answers the taskId to follow with get-scaffolder-task-logs. Read the Template entity first (catalog_get_catalog_entity) for its parameters.",
            input: || {
                object(
                    json!({
                        "templateRef": {"type": "string", "description": "The template's entity ref, e.g. template:default/rust-service"},
                        "values": {"type": "object", "description": "The template's parameter values"},
                        "secrets": {"type": "object", "additionalProperties": {"type": "string"}},
                    }),
                    &["templateRef", "values"],
                )
            },
            read_only: false,
            destructive: true,
            idempotent: false,
            run: Run::Value(execute_template),
        },
        Tool {
            plugin: "scaffolder",
            action: "dry-run-template",
            title: "Dry Run Scaffolder Template",
            description: "Dry-runs a scaffolder template to validate it without making changes (nothing is published or registered). Returns success with the log, output and steps, or the validation errors.",
            input: || {
                object(
                    json!({
                        "templateYaml": {"type": "string", "description": "The YAML content of the scaffolder template to validate"},
                        "values": {"type": "object", "description": "Input values for template parameters"},
                        "files": {"type": "array", "description": "Files required for running the template", "items": object(
                            json!({"path": {"type": "string", "description": "File path relative to template root"}, "content": {"type": "string", "description": "File content"}}),
                            &["path", "content"],
                        )},
                    }),
                    &["templateYaml"],
                )
            },
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(dry_run),
        },
        Tool {
            plugin: "scaffolder",
            action: "get-scaffolder-task-logs",
            title: "Get Scaffolder Task Logs",
            description: "The log events of a scaffolder task (log, completion, cancelled, recovered); `after` returns only later events, for polling.",
            input: || {
                object(
                    json!({
                        "taskId": {"type": "string"},
                        "after": {"type": "integer", "minimum": 0},
                    }),
                    &["taskId"],
                )
            },
            read_only: true,
            destructive: false,
            idempotent: true,
            run: Run::Value(task_logs),
        },
    ]
}

fn list_actions(_: &Invocation, _: &Value) -> Result<Value> {
    let mut actions: Vec<Value> = crate::scaffolder::actions::registry()
        .into_iter()
        .map(|a| {
            json!({
                "id": a.id,
                "description": a.description,
                "schema": {"input": a.input, "output": a.output.unwrap_or(json!({}))},
                "examples": [],
            })
        })
        .collect();
    actions.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(json!({"actions": actions}))
}

fn list_tasks(call: &Invocation, input: &Value) -> Result<Value> {
    let statuses = match &input["status"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let created_by = if input["owned"].as_bool() == Some(true) {
        vec![call.caller.name().to_string()]
    } else {
        Vec::new()
    };
    let query = TaskQuery {
        created_by,
        statuses,
        order: vec![(true, "created_at".into())],
        limit: input["limit"].as_u64().map(|l| l as usize),
        offset: input["offset"].as_u64().unwrap_or(0) as usize,
    };
    let (tasks, total) = call.cx.scaffolder.list_tasks(&query)?;
    Ok(json!({"tasks": tasks, "totalTasks": total}))
}

fn execute_template(call: &Invocation, input: &Value) -> Result<Value> {
    let template_ref = input["templateRef"].as_str().unwrap_or_default();
    let secrets: Map<String, Value> = input["secrets"].as_object().cloned().unwrap_or_default();
    let created_by = call.caller.name().to_string();
    match call
        .cx
        .scaffolder
        .create(template_ref, input["values"].clone(), secrets, &created_by)
    {
        Ok(id) => Ok(json!({"taskId": id})),
        Err(CreateError::Api(e)) => Err(e),
        Err(CreateError::Invalid(errors)) => {
            let messages: Vec<String> = errors
                .iter()
                .map(|e| {
                    let at = e["property"].as_str().or(e["path"].as_str()).unwrap_or("");
                    let message = e["message"].as_str().unwrap_or("is not valid");
                    format!("{at} {message}").trim().to_string()
                })
                .collect();
            Err(Error::Input(format!(
                "The values do not fit {template_ref}'s parameters: {}",
                messages.join("; ")
            )))
        }
    }
}

fn invalid(message: &str, errors: Vec<String>) -> Value {
    json!({"valid": false, "message": message, "errors": errors})
}

fn dry_run(call: &Invocation, input: &Value) -> Result<Value> {
    let template: Value = match serde_yaml::from_str(input["templateYaml"].as_str().unwrap_or("")) {
        Ok(t) => t,
        Err(e) => {
            return Ok(invalid(
                "Failed to parse YAML template",
                vec![format!("YAML parsing error: {e}")],
            ))
        }
    };
    let files: Vec<(String, Vec<u8>)> = input["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let text = f["content"].as_str().unwrap_or_default();
            (
                f["path"].as_str().unwrap_or_default().to_string(),
                text.as_bytes().to_vec(),
            )
        })
        .collect();
    let values = input.get("values").cloned().unwrap_or(json!({}));
    match call
        .cx
        .scaffolder
        .dry_run(&template, &values, &Map::new(), &files, call.caller.name())
    {
        Ok(result) => {
            let log: Vec<Value> = result["log"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| {
                    json!({"message": l["body"]["message"], "stepId": l["body"]["stepId"], "status": l["body"]["status"]})
                })
                .collect();
            let steps: Vec<Value> = result["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| json!({"id": s["id"], "name": s["name"].as_str().or(s["id"].as_str()), "action": s["action"]}))
                .collect();
            Ok(json!({
                "valid": true,
                "message": "Template validation successful",
                "log": log,
                "output": result["output"],
                "steps": steps,
            }))
        }
        Err(CreateError::Invalid(errors)) => Ok(invalid(
            "Template validation failed",
            errors
                .iter()
                .map(|e| e["message"].as_str().unwrap_or("is not valid").to_string())
                .collect(),
        )),
        Err(CreateError::Api(Error::Input(message))) => {
            Ok(invalid("Template validation failed", vec![message]))
        }
        Err(CreateError::Api(e)) => Err(e),
    }
}

fn task_logs(call: &Invocation, input: &Value) -> Result<Value> {
    let id = input["taskId"].as_str().unwrap_or_default();
    let task = call.cx.scaffolder.task(id)?;
    let events = call
        .cx
        .scaffolder
        .events_since(id, input["after"].as_i64(), task.recoverable)?;
    Ok(json!({"events": events.into_iter().map(|e| e.json).collect::<Vec<_>>()}))
}
