//! The generated encoders and decoders: straight Avro binary, no value tree, no name lookup.

use std::fmt::Write as _;

use contracts_model::Diagnostic;
use contracts_model::avro::{AvroSchema, Child, Kind, NodeId};
use contracts_model::json::{Json, Value};

use super::TypeGen;
use super::names::type_ident;

const B: &str = "::contracts_core::avro::binary";
const L: &str = "::contracts_core::avro::logical";
const RESULT: &str = "::std::result::Result";
const ERR: &str = "::contracts_core::DecodeError";
const READ_RESULT: &str = "::contracts_core::avro::ReadResult";
const READER: &str = "::contracts_core::avro::Reader<'_>";
const VALUE: &str = "::contracts_core::avro::AvroValue";

/// A logical type the generator maps to a Rust type. Logical types it does not know, or that
/// are invalid for their base type, are ignored as the specification says: the base type is
/// used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Logical {
    Decimal { scale: u32, fixed: Option<usize> },
    Uuid { fixed: bool },
    Date,
    TimeMillis,
    TimeMicros,
    TimestampMillis,
    TimestampMicros,
    LocalTimestampMillis,
    LocalTimestampMicros,
}

/// Largest decimal precision `rust_decimal` holds (96-bit mantissa); wider decimals keep their
/// base type.
const MAX_DECIMAL_PRECISION: i64 = 28;

pub(crate) fn logical(schema: &AvroSchema, id: NodeId) -> Option<Logical> {
    let node = schema.node(id);
    let l = node.logical.as_ref()?;
    Some(match (l.name.as_str(), &node.kind) {
        ("decimal", Kind::Bytes | Kind::Fixed(_)) => {
            let precision = l.precision?;
            let scale = l.scale.unwrap_or(0);
            if !(1..=MAX_DECIMAL_PRECISION).contains(&precision)
                || !(0..=precision).contains(&scale)
            {
                return None;
            }
            let fixed = match &node.kind {
                Kind::Fixed(f) => Some(f.size),
                _ => None,
            };
            Logical::Decimal {
                scale: scale as u32,
                fixed,
            }
        }
        ("uuid", Kind::String) => Logical::Uuid { fixed: false },
        ("uuid", Kind::Fixed(f)) if f.size == 16 => Logical::Uuid { fixed: true },
        ("date", Kind::Int) => Logical::Date,
        ("time-millis", Kind::Int) => Logical::TimeMillis,
        ("time-micros", Kind::Long) => Logical::TimeMicros,
        ("timestamp-millis", Kind::Long) => Logical::TimestampMillis,
        ("timestamp-micros", Kind::Long) => Logical::TimestampMicros,
        ("local-timestamp-millis", Kind::Long) => Logical::LocalTimestampMillis,
        ("local-timestamp-micros", Kind::Long) => Logical::LocalTimestampMicros,
        _ => return None,
    })
}

impl Logical {
    pub(crate) fn rust_type(self) -> &'static str {
        match self {
            Logical::Decimal { .. } => "::contracts_core::types::Decimal",
            Logical::Uuid { .. } => "::contracts_core::types::Uuid",
            Logical::Date => "::contracts_core::types::NaiveDate",
            Logical::TimeMillis | Logical::TimeMicros => "::contracts_core::types::NaiveTime",
            Logical::TimestampMillis | Logical::TimestampMicros => {
                "::contracts_core::types::DateTime<::contracts_core::types::Utc>"
            }
            Logical::LocalTimestampMillis | Logical::LocalTimestampMicros => {
                "::contracts_core::types::NaiveDateTime"
            }
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Logical::Decimal { .. } => "decimal",
            Logical::Uuid { .. } => "uuid",
            Logical::Date => "date",
            Logical::TimeMillis => "time-millis",
            Logical::TimeMicros => "time-micros",
            Logical::TimestampMillis => "timestamp-millis",
            Logical::TimestampMicros => "timestamp-micros",
            Logical::LocalTimestampMillis => "local-timestamp-millis",
            Logical::LocalTimestampMicros => "local-timestamp-micros",
        }
    }

    /// Helper in `contracts_core::avro::logical` (and `Reader` method) named after the type.
    fn fn_name(self) -> &'static str {
        match self {
            Logical::Decimal { .. } => "decimal",
            Logical::Uuid { .. } => "uuid",
            Logical::Date => "date",
            Logical::TimeMillis => "time_millis",
            Logical::TimeMicros => "time_micros",
            Logical::TimestampMillis => "timestamp_millis",
            Logical::TimestampMicros => "timestamp_micros",
            Logical::LocalTimestampMillis => "local_timestamp_millis",
            Logical::LocalTimestampMicros => "local_timestamp_micros",
        }
    }
}

/// `*e` for an expression `e` of type `&T`, without the noise of `*&x`.
fn deref(e: &str) -> String {
    match e.strip_prefix('&') {
        Some(place) => place.to_string(),
        None => format!("*{e}"),
    }
}

/// The literal of a field path used in decode errors.
pub(crate) fn lit(path: &str) -> String {
    format!("{path:?}")
}

/// The zigzag byte of a union branch or small index.
fn index_byte(i: usize) -> Option<u8> {
    (i < 64).then_some((i as u8) << 1)
}

pub(crate) fn write_index(i: usize) -> String {
    match index_byte(i) {
        Some(b) => format!("out.push({b});"),
        None => format!("{B}::write_long(out, {i});"),
    }
}

impl TypeGen<'_> {
    /// Statements that append the encoding of `e`, an expression of type `&T` for the node's
    /// Rust type `T`.
    pub(crate) fn write_stmts(
        &self,
        id: NodeId,
        e: &str,
        depth: usize,
        ind: &str,
    ) -> Result<String, Diagnostic> {
        let node = self.schema.node(id);
        if let Some(l) = logical(self.schema, id) {
            return Ok(match l {
                Logical::Decimal { scale, fixed: None } => {
                    format!("{ind}{L}::write_decimal(out, {e}, {scale});\n")
                }
                Logical::Decimal {
                    scale,
                    fixed: Some(size),
                } => {
                    format!("{ind}{L}::write_decimal_fixed(out, {e}, {scale}, {size});\n")
                }
                Logical::Uuid { fixed: true } => {
                    format!("{ind}{B}::write_fixed(out, ({e}).as_bytes());\n")
                }
                l => format!("{ind}{L}::write_{}(out, {e});\n", l.fn_name()),
            });
        }
        Ok(match &node.kind {
            Kind::Null => String::new(),
            Kind::Boolean => format!("{ind}{B}::write_bool(out, {});\n", deref(e)),
            Kind::Int => format!("{ind}{B}::write_int(out, {});\n", deref(e)),
            Kind::Long => format!("{ind}{B}::write_long(out, {});\n", deref(e)),
            Kind::Float => format!("{ind}{B}::write_float(out, {});\n", deref(e)),
            Kind::Double => format!("{ind}{B}::write_double(out, {});\n", deref(e)),
            Kind::Bytes => format!("{ind}{B}::write_bytes(out, {e});\n"),
            Kind::String => format!("{ind}{B}::write_str(out, {e});\n"),
            Kind::Fixed(_) => format!("{ind}{B}::write_fixed(out, {e});\n"),
            Kind::Array(c) => {
                let v = format!("__v{depth}");
                let inner = self.write_stmts(c.node, &v, depth + 1, &format!("{ind}    "))?;
                format!(
                    "{ind}{B}::write_block_start(out, ({e}).len());\n{ind}for {v} in {e} {{\n{inner}{ind}}}\n{ind}{B}::write_block_end(out);\n"
                )
            }
            Kind::Map(c) => {
                let (k, v) = (format!("__k{depth}"), format!("__v{depth}"));
                let inner = self.write_stmts(c.node, &v, depth + 1, &format!("{ind}    "))?;
                format!(
                    "{ind}{B}::write_block_start(out, ({e}).len());\n{ind}for ({k}, {v}) in {e} {{\n{ind}    {B}::write_str(out, {k});\n{inner}{ind}}}\n{ind}{B}::write_block_end(out);\n"
                )
            }
            Kind::Union(branches) if self.union_enum(id).is_none() => {
                let (null_at, some) = nullable(self.schema, branches);
                let v = format!("__v{depth}");
                let inner = self.write_stmts(some, &v, depth + 1, &format!("{ind}        "))?;
                format!(
                    "{ind}match {e} {{\n{ind}    ::std::option::Option::None => {},\n{ind}    ::std::option::Option::Some({v}) => {{\n{ind}        {}\n{inner}{ind}    }}\n{ind}}}\n",
                    write_index(null_at).trim_end_matches(';'),
                    write_index(1 - null_at),
                )
            }
            Kind::Union(_) | Kind::Record(_) | Kind::Enum(_) => {
                format!(
                    "{ind}<{} as {VALUE}>::write({e}, out);\n",
                    self.type_name(id)?
                )
            }
        })
    }

    /// An expression of the node's Rust type that reads one value from `__r`.
    pub(crate) fn read_expr(
        &self,
        id: NodeId,
        path: &str,
        depth: usize,
        ind: &str,
    ) -> Result<String, Diagnostic> {
        let node = self.schema.node(id);
        let p = lit(path);
        if let Some(l) = logical(self.schema, id) {
            return Ok(match l {
                Logical::Decimal { scale, fixed: None } => format!("__r.decimal({scale}, {p})?"),
                Logical::Decimal {
                    scale,
                    fixed: Some(size),
                } => {
                    format!("__r.decimal_fixed({size}, {scale}, {p})?")
                }
                Logical::Uuid { fixed: true } => {
                    format!("::contracts_core::types::Uuid::from_bytes(__r.array::<16>({p})?)")
                }
                l => format!("__r.{}({p})?", l.fn_name()),
            });
        }
        Ok(match &node.kind {
            Kind::Null => "()".into(),
            Kind::Boolean => format!("__r.bool({p})?"),
            Kind::Int => format!("__r.int({p})?"),
            Kind::Long => format!("__r.long({p})?"),
            Kind::Float => format!("__r.float({p})?"),
            Kind::Double => format!("__r.double({p})?"),
            Kind::Bytes => format!("__r.byte_vec({p})?"),
            Kind::String => format!("__r.string({p})?"),
            Kind::Fixed(f) => format!("__r.array::<{}>({p})?", f.size),
            Kind::Array(c) => {
                let item = self.read_expr(
                    c.node,
                    &format!("{path}[]"),
                    depth + 1,
                    &format!("{ind}        "),
                )?;
                block_read(false, &item, &p, depth, ind)
            }
            Kind::Map(c) => {
                let item = self.read_expr(
                    c.node,
                    &format!("{path}{{}}"),
                    depth + 1,
                    &format!("{ind}        "),
                )?;
                block_read(true, &item, &p, depth, ind)
            }
            Kind::Union(branches) if self.union_enum(id).is_none() => {
                let (null_at, some) = nullable(self.schema, branches);
                let inner = self.read_expr(some, path, depth + 1, &format!("{ind}    "))?;
                let (a, b) = if null_at == 0 {
                    (
                        "::std::option::Option::None".to_string(),
                        format!("::std::option::Option::Some({inner})"),
                    )
                } else {
                    (
                        format!("::std::option::Option::Some({inner})"),
                        "::std::option::Option::None".to_string(),
                    )
                };
                format!(
                    "match __r.index(2, {p})? {{\n{ind}    0 => {a},\n{ind}    _ => {b},\n{ind}}}"
                )
            }
            Kind::Union(_) | Kind::Record(_) | Kind::Enum(_) => {
                let ty = self.type_name(id)?;
                if self.boxed(id) {
                    // A record that contains itself: bounded nesting, whatever the payload says.
                    format!("::std::boxed::Box::new(__r.nested({p}, <{ty} as {VALUE}>::read)?)")
                } else {
                    format!("<{ty} as {VALUE}>::read(__r)?")
                }
            }
        })
    }

    pub(crate) fn record_value_impl(&self, id: NodeId, name: &str) -> Result<String, Diagnostic> {
        let Kind::Record(r) = &self.schema.node(id).kind else {
            return Ok(String::new());
        };
        let mut write = String::new();
        let mut read = String::new();
        for f in &r.fields {
            let ident = super::names::value_ident(&f.name);
            write.push_str(&self.write_stmts(
                f.ty.node,
                &format!("&self.{ident}"),
                0,
                "        ",
            )?);
            let path = format!("{}.{}", r.named.name.name, f.name);
            let _ = writeln!(
                read,
                "            {ident}: {},",
                self.read_expr(f.ty.node, &path, 0, "            ")?
            );
        }
        if write.is_empty() {
            write = "        let _ = out;\n".into();
        }
        let read_body = if r.fields.is_empty() {
            "        let _ = __r;\n        ::std::result::Result::Ok(Self {})\n".to_string()
        } else {
            format!("        ::std::result::Result::Ok(Self {{\n{read}        }})\n")
        };
        Ok(format!(
            "impl {VALUE} for {name} {{\n    #[inline]\n    fn write(&self, out: &mut ::std::vec::Vec<u8>) {{\n{write}    }}\n\n    #[inline]\n    fn read(__r: &mut {READER}) -> {READ_RESULT}<Self> {{\n{read_body}    }}\n}}\n"
        ))
    }

    pub(crate) fn enum_value_impl(&self, id: NodeId, name: &str, variants: &[String]) -> String {
        let Kind::Enum(e) = &self.schema.node(id).kind else {
            return String::new();
        };
        let p = lit(&e.named.name.name);
        let arms: String = variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if i + 1 == variants.len() {
                    format!("            _ => Self::{v},\n")
                } else {
                    format!("            {i} => Self::{v},\n")
                }
            })
            .collect();
        let write = if variants.len() <= 64 {
            "out.push((*self as u8) << 1);".to_string()
        } else {
            format!("{B}::write_long(out, *self as i64);")
        };
        format!(
            "impl {VALUE} for {name} {{\n    #[inline]\n    fn write(&self, out: &mut ::std::vec::Vec<u8>) {{\n        {write}\n    }}\n\n    #[inline]\n    fn read(__r: &mut {READER}) -> {READ_RESULT}<Self> {{\n        ::std::result::Result::Ok(match __r.index({n}, {p})? {{\n{arms}        }})\n    }}\n}}\n",
            n = variants.len()
        )
    }

    pub(crate) fn union_value_impl(
        &self,
        id: NodeId,
        name: &str,
        branches: &[Child],
        variants: &[String],
    ) -> Result<String, Diagnostic> {
        let mut write = String::new();
        let mut read = String::new();
        let path = name.to_string();
        for (i, (b, v)) in branches.iter().zip(variants).enumerate() {
            let idx = write_index(i);
            let arm = if i + 1 == branches.len() {
                "_".to_string()
            } else {
                i.to_string()
            };
            if matches!(self.schema.node(b.node).kind, Kind::Null) {
                let _ = writeln!(
                    write,
                    "            Self::{v} => {},",
                    idx.trim_end_matches(';')
                );
                let _ = writeln!(read, "            {arm} => Self::{v},");
            } else {
                let inner = self.write_stmts(b.node, "__v", 1, "                ")?;
                let _ = writeln!(
                    write,
                    "            Self::{v}(__v) => {{\n                {idx}\n{inner}            }}"
                );
                let _ = writeln!(
                    read,
                    "            {arm} => Self::{v}({}),",
                    self.read_expr(b.node, &path, 1, "            ")?
                );
            }
        }
        let _ = id;
        Ok(format!(
            "impl {VALUE} for {name} {{\n    #[inline]\n    fn write(&self, out: &mut ::std::vec::Vec<u8>) {{\n        match self {{\n{write}        }}\n    }}\n\n    #[inline]\n    fn read(__r: &mut {READER}) -> {READ_RESULT}<Self> {{\n        ::std::result::Result::Ok(match __r.index({n}, {p})? {{\n{read}        }})\n    }}\n}}\n",
            n = branches.len(),
            p = lit(&path),
        ))
    }

    /// `impl AvroRecord`; `{{DISPATCH}}` marks where the resolving decoders are tried.
    pub(crate) fn record_trait_impl(&self, name: &str, full: &str) -> Result<String, Diagnostic> {
        let text = self.schema.source().text();
        let fp = self.schema.sha256();
        let _ = full;
        Ok(format!(
            "impl ::contracts_core::avro::AvroRecord for {name} {{\n    const SCHEMA: &'static str = {text};\n    const FINGERPRINT: [u8; 32] = {fp:?};\n\n    fn decode_from(writer: &::contracts_core::WriterSchema, payload: &[u8]) -> {RESULT}<Self, {ERR}> {{\n        let __fp = writer.avro_fingerprint()?;\n        if __fp == <Self as ::contracts_core::avro::AvroRecord>::FINGERPRINT {{\n            return <Self as ::contracts_core::avro::AvroRecord>::decode(payload);\n        }}\n{{{{DISPATCH}}}}        // A writer not known at build time: the generic resolver.\n        ::contracts_core::avro::decode_resolved::<Self>(writer, payload)\n    }}\n}}\n",
            text = crate::names::str_lit(text),
        ))
    }

    /// A Rust expression for a schema default of the node's type.
    pub(crate) fn default_expr(&self, id: NodeId, v: &Json) -> Result<String, String> {
        let node = self.schema.node(id);
        let mismatch = || Err(format!("{} is not a valid {}", v.kind(), node.kind.ty()));
        if let Some(l) = logical(self.schema, id) {
            let dl = format!("{L}::default::{}", l.fn_name());
            return match (l, &v.value) {
                (Logical::Decimal { scale, .. }, Value::String(s)) => {
                    let bytes = latin1(s)?;
                    if bytes.len() > 16 {
                        return Err("decimal default wider than 128 bits".into());
                    }
                    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                        0xff
                    } else {
                        0
                    };
                    let mut buf = [fill; 16];
                    buf[16 - bytes.len()..].copy_from_slice(&bytes);
                    Ok(format!("{dl}({}_i128, {scale})", i128::from_be_bytes(buf)))
                }
                (Logical::Uuid { fixed: false }, Value::String(s)) => Ok(format!("{dl}({s:?})")),
                (Logical::Uuid { fixed: true }, Value::String(s)) => {
                    let bytes = latin1(s)?;
                    if bytes.len() != 16 {
                        return mismatch();
                    }
                    Ok(format!(
                        "::contracts_core::types::Uuid::from_bytes({bytes:?})"
                    ))
                }
                (_, Value::Number(n)) => match n.as_i64() {
                    Some(i) if l != Logical::Date && l != Logical::TimeMillis => {
                        Ok(format!("{dl}({i}_i64)"))
                    }
                    Some(i) => match i32::try_from(i) {
                        Ok(i) => Ok(format!(
                            "{dl}({i}_{})",
                            if l == Logical::Date { "i32" } else { "i64" }
                        )),
                        Err(_) => mismatch(),
                    },
                    None => mismatch(),
                },
                _ => mismatch(),
            };
        }
        Ok(match (&node.kind, &v.value) {
            (Kind::Null, Value::Null) => "()".into(),
            (Kind::Boolean, Value::Bool(b)) => b.to_string(),
            (Kind::Int, Value::Number(n)) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
                Some(i) => format!("{i}_i32"),
                None => return mismatch(),
            },
            (Kind::Long, Value::Number(n)) => match n.as_i64() {
                Some(i) => format!("{i}_i64"),
                None => return mismatch(),
            },
            (Kind::Float, Value::Number(n)) => format!("{:?}_f32", n.as_f64() as f32),
            (Kind::Double, Value::Number(n)) => format!("{:?}_f64", n.as_f64()),
            (Kind::String, Value::String(s)) => format!("::std::string::String::from({s:?})"),
            (Kind::Bytes, Value::String(s)) => {
                let b = latin1(s)?;
                if b.is_empty() {
                    "::std::vec::Vec::new()".into()
                } else {
                    format!(
                        "::std::vec![{}]",
                        b.iter()
                            .map(|x| format!("{x}_u8"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            }
            (Kind::Fixed(f), Value::String(s)) => {
                let b = latin1(s)?;
                if b.len() != f.size {
                    return Err(format!(
                        "fixed default has {} bytes, the type {}",
                        b.len(),
                        f.size
                    ));
                }
                format!("{b:?}").replace('[', "[").to_string()
            }
            (Kind::Enum(e), Value::String(s)) => {
                if !e.symbols.contains(s) {
                    return Err(format!(
                        "\"{s}\" is not a symbol of enum \"{}\"",
                        e.named.name.full()
                    ));
                }
                format!(
                    "{}::{}",
                    self.rust_type(id).map_err(|d| d.message().to_string())?,
                    type_ident(s)
                )
            }
            (Kind::Array(c), Value::Array(items)) => {
                if items.is_empty() {
                    "::std::vec::Vec::new()".into()
                } else {
                    let parts = items
                        .iter()
                        .map(|i| self.default_expr(c.node, i))
                        .collect::<Result<Vec<_>, _>>()?;
                    format!("::std::vec![{}]", parts.join(", "))
                }
            }
            (Kind::Map(c), Value::Object(members)) => {
                if members.is_empty() {
                    "::std::collections::BTreeMap::new()".into()
                } else {
                    let parts = members
                        .iter()
                        .map(|m| {
                            self.default_expr(c.node, &m.value)
                                .map(|e| format!("(::std::string::String::from({:?}), {e})", m.key))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    format!("::std::collections::BTreeMap::from([{}])", parts.join(", "))
                }
            }
            (Kind::Record(r), Value::Object(_)) => {
                let mut inits = Vec::new();
                for f in &r.fields {
                    let fv = v.get(&f.name).or(f.default.as_ref());
                    let Some(fv) = fv else {
                        return Err(format!("the default has no value for field \"{}\"", f.name));
                    };
                    inits.push(format!(
                        "{}: {}",
                        super::names::value_ident(&f.name),
                        self.default_expr(f.ty.node, fv)?
                    ));
                }
                let value = format!(
                    "{} {{ {} }}",
                    self.type_name(id).map_err(|d| d.message().to_string())?,
                    inits.join(", ")
                );
                if self.boxed(id) {
                    format!("::std::boxed::Box::new({value})")
                } else {
                    value
                }
            }
            (Kind::Union(branches), _) => {
                if self.union_enum(id).is_none() {
                    let (null_at, some) = nullable(self.schema, branches);
                    return match (&v.value, null_at) {
                        (Value::Null, _) => Ok("::std::option::Option::None".into()),
                        _ => Ok(format!(
                            "::std::option::Option::Some({})",
                            self.default_expr(some, v)?
                        )),
                    };
                }
                let name = self.rust_type(id).map_err(|d| d.message().to_string())?;
                for b in branches {
                    let variant = self.variant(b.node);
                    if matches!(self.schema.node(b.node).kind, Kind::Null) {
                        if v.value == Value::Null {
                            return Ok(format!("{name}::{variant}"));
                        }
                        continue;
                    }
                    if let Ok(e) = self.default_expr(b.node, v) {
                        return Ok(format!("{name}::{variant}({e})"));
                    }
                }
                return mismatch();
            }
            _ => return mismatch(),
        })
    }
}

/// `(index of null, the other branch)` of a `["null", T]` or `[T, "null"]` union.
pub(crate) fn nullable(schema: &AvroSchema, branches: &[Child]) -> (usize, NodeId) {
    if matches!(schema.node(branches[0].node).kind, Kind::Null) {
        (0, branches[1].node)
    } else {
        (1, branches[0].node)
    }
}

/// An expression that reads an array (or map) block by block; `item` reads one item.
pub(crate) fn block_read(map: bool, item: &str, p: &str, depth: usize, ind: &str) -> String {
    let a = format!("__a{depth}");
    let n = format!("__n{depth}");
    if map {
        format!(
            "{{\n{ind}    let mut {a} = ::std::collections::BTreeMap::new();\n{ind}    loop {{\n{ind}        let {n} = __r.block({p})?;\n{ind}        if {n} == 0 {{\n{ind}            break;\n{ind}        }}\n{ind}        for _ in 0..{n} {{\n{ind}            let __k = __r.string({p})?;\n{ind}            {a}.insert(__k, {item});\n{ind}        }}\n{ind}    }}\n{ind}    {a}\n{ind}}}"
        )
    } else {
        format!(
            "{{\n{ind}    let mut {a} = ::std::vec::Vec::new();\n{ind}    loop {{\n{ind}        let {n} = __r.block({p})?;\n{ind}        if {n} == 0 {{\n{ind}            break;\n{ind}        }}\n{ind}        {a}.reserve(__r.capacity_for({n}));\n{ind}        for _ in 0..{n} {{\n{ind}            {a}.push({item});\n{ind}        }}\n{ind}    }}\n{ind}    {a}\n{ind}}}"
        )
    }
}

fn latin1(s: &str) -> Result<Vec<u8>, String> {
    s.chars()
        .map(|c| {
            u8::try_from(u32::from(c))
                .map_err(|_| format!("'{c}' in a bytes default is not a byte (0-255)"))
        })
        .collect()
}
