//! The relation graph of a snapshot, for Cairn's graph queries: neighbourhoods, impact (what
//! depends on an entity), lineage (what it reads from), paths, and dangling references. Built
//! lazily once per snapshot from the relations every entity serves; every walk is bounded in
//! depth, size and time, and says when a bound cut it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use parking_lot::RwLock;
use serde::Serialize;

use super::Snapshot;
use crate::model::kinds::relation_fields;

/// Relation type names by id, and ids by name.
#[derive(Default)]
struct TypeTable {
    names: Vec<String>,
    ids: HashMap<String, u16>,
}

static TYPES: Lazy<RwLock<TypeTable>> = Lazy::new(Default::default);

/// The id of a relation type (interned for the whole process).
pub fn type_id(name: &str) -> u16 {
    if let Some(id) = TYPES.read().ids.get(name) {
        return *id;
    }
    let mut t = TYPES.write();
    if let Some(id) = t.ids.get(name) {
        return *id;
    }
    let id = t.names.len() as u16;
    t.names.push(name.to_string());
    t.ids.insert(name.to_string(), id);
    id
}

pub fn type_name(id: u16) -> String {
    TYPES
        .read()
        .names
        .get(id as usize)
        .cloned()
        .unwrap_or_default()
}

/// What depends on an entity: following these from X reaches everything X's change can break.
pub const IMPACT: &[&str] = &[
    "dependencyOf",
    "apiConsumedBy",
    "eventConsumedBy",
    "dataProductConsumedBy",
    "providesApi",
    "producesEvent",
    "hasOutputPort",
    "modelUsedBy",
];

/// What an entity reads from: the inverses of [`IMPACT`].
pub const LINEAGE: &[&str] = &[
    "dependsOn",
    "consumesApi",
    "consumesEvent",
    "consumesDataProduct",
    "apiProvidedBy",
    "eventProducedBy",
    "outputPortOf",
    "usesModel",
];

pub struct Graph {
    /// Per doc: (type, target doc).
    out: Vec<Vec<(u16, u32)>>,
    /// Per doc: (type, source doc) of relations pointing at it.
    incoming: Vec<Vec<(u16, u32)>>,
    /// (source doc, type, missing target).
    dangling: Vec<(u32, u16, Box<str>)>,
}

impl Graph {
    pub fn build(snap: &Snapshot) -> Graph {
        let n = snap.docs.len();
        let mut out = vec![Vec::new(); n];
        let mut incoming = vec![Vec::new(); n];
        let mut dangling = Vec::new();
        for (i, d) in snap.docs.iter().enumerate() {
            for (t, target) in d.relations() {
                match snap.by_ref.get(target) {
                    Some(&j) => {
                        out[i].push((t, j));
                        incoming[j as usize].push((t, i as u32));
                    }
                    None => dangling.push((i as u32, t, target.into())),
                }
            }
        }
        Graph {
            out,
            incoming,
            dangling,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Outgoing,
    Incoming,
    Both,
}

/// Bounds of one walk.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_nodes: usize,
    pub time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 3,
            max_nodes: 10_000,
            time: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub entity_ref: String,
    pub kind: String,
    pub title: Option<String>,
    pub depth: usize,
    /// For impact and lineage: the node this one was reached from, and by which relation.
    /// Following `via` back to the root gives the path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<Edge>,
    /// The whole chain of relations from the root, when asked for (`paths=full`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<Edge>>,
}

/// How much of the route to each node a walk returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paths {
    None,
    Via,
    Full,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Edge {
    pub source: String,
    #[serde(rename = "type")]
    pub rel_type: String,
    pub target: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Walk {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Set when a bound cut the walk: which one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
}

/// A breadth-first walk from `roots`. `types` limits the relation types followed (all when
/// empty), `kinds` the kinds of nodes entered (the roots always). With `paths`, each node
/// carries the relations from its root.
#[allow(clippy::too_many_arguments)]
pub fn walk(
    snap: &Snapshot,
    roots: &[u32],
    types: &[String],
    kinds: &[String],
    direction: Direction,
    limits: Limits,
    paths: Paths,
) -> Walk {
    let graph = snap.graph();
    let started = Instant::now();
    let type_ids: Vec<u16> = types.iter().map(|t| type_id(t)).collect();
    let allowed = |t: u16| type_ids.is_empty() || type_ids.contains(&t);
    let kind_ok = |i: u32| {
        kinds.is_empty()
            || kinds
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&snap.docs[i as usize].kind))
    };
    // node → (depth, how it was reached: previous node, relation type, walked backwards).
    type Reached = (usize, Option<(u32, u16, bool)>);
    let mut seen: HashMap<u32, Reached> = HashMap::new();
    let mut queue = VecDeque::new();
    for &r in roots {
        if seen.insert(r, (0, None)).is_none() {
            queue.push_back(r);
        }
    }
    let mut edges = Vec::new();
    let mut truncated = None;
    'walk: while let Some(node) = queue.pop_front() {
        let depth = seen[&node].0;
        if depth >= limits.max_depth {
            continue;
        }
        if started.elapsed() > limits.time {
            truncated = Some(format!("time limit of {} ms", limits.time.as_millis()));
            break;
        }
        let outgoing = matches!(direction, Direction::Outgoing | Direction::Both)
            .then(|| graph.out[node as usize].iter().map(|e| (*e, false)));
        let incoming = matches!(direction, Direction::Incoming | Direction::Both)
            .then(|| graph.incoming[node as usize].iter().map(|e| (*e, true)));
        for ((t, next), reversed) in outgoing
            .into_iter()
            .flatten()
            .chain(incoming.into_iter().flatten())
        {
            if !allowed(t) || !kind_ok(next) {
                continue;
            }
            let (source, target) = if reversed { (next, node) } else { (node, next) };
            edges.push((source, t, target));
            if !seen.contains_key(&next) {
                if seen.len() >= limits.max_nodes {
                    truncated = Some(format!("node limit of {}", limits.max_nodes));
                    break 'walk;
                }
                seen.insert(next, (depth + 1, Some((node, t, reversed))));
                queue.push_back(next);
            }
        }
    }
    let edge = |(s, t, d): (u32, u16, u32)| Edge {
        source: snap.docs[s as usize].entity_ref.to_string(),
        rel_type: type_name(t),
        target: snap.docs[d as usize].entity_ref.to_string(),
    };
    let mut order: Vec<(u32, usize)> = seen.iter().map(|(k, v)| (*k, v.0)).collect();
    order.sort_by(|a, b| {
        a.1.cmp(&b.1).then_with(|| {
            snap.docs[a.0 as usize]
                .entity_ref
                .cmp(&snap.docs[b.0 as usize].entity_ref)
        })
    });
    let nodes = order
        .into_iter()
        .map(|(i, depth)| {
            let step = |cur: u32| match seen.get(&cur) {
                Some((_, Some((prev, t, reversed)))) => Some(if *reversed {
                    edge((cur, *t, *prev))
                } else {
                    edge((*prev, *t, cur))
                }),
                _ => None,
            };
            let via = if paths == Paths::None { None } else { step(i) };
            let path = (paths == Paths::Full).then(|| {
                let mut steps = Vec::new();
                let mut cur = i;
                while let Some((_, Some((prev, t, reversed)))) = seen.get(&cur) {
                    steps.push(if *reversed {
                        edge((cur, *t, *prev))
                    } else {
                        edge((*prev, *t, cur))
                    });
                    cur = *prev;
                }
                steps.reverse();
                steps
            });
            let d = &snap.docs[i as usize];
            Node {
                entity_ref: d.entity_ref.to_string(),
                kind: d.kind.to_string(),
                title: d.title.as_deref().map(str::to_owned),
                depth,
                via,
                path,
            }
        })
        .collect();
    edges.sort();
    edges.dedup();
    // By refs, not by document index (which follows the random uids), so the same catalog
    // always lists its edges in the same order.
    let mut edges: Vec<Edge> = edges.into_iter().map(edge).collect();
    edges.sort_by(|a, b| {
        (&a.source, &a.rel_type, &a.target).cmp(&(&b.source, &b.rel_type, &b.target))
    });
    Walk {
        nodes,
        edges,
        truncated,
    }
}

/// The shortest chain of relations from `from` to `to`, if any within the limits.
pub fn path(
    snap: &Snapshot,
    from: u32,
    to: u32,
    limits: Limits,
) -> (Option<Vec<Edge>>, Option<String>) {
    let w = walk(
        snap,
        &[from],
        &[],
        &[],
        Direction::Outgoing,
        Limits {
            max_depth: limits.max_depth,
            ..limits
        },
        Paths::Full,
    );
    let target = snap.docs[to as usize].entity_ref.to_string();
    let found = w
        .nodes
        .into_iter()
        .find(|n| n.entity_ref == target)
        .and_then(|n| n.path);
    (found, w.truncated)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dangling {
    pub entity_ref: String,
    pub field: String,
    #[serde(rename = "type")]
    pub rel_type: String,
    pub target_ref: String,
}

/// Every relation whose target is not in the catalog, with the spec field that holds it.
pub fn dangling(snap: &Snapshot, limit: usize) -> (Vec<Dangling>, usize) {
    let graph = snap.graph();
    let total = graph.dangling.len();
    let list = graph
        .dangling
        .iter()
        .take(limit)
        .map(|(s, t, target)| {
            let doc = &snap.docs[*s as usize];
            let rel_type = type_name(*t);
            let field = relation_fields(&doc.kind)
                .iter()
                .find(|f| {
                    f.targets
                        .iter()
                        .any(|tg| tg.pairs.iter().any(|(fwd, _)| *fwd == rel_type))
                })
                .map(|f| format!("spec.{}", f.path.replace("[]", "")))
                .unwrap_or_else(|| format!("relations.{rel_type}"));
            Dangling {
                entity_ref: doc.entity_ref.to_string(),
                field,
                rel_type,
                target_ref: target.to_string(),
            }
        })
        .collect();
    (list, total)
}

impl Snapshot {
    /// The relation graph, built on first use.
    pub fn graph(&self) -> Arc<Graph> {
        let mut g = self.graph.lock();
        if let Some(existing) = g.as_ref() {
            return existing.clone();
        }
        let built = Arc::new(Graph::build(self));
        *g = Some(built.clone());
        built
    }
}
