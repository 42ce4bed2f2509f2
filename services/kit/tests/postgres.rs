//! The outbox on one PostgreSQL database shared by two replicas: one relays at a time, each row
//! goes out once, and the other takes over when the first stops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use contracts_core::secret::Secret;
use contracts_testkit::TestPostgres;
use shop_service_kit::db::{Db, Location};
use shop_service_kit::outbox::{self, OutboxRow, PublishFailure, Relay, Sink};
use shop_service_kit::shutdown::Shutdown;

type Log = Arc<Mutex<Vec<(&'static str, i64)>>>;

/// Records which replica sent which row.
struct Tagged {
    replica: &'static str,
    log: Log,
}

impl Sink for Tagged {
    async fn publish(&self, row: &OutboxRow) -> Result<(), PublishFailure> {
        self.log.lock().unwrap().push((self.replica, row.id));
        Ok(())
    }
}

async fn add_rows(db: &Db, n: usize) {
    for i in 0..n {
        sqlx::query(
            "INSERT INTO outbox (event, version, event_key, payload, created_at_ms)
             VALUES ('shop.Event', 1, $1, $2, 0)",
        )
        .bind(format!("key-{}", i % 7).into_bytes())
        .bind(b"payload".to_vec())
        .execute(db.pool())
        .await
        .unwrap();
    }
}

async fn until_sent(db: &Db) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while outbox::pending_count(db).await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rows still pending after a minute"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn start(db: &Db, replica: &'static str, log: &Log) -> (Shutdown, tokio::task::JoinHandle<()>) {
    let mut relay = Relay::new(db.clone());
    relay.retry_after = Duration::from_millis(100);
    let shutdown = Shutdown::new();
    let sink = Tagged {
        replica,
        log: log.clone(),
    };
    let task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { relay.run(sink, shutdown).await }
    });
    (shutdown, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_relays_the_outbox_at_a_time_and_another_takes_over_when_it_stops() {
    let pg = TestPostgres::start().unwrap();
    let location = Location::Url(Secret::new(pg.create_database("shop").unwrap()));
    let a = Db::connect(&location, 4, &[]).await.unwrap();
    let b = Db::connect(&location, 4, &[]).await.unwrap();
    let log = Log::default();

    add_rows(&a, 100).await;
    let (stop_a, relay_a) = start(&a, "a", &log);
    until_sent(&a).await;
    let (stop_b, relay_b) = start(&b, "b", &log);
    add_rows(&b, 50).await;
    until_sent(&b).await;
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .all(|(replica, _)| *replica == "a"),
        "b stands by while a holds the outbox"
    );

    stop_a.trigger();
    relay_a.await.unwrap();
    add_rows(&a, 50).await;
    until_sent(&b).await;
    stop_b.trigger();
    relay_b.await.unwrap();

    let log = log.lock().unwrap();
    let mut ids: Vec<i64> = log.iter().map(|(_, id)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 200, "every row sent");
    assert_eq!(log.len(), 200, "no row sent twice");
    assert!(
        log[150..].iter().all(|(replica, _)| *replica == "b"),
        "b took over once a stopped"
    );
}

/// Sessions the server has started for `database` (PostgreSQL 14 and later count them).
async fn sessions(admin: &Db, database: &str) -> i64 {
    sqlx::query_scalar("SELECT sessions FROM pg_stat_database WHERE datname = $1")
        .bind(database)
        .fetch_one(admin.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_asking_for_a_held_lease_reuses_its_connections() {
    let pg = TestPostgres::start().unwrap();
    let location = Location::Url(Secret::new(pg.create_database("shop").unwrap()));
    let admin = Db::connect(&Location::Url(Secret::new(pg.url("postgres"))), 2, &[])
        .await
        .unwrap();
    let holder = Db::connect(&location, 4, &[]).await.unwrap();
    let standby = Db::connect(&location, 4, &[]).await.unwrap();
    let lease = holder.try_lease(42).await.unwrap();
    assert!(lease.is_some(), "the first replica takes the lease");

    // Warm the standby's pool, then count the sessions its tries start.
    assert!(standby.try_lease(42).await.unwrap().is_none());
    let before = sessions(&admin, "shop").await;
    for _ in 0..50 {
        assert!(
            standby.try_lease(42).await.unwrap().is_none(),
            "the lease is held"
        );
    }
    let after = sessions(&admin, "shop").await;
    // The server reports sessions a moment late, so a few of the pools' own start-up may land
    // in this window; a new connection per try would be 50.
    assert!(
        after - before <= 5,
        "50 failed tries started {} sessions",
        after - before
    );

    // The lease is still the holder's alone, and passes on once it is given up.
    drop(lease);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while standby.try_lease(42).await.unwrap().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease was not released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
