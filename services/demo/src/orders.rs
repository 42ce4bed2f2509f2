//! The orders the demo places over HTTP and follows until they are decided, paid and shipped.

use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::feed::{AwaitedOrder, EventFeed, short};

/// An order the demo places: the customer, the lines, how far it goes once confirmed.
pub type Scenario = (&'static str, &'static [(&'static str, u32)], Progress);

/// One order the demo placed, and what became of it.
#[derive(Debug)]
pub struct PlacedOrder {
    pub id: String,
    pub posted: SystemTime,
    pub status: String,
    pub paid: bool,
    pub shipped: bool,
}

impl PlacedOrder {
    pub fn decided(&self) -> bool {
        self.status != "PENDING"
    }

    /// The mails the customer must get, by `X-Notification` kind.
    pub fn expected_mail(&self) -> Vec<&'static str> {
        let mut kinds = vec!["received"];
        match self.status.as_str() {
            "REJECTED" => kinds.push("rejected"),
            "PENDING" => {}
            _ => kinds.push("confirmed"),
        }
        if self.paid {
            kinds.push("paid");
        }
        if self.shipped {
            kinds.push("shipped");
        }
        kinds
    }

    /// What the feed waits for before the demo reports.
    pub fn awaited(&self) -> AwaitedOrder<'_> {
        AwaitedOrder {
            id: &self.id,
            status: &self.status,
            decided: self.decided(),
            mail: self.expected_mail(),
        }
    }
}

/// The orders the demo cycles through: who, what, and how far the order goes once confirmed.
pub const SCENARIOS: [Scenario; 4] = [
    (
        "alice@example.com",
        &[("tea", 2), ("mug", 1)],
        Progress::Ship,
    ),
    ("bob@example.com", &[("teapot", 6)], Progress::Ship),
    ("carol@example.com", &[("coffee", 1)], Progress::Pay),
    ("dave@example.com", &[("tea", 1)], Progress::Confirm),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Progress {
    Confirm,
    Pay,
    Ship,
}

/// Posts scenario `i`'s order (its customer and lines); the answer's status and the order.
pub async fn post_order(
    http: &reqwest::Client,
    base: &str,
    i: usize,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let (customer, lines, _) = SCENARIOS[i % SCENARIOS.len()];
    let body = json!({
        "customer": customer,
        "line_items": lines.iter().map(|(p, q)| json!({"product": p, "quantity": q})).collect::<Vec<_>>(),
    });
    let r = http
        .post(format!("{base}/orders"))
        .json(&body)
        .send()
        .await
        .context("POST /orders")?;
    let status = r.status();
    let order: Value = r.json().await.context("reading the order")?;
    if !status.is_success() {
        bail!("POST /orders answered {status}: {order}");
    }
    Ok((status, order))
}

pub async fn place_and_follow(
    http: &reqwest::Client,
    base: &str,
    feed: &EventFeed,
    i: usize,
    quiet: bool,
) -> anyhow::Result<PlacedOrder> {
    let (customer, lines, progress) = SCENARIOS[i % SCENARIOS.len()];
    let what: Vec<String> = lines.iter().map(|(p, q)| format!("{q}× {p}")).collect();
    let posted = SystemTime::now();
    let (status, order) = post_order(http, base, i).await?;
    let id = order["id"]
        .as_str()
        .context("the order has no id")?
        .to_owned();
    feed.say(&format!(
        "order-service: POST /orders from {customer} for {} → {} order {} {}",
        what.join(", "),
        status.as_u16(),
        short(&id),
        order["status"].as_str().unwrap_or("?")
    ));
    let mut placed = PlacedOrder {
        id,
        posted,
        status: "PENDING".into(),
        paid: false,
        shipped: false,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !placed.decided() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let o: Value = http
            .get(format!("{base}/orders/{}", placed.id))
            .send()
            .await?
            .json()
            .await?;
        placed.status = o["status"].as_str().unwrap_or("PENDING").to_owned();
    }
    if !placed.decided() {
        return Ok(placed);
    }
    feed.say(&format!(
        "order-service: order {} is {}",
        short(&placed.id),
        placed.status
    ));
    if placed.status != "CONFIRMED" {
        return Ok(placed);
    }
    for (step, body, needed) in [
        (
            "pay",
            json!({"payment_id": format!("psp-{i}")}),
            Progress::Pay,
        ),
        ("ship", json!({"carrier": "DHL"}), Progress::Ship),
    ] {
        if progress < needed {
            break;
        }
        let r = http
            .post(format!("{base}/orders/{}/{step}", placed.id))
            .json(&body)
            .send()
            .await?;
        let code = r.status();
        let o: Value = r.json().await?;
        if !code.is_success() {
            bail!("POST /orders/{}/{step} answered {code}: {o}", placed.id);
        }
        placed.status = o["status"].as_str().unwrap_or("?").to_owned();
        match step {
            "pay" => placed.paid = true,
            _ => placed.shipped = true,
        }
        if !quiet {
            feed.say(&format!(
                "order-service: POST /orders/{}/{step} → order is {}",
                short(&placed.id),
                placed.status
            ));
        }
    }
    Ok(placed)
}
