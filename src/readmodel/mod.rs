//! The read model: an in-memory, immutable snapshot of every served entity with its
//! pre-serialised JSON and Backstage's search rows. Queries, facets and paging never touch the
//! database. A new snapshot is built from the storage change sequence after each write;
//! per-key indexes and sort orders are built lazily on first use and live with the snapshot.

mod bitset;
pub mod filter;
pub mod full_text;
pub mod graph;
mod incremental;
mod projection;
pub mod query;
mod search;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub use bitset::Bitset;
pub use filter::Predicate;

/// One served entity.
#[derive(Debug)]
pub struct Doc {
    pub entity_ref: Arc<str>,
    /// Lowercase, as generated.
    pub uid: Arc<str>,
    pub json: Box<str>,
    /// Values that are not verbatim in `json` (escaped there, or derived such as `true`).
    /// Every other search row value and relation target is a range of `json`: they used to be
    /// copied out, about 1.5 KB per entity beside 2.5 KB of JSON.
    extra: Box<str>,
    rows: Box<[SearchRow]>,
    /// (relation type id, target ref) for the graph.
    relations: Box<[(u16, Span)]>,
    pub kind: Box<str>,
    pub title: Option<Box<str>>,
}

/// A range of a [`Doc`]'s `json`, or of its `extra` when `start` has [`Span::EXTRA`] set.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    /// [`Span::NULL`] for a null or over-long value.
    len: u32,
}

impl Span {
    const EXTRA: u32 = 1 << 31;
    const NULL: Span = Span {
        start: 0,
        len: u32::MAX,
    };
}

#[derive(Debug, Clone, Copy)]
struct SearchRow {
    key: u32,
    value: Span,
}

/// Places values in an entity's JSON: each is looked for from where the last was found, as
/// rows come in the order of the JSON text; any occurrence of the same bytes will do. The
/// cursor only moves forward, so a value found behind it (`metadata.name`, pushed after the
/// walk) does not make every later search start over.
struct Locator<'a> {
    json: &'a str,
    cursor: usize,
    extra: String,
    /// Where each value not found in the JSON is in `extra`: a derived value (`true` for each
    /// element of a string array) would otherwise scan the whole JSON again each time.
    missed: HashMap<String, u32>,
}

impl Locator<'_> {
    fn place(&mut self, v: &str) -> Span {
        let len = v.len() as u32;
        if v.is_empty() {
            return Span { start: 0, len };
        }
        if let Some(&start) = self.missed.get(v) {
            return Span { start, len };
        }
        if let Some(i) = self.json[self.cursor..].find(v) {
            self.cursor += i + v.len();
            return Span {
                start: (self.cursor - v.len()) as u32,
                len,
            };
        }
        if let Some(i) = self.json.find(v) {
            return Span {
                start: i as u32,
                len,
            };
        }
        let start = self.extra.len() as u32 | Span::EXTRA;
        self.extra.push_str(v);
        self.missed.insert(v.to_string(), start);
        Span { start, len }
    }
}

/// What the graph needs of an entity: kind, title, and (relation type id, target) pairs.
pub type GraphFields = (String, Option<String>, Vec<(u16, String)>);

impl Doc {
    pub fn new(
        entity_ref: String,
        uid: String,
        json: String,
        rows: Vec<(u32, Option<String>)>,
        graph: GraphFields,
    ) -> Doc {
        let (kind, title, relations) = graph;
        let mut at = Locator {
            json: &json,
            cursor: 0,
            extra: String::new(),
            missed: HashMap::new(),
        };
        let rows = rows
            .into_iter()
            .map(|(key, v)| SearchRow {
                key,
                value: v.map_or(Span::NULL, |v| at.place(&v)),
            })
            .collect();
        // The relations were placed once as search rows; start again at the array (stitching
        // appends it, so it is the last one), or an entity with thousands of them scans its
        // whole JSON for each.
        at.cursor = json.rfind("\"relations\":[").unwrap_or(0);
        let relations = relations
            .into_iter()
            .map(|(t, target)| (t, at.place(&target)))
            .collect();
        let extra = std::mem::take(&mut at.extra).into_boxed_str();
        Doc {
            entity_ref: Arc::from(entity_ref),
            uid: Arc::from(uid.to_lowercase()),
            json: json.into_boxed_str(),
            extra,
            rows,
            relations,
            kind: kind.into_boxed_str(),
            title: title.map(String::into_boxed_str),
        }
    }

    fn value(&self, span: Span) -> &str {
        let (text, start) = match span.start & Span::EXTRA {
            0 => (&*self.json, span.start),
            _ => (&*self.extra, span.start & !Span::EXTRA),
        };
        &text[start as usize..(start + span.len) as usize]
    }

    /// (interned lowercase key, original value; `None` for null or over-long values).
    pub fn rows(&self) -> impl Iterator<Item = (u32, Option<&str>)> + '_ {
        self.rows.iter().map(|r| {
            let v = (r.value.len != u32::MAX).then(|| self.value(r.value));
            (r.key, v)
        })
    }

    /// (relation type id, target ref) of each relation.
    pub fn relations(&self) -> impl Iterator<Item = (u16, &str)> + '_ {
        self.relations.iter().map(|(t, s)| (*t, self.value(*s)))
    }
}

/// Interned search keys, shared by every snapshot.
#[derive(Default)]
pub struct Keys {
    ids: RwLock<HashMap<String, u32>>,
}

impl Keys {
    pub fn intern(&self, key: &str) -> u32 {
        if let Some(id) = self.ids.read().get(key) {
            return *id;
        }
        let mut ids = self.ids.write();
        let next = ids.len() as u32;
        *ids.entry(key.to_string()).or_insert(next)
    }
    pub fn get(&self, key: &str) -> Option<u32> {
        self.ids.read().get(key).copied()
    }
}

/// The first `N` bytes of `s`, zero-padded: a sort key ordered as `s` is, where a tie is broken
/// by comparing the strings themselves. Held in the sorted items, it spares reading each
/// string at random for most comparisons.
pub fn sort_prefix<const N: usize>(s: &str) -> [u8; N] {
    let mut key = [0u8; N];
    let n = s.len().min(N);
    key[..n].copy_from_slice(&s.as_bytes()[..n]);
    key
}

/// `v` in lowercase, copied only when it has capitals.
fn lowercase(v: &str) -> std::borrow::Cow<'_, str> {
    if v.is_ascii() && !v.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Borrowed(v)
    } else {
        std::borrow::Cow::Owned(v.to_lowercase())
    }
}

/// Equality index of one key: lowercase value → sorted doc ids, plus the ids having the key.
#[derive(Debug, Default)]
pub struct KeyIndex {
    pub by_value: HashMap<String, Vec<u32>>,
    pub exists: Vec<u32>,
    /// Docs with a non-null value, ordered by (lowercase value, uid).
    pub sorted: Vec<u32>,
    /// Sets of the values held by many docs, built on first use: `kind=component` at a million
    /// entities set 610,000 bits on every request.
    sets: Mutex<HashMap<String, Arc<Bitset>>>,
}

impl KeyIndex {
    /// The docs whose value is `value` (lowercase), over `n` docs.
    pub fn set_of(&self, value: &str, n: usize) -> Arc<Bitset> {
        let ids = self.by_value.get(value).map_or(&[][..], Vec::as_slice);
        // Kept only for values of at least 1/32 of the docs: at most 32 per key, each no
        // larger than its list of ids.
        if ids.len() * 32 < n {
            return Arc::new(Bitset::from_sorted(n, ids));
        }
        if let Some(set) = self.sets.lock().get(value) {
            return set.clone();
        }
        let set = Arc::new(Bitset::from_sorted(n, ids));
        self.sets.lock().insert(value.to_string(), set.clone());
        set
    }
}

pub struct Snapshot {
    pub docs: Vec<Arc<Doc>>,
    pub by_ref: HashMap<Arc<str>, u32>,
    pub by_uid: HashMap<Arc<str>, u32>,
    pub keys: Arc<Keys>,
    indexes: Mutex<HashMap<u32, Arc<KeyIndex>>>,
    facet_indexes: Mutex<HashMap<u32, Arc<FacetIndex>>>,
    /// Held while an index is built: requests wanting one wait for a single build instead of
    /// each building it (at a million entities, four at once held every worker for seconds).
    building: Mutex<()>,
    /// Keys whose index (or facet index, `true`) a caller asked for: built at once on the next
    /// snapshot. Those only inherited are not carried further, so a key queried once is not
    /// kept indexed for ever.
    asked: RwLock<HashSet<(bool, u32)>>,
    graph: Mutex<Option<Arc<graph::Graph>>>,
    /// The change sequence number this snapshot reflects: its identity.
    pub seq: i64,
    /// The snapshot this one was derived from (its `seq`) and the refs that changed since
    /// (upserted or deleted), so followers can work incrementally.
    pub previous: i64,
    pub changed: Vec<Arc<str>>,
}

/// Case-preserved value → docs having it, for facet counts.
pub type FacetIndex = Vec<(String, Vec<u32>)>;

impl Snapshot {
    fn new(docs: Vec<Arc<Doc>>, keys: Arc<Keys>) -> Self {
        let mut by_ref = HashMap::with_capacity(docs.len());
        let mut by_uid = HashMap::with_capacity(docs.len());
        for (i, d) in docs.iter().enumerate() {
            by_ref.insert(d.entity_ref.clone(), i as u32);
            by_uid.insert(d.uid.clone(), i as u32);
        }
        Snapshot {
            docs,
            by_ref,
            by_uid,
            keys,
            indexes: Mutex::new(HashMap::new()),
            facet_indexes: Mutex::new(HashMap::new()),
            building: Mutex::new(()),
            asked: RwLock::new(HashSet::new()),
            graph: Mutex::new(None),
            seq: 0,
            previous: -1,
            changed: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    pub fn get_by_ref(&self, entity_ref: &str) -> Option<&Arc<Doc>> {
        self.by_ref.get(entity_ref).map(|i| &self.docs[*i as usize])
    }

    /// Who is told about an entity: its owners that are users, and the direct members of its
    /// owners that are groups.
    pub fn owner_members(&self, entity_ref: &str) -> Vec<String> {
        let (owned_by, has_member) = (graph::type_id("ownedBy"), graph::type_id("hasMember"));
        let mut users: Vec<String> = Vec::new();
        let Some(doc) = self.get_by_ref(entity_ref) else {
            return users;
        };
        let mut add = |u: &str| {
            if !users.iter().any(|x| x == u) {
                users.push(u.to_string());
            }
        };
        for (_, owner) in doc.relations().filter(|(t, _)| *t == owned_by) {
            if owner.starts_with("user:") {
                add(owner);
            } else if let Some(group) = self.get_by_ref(owner) {
                for (_, member) in group.relations().filter(|(t, _)| *t == has_member) {
                    add(member);
                }
            }
        }
        users
    }

    pub fn get_by_uid(&self, uid: &str) -> Option<&Arc<Doc>> {
        self.by_uid
            .get(uid.to_lowercase().as_str())
            .map(|i| &self.docs[*i as usize])
    }

    /// The index of a (lowercase) key, built on first use.
    pub fn index(&self, key: &str) -> Arc<KeyIndex> {
        match self.asked_for(false, key) {
            Some(kid) => self.index_of(kid),
            None => Arc::new(KeyIndex::default()),
        }
    }

    /// The id of a key a caller asks an index (or facet index) of, noted for the next
    /// snapshot; on the query path, so a key already noted costs a shared lock only.
    fn asked_for(&self, facet: bool, key: &str) -> Option<u32> {
        let kid = self.keys.get(key)?;
        if !self.asked.read().contains(&(facet, kid)) {
            self.asked.write().insert((facet, kid));
        }
        Some(kid)
    }

    fn index_of(&self, kid: u32) -> Arc<KeyIndex> {
        self.built_once(&self.indexes, kid, || self.build_index(kid))
    }

    /// The entry of `kid` in `built`, or one made by `build`, once for all callers.
    fn built_once<T>(
        &self,
        built: &Mutex<HashMap<u32, Arc<T>>>,
        kid: u32,
        build: impl FnOnce() -> T,
    ) -> Arc<T> {
        if let Some(ix) = built.lock().get(&kid) {
            return ix.clone();
        }
        let _one = self.building.lock();
        if let Some(ix) = built.lock().get(&kid) {
            return ix.clone();
        }
        let ix = Arc::new(build());
        built.lock().insert(kid, ix.clone());
        ix
    }

    fn build_index(&self, kid: u32) -> KeyIndex {
        let mut ix = KeyIndex::default();
        // (first value, the uid's first 16 bytes, doc): the ties of a common value (a kind, a
        // type) are ordered by uid, and comparing uids in place read a doc at random for each.
        let mut sortable: Vec<(String, [u8; 16], u32)> = Vec::new();
        for (i, d) in self.docs.iter().enumerate() {
            let i = i as u32;
            let mut first: Option<String> = None;
            let mut has = false;
            for (k, v) in d.rows() {
                if k != kid {
                    continue;
                }
                has = true;
                if let Some(v) = v {
                    let lower = lowercase(v);
                    match ix.by_value.get_mut(&*lower) {
                        Some(list) => {
                            if list.last() != Some(&i) {
                                list.push(i);
                            }
                        }
                        None => {
                            ix.by_value.insert(lower.to_string(), vec![i]);
                        }
                    }
                    if first.as_deref().is_none_or(|f| *lower < *f) {
                        first = Some(lower.into_owned());
                    }
                }
            }
            if has {
                ix.exists.push(i);
            }
            if let Some(f) = first {
                sortable.push((f, sort_prefix(&d.uid), i));
            }
        }
        sortable.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then_with(|| {
                self.docs[a.2 as usize]
                    .uid
                    .cmp(&self.docs[b.2 as usize].uid)
            })
        });
        ix.sorted = sortable.into_iter().map(|(_, _, i)| i).collect();
        ix
    }

    /// The lowercase sort value of a doc for a key (its smallest value).
    pub fn sort_value(&self, doc: u32, key: &str) -> Option<String> {
        self.first_value(doc, self.keys.get(key)?)
    }

    fn first_value(&self, doc: u32, kid: u32) -> Option<String> {
        self.docs[doc as usize]
            .rows()
            .filter_map(|(k, v)| if k == kid { v } else { None })
            .map(str::to_lowercase)
            .min()
    }

    /// The facet index of a (lowercase) key, built on first use, sorted by value.
    pub fn facet_index(&self, key: &str) -> Arc<FacetIndex> {
        match self.asked_for(true, key) {
            Some(kid) => self.facet_index_of(kid),
            None => Arc::new(Vec::new()),
        }
    }

    fn facet_index_of(&self, kid: u32) -> Arc<FacetIndex> {
        self.built_once(&self.facet_indexes, kid, || self.build_facet_index(kid))
    }

    fn build_facet_index(&self, kid: u32) -> FacetIndex {
        let mut map: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, d) in self.docs.iter().enumerate() {
            for (k, v) in d.rows() {
                if let (true, Some(v)) = (k == kid, v) {
                    let list = map.entry(v).or_default();
                    if list.last() != Some(&(i as u32)) {
                        list.push(i as u32);
                    }
                }
            }
        }
        let mut list: FacetIndex = map.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    pub fn all(&self) -> Bitset {
        Bitset::full(self.docs.len())
    }
}

/// Builds docs (parsing JSON, extracting search rows) on every core.
fn build_docs(upserted: Vec<(String, String, String, i64)>, keys: &Keys) -> Vec<(i64, Arc<Doc>)> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if threads <= 1 || upserted.len() < 1000 {
        return upserted
            .into_iter()
            .map(|(r, uid, json, s)| (s, Arc::new(search::build_doc(r, uid, json, keys))))
            .collect();
    }
    let chunk = upserted.len().div_ceil(threads);
    let mut parts: Vec<Vec<(String, String, String, i64)>> = Vec::new();
    let mut rest = upserted;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        parts.push(rest);
        rest = tail;
    }
    parts.push(rest);
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    part.into_iter()
                        .map(|(r, uid, json, s)| {
                            (s, Arc::new(search::build_doc(r, uid, json, keys)))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("read model worker panicked"))
            .collect()
    })
}

/// The live read model: swaps in a new snapshot after each change.
pub struct ReadModel {
    current: RwLock<Arc<Snapshot>>,
    seq: Mutex<i64>,
    keys: Arc<Keys>,
    ready: std::sync::atomic::AtomicBool,
    /// The last change of the change log followed (entities and every other input): background
    /// work waits on it.
    followed: tokio::sync::watch::Sender<i64>,
    /// How far each background follower has brought its work (a change sequence), and a signal
    /// each time one moves: what "settled" means.
    followers: Mutex<Vec<Arc<std::sync::atomic::AtomicI64>>>,
    progressed: tokio::sync::watch::Sender<()>,
}

/// A background follower's report of how far it has worked (see [`ReadModel::follower`]).
pub struct Follower {
    through: Arc<std::sync::atomic::AtomicI64>,
    progressed: tokio::sync::watch::Sender<()>,
}

impl Follower {
    /// The follower's work reflects every change up to `seq`.
    pub fn done_through(&self, seq: i64) {
        self.through
            .fetch_max(seq, std::sync::atomic::Ordering::SeqCst);
        self.progressed.send_modify(|_| {});
    }
}

impl Default for ReadModel {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadModel {
    pub fn new() -> Self {
        let keys = Arc::new(Keys::default());
        ReadModel {
            current: RwLock::new(Arc::new(Snapshot::new(vec![], keys.clone()))),
            seq: Mutex::new(0),
            keys,
            ready: std::sync::atomic::AtomicBool::new(false),
            followed: tokio::sync::watch::channel(0).0,
            followers: Mutex::new(Vec::new()),
            progressed: tokio::sync::watch::channel(()).0,
        }
    }

    /// The change sequence followed so far (entity changes up to it are in the snapshot).
    pub fn followed_seq(&self) -> i64 {
        *self.followed.borrow()
    }

    /// Registers a background follower (the scorecard engine, the classification watch): the
    /// catalog is settled at a sequence only when every follower has worked through it.
    pub fn follower(&self) -> Follower {
        let through = Arc::new(std::sync::atomic::AtomicI64::new(0));
        self.followers.lock().push(through.clone());
        Follower {
            through,
            progressed: self.progressed.clone(),
        }
    }

    /// The sequence up to which the snapshot and every follower's work reflect all changes.
    pub fn settled_seq(&self) -> i64 {
        let followed = self.followed_seq();
        self.followers
            .lock()
            .iter()
            .map(|f| f.load(std::sync::atomic::Ordering::SeqCst))
            .fold(followed, i64::min)
    }

    /// Waits until the catalog is settled at `seq` (see [`Self::settled_seq`]), at most `timeout`;
    /// returns whether it is.
    pub async fn settled_at(&self, seq: i64, timeout: std::time::Duration) -> bool {
        let mut progressed = self.progressed.subscribe();
        let mut followed = self.followed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.settled_seq() >= seq {
                return true;
            }
            tokio::select! {
                _ = progressed.changed() => {}
                _ = followed.changed() => {}
                _ = tokio::time::sleep_until(deadline) => return self.settled_seq() >= seq,
            }
        }
    }

    /// Changes to the last change followed: after each new snapshot, and after each change of
    /// another input (a pushed fact, an exemption…) written by any replica.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.followed.subscribe()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().clone()
    }

    pub fn set_ready(&self) {
        self.ready.store(true, std::sync::atomic::Ordering::SeqCst);
        // Followers that waited for readiness look now.
        self.followed.send_modify(|_| {});
    }

    /// The last change sequence number applied (0 before anything was ever ingested).
    pub fn applied_seq(&self) -> i64 {
        *self.seq.lock()
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Pulls the changes after the last applied sequence from storage, swaps in a new snapshot
    /// if any entity changed, and tells the subscribers when the change log moved.
    pub fn refresh(&self, db: &crate::storage::Db) -> crate::storage::Result<()> {
        self.apply_entity_changes(db)?;
        let last = db.last_change()?.max(self.applied_seq());
        self.followed.send_if_modified(|followed| {
            let moved = *followed != last;
            *followed = last;
            moved
        });
        Ok(())
    }

    fn apply_entity_changes(&self, db: &crate::storage::Db) -> crate::storage::Result<()> {
        let mut seq = self.seq.lock();
        let changes = db.changes_since(*seq)?;
        if changes.upserted.is_empty() && changes.deleted.is_empty() {
            return Ok(());
        }
        let old = self.snapshot();
        // Apply in sequence order so a delete followed by a re-create ends with the entity;
        // only the last event per ref matters.
        let built = build_docs(changes.upserted, &self.keys);
        let mut events: Vec<(i64, Result<Arc<Doc>, String>)> = changes
            .deleted
            .into_iter()
            .map(|(r, s)| (s, Err(r)))
            .collect();
        events.extend(built.into_iter().map(|(s, d)| (s, Ok(d))));
        events.sort_by_key(|e| (e.0, e.1.is_ok()));
        let mut last: HashMap<Arc<str>, Option<Arc<Doc>>> = HashMap::new();
        for (_, event) in events {
            match event {
                Err(r) => {
                    last.insert(Arc::from(r), None);
                }
                Ok(doc) => {
                    last.insert(doc.entity_ref.clone(), Some(doc));
                }
            }
        }
        // The old docs are sorted by uid; keeping them in order and sorting once more is
        // nearly linear for small change sets.
        let mut list: Vec<Arc<Doc>> = old
            .docs
            .iter()
            .filter(|d| !last.contains_key(&d.entity_ref))
            .cloned()
            .collect();
        let changed: Vec<Arc<str>> = last.keys().cloned().collect();
        list.extend(last.into_values().flatten());
        list.sort_by(|a, b| a.uid.cmp(&b.uid));
        let mut fresh = Snapshot::new(list, self.keys.clone());
        fresh.seq = changes.max_seq;
        fresh.previous = old.seq;
        fresh.changed = changed;
        // The indexes callers asked for on the old snapshot are made before the new one is
        // served, here in the background: a request waiting for a build holds its worker, and
        // at a million entities a build takes seconds (the bench's clients saw their
        // connections closed). Each is derived from the old one when few docs changed.
        let mut hot: Vec<(bool, u32)> = old.asked.read().iter().copied().collect();
        hot.sort_unstable();
        if !hot.is_empty() {
            let remap = incremental::Remap::new(&old, &fresh);
            for (facet, kid) in hot {
                if facet {
                    let before = old.facet_indexes.lock().get(&kid).cloned();
                    let ix = match before {
                        Some(b) if remap.small() => remap.facet_index(&fresh, kid, &b),
                        _ => fresh.build_facet_index(kid),
                    };
                    fresh.facet_indexes.lock().insert(kid, Arc::new(ix));
                } else {
                    let before = old.indexes.lock().get(&kid).cloned();
                    let ix = match before {
                        Some(b) if remap.small() => remap.key_index(&fresh, kid, &b),
                        _ => fresh.build_index(kid),
                    };
                    fresh.indexes.lock().insert(kid, Arc::new(ix));
                }
            }
        }
        let fresh = Arc::new(fresh);
        *self.current.write() = fresh.clone();
        // When graph queries are in use, build the new graph now rather than on the next query.
        if old.graph.lock().is_some() {
            std::thread::spawn(move || {
                fresh.graph();
            });
        }
        *seq = changes.max_seq;
        Ok(())
    }
}
