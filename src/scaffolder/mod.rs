//! The scaffolder: Backstage's software templates run by Cairn. A task is created from a
//! `Template` entity and the form's values, persisted with its events, and run on a bounded
//! pool in a temporary workspace; the frontend follows it through events.

pub mod actions;
pub mod render;
mod runner;
mod tasks;

pub use tasks::{TaskEvent, TaskQuery, TaskView};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::ingest::crawler::Crawler;
use crate::ingest::Catalog;
use crate::readmodel::ReadModel;
use crate::storage::{Db, TaskEventRow, TaskRow};

pub use crate::config::PublishHost;

pub const TEMPLATE_API_VERSION: &str = "scaffolder.backstage.io/v1beta3";

/// What actions reach outside the workspace.
pub struct Services {
    pub catalog: Arc<Catalog>,
    pub readmodel: Arc<ReadModel>,
    pub crawler: Arc<Crawler>,
    pub publish: Vec<PublishHost>,
    /// The EU AI Act rule pack, for templates mandated or forbidden per risk tier.
    pub rule_pack: Arc<crate::compliance::PackSource>,
}

/// Why a task could not be created.
pub enum CreateError {
    Api(Error),
    /// Values failing a parameter page's schema: `{errors: […]}` with 400, as Backstage answers.
    Invalid(Vec<Value>),
}

impl From<Error> for CreateError {
    fn from(e: Error) -> Self {
        CreateError::Api(e)
    }
}

impl From<crate::storage::StorageError> for CreateError {
    fn from(e: crate::storage::StorageError) -> Self {
        CreateError::Api(e.into())
    }
}

pub struct Scaffolder {
    db: Db,
    services: Arc<Services>,
    workers: Arc<tokio::sync::Semaphore>,
    /// Cancel flags of the tasks running here.
    running: Mutex<HashMap<String, Arc<AtomicBool>>>,
    /// The last event id written here, for streams to wake up.
    events: tokio::sync::watch::Sender<i64>,
    work_root: PathBuf,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn recoverable(spec: &Value) -> bool {
    spec["EXPERIMENTAL_recovery"]["EXPERIMENTAL_strategy"] == "startOver"
}

/// The parameter pages of a template: `spec.parameters` as a list.
pub fn parameter_pages(template: &Value) -> Vec<Value> {
    match &template["spec"]["parameters"] {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

/// Fills in the pages' top-level `default`s that the values leave out. The Backstage form does
/// this before it submits; doing it here too serves API callers (curl, CI) the same way.
pub fn with_defaults(template: &Value, mut values: Value) -> Value {
    if let Some(obj) = values.as_object_mut() {
        for page in parameter_pages(template) {
            for (key, prop) in page["properties"].as_object().into_iter().flatten() {
                if let Some(d) = prop.get("default") {
                    obj.entry(key.clone()).or_insert_with(|| d.clone());
                }
            }
        }
    }
    values
}

/// Checks values (and secrets) against a template's schemas.
pub fn validate_values(
    template: &Value,
    values: &Value,
    secrets: &Value,
) -> Result<(), CreateError> {
    let mut errors = Vec::new();
    for page in parameter_pages(template) {
        errors.extend(crate::model::schema::schema_errors(
            &page, values, "instance",
        ));
    }
    if let Some(schema) = template["spec"]["secrets"].get("schema") {
        errors.extend(crate::model::schema::schema_errors(
            schema, secrets, "secrets",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CreateError::Invalid(errors))
    }
}

/// The task spec Backstage builds from a template: steps with default ids and names.
pub fn task_spec(
    template: &Value,
    values: &Value,
    user: Value,
    entity_ref: &str,
    base_url: Option<String>,
) -> Value {
    let steps: Vec<Value> = template["spec"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, step)| {
            let mut s = step.clone();
            if let Some(o) = s.as_object_mut() {
                if !o.contains_key("id") {
                    o.insert("id".into(), json!(format!("step-{}", i + 1)));
                }
                if !o.contains_key("name") {
                    let action = o.get("action").cloned().unwrap_or(Value::Null);
                    o.insert("name".into(), action);
                }
            }
            s
        })
        .collect();
    let mut spec = json!({
        "apiVersion": template["apiVersion"],
        "steps": steps,
        "output": template["spec"].get("output").cloned().unwrap_or(json!({})),
        "parameters": values,
        "user": user,
        "templateInfo": {"entityRef": entity_ref, "entity": {"metadata": template["metadata"]}},
    });
    if let Some(b) = base_url {
        spec["templateInfo"]["baseUrl"] = json!(b);
    }
    if let Some(r) = template["spec"].get("EXPERIMENTAL_recovery") {
        spec["EXPERIMENTAL_recovery"] = r.clone();
    }
    spec
}

/// The URL of a template's own file, from its location annotations.
fn base_url_of(template: &Value) -> Option<String> {
    let ann = &template["metadata"]["annotations"];
    let loc = ann["backstage.io/source-location"]
        .as_str()
        .or(ann[crate::model::annotations::MANAGED_BY_LOCATION].as_str())?;
    if let Some(u) = loc.strip_prefix("url:") {
        return Some(u.to_string());
    }
    let path = loc.strip_prefix("file:")?;
    Some(format!("file://{path}"))
}

impl Scaffolder {
    pub fn new(db: Db, services: Services, concurrency: usize, data_dir: &Path) -> Arc<Scaffolder> {
        let (events, _) = tokio::sync::watch::channel(0);
        Arc::new(Scaffolder {
            db,
            services: Arc::new(services),
            workers: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            running: Mutex::new(HashMap::new()),
            events,
            work_root: data_dir.join("scaffolder"),
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn rule_pack(&self) -> Arc<crate::compliance::PackSource> {
        self.services.rule_pack.clone()
    }

    /// The EU AI Act tier the values ask for: `riskTier`, or the classification of `aiAct`
    /// (`{role, answers}`); `None` when the task does not create an AI system.
    fn requested_tier(&self, values: &Value) -> Option<String> {
        if let Some(t) = values["riskTier"].as_str() {
            return Some(t.to_string());
        }
        let ai = values.get("aiAct").filter(|a| a.is_object())?;
        let (pack, _) = self.services.rule_pack.get().ok()?;
        pack.classify(&json!({"spec": {"aiAct": ai}}))["tier"]
            .as_str()
            .map(str::to_owned)
    }

    /// Refuses a template that a tier forbids, or that is not the one the tier mandates.
    fn check_mandates(
        &self,
        template: &Value,
        template_ref: &str,
        values: &Value,
    ) -> Result<(), Error> {
        let Some(tier) = self.requested_tier(values) else {
            return Ok(());
        };
        if crate::compliance::mandates::tiers_in(
            template,
            crate::compliance::mandates::FORBIDDEN_FOR_TIERS,
        )
        .contains(&tier)
        {
            return Err(Error::NotAllowed(format!(
                "{template_ref} may not be used for AI systems of tier {tier}"
            )));
        }
        let mandated = crate::compliance::mandates::mandated_templates(
            &self.services.readmodel.snapshot(),
            &tier,
        );
        if !mandated.is_empty() && !mandated.iter().any(|m| m == template_ref) {
            return Err(Error::NotAllowed(format!(
                "AI systems of tier {tier} must be created with {}; {template_ref} is not allowed for them",
                mandated.join(" or ")
            )));
        }
        Ok(())
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.events.subscribe()
    }

    /// The template entity for a ref, as the API needs it.
    pub fn template(&self, namespace: &str, kind: &str, name: &str) -> Result<Value, Error> {
        if !kind.eq_ignore_ascii_case("template") {
            return Err(Error::Input(
                "Invalid kind, only 'Template' kind is supported".into(),
            ));
        }
        let r = format!("template:{namespace}/{name}").to_lowercase();
        let snap = self.services.readmodel.snapshot();
        let doc = snap
            .get_by_ref(&r)
            .ok_or_else(|| Error::NotFound(format!("Template {r} not found")))?;
        let t: Value =
            serde_json::from_str(&doc.json).map_err(|e| Error::Internal(e.to_string()))?;
        if t["apiVersion"] != TEMPLATE_API_VERSION {
            return Err(Error::Input(format!(
                "Template {r} has apiVersion {}, only {TEMPLATE_API_VERSION} is supported",
                t["apiVersion"]
            )));
        }
        Ok(t)
    }

    fn user(&self, user_ref: &str) -> Value {
        let snap = self.services.readmodel.snapshot();
        let entity = snap
            .get_by_ref(user_ref)
            .and_then(|d| serde_json::from_str::<Value>(&d.json).ok());
        match entity {
            Some(e) => json!({"entity": e, "ref": user_ref}),
            None => json!({"ref": user_ref}),
        }
    }

    /// `POST /v2/tasks`: validates and stores a task, then queues it.
    pub fn create(
        self: &Arc<Self>,
        template_ref: &str,
        values: Value,
        secrets: Map<String, Value>,
        created_by: &str,
    ) -> Result<String, CreateError> {
        let r = crate::model::EntityRef::parse(template_ref, Some("template"), "default")
            .map_err(|e| Error::Input(e.to_string()))?;
        let template = self.template(&r.namespace, &r.kind, &r.name)?;
        let secrets_v = Value::Object(secrets.clone());
        let values = with_defaults(&template, values);
        validate_values(&template, &values, &secrets_v)?;
        self.check_mandates(&template, &r.canonical(), &values)?;
        let spec = task_spec(
            &template,
            &values,
            self.user(created_by),
            &r.canonical(),
            base_url_of(&template),
        );
        let id = uuid::Uuid::new_v4().to_string();
        self.db.insert_task(&TaskRow {
            id: id.clone(),
            spec_json: spec.to_string(),
            status: "open".into(),
            created_at: now_ms(),
            last_heartbeat_at: None,
            created_by: Some(created_by.to_string()),
            secrets_json: Some(secrets_v.to_string()),
        })?;
        self.db.append_audit(&[crate::model::audit::Entry::new(
            &crate::model::audit::Actor::new(created_by),
            "task.created",
            Some(&r.canonical()),
            json!({"taskId": id}),
        )])?;
        self.enqueue(id.clone());
        Ok(id)
    }

    fn enqueue(self: &Arc<Self>, id: String) {
        let me = self.clone();
        tokio::spawn(async move {
            let permit = me.workers.clone().acquire_owned().await;
            let me2 = me.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                if let Err(e) = me2.run(&id) {
                    tracing::error!(task = %id, "scaffolder task failed to run: {e}");
                }
            })
            .await;
        });
    }

    /// Appends an event and wakes streams.
    pub fn emit(
        &self,
        task_id: &str,
        event_type: &str,
        body: &Value,
    ) -> crate::storage::Result<i64> {
        let id = self
            .db
            .append_task_event(task_id, event_type, &body.to_string(), now_ms())?;
        self.events.send_replace(id);
        Ok(id)
    }

    fn run(self: &Arc<Self>, id: &str) -> anyhow::Result<()> {
        let Some(row) = self.db.task(id)? else {
            return Ok(());
        };
        if row.status != "open" {
            return Ok(());
        }
        let spec: Value = serde_json::from_str(&row.spec_json)?;
        // What the task writes is recorded as done by whoever created it.
        let actor = row.created_by.as_deref().map_or_else(
            crate::model::audit::Actor::cairn,
            crate::model::audit::Actor::new,
        );
        let secrets: Map<String, Value> = row
            .secrets_json
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        self.db.set_task_status(id, "processing", Some(now_ms()))?;
        if !recoverable(&spec) {
            // Backstage clears secrets when a task is claimed unless it may start over.
            self.db.set_task_secrets(id, None)?;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        self.running.lock().insert(id.to_string(), cancel.clone());
        std::fs::create_dir_all(&self.work_root)?;
        let workspace = tempfile::Builder::new()
            .prefix("task-")
            .tempdir_in(&self.work_root)?;
        let template_copy = tempfile::Builder::new()
            .prefix("template-")
            .tempdir_in(&self.work_root)?;
        let template_dir = self.template_dir(&spec, template_copy.path());
        let mut emit = |t: &str, body: Value| {
            if let Err(e) = self.emit(id, t, &body) {
                tracing::error!(task = %id, "cannot record a task event: {e}");
            }
            let _ = self.db.heartbeat_task(id, now_ms());
        };
        let outcome = match template_dir {
            Ok(dir) => runner::execute(
                &runner::Run {
                    task_id: id,
                    spec: &spec,
                    secrets: &secrets,
                    template_dir: dir.as_deref(),
                    workspace: workspace.path(),
                    dry_run: false,
                    cancelled: &cancel,
                    services: &self.services,
                    actor: &actor,
                },
                &mut emit,
            ),
            Err(e) => {
                emit(
                    "log",
                    json!({"message": format!("Starting up task with {} steps", spec["steps"].as_array().map_or(0, Vec::len))}),
                );
                Err(e)
            }
        };
        let cancelled = cancel.load(Ordering::SeqCst);
        let status = match (&outcome, cancelled) {
            (_, true) => "cancelled",
            (Ok(_), false) => "completed",
            (Err(_), false) => "failed",
        };
        let body = match outcome {
            Ok(output) => {
                json!({"message": "Run completed with status: completed", "output": output})
            }
            Err(message) => {
                json!({"message": format!("Run completed with status: {}", if cancelled { "cancelled" } else { "failed" }),
                                   "error": {"name": "Error", "message": message}})
            }
        };
        self.db.set_task_secrets(id, None)?;
        self.db.set_task_status(id, status, Some(now_ms()))?;
        self.emit(id, "completion", &body)?;
        self.db.append_audit(&[crate::model::audit::Entry::new(
            &actor,
            &format!("task.{status}"),
            spec["templateInfo"]["entityRef"].as_str(),
            json!({"taskId": id, "output": body.get("output"), "error": body.get("error")}),
        )])?;
        self.running.lock().remove(id);
        if let Some(user) = row.created_by.as_deref().filter(|u| u.starts_with("user:")) {
            let notice = finished(id, &spec, status, body["error"]["message"].as_str());
            if let Err(e) = self
                .db
                .send_notification(&crate::model::notifications::Outgoing {
                    origin: "plugin:scaffolder".into(),
                    payload: notice,
                    recipients: vec![user.to_string()],
                })
            {
                tracing::error!(task = %id, "cannot notify the task's creator: {e}");
            }
        }
        Ok(())
    }

    /// The template's own folder: local files as they are, Git files exported from the mirror.
    fn template_dir(&self, spec: &Value, scratch: &Path) -> Result<Option<PathBuf>, String> {
        let Some(base) = spec["templateInfo"]["baseUrl"].as_str() else {
            return Ok(None);
        };
        if let Some(path) = base.strip_prefix("file://") {
            if !path.contains("/blob/") {
                return Ok(Path::new(path).parent().map(Path::to_path_buf));
            }
        }
        self.services
            .crawler
            .export_dir(base, scratch)
            .map_err(|e| format!("cannot read the template from {base}: {e}"))?;
        Ok(Some(scratch.to_path_buf()))
    }

    /// `POST /v2/tasks/:id/cancel`.
    pub fn cancel(&self, id: &str) -> Result<(), Error> {
        let row = self
            .db
            .task(id)?
            .ok_or_else(|| Error::NotFound(format!("No task with id '{id}' found")))?;
        if matches!(row.status.as_str(), "completed" | "failed" | "cancelled") {
            return Ok(());
        }
        let spec: Value = serde_json::from_str(&row.spec_json).unwrap_or_default();
        let current = self
            .db
            .task_events(id, None)?
            .iter()
            .rev()
            .find_map(|e| {
                serde_json::from_str::<Value>(&e.body_json)
                    .ok()
                    .and_then(|b| b["stepId"].as_str().map(str::to_owned))
            })
            .or_else(|| spec["steps"][0]["id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        self.emit(
            id,
            "cancelled",
            &json!({"message": format!("Step {current} has been cancelled."), "stepId": current, "status": "cancelled"}),
        )?;
        self.db.set_task_secrets(id, None)?;
        match self.running.lock().get(id) {
            Some(flag) => flag.store(true, Ordering::SeqCst),
            None => {
                // Not started yet: it ends here.
                self.db.set_task_status(id, "cancelled", Some(now_ms()))?;
                self.emit(id, "completion", &json!({"message": "Run completed with status: cancelled",
                    "error": {"name": "Error", "message": "The task was cancelled before it started"}}))?;
            }
        }
        Ok(())
    }

    /// `POST /v2/tasks/:id/retry`.
    pub fn retry(
        self: &Arc<Self>,
        id: &str,
        secrets: Option<Map<String, Value>>,
    ) -> Result<(), Error> {
        let row = self
            .db
            .task(id)?
            .ok_or_else(|| Error::NotFound(format!("No task with id '{id}' found")))?;
        if !matches!(
            row.status.as_str(),
            "completed" | "failed" | "cancelled" | "skipped"
        ) {
            return Err(Error::Conflict(format!(
                "Task with taskId {id} cannot be retried"
            )));
        }
        let spec: Value = serde_json::from_str(&row.spec_json).unwrap_or_default();
        self.db
            .delete_task_events(id, &["cancelled", "completion"])?;
        let strategy = spec["EXPERIMENTAL_recovery"]["EXPERIMENTAL_strategy"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        self.emit(id, "recovered", &json!({"recoverStrategy": strategy}))?;
        if let Some(s) = secrets {
            self.db
                .set_task_secrets(id, Some(&Value::Object(s).to_string()))?;
        }
        self.db.set_task_status(id, "open", None)?;
        self.enqueue(id.to_string());
        Ok(())
    }

    /// At start: tasks a previous process left running fail (or start over when their template
    /// asks for it); waiting tasks are queued.
    pub fn recover(self: &Arc<Self>) -> anyhow::Result<()> {
        let removed = clean_work_root(&self.work_root);
        if removed > 0 {
            tracing::info!(
                removed,
                "removed the workspaces of tasks a stopped process left"
            );
        }
        for row in self.db.tasks(&[], &["processing".into(), "open".into()])? {
            if row.status == "processing" {
                let spec: Value = serde_json::from_str(&row.spec_json).unwrap_or_default();
                if recoverable(&spec) {
                    self.emit(
                        &row.id,
                        "recovered",
                        &json!({"recoverStrategy": "startOver"}),
                    )?;
                    self.db.set_task_status(&row.id, "open", None)?;
                } else {
                    self.db.set_task_secrets(&row.id, None)?;
                    self.db.set_task_status(&row.id, "failed", Some(now_ms()))?;
                    self.emit(&row.id, "completion", &json!({"message": "Run completed with status: failed",
                        "error": {"name": "Error", "message": "The task was interrupted: Cairn stopped while it ran. Retry it to run it again."}}))?;
                    continue;
                }
            }
            self.enqueue(row.id);
        }
        Ok(())
    }

    /// `POST /v2/dry-run`.
    pub fn dry_run(
        &self,
        template: &Value,
        values: &Value,
        secrets: &Map<String, Value>,
        files: &[(String, Vec<u8>)],
        user_ref: &str,
    ) -> Result<Value, CreateError> {
        if template["apiVersion"] != TEMPLATE_API_VERSION || template["kind"] != "Template" {
            return Err(Error::Input("Input template is not a template".into()).into());
        }
        let values = &with_defaults(template, values.clone());
        validate_values(template, values, &Value::Object(secrets.clone()))?;
        std::fs::create_dir_all(&self.work_root).map_err(|e| Error::Internal(e.to_string()))?;
        let template_dir = tempfile::Builder::new()
            .prefix("dry-run-template-")
            .tempdir_in(&self.work_root)
            .map_err(|e| Error::Internal(e.to_string()))?;
        for (path, bytes) in files {
            let out = actions::resolve_in(template_dir.path(), path).map_err(Error::Input)?;
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::Internal(e.to_string()))?;
            }
            std::fs::write(&out, bytes).map_err(|e| Error::Internal(e.to_string()))?;
        }
        let spec = task_spec(
            template,
            values,
            self.user(user_ref),
            "template:default/dry-run",
            None,
        );
        let workspace = tempfile::Builder::new()
            .prefix("dry-run-")
            .tempdir_in(&self.work_root)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let mut log = Vec::new();
        let cancel = AtomicBool::new(false);
        let outcome = runner::execute(
            &runner::Run {
                task_id: "dry-run",
                spec: &spec,
                secrets,
                template_dir: Some(template_dir.path()),
                workspace: workspace.path(),
                dry_run: true,
                cancelled: &cancel,
                services: &self.services,
                actor: &crate::model::audit::Actor::new(user_ref),
            },
            &mut |_, body| log.push(json!({"body": body})),
        );
        let output = match outcome {
            Ok(o) => o,
            Err(e) => {
                log.push(
                    json!({"body": {"message": format!("Run completed with status: failed: {e}")}}),
                );
                json!({})
            }
        };
        let mut contents = Vec::new();
        for (rel, path) in actions::walk(workspace.path()).map_err(Error::Internal)? {
            let bytes = std::fs::read(&path).unwrap_or_default();
            let executable = {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
                }
                #[cfg(not(unix))]
                {
                    false
                }
            };
            use base64::Engine;
            contents.push(json!({"path": rel, "executable": executable,
                "base64Content": base64::engine::general_purpose::STANDARD.encode(bytes)}));
        }
        Ok(
            json!({"log": log, "directoryContents": contents, "output": output, "steps": spec["steps"]}),
        )
    }
}

/// An event as the API serves it.
pub fn event_json(e: &TaskEventRow, recoverable_task: bool) -> Value {
    json!({
        "id": e.id,
        "isTaskRecoverable": recoverable_task,
        "taskId": e.task_id,
        "body": serde_json::from_str::<Value>(&e.body_json).unwrap_or(Value::Null),
        "type": e.event_type,
        "createdAt": iso(e.created_at),
    })
}

/// A task as the API serves it (no secrets).
pub fn task_json(t: &TaskRow) -> Value {
    let mut v = json!({
        "id": t.id,
        "spec": serde_json::from_str::<Value>(&t.spec_json).unwrap_or(Value::Null),
        "status": t.status,
        "createdAt": iso(t.created_at),
        "lastHeartbeatAt": t.last_heartbeat_at.map(iso),
    });
    if let Some(c) = &t.created_by {
        v["createdBy"] = json!(c);
    }
    v
}

pub fn is_recoverable(t: &TaskRow) -> bool {
    serde_json::from_str::<Value>(&t.spec_json).is_ok_and(|s| recoverable(&s))
}

/// Removes what tasks of an earlier process left in `root` (their workspaces and template
/// copies; a killed process cannot clean up after itself). Run at start, before any task runs:
/// the data directory is this process's own. Returns how many were removed.
fn clean_work_root(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            ["task-", "template-", "dry-run-"]
                .iter()
                .any(|p| name.starts_with(p))
        })
        .filter(|e| std::fs::remove_dir_all(e.path()).is_ok())
        .count()
}

/// What a task's creator is told when it ends.
fn finished(
    id: &str,
    spec: &Value,
    status: &str,
    error: Option<&str>,
) -> crate::model::notifications::Payload {
    let template = spec["templateInfo"]["entity"]["metadata"]["title"]
        .as_str()
        .or(spec["templateInfo"]["entity"]["metadata"]["name"].as_str())
        .or(spec["templateInfo"]["entityRef"].as_str())
        .unwrap_or("a template");
    crate::model::notifications::Payload {
        title: format!("{template}: run {status}"),
        description: error.map(str::to_string),
        link: Some(format!("/create/tasks/{id}")),
        severity: if status == "completed" {
            "normal"
        } else {
            "high"
        }
        .into(),
        topic: Some("scaffolder".into()),
        scope: None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_killed_process_s_workspaces_are_removed_at_start_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        for d in ["task-abc", "template-def", "dry-run-ghi", "keep-me"] {
            std::fs::create_dir_all(root.path().join(d).join("src")).unwrap();
            std::fs::write(root.path().join(d).join("src/main.rs"), "fn main() {}").unwrap();
        }
        assert_eq!(super::clean_work_root(root.path()), 3);
        let left: Vec<String> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(left, ["keep-me"]);
        assert_eq!(super::clean_work_root(&root.path().join("missing")), 0);
    }
}
