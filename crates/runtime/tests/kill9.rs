//! Consumers killed with SIGKILL in the middle of a batch, one after another, lose nothing: the
//! records one had not committed are delivered again to the group's next consumer (duplicates
//! allowed, and counted), and each restarted consumer gets the partitions back. The test binary
//! plays both roles: run plainly it is the test; with `KILL9_CHILD` set it is the consumer
//! process that gets killed.

mod common;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::events::{self, Message, OrderPaid};
use common::source::MemorySource;
use common::{eventually, shared_broker, unique_prefix};
use contracts_core::{Handle, HandlerError, RecordMeta, SchemaInfo};
use contracts_runtime::{Consumer, ConsumerConfig, Metrics, ProducerConfig, Publisher};

const EVENTS: i64 = 300;
/// Consumer processes killed in turn, each after the journal grew by a fifth of the events.
const VICTIMS: usize = 3;

/// Appends each handled `seq` to a file, one line per event: a write(2) per line, so the lines
/// of a killed process are all there.
#[derive(Clone)]
struct Journal {
    file: Arc<Mutex<std::fs::File>>,
    delay: Duration,
}

impl Journal {
    fn open(path: &Path, delay: Duration) -> Self {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        Journal {
            file: Arc::new(Mutex::new(file)),
            delay,
        }
    }
}

impl Handle<Message> for Journal {
    async fn handle(&self, m: Message, _: &RecordMeta) -> Result<(), HandlerError> {
        tokio::time::sleep(self.delay).await;
        if let Message::OrderPaid(p) = m {
            let line = format!("{}\n", p.seq);
            self.file
                .lock()
                .unwrap()
                .write_all(line.as_bytes())
                .unwrap();
        }
        Ok(())
    }
}

fn journal_lines(path: &Path) -> Vec<i64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

fn consumer_config(bootstrap: &str, prefix: &str) -> ConsumerConfig {
    ConsumerConfig::new(bootstrap, format!("{prefix}g"))
        .topic_prefix(prefix)
        .set("auto.commit.interval.ms", "200")
        .set("session.timeout.ms", "6000")
        // A restarted member can be left without partitions on Tansu; see the setting's docs.
        .rejoin_when_unassigned(Some(Duration::from_secs(10)))
}

/// The schema source must know the producer's id in both processes: register the same schema.
fn source() -> Arc<MemorySource> {
    let source = MemorySource::new();
    source.register(<OrderPaid as contracts_core::Event>::SCHEMA as &SchemaInfo);
    Arc::new(source)
}

async fn child(bootstrap: String, prefix: String, journal: PathBuf) {
    let consumer = Consumer::<events::Topic>::new(
        consumer_config(&bootstrap, &prefix),
        source(),
        Metrics::new(),
    )
    .await
    .unwrap();
    consumer
        .run(Journal::open(&journal, Duration::from_millis(30)))
        .await
        .unwrap();
}

async fn parent() {
    let broker = shared_broker();
    let bootstrap = broker.bootstrap_servers().to_string();
    let prefix = unique_prefix("kill9");
    broker
        .create_topic(&format!("{prefix}orders"), 3)
        .await
        .unwrap();
    let source = source();
    let publisher = Publisher::new(
        &ProducerConfig::new(&bootstrap).topic_prefix(&prefix),
        source.clone(),
        Metrics::new(),
    )
    .unwrap();
    for seq in 0..EVENTS {
        let e = OrderPaid {
            order_id: format!("o-{}", seq % 17),
            seq,
        };
        publisher.send(&e).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");

    let mut before = 0;
    for round in 1..=VICTIMS {
        let mut victim = Command::new(std::env::current_exe().unwrap())
            .env("KILL9_CHILD", "1")
            .env("KILL9_BOOTSTRAP", &bootstrap)
            .env("KILL9_PREFIX", &prefix)
            .env("KILL9_JOURNAL", &journal)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let target = round * EVENTS as usize / 5;
        eventually(
            &format!("victim {round} to be mid-batch"),
            Duration::from_secs(90),
            || async { (journal_lines(&journal).len() >= target).then_some(()) },
        )
        .await;
        victim.kill().unwrap(); // SIGKILL
        victim.wait().unwrap();
        before = journal_lines(&journal).len();
        assert!(
            before < EVENTS as usize,
            "victim {round} was killed before it finished"
        );
    }

    let consumer = Consumer::<events::Topic>::new(
        consumer_config(&bootstrap, &prefix),
        source,
        Metrics::new(),
    )
    .await
    .unwrap();
    let control = consumer.control();
    let task = tokio::spawn(consumer.run(Journal::open(&journal, Duration::ZERO)));
    eventually("every event handled", Duration::from_secs(90), || async {
        let mut seen = journal_lines(&journal);
        seen.sort();
        seen.dedup();
        (seen.len() == EVENTS as usize).then_some(())
    })
    .await;
    control.shutdown();
    task.await.unwrap().unwrap();

    let lines = journal_lines(&journal);
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for seq in &lines {
        *counts.entry(*seq).or_default() += 1;
    }
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        (0..EVENTS).collect::<Vec<_>>(),
        "no event lost"
    );
    let duplicates = lines.len() - EVENTS as usize;
    println!(
        "{VICTIMS} consumers killed, the last after {before} handled; {duplicates} duplicate(s) redelivered"
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if std::env::var_os("KILL9_CHILD").is_some() {
        let var = |k| std::env::var(k).unwrap();
        runtime.block_on(child(
            var("KILL9_BOOTSTRAP"),
            var("KILL9_PREFIX"),
            var("KILL9_JOURNAL").into(),
        ));
        return;
    }
    // Honour `cargo test -- <filter>`: run only when the filter matches this test's name.
    let name = "consumers_killed_with_sigkill_mid_batch_in_turn_lose_nothing";
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.as_deref().is_some_and(|f| !name.contains(f)) {
        println!("0 passed, 0 failed");
        return;
    }
    runtime.block_on(parent());
    println!("test {name} ... ok\n1 passed, 0 failed");
}
