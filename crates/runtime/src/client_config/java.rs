//! Settings of Kafka's Java clients that librdkafka does not take, found in `client.properties`
//! files written for them: translated where the meaning is the same (`sasl.jaas.config` with a
//! user name and password, or with OIDC client credentials; the Java OIDC login handler),
//! refused with the librdkafka equivalent otherwise.

/// What becomes of one setting.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Translation {
    /// librdkafka takes it (with this value).
    Keep(String),
    /// It stands for these librdkafka settings.
    Into(Vec<(&'static str, String)>),
    /// librdkafka does the same by itself: nothing to set.
    Drop,
    /// librdkafka has no such setting; what to use instead.
    Refuse(String),
}

const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
const SCRAM_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
const OAUTH_MODULE: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";
const KERBEROS_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";
const MSK_IAM_MODULE: &str = "software.amazon.msk.auth.iam.IAMLoginModule";

/// How to give librdkafka an OAUTHBEARER configuration.
const OAUTHBEARER_HELP: &str = "librdkafka fetches OAUTHBEARER tokens itself with OIDC client \
     credentials: set sasl.mechanism=OAUTHBEARER, sasl.oauthbearer.method=oidc, \
     sasl.oauthbearer.token.endpoint.url, sasl.oauthbearer.client.id (JAAS clientId), \
     sasl.oauthbearer.scope (JAAS scope) and the client secret in \
     KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET_FILE (JAAS clientSecret); for unsecured test tokens \
     enable.sasl.oauthbearer.unsecure.jwt=true and sasl.oauthbearer.config=principal=NAME";

/// The Java clients' OIDC client-credentials login handler (Kafka 3.4 and later; before, in the
/// `secured` package): what librdkafka does with `sasl.oauthbearer.method=oidc`.
const OIDC_LOGIN_HANDLERS: &[&str] = &[
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler",
];

/// Settings of the Java OIDC login that validate tokens on the broker side, or tune the Java
/// HTTP client: librdkafka has none of them.
const JAVA_OIDC_ONLY: &[&str] = &[
    "sasl.oauthbearer.jwks.endpoint.url",
    "sasl.oauthbearer.jwks.endpoint.refresh.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.expected.issuer",
    "sasl.oauthbearer.clock.skew.seconds",
    "sasl.oauthbearer.scope.claim.name",
    "sasl.oauthbearer.sub.claim.name",
    "sasl.oauthbearer.jwt.validator.class",
    "sasl.oauthbearer.header.urlencode",
];

const MSK_IAM_HELP: &str = "AWS MSK IAM authentication is a Java plug-in that librdkafka does not \
     have: use MSK's SASL/SCRAM listener (sasl.mechanism=SCRAM-SHA-512, port 9096) or mTLS";

/// What `key = value` from a Java client's configuration becomes for librdkafka.
pub(super) fn translate(key: &str, value: &str) -> Translation {
    let refuse = |s: &str| Translation::Refuse(s.to_owned());
    match key {
        "sasl.jaas.config" => jaas(value),
        // Java's empty value turns host name checking off; librdkafka spells it `none`.
        "ssl.endpoint.identification.algorithm" if value.trim().is_empty() => {
            Translation::Keep("none".to_owned())
        }
        "ssl.truststore.location" => refuse(
            "librdkafka reads CA certificates from PEM files: set ssl.ca.location to one (from a \
             JKS or PKCS#12 truststore: `keytool -exportcert -rfc -keystore truststore.jks \
             -alias ALIAS -file ca.pem`), or leave it out to trust the system's CAs",
        ),
        "ssl.truststore.password" => refuse(
            "librdkafka reads the CA certificates from the PEM file in ssl.ca.location, which \
             has no password: remove the line",
        ),
        "ssl.truststore.type" => refuse(
            "librdkafka reads CA certificates as PEM: ssl.ca.location (a file) or ssl.ca.pem",
        ),
        "ssl.truststore.certificates" => {
            refuse("librdkafka takes PEM CA certificates inline as ssl.ca.pem")
        }
        "ssl.keystore.type" if value.trim().eq_ignore_ascii_case("PKCS12") => {
            // librdkafka reads ssl.keystore.location as PKCS#12.
            Translation::Drop
        }
        "ssl.keystore.type" if value.trim().eq_ignore_ascii_case("PEM") => refuse(
            "librdkafka takes a PEM client certificate and key as ssl.certificate.location and \
             ssl.key.location (files) or ssl.certificate.pem and ssl.key.pem",
        ),
        "ssl.keystore.type" => refuse(
            "librdkafka reads ssl.keystore.location as PKCS#12 only: convert a JKS keystore with \
             `keytool -importkeystore -srckeystore keystore.jks -destkeystore keystore.p12 \
             -deststoretype PKCS12`, or give PEM files as ssl.certificate.location and \
             ssl.key.location",
        ),
        "ssl.keystore.certificate.chain" => {
            refuse("librdkafka takes a PEM client certificate inline as ssl.certificate.pem")
        }
        "ssl.keystore.key" => refuse("librdkafka takes a PEM private key inline as ssl.key.pem"),
        "ssl.protocol" | "ssl.enabled.protocols" => refuse(
            "librdkafka negotiates TLS 1.2 or 1.3 through OpenSSL and has no such setting: remove \
             the line",
        ),
        "ssl.keymanager.algorithm"
        | "ssl.trustmanager.algorithm"
        | "ssl.secure.random.implementation"
        | "ssl.engine.factory.class"
        | "ssl.provider"
        | "security.providers" => refuse(
            "a Java security provider setting with no librdkafka equivalent: remove the line",
        ),
        "sasl.login.callback.handler.class" | "sasl.client.callback.handler.class"
            if value.contains("software.amazon.msk") =>
        {
            refuse(MSK_IAM_HELP)
        }
        "sasl.login.callback.handler.class" if OIDC_LOGIN_HANDLERS.contains(&value.trim()) => {
            Translation::Into(vec![("sasl.oauthbearer.method", "oidc".to_owned())])
        }
        "sasl.login.callback.handler.class"
        | "sasl.client.callback.handler.class"
        | "sasl.login.class" => refuse(OAUTHBEARER_HELP),
        // Kafka 4.1's name for the same choice.
        "sasl.oauthbearer.jwt.retriever.class" => match value.trim().rsplit('.').next() {
            Some("ClientCredentialsJwtRetriever" | "DefaultJwtRetriever") => {
                Translation::Into(vec![("sasl.oauthbearer.method", "oidc".to_owned())])
            }
            Some("JwtBearerJwtRetriever") => Translation::Into(vec![
                ("sasl.oauthbearer.method", "oidc".to_owned()),
                (
                    "sasl.oauthbearer.grant.type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                ),
            ]),
            _ => refuse(OAUTHBEARER_HELP),
        },
        "sasl.oauthbearer.token.endpoint.url" if value.trim_start().starts_with("file:") => refuse(
            "librdkafka fetches OAUTHBEARER tokens over HTTP(S) only, not from a file: give the \
             identity provider's token endpoint (https://...)",
        ),
        _ if JAVA_OIDC_ONLY.contains(&key) => refuse(
            "a setting of the Java OIDC login (token validation on the broker, or the Java HTTP \
             client) with no librdkafka equivalent: remove the line",
        ),
        "key.serializer" | "value.serializer" | "key.deserializer" | "value.deserializer" => {
            refuse(
                "the runtime encodes and decodes events itself (generated codecs, Confluent wire \
             format): remove the line",
            )
        }
        "max.poll.records" => refuse(
            "librdkafka has no such setting (the runtime bounds what it buffers per partition): \
             remove the line",
        ),
        "interceptor.classes" | "metric.reporters" | "auto.include.jmx.reporter" => {
            refuse("a Java plug-in setting with no librdkafka equivalent: remove the line")
        }
        _ if key.starts_with("schema.registry.") || key.starts_with("basic.auth.") => refuse(
            "a schema registry client setting, not a Kafka one: remove the line (the services \
             take the registry with --registry / SCHEMA_REGISTRY_URL)",
        ),
        _ if key.starts_with("sasl.login.") => refuse(
            "a setting of the Java client's login plug-ins, which librdkafka does not have: \
             remove the line",
        ),
        _ => Translation::Keep(value.to_owned()),
    }
}

/// A `sasl.jaas.config` value: user name and password of the PLAIN and SCRAM login modules
/// become `sasl.username` and `sasl.password`; other modules are refused with what to set
/// instead. Messages never contain the value (it holds a password).
fn jaas(value: &str) -> Translation {
    let entry = match parse_jaas(value) {
        Ok(entry) => entry,
        Err(e) => return Translation::Refuse(format!("cannot read the JAAS entry: {e}")),
    };
    match entry.module.as_str() {
        PLAIN_MODULE | SCRAM_MODULE => {
            let mut username = None;
            let mut password = None;
            for (name, value) in entry.options {
                match name.as_str() {
                    "username" => username = Some(value),
                    "password" => password = Some(value),
                    other => {
                        return Translation::Refuse(format!(
                            "option `{other}` of {} has no librdkafka equivalent; librdkafka takes \
                             only the user name and password (sasl.username, sasl.password)",
                            entry.module
                        ));
                    }
                }
            }
            match (username, password) {
                (Some(u), Some(p)) => {
                    Translation::Into(vec![("sasl.username", u), ("sasl.password", p)])
                }
                _ => Translation::Refuse(format!(
                    "{} needs username=\"...\" and password=\"...\"",
                    entry.module
                )),
            }
        }
        OAUTH_MODULE => oauth_jaas(entry.options),
        KERBEROS_MODULE => Translation::Refuse(
            "librdkafka configures Kerberos without JAAS: set sasl.mechanism=GSSAPI, \
             sasl.kerberos.service.name, sasl.kerberos.principal (JAAS principal) and \
             sasl.kerberos.keytab (JAAS keyTab); GSSAPI needs a build with the `gssapi` feature"
                .to_owned(),
        ),
        MSK_IAM_MODULE => Translation::Refuse(MSK_IAM_HELP.to_owned()),
        other => Translation::Refuse(format!(
            "login module `{other}` is unknown to librdkafka, which takes PLAIN and SCRAM \
             credentials as sasl.username and sasl.password"
        )),
    }
}

/// The options of Java's `OAuthBearerLoginModule` with OIDC client credentials: `clientId`,
/// `clientSecret`, `scope` and `extension_NAME` become librdkafka's `sasl.oauthbearer.*`
/// settings, with `sasl.oauthbearer.method=oidc`. The unsecured test login (no `clientId`, or
/// `unsecuredLogin*` options) is refused with librdkafka's way to do it.
fn oauth_jaas(options: Vec<(String, String)>) -> Translation {
    let mut settings = vec![("sasl.oauthbearer.method", "oidc".to_owned())];
    let mut extensions = Vec::new();
    let mut client_id = false;
    for (name, value) in options {
        match name.as_str() {
            "clientId" => {
                client_id = true;
                settings.push(("sasl.oauthbearer.client.id", value));
            }
            "clientSecret" => settings.push(("sasl.oauthbearer.client.secret", value)),
            "scope" => settings.push(("sasl.oauthbearer.scope", value)),
            _ if name.starts_with("extension_") => {
                let extension = &name["extension_".len()..];
                if extension.is_empty() || value.contains(',') || value.contains('=') {
                    return Translation::Refuse(format!(
                        "option `{name}` cannot be given to librdkafka, which takes SASL \
                         extensions as sasl.oauthbearer.extensions=NAME=VALUE,... (no `,` or \
                         `=` in a value)"
                    ));
                }
                extensions.push(format!("{extension}={value}"));
            }
            _ if name.starts_with("unsecuredLogin") => {
                return Translation::Refuse(OAUTHBEARER_HELP.to_owned());
            }
            other => {
                return Translation::Refuse(format!(
                    "option `{other}` of {OAUTH_MODULE} has no librdkafka equivalent; librdkafka \
                     takes clientId, clientSecret, scope and extension_NAME (as \
                     sasl.oauthbearer.client.id, sasl.oauthbearer.client.secret, \
                     sasl.oauthbearer.scope and sasl.oauthbearer.extensions)"
                ));
            }
        }
    }
    if !client_id {
        return Translation::Refuse(OAUTHBEARER_HELP.to_owned());
    }
    if !extensions.is_empty() {
        settings.push(("sasl.oauthbearer.extensions", extensions.join(",")));
    }
    Translation::Into(settings)
}

#[derive(Debug, PartialEq, Eq)]
struct JaasEntry {
    module: String,
    options: Vec<(String, String)>,
}

/// Parses `Module flag name="value" name2='value' ...;` (one login module, as Kafka allows).
fn parse_jaas(text: &str) -> Result<JaasEntry, String> {
    let mut tokens = Tokens {
        chars: text.chars().peekable(),
    };
    let module = match tokens.next()? {
        Some(Token::Word(w)) => w,
        _ => return Err("expected a login module class name first".to_owned()),
    };
    match tokens.next()? {
        Some(Token::Word(flag))
            if ["required", "requisite", "sufficient", "optional"]
                .contains(&flag.to_ascii_lowercase().as_str()) => {}
        _ => {
            return Err(
                "expected a control flag (required, requisite, sufficient or optional) after \
                 the login module"
                    .to_owned(),
            );
        }
    }
    let mut options = Vec::new();
    loop {
        match tokens.next()? {
            Some(Token::Semicolon) => break,
            None => return Err("the entry must end with `;`".to_owned()),
            Some(Token::Word(name)) => {
                if tokens.next()? != Some(Token::Equals) {
                    return Err(format!("expected `=` after option `{name}`"));
                }
                match tokens.next()? {
                    Some(Token::Word(v) | Token::Quoted(v)) => options.push((name, v)),
                    _ => return Err(format!("expected a value for option `{name}`")),
                }
            }
            Some(_) => return Err("expected an option name=value or `;`".to_owned()),
        }
    }
    if tokens.next()?.is_some() {
        return Err("Kafka takes one login module per sasl.jaas.config".to_owned());
    }
    Ok(JaasEntry { module, options })
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

struct Tokens<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Tokens<'_> {
    fn next(&mut self) -> Result<Option<Token>, String> {
        while self.chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(c) = self.chars.next() else {
            return Ok(None);
        };
        Ok(Some(match c {
            '=' => Token::Equals,
            ';' => Token::Semicolon,
            '"' | '\'' => {
                let mut value = String::new();
                loop {
                    match self.chars.next() {
                        None => return Err("a quoted value is not closed".to_owned()),
                        Some(q) if q == c => break,
                        Some('\\') => match self.chars.next() {
                            Some(escaped) => value.push(escaped),
                            None => return Err("a quoted value is not closed".to_owned()),
                        },
                        Some(other) => value.push(other),
                    }
                }
                Token::Quoted(value)
            }
            c if is_word(c) => {
                let mut word = String::from(c);
                while let Some(c) = self.chars.next_if(|&c| is_word(c)) {
                    word.push(c);
                }
                Token::Word(word)
            }
            _ => return Err("unexpected character outside quotes".to_owned()),
        }))
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '$' | '-' | '/' | ':' | '@')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn into(pairs: &[(&'static str, &str)]) -> Translation {
        Translation::Into(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    #[test]
    fn plain_and_scram_jaas_entries_become_user_name_and_password() {
        assert_eq!(
            translate(
                "sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 username='ABC123' password='s3cr=t;\"x';"
            ),
            into(&[("sasl.username", "ABC123"), ("sasl.password", "s3cr=t;\"x")])
        );
        assert_eq!(
            translate(
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required\n  \
                 username=\"shop\"\n  password=\"p\\\"w\";  "
            ),
            into(&[("sasl.username", "shop"), ("sasl.password", "p\"w")])
        );
    }

    fn refusal(key: &str, value: &str) -> String {
        match translate(key, value) {
            Translation::Refuse(why) => why,
            other => panic!("{key}={value}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_oidc_jaas_entry_and_login_handler_become_librdkafkas_oidc_settings() {
        assert_eq!(
            translate(
                "sasl.jaas.config",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                 clientId='shop-app' clientSecret='hidden-oauth-secret' scope='kafka.write' \
                 extension_logicalCluster='lkc-1' extension_identityPoolId='pool-2';",
            ),
            into(&[
                ("sasl.oauthbearer.method", "oidc"),
                ("sasl.oauthbearer.client.id", "shop-app"),
                ("sasl.oauthbearer.client.secret", "hidden-oauth-secret"),
                ("sasl.oauthbearer.scope", "kafka.write"),
                (
                    "sasl.oauthbearer.extensions",
                    "logicalCluster=lkc-1,identityPoolId=pool-2"
                ),
            ])
        );
        for handler in OIDC_LOGIN_HANDLERS {
            assert_eq!(
                translate("sasl.login.callback.handler.class", handler),
                into(&[("sasl.oauthbearer.method", "oidc")])
            );
        }
        assert_eq!(
            translate(
                "sasl.oauthbearer.jwt.retriever.class",
                "org.apache.kafka.common.security.oauthbearer.ClientCredentialsJwtRetriever"
            ),
            into(&[("sasl.oauthbearer.method", "oidc")])
        );
        assert_eq!(
            translate(
                "sasl.oauthbearer.token.endpoint.url",
                "https://login.example.com/oauth2/token"
            ),
            Translation::Keep("https://login.example.com/oauth2/token".into())
        );
    }

    #[test]
    fn oidc_settings_librdkafka_cannot_honour_are_refused_with_what_to_do() {
        let why = refusal(
            "sasl.oauthbearer.token.endpoint.url",
            "file:///tmp/token.jwt",
        );
        assert!(why.contains("HTTP(S) only"), "{why}");
        let why = refusal("sasl.oauthbearer.expected.audience", "kafka-broker");
        assert!(why.contains("remove the line"), "{why}");
        let why = refusal(
            "sasl.login.callback.handler.class",
            "com.example.MyTokenProvider",
        );
        assert!(why.contains("sasl.oauthbearer.method=oidc"), "{why}");
        // Java's unsecured test login, and options librdkafka has no place for.
        for entry in [
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub='alice';",
        ] {
            let why = refusal("sasl.jaas.config", entry);
            assert!(
                why.contains("enable.sasl.oauthbearer.unsecure.jwt"),
                "{why}"
            );
            assert!(
                why.contains("KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET_FILE"),
                "{why}"
            );
        }
        let why = refusal(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             clientId='app' clientSecret='hidden-oauth-secret' audience='x';",
        );
        assert!(why.contains("`audience`"), "{why}");
        assert!(!why.contains("hidden-oauth-secret"), "{why}");
    }

    #[test]
    fn other_login_modules_are_refused_with_the_librdkafka_settings_to_use() {
        let why = refusal(
            "sasl.jaas.config",
            "software.amazon.msk.auth.iam.IAMLoginModule required;",
        );
        assert!(why.contains("SCRAM"), "{why}");
        let why = refusal(
            "sasl.jaas.config",
            "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true \
             keyTab=\"/etc/kafka.keytab\" principal=\"shop@EXAMPLE.COM\";",
        );
        assert!(
            why.contains("sasl.kerberos.keytab") && why.contains("gssapi"),
            "{why}"
        );
    }

    #[test]
    fn malformed_jaas_entries_are_refused_without_printing_the_password() {
        for bad in [
            "",
            "org.apache.kafka.common.security.plain.PlainLoginModule",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username='u' password='pw-leak'",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username='u' password='pw-leak",
            "org.apache.kafka.common.security.plain.PlainLoginModule maybe username='u' password='pw-leak';",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username 'u' password='pw-leak';",
            "org.apache.kafka.common.security.plain.PlainLoginModule required password='pw-leak';",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username='u' password='pw-leak'; X required;",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username='u' password=pw-leak serviceName='x';",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"pw-leak\\",
            "{ org.apache.kafka.common.security.plain.PlainLoginModule required; }",
        ] {
            let why = refusal("sasl.jaas.config", bad);
            assert!(!why.contains("pw-leak"), "{bad}: {why}");
        }
    }

    #[test]
    fn java_truststores_and_keystores_are_refused_with_their_pem_equivalents() {
        assert!(refusal("ssl.truststore.location", "/x.jks").contains("ssl.ca.location"));
        assert!(refusal("ssl.truststore.password", "x").contains("ssl.ca.location"));
        assert!(refusal("ssl.keystore.type", "JKS").contains("PKCS12"));
        assert!(refusal("ssl.keystore.type", "PEM").contains("ssl.certificate.location"));
        assert_eq!(translate("ssl.keystore.type", "PKCS12"), Translation::Drop);
        assert!(refusal("ssl.keystore.key", "x").contains("ssl.key.pem"));
        assert!(refusal("value.serializer", "x").contains("remove the line"));
        assert!(refusal("schema.registry.url", "x").contains("--registry / SCHEMA_REGISTRY_URL"));
        assert!(
            refusal(
                "sasl.client.callback.handler.class",
                "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
            )
            .contains("MSK")
        );
    }

    #[test]
    fn settings_both_clients_share_pass_through() {
        assert_eq!(
            translate("ssl.endpoint.identification.algorithm", ""),
            Translation::Keep("none".into())
        );
        assert_eq!(
            translate("ssl.endpoint.identification.algorithm", "https"),
            Translation::Keep("https".into())
        );
        assert_eq!(
            translate("security.protocol", "SASL_SSL"),
            Translation::Keep("SASL_SSL".into())
        );
        assert_eq!(
            translate("sasl.mechanism", "PLAIN"),
            Translation::Keep("PLAIN".into())
        );
    }
}
