//! Rust spellings of schema names (the generator's, shared with Protobuf) and doc comments.

pub(crate) use crate::names::{type_ident, value_ident};

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
