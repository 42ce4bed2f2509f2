//! `--database-url`: the services' state in PostgreSQL, a database per service on one server.

use anyhow::{Context, bail};
use sqlx::Connection;
use url::Url;

/// The databases the demo gives each service, on the server the user named.
pub struct Databases {
    server: Url,
}

/// Each service's database; created when missing, never dropped.
const DATABASES: [(&str, &str); 3] = [
    ("order-service", "shop_order"),
    ("inventory-service", "shop_inventory"),
    ("notification-service", "shop_notification"),
];

/// Connects to the server at `url` and creates the services' databases it lacks.
pub async fn databases(url: &str) -> anyhow::Result<Databases> {
    contracts_core::secret::register_url_password(url);
    let server = Url::parse(url).with_context(|| {
        format!(
            "--database-url is not a URL ({}); expected postgres://user:password@host:port/database",
            contracts_core::secret::redact_url(url)
        )
    })?;
    if !matches!(server.scheme(), "postgres" | "postgresql") {
        bail!(
            "--database-url must be a PostgreSQL URL (postgres://...), not {}://",
            server.scheme()
        );
    }
    let databases = Databases { server };
    let mut conn = sqlx::PgConnection::connect(databases.server.as_str())
        .await
        .with_context(|| format!("connecting to PostgreSQL at {}", databases.describe()))?;
    for (_, name) in DATABASES {
        let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_optional(&mut conn)
            .await
            .context("listing the server's databases")?;
        if exists.is_none() {
            // Identifiers cannot be bound; the names are the constants above.
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .with_context(|| format!("creating the database {name}"))?;
        }
    }
    conn.close().await.ok();
    Ok(databases)
}

impl Databases {
    /// The `DATABASE_URL` of `service`.
    pub fn url_for(&self, service: &str) -> anyhow::Result<String> {
        let (_, name) = DATABASES
            .iter()
            .find(|(s, _)| *s == service)
            .with_context(|| format!("no database for {service}"))?;
        let mut url = self.server.clone();
        url.set_path(name);
        Ok(url.into())
    }

    /// The server and the databases, without the password.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = DATABASES.iter().map(|(_, n)| *n).collect();
        let mut server = self.server.clone();
        server.set_path("");
        format!(
            "{} ({})",
            contracts_core::secret::redact_url(server.as_str()),
            names.join(", ")
        )
    }
}
