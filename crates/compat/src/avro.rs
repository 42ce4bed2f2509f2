//! Apache Avro's reader/writer compatibility, as `org.apache.avro.SchemaCompatibility` (Java 1.12)
//! computes it and the Confluent Schema Registry reports it.
//!
//! The walk, the memoisation of (reader, writer) pairs, the order of findings and the location
//! tokens are Java's, so a finding's path is the one the registry prints (`/fields/2/type`).
//! Paths point into the *reader* schema.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

use contracts_model::avro::{AvroSchema, Field, Kind, NodeId, Type};

use crate::{Direction, Incompatibility, Rule};

/// Why `reader` cannot read data written with `writer`; empty when it can.
pub fn check(
    reader: &AvroSchema,
    writer: &AvroSchema,
    direction: Direction,
) -> Vec<Incompatibility> {
    let mut checker = Checker {
        r: reader,
        w: writer,
        memo: HashMap::default(),
        aborted: None,
        unions: HashMap::new(),
        fields: HashMap::new(),
    };
    let found = checker.fresh(reader.root(), writer.root());
    let raw = match checker.aborted {
        Some(abort) => vec![abort],
        None => found,
    };
    raw.into_iter()
        .map(|raw| {
            Explain {
                reader,
                writer,
                direction,
            }
            .explain(raw)
        })
        .collect()
}

/// A finding as Java records it, before it is explained for a user.
#[derive(Debug, Clone)]
struct Raw {
    rule: Rule,
    reader: NodeId,
    writer: NodeId,
    /// Java's `message`: the detail it passes along with the location.
    detail: String,
    location: Vec<Token>,
}

/// A location token; kept unformatted because the walk pushes far more than it reports.
#[derive(Debug, Clone, Copy)]
enum Token {
    Key(&'static str),
    Index(usize),
}

enum Memo {
    InProgress,
    Done(Vec<Raw>),
}

struct Checker<'a> {
    r: &'a AvroSchema,
    w: &'a AvroSchema,
    memo: HashMap<(NodeId, NodeId), Memo, BuildHasherDefault<PairHasher>>,
    /// Java throws when a reader field matches two writer fields; Confluent reports the exception
    /// as the only incompatibility.
    aborted: Option<Raw>,
    /// Per reader union, its branches by the names a writer's named type can match them with:
    /// trying every branch made a union of n records checked against itself cost n² pairs.
    unions: HashMap<NodeId, UnionBranches>,
    /// Per writer record, its fields' positions by name.
    fields: HashMap<NodeId, HashMap<String, usize>>,
}

/// The branches of a reader union that can read a writer type.
#[derive(Default)]
struct UnionBranches {
    /// Records, enums and fixed, by unqualified name and by each alias.
    named: HashMap<String, Vec<NodeId>>,
    /// Every other branch (at most one per primitive type, one array, one map).
    unnamed: Vec<NodeId>,
}

impl Checker<'_> {
    /// The reader union's branches that may read `w`, in the union's order; the others fail
    /// `schemaNameEquals` or are of a named type that `w` is not.
    fn union_candidates(&mut self, union: NodeId, w: NodeId) -> Vec<NodeId> {
        let rs = self.r;
        let branches = self.unions.entry(union).or_insert_with(|| {
            let mut index = UnionBranches::default();
            if let Kind::Union(rbs) = &rs.node(union).kind {
                for rb in rbs {
                    match rs.node(rb.node).kind.named() {
                        Some(named) => {
                            let keys = std::iter::once(named.name.name.clone())
                                .chain(named.aliases.iter().cloned())
                                .collect::<HashSet<_>>();
                            for key in keys {
                                index.named.entry(key).or_default().push(rb.node);
                            }
                        }
                        None => index.unnamed.push(rb.node),
                    }
                }
            }
            index
        });
        let Some(named) = self.w.node(w).kind.named() else {
            return branches.unnamed.clone();
        };
        let mut found: Vec<NodeId> = [named.name.name.clone(), named.name.full()]
            .iter()
            .filter_map(|key| branches.named.get(key))
            .flatten()
            .copied()
            .collect();
        found.extend(branches.unnamed.iter().copied());
        found.sort_unstable();
        found.dedup();
        found
    }

    /// `getCompatibility(reader, writer)`: a fresh location stack.
    fn fresh(&mut self, r: NodeId, w: NodeId) -> Vec<Raw> {
        let mut location = Vec::new();
        self.get(Token::Key(""), r, w, &mut location)
    }

    fn get(&mut self, token: Token, r: NodeId, w: NodeId, location: &mut Vec<Token>) -> Vec<Raw> {
        location.push(token);
        let result = match self.memo.get(&(r, w)) {
            // Recursion: compatible unless proven otherwise.
            Some(Memo::InProgress) => Vec::new(),
            Some(Memo::Done(found)) => found.clone(),
            None => {
                self.memo.insert((r, w), Memo::InProgress);
                let found = self.calculate(r, w, location);
                self.memo.insert((r, w), Memo::Done(found.clone()));
                found
            }
        };
        location.pop();
        result
    }

    fn raw(&self, rule: Rule, r: NodeId, w: NodeId, detail: String, location: &[Token]) -> Raw {
        Raw {
            rule,
            reader: r,
            writer: w,
            detail,
            location: location.to_vec(),
        }
    }

    fn calculate(&mut self, r: NodeId, w: NodeId, location: &mut Vec<Token>) -> Vec<Raw> {
        if self.aborted.is_some() {
            return Vec::new();
        }
        // Copied out so that nodes borrow the schemas, not `self`.
        let (rs, ws) = (self.r, self.w);
        let (rk, wk) = (&rs.node(r).kind, &ws.node(w).kind);
        let (rt, wt) = (rk.ty(), wk.ty());
        let mut result = Vec::new();
        if rt == wt {
            match (rk, wk) {
                (Kind::Array(rc), Kind::Array(wc)) => {
                    return self.get(Token::Key("items"), rc.node, wc.node, location);
                }
                (Kind::Map(rc), Kind::Map(wc)) => {
                    return self.get(Token::Key("values"), rc.node, wc.node, location);
                }
                (Kind::Fixed(rf), Kind::Fixed(wf)) => {
                    result.extend(self.check_names(r, w, location));
                    if rf.size != wf.size {
                        location.push(Token::Key("size"));
                        let detail = format!("expected: {}, found: {}", wf.size, rf.size);
                        result.push(self.raw(Rule::FixedSizeMismatch, r, w, detail, location));
                        location.pop();
                    }
                }
                (Kind::Enum(re), Kind::Enum(we)) => {
                    result.extend(self.check_names(r, w, location));
                    location.push(Token::Key("symbols"));
                    let readable: HashSet<&String> = re.symbols.iter().collect();
                    let mut missing: Vec<&String> = we
                        .symbols
                        .iter()
                        .filter(|s| !readable.contains(s))
                        .collect();
                    missing.sort();
                    let defaulted = re.default.as_ref().is_some_and(|d| re.symbols.contains(d));
                    if !missing.is_empty() && !defaulted {
                        let detail = format!(
                            "[{}]",
                            missing
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                        result.push(self.raw(Rule::MissingEnumSymbols, r, w, detail, location));
                    }
                    location.pop();
                }
                (Kind::Record(_), Kind::Record(_)) => {
                    result.extend(self.check_names(r, w, location));
                    result.extend(self.check_fields(r, w, location));
                }
                (Kind::Union(_), Kind::Union(wbs)) => {
                    for (i, wb) in wbs.iter().enumerate() {
                        location.push(Token::Index(i));
                        if !self.fresh(r, wb.node).is_empty() {
                            let detail = format!(
                                "reader union lacking writer type: {}",
                                self.w.node(wb.node).kind.ty().java_name()
                            );
                            result.push(self.raw(
                                Rule::MissingUnionBranch,
                                r,
                                wb.node,
                                detail,
                                location,
                            ));
                        }
                        location.pop();
                    }
                }
                // Primitives of the same type.
                _ => {}
            }
            return result;
        }
        if let Kind::Union(wbs) = wk {
            for (i, wb) in wbs.iter().enumerate() {
                result.extend(self.get(Token::Index(i), r, wb.node, location));
            }
            return result;
        }
        let promotable = match rt {
            Type::Long => wt == Type::Int,
            Type::Float => matches!(wt, Type::Int | Type::Long),
            Type::Double => matches!(wt, Type::Int | Type::Long | Type::Float),
            Type::Bytes => wt == Type::String,
            Type::String => wt == Type::Bytes,
            Type::Union => {
                // The first reader branch that reads the writer wins.
                for rb in self.union_candidates(r, w) {
                    if self.fresh(rb, w).is_empty() {
                        return result;
                    }
                }
                let detail = format!("reader union lacking writer type: {}", wt.java_name());
                result.push(self.raw(Rule::MissingUnionBranch, r, w, detail, location));
                return result;
            }
            _ => false,
        };
        if !promotable {
            let detail = format!(
                "reader type: {} not compatible with writer type: {}",
                rt.java_name(),
                wt.java_name()
            );
            result.push(self.raw(Rule::TypeMismatch, r, w, detail, location));
        }
        result
    }

    /// `schemaNameEquals`: unqualified names, or the writer's full name among the reader's aliases.
    fn check_names(&self, r: NodeId, w: NodeId, location: &mut Vec<Token>) -> Vec<Raw> {
        let (Some(rn), Some(wn)) = (self.r.node(r).kind.named(), self.w.node(w).kind.named())
        else {
            return Vec::new();
        };
        if rn.name.name == wn.name.name || rn.aliases.contains(&wn.name.full()) {
            return Vec::new();
        }
        location.push(Token::Key("name"));
        let found = vec![self.raw(
            Rule::NameMismatch,
            r,
            w,
            format!("expected: {}", wn.name.full()),
            location,
        )];
        location.pop();
        found
    }

    fn check_fields(&mut self, r: NodeId, w: NodeId, location: &mut Vec<Token>) -> Vec<Raw> {
        let (rs, ws) = (self.r, self.w);
        let (Kind::Record(rr), Kind::Record(wr)) = (&rs.node(r).kind, &ws.node(w).kind) else {
            return Vec::new();
        };
        let (reader_fields, writer_fields) = (&rr.fields, &wr.fields);
        let mut result = Vec::new();
        self.fields.entry(w).or_insert_with(|| {
            let mut by_name = HashMap::new();
            for (i, f) in writer_fields.iter().enumerate() {
                by_name.entry(f.name.clone()).or_insert(i);
            }
            by_name
        });
        location.push(Token::Key("fields"));
        for (pos, rf) in reader_fields.iter().enumerate() {
            location.push(Token::Index(pos));
            let by_name = &self.fields[&w];
            match writer_matches(writer_fields, by_name, rf, pos) {
                Hits::None => {
                    if rf.default.is_none() {
                        let enum_default = matches!(&rs.node(rf.ty.node).kind, Kind::Enum(e) if e.default.is_some());
                        if enum_default {
                            result.extend(self.get(Token::Key("type"), rf.ty.node, w, location));
                        } else {
                            result.push(self.raw(
                                Rule::ReaderFieldMissingDefaultValue,
                                r,
                                w,
                                rf.name.clone(),
                                location,
                            ));
                        }
                    }
                }
                Hits::One(wf) => {
                    result.extend(self.get(Token::Key("type"), rf.ty.node, wf.ty.node, location))
                }
                Hits::Many(many) => {
                    let names: Vec<&str> = many.iter().map(|f| f.name.as_str()).collect();
                    let detail = format!(
                        "Reader record field {} matches multiple fields in writer record schema {}: {}",
                        rf.name,
                        wr.named.name.full(),
                        names.join(", ")
                    );
                    self.aborted =
                        Some(self.raw(Rule::AmbiguousFieldMatch, r, w, detail, location));
                }
            }
            location.pop();
        }
        location.pop();
        result
    }
}

enum Hits<'f> {
    None,
    One(&'f Field),
    Many(Vec<&'f Field>),
}

/// `lookupWriterField`: the writer field named like the reader field, plus one per alias that
/// names a writer field (the same writer field can be hit twice, which Java treats as ambiguous).
fn writer_matches<'f>(
    writer_fields: &'f [Field],
    by_name: &HashMap<String, usize>,
    reader_field: &Field,
    pos: usize,
) -> Hits<'f> {
    // Fields mostly keep their position between versions: look there first.
    let find = |name: &str| {
        writer_fields
            .get(pos)
            .filter(|f| f.name == name)
            .or_else(|| writer_fields.get(*by_name.get(name)?))
    };
    let direct = find(&reader_field.name);
    if reader_field.aliases.is_empty() {
        return direct.map_or(Hits::None, Hits::One);
    }
    let all: Vec<&Field> = direct
        .into_iter()
        .chain(reader_field.aliases.iter().filter_map(|a| find(a)))
        .collect();
    match all.as_slice() {
        [] => Hits::None,
        [one] => Hits::One(one),
        _ => Hits::Many(all),
    }
}

/// A multiplicative hash for (reader, writer) node pairs; SipHash dominated the walk.
#[derive(Default)]
struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Java's `Incompatibility.getLocation()`: a JSON pointer without the root token.
fn pointer(location: &[Token]) -> String {
    let parts: Vec<String> = location
        .iter()
        .skip(1)
        .map(|t| match t {
            Token::Key(k) => k.replace('~', "~0").replace('/', "~1"),
            Token::Index(i) => i.to_string(),
        })
        .collect();
    format!("/{}", parts.join("/"))
}

/// Turns Java's terse details into messages that say what changed and how to fix it.
struct Explain<'a> {
    reader: &'a AvroSchema,
    writer: &'a AvroSchema,
    direction: Direction,
}

impl Explain<'_> {
    fn explain(&self, raw: Raw) -> Incompatibility {
        let path = pointer(&raw.location);
        let location = Some(self.reader.location(self.reader.span_of_path(&path)));
        let (reader, writer) = (self.direction.reader(), self.direction.writer());
        let backward = self.direction == Direction::Backward;
        let r_desc = self.reader.describe(raw.reader);
        let w_desc = self.writer.describe(raw.writer);
        let at = match self.reader.field_at_path(&path) {
            Some((record, field)) => format!("field \"{field}\" of \"{record}\""),
            None => format!("\"{path}\""),
        };
        let message = match raw.rule {
            Rule::ReaderFieldMissingDefaultValue => {
                let field = &raw.detail;
                if backward {
                    format!(
                        "Field \"{field}\" was added without a default: data written with the old schema \
                         has no \"{field}\", so the new schema cannot read it. Add a default to \
                         \"{field}\" (e.g. make it [\"null\", ...] with \"default\": null)."
                    )
                } else {
                    format!(
                        "Field \"{field}\" has no default in the old schema and is missing from the new \
                         schema: consumers on the old schema cannot read new data. Keep \"{field}\" in \
                         the new schema (removing a field needs a default for it in every old version)."
                    )
                }
            }
            Rule::TypeMismatch => format!(
                "Type of {at} changed from {old} to {new}: the {reader} schema's {r_desc} cannot read \
                 the {writer} schema's {w_desc}. Keep {old}, change to a type it promotes to \
                 (int → long, float, double; long → float, double; float → double; string ↔ bytes), \
                 or add a new field with a default instead.",
                old = if backward { &w_desc } else { &r_desc },
                new = if backward { &r_desc } else { &w_desc },
            ),
            Rule::NameMismatch => {
                let r_name = self
                    .reader
                    .node(raw.reader)
                    .kind
                    .named()
                    .map(|n| n.name.full())
                    .unwrap_or_default();
                let w_name = self
                    .writer
                    .node(raw.writer)
                    .kind
                    .named()
                    .map(|n| n.name.full())
                    .unwrap_or_default();
                if backward {
                    format!(
                        "Type \"{w_name}\" was renamed to \"{r_name}\" at \"{path}\". Keep the name \"{w_name}\", \
                         or add \"{w_name}\" to the \"aliases\" of \"{r_name}\"."
                    )
                } else {
                    format!(
                        "Type \"{r_name}\" was renamed to \"{w_name}\" at \"{path}\": consumers on the old \
                         schema do not know the new name, and aliases only help the reader. Keep the name \
                         \"{r_name}\"."
                    )
                }
            }
            Rule::FixedSizeMismatch => format!(
                "Size of {r_desc} at \"{path}\" changed: the {reader} schema has {reader_size} bytes, the \
                 {writer} schema {writer_size} ({detail}). Keep the size; a fixed type never changes size.",
                reader_size = fixed_size(self.reader, raw.reader),
                writer_size = fixed_size(self.writer, raw.writer),
                detail = raw.detail,
            ),
            Rule::MissingEnumSymbols => {
                if backward {
                    format!(
                        "Enum {r_desc} at \"{path}\" lost symbols {}: old data may contain them. Keep the \
                         symbols, or give the new enum a \"default\" symbol to read unknown ones as.",
                        raw.detail
                    )
                } else {
                    format!(
                        "Enum {w_desc} at \"{path}\" gained symbols {} that consumers on the old schema do not \
                         know, and the old enum has no \"default\" symbol. Don't add symbols at this level, \
                         or give the enum a default symbol first and let every consumer upgrade.",
                        raw.detail
                    )
                }
            }
            Rule::MissingUnionBranch => format!(
                "At \"{path}\" the {reader} schema's {r_desc} cannot read the {writer} schema's {} ({}). \
                 Add a branch that reads it to the {reader} union.",
                self.writer.describe(raw.writer),
                raw.detail
            ),
            Rule::AmbiguousFieldMatch => format!(
                "{}. Unexpected exception during compatibility check: a field's name and aliases must \
                 match at most one writer field; remove the alias that hits the other field.",
                raw.detail
            ),
            other => format!("{other}: {}", raw.detail),
        };
        Incompatibility {
            rule: raw.rule,
            path,
            message,
            location,
        }
    }
}

fn fixed_size(schema: &AvroSchema, id: NodeId) -> usize {
    match &schema.node(id).kind {
        Kind::Fixed(f) => f.size,
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
