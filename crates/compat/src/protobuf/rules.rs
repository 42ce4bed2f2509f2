//! Confluent's Protobuf rules: which differences are incompatible (`SchemaDiff.COMPATIBLE_CHANGES`
//! holds the others), and the findings the incompatible ones become, with a message that says how
//! to fix them and the location they point at.

use contracts_model::Location;
use contracts_model::protobuf::{MessageRef, tag};
use prost_types::FileDescriptorProto;

use super::diff::{Change, DiffContext, MovedFrom, Part, Site};
use super::view::{FieldInfo, Kind, Label, Oneof, ScalarGroup};
use crate::{Direction, Rule};

impl Change {
    /// The rule an incompatible change breaks; `None` for `SchemaDiff.COMPATIBLE_CHANGES`.
    pub(super) fn rule(self) -> Option<Rule> {
        use Change::*;
        match self {
            PackageChanged => Some(Rule::PackageChanged),
            MessageRemoved => Some(Rule::MessageRemoved),
            FieldKindChanged => Some(Rule::FieldKindChanged),
            FieldScalarKindChanged => Some(Rule::FieldScalarKindChanged),
            FieldNamedTypeChanged => Some(Rule::FieldNamedTypeChanged),
            FieldNumericLabelChanged => Some(Rule::FieldNumericLabelChanged),
            RequiredFieldAdded => Some(Rule::RequiredFieldAdded),
            RequiredFieldRemoved => Some(Rule::RequiredFieldRemoved),
            OneofFieldRemoved => Some(Rule::OneofFieldRemoved),
            MultipleFieldsMovedToOneof => Some(Rule::MultipleFieldsMovedToOneof),
            FieldMovedToExistingOneof => Some(Rule::FieldMovedToExistingOneof),
            MessageAdded
            | MessageMoved
            | EnumAdded
            | EnumRemoved
            | EnumConstAdded
            | EnumConstChanged
            | EnumConstRemoved
            | FieldAdded
            | FieldRemoved
            | FieldNameChanged
            | FieldStringOrBytesLabelChanged
            | OneofAdded
            | OneofRemoved
            | OneofFieldAdded
            | OneofFieldMovedToTopLevel => None,
        }
    }
}

impl<'a> DiffContext<'a> {
    pub(super) fn message_removed(&mut self, message: MessageRef<'a>) {
        let name = message.local_name();
        let file = message.file_name();
        let text = match self.direction {
            Direction::Backward => format!(
                "Message \"{name}\" was removed from \"{file}\"; every message of the subject's \
                 file must stay, since records name their message by its index. Keep the \
                 message, even unused."
            ),
            Direction::Forward => format!(
                "Message \"{name}\" was added to \"{file}\"; a FORWARD check diffs the schemas \
                 with old and new swapped, so the registry sees a removed message \
                 (confluentinc/schema-registry#2033). Declare the new message in an imported \
                 file instead, or use a BACKWARD level."
            ),
        };
        let location = self.original.location_of(file, message.path);
        self.add(Change::MessageRemoved, text, location);
    }

    /// The subject's file changed package: every message's full name changes with it.
    pub(super) fn package_changed(
        &mut self,
        original: &FileDescriptorProto,
        update: &FileDescriptorProto,
    ) {
        let (old, new) = self.old_new(original.package(), update.package());
        let shown = |p: &str| {
            if p.is_empty() {
                "no package".to_string()
            } else {
                format!("\"{p}\"")
            }
        };
        let keep = if old.is_empty() {
            "Keep the file without a package".to_string()
        } else {
            format!("Keep package \"{old}\"")
        };
        let message = format!(
            "Package changed from {} to {}; the package is part of every message's full \
             name. {keep}, or publish the new package under a new subject.",
            shown(old),
            shown(new),
        );
        let location = self
            .update
            .location_of(update.name(), &[tag::FILE_PACKAGE])
            .or_else(|| {
                self.original
                    .location_of(original.name(), &[tag::FILE_PACKAGE])
            });
        self.add(Change::PackageChanged, message, location);
    }

    pub(super) fn oneof_field_removed(
        &mut self,
        om: MessageRef<'a>,
        field: &FieldInfo<'a>,
        oneof: &str,
    ) {
        let fix = match self.direction {
            Direction::Backward => {
                "Keep the field in the oneof (reserving its number is not enough), or remove the \
                 whole oneof."
            }
            Direction::Forward => "Add the new field outside the oneof instead.",
        };
        let message = format!(
            "Field \"{}\" (\"{}\") of oneof \"{oneof}\" on message \"{}\" was {}; a oneof that \
             stays keeps all its members. {fix}",
            field.field.number(),
            field.field.name(),
            om.local_name(),
            self.only_in_original(),
        );
        let location = self
            .original
            .location_of(om.file_name(), &Self::field_path(om, field));
        self.add(Change::OneofFieldRemoved, message, location);
    }

    /// A proto2 required field present on one side only; `in_update` tells which.
    pub(super) fn required_field(
        &mut self,
        message: MessageRef<'a>,
        field: &FieldInfo<'a>,
        in_update: bool,
    ) {
        let (schema, event, change) = if in_update {
            (
                self.update,
                self.only_in_update(),
                Change::RequiredFieldAdded,
            )
        } else {
            (
                self.original,
                self.only_in_original(),
                Change::RequiredFieldRemoved,
            )
        };
        let fix = if event == "added" {
            "Declare the new field optional instead."
        } else {
            "Keep the field, even unused."
        };
        let text = format!(
            "Required field \"{}\" (\"{}\") on message \"{}\" was {event}; proto2 required \
             fields can be neither added nor removed. {fix}",
            field.field.number(),
            field.field.name(),
            message.local_name(),
        );
        let location = schema.location_of(message.file_name(), &Self::field_path(message, field));
        self.add(change, text, location);
    }

    pub(super) fn oneof_merged(
        &mut self,
        um: MessageRef<'a>,
        oneof: &Oneof<'a>,
        origins: &[MovedFrom<'a>],
        several_fields: bool,
    ) {
        let listed: Vec<String> = origins.iter().map(ToString::to_string).collect();
        let listed = match listed.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => listed.join(""),
        };
        let (change, fix) = match (several_fields, self.direction) {
            (true, Direction::Backward) => (
                Change::MultipleFieldsMovedToOneof,
                "Move at most one existing field into a new oneof, and add only new fields to it.",
            ),
            (true, Direction::Forward) => (
                Change::MultipleFieldsMovedToOneof,
                "Keep those fields in the oneof, or take out at most one.",
            ),
            (false, Direction::Backward) => (
                Change::FieldMovedToExistingOneof,
                "Leave existing fields where they are, and add only new fields to the oneof.",
            ),
            (false, Direction::Forward) => (
                Change::FieldMovedToExistingOneof,
                "Keep the fields where the old schema has them.",
            ),
        };
        let message = format!(
            "Oneof \"{}\" on message \"{}\" in the {} schema joins {} of the {} schema, so data \
             written with the {} schema may set several of its members at once. {fix}",
            oneof.name,
            um.local_name(),
            self.update_role(),
            listed,
            self.original_role(),
            self.original_role(),
        );
        let mut path = um.path.to_vec();
        path.extend([tag::MESSAGE_ONEOF, oneof.index]);
        let location = self.update.location_of(um.file_name(), &path);
        self.add(change, message, location);
    }

    pub(super) fn kind_changed(
        &mut self,
        original: Kind,
        update: Kind,
        site: &Site<'_>,
        part: Part,
    ) {
        let (old_kind, new_kind) = self.old_new(original, update);
        let detail = match part {
            Part::Whole => format!(
                "changed type from {old_kind} \"{}\" to {new_kind} \"{}\"",
                site.old_type, site.new_type
            ),
            _ => format!(
                "changed type from \"{}\" to \"{}\" ({}{old_kind} → {new_kind})",
                site.old_type,
                site.new_type,
                part.note()
            ),
        };
        let message = format!(
            "{}; a field stays a scalar, a message or a map: keep \"{}\", or add a new field \
             with a new number.",
            self.field_intro(site, &detail),
            site.old_type
        );
        let location = self.type_location(site);
        self.add(Change::FieldKindChanged, message, location);
    }

    pub(super) fn scalar_kind_changed(
        &mut self,
        original: Option<ScalarGroup>,
        update: Option<ScalarGroup>,
        site: &Site<'_>,
        part: Part,
    ) {
        let (old, new) = self.old_new(original, update);
        let group = |g: Option<ScalarGroup>| g.map_or("?".to_string(), |g| g.to_string());
        let detail = format!(
            "changed type from \"{}\" to \"{}\" ({}scalar group {} → {})",
            site.old_type,
            site.new_type,
            part.note(),
            group(old),
            group(new)
        );
        let message = format!(
            "{}; keep a type of the same group, or add a new field with a new number.",
            self.field_intro(site, &detail)
        );
        let location = self.type_location(site);
        self.add(Change::FieldScalarKindChanged, message, location);
    }

    pub(super) fn numeric_label_changed(
        &mut self,
        original: Label,
        update: Label,
        site: &Site<'_>,
    ) {
        let (old, new) = self.old_new(original, update);
        let detail = format!("changed label from \"{old}\" to \"{new}\"");
        let message = format!(
            "{}; numeric and enum fields keep their label: keep \"{old}\", or \
             add a new field with a new number.",
            self.field_intro(site, &detail)
        );
        let location = Self::located(self.update, site.file, &site.path, &[tag::FIELD_LABEL]);
        self.add(Change::FieldNumericLabelChanged, message, location);
    }

    /// A field whose referenced message changed incompatibly (its own findings come first).
    pub(super) fn named_type_changed(
        &mut self,
        om: MessageRef<'a>,
        um: MessageRef<'a>,
        site: &Site<'_>,
        part: Part,
    ) {
        let (old, new) = self.old_new(om.full_name, um.full_name);
        let was = if old == new {
            String::new()
        } else {
            format!(" (was \"{old}\")")
        };
        let detail = format!(
            "has {}message type \"{new}\"{was}, which changed incompatibly (see the findings \
             under \"#/{}\")",
            part.note(),
            um.local_name().replace('.', "/"),
        );
        let message = format!(
            "{}; make the change to \"{}\" compatible, or add a new field with a new number.",
            self.field_intro(site, &detail),
            um.local_name()
        );
        let location = self.type_location(site);
        self.add(Change::FieldNamedTypeChanged, message, location);
    }

    pub(super) fn named_type_renamed(
        &mut self,
        original: &str,
        update: &str,
        site: &Site<'_>,
        part: Part,
    ) {
        let (old, new) = self.old_new(original, update);
        let detail = match part {
            Part::Whole => format!(
                "changed type from message \"{}\" to message \"{}\"",
                site.old_type, site.new_type
            ),
            _ => format!(
                "changed type from \"{}\" to \"{}\" ({}message \"{old}\" → \"{new}\")",
                site.old_type,
                site.new_type,
                part.note()
            ),
        };
        let message = format!(
            "{}; a message field keeps its type's name (without package): keep \"{old}\", or add \
             a new field with a new number.",
            self.field_intro(site, &detail)
        );
        let location = self.type_location(site);
        self.add(Change::FieldNamedTypeChanged, message, location);
    }

    fn field_intro(&self, site: &Site<'_>, detail: &str) -> String {
        format!(
            "Field \"{}\" (\"{}\") on message \"{}\" {detail}",
            site.number, site.name, site.message
        )
    }

    fn type_location(&self, site: &Site<'_>) -> Option<Location> {
        Self::located(
            self.update,
            site.file,
            &site.path,
            &[tag::FIELD_TYPE_NAME, tag::FIELD_TYPE],
        )
    }
}
