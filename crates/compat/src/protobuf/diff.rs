//! The walk over an old and a new schema, as Confluent's `SchemaDiff`, `MessageSchemaDiff`,
//! `FieldSchemaDiff` and `EnumSchemaDiff` do it: files, then messages and enums by name, fields by
//! tag, referenced messages recursively. It records every difference, compatible ones included;
//! `rules` words the incompatible ones.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use contracts_model::Location;
use contracts_model::protobuf::{EnumRef, MessageRef, ProtoSchema, tag};

use super::view::{FieldInfo, FieldType, Fields, Kind, Label, ScalarGroup, Types};
use crate::Direction;

/// Confluent's `Difference.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Change {
    PackageChanged,
    MessageAdded,
    MessageRemoved,
    MessageMoved,
    EnumAdded,
    EnumRemoved,
    EnumConstAdded,
    EnumConstChanged,
    EnumConstRemoved,
    FieldAdded,
    FieldRemoved,
    FieldNameChanged,
    FieldKindChanged,
    FieldScalarKindChanged,
    FieldNamedTypeChanged,
    FieldNumericLabelChanged,
    FieldStringOrBytesLabelChanged,
    RequiredFieldAdded,
    RequiredFieldRemoved,
    OneofAdded,
    OneofRemoved,
    OneofFieldAdded,
    OneofFieldRemoved,
    OneofFieldMovedToTopLevel,
    MultipleFieldsMovedToOneof,
    FieldMovedToExistingOneof,
}

/// Every difference Confluent's diff reports, compatible ones included.
pub(super) fn differences(
    original: &ProtoSchema,
    update: &ProtoSchema,
    direction: Direction,
) -> Vec<Diff> {
    let mut ctx = DiffContext {
        original,
        update,
        direction,
        path: Vec::new(),
        diffs: Vec::new(),
        in_progress: HashSet::new(),
        log: Vec::new(),
        memo: HashMap::new(),
    };
    ctx.compare_files();
    ctx.diffs
}

/// One difference. Compatible ones carry no message or location: nobody reads them.
#[derive(Debug, Clone)]
pub(super) struct Diff {
    pub(super) change: Change,
    pub(super) path: String,
    pub(super) message: String,
    pub(super) location: Option<Location>,
}

fn names<'a, T>(a: &[T], b: &[T], name: impl Fn(&T) -> &'a str) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    a.iter()
        .chain(b)
        .map(&name)
        .filter(|n| seen.insert(*n))
        .collect()
}

/// An original message, by its declaration: Confluent's identity set of messages in progress.
pub(super) type Key<'a> = (&'a str, &'a [i32]);

/// The outcome of comparing a referenced message pair, reusable while none of the messages it
/// compared is in progress and all it skipped still are (then Confluent would get the same).
#[derive(Debug)]
pub(super) struct Memo<'a> {
    pub(super) diffs: Vec<Diff>,
    pub(super) compared: HashSet<Key<'a>>,
    pub(super) skipped: HashSet<Key<'a>>,
}

/// Where a field sits, for messages and locations.
#[derive(Debug)]
pub(super) struct Site<'a> {
    pub(super) message: &'a str,
    pub(super) number: i32,
    pub(super) name: &'a str,
    pub(super) file: &'a str,
    pub(super) path: Vec<i32>,
    pub(super) old_type: String,
    pub(super) new_type: String,
}

/// Which part of a field's type is compared (a map compares its key and value).
#[derive(Debug, Clone, Copy)]
pub(super) enum Part {
    Whole,
    MapKey,
    MapValue,
}

impl Part {
    pub(super) fn note(self) -> &'static str {
        match self {
            Part::Whole => "",
            Part::MapKey => "map key: ",
            Part::MapValue => "map value: ",
        }
    }
}

/// Confluent's `Context`.
pub(super) struct DiffContext<'a> {
    pub(super) original: &'a ProtoSchema,
    pub(super) update: &'a ProtoSchema,
    pub(super) direction: Direction,
    pub(super) path: Vec<String>,
    pub(super) diffs: Vec<Diff>,
    /// Original messages whose fields are being compared: a cycle stops here.
    pub(super) in_progress: HashSet<Key<'a>>,
    /// Every message reached, and whether its fields were compared or skipped as a cycle.
    pub(super) log: Vec<(Key<'a>, bool)>,
    pub(super) memo: HashMap<(&'a str, &'a str), Memo<'a>>,
}

impl<'a> DiffContext<'a> {
    fn path_string(&self) -> String {
        format!("#/{}", self.path.join("/"))
    }

    pub(super) fn note(&mut self, change: Change) {
        self.diffs.push(Diff {
            change,
            path: self.path_string(),
            message: String::new(),
            location: None,
        });
    }

    pub(super) fn add(&mut self, change: Change, message: String, location: Option<Location>) {
        debug_assert!(change.rule().is_some());
        self.diffs.push(Diff {
            change,
            path: self.path_string(),
            message,
            location,
        });
    }

    fn in_path<T>(&mut self, step: impl ToString, f: impl FnOnce(&mut Self) -> T) -> T {
        self.path.push(step.to_string());
        let out = f(self);
        self.path.pop();
        out
    }

    /// The schema in the "old" role first, then the one in the "new" role.
    pub(super) fn old_new<T>(&self, original: T, update: T) -> (T, T) {
        match self.direction {
            Direction::Backward => (original, update),
            Direction::Forward => (update, original),
        }
    }

    pub(super) fn original_role(&self) -> &'static str {
        self.direction.writer()
    }

    pub(super) fn update_role(&self) -> &'static str {
        self.direction.reader()
    }

    /// What happened to an element only the original has, in time order.
    pub(super) fn only_in_original(&self) -> &'static str {
        match self.direction {
            Direction::Backward => "removed",
            Direction::Forward => "added",
        }
    }

    pub(super) fn only_in_update(&self) -> &'static str {
        match self.direction {
            Direction::Backward => "added",
            Direction::Forward => "removed",
        }
    }

    pub(super) fn located(
        schema: &ProtoSchema,
        file: &str,
        path: &[i32],
        subs: &[i32],
    ) -> Option<Location> {
        subs.iter()
            .find_map(|&sub| {
                let mut p = path.to_vec();
                p.push(sub);
                schema.location_of(file, &p)
            })
            .or_else(|| schema.location_of(file, path))
    }

    // SchemaDiff.compare

    fn compare_files(&mut self) {
        let (original, update) = (self.original.entry(), self.update.entry());
        if original.package() != update.package() {
            self.package_changed(original, update);
        }
        let types = (Types::top(self.original), Types::top(self.update));
        self.compare_types(&types.0, &types.1);
    }

    /// `SchemaDiff.compareTypeElements`.
    fn compare_types(&mut self, original: &Types<'a>, update: &Types<'a>) {
        let messages = names(&original.messages, &update.messages, |m| {
            m.descriptor.name()
        });
        for name in messages {
            self.in_path(name, |ctx| {
                match (original.message(name), update.message(name)) {
                    (Some((_, o)), None) => ctx.message_removed(o),
                    (None, Some(_)) => ctx.note(Change::MessageAdded),
                    (Some((oi, o)), Some((ui, u))) => {
                        ctx.compare_message(o, u);
                        // reordering is fine: a record's message indexes refer to its writer schema
                        if oi != ui {
                            ctx.note(Change::MessageMoved);
                        }
                    }
                    (None, None) => {}
                }
            });
        }
        let enums = names(&original.enums, &update.enums, |e| e.descriptor.name());
        for name in enums {
            self.in_path(name, |ctx| {
                match (original.enum_type(name), update.enum_type(name)) {
                    (Some(_), None) => ctx.note(Change::EnumRemoved),
                    (None, Some(_)) => ctx.note(Change::EnumAdded),
                    (Some(o), Some(u)) => ctx.compare_enum(o, u),
                    (None, None) => {}
                }
            });
        }
    }

    /// `EnumSchemaDiff.compare`: constants by number; every change is compatible.
    fn compare_enum(&mut self, original: EnumRef<'a>, update: EnumRef<'a>) {
        let by_number = |e: EnumRef<'a>| -> BTreeMap<i32, &'a str> {
            e.descriptor
                .value
                .iter()
                .map(|v| (v.number(), v.name()))
                .collect()
        };
        let (o, u) = (by_number(original), by_number(update));
        let numbers: BTreeSet<i32> = o.keys().chain(u.keys()).copied().collect();
        for number in numbers {
            let change = match (o.get(&number), u.get(&number)) {
                (Some(_), None) => Some(Change::EnumConstRemoved),
                (None, Some(_)) => Some(Change::EnumConstAdded),
                (Some(a), Some(b)) if a != b => Some(Change::EnumConstChanged),
                _ => None,
            };
            if let Some(change) = change {
                self.in_path(number, |ctx| ctx.note(change));
            }
        }
    }

    // MessageSchemaDiff.compare

    fn compare_message(&mut self, original: MessageRef<'a>, update: MessageRef<'a>) {
        let key = (original.file_name(), original.path);
        let entered = self.in_progress.insert(key);
        self.log.push((key, entered));
        if entered {
            self.compare_fields(original, update);
        }
        // nested types are compared even when the fields were skipped, as Confluent does
        let original_nested = Types::nested(self.original, original);
        let update_nested = Types::nested(self.update, update);
        self.compare_types(&original_nested, &update_nested);
        if entered {
            self.in_progress.remove(&key);
        }
    }

    fn compare_fields(&mut self, om: MessageRef<'a>, um: MessageRef<'a>) {
        let original = Fields::of(self.original, om);
        let update = Fields::of(self.update, um);

        // A oneof gone by name, none of whose members survives anywhere, is a clean deletion.
        let deleted: HashSet<&str> = original
            .oneofs
            .iter()
            .filter(|o| update.oneof(o.name).is_none())
            .filter(|o| !o.tags.iter().any(|t| update.by_tag.contains_key(t)))
            .map(|o| o.name)
            .collect();

        // New mutual exclusion: a oneof whose earlier members come from more than one place
        // (an earlier oneof, or each earlier top-level field on its own).
        for oneof in &update.oneofs {
            let mut origins: Vec<MovedFrom> = Vec::new();
            let mut seen_origins = HashSet::new();
            let mut moved_in = Vec::new();
            for &number in &oneof.tags {
                let Some(field) = original.by_tag.get(&number) else {
                    continue;
                };
                let origin = match field.oneof {
                    Some(name) => MovedFrom::Oneof(name),
                    None => {
                        moved_in.push(number);
                        MovedFrom::Field(number, field.field.name())
                    }
                };
                if seen_origins.insert(origin) {
                    origins.push(origin);
                }
            }
            if origins.len() > 1 {
                self.in_path(oneof.name, |ctx| {
                    ctx.oneof_merged(um, oneof, &origins, moved_in.len() > 1)
                });
            }
        }

        let oneof_names: BTreeSet<&str> = original
            .oneofs
            .iter()
            .chain(&update.oneofs)
            .map(|o| o.name)
            .collect();
        for name in oneof_names {
            let change = match (original.oneof(name), update.oneof(name)) {
                (Some(_), None) => Some(Change::OneofRemoved),
                (None, Some(_)) => Some(Change::OneofAdded),
                _ => None,
            };
            if let Some(change) = change {
                self.in_path(name, |ctx| ctx.note(change));
            }
        }

        let numbers: BTreeSet<i32> = original
            .by_tag
            .keys()
            .chain(update.by_tag.keys())
            .copied()
            .collect();
        for number in numbers {
            match (original.by_tag.get(&number), update.by_tag.get(&number)) {
                (Some(o), None) => match o.oneof {
                    Some(oneof) if deleted.contains(oneof) => {}
                    Some(oneof) => self.in_path(oneof, |ctx| {
                        ctx.in_path(number, |ctx| ctx.oneof_field_removed(om, o, oneof))
                    }),
                    None if o.label == Some(Label::Required) => {
                        self.in_path(number, |ctx| ctx.required_field(om, o, false))
                    }
                    None => self.in_path(number, |ctx| ctx.note(Change::FieldRemoved)),
                },
                (None, Some(u)) => match u.oneof {
                    Some(oneof) => self.in_path(oneof, |ctx| {
                        ctx.in_path(number, |ctx| ctx.note(Change::OneofFieldAdded))
                    }),
                    None if u.label == Some(Label::Required) => {
                        self.in_path(number, |ctx| ctx.required_field(um, u, true))
                    }
                    None => self.in_path(number, |ctx| ctx.note(Change::FieldAdded)),
                },
                (Some(o), Some(u)) => {
                    if o.oneof.is_some() && u.oneof.is_none() {
                        self.in_path(number, |ctx| ctx.note(Change::OneofFieldMovedToTopLevel));
                    }
                    // compared wherever the field now sits, whatever oneof it left
                    match u.oneof {
                        Some(oneof) => self.in_path(oneof, |ctx| {
                            ctx.in_path(number, |ctx| ctx.compare_field(um, o, u))
                        }),
                        None => self.in_path(number, |ctx| ctx.compare_field(um, o, u)),
                    }
                }
                (None, None) => {}
            }
        }
    }

    pub(super) fn field_path(message: MessageRef<'_>, field: &FieldInfo<'_>) -> Vec<i32> {
        let mut path = message.path.to_vec();
        path.extend([tag::MESSAGE_FIELD, field.index]);
        path
    }

    // FieldSchemaDiff.compare

    fn compare_field(&mut self, um: MessageRef<'a>, o: &FieldInfo<'a>, u: &FieldInfo<'a>) {
        if o.field.name() != u.field.name() {
            self.note(Change::FieldNameChanged);
        }
        let (old, new) = self.old_new(&o.ty, &u.ty);
        let (_, new_name) = self.old_new(o.field.name(), u.field.name());
        let site = Site {
            message: um.local_name(),
            number: u.field.number(),
            name: new_name,
            file: um.file_name(),
            path: Self::field_path(um, u),
            old_type: old.to_string(),
            new_type: new.to_string(),
        };
        self.compare_labels_and_types(o.label, u.label, &o.ty, &u.ty, &site, Part::Whole);
    }

    fn compare_labels_and_types(
        &mut self,
        original_label: Option<Label>,
        update_label: Option<Label>,
        original: &FieldType<'a>,
        update: &FieldType<'a>,
        site: &Site<'_>,
        part: Part,
    ) {
        let (original_kind, update_kind) = (original.kind(), update.kind());
        if original_kind != update_kind {
            self.kind_changed(original_kind, update_kind, site, part);
            return;
        }
        match original_kind {
            Kind::Scalar => {
                let (original_group, update_group) =
                    (original.scalar_group(), update.scalar_group());
                if original_group != update_group {
                    self.scalar_kind_changed(original_group, update_group, site, part);
                } else if let (Some(a), Some(b)) = (original_label, update_label)
                    && a != b
                {
                    if original_group == Some(ScalarGroup::StringOrBytes) {
                        self.note(Change::FieldStringOrBytesLabelChanged);
                    } else {
                        self.numeric_label_changed(a, b, site);
                    }
                }
            }
            Kind::Message => {
                if let (FieldType::Message(o), FieldType::Message(u)) = (original, update) {
                    self.compare_message_types(o, u, site, part);
                }
            }
            Kind::Map => {
                if let (FieldType::Map(ok, ov), FieldType::Map(uk, uv)) = (original, update) {
                    self.compare_labels_and_types(None, None, ok, uk, site, Part::MapKey);
                    self.compare_labels_and_types(None, None, ov, uv, site, Part::MapValue);
                }
            }
        }
    }

    /// `FieldSchemaDiff.compareMessageTypes`: the name without package must stay, and a message
    /// from an import must stay compatible, compared recursively.
    fn compare_message_types(
        &mut self,
        original: &'a str,
        update: &'a str,
        site: &Site<'_>,
        part: Part,
    ) {
        let (Some(om), Some(um)) = (self.original.message(original), self.update.message(update))
        else {
            if original != update {
                self.named_type_renamed(original, update, site, part);
            }
            return;
        };
        if om.local_name() != um.local_name() {
            self.named_type_renamed(om.local_name(), um.local_name(), site, part);
            return;
        }
        // Both in the subject's file: compared where they are declared.
        if self.original.is_entry(om.file_name()) && self.update.is_entry(um.file_name()) {
            return;
        }
        let sub = self.compare_referenced(om, um);
        let incompatible = sub.iter().any(|d| d.change.rule().is_some());
        self.merge(sub);
        if incompatible {
            self.named_type_changed(om, um, site, part);
        }
    }

    /// Appends a sub-context's differences. Confluent appends them again for every field that
    /// references the same message; once is enough, and keeps fan-out from growing the list
    /// exponentially.
    fn merge(&mut self, sub: Vec<Diff>) {
        let seen: HashSet<(Change, &str, &str)> = self
            .diffs
            .iter()
            .map(|d| (d.change, d.path.as_str(), d.message.as_str()))
            .collect();
        let fresh: Vec<Diff> = sub
            .into_iter()
            .filter(|d| !seen.contains(&(d.change, d.path.as_str(), d.message.as_str())))
            .collect();
        self.diffs.extend(fresh);
    }

    /// Compares a referenced pair in a sub-context whose paths start at the message's local
    /// name, as Confluent's `getSubcontext` + `setFullName` do.
    fn compare_referenced(&mut self, om: MessageRef<'a>, um: MessageRef<'a>) -> Vec<Diff> {
        let memo_key = (om.full_name, um.full_name);
        if let Some(memo) = self.memo.get(&memo_key)
            && memo.compared.iter().all(|k| !self.in_progress.contains(k))
            && memo.skipped.iter().all(|k| self.in_progress.contains(k))
        {
            let diffs = memo.diffs.clone();
            let reached: Vec<_> = memo
                .compared
                .iter()
                .map(|&k| (k, true))
                .chain(memo.skipped.iter().map(|&k| (k, false)))
                .collect();
            self.log.extend(reached);
            return diffs;
        }
        let parent_path = std::mem::replace(
            &mut self.path,
            om.local_name().split('.').map(str::to_string).collect(),
        );
        let parent_diffs = std::mem::take(&mut self.diffs);
        let log_start = self.log.len();
        self.compare_message(om, um);
        let sub = std::mem::replace(&mut self.diffs, parent_diffs);
        self.path = parent_path;
        let (mut compared, mut skipped) = (HashSet::new(), HashSet::new());
        for &(key, ran) in &self.log[log_start..] {
            if ran { &mut compared } else { &mut skipped }.insert(key);
        }
        // keep the log as small as what it records
        self.log.truncate(log_start);
        self.log.extend(compared.iter().map(|&k| (k, true)));
        self.log.extend(skipped.iter().map(|&k| (k, false)));
        self.memo.insert(
            memo_key,
            Memo {
                diffs: sub.clone(),
                compared,
                skipped,
            },
        );
        sub
    }
}

/// Where a member of an updated oneof came from in the original message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum MovedFrom<'a> {
    Oneof(&'a str),
    Field(i32, &'a str),
}

impl fmt::Display for MovedFrom<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MovedFrom::Oneof(name) => write!(f, "oneof \"{name}\""),
            MovedFrom::Field(number, name) => write!(f, "field \"{number}\" (\"{name}\")"),
        }
    }
}
