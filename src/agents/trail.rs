//! Agents' calls onto the audit trail with group commit: each call waits until its record is
//! committed (a call that cannot be recorded is not answered), and the calls that arrive while
//! one commit runs share the next, so concurrent agents pay for one transaction, not one each.

use std::collections::HashMap;

use parking_lot::{Condvar, Mutex};

use crate::model::audit::Entry;
use crate::storage::Db;

#[derive(Default)]
struct Queue {
    pending: Vec<Entry>,
    /// The batch the pending entries will be committed in.
    batch: u64,
    flushing: bool,
    /// The last batch committed (or failed).
    done: u64,
    results: HashMap<u64, Result<(), String>>,
}

#[derive(Default)]
pub struct Trail {
    queue: Mutex<Queue>,
    committed: Condvar,
}

impl Trail {
    /// Appends `entry` and returns once it is committed, or why it could not be.
    pub fn append(&self, db: &Db, entry: Entry) -> Result<(), String> {
        let mut q = self.queue.lock();
        q.pending.push(entry);
        let mine = q.batch + 1;
        loop {
            if q.done >= mine {
                return q.results.get(&mine).cloned().unwrap_or(Ok(()));
            }
            if !q.flushing {
                // Lead: commit everything pending, this entry with it.
                q.flushing = true;
                q.batch += 1;
                let this = q.batch;
                let entries = std::mem::take(&mut q.pending);
                drop(q);
                let result = db.append_audit(&entries).map_err(|e| e.to_string());
                q = self.queue.lock();
                q.flushing = false;
                q.done = this;
                q.results.insert(this, result.clone());
                q.results.retain(|b, _| *b + 1024 > this);
                self.committed.notify_all();
                if this >= mine {
                    return result;
                }
                continue;
            }
            self.committed.wait(&mut q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_appends_are_all_committed_in_one_chain() {
        let (_dir, _, db) = crate::storage::temporary_sqlite();
        let trail = std::sync::Arc::new(Trail::default());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (trail, db) = (trail.clone(), db.clone());
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let e = Entry::new(
                            &crate::model::audit::Actor::new(format!("aiagent:default/a{t}")),
                            "mcp.tools/call",
                            None,
                            serde_json::json!({"i": i}),
                        );
                        trail.append(&db, e).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let records = db.audit_records(0, 1000, None, None, None).unwrap();
        assert_eq!(records.len(), 400);
        let report = db.verify_audit().unwrap();
        assert!(report.ok && report.records == 400);
    }
}
