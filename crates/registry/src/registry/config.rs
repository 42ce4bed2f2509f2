//! `/config`: compatibility levels, global and per subject.

use contracts_model::Level;
use contracts_registry_client::api::{Config, ConfigUpdateRequest, codes};

use super::subjects::validate_subject;
use super::{Plan, Registry};
use crate::error::ApiError;
use crate::record::{Change, ConfigValue};

impl Registry {
    /// `GET /config` and `GET /config/{s}`.
    pub async fn get_config(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<Config, ApiError> {
        self.sync().await?;
        let st = self.state();
        let level = match subject {
            None => st.level.unwrap_or(self.config.default_level),
            Some(s) => match st.subjects.get(s).and_then(|x| x.level) {
                Some(l) => l,
                None if default_to_global => st.level.unwrap_or(self.config.default_level),
                None => {
                    return Err(ApiError::new(
                        codes::SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED,
                        format!(
                            "Subject '{s}' does not have subject-level compatibility configured"
                        ),
                    ));
                }
            },
        };
        Ok(Config {
            compatibility_level: Some(level.as_str().to_string()),
            normalize: None,
        })
    }

    /// `PUT /config[/{s}]`.
    pub async fn set_config(
        &self,
        subject: Option<&str>,
        req: &ConfigUpdateRequest,
    ) -> Result<ConfigUpdateRequest, ApiError> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        let invalid = || {
            ApiError::new(
                codes::INVALID_COMPATIBILITY_LEVEL,
                "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive",
            )
        };
        let level: Level = req
            .compatibility
            .as_deref()
            .ok_or_else(invalid)?
            .parse()
            .map_err(|_| invalid())?;
        self.write(|st| {
            Self::check_writable(st, subject)?;
            let answer = ConfigUpdateRequest {
                compatibility: Some(level.as_str().to_string()),
                normalize: req.normalize,
            };
            let current = match subject {
                Some(s) => st.subjects.get(s).and_then(|x| x.level),
                None => st.level,
            };
            if current == Some(level) {
                return Ok(Plan::Done(answer));
            }
            Ok(Plan::Write(
                Change::Config(ConfigValue {
                    subject: subject.map(str::to_string),
                    compatibility_level: Some(level.as_str().to_string()),
                }),
                answer,
            ))
        })
        .await
    }

    /// `DELETE /config[/{s}]`: the level before.
    pub async fn delete_config(&self, subject: Option<&str>) -> Result<Config, ApiError> {
        let default = self.config.default_level;
        self.write(|st| {
            Self::check_writable(st, subject)?;
            let current = match subject {
                Some(s) => {
                    let x = st
                        .subjects
                        .get(s)
                        .ok_or_else(|| ApiError::subject_not_found(s))?;
                    x.level
                }
                None => st.level,
            };
            let answer = Config {
                compatibility_level: Some(
                    current
                        .unwrap_or_else(|| st.level.unwrap_or(default))
                        .as_str()
                        .to_string(),
                ),
                normalize: None,
            };
            if current.is_none() {
                return Ok(Plan::Done(answer));
            }
            Ok(Plan::Write(
                Change::Config(ConfigValue {
                    subject: subject.map(str::to_string),
                    compatibility_level: None,
                }),
                answer,
            ))
        })
        .await
    }
}
