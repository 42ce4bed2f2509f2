//! Where messages go: an SMTP server when configured, otherwise a mailbox directory.

use std::future::Future;
use std::path::{Path, PathBuf};

use contracts_core::secret::{self, Secret};

use crate::domain::Mail;

/// Why a message could not be handed over.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    #[error("mailbox {path}: {source}")]
    Mailbox {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("message {id}: {reason}")]
    Build { id: String, reason: String },
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

/// Hands a message to its recipient. Delivering the same [`Mail::id`] twice should deliver it
/// once where the transport can tell (the mailbox can; SMTP leaves it to the receiver's
/// Message-ID handling).
pub trait Transport: Send + Sync {
    fn deliver(&self, mail: &Mail) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// For logs: where messages go.
    fn describe(&self) -> String;
}

/// One file per message under `<dir>/<recipient>/<mail id>.eml`.
///
/// Writes go to a temporary file renamed into place, so a reader never sees half a message and
/// a crash between writing and recording the delivery rewrites the same file: exactly one copy.
#[derive(Debug, Clone)]
pub struct Mailbox {
    dir: PathBuf,
}

impl Mailbox {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Mailbox { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder of one recipient (the address, with characters unsafe in file names replaced).
    pub fn folder(&self, recipient: &str) -> PathBuf {
        self.dir.join(safe_name(recipient))
    }

    fn write(&self, mail: &Mail) -> std::io::Result<()> {
        let folder = self.folder(&mail.to);
        std::fs::create_dir_all(&folder)?;
        let name = safe_name(&mail.id);
        let tmp = folder.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, render(mail))?;
        std::fs::rename(&tmp, folder.join(format!("{name}.eml")))
    }
}

fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned()
}

/// The message as an RFC 5322 text.
pub fn render(mail: &Mail) -> String {
    format!(
        "Message-ID: <{}@shop.local>\r\nFrom: The Shop <shop@shop.local>\r\nTo: {}\r\nSubject: {}\r\nX-Order-Id: {}\r\nX-Notification: {}\r\n\r\n{}",
        mail.id,
        mail.to,
        mail.subject,
        mail.order_id,
        mail.kind,
        mail.body.replace('\n', "\r\n")
    )
}

impl Transport for Mailbox {
    async fn deliver(&self, mail: &Mail) -> Result<(), TransportError> {
        let this = self.clone();
        let mail = mail.clone();
        let folder = this.folder(&mail.to);
        tokio::task::spawn_blocking(move || this.write(&mail))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r)
            .map_err(|source| TransportError::Mailbox {
                path: folder,
                source,
            })
    }

    fn describe(&self) -> String {
        format!("mailbox directory {}", self.dir.display())
    }
}

/// Sends through an SMTP server with lettre.
#[derive(Clone)]
pub struct Smtp {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
    /// The URL with its password masked.
    url: String,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // lettre's transport would print its credentials.
        f.debug_struct("Smtp")
            .field("url", &self.url)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Smtp {
    /// `url` as lettre reads it: `smtp://user:pass@host:587?tls=required`, `smtps://host`,
    /// or `smtp://localhost:2525` for a plain local relay. The URL's password is registered as a
    /// secret (as written and percent-decoded), so no log line or error prints it.
    pub fn new(url: &Secret, from: &str) -> Result<Self, TransportError> {
        secret::register_url_password(url.expose());
        let transport =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url.expose())?.build();
        let from = from.parse().map_err(|e| TransportError::Build {
            id: "--mail-from".into(),
            reason: format!("{from:?} is not an address: {e}"),
        })?;
        Ok(Smtp {
            transport,
            from,
            // Parsed with a URL library: a user name may contain `@`.
            url: secret::redact_url(url.expose()),
        })
    }
}

impl Transport for Smtp {
    async fn deliver(&self, mail: &Mail) -> Result<(), TransportError> {
        use lettre::AsyncTransport;
        let build = |reason: String| TransportError::Build {
            id: mail.id.clone(),
            reason,
        };
        let to = mail
            .to
            .parse()
            .map_err(|e| build(format!("recipient {:?}: {e}", mail.to)))?;
        let message = lettre::Message::builder()
            .message_id(Some(format!("<{}@shop.local>", mail.id)))
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .body(mail.body.clone())
            .map_err(|e| build(e.to_string()))?;
        self.transport.send(message).await?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("SMTP {}", self.url)
    }
}

/// The transport a process was configured with.
#[derive(Debug, Clone)]
pub enum AnyTransport {
    Mailbox(Mailbox),
    Smtp(Box<Smtp>),
}

impl Transport for AnyTransport {
    async fn deliver(&self, mail: &Mail) -> Result<(), TransportError> {
        match self {
            AnyTransport::Mailbox(m) => m.deliver(mail).await,
            AnyTransport::Smtp(s) => s.deliver(mail).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            AnyTransport::Mailbox(m) => m.describe(),
            AnyTransport::Smtp(s) => s.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_smtp_url_whose_user_name_has_an_at_sign_is_described_without_its_password() {
        let url = Secret::new("smtp://me@example.com:unit-pa55%2Fword@127.0.0.1:2525");
        let smtp = Smtp::new(&url, "shop@example.com").unwrap();
        let shown = format!("{} {smtp:?}", smtp.describe());
        assert!(!shown.contains("unit-pa55"), "{shown}");
        assert!(
            shown.contains("smtp://me%40example.com:***@127.0.0.1:2525"),
            "{shown}"
        );
        // The decoded password is a registered secret too.
        assert_eq!(secret::redact("login unit-pa55/word"), "login ***");
    }
}
