//! Cairn: a Backstage-compatible catalog backend. See `DESIGN.md` in the shared docs for the
//! module map; data flows sources → descriptor → processing → storage → read model → api.

pub mod agents;
pub mod api;
pub mod app;
pub mod compliance;
pub mod config;
pub mod descriptor;
pub mod error;
pub mod events;
pub mod ingest;
pub mod model;
pub mod processing;
pub mod readmodel;
pub mod render;
pub mod scaffolder;
pub mod scorecard;
pub mod storage;
pub mod telemetry;
