//! The open-loop load run (`--rate R --duration D`): orders placed on a fixed schedule whatever
//! the shop answers, each stage of each order's way timed from its scheduled send time, and the
//! latencies kept in HDR histograms.
//!
//! A closed loop (`--concurrency`) waits for an order before placing the next, so when the shop
//! slows down the demo slows down with it and the queueing never shows in the figures
//! (coordinated omission). Here a slow answer delays nothing: order `i` is due at
//! `start + i / rate`, and every latency counts from that instant, so time an order spent waiting
//! behind others, even before it was sent, is in its figures.
//!
//! The stages, each observed by the demo itself:
//! 1. `POST /orders` answered: the HTTP response arrived (monotonic clock of this process).
//! 2. `OrderCreated` on `orders`: the demo's own consumer (the tap, outside any group) received
//!    the record (monotonic clock; the tap's fetch wait, [`TAP_FETCH_WAIT`], bounds how late).
//! 3. The inventory's answer (`InventoryReserved` or `InventoryRejected`) on `inventory`: the
//!    same tap (same clock and bound).
//! 4. The confirmed or rejected mail delivered: the modification time of its file in the mailbox
//!    (the machine's wall clock, set when notification-service wrote it; the mailbox is scanned
//!    every [`MAILBOX_SCAN`], which only delays when the demo notices, not the figure).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use rdkafka::message::Message as _;

use crate::feed::{Topology, schema_id, schema_subject, tap};
use crate::orders::post_order;

/// How long the tap's fetches may wait for data: short, so that a record is seen soon after it
/// is written, yet not so short that the demo's empty fetches load the broker it measures.
pub const TAP_FETCH_WAIT: Duration = Duration::from_millis(20);
/// How often the mailbox is listed for new decision mails.
pub const MAILBOX_SCAN: Duration = Duration::from_millis(100);
/// How often the run says how far it got.
const PROGRESS: Duration = Duration::from_secs(10);
/// How long one `POST /orders` may take before it counts as failed.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the open-loop run is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Orders per second.
    pub rate: f64,
    pub duration: Duration,
    /// Give up when an order is due with this many placed and not yet decided (mailed).
    pub max_outstanding: usize,
    /// How long to wait, once the last order is placed, for every order to play out.
    pub drain_timeout: Duration,
}

impl Plan {
    /// The number of orders the schedule places.
    pub fn orders(&self) -> usize {
        (self.rate * self.duration.as_secs_f64()).round() as usize
    }
}

/// What became of one order, by stage; `None` until seen.
#[derive(Debug, Default)]
struct Track {
    /// When it was due: set once `POST /orders` answered with its id (the tap or the mailbox
    /// may see it first).
    scheduled: Option<(Instant, SystemTime)>,
    answered: Option<Instant>,
    created: Option<Instant>,
    inventory: Option<Instant>,
    /// The decision mail: when its file was written, and whether it is `confirmed`.
    mail: Option<(SystemTime, bool)>,
}

impl Track {
    fn complete(&self) -> bool {
        self.scheduled.is_some()
            && self.answered.is_some()
            && self.created.is_some()
            && self.inventory.is_some()
            && self.mail.is_some()
    }
}

/// The stages, in the order an order goes through them.
const STAGES: [&str; 4] = [
    "POST /orders answered",
    "OrderCreated seen on orders",
    "the inventory's answer seen on inventory",
    "the confirmed/rejected mail delivered",
];

/// The latencies of every stage, and the decisions.
#[derive(Clone)]
struct Figures {
    /// Per stage, microseconds from each order's scheduled send time.
    stages: [Histogram<u64>; 4],
    confirmed: usize,
    rejected: usize,
    last_mail: Option<SystemTime>,
}

impl Default for Figures {
    fn default() -> Self {
        // 1 µs to an hour, 3 significant digits.
        let histogram = || Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
        Figures {
            stages: std::array::from_fn(|_| histogram()),
            confirmed: 0,
            rejected: 0,
            last_mail: None,
        }
    }
}

impl Figures {
    /// Adds the stages an order of this run reached.
    fn record(&mut self, t: &Track) {
        let Some((due, due_wall)) = t.scheduled else {
            return;
        };
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        for (i, at) in [t.answered, t.created, t.inventory].into_iter().enumerate() {
            if let Some(at) = at {
                self.stages[i].saturating_record(micros(at.saturating_duration_since(due)));
            }
        }
        if let Some((written, confirmed)) = t.mail {
            // A mail written before its order was due is impossible but for a clock step.
            let since = written.duration_since(due_wall).unwrap_or_default();
            self.stages[3].saturating_record(micros(since));
            if confirmed {
                self.confirmed += 1;
            } else {
                self.rejected += 1;
            }
            self.last_mail = self.last_mail.max(Some(written));
        }
    }
}

/// Shared between the scheduler, the POST tasks, the tap and the mailbox scan.
#[derive(Default)]
struct Shared {
    /// Orders on their way. An order seen at every stage leaves for `figures`, so what is kept
    /// per order is bounded by what is outstanding.
    orders: HashMap<String, Track>,
    figures: Figures,
    /// POSTs that failed, with the first error.
    failed: usize,
    first_error: Option<String>,
    /// Orders of this run (scheduled) whose decision mail arrived.
    mailed: usize,
}

impl Shared {
    /// Updates what is known of order `id`; counts it as mailed once both its schedule and its
    /// mail are known, and moves it to the figures once it is complete.
    fn note(&mut self, id: &str, update: impl FnOnce(&mut Track)) {
        let t = self.orders.entry(id.to_owned()).or_default();
        let before = t.scheduled.is_some() && t.mail.is_some();
        update(t);
        if !before && t.scheduled.is_some() && t.mail.is_some() {
            self.mailed += 1;
        }
        if t.complete()
            && let Some(t) = self.orders.remove(id)
        {
            self.figures.record(&t);
        }
    }

    /// Orders of this run not yet seen at every stage.
    fn incomplete(&self) -> impl Iterator<Item = &Track> {
        // Orders of someone else (seen on a topic, never posted by this run) do not count.
        self.orders.values().filter(|t| t.scheduled.is_some())
    }
}

type State = Arc<Mutex<Shared>>;

fn lock(state: &State) -> std::sync::MutexGuard<'_, Shared> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the plan against order-service at `order_url`, prints the report, and says whether every
/// order placed reached its decision mail (and every stage was seen) within the drain timeout.
pub async fn run(plan: Plan, topology: Topology, order_url: &str) -> anyhow::Result<bool> {
    let client = reqwest::Client::builder()
        .timeout(POST_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let took = warm_up(&client, order_url, &topology.mailbox).await?;
    println!(
        "   warm-up: one order reached its decision mail in {} ms (not counted)",
        took.as_millis()
    );
    let state: State = Arc::default();
    let tap = tap(&topology, TAP_FETCH_WAIT)?;
    let events_by_subject: HashMap<String, String> = topology
        .subjects
        .iter()
        .map(|(subject, s)| (subject.clone(), s.event.clone()))
        .collect();
    let watching = tokio::spawn(watch_topics(
        tap,
        topology.registry_url.clone(),
        events_by_subject,
        state.clone(),
    ));
    let scanning = tokio::spawn(watch_mailbox(topology.mailbox.clone(), state.clone()));
    let _stop = AbortOnDrop(vec![watching, scanning]);

    let total = plan.orders();
    let interval = Duration::from_secs_f64(1.0 / plan.rate);
    let start = Instant::now();
    let wall = SystemTime::now();
    let mut posts = tokio::task::JoinSet::new();
    let mut placed: usize = 0;
    let mut gave_up = None;
    let mut next_progress = PROGRESS;
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (failed, mailed) = {
            let s = lock(&state);
            (s.failed, s.mailed)
        };
        let outstanding = placed.saturating_sub(failed + mailed);
        if due - start >= next_progress {
            println!(
                "   [{:>4.0} s] {placed} placed, {mailed} decided, {outstanding} outstanding, {failed} failed",
                (due - start).as_secs_f64()
            );
            next_progress += PROGRESS;
        }
        if outstanding >= plan.max_outstanding {
            gave_up = Some(outstanding);
            break;
        }
        let scheduled = (due, wall + (due - start));
        posts.spawn(place(
            client.clone(),
            order_url.to_owned(),
            i,
            scheduled,
            state.clone(),
        ));
        placed += 1;
        // Reap finished POSTs so the set stays as small as what is in flight.
        while posts.try_join_next().is_some() {}
    }
    // Each order takes one interval of the schedule: 60 orders at 20/s take 3 s.
    let placing = start.elapsed() + interval;
    if let Some(outstanding) = gave_up {
        println!(
            "\n   GAVE UP after {placed} of {total} orders ({:.1} s): {outstanding} of them were not \
             yet decided, the limit (--max-outstanding {}). The shop does not keep up with {} \
             orders/s; try a lower --rate (or a higher --max-outstanding to let it queue longer).",
            placing.as_secs_f64(),
            plan.max_outstanding,
            plan.rate
        );
    }

    // Drain: every POST answered, and every order seen at every stage.
    let deadline = Instant::now() + plan.drain_timeout;
    let drained = loop {
        while posts.try_join_next().is_some() {}
        let done = posts.is_empty() && lock(&state).incomplete().next().is_none();
        if done {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    posts.abort_all();

    let s = lock(&state);
    let ok = report(&s, plan, placed, placing, wall);
    if !drained {
        println!(
            "   (waited {} after the last order; the logs are in the data directory's logs/)",
            humantime::format_duration(plan.drain_timeout)
        );
    }
    Ok(ok && gave_up.is_none())
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Posts order `i` (the scenarios in turn, no payment or shipping) and records its id.
async fn place(
    client: reqwest::Client,
    base: String,
    i: usize,
    scheduled: (Instant, SystemTime),
    state: State,
) {
    let answer = async {
        let (_, order) = post_order(&client, &base, i).await?;
        let id = order["id"].as_str().context("the order has no id")?;
        anyhow::Ok(id.to_owned())
    }
    .await;
    let answered = Instant::now();
    let mut s = lock(&state);
    match answer {
        Ok(id) => s.note(&id, |t| {
            t.scheduled = Some(scheduled);
            t.answered = Some(answered);
        }),
        Err(e) => {
            s.failed += 1;
            s.first_error.get_or_insert_with(|| format!("{e:#}"));
        }
    }
}

/// Notes when each order's `OrderCreated` and the inventory's answer are seen on their topics.
async fn watch_topics(
    tap: rdkafka::consumer::StreamConsumer,
    registry_url: String,
    events_by_subject: HashMap<String, String>,
    state: State,
) {
    let http = reqwest::Client::new();
    let mut events: HashMap<i32, Option<String>> = HashMap::new();
    loop {
        let m = match tap.recv().await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("   (the load run's topic reader: {e})");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let seen = Instant::now();
        let Some(id) = schema_id(m.payload()) else {
            continue;
        };
        let event = match events.entry(id) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => new.insert(
                schema_subject(&http, &registry_url, id)
                    .await
                    .and_then(|(subject, _)| events_by_subject.get(&subject).cloned()),
            ),
        };
        let Some(event) = event else {
            continue;
        };
        let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else {
            continue;
        };
        let mut s = lock(&state);
        match (m.topic(), event.as_str()) {
            ("orders", "OrderCreated") => s.note(key, |t| {
                t.created.get_or_insert(seen);
            }),
            ("inventory", "InventoryReserved" | "InventoryRejected") => s.note(key, |t| {
                t.inventory.get_or_insert(seen);
            }),
            _ => {}
        }
    }
}

/// How long the warm-up order may take: consumer groups join within seconds.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(60);

/// Places one order and waits for its decision mail before the clock starts. On a fresh start
/// the consumer groups are still joining (each group rebalances as its members arrive), which
/// holds the first orders for a few seconds: that is start-up, not the shop's latency at a rate.
async fn warm_up(client: &reqwest::Client, base: &str, mailbox: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let (_, order) = post_order(client, base, 0).await?;
    let id = order["id"]
        .as_str()
        .context("the warm-up order has no id")?
        .to_owned();
    loop {
        let dir = mailbox.to_owned();
        let mails = tokio::task::spawn_blocking(move || decision_mails(&dir)).await?;
        if mails.iter().any(|(order, _, _)| *order == id) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > WARM_UP_TIMEOUT {
            anyhow::bail!(
                "the warm-up order {id} got no decision mail within {} s; the services' logs \
                 say why",
                WARM_UP_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(MAILBOX_SCAN).await;
    }
}

/// Notes each decision mail (`<customer>/<order>.<step>.<confirmed|rejected>.eml`) of an order
/// on its way; the others (earlier runs', finished orders') are passed over.
async fn watch_mailbox(dir: PathBuf, state: State) {
    let mut tick = tokio::time::interval(MAILBOX_SCAN);
    loop {
        tick.tick().await;
        let dir = dir.clone();
        let Ok(found) = tokio::task::spawn_blocking(move || decision_mails(&dir)).await else {
            continue;
        };
        let mut s = lock(&state);
        for (order, confirmed, path) in found {
            if s.orders.get(&order).is_none_or(|t| t.mail.is_some()) {
                continue;
            }
            let written = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or_else(|_| SystemTime::now());
            s.note(&order, |t| t.mail = Some((written, confirmed)));
        }
    }
}

/// Every decision mail in the mailbox: order id, confirmed (else rejected), path.
fn decision_mails(dir: &Path) -> Vec<(String, bool, PathBuf)> {
    let mut out = Vec::new();
    let Ok(folders) = std::fs::read_dir(dir) else {
        return out;
    };
    for folder in folders.flatten() {
        let Ok(files) = std::fs::read_dir(folder.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".eml")) else {
                continue;
            };
            let (Some(order), Some(kind)) = (stem.split('.').next(), stem.rsplit('.').next())
            else {
                continue;
            };
            if kind == "confirmed" || kind == "rejected" {
                out.push((order.to_owned(), kind == "confirmed", file.path()));
            }
        }
    }
    out
}

/// Prints throughput and each stage's percentiles; says whether nothing was lost.
fn report(s: &Shared, plan: Plan, placed: usize, placing: Duration, wall: SystemTime) -> bool {
    // The orders still on their way count at the stages they reached.
    let mut figures = s.figures.clone();
    for t in s.incomplete() {
        figures.record(t);
    }
    let Figures {
        stages,
        confirmed,
        rejected,
        last_mail,
    } = figures;
    let posted = stages[0].len() as usize;
    let unanswered = placed.saturating_sub(posted + s.failed);
    let mailed = confirmed + rejected;
    let completing = last_mail
        .and_then(|at| at.duration_since(wall).ok())
        .unwrap_or_default();
    println!(
        "   open loop at {} orders/s for {}: {placed} of {} orders placed in {:.1} s ({:.1} orders/s), \
         {mailed} decided in {:.1} s ({:.1} orders/s): {confirmed} confirmed, {rejected} rejected",
        plan.rate,
        humantime::format_duration(plan.duration),
        plan.orders(),
        placing.as_secs_f64(),
        placed as f64 / placing.as_secs_f64().max(f64::EPSILON),
        completing.as_secs_f64(),
        mailed as f64 / completing.as_secs_f64().max(f64::EPSILON),
    );
    println!("   latency from each order's scheduled send time (ms):");
    println!(
        "     {:<42} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "stage", "orders", "p50", "p90", "p99", "max"
    );
    let ms = |us: u64| format!("{:.1}", us as f64 / 1000.0);
    for (name, h) in STAGES.iter().zip(&stages) {
        if h.is_empty() {
            println!("     {name:<42} {:>7}", 0);
            continue;
        }
        println!(
            "     {name:<42} {:>7} {:>9} {:>9} {:>9} {:>9}",
            h.len(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.9)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
        );
    }
    let mut ok = true;
    if s.failed > 0 {
        ok = false;
        println!(
            "   {} of {placed} POST /orders failed; the first: {}",
            s.failed,
            s.first_error.as_deref().unwrap_or("?")
        );
    }
    if unanswered > 0 {
        ok = false;
        println!("   {unanswered} of {placed} POST /orders were never answered");
    }
    let missing: Vec<String> = STAGES
        .iter()
        .zip(&stages)
        .filter(|(_, h)| (h.len() as usize) < posted)
        .map(|(name, h)| format!("{} without {name}", posted - h.len() as usize))
        .collect();
    if !missing.is_empty() {
        ok = false;
        println!(
            "   NOT everything played out within {}: of {posted} orders placed, {}",
            humantime::format_duration(plan.drain_timeout),
            missing.join(", ")
        );
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_decision_mails_are_picked_from_the_mailbox() {
        let dir = tempfile::tempdir().unwrap();
        let alice = dir.path().join("alice@example.com");
        std::fs::create_dir_all(&alice).unwrap();
        for name in [
            "o-1.1.received.eml",
            "o-1.2.confirmed.eml",
            "o-2.2.rejected.eml",
            "o-3.3.paid.eml",
            ".o-4.2.confirmed.tmp",
        ] {
            std::fs::write(alice.join(name), "").unwrap();
        }
        let mut found: Vec<(String, bool)> = decision_mails(dir.path())
            .into_iter()
            .map(|(order, confirmed, _)| (order, confirmed))
            .collect();
        found.sort();
        assert_eq!(found, [("o-1".to_owned(), true), ("o-2".to_owned(), false)]);
    }

    #[test]
    fn an_order_leaves_for_the_figures_once_seen_at_every_stage() {
        let mut s = Shared::default();
        let (now, wall) = (Instant::now(), SystemTime::now());
        // The tap may see the record before the POST's answer arrives.
        s.note("o-1", |t| t.created = Some(now + Duration::from_millis(20)));
        s.note("o-1", |t| {
            t.scheduled = Some((now, wall));
            t.answered = Some(now + Duration::from_millis(5));
        });
        s.note("o-1", |t| {
            t.inventory = Some(now + Duration::from_millis(40))
        });
        assert_eq!((s.mailed, s.incomplete().count()), (0, 1));
        s.note("o-1", |t| {
            t.mail = Some((wall + Duration::from_millis(80), false));
        });
        assert_eq!((s.mailed, s.incomplete().count()), (1, 0));
        assert!(s.orders.is_empty());
        let f = &s.figures;
        assert_eq!((f.confirmed, f.rejected), (0, 1));
        let p50: Vec<u64> = f.stages.iter().map(|h| h.value_at_quantile(0.5)).collect();
        for (got, want) in p50.iter().zip([5_000, 20_000, 40_000, 80_000]) {
            assert!(got.abs_diff(want) <= want / 100, "{p50:?}");
        }
    }
}
