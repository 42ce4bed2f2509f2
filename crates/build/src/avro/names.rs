//! Rust spellings of schema names (as prost-build spells them) and doc comments.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// Words that cannot be raw identifiers (`r#self` is not allowed).
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

fn escape(word: String) -> String {
    if NOT_RAW.contains(&word.as_str()) {
        format!("{word}_")
    } else if KEYWORDS.contains(&word.as_str()) {
        format!("r#{word}")
    } else {
        word
    }
}

/// A type or variant name: `UpperCamelCase`.
pub(crate) fn type_ident(name: &str) -> String {
    escape(name.to_upper_camel_case())
}

/// A field or function name: `snake_case`.
pub(crate) fn value_ident(name: &str) -> String {
    escape(name.to_snake_case())
}

/// `///` lines for a schema `doc`, indented.
pub(crate) fn doc_comment(doc: Option<&str>, indent: &str) -> String {
    let Some(doc) = doc else {
        return String::new();
    };
    doc.lines()
        .map(|l| {
            let l = l.trim_end();
            if l.is_empty() {
                format!("{indent}///\n")
            } else {
                format!("{indent}/// {l}\n")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_escaped() {
        assert_eq!(value_ident("type"), "r#type");
        assert_eq!(value_ident("self"), "self_");
        assert_eq!(value_ident("orderId"), "order_id");
        assert_eq!(type_ident("EUR"), "Eur");
        assert_eq!(type_ident("line_item"), "LineItem");
    }
}
