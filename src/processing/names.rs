//! Interned strings for the processing state. A catalog names the same few things over and
//! over (each ref appears in every relation to it, each file and origin in every entity read
//! from it), so the state holds each string once and refers to it by a 4-byte [`Name`].

use std::collections::HashMap;
use std::sync::Arc;

/// A string held by [`Names`].
pub type Name = u32;

#[derive(Default)]
pub struct Names {
    ids: HashMap<Arc<str>, Name>,
    /// By id; a freed slot holds the empty string and is listed in `free`.
    strings: Vec<Arc<str>>,
    free: Vec<Name>,
    /// Live names after the last sweep: the next sweep waits until twice as many were made.
    live_after_sweep: usize,
}

impl Names {
    pub fn intern(&mut self, s: &str) -> Name {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let shared: Arc<str> = Arc::from(s);
        let id = match self.free.pop() {
            Some(id) => {
                self.strings[id as usize] = shared.clone();
                id
            }
            None => {
                self.strings.push(shared.clone());
                (self.strings.len() - 1) as Name
            }
        };
        self.ids.insert(shared, id);
        id
    }

    pub fn get(&self, s: &str) -> Option<Name> {
        self.ids.get(s).copied()
    }

    pub fn str(&self, id: Name) -> &str {
        &self.strings[id as usize]
    }

    fn live(&self) -> usize {
        self.strings.len() - self.free.len()
    }

    /// Whether enough names were made since the last sweep for one to be worth its walk.
    pub fn sweep_due(&self) -> bool {
        self.live() > 2 * self.live_after_sweep + 4096
    }

    /// Frees every name `mark` does not report as used. Names of refs that left the catalog
    /// would otherwise stay for the life of the process.
    pub fn sweep(&mut self, mark: impl FnOnce(&mut dyn FnMut(Name))) {
        // Slots already free count as kept, so they are not freed twice.
        let mut kept = vec![false; self.strings.len()];
        for &id in &self.free {
            kept[id as usize] = true;
        }
        mark(&mut |id| kept[id as usize] = true);
        let empty: Arc<str> = Arc::from("");
        for (id, kept) in kept.into_iter().enumerate() {
            if !kept {
                let s = std::mem::replace(&mut self.strings[id], empty.clone());
                self.ids.remove(&s);
                self.free.push(id as Name);
            }
        }
        self.live_after_sweep = self.live();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swept_name_is_freed_and_its_slot_reused() {
        let mut names = Names::default();
        let a = names.intern("component:default/a");
        let b = names.intern("component:default/b");
        assert_eq!(names.intern("component:default/a"), a);
        names.sweep(|mark| mark(b));
        assert_eq!(names.get("component:default/a"), None);
        assert_eq!(names.str(b), "component:default/b");
        let c = names.intern("component:default/c");
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(names.str(c), "component:default/c");
        names.sweep(|mark| mark(c));
        assert_eq!(names.get("component:default/b"), None);
        assert_eq!(names.get("component:default/c"), Some(c));
    }
}
