//! Resolving decoders: code that reads data written with another version of an event's
//! schema straight into this version's types, following the Avro specification's resolution
//! rules (fields matched by name and aliases, defaults for missing fields, numeric and
//! string/bytes promotions, enum defaults, union branch selection). Which versions get one is
//! decided by `contracts_compat::can_read`; this module only writes the code.

use std::collections::HashMap;
use std::fmt::Write as _;

use contracts_model::Diagnostic;
use contracts_model::avro::{AvroSchema, Kind, NodeId};

use super::TypeGen;
use super::codec::{Logical, block_read, lit, logical};
use super::names::value_ident;

const RESULT: &str = "::std::result::Result";
const READ_RESULT: &str = "::contracts_core::avro::ReadResult";
const READER: &str = "::contracts_core::avro::Reader<'_>";

/// Writes the resolving functions for data written with `writer` into `out`; returns the name
/// of the function that reads a whole record.
pub(crate) fn generate(
    types: &TypeGen<'_>,
    writer: &AvroSchema,
    prefix: &str,
    out: &mut String,
) -> Result<String, Diagnostic> {
    let mut g = Gen {
        t: types,
        w: writer,
        prefix,
        fns: HashMap::new(),
        skips: HashMap::new(),
        pending: Vec::new(),
        pending_skips: Vec::new(),
    };
    let root = g
        .record_fn(writer.root(), types.schema.root())
        .map_err(|e| Diagnostic::new(format!("cannot generate a resolving decoder: {e}")))?;
    while let Some((w, r, name)) = g.pending.pop() {
        let body = g
            .record_body(w, r, &name)
            .map_err(|e| Diagnostic::new(format!("cannot generate a resolving decoder: {e}")))?;
        out.push_str(&body);
    }
    while let Some((w, name)) = g.pending_skips.pop() {
        let body = g.skip_body(w, &name);
        out.push_str(&body);
    }
    Ok(root)
}

struct Gen<'a> {
    t: &'a TypeGen<'a>,
    w: &'a AvroSchema,
    prefix: &'a str,
    fns: HashMap<(NodeId, NodeId), String>,
    skips: HashMap<NodeId, String>,
    pending: Vec<(NodeId, NodeId, String)>,
    pending_skips: Vec<(NodeId, String)>,
}

fn unqualified(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

impl<'a> Gen<'a> {
    fn r(&self) -> &'a AvroSchema {
        self.t.schema
    }

    fn names_match(&self, w: NodeId, r: NodeId) -> bool {
        let (Some(wn), Some(rn)) = (self.w.node(w).kind.named(), self.r().node(r).kind.named())
        else {
            return false;
        };
        let (w_full, r_full) = (wn.name.full(), rn.name.full());
        w_full == r_full
            || rn.aliases.contains(&w_full)
            || unqualified(&w_full) == unqualified(&r_full)
    }

    fn same_kind(&self, w: NodeId, r: NodeId) -> bool {
        let (wk, rk) = (&self.w.node(w).kind, &self.r().node(r).kind);
        match (wk, rk) {
            (Kind::Record(_), Kind::Record(_))
            | (Kind::Enum(_), Kind::Enum(_))
            | (Kind::Fixed(_), Kind::Fixed(_)) => self.names_match(w, r),
            (a, b) => a.ty() == b.ty(),
        }
    }

    fn record_fn(&mut self, w: NodeId, r: NodeId) -> Result<String, String> {
        if let Some(name) = self.fns.get(&(w, r)) {
            return Ok(name.clone());
        }
        let name = format!("{}_{}", self.prefix, self.fns.len());
        self.fns.insert((w, r), name.clone());
        self.pending.push((w, r, name.clone()));
        Ok(name)
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

    /// An expression of the reader node's Rust type that reads a writer value of node `w`.
    fn expr(
        &mut self,
        w: NodeId,
        r: NodeId,
        path: &str,
        depth: usize,
        ind: &str,
    ) -> Result<String, String> {
        let p = lit(path);
        let wk = &self.w.node(w).kind;
        if let Kind::Union(branches) = wk {
            let mut arms = String::new();
            let mut failing = false;
            for (i, b) in branches.iter().enumerate() {
                let arm = if i + 1 == branches.len() {
                    "_".to_string()
                } else {
                    i.to_string()
                };
                match self.expr(b.node, r, path, depth + 1, &format!("{ind}    ")) {
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
            return Ok(format!(
                "{{ {at}match __r.index({}, {p})? {{\n{arms}{ind}}} }}",
                branches.len()
            ));
        }
        let rk = &self.r().node(r).kind;
        if let Kind::Union(branches) = rk {
            let branches = branches.clone();
            let exact = branches.iter().position(|b| self.same_kind(w, b.node));
            let order: Vec<usize> = exact.into_iter().chain(0..branches.len()).collect();
            for j in order {
                let b = branches[j].node;
                let Ok(inner) = self.expr(w, b, path, depth, ind) else {
                    continue;
                };
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
                return Ok(if is_null {
                    format!("{name}::{variant}")
                } else {
                    format!("{name}::{variant}({inner})")
                });
            }
            return Err(format!(
                "{path}: the writer's {} is in no branch of the reader's {}",
                self.w.describe(w),
                self.r().describe(r)
            ));
        }
        let read_as_reader = || {
            self.t
                .read_expr(r, path, depth, ind)
                .map_err(|d| d.message().to_string())
        };
        Ok(match (wk, rk) {
            (Kind::Null, Kind::Null)
            | (Kind::Boolean, Kind::Boolean)
            | (Kind::Int, Kind::Int)
            | (Kind::Long, Kind::Long)
            | (Kind::Float, Kind::Float)
            | (Kind::Double, Kind::Double)
            | (Kind::Bytes | Kind::String, Kind::Bytes | Kind::String) => read_as_reader()?,
            (Kind::Fixed(wf), Kind::Fixed(rf)) if self.names_match(w, r) && wf.size == rf.size => {
                read_as_reader()?
            }
            (Kind::Int, Kind::Long) => match logical(self.r(), r) {
                Some(l) => format!(
                    "::contracts_core::avro::logical::default::{}(i64::from(__r.int({p})?))",
                    fn_of(l)
                ),
                None => format!("i64::from(__r.int({p})?)"),
            },
            (Kind::Int, Kind::Float) => format!("(__r.int({p})? as f32)"),
            (Kind::Int, Kind::Double) => format!("f64::from(__r.int({p})?)"),
            (Kind::Long, Kind::Float) => format!("(__r.long({p})? as f32)"),
            (Kind::Long, Kind::Double) => format!("(__r.long({p})? as f64)"),
            (Kind::Float, Kind::Double) => format!("f64::from(__r.float({p})?)"),
            (Kind::Enum(we), Kind::Enum(re)) if self.names_match(w, r) => {
                let name = self.t.rust_type(r).map_err(|d| d.message().to_string())?;
                let default = re.default.as_ref();
                let mut arms = String::new();
                let mut failing = false;
                for (i, s) in we.symbols.iter().enumerate() {
                    let target = if re.symbols.contains(s) {
                        Some(s)
                    } else {
                        default
                    };
                    match target {
                        Some(t) => {
                            let _ = writeln!(
                                arms,
                                "{ind}    {i} => {name}::{},",
                                super::names::type_ident(t)
                            );
                        }
                        None => {
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
                    we.symbols.len()
                )
            }
            (Kind::Array(wi), Kind::Array(ri)) => {
                let item = self.expr(
                    wi.node,
                    ri.node,
                    &format!("{path}[]"),
                    depth + 1,
                    &format!("{ind}        "),
                )?;
                block_read(false, &item, &p, depth, ind)
            }
            (Kind::Map(wv), Kind::Map(rv)) => {
                let item = self.expr(
                    wv.node,
                    rv.node,
                    &format!("{path}{{}}"),
                    depth + 1,
                    &format!("{ind}        "),
                )?;
                block_read(true, &item, &p, depth, ind)
            }
            (Kind::Record(_), Kind::Record(_)) if self.names_match(w, r) => {
                let f = self.record_fn(w, r)?;
                if self.t.boxed(r) {
                    format!("::std::boxed::Box::new(__r.nested({p}, {f})?)")
                } else {
                    format!("{f}(__r)?")
                }
            }
            _ => {
                return Err(format!(
                    "{path}: the reader's {} cannot read the writer's {}",
                    self.r().describe(r),
                    self.w.describe(w)
                ));
            }
        })
    }

    fn record_body(&mut self, w: NodeId, r: NodeId, name: &str) -> Result<String, String> {
        let (Kind::Record(wr), Kind::Record(rr)) = (&self.w.node(w).kind, &self.r().node(r).kind)
        else {
            return Err("not records".into());
        };
        let ty = self.t.type_name(r).map_err(|d| d.message().to_string())?;
        let mut body = String::new();
        let mut from_writer = vec![false; rr.fields.len()];
        for wf in &wr.fields {
            let found = rr
                .fields
                .iter()
                .position(|f| f.name == wf.name)
                .or_else(|| rr.fields.iter().position(|f| f.aliases.contains(&wf.name)));
            let path = format!("{}.{}", rr.named.name.name, wf.name);
            match found {
                Some(i) if !from_writer[i] => {
                    from_writer[i] = true;
                    let e = self.expr(wf.ty.node, rr.fields[i].ty.node, &path, 0, "    ")?;
                    let _ = writeln!(body, "    let __f{i} = {e};");
                }
                _ => {
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
