//! Avro's Parsing Canonical Form and the CRC-64-AVRO fingerprint.

use std::collections::HashSet;

use super::{AvroSchema, Kind, NodeId};
use crate::json::write_json_string;

pub(super) fn canonical_form(schema: &AvroSchema) -> String {
    let mut out = String::new();
    let mut seen = HashSet::new();
    write(schema, schema.root(), &mut seen, &mut out);
    out
}

fn quoted(out: &mut String, s: &str) {
    // Writing into a String cannot fail.
    let _ = write_json_string(out, s);
}

fn write(schema: &AvroSchema, id: NodeId, seen: &mut HashSet<NodeId>, out: &mut String) {
    let kind = &schema.node(id).kind;
    if let Some(named) = kind.named() {
        let full = named.name.full();
        if !seen.insert(id) {
            quoted(out, &full);
            return;
        }
        out.push_str("{\"name\":");
        quoted(out, &full);
        out.push_str(",\"type\":");
        match kind {
            Kind::Record(r) => {
                out.push_str("\"record\",\"fields\":[");
                for (i, f) in r.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"name\":");
                    quoted(out, &f.name);
                    out.push_str(",\"type\":");
                    write(schema, f.ty.node, seen, out);
                    out.push('}');
                }
                out.push_str("]}");
            }
            Kind::Enum(e) => {
                out.push_str("\"enum\",\"symbols\":[");
                for (i, s) in e.symbols.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quoted(out, s);
                }
                out.push_str("]}");
            }
            Kind::Fixed(f) => {
                out.push_str(&format!("\"fixed\",\"size\":{}}}", f.size));
            }
            _ => unreachable!("only records, enums and fixed types are named"),
        }
        return;
    }
    match kind {
        Kind::Array(c) => {
            out.push_str("{\"type\":\"array\",\"items\":");
            write(schema, c.node, seen, out);
            out.push('}');
        }
        Kind::Map(c) => {
            out.push_str("{\"type\":\"map\",\"values\":");
            write(schema, c.node, seen, out);
            out.push('}');
        }
        Kind::Union(bs) => {
            out.push('[');
            for (i, c) in bs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(schema, c.node, seen, out);
            }
            out.push(']');
        }
        k => {
            out.push('"');
            out.push_str(k.ty().avro_name());
            out.push('"');
        }
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
