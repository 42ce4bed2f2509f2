//! Prints a `FileDescriptorProto` as `.proto` text.
//!
//! Confluent's serializers register Protobuf schemas as base64 descriptors; Confluent stores and
//! returns them as `.proto` text. The model compiles text, so a descriptor is printed first. Type
//! names are printed fully qualified (`.shop.Money`), which protoc accepts anywhere.

use std::fmt::Write;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    ServiceDescriptorProto,
};

/// The `.proto` text of `file`.
pub fn print(file: &FileDescriptorProto) -> String {
    let mut out = String::new();
    let syntax = file.syntax.as_deref().unwrap_or("proto2");
    let proto3 = syntax == "proto3";
    let _ = writeln!(
        out,
        "syntax = \"{}\";",
        if proto3 { "proto3" } else { "proto2" }
    );
    if let Some(p) = &file.package {
        let _ = writeln!(out, "package {p};");
    }
    for (i, dep) in file.dependency.iter().enumerate() {
        let i = i32::try_from(i).unwrap_or(i32::MAX);
        let kind = if file.public_dependency.contains(&i) {
            "public "
        } else if file.weak_dependency.contains(&i) {
            "weak "
        } else {
            ""
        };
        let _ = writeln!(out, "import {kind}\"{}\";", escape(dep));
    }
    if let Some(o) = &file.options {
        let strings = [
            ("java_package", &o.java_package),
            ("java_outer_classname", &o.java_outer_classname),
            ("go_package", &o.go_package),
            ("csharp_namespace", &o.csharp_namespace),
            ("objc_class_prefix", &o.objc_class_prefix),
            ("php_namespace", &o.php_namespace),
            ("ruby_package", &o.ruby_package),
            ("swift_prefix", &o.swift_prefix),
        ];
        for (name, value) in strings {
            if let Some(v) = value {
                let _ = writeln!(out, "option {name} = \"{}\";", escape(v));
            }
        }
        if let Some(v) = o.java_multiple_files {
            let _ = writeln!(out, "option java_multiple_files = {v};");
        }
    }
    for m in &file.message_type {
        message(&mut out, m, proto3, 0);
    }
    for e in &file.enum_type {
        enumeration(&mut out, e, 0);
    }
    for s in &file.service {
        service(&mut out, s);
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn message(out: &mut String, m: &DescriptorProto, proto3: bool, depth: usize) {
    indent(out, depth);
    let _ = writeln!(out, "message {} {{", m.name());
    let inner = depth + 1;
    for nested in &m.nested_type {
        let is_map_entry = nested.options.as_ref().and_then(|o| o.map_entry) == Some(true);
        if !is_map_entry {
            message(out, nested, proto3, inner);
        }
    }
    for e in &m.enum_type {
        enumeration(out, e, inner);
    }
    // Fields in declaration order; members of a real oneof are printed inside it, at the place of
    // its first member. Proto3 `optional` fields sit in synthetic oneofs, which are not printed.
    let mut printed_oneofs = Vec::new();
    for f in &m.field {
        let real_oneof = f.oneof_index.filter(|_| !f.proto3_optional());
        match real_oneof {
            Some(idx) => {
                if printed_oneofs.contains(&idx) {
                    continue;
                }
                printed_oneofs.push(idx);
                let name = usize::try_from(idx)
                    .ok()
                    .and_then(|i| m.oneof_decl.get(i))
                    .map_or("oneof", |o| o.name());
                indent(out, inner);
                let _ = writeln!(out, "oneof {name} {{");
                for member in m
                    .field
                    .iter()
                    .filter(|g| g.oneof_index == Some(idx) && !g.proto3_optional())
                {
                    field(out, m, member, proto3, inner + 1, true);
                }
                indent(out, inner);
                out.push_str("}\n");
            }
            None => field(out, m, f, proto3, inner, false),
        }
    }
    for r in &m.reserved_range {
        indent(out, inner);
        // Descriptor ranges are end-exclusive.
        let (start, end) = (r.start(), r.end().saturating_sub(1));
        if start == end {
            let _ = writeln!(out, "reserved {start};");
        } else {
            let _ = writeln!(out, "reserved {start} to {end};");
        }
    }
    for n in &m.reserved_name {
        indent(out, inner);
        let _ = writeln!(out, "reserved \"{}\";", escape(n));
    }
    indent(out, depth);
    out.push_str("}\n");
}

fn type_name(f: &FieldDescriptorProto) -> String {
    contracts_model::protobuf::scalar_type_name(f.r#type())
        .map_or_else(|| f.type_name().to_string(), str::to_string)
}

/// The map entry a repeated message field points at, if it is one of `m`'s map entries.
fn map_entry<'a>(m: &'a DescriptorProto, f: &FieldDescriptorProto) -> Option<&'a DescriptorProto> {
    if f.label() != Label::Repeated || f.r#type() != Type::Message {
        return None;
    }
    let local = f.type_name().rsplit('.').next()?;
    m.nested_type
        .iter()
        .find(|n| n.name() == local && n.options.as_ref().and_then(|o| o.map_entry) == Some(true))
}

fn field(
    out: &mut String,
    m: &DescriptorProto,
    f: &FieldDescriptorProto,
    proto3: bool,
    depth: usize,
    in_oneof: bool,
) {
    indent(out, depth);
    if let Some(entry) = map_entry(m, f) {
        let key = entry.field.iter().find(|x| x.number() == 1);
        let value = entry.field.iter().find(|x| x.number() == 2);
        if let (Some(k), Some(v)) = (key, value) {
            let _ = writeln!(
                out,
                "map<{}, {}> {} = {};",
                type_name(k),
                type_name(v),
                f.name(),
                f.number()
            );
            return;
        }
    }
    let label = match f.label() {
        _ if in_oneof => "",
        Label::Repeated => "repeated ",
        Label::Required => "required ",
        Label::Optional if f.proto3_optional() => "optional ",
        Label::Optional if !proto3 => "optional ",
        Label::Optional => "",
    };
    let mut opts = Vec::new();
    if let Some(d) = &f.default_value {
        let v = match f.r#type() {
            Type::String | Type::Bytes => format!("\"{}\"", escape(d)),
            _ => d.clone(),
        };
        opts.push(format!("default = {v}"));
    }
    if let Some(p) = f.options.as_ref().and_then(|o| o.packed) {
        opts.push(format!("packed = {p}"));
    }
    if f.options.as_ref().and_then(|o| o.deprecated) == Some(true) {
        opts.push("deprecated = true".to_string());
    }
    let opts = if opts.is_empty() {
        String::new()
    } else {
        format!(" [{}]", opts.join(", "))
    };
    let _ = writeln!(
        out,
        "{label}{} {} = {}{opts};",
        type_name(f),
        f.name(),
        f.number()
    );
}

fn enumeration(out: &mut String, e: &EnumDescriptorProto, depth: usize) {
    indent(out, depth);
    let _ = writeln!(out, "enum {} {{", e.name());
    if e.options.as_ref().and_then(|o| o.allow_alias) == Some(true) {
        indent(out, depth + 1);
        out.push_str("option allow_alias = true;\n");
    }
    for v in &e.value {
        indent(out, depth + 1);
        let _ = writeln!(out, "{} = {};", v.name(), v.number());
    }
    for r in &e.reserved_range {
        indent(out, depth + 1);
        // Enum reserved ranges are end-inclusive.
        if r.start() == r.end() {
            let _ = writeln!(out, "reserved {};", r.start());
        } else {
            let _ = writeln!(out, "reserved {} to {};", r.start(), r.end());
        }
    }
    for n in &e.reserved_name {
        indent(out, depth + 1);
        let _ = writeln!(out, "reserved \"{}\";", escape(n));
    }
    indent(out, depth);
    out.push_str("}\n");
}

fn service(out: &mut String, s: &ServiceDescriptorProto) {
    let _ = writeln!(out, "service {} {{", s.name());
    for m in &s.method {
        let stream = |b: bool| if b { "stream " } else { "" };
        let _ = writeln!(
            out,
            "  rpc {}({}{}) returns ({}{});",
            m.name(),
            stream(m.client_streaming()),
            m.input_type(),
            stream(m.server_streaming()),
            m.output_type()
        );
    }
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use contracts_model::protobuf::ProtoSchema;

    use super::*;

    fn round_trip(text: &str) -> (FileDescriptorProto, FileDescriptorProto) {
        let files = [("a.proto".to_string(), text.to_string())].into();
        let first = ProtoSchema::parse_files(files, "a.proto").unwrap();
        let printed = print(first.entry());
        let files = [("a.proto".to_string(), printed.clone())].into();
        let second = ProtoSchema::parse_files(files, "a.proto")
            .unwrap_or_else(|d| panic!("{}\n{printed}", d.render()));
        let strip = |f: &FileDescriptorProto| FileDescriptorProto {
            source_code_info: None,
            ..f.clone()
        };
        (strip(first.entry()), strip(second.entry()))
    }

    #[test]
    fn printed_text_compiles_to_the_same_descriptor() {
        let (a, b) = round_trip(
            r#"syntax = "proto3";
package shop.orders.v1;
option java_package = "com.shop";
message Order {
  message Line { string sku = 1; int32 qty = 2; }
  enum Status { STATUS_UNSPECIFIED = 0; PLACED = 1; reserved 5 to 7; reserved "OLD"; }
  string id = 1;
  repeated Line lines = 2;
  map<string, int64> totals = 3;
  optional string note = 4;
  oneof payment { string card = 5; string iban = 6; }
  Status status = 7;
  reserved 9, 10 to 12;
  reserved "legacy";
}
service Orders { rpc Get(Order) returns (stream Order); }
"#,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn proto2_labels_and_defaults_survive() {
        let (a, b) = round_trip(
            "syntax = \"proto2\";\nmessage A { required int32 x = 1 [default = 3]; optional string s = 2 [default = \"q\\\"\"]; repeated int32 r = 3 [packed = true]; }\n",
        );
        assert_eq!(a, b);
    }
}
