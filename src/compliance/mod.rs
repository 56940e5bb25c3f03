//! EU AI Act compliance from a rule pack that is data (`scorecards/eu-ai-act/rule-pack.yaml`):
//! the pack ([`pack`]), classification of an AI system from its questionnaire answers ([`classify`]:
//! tier, basis, flags and the decisions that fired, with their articles), the obligations that
//! apply to it with the evidence found and what is missing ([`evidence`]), the obligations as a
//! scorecard the engine evaluates ([`obligations`]), the templates mandated per tier
//! ([`mandates`]) and the audit of classification changes ([`watch`]).

mod assess;
mod classify;
mod dashboard;
mod evidence;
pub mod mandates;
mod obligations;
mod pack;
mod technical_file;
mod watch;

pub use assess::{assess_one, attest, is_ai_system, system, Inputs, RepositoryFiles};
pub use classify::what_if;
pub use dashboard::{dashboard, path_of, systems, Filters};
pub use evidence::Evidence;
pub use obligations::ObligationsSource;
pub use pack::{Decision, Obligation, PackSource, Question, RulePack, Tier};
pub use technical_file::technical_file_zip;
pub use watch::ClassificationWatch;

/// The pseudo-scorecard under which obligations are attested.
pub const ATTESTATIONS: &str = "scorecard:default/eu-ai-act";
