//! The [`Client`] as the runtime's [`SchemaSource`]: producers resolve the id of their
//! schema (registering it in development), consumers fetch the schema behind each id.

use contracts_core::source::{BoxFuture, RegisteredSchema, SchemaSource, SourceError};
use contracts_core::{Format, SchemaId, SchemaInfo};

use crate::api::{RegisterSchemaRequest, SchemaReference, SchemaType};
use crate::client::{Client, Error};

impl SchemaSource for Client {
    fn schema_id<'a>(
        &'a self,
        schema: &'static SchemaInfo,
        register: bool,
    ) -> BoxFuture<'a, Result<SchemaId, SourceError>> {
        Box::pin(async move {
            // Protobuf imports first, each under its own subject, dependencies before
            // dependents; every schema references the ones it imports.
            let mut known: Vec<SchemaReference> = Vec::new();
            for dep in schema.dependencies {
                let request = request(dep.schema, schema.format, references(dep.schema, &known));
                let version = self
                    .version_of(dep.subject, &request, register, dep.name, 0)
                    .await?
                    .1;
                known.push(SchemaReference {
                    name: dep.name.to_string(),
                    subject: dep.subject.to_string(),
                    version,
                });
            }
            let request = request(
                schema.schema,
                schema.format,
                references(schema.schema, &known),
            );
            let (id, _) = self
                .version_of(
                    schema.subject,
                    &request,
                    register,
                    schema.name,
                    schema.version,
                )
                .await?;
            Ok(SchemaId(id as u32))
        })
    }

    fn schema_by_id(&self, id: SchemaId) -> BoxFuture<'_, Result<RegisteredSchema, SourceError>> {
        Box::pin(async move {
            let wire_id = i32::try_from(id.0).map_err(|_| SourceError::UnknownId(id))?;
            let schema = match Client::schema_by_id(self, wire_id).await {
                Ok(s) => s,
                Err(e) if e.is_not_found() => return Err(SourceError::UnknownId(id)),
                Err(e) => return Err(classify(e)),
            };
            let format = match schema.schema_type() {
                SchemaType::Avro => Format::Avro,
                SchemaType::Protobuf => Format::Protobuf,
                other => {
                    return Err(SourceError::Rejected(
                        format!("schema {id} is {}, which events cannot be", other.as_str()).into(),
                    ));
                }
            };
            let subjects = match self.versions_of_id(wire_id).await {
                Ok(versions) => versions.into_iter().map(|v| v.subject).collect(),
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(classify(e)),
            };
            Ok(RegisteredSchema {
                format,
                text: schema.schema.clone(),
                subjects,
            })
        })
    }
}

impl Client {
    /// The (id, version) of `request` in `subject`: registered first when `register` is set.
    async fn version_of(
        &self,
        subject: &str,
        request: &RegisterSchemaRequest,
        register: bool,
        name: &str,
        version: u32,
    ) -> Result<(i32, i32), SourceError> {
        if register {
            self.register(subject, request).await.map_err(classify)?;
        }
        match self.lookup(subject, request).await.map_err(classify)? {
            Some(found) => Ok((found.id, found.version)),
            None => Err(SourceError::NotRegistered {
                subject: subject.to_string(),
                name: name.to_string(),
                version,
            }),
        }
    }
}

fn request(
    schema: &str,
    format: Format,
    references: Vec<SchemaReference>,
) -> RegisterSchemaRequest {
    RegisterSchemaRequest {
        schema: schema.to_string(),
        schema_type: Some(match format {
            Format::Avro => SchemaType::Avro,
            Format::Protobuf => SchemaType::Protobuf,
        }),
        references,
        ..Default::default()
    }
}

/// The already registered dependencies that `text` imports (`import "shop/common/v1/money.proto";`).
/// The imports of `text` among `known`, in the order the file imports them: the order
/// `contracts register` and Confluent's serializers send, so that the registry finds the same
/// schema (it compares references as a list).
fn references(text: &str, known: &[SchemaReference]) -> Vec<SchemaReference> {
    let mut found: Vec<(usize, &SchemaReference)> = known
        .iter()
        .filter_map(|r| Some((text.find(&format!("\"{}\"", r.name))?, r)))
        .collect();
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, r)| r.clone()).collect()
}

fn classify(e: Error) -> SourceError {
    if e.is_retriable() {
        SourceError::Unavailable(Box::new(e))
    } else {
        SourceError::Rejected(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str, version: i32) -> SchemaReference {
        SchemaReference {
            name: name.into(),
            subject: name.into(),
            version,
        }
    }

    #[test]
    fn references_follow_the_files_import_order_not_the_registration_order() {
        // Registered dependencies first: money.proto before line_item.proto, which imports it.
        let known = [
            reference("shop/common/v1/money.proto", 1),
            reference("shop/common/v1/line_item.proto", 1),
            reference("shop/common/v1/unused.proto", 1),
        ];
        let text = "import \"google/protobuf/timestamp.proto\";\n\
                    import \"shop/common/v1/line_item.proto\";\n\
                    import \"shop/common/v1/money.proto\";\n";
        let names: Vec<String> = references(text, &known)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(
            names,
            [
                "shop/common/v1/line_item.proto",
                "shop/common/v1/money.proto"
            ]
        );
    }
}
