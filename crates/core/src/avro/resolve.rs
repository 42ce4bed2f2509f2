//! The generic resolver: reads bytes written with a writer schema that was not known at build
//! time and rewrites them as bytes of the reader's schema, by running the [`Plan`] of the two
//! schemas. The generated decoder of the reader type then reads the result.
//!
//! A [`Program`] is built once per (writer, reader) pair (the runtime caches it per schema id,
//! see [`crate::WriterSchema::avro_resolve`]) and run per record.

use super::binary::{
    Block, Reader, write_block_end, write_block_start, write_bool, write_bytes, write_double,
    write_float, write_long,
};
use super::plan::{Hop, Op, Plan, Reason, RecordPlan, Step, Unresolved, unqualified};
use super::schema::{Node, NodeId, Schema};
use crate::DecodeError;

/// A compiled resolution of one writer schema against one reader schema.
#[derive(Debug, Clone)]
pub struct Program {
    writer: Schema,
    reader: Schema,
    plan: Plan,
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
        let plan =
            Plan::new(writer, reader).map_err(|u| ResolveError(message(writer, reader, &u)))?;
        Ok(Program {
            writer: writer.clone(),
            reader: reader.clone(),
            plan,
        })
    }

    /// Rewrites one writer payload as a reader payload, appended to `out`.
    pub fn run(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let mut r = Reader::new(payload);
        self.exec(&self.plan.root, &mut r, out, "")?;
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
                let plan = &self.plan.records[*i];
                r.nested(path, |r| self.record(plan, r, out, path).map_err(Box::new))?;
            }
            Op::WriterUnion(branches) => {
                let at = r.position();
                let i = r.index(branches.len(), path)?;
                match &branches[i] {
                    Ok(op) => self.exec(op, r, out, path)?,
                    Err(u) => {
                        let why = message(&self.writer, &self.reader, u);
                        return Err(*Reader::invalid_at(at, path, why));
                    }
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
        let Node::Record(reader) = self.reader.node(plan.reader) else {
            return Ok(());
        };
        let Node::Record(writer) = self.writer.node(plan.writer) else {
            return Ok(());
        };
        let name = unqualified(&reader.name);
        let mut parts: Vec<Option<Vec<u8>>> = vec![None; reader.fields.len()];
        for (step, wf) in plan.steps.iter().zip(&writer.fields) {
            match step {
                Step::Read { field, op } => {
                    let mut buf = Vec::new();
                    let p = format!("{name}.{}", reader.fields[*field].name);
                    self.exec(op, r, &mut buf, &p)?;
                    parts[*field] = Some(buf);
                }
                Step::Skip => skip(&self.writer, wf.ty, r, path)?,
            }
        }
        for (part, default) in parts.iter().zip(&plan.defaults) {
            match (part, default) {
                (Some(bytes), _) | (None, Some(bytes)) => out.extend_from_slice(bytes),
                // The planner gives every reader field a source.
                (None, None) => {}
            }
        }
        Ok(())
    }
}

/// Words an [`Unresolved`] for the runtime: the way to the place as `/field/field` of the
/// reader's field names.
fn message(writer: &Schema, reader: &Schema, u: &Unresolved) -> String {
    let mut path = String::new();
    for hop in &u.trail {
        if let Hop::Field {
            reader: record,
            reader_field,
            ..
        } = hop
            && let Node::Record(rec) = reader.node(*record)
        {
            path.push('/');
            path.push_str(&rec.fields[*reader_field].name);
        }
    }
    let (wn, rn) = (writer.node(u.writer), reader.node(u.reader));
    let field = |i: usize| match rn {
        Node::Record(rec) => rec.fields[i].name.as_str(),
        _ => "",
    };
    match &u.reason {
        Reason::Mismatch => format!(
            "{path}: the reader's {} cannot read the writer's {}",
            describe(rn),
            describe(wn)
        ),
        Reason::NoUnionBranch => format!(
            "{path}: the writer's {} is in no branch of the reader's union",
            wn.type_name()
        ),
        Reason::FixedSize {
            writer: ws,
            reader: rs,
        } => format!(
            "{path}: fixed \"{}\" has size {ws} in the writer and {rs} in the reader",
            rn.name().unwrap_or_default()
        ),
        Reason::NoDefault { field: i } => {
            let f = field(*i);
            format!(
                "{path}/{f}: the reader's field \"{f}\" is not in the writer's record and has no default"
            )
        }
        Reason::InvalidDefault { field: i, why } => {
            format!("{path}/{}: invalid default: {why}", field(*i))
        }
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

fn describe(n: &Node) -> String {
    match n.name() {
        Some(name) => format!("{} \"{name}\"", n.type_name()),
        None => n.type_name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::binary::{write_int, write_long, write_str};

    /// A linked list 600 records deep, read on a thread with the stack of a tokio worker (where
    /// the consumer decodes): the generic reader and the resolver both refuse it by its depth,
    /// with an error, instead of overflowing the stack and killing the process.
    #[test]
    fn records_nested_past_the_limit_fail_cleanly_on_a_worker_thread_stack() {
        let text = r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#;
        let mut payload = Vec::new();
        for _ in 0..600 {
            write_long(&mut payload, 1);
        }
        write_long(&mut payload, 0);
        let errors = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let s = Schema::parse(text).unwrap();
                let skipped = skip(&s, s.root(), &mut Reader::new(&payload), "L");
                let p = Program::new(&s, &s).unwrap();
                let resolved = p.run(&payload, &mut Vec::new());
                [skipped, resolved].map(|r| r.unwrap_err().to_string())
            })
            .unwrap()
            .join()
            .unwrap();
        for e in errors {
            assert!(e.contains("nested deeper than 128 levels"), "{e}");
        }
    }

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

    /// A payload of `count` as a long, then `tail`.
    fn counted(count: i64, tail: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_long(&mut out, count);
        out.extend_from_slice(tail);
        out
    }

    fn assert_block_rejected(writer: &str, reader: &str, payload: &[u8], path: &str) {
        let e = resolve(writer, reader, payload).unwrap_err();
        assert!(
            e.contains(path) && (e.contains("block count") || e.contains("block byte size")),
            "{e}"
        );
    }

    const EMPTY: &str = r#"{"type":"record","name":"Empty","fields":[]}"#;

    #[test]
    fn a_block_of_2_pow_28_items_with_no_bytes_behind_it_is_rejected() {
        let w = r#"{"type":"record","name":"R","fields":[{"name":"xs","type":{"type":"array","items":"null"}}]}"#;
        assert_block_rejected(w, w, &counted(1 << 28, &[]), "R.xs");
        let w = r#"{"type":"record","name":"R","fields":[{"name":"xs","type":{"type":"array","items":"long"}}]}"#;
        assert_block_rejected(w, w, &counted(1 << 28, &[]), "R.xs");
    }

    #[test]
    fn a_huge_count_of_nulls_is_rejected_in_many_small_blocks_too() {
        let w = r#"{"type":"array","items":"null"}"#;
        assert_block_rejected(w, w, &counted(1_000_000, &[0]), "");
        // 64 blocks of 2^12 nulls pass the budget of a short payload exactly; one more does not.
        let mut payload = Vec::new();
        for _ in 0..16 {
            write_long(&mut payload, 1 << 12);
        }
        payload.push(0);
        assert!(resolve(w, w, &payload).is_ok());
        payload.pop();
        write_long(&mut payload, 1);
        payload.push(0);
        assert_block_rejected(w, w, &payload, "");
    }

    #[test]
    fn nested_arrays_of_empty_records_share_one_budget() {
        let w = format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"xss","type":{{"type":"array","items":{{"type":"array","items":{EMPTY}}}}}}}]}}"#
        );
        // 1,000 inner arrays, each claiming 1,000 empty records: 1,001,000 items in ~3 KB.
        let mut payload = counted(1000, &[]);
        for _ in 0..1000 {
            write_long(&mut payload, 1000);
            payload.push(0);
        }
        payload.push(0);
        assert_block_rejected(&w, &w, &payload, "R.xss");
    }

    #[test]
    fn a_negative_block_count_with_a_byte_size_is_checked() {
        let w = r#"{"type":"record","name":"R","fields":[{"name":"xs","type":{"type":"array","items":"null"}}]}"#;
        // -(2^28) items said to take 4 bytes that are not there.
        assert_block_rejected(w, w, &counted(-(1 << 28), &[0x08]), "R.xs");
        // -(2^28) items in 0 bytes: fits the bytes, not the item budget.
        assert_block_rejected(w, w, &counted(-(1 << 28), &[0x00, 0x00]), "R.xs");
    }

    #[test]
    fn a_map_with_a_huge_count_is_rejected() {
        let w = r#"{"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map","values":"null"}}]}"#;
        assert_block_rejected(w, w, &counted(1 << 28, &[]), "R.m");
        assert_block_rejected(w, w, &counted(i64::MAX, &[]), "R.m");
    }

    #[test]
    fn a_hostile_block_in_a_field_the_reader_skips_is_rejected() {
        let w = r#"{"type":"record","name":"R","fields":[{"name":"gone","type":{"type":"array","items":"null"}},{"name":"a","type":"int"}]}"#;
        let r = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        let e = resolve(w, r, &counted(1 << 28, &[0x00, 0x02])).unwrap_err();
        assert!(e.contains("block count"), "{e}");
        let m = r#"{"type":"record","name":"R","fields":[{"name":"gone","type":{"type":"map","values":{"type":"record","name":"E","fields":[]}}},{"name":"a","type":"int"}]}"#;
        let e = resolve(m, r, &counted(1 << 40, &[0x00, 0x02])).unwrap_err();
        assert!(e.contains("block count"), "{e}");
    }
}
