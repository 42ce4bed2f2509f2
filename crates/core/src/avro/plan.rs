//! The resolution planner: how data written with one schema is read as another, following
//! the resolution rules of the Avro specification (fields matched by name, then by the
//! reader's aliases; defaults for the reader's missing fields; int → long → float → double and
//! string ↔ bytes promotions; enum defaults for unknown symbols; union branch selection).
//!
//! A [`Plan`] is computed once per (writer, reader) pair and has two renderings: the runtime
//! runs it on bytes ([`super::Program`]), and `contracts-build` writes it out as Rust code
//! (resolving decoders for the versions known at build time). Both take their decisions from
//! here, so generated and generic decoding cannot disagree.
//!
//! A plan holds no messages: what cannot be resolved is an [`Unresolved`] with the way to the
//! place ([`Hop`]s) and the [`Reason`], which each rendering words in its own terms.

use std::collections::HashMap;

use serde_json::Value;

use super::binary::{write_block_end, write_block_start, write_bool, write_bytes, write_double};
use super::binary::{write_float, write_long};
use super::schema::{Node, NodeId, Schema};

/// How to turn one writer value into one reader value.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    /// `bytes` or `string`, either way (the encodings are the same).
    Bytes,
    IntToLong,
    IntToFloat,
    IntToDouble,
    LongToFloat,
    LongToDouble,
    FloatToDouble,
    /// A fixed of this size, named alike on both sides.
    Fixed(usize),
    /// Per writer symbol index: the reader's symbol index (the symbol itself, or the reader's
    /// default), or `Err` with the writer's symbol when the reader has neither.
    Enum(Vec<Result<u32, String>>),
    Array(Box<Op>),
    Map(Box<Op>),
    /// A record, planned in [`Plan::records`] at this index.
    Record(usize),
    /// The writer wrote a union: one way per writer branch, or why that branch cannot be read
    /// (which fails only when a value of that branch is read, as the specification says).
    WriterUnion(Vec<Result<Op, Unresolved>>),
    /// The reader has a union and the writer does not: the value goes into the reader's
    /// branch at this index.
    ToUnion(u32, Box<Op>),
}

/// How one writer record is read as one reader record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPlan {
    /// The writer's record node.
    pub writer: NodeId,
    /// The reader's record node.
    pub reader: NodeId,
    /// One step per writer field, in writer order.
    pub steps: Vec<Step>,
    /// Per reader field: its default, encoded, when the writer does not have the field.
    pub defaults: Vec<Option<Vec<u8>>>,
}

/// What happens to one writer field.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The writer field is read into the reader's field at index `field`.
    Read { field: usize, op: Op },
    /// The reader has no such field: the writer's value is skipped.
    Skip,
}

/// A compiled resolution of one writer schema against one reader schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The way from the writer's root to the reader's.
    pub root: Op,
    /// Every record pair the plan reads, referred to by [`Op::Record`].
    pub records: Vec<RecordPlan>,
}

/// A step on the way from the root to a place in the schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// Into a record field: the writer's field `writer_field` of record `writer`, read as the
    /// reader's field `reader_field` of record `reader`.
    Field {
        writer: NodeId,
        writer_field: usize,
        reader: NodeId,
        reader_field: usize,
    },
    /// Into an array's items.
    Items,
    /// Into a map's values.
    Values,
}

/// Why a writer type cannot be read as a reader type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The types differ and no promotion or name match applies.
    Mismatch,
    /// The reader has a union, and none of its branches reads the writer's type.
    NoUnionBranch,
    /// A fixed type, named alike, has another size.
    FixedSize { writer: usize, reader: usize },
    /// The reader's record field `field` is not in the writer's record and has no default.
    NoDefault { field: usize },
    /// The reader's record field `field` has a default that is not a value of its type.
    InvalidDefault { field: usize, why: String },
}

/// A place where the writer's data cannot be read as the reader's, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// The way from the root to the place (the first one the planner took).
    pub trail: Vec<Hop>,
    /// The writer's node there.
    pub writer: NodeId,
    /// The reader's node there (the record, for [`Reason::NoDefault`] and
    /// [`Reason::InvalidDefault`]).
    pub reader: NodeId,
    pub reason: Reason,
}

impl Plan {
    /// Plans the resolution of `writer` data into `reader` data. Fails when the schemas do
    /// not resolve; a writer union branch the reader cannot read only fails when it is read.
    pub fn new(writer: &Schema, reader: &Schema) -> Result<Plan, Unresolved> {
        let mut p = Planner {
            w: writer,
            r: reader,
            records: Vec::new(),
            memo: HashMap::new(),
            trail: Vec::new(),
        };
        let root = p.op(writer.root(), reader.root())?;
        Ok(Plan {
            root,
            records: p.records,
        })
    }
}

/// The part of a full name after its last dot.
pub fn unqualified(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

struct Planner<'a> {
    w: &'a Schema,
    r: &'a Schema,
    records: Vec<RecordPlan>,
    memo: HashMap<(NodeId, NodeId), usize>,
    /// The way to the node pair being planned.
    trail: Vec<Hop>,
}

impl Planner<'_> {
    fn unresolved(&self, w: NodeId, r: NodeId, reason: Reason) -> Unresolved {
        Unresolved {
            trail: self.trail.clone(),
            writer: w,
            reader: r,
            reason,
        }
    }

    /// Whether named types match: same full name, or the reader lists the writer's name as an
    /// alias. Like Apache Avro Java, unqualified names also match.
    fn names_match(&self, w: NodeId, r: NodeId) -> bool {
        let (wn, rn) = (self.w.node(w), self.r.node(r));
        let (Some(w_name), Some(r_name)) = (wn.name(), rn.name()) else {
            return false;
        };
        w_name == r_name
            || rn.aliases().iter().any(|a| a == w_name)
            || unqualified(w_name) == unqualified(r_name)
    }

    /// Whether a writer type goes into a reader union branch without promotion.
    fn same_kind(&self, w: NodeId, r: NodeId) -> bool {
        let (wn, rn) = (self.w.node(w), self.r.node(r));
        match (wn, rn) {
            (Node::Record(_), Node::Record(_))
            | (Node::Enum(_), Node::Enum(_))
            | (Node::Fixed(_), Node::Fixed(_)) => self.names_match(w, r),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }

    /// Plans `op` one hop further down.
    fn within(
        &mut self,
        hop: Hop,
        plan: impl FnOnce(&mut Self) -> Result<Op, Unresolved>,
    ) -> Result<Op, Unresolved> {
        self.trail.push(hop);
        let op = plan(self);
        self.trail.pop();
        op
    }

    fn op(&mut self, w: NodeId, r: NodeId) -> Result<Op, Unresolved> {
        let (wn, rn) = (self.w.node(w), self.r.node(r));
        if let Node::Union(branches) = wn {
            let branches = branches.clone();
            return Ok(Op::WriterUnion(
                branches.iter().map(|&b| self.op(b, r)).collect(),
            ));
        }
        if let Node::Union(branches) = rn {
            let branches = branches.clone();
            // The first branch of the same type, else the first the writer promotes to.
            let exact = branches.iter().position(|&b| self.same_kind(w, b));
            for (i, b) in exact
                .map(|i| (i, branches[i]))
                .into_iter()
                .chain(branches.iter().copied().enumerate())
            {
                if let Ok(op) = self.op(w, b) {
                    return Ok(Op::ToUnion(i as u32, Box::new(op)));
                }
            }
            return Err(self.unresolved(w, r, Reason::NoUnionBranch));
        }
        let op = match (wn, rn) {
            (Node::Null, Node::Null) => Op::Null,
            (Node::Boolean, Node::Boolean) => Op::Boolean,
            (Node::Int, Node::Int) => Op::Int,
            (Node::Long, Node::Long) => Op::Long,
            (Node::Float, Node::Float) => Op::Float,
            (Node::Double, Node::Double) => Op::Double,
            (Node::Bytes | Node::String, Node::Bytes | Node::String) => Op::Bytes,
            (Node::Int, Node::Long) => Op::IntToLong,
            (Node::Int, Node::Float) => Op::IntToFloat,
            (Node::Int, Node::Double) => Op::IntToDouble,
            (Node::Long, Node::Float) => Op::LongToFloat,
            (Node::Long, Node::Double) => Op::LongToDouble,
            (Node::Float, Node::Double) => Op::FloatToDouble,
            (Node::Array(wi), Node::Array(ri)) => {
                let (wi, ri) = (*wi, *ri);
                Op::Array(Box::new(self.within(Hop::Items, |p| p.op(wi, ri))?))
            }
            (Node::Map(wv), Node::Map(rv)) => {
                let (wv, rv) = (*wv, *rv);
                Op::Map(Box::new(self.within(Hop::Values, |p| p.op(wv, rv))?))
            }
            (Node::Fixed(wf), Node::Fixed(rf)) if self.names_match(w, r) => {
                if wf.size != rf.size {
                    let reason = Reason::FixedSize {
                        writer: wf.size,
                        reader: rf.size,
                    };
                    return Err(self.unresolved(w, r, reason));
                }
                Op::Fixed(rf.size)
            }
            (Node::Enum(we), Node::Enum(re)) if self.names_match(w, r) => Op::Enum(
                we.symbols
                    .iter()
                    .map(|s| {
                        re.symbols
                            .iter()
                            .position(|x| x == s)
                            .or_else(|| {
                                re.default
                                    .as_ref()
                                    .and_then(|d| re.symbols.iter().position(|x| x == d))
                            })
                            .map(|i| i as u32)
                            .ok_or_else(|| s.clone())
                    })
                    .collect(),
            ),
            (Node::Record(_), Node::Record(_)) if self.names_match(w, r) => {
                Op::Record(self.record(w, r)?)
            }
            _ => return Err(self.unresolved(w, r, Reason::Mismatch)),
        };
        Ok(op)
    }

    fn record(&mut self, w: NodeId, r: NodeId) -> Result<usize, Unresolved> {
        if let Some(&i) = self.memo.get(&(w, r)) {
            return Ok(i);
        }
        let (Node::Record(wr), Node::Record(rr)) = (self.w.node(w), self.r.node(r)) else {
            return Err(self.unresolved(w, r, Reason::Mismatch));
        };
        let index = self.records.len();
        // Registered before the fields, so that a record can contain itself.
        self.memo.insert((w, r), index);
        self.records.push(RecordPlan {
            writer: w,
            reader: r,
            steps: Vec::new(),
            defaults: Vec::new(),
        });
        let mut steps = Vec::with_capacity(wr.fields.len());
        let mut from_writer = vec![false; rr.fields.len()];
        for (wi, wf) in wr.fields.iter().enumerate() {
            let found = rr
                .fields
                .iter()
                .position(|f| f.name == wf.name)
                .or_else(|| rr.fields.iter().position(|f| f.aliases.contains(&wf.name)));
            match found {
                Some(i) if !from_writer[i] => {
                    from_writer[i] = true;
                    let hop = Hop::Field {
                        writer: w,
                        writer_field: wi,
                        reader: r,
                        reader_field: i,
                    };
                    let op = self.within(hop, |p| p.op(wf.ty, rr.fields[i].ty))?;
                    steps.push(Step::Read { field: i, op });
                }
                _ => steps.push(Step::Skip),
            }
        }
        let mut defaults = Vec::with_capacity(rr.fields.len());
        for (i, f) in rr.fields.iter().enumerate() {
            if from_writer[i] {
                defaults.push(None);
                continue;
            }
            let Some(default) = &f.default else {
                return Err(self.unresolved(w, r, Reason::NoDefault { field: i }));
            };
            let mut bytes = Vec::new();
            if let Err(why) = encode_default(self.r, f.ty, default, &mut bytes) {
                return Err(self.unresolved(w, r, Reason::InvalidDefault { field: i, why }));
            }
            defaults.push(Some(bytes));
        }
        let plan = &mut self.records[index];
        plan.steps = steps;
        plan.defaults = defaults;
        Ok(index)
    }
}

/// Encodes a field's JSON default as a value of type `node`, as the specification says
/// (bytes and fixed defaults are strings of code points 0-255; a union's default is for its
/// first branch, and for a later one that fits when the first does not).
pub fn encode_default(
    s: &Schema,
    node: NodeId,
    v: &Value,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let mismatch = || Err(format!("{v} is not a valid {}", s.node(node).type_name()));
    match (s.node(node), v) {
        (Node::Null, Value::Null) => {}
        (Node::Boolean, Value::Bool(b)) => write_bool(out, *b),
        (Node::Int, Value::Number(n)) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Some(i) => write_long(out, i64::from(i)),
            None => return mismatch(),
        },
        (Node::Long, Value::Number(n)) => match n.as_i64() {
            Some(i) => write_long(out, i),
            None => return mismatch(),
        },
        (Node::Float, Value::Number(n)) => write_float(out, n.as_f64().unwrap_or(f64::NAN) as f32),
        (Node::Double, Value::Number(n)) => write_double(out, n.as_f64().unwrap_or(f64::NAN)),
        (Node::String, Value::String(t)) => write_bytes(out, t.as_bytes()),
        (Node::Bytes, Value::String(t)) => write_bytes(out, &latin1(t)?),
        (Node::Fixed(f), Value::String(t)) => {
            let b = latin1(t)?;
            if b.len() != f.size {
                return mismatch();
            }
            out.extend_from_slice(&b);
        }
        (Node::Enum(e), Value::String(t)) => match e.symbols.iter().position(|x| x == t) {
            Some(i) => write_long(out, i as i64),
            None => return mismatch(),
        },
        (Node::Array(item), Value::Array(items)) => {
            write_block_start(out, items.len());
            for i in items {
                encode_default(s, *item, i, out)?;
            }
            write_block_end(out);
        }
        (Node::Map(value), Value::Object(entries)) => {
            write_block_start(out, entries.len());
            for (k, i) in entries {
                write_bytes(out, k.as_bytes());
                encode_default(s, *value, i, out)?;
            }
            write_block_end(out);
        }
        (Node::Record(r), Value::Object(obj)) => {
            for f in &r.fields {
                match obj.get(&f.name).or(f.default.as_ref()) {
                    Some(fv) => encode_default(s, f.ty, fv, out)?,
                    None => return Err(format!("no value for field \"{}\"", f.name)),
                }
            }
        }
        (Node::Union(branches), _) => {
            for (i, b) in branches.iter().enumerate() {
                let mut buf = Vec::new();
                write_long(&mut buf, i as i64);
                if encode_default(s, *b, v, &mut buf).is_ok() {
                    out.extend_from_slice(&buf);
                    return Ok(());
                }
            }
            return mismatch();
        }
        _ => return mismatch(),
    }
    Ok(())
}

fn latin1(t: &str) -> Result<Vec<u8>, String> {
    t.chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("'{c}' is not a byte (0-255)")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(writer: &str, reader: &str) -> Result<Plan, Unresolved> {
        Plan::new(
            &Schema::parse(writer).unwrap(),
            &Schema::parse(reader).unwrap(),
        )
    }

    #[test]
    fn a_plan_reads_fields_skips_the_rest_and_defaults_the_missing() {
        let p = plan(
            r#"{"type":"record","name":"a.R","fields":[{"name":"x","type":"int"},{"name":"gone","type":"string"}]}"#,
            r#"{"type":"record","name":"b.R","fields":[{"name":"y","aliases":["x"],"type":"long"},{"name":"n","type":"int","default":1}]}"#,
        )
        .unwrap();
        assert_eq!(p.root, Op::Record(0));
        let r = &p.records[0];
        assert_eq!(
            r.steps,
            [
                Step::Read {
                    field: 0,
                    op: Op::IntToLong
                },
                Step::Skip
            ]
        );
        assert_eq!(r.defaults, [None, Some(vec![0x02])]);
    }

    #[test]
    fn what_does_not_resolve_says_where_and_why() {
        let e = plan(
            r#"{"type":"record","name":"R","fields":[{"name":"i","type":{"type":"record","name":"I","fields":[]}}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"i","type":{"type":"record","name":"I","fields":[{"name":"z","type":"int"}]}}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.reason, Reason::NoDefault { field: 0 });
        assert_eq!(
            e.trail,
            [Hop::Field {
                writer: 0,
                writer_field: 0,
                reader: 0,
                reader_field: 0
            }]
        );
    }

    #[test]
    fn a_writer_union_branch_the_reader_cannot_read_fails_only_when_read() {
        let p = plan(r#"["null","string"]"#, r#""string""#).unwrap();
        let Op::WriterUnion(ways) = p.root else {
            panic!("{:?}", p.root)
        };
        assert_eq!(ways[1], Ok(Op::Bytes));
        assert_eq!(ways[0].as_ref().unwrap_err().reason, Reason::Mismatch);
    }
}
