//! `/schemas`: schemas by id, whatever subjects hold them.

use contracts_registry_client::api::{self, SchemaString, SubjectVersion};

use super::Registry;
use crate::error::ApiError;
use crate::schema;
use crate::state::State;

impl Registry {
    /// `GET /schemas/ids/{id}`.
    pub async fn schema_by_id(
        &self,
        id: i32,
        serialized: bool,
        fetch_max_id: bool,
    ) -> Result<SchemaString, ApiError> {
        if !self.state().schemas.contains_key(&id) {
            // Another instance may have registered it moments ago.
            self.sync().await?;
        }
        let st = self.state();
        let s = st
            .schemas
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::schema_not_found(id))?;
        let text = if serialized {
            st.parsed(&s)
                .and_then(|p| schema::serialized(&p.schema))
                .unwrap_or_else(|| s.schema.clone())
        } else {
            s.schema.clone()
        };
        Ok(SchemaString {
            schema: text,
            schema_type: (!s.schema_type.is_avro()).then(|| s.schema_type.clone()),
            references: s.references.clone(),
            max_id: fetch_max_id.then_some(st.max_id),
        })
    }

    /// `GET /schemas/ids/{id}/versions`.
    pub async fn id_versions(
        &self,
        id: i32,
        deleted: bool,
    ) -> Result<Vec<SubjectVersion>, ApiError> {
        self.sync().await?;
        let st = self.state();
        if !st.schemas.contains_key(&id) {
            return Err(ApiError::schema_not_found(id));
        }
        Ok(st
            .subjects
            .iter()
            .flat_map(|(name, s)| {
                s.versions
                    .iter()
                    .filter(move |(_, v)| v.id == id && (deleted || !v.deleted))
                    .map(move |(n, _)| SubjectVersion {
                        subject: name.clone(),
                        version: *n,
                    })
            })
            .collect())
    }

    /// `GET /schemas/types`.
    pub fn schema_types(&self) -> Vec<&'static str> {
        vec!["AVRO", "PROTOBUF"]
    }

    /// `GET /schemas`.
    pub async fn schemas(
        &self,
        prefix: &str,
        deleted: bool,
        latest_only: bool,
    ) -> Result<Vec<api::Schema>, ApiError> {
        self.sync().await?;
        let st = self.state();
        let mut out = Vec::new();
        for (name, s) in st.subjects.range(prefix.to_string()..) {
            if !name.starts_with(prefix) {
                break;
            }
            let versions: Vec<(&i32, _)> = s
                .versions
                .iter()
                .filter(|(_, v)| deleted || !v.deleted)
                .collect();
            let chosen = if latest_only {
                versions.last().into_iter().copied().collect()
            } else {
                versions
            };
            for (n, v) in chosen {
                if let Some(schema) = self.schema_answer(&st, name, *n, v.id, v.deleted, false) {
                    out.push(schema);
                }
            }
        }
        Ok(out)
    }

    pub(super) fn schema_answer(
        &self,
        st: &State,
        subject: &str,
        version: i32,
        id: i32,
        deleted: bool,
        serialized: bool,
    ) -> Option<api::Schema> {
        let s = st.schemas.get(&id)?;
        let text = if serialized {
            st.parsed(s)
                .and_then(|p| schema::serialized(&p.schema))
                .unwrap_or_else(|| s.schema.clone())
        } else {
            s.schema.clone()
        };
        Some(api::Schema {
            subject: subject.to_string(),
            version,
            id,
            schema_type: (!s.schema_type.is_avro()).then(|| s.schema_type.clone()),
            references: s.references.clone(),
            schema: text,
            deleted,
        })
    }
}
