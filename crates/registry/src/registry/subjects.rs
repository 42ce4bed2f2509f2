//! `/subjects`: subjects and their versions: list, read, look up, register, delete.

use contracts_model::avro::Validation;
use contracts_registry_client::api::{
    self, Mode, RegisterSchemaRequest, RegisterSchemaResponse, codes,
};
use tracing::info;

use super::compatibility::{describe_findings, live_versions};
use super::{ListOptions, MAX_ATTEMPTS, Plan, Prepared, Registry, VersionId};
use crate::error::ApiError;
use crate::record::{Change, ClearSubjectValue, DeleteSubjectValue, SchemaValue};
use crate::schema::{self, Parsed};
use crate::state::State;

impl Registry {
    /// `GET /subjects`.
    pub async fn subjects(&self, prefix: &str, opts: ListOptions) -> Result<Vec<String>, ApiError> {
        self.sync().await?;
        let st = self.state();
        Ok(st
            .subjects
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .filter(|(_, s)| {
                let live = s.has_live();
                let any_deleted = s.versions.values().any(|v| v.deleted);
                if opts.deleted_only {
                    any_deleted
                } else {
                    live || (opts.deleted && !s.versions.is_empty())
                }
            })
            .map(|(name, _)| name.clone())
            .collect())
    }

    /// `GET /subjects/{s}/versions`.
    pub async fn versions(&self, subject: &str, opts: ListOptions) -> Result<Vec<i32>, ApiError> {
        self.sync().await?;
        let st = self.state();
        let s = st
            .subjects
            .get(subject)
            .ok_or_else(|| ApiError::subject_not_found(subject))?;
        let versions: Vec<i32> = s
            .versions
            .iter()
            .filter(|(_, v)| {
                if opts.deleted_only {
                    v.deleted
                } else {
                    opts.deleted || !v.deleted
                }
            })
            .map(|(n, _)| *n)
            .collect();
        if versions.is_empty() && !opts.deleted_only {
            return Err(ApiError::subject_not_found(subject));
        }
        Ok(versions)
    }

    /// Finds a version: (number, id, deleted).
    pub(super) fn find_version(
        st: &State,
        subject: &str,
        version: VersionId,
        deleted: bool,
    ) -> Result<(i32, i32, bool), ApiError> {
        let s = st
            .subjects
            .get(subject)
            .filter(|s| deleted || s.has_live())
            .ok_or_else(|| ApiError::subject_not_found(subject))?;
        let found = match version {
            VersionId::Latest => s.versions.iter().rev().find(|(_, v)| deleted || !v.deleted),
            VersionId::Number(n) => s
                .versions
                .get_key_value(&n)
                .filter(|(_, v)| deleted || !v.deleted),
        };
        let (n, v) = found.ok_or_else(|| match version {
            VersionId::Latest => ApiError::version_not_found("latest"),
            VersionId::Number(n) => ApiError::version_not_found(n),
        })?;
        Ok((*n, v.id, v.deleted))
    }

    /// `GET /subjects/{s}/versions/{v}`.
    pub async fn version(
        &self,
        subject: &str,
        version: VersionId,
        deleted: bool,
        serialized: bool,
    ) -> Result<api::Schema, ApiError> {
        self.sync().await?;
        let st = self.state();
        let (n, id, is_deleted) = Self::find_version(&st, subject, version, deleted)?;
        self.schema_answer(&st, subject, n, id, is_deleted, serialized)
            .ok_or_else(|| ApiError::schema_not_found(id))
    }

    /// `GET /subjects/{s}/versions/{v}/referencedby`.
    pub async fn referenced_by(
        &self,
        subject: &str,
        version: VersionId,
    ) -> Result<Vec<i32>, ApiError> {
        self.sync().await?;
        let st = self.state();
        let (n, _, _) = Self::find_version(&st, subject, version, false)?;
        Ok(st.referenced_by(subject, n))
    }

    /// `POST /subjects/{s}` (lookup): the version of `subject` holding this schema.
    pub async fn lookup(
        &self,
        subject: &str,
        req: &RegisterSchemaRequest,
        deleted: bool,
    ) -> Result<api::Schema, ApiError> {
        self.sync().await?;
        let select = |st: &State| -> Result<Vec<(i32, i32)>, ApiError> {
            let s = st
                .subjects
                .get(subject)
                .filter(|s| deleted || s.has_live())
                .ok_or_else(|| ApiError::subject_not_found(subject))?;
            Ok(s.versions
                .iter()
                .filter(|(_, v)| deleted || !v.deleted)
                .map(|(n, v)| (*n, v.id))
                .collect())
        };
        // An unknown subject is a 40401 whatever the schema.
        select(&self.state())?;
        let prepared = self.prepare(req, Validation::Lenient, select).await?;
        let (n, id) = prepared
            .history
            .iter()
            .rev()
            .find(|(_, stored, p)| {
                stored.references == req.references && p.identity == prepared.parsed.identity
            })
            .map(|(n, stored, _)| (*n, stored.id))
            .ok_or_else(|| ApiError::new(codes::SCHEMA_NOT_FOUND, "Schema not found"))?;
        let st = self.state();
        let is_deleted = st
            .subjects
            .get(subject)
            .and_then(|s| s.versions.get(&n))
            .is_some_and(|v| v.deleted);
        self.schema_answer(&st, subject, n, id, is_deleted, false)
            .ok_or_else(|| ApiError::schema_not_found(id))
    }

    /// `POST /subjects/{s}/versions` (register).
    pub async fn register(
        &self,
        subject: &str,
        req: &RegisterSchemaRequest,
        normalize: bool,
    ) -> Result<RegisterSchemaResponse, ApiError> {
        validate_subject(subject)?;
        let default_level = self.config.default_level;
        for attempt in 0..MAX_ATTEMPTS {
            // Parse and check without the write lock, then decide under it on what was parsed;
            // when the subject changed meanwhile, do it again.
            self.sync().await?;
            let (level, mode) = {
                let st = self.state();
                (st.level(subject, default_level), st.mode(Some(subject)))
            };
            if matches!(mode, Mode::ReadOnly | Mode::ReadOnlyOverride) {
                return Err(read_only(subject));
            }
            let prepared = self
                .prepare(req, Validation::Strict, |st| Ok(live_versions(st, subject)))
                .await?;
            let findings = if mode == Mode::Import {
                Vec::new()
            } else {
                self.check_off_thread(&prepared, level).await?
            };
            let decided = self
                .decide_register(
                    subject,
                    req,
                    normalize,
                    &prepared,
                    level,
                    mode,
                    &findings,
                    attempt >= 2,
                )
                .await?;
            if let Some(answer) = decided {
                info!(
                    subject,
                    schema_id = answer.id,
                    version = answer.version,
                    "schema registered"
                );
                return Ok(answer);
            }
        }
        Err(ApiError::store(format!(
            "Could not register: subject \"{subject}\" changed {MAX_ATTEMPTS} times while the schema was checked; retry the request"
        )))
    }

    /// The write-locked part of a registration: `None` when the subject's versions, level or
    /// mode are no longer those the schema was checked against.
    #[allow(clippy::too_many_arguments)]
    async fn decide_register(
        &self,
        subject: &str,
        req: &RegisterSchemaRequest,
        normalize: bool,
        prepared: &Prepared,
        level: contracts_model::Level,
        mode: Mode,
        findings: &[contracts_compat::Finding],
        inline: bool,
    ) -> Result<Option<RegisterSchemaResponse>, ApiError> {
        let default_level = self.config.default_level;
        let parsed: &Parsed = &prepared.parsed;
        self.write_parsed(Some(prepared.parsed.clone()), |st| {
            let current_mode = st.mode(Some(subject));
            let current_level = st.level(subject, default_level);
            let fresh = current_mode == mode
                && current_level == level
                && live_versions(st, subject) == prepared.versions;
            if !fresh && !inline {
                return Ok(Plan::Done(None));
            }
            // After losing to other writers of the subject again and again, check under the
            // lock (stored versions are parsed already), so that a busy subject still makes
            // progress.
            let mode = current_mode;
            let checked_now;
            let findings: &[contracts_compat::Finding] = if fresh || mode == Mode::Import {
                if fresh { findings } else { &[] }
            } else {
                let history: Vec<_> = live_versions(st, subject)
                    .into_iter()
                    .filter_map(|(n, id)| Some((n.to_string(), st.parsed(st.schemas.get(&id)?)?)))
                    .collect();
                checked_now = super::compatibility::check(&history, parsed, current_level);
                &checked_now
            };
            match mode {
                Mode::ReadOnly | Mode::ReadOnlyOverride => return Err(read_only(subject)),
                Mode::ReadWrite | Mode::Forward if req.id.is_some() => {
                    return Err(ApiError::new(
                        codes::OPERATION_NOT_PERMITTED,
                        format!(
                            "Subject {subject} is not in import mode: a schema id may only be given in IMPORT mode"
                        ),
                    ));
                }
                _ => {}
            }
            let existing = st.subjects.get(subject);
            // Already registered (and live) under this subject: same id and version, no write.
            if let Some(s) = existing {
                for (n, v) in s.live().rev() {
                    if let Some(stored) = st.schemas.get(&v.id)
                        && same_schema(st, stored, parsed, &req.references)
                    {
                        if let Some(id) = req.id.filter(|id| *id != v.id) {
                            return Err(ApiError::new(
                                codes::ID_DOES_NOT_MATCH,
                                format!(
                                    "Schema already registered with id {} instead of input id {id}",
                                    v.id
                                ),
                            ));
                        }
                        return Ok(Plan::Done(Some(RegisterSchemaResponse {
                            id: v.id,
                            version: Some(*n),
                            subject: None,
                            schema_type: None,
                            schema: None,
                        })));
                    }
                }
            }
            // Empty in IMPORT mode: nothing is checked there.
            if !findings.is_empty() {
                return Err(ApiError::new(
                    codes::INCOMPATIBLE_SCHEMA,
                    format!(
                        "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
                        describe_findings(findings).join(", ")
                    ),
                ));
            }
            let key = crate::state::identity_key(&parsed.identity, &req.references);
            let id = match (req.id, st.by_identity.get(&key)) {
                (Some(wanted), _) => {
                    if let Some(other) = st.schemas.get(&wanted) {
                        let same = same_schema(st, other, parsed, &req.references);
                        if !same {
                            return Err(ApiError::new(
                                codes::ID_DOES_NOT_MATCH,
                                format!(
                                    "Overwrite new schema with id {wanted} is not permitted: id {wanted} holds another schema"
                                ),
                            ));
                        }
                    }
                    wanted
                }
                (None, Some(id)) => *id,
                _ => st.max_id + 1,
            };
            let max_version = existing.map_or(0, |s| s.max_version());
            let version = match req.version.filter(|_| mode == Mode::Import) {
                Some(v) if v <= max_version => {
                    return Err(ApiError::new(
                        codes::INVALID_VERSION,
                        format!(
                            "Version {v} of subject {subject} is not allowed: versions up to {max_version} exist"
                        ),
                    ));
                }
                Some(v) => v,
                None => max_version + 1,
            };
            // A Protobuf descriptor (what Confluent's serializers send) is stored as `.proto`
            // text, as Confluent stores it, so that every client can read it back.
            let is_descriptor = req.schema_type() == api::SchemaType::Protobuf
                && schema::decode_descriptor(&req.schema).is_some();
            let text = if normalize || is_descriptor {
                parsed.normalized.clone()
            } else {
                req.schema.clone()
            };
            let ty = req.schema_type();
            Ok(Plan::Write(
                Change::Schema(SchemaValue {
                    subject: subject.to_string(),
                    version,
                    id,
                    schema_type: (!ty.is_avro()).then_some(ty),
                    references: req.references.clone(),
                    schema: text,
                    deleted: false,
                }),
                Some(RegisterSchemaResponse {
                    id,
                    version: Some(version),
                    subject: None,
                    schema_type: None,
                    schema: None,
                }),
            ))
        })
        .await
    }

    /// `DELETE /subjects/{s}`: the versions deleted.
    pub async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<i32>, ApiError> {
        self.write(|st| {
            Self::check_writable(st, Some(subject))?;
            let s = st
                .subjects
                .get(subject)
                .filter(|s| !s.versions.is_empty())
                .ok_or_else(|| ApiError::subject_not_found(subject))?;
            for (n, _) in s.versions.iter() {
                if !st.referenced_by(subject, *n).is_empty() {
                    return Err(ApiError::new(
                        codes::REFERENCE_EXISTS,
                        format!(
                            "One or more references exist to the schema {{subject={subject},version={n}}}."
                        ),
                    ));
                }
            }
            if permanent {
                if s.has_live() {
                    return Err(ApiError::new(
                        codes::SUBJECT_NOT_SOFT_DELETED,
                        format!(
                            "Subject '{subject}' was not deleted first before being permanently deleted"
                        ),
                    ));
                }
                let versions: Vec<i32> = s.versions.keys().copied().collect();
                Ok(Plan::Write(
                    Change::ClearSubject(ClearSubjectValue {
                        subject: subject.to_string(),
                        versions: versions.clone(),
                        max_id: st.max_id,
                    }),
                    versions,
                ))
            } else {
                let live: Vec<i32> = s.live().map(|(n, _)| *n).collect();
                if live.is_empty() {
                    return Err(ApiError::new(
                        codes::SUBJECT_SOFT_DELETED,
                        format!(
                            "Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
                        ),
                    ));
                }
                Ok(Plan::Write(
                    Change::DeleteSubject(DeleteSubjectValue {
                        subject: subject.to_string(),
                        version: s.max_version(),
                    }),
                    live,
                ))
            }
        })
        .await
    }

    /// `DELETE /subjects/{s}/versions/{v}`: the version deleted.
    pub async fn delete_version(
        &self,
        subject: &str,
        version: VersionId,
        permanent: bool,
    ) -> Result<i32, ApiError> {
        self.write(|st| {
            Self::check_writable(st, Some(subject))?;
            let s = st
                .subjects
                .get(subject)
                .filter(|s| !s.versions.is_empty())
                .ok_or_else(|| ApiError::subject_not_found(subject))?;
            let (n, v) = match version {
                // `latest` means the latest live version, or with permanent the latest at all.
                VersionId::Latest if permanent => s.versions.iter().next_back(),
                VersionId::Latest => s.live().next_back(),
                VersionId::Number(n) => s.versions.get_key_value(&n),
            }
            .ok_or_else(|| match version {
                VersionId::Latest => ApiError::version_not_found("latest"),
                VersionId::Number(n) => ApiError::version_not_found(n),
            })?;
            let n = *n;
            if !st.referenced_by(subject, n).is_empty() {
                return Err(ApiError::new(
                    codes::REFERENCE_EXISTS,
                    format!(
                        "One or more references exist to the schema {{subject={subject},version={n}}}."
                    ),
                ));
            }
            if permanent {
                if !v.deleted {
                    return Err(ApiError::new(
                        codes::SCHEMA_VERSION_NOT_SOFT_DELETED,
                        format!(
                            "Subject '{subject}' Version {n} was not deleted first before being permanently deleted"
                        ),
                    ));
                }
                Ok(Plan::Write(
                    Change::ClearSubject(ClearSubjectValue {
                        subject: subject.to_string(),
                        versions: vec![n],
                        max_id: st.max_id,
                    }),
                    n,
                ))
            } else {
                if v.deleted {
                    return Err(ApiError::new(
                        codes::SCHEMA_VERSION_SOFT_DELETED,
                        format!(
                            "Subject '{subject}' Version {n} was soft deleted.Set permanent=true to delete permanently"
                        ),
                    ));
                }
                let stored = st
                    .schemas
                    .get(&v.id)
                    .ok_or_else(|| ApiError::schema_not_found(v.id))?;
                Ok(Plan::Write(
                    Change::Schema(SchemaValue {
                        subject: subject.to_string(),
                        version: n,
                        id: v.id,
                        schema_type: (!stored.schema_type.is_avro())
                            .then(|| stored.schema_type.clone()),
                        references: stored.references.clone(),
                        schema: stored.schema.clone(),
                        deleted: true,
                    }),
                    n,
                ))
            }
        })
        .await
    }
}

fn read_only(subject: &str) -> ApiError {
    ApiError::new(
        codes::OPERATION_NOT_PERMITTED,
        format!("Subject {subject} is in read-only mode"),
    )
}

/// Subject names Confluent rejects (42208): empty, or with control characters.
pub(super) fn validate_subject(subject: &str) -> Result<(), ApiError> {
    if subject.trim().is_empty() || subject.chars().any(char::is_control) {
        return Err(ApiError::new(
            codes::INVALID_SUBJECT,
            format!("The specified subject '{subject}' is not a valid."),
        ));
    }
    Ok(())
}

/// Same schema text (by identity) and the same references.
fn same_schema(
    st: &State,
    stored: &crate::state::StoredSchema,
    parsed: &Parsed,
    refs: &[api::SchemaReference],
) -> bool {
    stored.references == refs
        && st
            .parsed(stored)
            .is_some_and(|p| p.identity == parsed.identity)
}
