//! A new snapshot's indexes derived from the previous snapshot's when few docs changed: ids
//! are remapped and only the changed docs are read, instead of every row of every doc and a
//! sort of them all (seconds at a million entities, on every change).

use std::collections::{HashMap, HashSet};

use super::{FacetIndex, KeyIndex, Snapshot};

const GONE: u32 = u32::MAX;

/// How the old snapshot's doc ids map onto the new one's. Both are sorted by uid and an
/// unchanged doc keeps its uid, so the map keeps order.
pub struct Remap {
    /// Old id → new id; [`GONE`] for docs that changed or left.
    to_new: Vec<u32>,
    /// New ids of the changed docs still served, ascending.
    added: Vec<u32>,
    len: usize,
}

impl Remap {
    pub fn new(old: &Snapshot, new: &Snapshot) -> Remap {
        let changed: HashSet<&str> = new.changed.iter().map(|r| &**r).collect();
        let to_new = old
            .docs
            .iter()
            .map(|d| match changed.contains(&*d.entity_ref) {
                true => GONE,
                false => new.by_ref.get(&d.entity_ref).copied().unwrap_or(GONE),
            })
            .collect();
        let mut added: Vec<u32> = new
            .changed
            .iter()
            .filter_map(|r| new.by_ref.get(r).copied())
            .collect();
        added.sort_unstable();
        Remap {
            to_new,
            added,
            len: new.len(),
        }
    }

    /// Whether deriving beats building: up to an eighth of the docs changed.
    pub fn small(&self) -> bool {
        self.added.len() * 8 <= self.len
    }

    fn ids(&self, ids: &[u32]) -> Vec<u32> {
        ids.iter()
            .map(|&i| self.to_new[i as usize])
            .filter(|&i| i != GONE)
            .collect()
    }

    /// [`Snapshot::build_index`] of `new`, from the old snapshot's index of the same key.
    pub fn key_index(&self, new: &Snapshot, kid: u32, old: &KeyIndex) -> KeyIndex {
        let mut by_value: HashMap<String, Vec<u32>> = HashMap::with_capacity(old.by_value.len());
        for (v, ids) in &old.by_value {
            let ids = self.ids(ids);
            if !ids.is_empty() {
                by_value.insert(v.clone(), ids);
            }
        }
        let mut exists = self.ids(&old.exists);
        let sorted = self.ids(&old.sorted);
        let mut touched: HashSet<String> = HashSet::new();
        let mut fresh: Vec<(String, u32)> = Vec::new();
        for &d in &self.added {
            let mut has = false;
            for (k, v) in new.docs[d as usize].rows() {
                if k != kid {
                    continue;
                }
                has = true;
                if let Some(v) = v {
                    let lower = v.to_lowercase();
                    by_value.entry(lower.clone()).or_default().push(d);
                    touched.insert(lower);
                }
            }
            if has {
                exists.push(d);
            }
            if let Some(first) = new.first_value(d, kid) {
                fresh.push((first, d));
            }
        }
        for v in &touched {
            let list = by_value.get_mut(v).expect("touched");
            list.sort_unstable();
            list.dedup();
        }
        exists.sort_unstable();
        // Ordered by (smallest lowercase value, uid), and ids follow uids: merge the changed
        // docs into the kept order, each at its place found by binary search.
        fresh.sort();
        let mut out = Vec::with_capacity(sorted.len() + fresh.len());
        let mut from = 0;
        for (v, d) in fresh {
            let key = (Some(v), d);
            let at = from + sorted[from..].partition_point(|&s| (new.first_value(s, kid), s) < key);
            out.extend_from_slice(&sorted[from..at]);
            out.push(d);
            from = at;
        }
        out.extend_from_slice(&sorted[from..]);
        KeyIndex {
            by_value,
            exists,
            sorted: out,
            ..Default::default()
        }
    }

    /// [`Snapshot::build_facet_index`] of `new`, from the old snapshot's facet index.
    pub fn facet_index(&self, new: &Snapshot, kid: u32, old: &FacetIndex) -> FacetIndex {
        let mut map: HashMap<String, Vec<u32>> = old
            .iter()
            .filter_map(|(v, ids)| {
                let ids = self.ids(ids);
                (!ids.is_empty()).then(|| (v.clone(), ids))
            })
            .collect();
        let mut touched: HashSet<String> = HashSet::new();
        for &d in &self.added {
            for (k, v) in new.docs[d as usize].rows() {
                if let (true, Some(v)) = (k == kid, v) {
                    map.entry(v.to_string()).or_default().push(d);
                    touched.insert(v.to_string());
                }
            }
        }
        for v in &touched {
            let list = map.get_mut(v).expect("touched");
            list.sort_unstable();
            list.dedup();
        }
        let mut list: FacetIndex = map.into_iter().collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::readmodel::{search, Doc, Keys};

    fn doc(keys: &Keys, name: &str, uid: &str, owner: &str, tags: &[&str]) -> Arc<Doc> {
        let entity = json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": name, "namespace": "default", "uid": uid, "tags": tags},
            "spec": {"type": "service", "owner": owner},
            "relations": [{"type": "ownedBy", "targetRef": format!("group:default/{owner}")}]
        });
        let r = format!("component:default/{name}");
        Arc::new(search::build_doc(r, uid.into(), entity.to_string(), keys))
    }

    fn snapshot(keys: &Arc<Keys>, mut docs: Vec<Arc<Doc>>, changed: Vec<Arc<str>>) -> Snapshot {
        docs.sort_by(|a, b| a.uid.cmp(&b.uid));
        let mut s = Snapshot::new(docs, keys.clone());
        s.changed = changed;
        s
    }

    #[test]
    fn derived_indexes_equal_built_ones() {
        let keys = Arc::new(Keys::default());
        let owners = ["Team-A", "team-b", "team-c"];
        let tag_sets: [&[&str]; 3] = [&["java"], &["go", "Java"], &[]];
        let old_docs: Vec<Arc<Doc>> = (0..60)
            .map(|i| {
                doc(
                    &keys,
                    &format!("c{i}"),
                    &format!("u{i:03}"),
                    owners[i % 3],
                    tag_sets[i % 3],
                )
            })
            .collect();
        let old = snapshot(&keys, old_docs.clone(), vec![]);
        // Deleted, changed (same uid, new values) and added (new uids between the old ones).
        let mut changed: Vec<Arc<str>> = Vec::new();
        let mut new_docs = Vec::new();
        for (i, d) in old_docs.iter().enumerate() {
            if i % 7 == 0 {
                changed.push(d.entity_ref.clone());
            } else if i % 5 == 0 {
                changed.push(d.entity_ref.clone());
                new_docs.push(doc(&keys, &format!("c{i}"), &d.uid, "team-z", &["rust"]));
            } else {
                new_docs.push(d.clone());
            }
        }
        for i in 0..6 {
            let added = doc(
                &keys,
                &format!("n{i}"),
                &format!("u{:03}5", i * 9),
                owners[i % 3],
                &["java"],
            );
            changed.push(added.entity_ref.clone());
            new_docs.push(added);
        }
        let new = snapshot(&keys, new_docs, changed);
        // More changed than small() would derive from, to exercise every path.
        let remap = Remap::new(&old, &new);
        for key in [
            "spec.owner",
            "metadata.tags",
            "metadata.name",
            "relations.ownedby",
            "kind",
        ] {
            let kid = keys.get(key).unwrap();
            let built = new.build_index(kid);
            let derived = remap.key_index(&new, kid, &old.build_index(kid));
            assert_eq!(derived.by_value, built.by_value, "{key}");
            assert_eq!(derived.exists, built.exists, "{key}");
            assert_eq!(derived.sorted, built.sorted, "{key}");
            let facets = remap.facet_index(&new, kid, &old.build_facet_index(kid));
            assert_eq!(facets, new.build_facet_index(kid), "{key}");
        }
    }
}
