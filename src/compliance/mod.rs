//! EU AI Act compliance from a rule pack that is data (`scorecards/eu-ai-act/rule-pack.yaml`):
//! the pack ([`pack`]), classification of an AI system from its questionnaire answers ([`classify`]:
//! tier, basis, flags and the decisions that fired, with their articles), the obligations that
//! apply to it with the evidence found and what is missing ([`evidence`]), the obligations as a
//! scorecard the engine evaluates ([`obligations`]), the templates mandated per tier
//! ([`mandates`]) and the audit of classification changes ([`watch`]).

mod classify;
mod evidence;
pub mod mandates;
mod obligations;
mod pack;
mod watch;

pub use evidence::Evidence;
pub use obligations::ObligationsSource;
pub use pack::{Decision, Obligation, PackSource, Question, RulePack};
pub use watch::ClassificationWatch;

/// The pseudo-scorecard under which obligations are attested.
pub const ATTESTATIONS: &str = "scorecard:default/eu-ai-act";
/// How long an attestation of an obligation holds.
pub const ATTESTATION_DAYS: i64 = 365;
