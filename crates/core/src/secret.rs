//! Secrets (passwords, tokens, credentials in URLs): read from the environment or a file, never
//! printed.
//!
//! Every secret a process loads goes through [`Secret`], which remembers its value so that
//! [`redact`] can mask it in any text: log lines (through [`RedactingWriter`]), error messages and
//! settings echoed back to the user. [`redact`] also masks the password of any URL in the text, so
//! a secret that never passed through [`Secret`] (a `-X` setting, a URL given as a flag) is still
//! not printed.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// What a redacted value is printed as.
pub const MASK: &str = "***";

/// A secret value. `Debug` and `Display` print [`MASK`]; [`Secret::expose`] gives the value to
/// the code that must send it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps `value` and registers it for [`redact`].
    pub fn new(value: impl Into<String>) -> Secret {
        let value: Arc<str> = Arc::from(value.into());
        register(&value);
        Secret(value)
    }

    /// The value, for the code that sends it (an `Authorization` header, a client setting).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Why a secret could not be read. Never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read {what} from {}: {source}", path.display())]
    File {
        what: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{what} in {} is empty", path.display())]
    EmptyFile { what: String, path: PathBuf },
    #[error("{what} is given twice: as a value and as a file ({}); give one", path.display())]
    Both { what: String, path: PathBuf },
}

/// Reads a secret from a file (a mounted Kubernetes or Docker secret): the whole file, without
/// a trailing line break.
pub fn from_file(path: &Path, what: &str) -> Result<Secret, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
        what: what.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    let value = text.strip_suffix('\n').unwrap_or(&text);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if value.is_empty() {
        return Err(SecretError::EmptyFile {
            what: what.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(Secret::new(value))
}

/// A secret given either as a value (an environment variable) or as a file holding it; at most
/// one of the two. `what` names it in errors, such as `"the registry password"`.
pub fn resolve(
    value: Option<&str>,
    file: Option<&Path>,
    what: &str,
) -> Result<Option<Secret>, SecretError> {
    match (value, file) {
        (Some(_), Some(path)) => Err(SecretError::Both {
            what: what.to_owned(),
            path: path.to_owned(),
        }),
        (Some(value), None) => Ok(Some(Secret::new(value))),
        (None, Some(path)) => from_file(path, what).map(Some),
        (None, None) => Ok(None),
    }
}

/// The secret in the environment variable `name`, or in the file that `name_FILE` names.
pub fn from_env(name: &str) -> Result<Option<Secret>, SecretError> {
    from_lookup(name, |var| std::env::var(var).ok())
}

/// [`from_env`] with the environment given as a lookup (tests, or settings gathered elsewhere).
/// Empty values count as unset.
pub fn from_lookup(
    name: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, SecretError> {
    let value = lookup(name).filter(|v| !v.is_empty());
    let file = lookup(&format!("{name}_FILE"))
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    resolve(value.as_deref(), file.as_deref(), name)
}

static KNOWN: RwLock<Vec<Arc<str>>> = RwLock::new(Vec::new());

/// Shorter secrets are not masked in free text: masking every "s" would garble every line
/// while hiding nothing (a [`Secret`] still prints as [`MASK`]).
const MIN_REDACTED_LEN: usize = 4;

/// Remembers `value` as a secret, so that [`redact`] masks it from now on. Values shorter than
/// four characters are not masked in free text.
pub fn register(value: &str) {
    if value.chars().count() < MIN_REDACTED_LEN {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| &**k == value) {
        known.push(Arc::from(value));
        // Longest first, so that a secret containing another is masked whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// Registers the password of `url` (as written and percent-decoded) with [`register`], so that
/// no log line or error prints it; a text that is not a URL, or has no password, registers
/// nothing.
pub fn register_url_password(url: &str) {
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(password) = parsed.password()
    {
        register(password);
        if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
            register(&decoded);
        }
    }
}

/// Whether a client setting (librdkafka's or a Kafka properties file's) holds a secret:
/// `sasl.password`, `ssl.key.password`, `sasl.oauthbearer.client.secret`, `sasl.jaas.config`,
/// and anything else whose name says password, passphrase, secret, token or credentials, except
/// settings that name where a secret is or who uses it (`sasl.oauthbearer.token.endpoint.url`,
/// `sasl.oauthbearer.client.credentials.client.id`, `*.location`, `*.file`): those are printed,
/// a password in a URL still masked by [`redact`].
pub fn is_secret_setting(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let names_a_place_or_an_id = [".url", ".location", ".file", ".id"]
        .iter()
        .any(|suffix| key.ends_with(suffix));
    !names_a_place_or_an_id
        && [
            "password",
            "passphrase",
            "secret",
            "token",
            "credential",
            "jaas.config",
            "key.pem",
        ]
        .iter()
        .any(|word| key.contains(word))
}

/// The value of a client setting as it may be printed.
pub fn redact_setting<'a>(key: &str, value: &'a str) -> Cow<'a, str> {
    if is_secret_setting(key) {
        Cow::Borrowed(MASK)
    } else {
        redact(value)
    }
}

/// `url` with its password masked, parsed as a URL; text that is not a URL is returned with
/// [`redact`] applied.
pub fn redact_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some(MASK));
            redact(url.as_str()).into_owned()
        }
        _ => redact(text).into_owned(),
    }
}

/// `text` with every registered secret, and the password of every URL in it, replaced by
/// [`MASK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
        for secret in known.iter() {
            if out.contains(&**secret) {
                out = Cow::Owned(out.replace(&**secret, MASK));
            }
        }
    }
    match mask_url_passwords(&out) {
        Some(masked) => Cow::Owned(masked),
        None => out,
    }
}

/// Masks `user:password@` in every `scheme://` authority. The password ends at the last `@` of
/// the authority: user names may contain `@` (`smtp://me@example.com:pw@mail.example.com`).
fn mask_url_passwords(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let authority_start = at + 3;
        let tail = &rest[authority_start..];
        let authority_len = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '\'' | '>'))
            .unwrap_or(tail.len());
        let authority = &tail[..authority_len];
        out.push_str(&rest[..authority_start]);
        match authority.rfind('@') {
            Some(last_at) => {
                let userinfo = &authority[..last_at];
                match userinfo.find(':') {
                    Some(colon) if &userinfo[colon + 1..] != MASK => {
                        out.push_str(&userinfo[..colon + 1]);
                        out.push_str(MASK);
                        changed = true;
                    }
                    _ => out.push_str(userinfo),
                }
                out.push_str(&authority[last_at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_len..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// An [`io::Write`] that passes everything through [`redact`]: give it to the log subscriber
/// (`tracing_subscriber::fmt().with_writer(|| RedactingWriter::new(std::io::stderr()))`) so that
/// no log line prints a secret.
#[derive(Debug)]
pub struct RedactingWriter<W: io::Write> {
    inner: W,
}

impl<W: io::Write> RedactingWriter<W> {
    pub fn new(inner: W) -> Self {
        RedactingWriter { inner }
    }
}

impl<W: io::Write> io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A log event arrives as one write of whole lines, so a secret is never split.
        let text = String::from_utf8_lossy(buf);
        self.inner.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_secret_prints_as_the_mask_in_debug_and_display() {
        let secret = Secret::new("s3cr3t-debug");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        assert_eq!(secret.expose(), "s3cr3t-debug");
    }

    #[test]
    fn a_url_password_is_masked_as_written_and_percent_decoded() {
        register_url_password("postgres://shop:db-pa55%2Fword@db:5432/orders");
        assert_eq!(
            redact("auth failed: db-pa55/word, db-pa55%2Fword"),
            "auth failed: ***, ***"
        );
        register_url_password("not a url");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn a_loaded_secret_is_masked_in_any_text() {
        let _ = Secret::new("hunter2-registered");
        assert_eq!(
            redact("login failed for bob with hunter2-registered"),
            "login failed for bob with ***"
        );
    }

    #[test]
    fn url_passwords_are_masked_even_when_the_user_name_has_an_at_sign() {
        assert_eq!(
            redact("mail via smtp://me@example.com:pa55@mail.example.com:587?tls=required"),
            "mail via smtp://me@example.com:***@mail.example.com:587?tls=required"
        );
        assert_eq!(
            redact_url("https://alice:pw%40x@registry:8081/subjects"),
            "https://alice:***@registry:8081/subjects"
        );
        assert_eq!(
            redact("http://registry:8081 and http://user@host"),
            "http://registry:8081 and http://user@host"
        );
    }

    #[test]
    fn a_tiny_secret_does_not_garble_every_line() {
        let _ = Secret::new("s");
        assert_eq!(redact("sasl.mechanism"), "sasl.mechanism");
    }

    #[test]
    fn secret_settings_are_masked_by_name() {
        assert_eq!(redact_setting("sasl.password", "x"), MASK);
        assert_eq!(redact_setting("sasl.oauthbearer.client.secret", "x"), MASK);
        assert_eq!(redact_setting("ssl.key.password", "x"), MASK);
        assert_eq!(redact_setting("linger.ms", "5"), "5");
        assert_eq!(
            redact_setting("sasl.oauthbearer.client.credentials.client.secret", "x"),
            MASK
        );
        assert_eq!(
            redact_setting("sasl.oauthbearer.assertion.private.key.passphrase", "x"),
            MASK
        );
        assert_eq!(redact_setting("ssl.keystore.password", "x"), MASK);
    }

    #[test]
    fn settings_naming_where_a_secret_is_or_whose_it_is_are_printed() {
        for (key, value) in [
            (
                "sasl.oauthbearer.token.endpoint.url",
                "https://login.example.com/oauth2/token",
            ),
            ("sasl.oauthbearer.client.credentials.client.id", "shop"),
            ("sasl.oauthbearer.client.id", "shop"),
            ("ssl.key.location", "/etc/kafka/client.key"),
            (
                "sasl.oauthbearer.assertion.private.key.file",
                "/run/key.pem",
            ),
        ] {
            assert!(!is_secret_setting(key), "{key}");
            assert_eq!(redact_setting(key, value), value);
        }
        assert_eq!(
            redact_setting(
                "sasl.oauthbearer.token.endpoint.url",
                "https://shop:url-pw-1@login.example.com/token"
            ),
            "https://shop:***@login.example.com/token"
        );
    }

    #[test]
    fn a_secret_file_is_read_without_its_line_break_and_never_echoed() {
        let dir = std::env::temp_dir().join(format!("secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("password");
        std::fs::write(&path, "from-a-file-7\n").unwrap();
        let secret = resolve(None, Some(&path), "the password").unwrap().unwrap();
        assert_eq!(secret.expose(), "from-a-file-7");
        std::fs::write(&path, "\n").unwrap();
        let err = resolve(None, Some(&path), "the password").unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
        let err = resolve(Some("x"), Some(&path), "the password").unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_log_writer_masks_secrets_in_what_it_writes() {
        let _ = Secret::new("writer-secret-42");
        let mut out = Vec::new();
        writeln!(
            RedactingWriter::new(&mut out),
            "connecting with writer-secret-42 to https://u:p@host"
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "connecting with *** to https://u:***@host\n"
        );
    }
}
