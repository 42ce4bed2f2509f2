//! Rust identifiers for schema names, spelled as prost-build spells them.

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

/// A field, method or module name: `snake_case`.
pub(crate) fn value_ident(name: &str) -> String {
    escape(name.to_snake_case())
}

/// A module name for a topic or service (`order-created-pb` → `order_created_pb`).
pub(crate) fn module_ident(name: &str) -> String {
    value_ident(name)
}

/// A string literal holding `text` exactly, raw when that reads better.
pub(crate) fn str_lit(text: &str) -> String {
    if text.contains('\n') || text.contains('"') || text.contains('\\') {
        let mut hashes = 1;
        while text.contains(&format!("\"{}", "#".repeat(hashes))) {
            hashes += 1;
        }
        let h = "#".repeat(hashes);
        format!("r{h}\"{text}\"{h}")
    } else {
        format!("{text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_become_snake_case_modules() {
        assert_eq!(module_ident("order-created-pb"), "order_created_pb");
        assert_eq!(module_ident("orders"), "orders");
        assert_eq!(value_ident("type"), "r#type");
        assert_eq!(type_ident("self"), "Self_");
    }

    #[test]
    fn string_literals_keep_the_text_exactly() {
        assert_eq!(str_lit("a"), "\"a\"");
        assert_eq!(str_lit("{\"x\": 1}\n"), "r#\"{\"x\": 1}\n\"#");
        assert_eq!(str_lit("\"# end"), "r##\"\"# end\"##");
    }
}
