//! Reading a Kafka client properties file (`client.properties`): the `java.util.Properties`
//! format that Kafka's Java clients and command-line tools read, parsed by the
//! `java-properties` crate.
//!
//! `key=value`, `key: value` or `key value` per line; `#` and `!` start comment lines; a line
//! ending in a backslash continues on the next; `\t`, `\n`, `\uXXXX` and `\=` escapes. The file is
//! read as UTF-8 (Java reads ISO-8859-1, which agrees for ASCII, the usual content), and must be
//! at most [`MAX_FILE_BYTES`].

use std::io::Read as _;
use std::path::Path;

use super::ConfigError;

/// The largest properties file read: a client configuration is a few hundred bytes; anything
/// this big is the wrong file.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// One `key=value` of a file, with the line it starts on.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// Without the value, which may be a secret.
impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.key)
    }
}

/// The entries of the file at `path`, in file order (a later duplicate wins when applied).
pub(super) fn read_file(path: &Path) -> Result<Vec<Entry>, ConfigError> {
    let io = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigError::Properties {
            path: path.to_owned(),
            line: None,
            message: format!(
                "larger than {} KiB: is this a Kafka client properties file?",
                MAX_FILE_BYTES >> 10
            ),
        });
    }
    parse(&bytes).map_err(|(line, message)| ConfigError::Properties {
        path: path.to_owned(),
        line,
        message,
    })
}

/// Parses the bytes of a properties file; an error carries the line (from 1) when known.
pub(super) fn parse(bytes: &[u8]) -> Result<Vec<Entry>, (Option<usize>, String)> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = line_of(bytes, e.valid_up_to());
        (
            Some(line),
            "not UTF-8 text (write non-ASCII characters as UTF-8 or as \\uXXXX)".to_owned(),
        )
    })?;
    // Without a final line break, the crate drops a last line that ends in a continuation
    // backslash; Java keeps it.
    let text = if text.ends_with(['\n', '\r']) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(format!("{text}\n"))
    };
    let mut entries = Vec::new();
    for line in
        java_properties::PropertiesIter::new_with_encoding(text.as_bytes(), encoding_rs::UTF_8)
    {
        let line = line.map_err(|e| (e.line_number(), describe(&e)))?;
        let number = line.line_number();
        let java_properties::LineContent::KVPair(key, value) = line.consume_content() else {
            continue;
        };
        if key.is_empty() {
            return Err((
                Some(number),
                "a value without a key (expected key=value)".to_owned(),
            ));
        }
        if let Some(c) = key.chars().find(|c| c.is_control()) {
            return Err((
                Some(number),
                format!("the key contains the control character {:?}", c),
            ));
        }
        if value.chars().any(char::is_control) {
            // The value is not quoted: it may be a secret.
            return Err((
                Some(number),
                format!(
                    "the value of {key} contains a control character (a stray backslash at the end of the file, or a \\n, \\t or \\u escape)"
                ),
            ));
        }
        entries.push(Entry {
            line: number,
            key,
            value,
        });
    }
    Ok(entries)
}

/// The crate's message without its own "(line_number = N)" suffix, which the caller prints as
/// `file:N`.
fn describe(e: &java_properties::PropertiesError) -> String {
    let text = e.to_string();
    match text.rfind(" (line_number = ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The line (from 1) holding byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(usize, String, String)> {
        parse(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|e| (e.line, e.key, e.value))
            .collect()
    }

    fn error(text: &[u8]) -> (Option<usize>, String) {
        match parse(text) {
            Ok(entries) => panic!(
                "expected an error, got {:?}",
                entries.iter().map(|e| &e.key).collect::<Vec<_>>()
            ),
            Err(e) => e,
        }
    }

    #[test]
    fn the_java_client_properties_syntax_is_read_with_the_line_of_each_setting() {
        let text = "# Confluent Cloud\n\
                    ! also a comment\n\
                    bootstrap.servers=pkc-1.example.com:9092\n\
                    security.protocol : SASL_SSL\n\
                    sasl.mechanism PLAIN\n\
                    \n\
                    sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \\\n\
                    \x20   required username='key' password='s=cr:t';\n\
                    ssl.ca.location=/etc/ssl/kafka\\u0020ca.pem\n\
                    client.id=a\\=b\\:c\n";
        assert_eq!(
            pairs(text),
            [
                (3, "bootstrap.servers", "pkc-1.example.com:9092"),
                (4, "security.protocol", "SASL_SSL"),
                (5, "sasl.mechanism", "PLAIN"),
                (
                    7,
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.plain.PlainLoginModule required username='key' password='s=cr:t';"
                ),
                (9, "ssl.ca.location", "/etc/ssl/kafka ca.pem"),
                (10, "client.id", "a=b:c"),
            ]
            .map(|(l, k, v)| (l, k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn windows_line_endings_and_a_missing_final_newline_are_fine() {
        assert_eq!(
            pairs("a=1\r\nb=2"),
            [(1, "a".into(), "1".into()), (2, "b".into(), "2".into())]
        );
        assert_eq!(
            pairs("a=1\nb=continued\\"),
            [
                (1, "a".into(), "1".into()),
                (2, "b".into(), "continued".into())
            ],
            "a last line ending in a backslash is kept, as Java keeps it"
        );
    }

    #[test]
    fn a_bad_escape_is_reported_with_its_line() {
        let (line, message) = error(b"a=1\nb=\\u12zz\n");
        assert_eq!(line, Some(2));
        assert!(message.contains("\\uxxxx"), "{message}");
    }

    #[test]
    fn a_value_without_a_key_is_reported_with_its_line() {
        assert_eq!(
            error(b"a=1\n\n=orphan\n"),
            (
                Some(3),
                "a value without a key (expected key=value)".to_owned()
            )
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_reported_with_their_line() {
        let (line, message) = error(b"a=1\nb=2\nsasl.password=caf\xe9\n");
        assert_eq!(line, Some(3));
        assert!(message.starts_with("not UTF-8"), "{message}");
    }

    #[test]
    fn control_characters_are_refused_without_echoing_the_value() {
        let (line, message) = error(b"a=1\nsasl.password=p\\u0000w\n");
        assert_eq!(line, Some(2));
        assert!(message.contains("sasl.password"), "{message}");
        assert!(!message.contains("p\u{0}w"), "{message}");
        let (line, message) = error(b"x\\u0007y=1\n");
        assert_eq!(line, Some(1));
        assert!(message.contains("control character"), "{message}");
    }

    #[test]
    fn hostile_input_ends_in_bounded_time_with_an_answer() {
        // 2,000 lines continued into one, full of backslashes and separators: one entry.
        let mut text = String::new();
        for _ in 0..2_000 {
            text.push_str("k=\\\\\\\\\\\\\\\\:=:=:=\\\n");
        }
        text.push_str("end\n");
        let entries = parse(text.as_bytes()).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].line, entries[0].key.as_str()), (1, "k"));
        let many_keys = "key.with.no.value\n".repeat(20_000);
        assert_eq!(parse(many_keys.as_bytes()).unwrap().len(), 20_000);
    }

    #[test]
    fn a_file_over_the_size_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.properties");
        std::fs::write(&path, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let err = read_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("big.properties") && err.contains("larger than 1024 KiB"),
            "{err}"
        );
        let err = read_file(&dir.path().join("missing.properties"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.properties"), "{err}");
    }
}
