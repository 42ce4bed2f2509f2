//! `/mode`: read-write, read-only and import modes, global and per subject.

use contracts_registry_client::api::{Mode, codes};

use super::subjects::validate_subject;
use super::{Plan, Registry};
use crate::error::ApiError;
use crate::record::{Change, ModeValue};
use crate::state::State;

impl Registry {
    /// Refuses changes to a subject (or, with `None`, to the global settings) in read-only mode.
    pub(super) fn check_writable(st: &State, subject: Option<&str>) -> Result<(), ApiError> {
        match st.mode(subject) {
            Mode::ReadOnly | Mode::ReadOnlyOverride => Err(ApiError::new(
                codes::OPERATION_NOT_PERMITTED,
                match subject {
                    Some(s) => format!("Subject {s} is in read-only mode"),
                    None => "The registry is in read-only mode".to_string(),
                },
            )),
            _ => Ok(()),
        }
    }

    /// `GET /mode` and `GET /mode/{s}`.
    pub async fn get_mode(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<Mode, ApiError> {
        self.sync().await?;
        let st = self.state();
        match subject {
            None => Ok(st.mode.unwrap_or_default()),
            Some(s) => match st.subjects.get(s).and_then(|x| x.mode) {
                Some(m) => Ok(m),
                None if default_to_global => Ok(st.mode.unwrap_or_default()),
                None => Err(ApiError::new(
                    codes::SUBJECT_LEVEL_MODE_NOT_CONFIGURED,
                    format!("Subject '{s}' does not have subject-level mode configured"),
                )),
            },
        }
    }

    /// `PUT /mode[/{s}]`.
    pub async fn set_mode(
        &self,
        subject: Option<&str>,
        mode: &str,
        force: bool,
    ) -> Result<Mode, ApiError> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        let mode: Mode = mode
            .parse()
            .map_err(|e: String| ApiError::new(codes::INVALID_MODE, e))?;
        self.write(|st| {
            if mode == Mode::Import && !force {
                let has_schemas = match subject {
                    Some(s) => st.subjects.get(s).is_some_and(|x| !x.versions.is_empty()),
                    None => st.subjects.values().any(|x| !x.versions.is_empty()),
                };
                if has_schemas {
                    return Err(ApiError::new(
                        codes::OPERATION_NOT_PERMITTED,
                        "Cannot import since found existing subjects",
                    ));
                }
            }
            let current = match subject {
                Some(s) => st.subjects.get(s).and_then(|x| x.mode),
                None => st.mode,
            };
            if current == Some(mode) {
                return Ok(Plan::Done(mode));
            }
            Ok(Plan::Write(
                Change::Mode(ModeValue {
                    subject: subject.map(str::to_string),
                    mode: Some(mode.as_str().to_string()),
                }),
                mode,
            ))
        })
        .await
    }

    /// `DELETE /mode[/{s}]`: the mode before.
    pub async fn delete_mode(&self, subject: Option<&str>) -> Result<Mode, ApiError> {
        self.write(|st| {
            let current = match subject {
                Some(s) => {
                    st.subjects
                        .get(s)
                        .ok_or_else(|| ApiError::subject_not_found(s))?
                        .mode
                }
                None => st.mode,
            };
            let Some(current) = current else {
                return Ok(Plan::Done(st.mode.unwrap_or_default()));
            };
            Ok(Plan::Write(
                Change::Mode(ModeValue {
                    subject: subject.map(str::to_string),
                    mode: None,
                }),
                current,
            ))
        })
        .await
    }
}
