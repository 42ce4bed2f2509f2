//! Avro's Parsing Canonical Form and its fingerprints: the one writer of the form, used for
//! writer schemas at run time and (through lowering) for the schema model at build time, so
//! that a fingerprint generated code embeds equals the one the runtime computes.

use std::fmt::{self, Write as _};

use sha2::Digest as _;

use super::schema::{Node, NodeId, Schema};

/// The canonical form and fingerprints of a schema live beside the writer of that form.
impl Schema {
    /// Avro's Parsing Canonical Form.
    pub fn canonical_form(&self) -> String {
        canonical_form(self)
    }

    /// SHA-256 of the Parsing Canonical Form: `SchemaInfo::fingerprint` of generated events.
    pub fn fingerprint(&self) -> [u8; 32] {
        sha2::Sha256::digest(self.canonical_form().as_bytes()).into()
    }

    /// CRC-64-AVRO (Rabin) of the Parsing Canonical Form, as single-object encoding uses it.
    pub fn rabin_fingerprint(&self) -> u64 {
        rabin_fingerprint(self.canonical_form().as_bytes())
    }
}

/// The Parsing Canonical Form of `schema`.
pub(super) fn canonical_form(schema: &Schema) -> String {
    let mut out = String::new();
    let mut seen = vec![false; schema.len()];
    write(schema, schema.root(), &mut seen, &mut out);
    out
}

/// Writes `s` as a JSON string literal: the escaping of the canonical form, also used for
/// any other JSON the project writes by hand.
pub fn write_json_string(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            '\u{08}' => out.write_str("\\b")?,
            '\u{0c}' => out.write_str("\\f")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

fn quoted(out: &mut String, s: &str) {
    // Writing into a String cannot fail.
    let _ = write_json_string(out, s);
}

fn write(schema: &Schema, id: NodeId, seen: &mut [bool], out: &mut String) {
    let node = schema.node(id);
    if let Some(name) = node.name() {
        if std::mem::replace(&mut seen[id], true) {
            quoted(out, name);
            return;
        }
        out.push_str("{\"name\":");
        quoted(out, name);
        out.push_str(",\"type\":");
        match node {
            Node::Record(r) => {
                out.push_str("\"record\",\"fields\":[");
                for (i, f) in r.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"name\":");
                    quoted(out, &f.name);
                    out.push_str(",\"type\":");
                    write(schema, f.ty, seen, out);
                    out.push('}');
                }
                out.push_str("]}");
            }
            Node::Enum(e) => {
                out.push_str("\"enum\",\"symbols\":[");
                for (i, s) in e.symbols.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quoted(out, s);
                }
                out.push_str("]}");
            }
            Node::Fixed(f) => {
                let _ = write!(out, "\"fixed\",\"size\":{}}}", f.size);
            }
            _ => unreachable!("only records, enums and fixed types are named"),
        }
        return;
    }
    match node {
        Node::Array(items) => {
            out.push_str("{\"type\":\"array\",\"items\":");
            write(schema, *items, seen, out);
            out.push('}');
        }
        Node::Map(values) => {
            out.push_str("{\"type\":\"map\",\"values\":");
            write(schema, *values, seen, out);
            out.push('}');
        }
        Node::Union(branches) => {
            out.push('[');
            for (i, b) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(schema, *b, seen, out);
            }
            out.push(']');
        }
        prim => quoted(out, prim.type_name()),
    }
}

const EMPTY: u64 = 0xc15d_213a_a4d7_a795;

const fn table() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut fp = i as u64;
        let mut j = 0;
        while j < 8 {
            fp = (fp >> 1) ^ (EMPTY & (0u64.wrapping_sub(fp & 1)));
            j += 1;
        }
        t[i] = fp;
        i += 1;
    }
    t
}

static TABLE: [u64; 256] = table();

/// CRC-64-AVRO, the 64-bit Rabin fingerprint of the Avro specification.
pub fn rabin_fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(EMPTY, |fp, &b| {
        (fp >> 8) ^ TABLE[((fp ^ u64::from(b)) & 0xff) as usize]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rabin_fingerprint_matches_known_values() {
        // Values from the Avro specification's test data (schema-tests.txt).
        assert_eq!(rabin_fingerprint(b"\"null\"") as i64, 7195948357588979594);
        assert_eq!(rabin_fingerprint(b"\"int\"") as i64, 8247732601305521295);
        assert_eq!(
            rabin_fingerprint(b"\"string\"") as i64,
            -8142146995180207161
        );
    }

    #[test]
    fn json_strings_escape_quotes_and_control_characters() {
        let mut out = String::new();
        write_json_string(&mut out, "a\"b\\c\n\u{1}").unwrap();
        assert_eq!(out, r#""a\"b\\c\n\u0001""#);
    }
}
