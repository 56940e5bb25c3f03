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

pub use assess::{assess_one, is_ai_system, system, Inputs, RepositoryFiles};
pub use classify::what_if;
pub use dashboard::{dashboard, path_of, systems, Filters};
pub use evidence::Evidence;
pub use obligations::ObligationsSource;
pub use pack::{
    AgentPolicy, AgentRule, Decision, Obligation, PackSource, Question, RulePack, Tier, ToolAccess,
};
pub use technical_file::technical_file_zip;
pub use watch::ClassificationWatch;

/// What the compliance endpoints reach: the database, the files of the repositories the crawler
/// keeps, and the rule pack. Built once by the application.
pub struct Compliance {
    db: crate::storage::Db,
    files: std::sync::Arc<dyn RepositoryFiles + Send + Sync>,
    pack: std::sync::Arc<PackSource>,
}

impl Compliance {
    pub fn new(
        db: crate::storage::Db,
        files: std::sync::Arc<dyn RepositoryFiles + Send + Sync>,
        pack: std::sync::Arc<PackSource>,
    ) -> Compliance {
        Compliance { db, files, pack }
    }

    /// The rule pack, and the error of a newer version that does not load, if any.
    pub fn pack(&self) -> Result<(std::sync::Arc<RulePack>, Option<String>), String> {
        self.pack.get()
    }

    /// What an assessment reads, over one snapshot of the catalog.
    pub fn inputs(&self, snap: std::sync::Arc<crate::readmodel::Snapshot>) -> Inputs<'_> {
        Inputs::new(&self.db, &*self.files, snap)
    }

    /// Records an attestation of one obligation (`pass` or `fail`, with a justification) by
    /// `actor`, with its audit record.
    pub fn attest(
        &self,
        pack: &RulePack,
        entity_ref: &str,
        obligation: Option<&str>,
        result: Option<&str>,
        justification: Option<&str>,
        actor: &crate::model::audit::Actor,
    ) -> Result<serde_json::Value, crate::error::Error> {
        assess::attest(
            &self.db,
            pack,
            entity_ref,
            obligation,
            result,
            justification,
            actor,
        )
    }
}

/// The pseudo-scorecard under which obligations are attested.
pub const ATTESTATIONS: &str = "scorecard:default/eu-ai-act";
