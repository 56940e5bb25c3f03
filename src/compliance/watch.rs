//! The classification watch: records every change of an AI system's classification in the audit
//! trail.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::pack::{PackSource, RulePack};

/// Records every change of an AI system's classification in the audit trail. Follows the read
/// model: each new snapshot classifies the `AIAgent`s again and appends what moved.
#[derive(Default)]
pub struct ClassificationWatch {
    /// entity → the last recorded (tier, basis, flags), as JSON text.
    last: Option<HashMap<String, String>>,
    snapshot: Option<i64>,
    pack: Option<std::sync::Arc<RulePack>>,
}

impl ClassificationWatch {
    pub fn run(
        &mut self,
        db: &crate::storage::Db,
        snap: &crate::readmodel::Snapshot,
        source: &PackSource,
    ) -> crate::storage::Result<usize> {
        let Ok((pack, _)) = source.get() else {
            return Ok(0);
        };
        let key = Some(snap.seq);
        let same_pack = self
            .pack
            .as_ref()
            .is_some_and(|p| std::sync::Arc::ptr_eq(p, &pack));
        if key == self.snapshot && same_pack {
            return Ok(0);
        }
        self.snapshot = key;
        self.pack = Some(pack.clone());
        let last = match &mut self.last {
            Some(l) => l,
            None => {
                let mut l = HashMap::new();
                for (entity, details) in db.latest_audit_details("classification.changed")? {
                    let v: Value = serde_json::from_str(&details).unwrap_or_default();
                    l.insert(entity, summary(&v));
                }
                self.last.insert(l)
            }
        };
        let mut entries = Vec::new();
        for doc in snap.docs.iter().filter(|d| &*d.kind == "AIAgent") {
            let entity: Value = serde_json::from_str(&doc.json).unwrap_or_default();
            let c = pack.classify(&entity);
            let now = summary(&c);
            let r = doc.entity_ref.to_string();
            if last.get(&r) == Some(&now) {
                continue;
            }
            let previous = last.insert(r.clone(), now);
            let mut details = c.clone();
            details["previous"] = previous
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or(Value::Null);
            details["rulePack"] = json!(format!("{} {}", pack.name, pack.version));
            entries.push(crate::model::audit::Entry::new(
                &crate::model::audit::Actor::cairn(),
                "classification.changed",
                Some(&r),
                details,
            ));
        }
        db.append_audit(&entries)?;
        Ok(entries.len())
    }
}

/// What counts as a classification change: tier, basis and flags.
fn summary(c: &Value) -> String {
    json!({"tier": c["tier"], "basis": c["basis"], "flags": c["flags"]}).to_string()
}
