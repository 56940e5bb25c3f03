//! The engine: keeps every scorecard's results up to date with the read model and the change
//! log, evaluating only what changed, and records each change of a result (on the lease holder).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use parking_lot::{Mutex, RwLock};

use super::*;
use crate::model::notifications::Outgoing;

/// scorecard → entity → check → status, as last recorded in the history.
type Recorded = HashMap<String, HashMap<String, HashMap<String, String>>>;

#[derive(Default)]
struct Evaluated {
    /// Entities to re-evaluate at the next run because a level they may read moved.
    pending: HashSet<String>,
    /// Consecutive runs in which levels moved.
    rounds: u32,
    /// When each scheduled scorecard last ran.
    schedule_runs: HashMap<String, chrono::DateTime<chrono::Utc>>,
    /// The (UTC) day of the last look: checks that count from a date, exemptions and
    /// attestations that expire on one all change with the day, with no input changing.
    day: Option<chrono::NaiveDate>,
    /// Scorecards as ingested or configured, before API exemptions are added.
    base: Vec<Arc<Scorecard>>,
    /// Exemptions granted through the API.
    granted: Vec<crate::storage::ExemptionRow>,
    /// The snapshot (its address) last evaluated.
    snapshot: Option<i64>,
    /// The last change of the change log followed (pushed facts, check inputs, exemptions,
    /// repositories, written by any replica); `None` before the first evaluation.
    change_seq: Option<i64>,
    /// entity → facts pushed for it.
    pushed: HashMap<String, serde_json::Map<String, Value>>,
    /// (scorecard, entity, check) → attestation or pushed result.
    inputs: HashMap<(String, String, String), CheckInputRow>,
    scorecards: String,
    /// entity ref → the etag last evaluated.
    etags: HashMap<Arc<str>, Box<str>>,
    commits: HashMap<String, String>,
    /// The last recorded statuses, loaded from history at the first run (empty afterwards: the
    /// previous results serve).
    last: Option<Recorded>,
    /// The check ids of each scorecard at the last evaluation, to read previous statuses.
    card_ids: HashMap<String, Vec<String>>,
}

/// Current results, kept up to date by [`Engine::evaluate`].
pub struct Engine {
    db: Db,
    /// Scorecards from configuration rather than the catalog.
    configured: Vec<Arc<Scorecard>>,
    /// Scorecards compiled from policy outside the catalog (the EU AI Act obligations).
    source: Option<Arc<dyn ScorecardSource>>,
    scorecards: RwLock<Vec<Arc<Scorecard>>>,
    /// scorecard ref → entity ref → result.
    results: RwLock<HashMap<String, HashMap<String, Arc<Summary>>>>,
    state: Mutex<Evaluated>,
    recording: std::sync::atomic::AtomicBool,
}

impl Engine {
    pub fn new(
        db: Db,
        configured: Vec<Scorecard>,
        source: Option<Arc<dyn ScorecardSource>>,
    ) -> Engine {
        let configured: Vec<Arc<Scorecard>> = configured.into_iter().map(Arc::new).collect();
        Engine {
            db,
            source,
            scorecards: RwLock::new(configured.clone()),
            state: Mutex::new(Evaluated {
                base: configured.clone(),
                ..Default::default()
            }),
            configured,
            results: RwLock::new(HashMap::new()),
            recording: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn scorecards(&self) -> Vec<Arc<Scorecard>> {
        self.scorecards.read().clone()
    }

    /// Every entity's summary for a scorecard, by entity ref.
    pub fn results_for(&self, scorecard: &str) -> Vec<Arc<Summary>> {
        let mut v: Vec<_> = self
            .results
            .read()
            .get(scorecard)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.entity_ref.cmp(&b.entity_ref));
        v
    }

    pub fn result_of(&self, scorecard: &str, entity_ref: &str) -> Option<Arc<Summary>> {
        self.results
            .read()
            .get(scorecard)
            .and_then(|m| m.get(entity_ref).cloned())
    }

    /// Full results with evidence for one entity, evaluated now for every scorecard that
    /// applies to it.
    pub fn explain(
        &self,
        snap: &Snapshot,
        entity_ref: &str,
    ) -> crate::storage::Result<Vec<EntityResult>> {
        let Some(&index) = snap.by_ref.get(entity_ref) else {
            return Ok(vec![]);
        };
        let doc = &snap.docs[index as usize];
        let entity: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
        let repo = match crate::model::origin_of(&entity) {
            Some(o) => self.db.repository(o)?,
            None => None,
        };
        let (pushed, inputs) = {
            let state = self.state.lock();
            let inputs: HashMap<String, CheckInputRow> = state
                .inputs
                .iter()
                .filter(|(k, _)| k.1 == entity_ref)
                .map(|(k, v)| (format!("{}|{}", k.0, k.2), v.clone()))
                .collect();
            (state.pushed.get(entity_ref).cloned(), inputs)
        };
        let scorecards = self.scorecards();
        let repo = repo.map_or(Value::Null, |r| r.facts());
        let facts =
            Facts::new(entity, repo, pushed.as_ref()).with_levels(self.level_index(&scorecards));
        let mut out = Vec::new();
        for card in scorecards {
            if &*doc.kind == "Scorecard"
                || !card
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.matches_doc(snap, index))
            {
                continue;
            }
            let input = |check: &str| inputs.get(&format!("{}|{check}", card.entity_ref)).cloned();
            out.push(card.evaluate(entity_ref, &facts, &input));
        }
        out.sort_by(|a, b| a.scorecard.cmp(&b.scorecard));
        Ok(out)
    }

    /// The levels of the scorecards that `atLeastLevel` rules read, as they are now; `None`
    /// when no rule reads any.
    fn level_index(
        &self,
        scorecards: &[Arc<Scorecard>],
    ) -> Option<Arc<crate::model::facts::LevelIndex>> {
        let mut wanted = Vec::new();
        for card in scorecards {
            for check in &card.checks {
                check.rule.level_dependencies(&mut wanted);
            }
        }
        if wanted.is_empty() {
            return None;
        }
        let results = self.results.read();
        let mut index = crate::model::facts::LevelIndex::new();
        for w in wanted {
            let Some(card) = scorecards.iter().find(|c| c.entity_ref == w) else {
                continue;
            };
            let reached = results
                .get(&w)
                .map(|m| m.iter().map(|(e, s)| (e.clone(), s.level)).collect())
                .unwrap_or_default();
            index.insert(w, (card.levels.clone(), reached));
        }
        Some(Arc::new(index))
    }

    /// Facts pushed for an entity.
    /// What the rules of one entity read: the entity, its repository's crawl and its pushed
    /// facts. `None` when the entity is not served.
    pub fn facts_of(
        &self,
        snap: &Snapshot,
        entity_ref: &str,
    ) -> crate::storage::Result<Option<Facts>> {
        let Some(doc) = snap.get_by_ref(entity_ref) else {
            return Ok(None);
        };
        let entity: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
        let repo = match crate::model::origin_of(&entity) {
            Some(o) => self.db.repository(o)?.map_or(Value::Null, |r| r.facts()),
            None => Value::Null,
        };
        Ok(Some(Facts::new(
            entity,
            repo,
            self.pushed_of(entity_ref).as_ref(),
        )))
    }

    pub fn pushed_of(&self, entity_ref: &str) -> Option<serde_json::Map<String, Value>> {
        self.state.lock().pushed.get(entity_ref).cloned()
    }

    /// The attestation or pushed result recorded for a check of an entity.
    pub fn input_of(
        &self,
        scorecard: &str,
        entity_ref: &str,
        check: &str,
    ) -> Option<CheckInputRow> {
        self.state
            .lock()
            .inputs
            .get(&(
                scorecard.to_string(),
                entity_ref.to_string(),
                check.to_string(),
            ))
            .cloned()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Brings results up to date with a snapshot; returns how many entity results changed. After
    /// a failure the next evaluation reads every input again.
    /// Levels that moved re-evaluate their related entities in further rounds before this returns,
    /// so the results it leaves are settled.
    pub fn evaluate(&self, snap: &Arc<Snapshot>) -> crate::storage::Result<usize> {
        let mut changed = 0;
        loop {
            match self.evaluate_changes(snap) {
                Ok(n) => changed += n,
                Err(e) => {
                    self.state.lock().change_seq = None;
                    return Err(e);
                }
            }
            if self.state.lock().pending.is_empty() {
                return Ok(changed);
            }
        }
    }

    /// Whether this replica records history and audit records (it holds the writer lease).
    pub fn set_recording(&self, on: bool) {
        self.recording
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    fn evaluate_changes(&self, snap: &Arc<Snapshot>) -> crate::storage::Result<usize> {
        let mut state = self.state.lock();
        let key = Some(snap.seq);
        // What other writers (any replica) changed since the last look, from the change log.
        let (inputs_changed, repositories_changed, change_seq) = match state.change_seq {
            None => (true, true, self.db.last_change()?),
            Some(seen) => {
                let changes = self.db.input_changes_after(seen)?;
                let repositories = changes
                    .iter()
                    .any(|c| c.kind == crate::storage::ChangeKind::Repository);
                let inputs = changes
                    .iter()
                    .any(|c| c.kind != crate::storage::ChangeKind::Repository);
                (inputs, repositories, changes.last().map_or(seen, |c| c.seq))
            }
        };
        // Scorecards whose schedule came round re-evaluate everything (time-based rules).
        let now_at = chrono::Utc::now();
        let mut scheduled = false;
        for card in self.scorecards.read().iter() {
            let Some(schedule) = &card.schedule else {
                continue;
            };
            let last = *state
                .schedule_runs
                .entry(card.entity_ref.clone())
                .or_insert(now_at);
            if schedule.after(&last).next().is_some_and(|t| t <= now_at) {
                state.schedule_runs.insert(card.entity_ref.clone(), now_at);
                scheduled = true;
            }
        }
        let today = now_at.date_naive();
        if state.day.replace(today).is_some_and(|d| d != today) {
            scheduled = true;
        }
        if scheduled {
            state.etags.clear();
        }
        if !scheduled
            && state.pending.is_empty()
            && state.snapshot == key
            && !inputs_changed
            && !repositories_changed
        {
            return Ok(0);
        }
        let previous_snapshot = std::mem::replace(&mut state.snapshot, key);
        state.change_seq = Some(change_seq);
        // Pushed facts, attestations and pushed results: entities that had or have any are
        // re-evaluated when they change.
        // Entities whose atLeastLevel rules look at an entity whose level just changed.
        let mut dirty_refs: HashSet<String> = std::mem::take(&mut state.pending);
        let mut exemptions_changed = false;
        if inputs_changed {
            let mut pushed: HashMap<String, serde_json::Map<String, Value>> = HashMap::new();
            for f in self.db.load_pushed_facts()? {
                pushed.entry(f.entity_ref).or_default().insert(
                    f.name,
                    serde_json::from_str(&f.value_json).unwrap_or(Value::Null),
                );
            }
            let inputs: HashMap<(String, String, String), CheckInputRow> = self
                .db
                .load_check_inputs()?
                .into_iter()
                .map(|r| {
                    (
                        (
                            r.scorecard.clone(),
                            r.entity_ref.clone(),
                            r.check_id.clone(),
                        ),
                        r,
                    )
                })
                .collect();
            dirty_refs.extend(pushed.keys().chain(state.pushed.keys()).cloned());
            dirty_refs.extend(
                inputs
                    .keys()
                    .chain(state.inputs.keys())
                    .map(|k| k.1.clone()),
            );
            state.pushed = pushed;
            state.inputs = inputs;
            let granted = self.db.load_exemptions()?;
            dirty_refs.extend(
                granted
                    .iter()
                    .chain(state.granted.iter())
                    .map(|e| e.entity_ref.clone()),
            );
            state.granted = granted;
            exemptions_changed = true;
        }
        // Scorecards: when any changed, everything is re-evaluated.
        let cards: Vec<&Arc<crate::readmodel::Doc>> = snap
            .docs
            .iter()
            .filter(|d| &*d.kind == "Scorecard")
            .collect();
        // A provided scorecard (the rule pack's) counts with what it depends on.
        let provided = self
            .source
            .as_ref()
            .and_then(|s| Some((s, s.signature(snap)?)));
        let signature: String = cards
            .iter()
            .map(|d| {
                format!(
                    "{}:{};",
                    d.entity_ref,
                    crate::model::facts::etag_of(&d.json)
                )
            })
            .chain(provided.as_ref().map(|(_, sig)| sig.clone()))
            .collect();
        if state.scorecards != signature {
            let mut parsed: Vec<Scorecard> = cards
                .iter()
                .filter_map(|d| serde_json::from_str::<Value>(&d.json).ok())
                .filter_map(|v| Scorecard::from_entity(&v))
                .collect();
            mark_level_cycles(&mut parsed);
            parsed.extend(provided.and_then(|(source, _)| source.compile(snap)));
            let mut parsed: Vec<Arc<Scorecard>> = parsed.into_iter().map(Arc::new).collect();
            parsed.extend(self.configured.iter().cloned());
            state.base = parsed;
            state.scorecards = signature;
            state.etags.clear();
            exemptions_changed = true;
        }
        if exemptions_changed {
            // Exemptions granted through the API join those written in the scorecards.
            let effective: Vec<Arc<Scorecard>> = state
                .base
                .iter()
                .map(|card| {
                    let extra: Vec<Exemption> = state
                        .granted
                        .iter()
                        .filter(|g| g.scorecard == card.entity_ref)
                        .filter_map(|g| {
                            Some(Exemption {
                                entity: ExemptEntities::Ref(g.entity_ref.clone()),
                                checks: g.checks(),
                                reason: g.reason.clone(),
                                approver: g.approver.clone(),
                                expires: g.expires_on()?,
                            })
                        })
                        .collect();
                    if extra.is_empty() {
                        card.clone()
                    } else {
                        let mut with = (**card).clone();
                        with.exemptions.extend(extra);
                        Arc::new(with)
                    }
                })
                .collect();
            *self.scorecards.write() = effective;
        }
        // Repositories whose commit moved: their entities' repository facts changed.
        let repos: HashMap<String, crate::storage::RepositoryRow> = self
            .db
            .load_repositories()?
            .into_iter()
            .map(|r| (r.origin.clone(), r))
            .collect();
        let moved: HashSet<String> = repos
            .iter()
            .filter(|(o, r)| state.commits.get(*o) != Some(&r.commit_id))
            .map(|(o, _)| o.clone())
            .collect();
        state.commits = repos
            .iter()
            .map(|(o, r)| (o.clone(), r.commit_id.clone()))
            .collect();

        // Which entities to evaluate: following snapshots one by one, only those that changed;
        // otherwise (first run, skipped snapshots, changed scorecards or repositories) a scan.
        let incremental =
            previous_snapshot == Some(snap.previous) && !state.etags.is_empty() && moved.is_empty();
        let mut dirty: Vec<u32> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        if incremental {
            let mut seen = HashSet::new();
            for r in snap
                .changed
                .iter()
                .map(|r| r.to_string())
                .chain(dirty_refs.iter().cloned())
            {
                if !seen.insert(r.clone()) {
                    continue;
                }
                match snap.by_ref.get(r.as_str()) {
                    Some(&i) => {
                        let doc = &snap.docs[i as usize];
                        state.etags.insert(
                            doc.entity_ref.clone(),
                            crate::model::facts::etag_of(&doc.json).into(),
                        );
                        dirty.push(i);
                    }
                    None => {
                        state.etags.remove(r.as_str());
                        removed.push(r);
                    }
                }
            }
        } else {
            let known = state.etags.len();
            state.etags.reserve(snap.docs.len().saturating_sub(known));
            for (i, doc) in snap.docs.iter().enumerate() {
                let etag = crate::model::facts::etag_of(&doc.json);
                let mut is_dirty = state.etags.get(&*doc.entity_ref).map(|e| &**e) != Some(etag)
                    || dirty_refs.contains(&*doc.entity_ref);
                if !is_dirty && !moved.is_empty() {
                    is_dirty = origin_of(&doc.json).is_some_and(|o| moved.contains(&o));
                }
                if is_dirty {
                    state.etags.insert(doc.entity_ref.clone(), etag.into());
                    dirty.push(i as u32);
                }
            }
            // Every served entity has its etag now: any more are of entities gone.
            if state.etags.len() > snap.docs.len() {
                let live: HashSet<&str> = snap.docs.iter().map(|d| &*d.entity_ref).collect();
                removed = state
                    .etags
                    .keys()
                    .filter(|k| !live.contains(&***k))
                    .map(|k| k.to_string())
                    .collect();
                for r in &removed {
                    state.etags.remove(r.as_str());
                }
            }
        }

        let scorecards = self.scorecards();
        // Which scorecards apply: a few changed docs are matched one by one, a scan uses the
        // snapshot's indexes.
        let applicable: Vec<crate::readmodel::Bitset> = scorecards
            .iter()
            .map(|s| match &s.filter {
                None => snap.all(),
                Some(f) if dirty.len() < 1000 => {
                    let mut set = crate::readmodel::Bitset::empty(snap.len());
                    for &i in &dirty {
                        if f.matches_doc(snap, i) {
                            set.insert(i);
                        }
                    }
                    set
                }
                Some(f) => f.eval(snap),
            })
            .collect();
        let levels = self.level_index(&scorecards);
        // Only what some scorecard applies to is evaluated; the rest can only leave one.
        let (mut selected, others): (Vec<u32>, Vec<u32>) = dirty.iter().partition(|&&i| {
            &*snap.docs[i as usize].kind != "Scorecard" && applicable.iter().any(|s| s.contains(i))
        });
        // In ref order, each slice's history extends the entity indexes of the history and the
        // audit trail in one place instead of touching their pages at random: at a million
        // entities, random order wrote 58 s of pages for 610,000 rows.
        sort_by_ref(snap, &mut selected);
        removed.extend(
            others
                .iter()
                .map(|&i| snap.docs[i as usize].entity_ref.to_string()),
        );
        let watched: HashSet<String> = levels
            .as_ref()
            .map(|l| l.keys().cloned().collect())
            .unwrap_or_default();

        // History: every change of a check's status. The previous statuses come from the last
        // evaluation, or, at the first one after a start, from the stored history.
        if state.last.is_none() {
            let mut last = Recorded::new();
            for h in self.db.history(None, None)? {
                let statuses = h.statuses();
                let entry = last
                    .entry(h.scorecard)
                    .or_default()
                    .entry(h.entity_ref)
                    .or_default();
                if h.checks.is_empty() {
                    entry.clear();
                }
                entry.extend(statuses);
            }
            state.last = Some(last);
        }
        let boot = state.last.take().unwrap_or_default();
        let now = chrono::Utc::now().timestamp();
        let mut changed = 0;
        let mut level_moved: Vec<String> = Vec::new();
        let card_ids = std::mem::take(&mut state.card_ids);
        self.results
            .write()
            .retain(|k, _| scorecards.iter().any(|s| &s.entity_ref == k));
        // Slices are evaluated here while the previous slice's history is written and then its
        // results published on another thread: history is written before a result is visible,
        // and the two cores share the work (writing was half of a first evaluation).
        let written = std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Slice>(1);
            let writer = scope.spawn(|| self.record_and_publish(snap, &scorecards, rx));
            for part in selected.chunks(SLICE) {
                let evaluated = evaluate_docs(
                    snap,
                    part,
                    &scorecards,
                    &applicable,
                    &repos,
                    &state.pushed,
                    &state.inputs,
                    levels.clone(),
                );
                let mut slice = Slice::default();
                let results = self.results.read();
                for (entity_ref, per_card) in evaluated {
                    for (ci, (card, summary)) in scorecards.iter().zip(per_card).enumerate() {
                        let previous = results
                            .get(&card.entity_ref)
                            .and_then(|m| m.get(&entity_ref));
                        let Some(summary) = summary else {
                            if previous.is_some() {
                                slice.history.push(left(&card.entity_ref, &entity_ref, now));
                                slice.results.push((ci, entity_ref.clone(), None));
                            }
                            continue;
                        };
                        let recorded = boot.get(&card.entity_ref).and_then(|m| m.get(&entity_ref));
                        compare(
                            card,
                            &entity_ref,
                            &summary,
                            previous.map(|p| (&**p, card_ids.get(&card.entity_ref))),
                            recorded,
                            now,
                            &mut slice,
                        );
                        if previous.is_none_or(|p| **p != summary) {
                            changed += 1;
                        }
                        if watched.contains(&card.entity_ref)
                            && previous.is_none_or(|p| p.level != summary.level)
                        {
                            level_moved.push(entity_ref.clone());
                        }
                        slice
                            .results
                            .push((ci, entity_ref.clone(), Some(Arc::new(summary))));
                    }
                }
                drop(results);
                if tx.send(slice).is_err() {
                    break; // the writer failed; it says why
                }
            }
            // Entities gone, or that no scorecard applies to now, leave every scorecard.
            let mut slice = Slice::default();
            for (ci, card) in scorecards.iter().enumerate() {
                let results = self.results.read();
                let Some(per_card) = results.get(&card.entity_ref) else {
                    continue;
                };
                for r in &removed {
                    if per_card.contains_key(r) {
                        slice.history.push(left(&card.entity_ref, r, now));
                        slice.results.push((ci, r.clone(), None));
                    }
                }
            }
            let _ = tx.send(slice);
            drop(tx);
            writer.join().expect("the history writer panicked")
        });
        if let Err(e) = written {
            // What was not recorded was not published either: look at everything again, and
            // read the previous statuses back from the history.
            state.etags.clear();
            state.card_ids = card_ids;
            return Err(e);
        }
        // Levels that moved re-evaluate the entities related to them (their atLeastLevel rules
        // may read them), until nothing moves; a cycle that keeps moving is cut after 20 rounds.
        if !level_moved.is_empty() {
            state.rounds += 1;
            if state.rounds <= 20 {
                for r in &level_moved {
                    if let Some(doc) = snap.get_by_ref(r) {
                        if let Ok(v) = serde_json::from_str::<Value>(&doc.json) {
                            for rel in v["relations"].as_array().into_iter().flatten() {
                                if let Some(t) = rel["targetRef"].as_str() {
                                    state.pending.insert(t.to_string());
                                }
                            }
                        }
                    }
                }
            } else {
                tracing::warn!(
                    "atLeastLevel levels kept changing for 20 rounds; stopped following them"
                );
            }
        } else {
            state.rounds = 0;
        }
        state.card_ids = scorecards
            .iter()
            .map(|c| {
                (
                    c.entity_ref.clone(),
                    c.checks.iter().map(|x| x.id.clone()).collect(),
                )
            })
            .collect();
        state.last = Some(HashMap::new());
        drop(state);
        Ok(changed)
    }

    /// Writes each slice's history (on the writer-lease holder: every replica evaluates, one
    /// records), then publishes its results and tells owners. Stops at the first failure.
    fn record_and_publish(
        &self,
        snap: &Snapshot,
        scorecards: &[Arc<Scorecard>],
        slices: std::sync::mpsc::Receiver<Slice>,
    ) -> crate::storage::Result<()> {
        let recording = self.recording.load(std::sync::atomic::Ordering::SeqCst);
        for mut slice in slices {
            if recording && !slice.history.is_empty() {
                // In ref order, the history's and the audit trail's entity indexes are appended
                // to rather than split at random.
                slice.history.sort_by(|a, b| {
                    (&a.entity_ref, &a.scorecard).cmp(&(&b.entity_ref, &b.scorecard))
                });
                let audit: Vec<crate::model::audit::Entry> = slice
                    .history
                    .iter()
                    .map(|h| {
                        crate::model::audit::Entry::new(
                            &crate::model::audit::Actor::cairn(),
                            "scorecard.result-changed",
                            Some(&h.entity_ref),
                            serde_json::json!({"scorecard": h.scorecard, "level": h.level, "checks": h.checks}),
                        )
                    })
                    .collect();
                self.db.append_history(&slice.history, &audit)?;
            }
            {
                let mut results = self.results.write();
                for (ci, entity_ref, summary) in slice.results {
                    let per_card = results
                        .entry(scorecards[ci].entity_ref.clone())
                        .or_default();
                    match summary {
                        Some(s) => per_card.insert(entity_ref, s),
                        None => per_card.remove(&entity_ref),
                    };
                }
            }
            if recording {
                for (entity_ref, notice) in slice.notices {
                    let recipients = snap.owner_members(&entity_ref);
                    if !recipients.is_empty() {
                        self.db.send_notification(&Outgoing {
                            origin: "plugin:cairn-scorecards".into(),
                            payload: notice,
                            recipients,
                        })?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Orders docs by entity ref. The refs are compared in place only when their first 40 bytes
/// tie: each comparison of two refs read two docs at random, 4 s for a million.
fn sort_by_ref(snap: &Snapshot, docs: &mut [u32]) {
    let mut keyed: Vec<([u8; 40], u32)> = docs
        .iter()
        .map(|&i| {
            let key = crate::readmodel::sort_prefix(&snap.docs[i as usize].entity_ref);
            (key, i)
        })
        .collect();
    keyed.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            snap.docs[a.1 as usize]
                .entity_ref
                .cmp(&snap.docs[b.1 as usize].entity_ref)
        })
    });
    for (slot, (_, i)) in docs.iter_mut().zip(keyed) {
        *slot = i;
    }
}

/// Docs evaluated per slice: enough that writing a slice's history is one sizeable
/// transaction, few enough that writing overlaps evaluating.
const SLICE: usize = 8192;

/// One slice's outcome, until it is recorded and published.
#[derive(Default)]
struct Slice {
    history: Vec<NewHistoryRow>,
    /// (scorecard index, entity ref, result; `None`: it left the scorecard).
    results: Vec<(usize, String, Option<Arc<Summary>>)>,
    /// What owners are told: a level that dropped, an obligation that fell due unmet.
    notices: Vec<(String, Notice)>,
}

/// Compares a new result with the previous one (and the check ids it had), or else with the
/// statuses last recorded: the history row of the checks that moved, and the notices.
fn compare(
    card: &Scorecard,
    entity_ref: &str,
    summary: &Summary,
    previous: Option<(&Summary, Option<&Vec<String>>)>,
    recorded: Option<&HashMap<String, String>>,
    now: i64,
    slice: &mut Slice,
) {
    // The status check `i` (id `id`) had before; the ids are usually where they were.
    let before = |i: usize, id: &str| -> Option<&str> {
        match previous {
            Some((prev, Some(ids))) => {
                let at = if ids.get(i).is_some_and(|x| x == id) {
                    Some(i)
                } else {
                    ids.iter().position(|x| x == id)
                };
                at.map(|j| prev.statuses[j].as_str())
            }
            _ => recorded.and_then(|m| m.get(id)).map(String::as_str),
        }
    };
    if let Some(before_level) = previous
        .map(|(p, _)| p.level)
        .filter(|l| summary.level < *l)
    {
        slice
            .notices
            .push(level_dropped(card, entity_ref, before_level, summary.level));
    }
    let mut moved = String::new();
    for (i, (check, status)) in card.checks.iter().zip(&summary.statuses).enumerate() {
        let was = before(i, &check.id);
        if *status != Status::NotApplicable && was != Some(status.as_str()) {
            if !moved.is_empty() {
                moved.push(';');
            }
            moved.push_str(&check.id);
            moved.push('=');
            moved.push_str(status.as_str());
        }
        if *status == Status::Fail && was == Some("inactive") {
            slice.notices.push(fell_due(card, check, entity_ref));
        }
    }
    if !moved.is_empty() {
        slice.history.push(NewHistoryRow {
            scorecard: card.entity_ref.clone(),
            entity_ref: entity_ref.to_string(),
            level: card.level_name(summary.level),
            checks: moved,
            at: now,
        });
    }
}

type Notice = crate::model::notifications::Payload;

/// The catalog page of an entity ref (`kind:namespace/name`).
fn entity_link(entity_ref: &str) -> String {
    match crate::model::EntityRef::parse_full(entity_ref) {
        Ok(r) => format!("/catalog/{}/{}/{}", r.namespace, r.kind, r.name),
        Err(_) => "/catalog".into(),
    }
}

fn level_dropped(
    card: &Scorecard,
    entity_ref: &str,
    from: Option<u8>,
    to: Option<u8>,
) -> (String, Notice) {
    let name = |l: Option<u8>| card.level_name(l).unwrap_or_else(|| "no level".into());
    let notice = Notice {
        title: format!("{entity_ref} dropped to {} on {}", name(to), card.title),
        description: Some(format!(
            "It was at {}. The scorecard shows which checks failed and how to fix them.",
            name(from)
        )),
        link: Some(entity_link(entity_ref)),
        severity: "high".into(),
        topic: Some("scorecards".into()),
        scope: Some(format!("level:{}:{entity_ref}", card.entity_ref)),
    };
    (entity_ref.to_string(), notice)
}

fn fell_due(card: &Scorecard, check: &super::Check, entity_ref: &str) -> (String, Notice) {
    let notice = Notice {
        title: format!("{} is now due for {entity_ref} and not met", check.name),
        description: Some(format!(
            "{}{}",
            card.title,
            check
                .active_from
                .map(|d| format!(": applies from {d}"))
                .unwrap_or_default()
        )),
        link: Some(entity_link(entity_ref)),
        severity: "critical".into(),
        topic: Some("obligations".into()),
        scope: Some(format!("due:{}:{}:{entity_ref}", card.entity_ref, check.id)),
    };
    (entity_ref.to_string(), notice)
}

/// The history row recording that an entity left a scorecard (removed, or no longer selected):
/// no level and no checks.
fn left(scorecard: &str, entity_ref: &str, at: i64) -> NewHistoryRow {
    NewHistoryRow {
        scorecard: scorecard.to_string(),
        entity_ref: entity_ref.to_string(),
        level: None,
        checks: String::new(),
        at,
    }
}

fn origin_of(json: &str) -> Option<String> {
    let v: Value = serde_json::from_str(json).ok()?;
    crate::model::origin_of(&v).map(str::to_owned)
}

type DocResults = Vec<(String, Vec<Option<Summary>>)>;

/// Evaluates the given docs against every scorecard, on every core. `None` where a scorecard
/// does not apply.
#[allow(clippy::too_many_arguments)]
fn evaluate_docs(
    snap: &Snapshot,
    docs: &[u32],
    scorecards: &[Arc<Scorecard>],
    applicable: &[crate::readmodel::Bitset],
    repos: &HashMap<String, crate::storage::RepositoryRow>,
    pushed: &HashMap<String, serde_json::Map<String, Value>>,
    inputs: &HashMap<(String, String, String), CheckInputRow>,
    levels: Option<Arc<crate::model::facts::LevelIndex>>,
) -> DocResults {
    let one = |i: u32| {
        let doc = &snap.docs[i as usize];
        let entity: Value = serde_json::from_str(&doc.json).unwrap_or(Value::Null);
        let origin = crate::model::origin_of(&entity).map(str::to_owned);
        let repo = origin.and_then(|o| repos.get(&o));
        let repo = repo.map_or(Value::Null, |r| r.facts());
        let facts =
            Facts::new(entity, repo, pushed.get(&*doc.entity_ref)).with_levels(levels.clone());
        let per_card = scorecards
            .iter()
            .zip(applicable)
            .map(|(card, set)| {
                if !set.contains(i) || &*doc.kind == "Scorecard" {
                    return None;
                }
                let input = |check: &str| {
                    inputs
                        .get(&(
                            card.entity_ref.clone(),
                            doc.entity_ref.to_string(),
                            check.to_string(),
                        ))
                        .cloned()
                };
                Some(card.summarize(&doc.entity_ref, &facts, &input))
            })
            .collect();
        (doc.entity_ref.to_string(), per_card)
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if threads <= 1 || docs.len() < 256 {
        return docs.iter().map(|&i| one(i)).collect();
    }
    let chunk = docs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = docs
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|&i| one(i)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("scorecard worker panicked"))
            .collect()
    })
}
