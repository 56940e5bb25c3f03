//! Runs a task's steps as Backstage's workflow runner does: `if`, `each`, rendered inputs
//! checked against the action's schema, outputs under `steps.<id>.output`, and the log events
//! the frontend follows.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Map, Value};

use super::{actions, render, Services};

pub struct Run<'a> {
    pub task_id: &'a str,
    pub spec: &'a Value,
    pub secrets: &'a Map<String, Value>,
    pub template_dir: Option<&'a Path>,
    pub workspace: &'a Path,
    pub dry_run: bool,
    pub cancelled: &'a AtomicBool,
    pub services: &'a Services,
    /// Who the task's writes (a registered location) are by: whoever created it.
    pub actor: &'a crate::model::audit::Actor,
}

/// Replaces secret values in a log line.
fn mask(secrets: &Map<String, Value>, text: String) -> String {
    secrets
        .values()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
        .fold(text, |t, s| t.replace(s, "***"))
}

/// Whether an `if` may run after a failure: it calls `always()` or `failure()`.
fn runs_after_failure(condition: &Value) -> bool {
    condition
        .as_str()
        .is_some_and(|s| s.contains("always()") || s.contains("failure()"))
}

/// Runs every step; `emit(type, body)` records events. Returns the rendered `spec.output`, or
/// the first failure's message.
pub fn execute(run: &Run<'_>, emit: &mut dyn FnMut(&str, Value)) -> Result<Value, String> {
    let steps = run.spec["steps"].as_array().cloned().unwrap_or_default();
    emit(
        "log",
        json!({"message": format!("Starting up task with {} steps", steps.len())}),
    );
    let registry = actions::registry();
    let env = render::environment(false, false, false);
    let mut outputs: Map<String, Value> = Map::new();
    let mut failure: Option<String> = None;
    let base_context = |outputs: &Map<String, Value>| {
        json!({
            "parameters": run.spec["parameters"],
            "steps": outputs,
            "user": run.spec["user"],
            "context": {"task": {"id": run.task_id}},
        })
    };
    for step in &steps {
        let id = step["id"].as_str().unwrap_or_default().to_string();
        let name = step["name"].as_str().unwrap_or(&id).to_string();
        let action_id = step["action"].as_str().unwrap_or_default().to_string();
        let condition = step.get("if");
        if failure.is_some() && !condition.is_some_and(runs_after_failure) {
            emit(
                "log",
                json!({"message": format!("Skipping step {id} because a previous step failed"), "stepId": id, "status": "skipped"}),
            );
            continue;
        }
        if run.cancelled.load(Ordering::SeqCst) {
            let message = format!(
                "Step {id} ({name}) of task {} has been cancelled.",
                run.task_id
            );
            emit(
                "log",
                json!({"message": message, "stepId": id, "status": "failed"}),
            );
            failure.get_or_insert(message);
            continue;
        }
        let mut context = base_context(&outputs);
        let env_failure = render::environment(false, false, false);
        let env_ref = if failure.is_some() {
            // failure() is true only after a failure.
            let mut e = env_failure;
            e.add_function("failure", || true);
            e
        } else {
            env_failure
        };
        if let Some(c) = condition {
            if step.get("each").is_none() {
                let v = render::render_value(&env_ref, c, &context);
                if !render::is_truthy(v.as_ref().ok().and_then(Option::as_ref)) {
                    emit(
                        "log",
                        json!({"message": format!("Skipping step {id} because its if condition was false"), "stepId": id, "status": "skipped"}),
                    );
                    continue;
                }
            }
        }
        emit(
            "log",
            json!({"message": format!("Beginning step {name}"), "stepId": id, "status": "processing"}),
        );
        let result = run_step(
            run,
            step,
            &id,
            &action_id,
            &registry,
            &env,
            &env_ref,
            &mut context,
            &mut outputs,
            emit,
        );
        match result {
            Ok(()) => emit(
                "log",
                json!({"message": format!("Finished step {name}"), "stepId": id, "status": "completed"}),
            ),
            Err(message) => {
                let message = if run.cancelled.load(Ordering::SeqCst) {
                    format!(
                        "Step {id} ({name}) of task {} has been cancelled.",
                        run.task_id
                    )
                } else {
                    mask(run.secrets, message)
                };
                emit(
                    "log",
                    json!({"message": format!("Error: {message}"), "stepId": id, "status": "failed"}),
                );
                failure.get_or_insert(message);
            }
        }
    }
    if let Some(f) = failure {
        return Err(f);
    }
    let context = base_context(&outputs);
    let mut output = render::render_value(&env, &run.spec["output"], &context)
        .map_err(|e| format!("spec.output: {e}"))?
        .unwrap_or(json!({}));
    for key in ["links", "text"] {
        if let Some(items) = output.get_mut(key).and_then(Value::as_array_mut) {
            items.retain(|i| i.get("if").is_none_or(|c| render::is_truthy(Some(c))));
            for i in items.iter_mut() {
                if let Some(o) = i.as_object_mut() {
                    o.remove("if");
                }
            }
        }
    }
    Ok(output)
}

#[allow(clippy::too_many_arguments)]
fn run_step(
    run: &Run<'_>,
    step: &Value,
    id: &str,
    action_id: &str,
    registry: &[actions::Action],
    env: &minijinja::Environment<'_>,
    env_if: &minijinja::Environment<'_>,
    context: &mut Value,
    outputs: &mut Map<String, Value>,
    emit: &mut dyn FnMut(&str, Value),
) -> Result<(), String> {
    let action = registry
        .iter()
        .find(|a| a.id == action_id)
        .ok_or_else(|| format!("Template action with ID '{action_id}' is not registered."))?;
    let iterations: Vec<Option<Value>> = match step.get("each") {
        None => vec![None],
        Some(each) => {
            let v = render::render_value(env, each, context)?.unwrap_or(Value::Null);
            match v {
                Value::Array(items) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Some(json!({"key": i.to_string(), "value": v})))
                    .collect(),
                Value::Object(m) => m
                    .into_iter()
                    .map(|(k, v)| Some(json!({"key": k, "value": v})))
                    .collect(),
                _ => return Err(format!("Invalid value on action {action_id}.each parameter, \"{each}\" cannot be resolved to an array or object")),
            }
        }
    };
    let mut output: Map<String, Value> = Map::new();
    let each_step = step.get("each").is_some();
    for each in iterations {
        if let Some(e) = &each {
            context["each"] = e.clone();
            if let Some(c) = step.get("if") {
                let v = render::render_value(env_if, c, context)?;
                if !render::is_truthy(v.as_ref()) {
                    continue;
                }
            }
            emit(
                "log",
                json!({"message": format!("Running step each: {}", e), "stepId": id}),
            );
        }
        // Secrets are visible to step inputs only.
        let mut input_context = context.clone();
        input_context["secrets"] = Value::Object(run.secrets.clone());
        let input =
            render::render_value(env, step.get("input").unwrap_or(&json!({})), &input_context)?
                .unwrap_or(json!({}));
        let errors = crate::model::schema::schema_errors(&action.input, &input, "instance");
        if !errors.is_empty() {
            let detail: Vec<String> = errors
                .iter()
                .map(|e| e["stack"].as_str().unwrap_or_default().to_string())
                .collect();
            return Err(format!(
                "Invalid input passed to action {action_id}, {}",
                detail.join(", ")
            ));
        }
        if run.dry_run && !action.supports_dry_run {
            emit(
                "log",
                json!({"message": format!("Skipping because {action_id} does not support dry-run"), "stepId": id, "status": "skipped"}),
            );
            let fake = actions::example_output(action.output.as_ref());
            merge(&mut output, fake, each_step);
            continue;
        }
        if run.dry_run {
            let shown = mask(run.secrets, input.to_string());
            emit(
                "log",
                json!({"message": format!("Running {action_id} in dry-run mode with inputs (secrets redacted): {shown}"), "stepId": id}),
            );
        }
        let mut step_output = Map::new();
        {
            let secrets = run.secrets;
            let mut log = |line: String| {
                emit("log", json!({"message": mask(secrets, line), "stepId": id}));
            };
            let mut ctx = actions::ActionContext {
                workspace: run.workspace,
                template_dir: run.template_dir,
                template_ref: run.spec["templateInfo"]["entityRef"]
                    .as_str()
                    .unwrap_or_default(),
                input,
                dry_run: run.dry_run,
                cancelled: run.cancelled,
                services: run.services,
                actor: run.actor,
                log: &mut log,
                output: &mut step_output,
            };
            actions::run(action_id, &mut ctx)?;
        }
        merge(&mut output, step_output, each_step);
    }
    outputs.insert(id.to_string(), json!({"output": output}));
    context["steps"] = Value::Object(outputs.clone());
    Ok(())
}

/// Outputs of an `each` step accumulate into lists, as Backstage's do.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>, each: bool) {
    for (k, v) in from {
        if each {
            match into.entry(k).or_insert_with(|| json!([])) {
                Value::Array(a) => a.push(v),
                other => *other = json!([v]),
            }
        } else {
            into.insert(k, v);
        }
    }
}
