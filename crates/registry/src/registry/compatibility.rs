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
        let level = self.state().level(subject, self.config.default_level);
        let select = |st: &State| -> Result<Vec<(i32, i32)>, ApiError> {
            match version {
                None => Ok(live_versions(st, subject)),
                Some(v) => {
                    let has_live = st.subjects.get(subject).is_some_and(|s| s.has_live());
                    if v == VersionId::Latest && !has_live {
                        Ok(Vec::new())
                    } else {
                        let (n, id, _) = Self::find_version(st, subject, v, false)?;
                        Ok(vec![(n, id)])
                    }
                }
            }
        };
        let prepared = match self.prepare(req, Validation::Strict, select).await {
            Ok(p) => p,
            Err(e) if verbose && e.code == codes::INVALID_SCHEMA => {
                return Ok(CompatibilityCheckResponse {
                    is_compatible: false,
                    messages: vec![e.message],
                });
            }
            Err(e) => return Err(e),
        };
        let findings = self.check_off_thread(&prepared, level).await?;
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

/// The subject's live versions, oldest first: (version, id).
pub(super) fn live_versions(st: &State, subject: &str) -> Vec<(i32, i32)> {
    st.subjects
        .get(subject)
        .map(|s| s.live().map(|(n, v)| (*n, v.id)).collect())
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
