//! Pure types of the catalog: entity refs, kinds and their spec rules, validation, and the
//! relations an entity's spec yields. Nothing here does I/O.

pub mod audit;
pub mod catalog_rules;
pub mod entity_ref;
pub mod facts;
pub mod governance;
pub mod identity;
pub mod kinds;
pub mod notifications;
pub mod permissions;
pub mod relations;
pub mod rule;
pub mod schema;
pub mod validation;

pub use entity_ref::{EntityRef, RefError};
pub use relations::Relation;
pub use validation::Problem;

/// The annotations Cairn sets on the entities it ingests.
pub mod annotations {
    pub const MANAGED_BY_LOCATION: &str = "backstage.io/managed-by-location";
    pub const MANAGED_BY_ORIGIN_LOCATION: &str = "backstage.io/managed-by-origin-location";
    pub const SOURCE_LOCATION: &str = "backstage.io/source-location";
    pub const VIEW_URL: &str = "backstage.io/view-url";
    pub const EDIT_URL: &str = "backstage.io/edit-url";
    pub const ORPHAN: &str = "backstage.io/orphan";
}

use serde_json::Value;

/// The canonical ref of an entity value that passed envelope validation.
pub fn entity_ref_of(entity: &Value) -> EntityRef {
    let kind = entity["kind"].as_str().unwrap_or_default();
    let ns = entity["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let name = entity["metadata"]["name"].as_str().unwrap_or_default();
    EntityRef::new(kind, ns, name)
}

/// The location an entity came from at first (its `managed-by-origin-location`): the key of its
/// repository's crawl.
pub fn origin_of(entity: &Value) -> Option<&str> {
    entity["metadata"]["annotations"][annotations::MANAGED_BY_ORIGIN_LOCATION].as_str()
}
