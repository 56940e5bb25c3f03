//! Tasks as the API reads them: one task (no secrets), the list with Backstage's filters, order
//! and paging, and a task's events after a given one.

use serde_json::Value;

use super::{event_json, is_recoverable, task_json, Scaffolder};
use crate::error::Error;

/// A task as the API serves it, and whether it may start over after a restart.
pub struct TaskView {
    pub json: Value,
    pub recoverable: bool,
}

/// One event of a task: its id, type, and JSON as the API serves it.
pub struct TaskEvent {
    pub id: i64,
    pub event_type: String,
    pub json: Value,
}

/// `GET /v2/tasks`'s query: filters, order (`(descending, field)`, first wins) and paging.
pub struct TaskQuery {
    pub created_by: Vec<String>,
    pub statuses: Vec<String>,
    pub order: Vec<(bool, String)>,
    pub limit: Option<usize>,
    pub offset: usize,
}

impl Scaffolder {
    pub fn task(&self, id: &str) -> Result<TaskView, Error> {
        let row = self
            .db()
            .task(id)?
            .ok_or_else(|| Error::NotFound(format!("No task with id '{id}' found")))?;
        Ok(TaskView {
            json: task_json(&row),
            recoverable: is_recoverable(&row),
        })
    }

    /// The page of tasks the query asks for, and how many match in all.
    pub fn list_tasks(&self, q: &TaskQuery) -> Result<(Vec<Value>, usize), Error> {
        let mut rows = self.db().tasks(&q.created_by, &q.statuses)?;
        rows.sort_by(|a, b| {
            for (desc, field) in &q.order {
                let ord = match field.as_str() {
                    "status" => a.status.cmp(&b.status),
                    "created_by" => a.created_by.cmp(&b.created_by),
                    _ => a.created_at.cmp(&b.created_at),
                };
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
        let total = rows.len();
        let page = rows
            .iter()
            .skip(q.offset)
            .take(q.limit.unwrap_or(usize::MAX))
            .map(task_json)
            .collect();
        Ok((page, total))
    }

    /// Events after `after` (plus completions); without it, those since the last recovery.
    pub fn events_since(
        &self,
        id: &str,
        after: Option<i64>,
        recoverable: bool,
    ) -> Result<Vec<TaskEvent>, Error> {
        let mut rows = self.db().task_events(id, after)?;
        if after.is_none() {
            if let Some(i) = rows.iter().rposition(|e| e.event_type == "recovered") {
                rows.drain(..i);
            }
        }
        Ok(rows
            .iter()
            .map(|e| TaskEvent {
                id: e.id,
                event_type: e.event_type.clone(),
                json: event_json(e, recoverable),
            })
            .collect())
    }
}
