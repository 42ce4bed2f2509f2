//! Resolving decoders: code that reads data written with another version of an event's
//! schema straight into this version's types. How each writer value becomes a reader value is
//! the runtime's resolution plan (`contracts_core::avro::plan`), so a generated decoder and
//! the runtime's generic resolver read the same bytes the same way. Which versions get one is
//! decided by `contracts_compat::can_read`; this module only writes the plan as code.

use std::collections::HashMap;
use std::fmt::Write as _;

use contracts_core::avro::plan::{Hop, Op, Plan, Reason, Step, Unresolved};
use contracts_model::Diagnostic;
use contracts_model::avro::{AvroSchema, Kind, NodeId};

use super::TypeGen;
use super::codec::{Logical, block_read, lit, logical};
use super::names::value_ident;

const RESULT: &str = "::std::result::Result";
const READ_RESULT: &str = "::contracts_core::avro::ReadResult";
const READER: &str = "::contracts_core::avro::Reader<'_>";

/// Writes the resolving functions for data written with `writer` into `out`; returns the name
/// of the function that reads a whole record. The decisions are the runtime's
/// ([`Plan`], made on the lowered schemas, whose node ids are the model's); this only writes
/// them as code.
pub(crate) fn generate(
    types: &TypeGen<'_>,
    writer: &AvroSchema,
    prefix: &str,
    out: &mut String,
) -> Result<String, Diagnostic> {
    let cannot = |e: String| Diagnostic::new(format!("cannot generate a resolving decoder: {e}"));
    let plan = Plan::new(&writer.lower(), &types.schema.lower())
        .map_err(|u| cannot(message(writer, types.schema, &u)))?;
    let mut g = Gen {
        t: types,
        w: writer,
        plan: &plan,
        prefix,
        fns: HashMap::new(),
        skips: HashMap::new(),
        pending: Vec::new(),
        pending_skips: Vec::new(),
    };
    let Op::Record(root) = plan.root else {
        return Err(cannot(format!(
            "the writer's {} is not read as a record",
            writer.describe(writer.root())
        )));
    };
    let root = g.record_fn(root);
    while let Some((record, name)) = g.pending.pop() {
        let body = g.record_body(record, &name).map_err(cannot)?;
        out.push_str(&body);
    }
    while let Some((w, name)) = g.pending_skips.pop() {
        let body = g.skip_body(w, &name);
        out.push_str(&body);
    }
    Ok(root)
}

/// Words an [`Unresolved`] for generated code: the place as `Record.field` of the innermost
/// record, then `[]` for array items and `{}` for map values.
fn message(w: &AvroSchema, r: &AvroSchema, u: &Unresolved) -> String {
    let last_field = u.trail.iter().rposition(|h| matches!(h, Hop::Field { .. }));
    let mut path = String::new();
    for hop in &u.trail[last_field.unwrap_or(0)..] {
        match hop {
            Hop::Field {
                writer,
                writer_field,
                reader,
                ..
            } => {
                if let (Kind::Record(wr), Kind::Record(rr)) =
                    (&w.node(*writer).kind, &r.node(*reader).kind)
                {
                    path = format!("{}.{}", rr.named.name.name, wr.fields[*writer_field].name);
                }
            }
            Hop::Items => path.push_str("[]"),
            Hop::Values => path.push_str("{}"),
        }
    }
    let field = |i: usize| match &r.node(u.reader).kind {
        Kind::Record(rec) => rec.fields[i].name.clone(),
        _ => String::new(),
    };
    match &u.reason {
        Reason::Mismatch | Reason::FixedSize { .. } => format!(
            "{path}: the reader's {} cannot read the writer's {}",
            r.describe(u.reader),
            w.describe(u.writer)
        ),
        Reason::NoUnionBranch => format!(
            "{path}: the writer's {} is in no branch of the reader's {}",
            w.describe(u.writer),
            r.describe(u.reader)
        ),
        Reason::NoDefault { field: i } => {
            format!("field \"{}\" is not written and has no default", field(*i))
        }
        Reason::InvalidDefault { field: i, why } => {
            format!("field \"{}\" has an invalid default: {why}", field(*i))
        }
    }
}

struct Gen<'a> {
    t: &'a TypeGen<'a>,
    w: &'a AvroSchema,
    plan: &'a Plan,
    prefix: &'a str,
    /// Function names per record plan index.
    fns: HashMap<usize, String>,
    skips: HashMap<NodeId, String>,
    pending: Vec<(usize, String)>,
    pending_skips: Vec<(NodeId, String)>,
}

impl<'a> Gen<'a> {
    fn r(&self) -> &'a AvroSchema {
        self.t.schema
    }

    fn record_fn(&mut self, record: usize) -> String {
        if let Some(name) = self.fns.get(&record) {
            return name.clone();
        }
        let name = format!("{}_{}", self.prefix, self.fns.len());
        self.fns.insert(record, name.clone());
        self.pending.push((record, name.clone()));
        name
    }

    fn skip_fn(&mut self, w: NodeId) -> String {
        if let Some(name) = self.skips.get(&w) {
            return name.clone();
        }
        let name = format!("{}_skip_{}", self.prefix, self.skips.len());
        self.skips.insert(w, name.clone());
        self.pending_skips.push((w, name.clone()));
        name
    }

    /// An expression of the reader node's Rust type that reads a writer value of node `w`
    /// the way `op` says.
    fn expr(
        &mut self,
        op: &Op,
        w: NodeId,
        r: NodeId,
        path: &str,
        depth: usize,
        ind: &str,
    ) -> Result<String, String> {
        let p = lit(path);
        let (wk, rk) = (&self.w.node(w).kind, &self.r().node(r).kind);
        let read_as_reader = || {
            self.t
                .read_expr(r, path, depth, ind)
                .map_err(|d| d.message().to_string())
        };
        Ok(match (op, wk, rk) {
            (Op::WriterUnion(ways), Kind::Union(branches), _) => {
                let mut arms = String::new();
                let mut failing = false;
                for (i, (b, way)) in branches.iter().zip(ways).enumerate() {
                    let arm = if i + 1 == branches.len() {
                        "_".to_string()
                    } else {
                        i.to_string()
                    };
                    let e = match way {
                        Ok(op) => self.expr(op, b.node, r, path, depth + 1, &format!("{ind}    ")),
                        Err(u) => Err(message(self.w, self.r(), u)),
                    };
                    match e {
                        Ok(e) => {
                            let _ = writeln!(arms, "{ind}    {arm} => {e},");
                        }
                        Err(why) => {
                            failing = true;
                            let _ = writeln!(
                                arms,
                                "{ind}    {arm} => return {RESULT}::Err(::contracts_core::avro::Reader::invalid_at(__at, {p}, {why:?})),"
                            );
                        }
                    }
                }
                let at = if failing {
                    "let __at = __r.position(); ".to_string()
                } else {
                    String::new()
                };
                format!(
                    "{{ {at}match __r.index({}, {p})? {{\n{arms}{ind}}} }}",
                    branches.len()
                )
            }
            (Op::ToUnion(j, op), _, Kind::Union(branches)) => {
                let b = branches[*j as usize].node;
                let inner = self.expr(op, w, b, path, depth, ind)?;
                let is_null = matches!(self.r().node(b).kind, Kind::Null);
                if self.t.union_enum(r).is_none() {
                    return Ok(if is_null {
                        "::std::option::Option::None".to_string()
                    } else {
                        format!("::std::option::Option::Some({inner})")
                    });
                }
                let name = self.t.rust_type(r).map_err(|d| d.message().to_string())?;
                let variant = self.t.variant(b);
                if is_null {
                    format!("{name}::{variant}")
                } else {
                    format!("{name}::{variant}({inner})")
                }
            }
            (
                Op::Null
                | Op::Boolean
                | Op::Int
                | Op::Long
                | Op::Float
                | Op::Double
                | Op::Bytes
                | Op::Fixed(_),
                _,
                _,
            ) => read_as_reader()?,
            (Op::IntToLong, _, _) => match logical(self.r(), r) {
                Some(l) => format!(
                    "::contracts_core::avro::logical::default::{}(i64::from(__r.int({p})?))",
                    fn_of(l)
                ),
                None => format!("i64::from(__r.int({p})?)"),
            },
            (Op::IntToFloat, _, _) => format!("(__r.int({p})? as f32)"),
            (Op::IntToDouble, _, _) => format!("f64::from(__r.int({p})?)"),
            (Op::LongToFloat, _, _) => format!("(__r.long({p})? as f32)"),
            (Op::LongToDouble, _, _) => format!("(__r.long({p})? as f64)"),
            (Op::FloatToDouble, _, _) => format!("f64::from(__r.float({p})?)"),
            (Op::Enum(symbols), Kind::Enum(_), Kind::Enum(re)) => {
                let name = self.t.rust_type(r).map_err(|d| d.message().to_string())?;
                let mut arms = String::new();
                let mut failing = false;
                for (i, target) in symbols.iter().enumerate() {
                    match target {
                        Ok(j) => {
                            let _ = writeln!(
                                arms,
                                "{ind}    {i} => {name}::{},",
                                super::names::type_ident(&re.symbols[*j as usize])
                            );
                        }
                        Err(s) => {
                            failing = true;
                            let why = format!(
                                "symbol \"{s}\" is not in the reader's enum, which has no default"
                            );
                            let _ = writeln!(
                                arms,
                                "{ind}    {i} => return {RESULT}::Err(::contracts_core::avro::Reader::invalid_at(__at, {p}, {why:?})),"
                            );
                        }
                    }
                }
                let _ = writeln!(
                    arms,
                    "{ind}    _ => unreachable!(\"index is range-checked\"),"
                );
                let at = if failing {
                    "let __at = __r.position(); "
                } else {
                    ""
                };
                format!(
                    "{{ {at}match __r.index({}, {p})? {{\n{arms}{ind}}} }}",
                    symbols.len()
                )
            }
            (Op::Array(op), Kind::Array(wi), Kind::Array(ri)) => {
                let item = self.expr(
                    op,
                    wi.node,
                    ri.node,
                    &format!("{path}[]"),
                    depth + 1,
                    &format!("{ind}        "),
                )?;
                block_read(false, &item, &p, depth, ind)
            }
            (Op::Map(op), Kind::Map(wv), Kind::Map(rv)) => {
                let item = self.expr(
                    op,
                    wv.node,
                    rv.node,
                    &format!("{path}{{}}"),
                    depth + 1,
                    &format!("{ind}        "),
                )?;
                block_read(true, &item, &p, depth, ind)
            }
            (Op::Record(i), _, _) => {
                let f = self.record_fn(*i);
                if self.t.boxed(r) {
                    format!("::std::boxed::Box::new(__r.nested({p}, {f})?)")
                } else {
                    format!("{f}(__r)?")
                }
            }
            _ => {
                return Err(format!(
                    "{path}: the plan does not fit the reader's {} and the writer's {}",
                    self.r().describe(r),
                    self.w.describe(w)
                ));
            }
        })
    }

    fn record_body(&mut self, record: usize, name: &str) -> Result<String, String> {
        let plan = &self.plan.records[record];
        let (w, r) = (plan.writer, plan.reader);
        let (Kind::Record(wr), Kind::Record(rr)) = (&self.w.node(w).kind, &self.r().node(r).kind)
        else {
            return Err("not records".into());
        };
        let ty = self.t.type_name(r).map_err(|d| d.message().to_string())?;
        let mut body = String::new();
        let mut from_writer = vec![false; rr.fields.len()];
        for (step, wf) in plan.steps.iter().zip(&wr.fields) {
            let path = format!("{}.{}", rr.named.name.name, wf.name);
            match step {
                Step::Read { field: i, op } => {
                    from_writer[*i] = true;
                    let e = self.expr(op, wf.ty.node, rr.fields[*i].ty.node, &path, 0, "    ")?;
                    let _ = writeln!(body, "    let __f{i} = {e};");
                }
                Step::Skip => {
                    let _ = write!(body, "{}", self.skip_stmts(wf.ty.node, &path, 0, "    "));
                }
            }
        }
        let mut inits = String::new();
        for (i, f) in rr.fields.iter().enumerate() {
            let ident = value_ident(&f.name);
            if from_writer[i] {
                let _ = writeln!(inits, "        {ident}: __f{i},");
                continue;
            }
            let Some(d) = &f.default else {
                return Err(format!(
                    "field \"{}\" is not written and has no default",
                    f.name
                ));
            };
            let e = self.t.default_expr(f.ty.node, d)?;
            let _ = writeln!(inits, "        {ident}: {e},");
        }
        let unused = if body.is_empty() {
            "    let _ = __r;\n"
        } else {
            ""
        };
        Ok(format!(
            "\n/// Reads `{ty}` from data written with an older or newer version of its schema.\nfn {name}(__r: &mut {READER}) -> {READ_RESULT}<{ty}> {{\n{unused}{body}    {RESULT}::Ok({ty} {{\n{inits}    }})\n}}\n"
        ))
    }

    fn skip_stmts(&mut self, w: NodeId, path: &str, depth: usize, ind: &str) -> String {
        let p = lit(path);
        match &self.w.node(w).kind {
            Kind::Null => String::new(),
            Kind::Boolean => format!("{ind}__r.bool({p})?;\n"),
            Kind::Int | Kind::Long | Kind::Enum(_) => format!("{ind}__r.long({p})?;\n"),
            Kind::Float => format!("{ind}__r.raw(4, {p})?;\n"),
            Kind::Double => format!("{ind}__r.raw(8, {p})?;\n"),
            Kind::Bytes | Kind::String => format!("{ind}__r.bytes({p})?;\n"),
            Kind::Fixed(f) => format!("{ind}__r.raw({}, {p})?;\n", f.size),
            Kind::Array(c) | Kind::Map(c) => {
                let is_map = matches!(self.w.node(w).kind, Kind::Map(_));
                let n = format!("__n{depth}");
                let inner_ind = format!("{ind}            ");
                let key = if is_map {
                    format!("{inner_ind}__r.bytes({p})?;\n")
                } else {
                    String::new()
                };
                let inner = self.skip_stmts(c.node, path, depth + 1, &inner_ind);
                format!(
                    "{ind}loop {{\n{ind}    match __r.skip_block({p})? {{\n{ind}        ::contracts_core::avro::binary::Block::End => break,\n{ind}        ::contracts_core::avro::binary::Block::Skipped => {{}}\n{ind}        ::contracts_core::avro::binary::Block::Items({n}) => for _ in 0..{n} {{\n{key}{inner}{ind}        }},\n{ind}    }}\n{ind}}}\n"
                )
            }
            Kind::Union(branches) => {
                let mut arms = String::new();
                for (i, b) in branches.iter().enumerate() {
                    let arm = if i + 1 == branches.len() {
                        "_".to_string()
                    } else {
                        i.to_string()
                    };
                    let inner = self.skip_stmts(b.node, path, depth + 1, &format!("{ind}        "));
                    let _ = writeln!(arms, "{ind}    {arm} => {{\n{inner}{ind}    }}");
                }
                format!(
                    "{ind}match __r.index({}, {p})? {{\n{arms}{ind}}}\n",
                    branches.len()
                )
            }
            Kind::Record(_) => format!("{ind}{}(__r)?;\n", self.skip_fn(w)),
        }
    }

    fn skip_body(&mut self, w: NodeId, name: &str) -> String {
        let Kind::Record(rec) = &self.w.node(w).kind else {
            return String::new();
        };
        let mut body = String::new();
        for f in &rec.fields {
            body.push_str(&self.skip_stmts(
                f.ty.node,
                &format!("{}.{}", rec.named.name.name, f.name),
                0,
                "    ",
            ));
        }
        if body.is_empty() {
            body.push_str("        let _ = __r;\n");
        }
        let body = body.replace("\n    ", "\n        ");
        let p = lit(&rec.named.name.name);
        // Writer records may contain themselves: skipping is bounded like reading.
        format!(
            "\n/// Skips a record the reader does not read.\nfn {name}(__r: &mut {READER}) -> {READ_RESULT}<()> {{\n    __r.nested({p}, |__r| {{\n    {body}        {RESULT}::Ok(())\n    }})\n}}\n"
        )
    }
}

fn fn_of(l: Logical) -> &'static str {
    match l {
        Logical::TimeMicros => "time_micros",
        Logical::TimestampMillis => "timestamp_millis",
        Logical::TimestampMicros => "timestamp_micros",
        Logical::LocalTimestampMillis => "local_timestamp_millis",
        Logical::LocalTimestampMicros => "local_timestamp_micros",
        // Not long-based: never a promotion target from int.
        _ => "timestamp_millis",
    }
}
