//! `/compatibility`: would a schema be accepted, and if not, why; the one compatibility decision
//! that registration makes too.

use std::sync::Arc;

use contracts_compat::{Finding, Version};
use contracts_model::Level;
use contracts_model::avro::Validation;
use contracts_registry_client::api::{CompatibilityCheckResponse, RegisterSchemaRequest, codes};

use super::{Registry, VersionId};
use crate::error::ApiError;
use crate::schema::Parsed;
use crate::state::State;

impl Registry {
    /// `POST /compatibility/subjects/{s}/versions[/{v}]`: `version` `None` checks against every
    /// live version the subject's level selects.
    pub async fn test_compatibility(
        &self,
        subject: &str,
        version: Option<VersionId>,
        req: &RegisterSchemaRequest,
        verbose: bool,
    ) -> Result<CompatibilityCheckResponse, ApiError> {
        self.sync().await?;
        let st = self.state();
        let parsed = match self.parse_request(&st, req, Validation::Strict) {
            Ok(p) => p,
            Err(e) if verbose && e.code == codes::INVALID_SCHEMA => {
                return Ok(CompatibilityCheckResponse {
                    is_compatible: false,
                    messages: vec![e.message],
                });
            }
            Err(e) => return Err(e),
        };
        let level = st.level(subject, self.config.default_level);
        let history = match version {
            None => live_history(&st, subject),
            Some(v) => {
                let has_live = st.subjects.get(subject).is_some_and(|s| s.has_live());
                if v == VersionId::Latest && !has_live {
                    Vec::new()
                } else {
                    let (_, id, _) = Self::find_version(&st, subject, v, false)?;
                    st.schemas
                        .get(&id)
                        .and_then(|s| st.parsed(s))
                        .map(|p| vec![(id.to_string(), p)])
                        .unwrap_or_default()
                }
            }
        };
        let findings = check(&history, &parsed, level);
        Ok(CompatibilityCheckResponse {
            is_compatible: findings.is_empty(),
            messages: if verbose {
                describe_findings(&findings)
            } else {
                Vec::new()
            },
        })
    }
}

/// The subject's live versions, oldest first, labelled with their version numbers.
pub(super) fn live_history(st: &State, subject: &str) -> Vec<(String, Arc<Parsed>)> {
    st.subjects
        .get(subject)
        .map(|s| {
            s.live()
                .filter_map(|(n, v)| {
                    let stored = st.schemas.get(&v.id)?;
                    Some((n.to_string(), st.parsed(stored)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The one compatibility decision: contracts-compat's.
pub(super) fn check(
    history: &[(String, Arc<Parsed>)],
    candidate: &Parsed,
    level: Level,
) -> Vec<Finding> {
    let versions: Vec<Version<'_>> = history
        .iter()
        .map(|(label, p)| Version {
            label,
            schema: &p.schema,
        })
        .collect();
    contracts_compat::check(
        level,
        &versions,
        Version {
            label: "new",
            schema: &candidate.schema,
        },
    )
}

pub(super) fn describe_findings(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            let at = if f.path.is_empty() {
                String::new()
            } else {
                format!(" at {}", f.path)
            };
            format!(
                "{{errorType:'{}', description:'{}{at}', oldSchemaVersion: {}, compatibility: '{}'}}",
                f.rule, f.message, f.old_version, f.level
            )
        })
        .collect()
}
