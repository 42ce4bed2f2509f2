//! The generic resolver: reads bytes written with a writer schema that was not known at build
//! time and rewrites them as bytes of the reader's schema, following the resolution rules of
//! the Avro specification. The generated decoder of the reader type then reads the result.
//!
//! A [`Program`] is built once per (writer, reader) pair (the runtime caches it per schema id,
//! see [`crate::WriterSchema::avro_resolve`]) and run per record.

use std::collections::HashMap;

use serde_json::Value;

use super::binary::{
    Block, Reader, write_block_end, write_block_start, write_bool, write_bytes, write_double,
    write_float, write_long,
};
use super::schema::{Node, NodeId, Schema};
use crate::DecodeError;

/// How to turn one writer value into one reader value.
#[derive(Debug, Clone)]
enum Op {
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
    Fixed(usize),
    /// Writer symbol index → reader symbol index; `Err` holds the unreadable symbol.
    Enum(Vec<Result<u32, String>>),
    Array(Box<Op>),
    Map(Box<Op>),
    Record(usize),
    /// The writer wrote a union: one way per writer branch, or why that branch cannot be read.
    WriterUnion(Vec<Result<Op, String>>),
    /// The reader has a union and the writer does not: write the reader's branch index first.
    ToUnion(u32, Box<Op>),
}

#[derive(Debug, Clone)]
struct RecordPlan {
    /// Name of the reader record, for error paths.
    name: String,
    /// One step per writer field, in writer order.
    steps: Vec<Step>,
    /// Per reader field: the encoded default, when the writer does not have the field.
    defaults: Vec<Option<Vec<u8>>>,
    /// Reader field names, for error paths.
    fields: Vec<String>,
}

#[derive(Debug, Clone)]
enum Step {
    /// Read the writer field into reader field `field`.
    Read { field: usize, op: Op },
    /// The reader has no such field: skip the writer's value.
    Skip(NodeId),
}

/// A compiled resolution of one writer schema against one reader schema.
#[derive(Debug, Clone)]
pub struct Program {
    writer: Schema,
    root: Op,
    records: Vec<RecordPlan>,
}

/// Why a reader schema cannot read a writer schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ResolveError(pub String);

impl Program {
    /// Compiles the resolution of `writer` data into `reader` data. Fails when the schemas do
    /// not resolve (a writer union branch the reader cannot read only fails when it is read,
    /// as the specification says).
    pub fn new(writer: &Schema, reader: &Schema) -> Result<Program, ResolveError> {
        let mut b = Builder {
            w: writer,
            r: reader,
            records: Vec::new(),
            memo: HashMap::new(),
        };
        let root = b.op(writer.root(), reader.root(), "")?;
        Ok(Program {
            writer: writer.clone(),
            root,
            records: b.records,
        })
    }

    /// Rewrites one writer payload as a reader payload, appended to `out`.
    pub fn run(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let mut r = Reader::new(payload);
        self.exec(&self.root, &mut r, out, "")?;
        Ok(r.finish()?)
    }

    fn exec(
        &self,
        op: &Op,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        path: &str,
    ) -> Result<(), DecodeError> {
        match op {
            Op::Null => {}
            Op::Boolean => write_bool(out, r.bool(path)?),
            Op::Int => write_long(out, i64::from(r.int(path)?)),
            Op::Long => write_long(out, r.long(path)?),
            Op::Float => write_float(out, r.float(path)?),
            Op::Double => write_double(out, r.double(path)?),
            Op::Bytes => write_bytes(out, r.bytes(path)?),
            Op::IntToLong => write_long(out, i64::from(r.int(path)?)),
            Op::IntToFloat => write_float(out, r.int(path)? as f32),
            Op::IntToDouble => write_double(out, f64::from(r.int(path)?)),
            Op::LongToFloat => write_float(out, r.long(path)? as f32),
            Op::LongToDouble => write_double(out, r.long(path)? as f64),
            Op::FloatToDouble => write_double(out, f64::from(r.float(path)?)),
            Op::Fixed(n) => out.extend_from_slice(r.raw(*n, path)?),
            Op::Enum(map) => {
                let at = r.position();
                let i = r.index(map.len(), path)?;
                match &map[i] {
                    Ok(j) => write_long(out, i64::from(*j)),
                    Err(symbol) => {
                        return Err(*Reader::invalid_at(
                            at,
                            path,
                            format!(
                                "symbol \"{symbol}\" is not in the reader's enum, which has no default"
                            ),
                        ));
                    }
                }
            }
            Op::Array(item) | Op::Map(item) => {
                let is_map = matches!(op, Op::Map(_));
                loop {
                    let n = r.block(path)?;
                    if n == 0 {
                        break;
                    }
                    write_block_start(out, n);
                    for _ in 0..n {
                        if is_map {
                            write_bytes(out, r.bytes(path)?);
                        }
                        self.exec(item, r, out, path)?;
                    }
                }
                write_block_end(out);
            }
            Op::Record(i) => {
                let plan = &self.records[*i];
                r.nested(path, |r| self.record(plan, r, out, path).map_err(Box::new))?;
            }
            Op::WriterUnion(branches) => {
                let at = r.position();
                let i = r.index(branches.len(), path)?;
                match &branches[i] {
                    Ok(op) => self.exec(op, r, out, path)?,
                    Err(why) => return Err(*Reader::invalid_at(at, path, why.clone())),
                }
            }
            Op::ToUnion(i, op) => {
                write_long(out, i64::from(*i));
                self.exec(op, r, out, path)?;
            }
        }
        Ok(())
    }

    fn record(
        &self,
        plan: &RecordPlan,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        path: &str,
    ) -> Result<(), DecodeError> {
        let mut parts: Vec<Option<Vec<u8>>> = vec![None; plan.fields.len()];
        for step in &plan.steps {
            match step {
                Step::Read { field, op } => {
                    let mut buf = Vec::new();
                    let p = format!("{}.{}", plan.name, plan.fields[*field]);
                    self.exec(op, r, &mut buf, &p)?;
                    parts[*field] = Some(buf);
                }
                Step::Skip(node) => skip(&self.writer, *node, r, path)?,
            }
        }
        for (part, default) in parts.iter().zip(&plan.defaults) {
            match (part, default) {
                (Some(bytes), _) | (None, Some(bytes)) => out.extend_from_slice(bytes),
                // The builder gives every reader field a source.
                (None, None) => {}
            }
        }
        Ok(())
    }
}

/// Skips one value of writer type `node`.
pub fn skip(s: &Schema, node: NodeId, r: &mut Reader<'_>, path: &str) -> Result<(), DecodeError> {
    match s.node(node) {
        Node::Null => {}
        Node::Boolean => {
            r.bool(path)?;
        }
        Node::Int | Node::Long | Node::Enum(_) => {
            r.long(path)?;
        }
        Node::Float => {
            r.raw(4, path)?;
        }
        Node::Double => {
            r.raw(8, path)?;
        }
        Node::Bytes | Node::String => {
            r.bytes(path)?;
        }
        Node::Fixed(f) => {
            r.raw(f.size, path)?;
        }
        Node::Array(item) | Node::Map(item) => {
            let is_map = matches!(s.node(node), Node::Map(_));
            loop {
                match r.skip_block(path)? {
                    Block::End => break,
                    Block::Skipped => {}
                    Block::Items(n) => {
                        for _ in 0..n {
                            if is_map {
                                r.bytes(path)?;
                            }
                            skip(s, *item, r, path)?;
                        }
                    }
                }
            }
        }
        Node::Union(branches) => {
            let i = r.index(branches.len(), path)?;
            skip(s, branches[i], r, path)?;
        }
        Node::Record(rec) => {
            r.nested(path, |r| {
                for f in &rec.fields {
                    skip(s, f.ty, r, path)?;
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

struct Builder<'a> {
    w: &'a Schema,
    r: &'a Schema,
    records: Vec<RecordPlan>,
    memo: HashMap<(NodeId, NodeId), usize>,
}

fn unqualified(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

impl Builder<'_> {
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
            (Node::Array(_), Node::Array(_)) | (Node::Map(_), Node::Map(_)) => true,
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }

    fn op(&mut self, w: NodeId, r: NodeId, path: &str) -> Result<Op, ResolveError> {
        let (wn, rn) = (self.w.node(w), self.r.node(r));
        if let Node::Union(branches) = wn {
            let branches = branches.clone();
            return Ok(Op::WriterUnion(
                branches
                    .iter()
                    .map(|&b| self.op(b, r, path).map_err(|e| e.0))
                    .collect(),
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
                if let Ok(op) = self.op(w, b, path) {
                    return Ok(Op::ToUnion(i as u32, Box::new(op)));
                }
            }
            return Err(ResolveError(format!(
                "{path}: the writer's {} is in no branch of the reader's union",
                wn.type_name()
            )));
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
            (Node::Array(wi), Node::Array(ri)) => Op::Array(Box::new(self.op(*wi, *ri, path)?)),
            (Node::Map(wv), Node::Map(rv)) => Op::Map(Box::new(self.op(*wv, *rv, path)?)),
            (Node::Fixed(wf), Node::Fixed(rf)) if self.names_match(w, r) => {
                if wf.size != rf.size {
                    return Err(ResolveError(format!(
                        "{path}: fixed \"{}\" has size {} in the writer and {} in the reader",
                        rf.name, wf.size, rf.size
                    )));
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
                Op::Record(self.record(w, r, path)?)
            }
            _ => {
                return Err(ResolveError(format!(
                    "{path}: the reader's {} cannot read the writer's {}",
                    describe(rn),
                    describe(wn)
                )));
            }
        };
        Ok(op)
    }

    fn record(&mut self, w: NodeId, r: NodeId, path: &str) -> Result<usize, ResolveError> {
        if let Some(&i) = self.memo.get(&(w, r)) {
            return Ok(i);
        }
        let (Node::Record(wr), Node::Record(rr)) = (self.w.node(w), self.r.node(r)) else {
            return Err(ResolveError(format!("{path}: not records")));
        };
        let index = self.records.len();
        self.memo.insert((w, r), index);
        self.records.push(RecordPlan {
            name: unqualified(&rr.name).to_string(),
            steps: Vec::new(),
            defaults: Vec::new(),
            fields: rr.fields.iter().map(|f| f.name.clone()).collect(),
        });
        let mut steps = Vec::with_capacity(wr.fields.len());
        let mut from_writer = vec![false; rr.fields.len()];
        for wf in &wr.fields {
            let found = rr
                .fields
                .iter()
                .position(|f| f.name == wf.name)
                .or_else(|| rr.fields.iter().position(|f| f.aliases.contains(&wf.name)));
            match found {
                Some(i) if !from_writer[i] => {
                    from_writer[i] = true;
                    let p = format!("{path}/{}", rr.fields[i].name);
                    let op = self.op(wf.ty, rr.fields[i].ty, &p)?;
                    steps.push(Step::Read { field: i, op });
                }
                _ => steps.push(Step::Skip(wf.ty)),
            }
        }
        let mut defaults = Vec::with_capacity(rr.fields.len());
        for (i, f) in rr.fields.iter().enumerate() {
            if from_writer[i] {
                defaults.push(None);
                continue;
            }
            let Some(default) = &f.default else {
                return Err(ResolveError(format!(
                    "{path}/{}: the reader's field \"{}\" is not in the writer's record and has no default",
                    f.name, f.name
                )));
            };
            let mut bytes = Vec::new();
            encode_default(self.r, f.ty, default, &mut bytes)
                .map_err(|e| ResolveError(format!("{path}/{}: invalid default: {e}", f.name)))?;
            defaults.push(Some(bytes));
        }
        let plan = &mut self.records[index];
        plan.steps = steps;
        plan.defaults = defaults;
        Ok(index)
    }
}

fn describe(n: &Node) -> String {
    match n.name() {
        Some(name) => format!("{} \"{name}\"", n.type_name()),
        None => n.type_name().to_string(),
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
    use crate::avro::binary::{write_int, write_str};

    fn resolve(writer: &str, reader: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let w = Schema::parse(writer).unwrap();
        let r = Schema::parse(reader).unwrap();
        let p = Program::new(&w, &r).map_err(|e| e.0)?;
        let mut out = Vec::new();
        p.run(payload, &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn fields_are_reordered_dropped_and_defaulted() {
        let w = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"gone","type":"string"},{"name":"b","type":"string"}]}"#;
        let r = r#"{"type":"record","name":"R","fields":[{"name":"b","type":"string"},{"name":"new","type":"long","default":7},{"name":"a","type":"long"}]}"#;
        let mut payload = Vec::new();
        write_int(&mut payload, 5);
        write_str(&mut payload, "skip me");
        write_str(&mut payload, "x");
        let mut expect = Vec::new();
        write_str(&mut expect, "x");
        write_long(&mut expect, 7);
        write_long(&mut expect, 5);
        assert_eq!(resolve(w, r, &payload).unwrap(), expect);
    }

    #[test]
    fn a_missing_field_without_default_does_not_resolve() {
        let w = r#"{"type":"record","name":"R","fields":[]}"#;
        let r = r#"{"type":"record","name":"R","fields":[{"name":"x","type":"int"}]}"#;
        let e = resolve(w, r, &[]).unwrap_err();
        assert!(e.contains("\"x\"") && e.contains("no default"), "{e}");
    }

    #[test]
    fn unknown_enum_symbols_read_as_the_default() {
        let w = r#"{"type":"enum","name":"E","symbols":["A","B","NEW"]}"#;
        let r = r#"{"type":"enum","name":"E","symbols":["B","A"],"default":"A"}"#;
        assert_eq!(resolve(w, r, &[0x04]).unwrap(), [0x02]);
        assert_eq!(resolve(w, r, &[0x00]).unwrap(), [0x02]);
        assert_eq!(resolve(w, r, &[0x02]).unwrap(), [0x00]);
        let r_no_default = r#"{"type":"enum","name":"E","symbols":["A","B"]}"#;
        let e = resolve(w, r_no_default, &[0x04]).unwrap_err();
        assert!(e.contains("NEW"), "{e}");
    }

    #[test]
    fn numbers_are_promoted() {
        let mut payload = Vec::new();
        write_int(&mut payload, -3);
        assert_eq!(
            resolve(r#""int""#, r#""double""#, &payload).unwrap(),
            (-3f64).to_le_bytes()
        );
        assert_eq!(
            resolve(r#""int""#, r#""float""#, &payload).unwrap(),
            (-3f32).to_le_bytes()
        );
        assert_eq!(resolve(r#""int""#, r#""long""#, &payload).unwrap(), payload);
        assert!(resolve(r#""long""#, r#""int""#, &payload).is_err());
    }

    #[test]
    fn unions_pick_branches_both_ways() {
        // writer plain, reader union: the reader's matching branch index is written.
        let mut payload = Vec::new();
        write_str(&mut payload, "hi");
        let mut expect = vec![0x02];
        expect.extend_from_slice(&payload);
        assert_eq!(
            resolve(r#""string""#, r#"["null","string"]"#, &payload).unwrap(),
            expect
        );
        // writer union, reader plain: a null branch cannot be read.
        let e = resolve(r#"["null","string"]"#, r#""string""#, &[0x00]).unwrap_err();
        assert!(e.contains("null"), "{e}");
        assert_eq!(
            resolve(r#"["null","string"]"#, r#""string""#, &expect).unwrap(),
            payload
        );
        // writer int in a union read as the reader's long branch.
        assert_eq!(
            resolve(r#"["null","int"]"#, r#"["null","long"]"#, &[0x02, 0x04]).unwrap(),
            [0x02, 0x04]
        );
    }

    #[test]
    fn arrays_and_maps_of_records_resolve_item_by_item() {
        let w = r#"{"type":"map","values":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"q","type":"int"}]}}}"#;
        let r = r#"{"type":"map","values":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"q","type":"long"},{"name":"d","type":"string","default":"z"}]}}}"#;
        // one map entry "k" -> [ {q:1} ]
        let payload = [0x02, 0x02, b'k', 0x02, 0x02, 0x00, 0x00];
        let expect = [0x02, 0x02, b'k', 0x02, 0x02, 0x02, b'z', 0x00, 0x00];
        assert_eq!(resolve(w, r, &payload).unwrap(), expect);
    }

    #[test]
    fn defaults_of_every_kind_encode() {
        let r = r#"{"type":"record","name":"R","fields":[
            {"name":"u","type":["null","int"],"default":null},
            {"name":"v","type":["int","null"],"default":3},
            {"name":"b","type":"bytes","default":"\u00ff"},
            {"name":"m","type":{"type":"map","values":"boolean"},"default":{"k":true}},
            {"name":"n","type":{"type":"record","name":"N","fields":[{"name":"x","type":"int","default":1}]},"default":{}}
        ]}"#;
        let w = r#"{"type":"record","name":"R","fields":[]}"#;
        let out = resolve(w, r, &[]).unwrap();
        assert_eq!(
            out,
            [
                0x00, 0x00, 0x06, 0x02, 0xff, 0x02, 0x02, b'k', 0x01, 0x00, 0x02
            ]
        );
    }

    #[test]
    fn writer_records_with_block_sized_arrays_are_skipped() {
        let w = r#"{"type":"record","name":"R","fields":[{"name":"old","type":{"type":"array","items":"int"}},{"name":"a","type":"int"}]}"#;
        let r = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        // -2 items in 2 bytes, then end, then a = 1
        let payload = [0x03, 0x04, 0x02, 0x04, 0x00, 0x02];
        assert_eq!(resolve(w, r, &payload).unwrap(), [0x02]);
    }
}
