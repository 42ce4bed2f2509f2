//! librdkafka's own statistics, exported on `/metrics` beside the runtime's metrics.
//!
//! librdkafka reports what happens inside a client every `statistics.interval.ms` (off unless
//! set; consumers set 5000 for their lag): per broker its connection state, request round trips
//! and queued requests; per client its queued messages; per partition its queues, fetch state
//! and lag. The runtime's producers and consumers hand each report to [`Metrics`], which keeps
//! the latest one per client and renders it on every scrape as `librdkafka_*` gauges (and a
//! few counters): a partition that is no longer assigned vanishes with the next report instead
//! of staying at its last value. Label names follow the runtime's metrics
//! (`messaging_destination_name`, `messaging_destination_partition_id`,
//! `messaging_consumer_group_name`); `client` is librdkafka's name of the client instance
//! (`rdkafka#producer-1`), unique in the process, and `client_type` is `producer` or
//! `consumer`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use rdkafka::client::ClientContext;
use rdkafka::statistics::Statistics;

use crate::metrics::Metrics;

/// Round trip to a broker, average over the last statistics window, in seconds.
pub const BROKER_RTT_AVG: &str = "librdkafka_broker_rtt_avg_seconds";
/// Round trip to a broker, 99th percentile over the last statistics window, in seconds.
pub const BROKER_RTT_P99: &str = "librdkafka_broker_rtt_p99_seconds";
/// 1 while the client's connection to a broker is up, 0 otherwise.
pub const BROKER_UP: &str = "librdkafka_broker_up";
/// Requests waiting to be sent to a broker.
pub const BROKER_OUTBUF_REQUESTS: &str = "librdkafka_broker_outbuf_requests";
/// Messages in the requests waiting to be sent to a broker.
pub const BROKER_OUTBUF_MESSAGES: &str = "librdkafka_broker_outbuf_messages";
/// Requests sent to a broker and waiting for its answer.
pub const BROKER_WAITRESP_REQUESTS: &str = "librdkafka_broker_waitresp_requests";
/// Messages in a producer's queues (librdkafka's `msg_cnt`).
pub const CLIENT_QUEUE_MESSAGES: &str = "librdkafka_client_queue_messages";
/// Bytes of the messages in a producer's queues (`msg_size`).
pub const CLIENT_QUEUE_BYTES: &str = "librdkafka_client_queue_bytes";
/// Messages queued for a partition by a producer, waiting or being sent.
pub const PARTITION_QUEUE_MESSAGES: &str = "librdkafka_partition_queue_messages";
/// Messages fetched for a partition and not yet handed to the consumer.
pub const PARTITION_FETCH_QUEUE_MESSAGES: &str = "librdkafka_partition_fetch_queue_messages";
/// The consumer's lag behind the partition's end, from the position it read (librdkafka's
/// `consumer_lag`; `messaging_kafka_consumer_lag` counts from the committed offset).
pub const PARTITION_CONSUMER_LAG: &str = "librdkafka_partition_consumer_lag";
/// 1 for the fetch state a consumer's partition is in (`state` label: `active`, `offset-query`,
/// `offset-wait`, `stopped`, ...).
pub const PARTITION_FETCH_STATE: &str = "librdkafka_partition_fetch_state";
/// Partitions assigned to a consumer in its group.
pub const CONSUMER_GROUP_ASSIGNED: &str = "librdkafka_consumer_group_assigned_partitions";

/// The latest statistics report of each client that shares a [`Metrics`].
#[derive(Debug, Default)]
pub(crate) struct Reports {
    latest: Mutex<BTreeMap<String, Report>>,
}

#[derive(Debug)]
struct Report {
    stats: Statistics,
    /// The consumer group of a consumer.
    group: Option<String>,
}

impl Reports {
    pub(crate) fn record(&self, stats: Statistics, group: Option<&str>) {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        latest.insert(
            stats.name.clone(),
            Report {
                stats,
                group: group.map(str::to_owned),
            },
        );
    }
}

type Labels = Vec<(&'static str, String)>;

/// One family's samples, gathered over every client before its descriptor is written (the text
/// format wants a family's samples together).
struct Family {
    name: &'static str,
    help: &'static str,
    counter: bool,
    samples: Vec<(Labels, f64)>,
}

impl Family {
    fn gauge(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            counter: false,
            samples: Vec::new(),
        }
    }

    fn counter(name: &'static str, help: &'static str) -> Self {
        Family {
            counter: true,
            ..Family::gauge(name, help)
        }
    }
}

const MICROS: f64 = 1e-6;

impl Collector for Reports {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if latest.is_empty() {
            return Ok(());
        }
        let mut up = Family::gauge(BROKER_UP, "1 while the client is connected to the broker.");
        let mut rtt_avg = Family::gauge(
            BROKER_RTT_AVG,
            "Round trip to the broker, average over the last statistics interval, in seconds.",
        );
        let mut rtt_p99 = Family::gauge(
            BROKER_RTT_P99,
            "Round trip to the broker, 99th percentile over the last statistics interval, in seconds.",
        );
        let mut outbuf = Family::gauge(
            BROKER_OUTBUF_REQUESTS,
            "Requests waiting to be sent to the broker.",
        );
        let mut outbuf_msgs = Family::gauge(
            BROKER_OUTBUF_MESSAGES,
            "Messages in the requests waiting to be sent to the broker.",
        );
        let mut waitresp = Family::gauge(
            BROKER_WAITRESP_REQUESTS,
            "Requests sent to the broker and waiting for its answer.",
        );
        // Counters without `_total`: the encoder appends it.
        let mut timeouts = Family::counter(
            "librdkafka_broker_request_timeouts",
            "Requests to the broker that timed out.",
        );
        let mut disconnects = Family::counter(
            "librdkafka_broker_disconnects",
            "Times the connection to the broker was lost.",
        );
        let mut queue = Family::gauge(
            CLIENT_QUEUE_MESSAGES,
            "Messages in the producer's queues, waiting or being sent.",
        );
        let mut queue_bytes = Family::gauge(
            CLIENT_QUEUE_BYTES,
            "Bytes of the messages in the producer's queues.",
        );
        let mut part_queue = Family::gauge(
            PARTITION_QUEUE_MESSAGES,
            "Messages the producer queued for the partition, waiting or being sent.",
        );
        let mut fetchq = Family::gauge(
            PARTITION_FETCH_QUEUE_MESSAGES,
            "Messages fetched for the partition and not yet handed to the consumer.",
        );
        let mut lag = Family::gauge(
            PARTITION_CONSUMER_LAG,
            "Messages between the consumer's position and the partition's end (librdkafka consumer_lag).",
        );
        let mut fetch_state = Family::gauge(
            PARTITION_FETCH_STATE,
            "1 for the fetch state the consumer's partition is in.",
        );
        let mut assigned = Family::gauge(
            CONSUMER_GROUP_ASSIGNED,
            "Partitions assigned to the consumer in its group.",
        );

        for report in latest.values() {
            let s = &report.stats;
            let mut client: Labels = vec![
                ("client", s.name.clone()),
                ("client_type", s.client_type.clone()),
            ];
            if let Some(group) = &report.group {
                client.push(("messaging_consumer_group_name", group.clone()));
            }
            let with = |extra: &[(&'static str, String)]| {
                let mut labels = client.clone();
                labels.extend_from_slice(extra);
                labels
            };
            let producer = s.client_type == "producer";
            if producer {
                queue.samples.push((client.clone(), s.msg_cnt as f64));
                queue_bytes
                    .samples
                    .push((client.clone(), s.msg_size as f64));
            }
            for broker in s.brokers.values().filter(|b| b.source != "internal") {
                let labels = with(&[("broker", broker.name.clone())]);
                up.samples
                    .push((labels.clone(), f64::from(u8::from(broker.state == "UP"))));
                if let Some(rtt) = broker.rtt.as_ref().filter(|w| w.cnt > 0) {
                    rtt_avg
                        .samples
                        .push((labels.clone(), rtt.avg as f64 * MICROS));
                    rtt_p99
                        .samples
                        .push((labels.clone(), rtt.p99 as f64 * MICROS));
                }
                outbuf
                    .samples
                    .push((labels.clone(), broker.outbuf_cnt as f64));
                outbuf_msgs
                    .samples
                    .push((labels.clone(), broker.outbuf_msg_cnt as f64));
                waitresp
                    .samples
                    .push((labels.clone(), broker.waitresp_cnt as f64));
                timeouts
                    .samples
                    .push((labels.clone(), broker.req_timeouts as f64));
                disconnects
                    .samples
                    .push((labels, broker.disconnects.unwrap_or(0).max(0) as f64));
            }
            for topic in s.topics.values() {
                // Partition -1 holds messages whose partition is not known yet.
                for p in topic.partitions.values().filter(|p| p.partition >= 0) {
                    let labels = with(&[
                        ("messaging_destination_name", topic.topic.clone()),
                        (
                            "messaging_destination_partition_id",
                            p.partition.to_string(),
                        ),
                    ]);
                    if producer {
                        part_queue
                            .samples
                            .push((labels, (p.msgq_cnt + p.xmit_msgq_cnt) as f64));
                    } else if p.desired {
                        fetchq.samples.push((labels.clone(), p.fetchq_cnt as f64));
                        if p.consumer_lag >= 0 {
                            lag.samples.push((labels.clone(), p.consumer_lag as f64));
                        }
                        let mut labels = labels;
                        labels.push(("state", p.fetch_state.clone()));
                        fetch_state.samples.push((labels, 1.0));
                    }
                }
            }
            if let Some(cgrp) = &s.cgrp {
                assigned
                    .samples
                    .push((client.clone(), f64::from(cgrp.assignment_size)));
            }
        }

        for family in [
            up,
            rtt_avg,
            rtt_p99,
            outbuf,
            outbuf_msgs,
            waitresp,
            timeouts,
            disconnects,
            queue,
            queue_bytes,
            part_queue,
            fetchq,
            lag,
            fetch_state,
            assigned,
        ] {
            if family.samples.is_empty() {
                continue;
            }
            let kind = if family.counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let mut metric = encoder.encode_descriptor(family.name, family.help, None, kind)?;
            for (labels, value) in &family.samples {
                let sample = metric.encode_family(labels)?;
                if family.counter {
                    ConstCounter::new(*value).encode(sample)?;
                } else {
                    ConstGauge::new(*value).encode(sample)?;
                }
            }
        }
        Ok(())
    }
}

/// The client context of the runtime's producers: hands librdkafka's statistics to
/// [`Metrics`].
#[derive(Debug, Clone)]
pub struct StatisticsContext {
    metrics: Metrics,
}

impl StatisticsContext {
    pub(crate) fn new(metrics: Metrics) -> Self {
        StatisticsContext { metrics }
    }
}

impl ClientContext for StatisticsContext {
    fn stats(&self, statistics: Statistics) {
        self.metrics.record_statistics(statistics, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as librdkafka writes it, trimmed to what the exporter reads.
    fn report(kind: &str, name: &str) -> Statistics {
        let json = serde_json::json!({
            "name": name, "client_id": "shop", "type": kind,
            "ts": 1, "time": 1, "age": 1, "replyq": 0,
            "msg_cnt": 3, "msg_size": 300, "msg_max": 100000, "msg_size_max": 1000000,
            "tx": 0, "tx_bytes": 0, "rx": 0, "rx_bytes": 0, "txmsgs": 0, "txmsg_bytes": 0,
            "rxmsgs": 0, "rxmsg_bytes": 0, "simple_cnt": 0, "metadata_cache_cnt": 1,
            "brokers": {
                "127.0.0.1:9092/1": broker("127.0.0.1:9092/1", "learned", "UP"),
                ":0/internal": broker(":0/internal", "internal", "INIT")
            },
            "topics": {
                "orders": {
                    "topic": "orders", "age": 1, "metadata_age": 1,
                    "batchsize": window(), "batchcnt": window(),
                    "partitions": {
                        "0": partition(0, true),
                        "1": partition(1, false),
                        "-1": partition(-1, false)
                    }
                }
            }
        });
        serde_json::from_value(json).unwrap()
    }

    fn window() -> serde_json::Value {
        serde_json::json!({"min": 0, "max": 0, "avg": 0, "sum": 0, "cnt": 0, "stddev": 0,
            "hdrsize": 0, "p50": 0, "p75": 0, "p90": 0, "p95": 0, "p99": 0, "p99_99": 0,
            "outofrange": 0})
    }

    fn broker(name: &str, source: &str, state: &str) -> serde_json::Value {
        let mut rtt = window();
        rtt["avg"] = 1500.into();
        rtt["p99"] = 4000.into();
        rtt["cnt"] = 2.into();
        serde_json::json!({"name": name, "nodeid": 1, "nodename": name, "source": source,
            "state": state, "stateage": 1, "outbuf_cnt": 2, "outbuf_msg_cnt": 5,
            "waitresp_cnt": 1, "waitresp_msg_cnt": 0, "tx": 10, "txbytes": 0, "txerrs": 0, "txidle": 0, "rxidle": 0,
            "txretries": 0, "req_timeouts": 0, "rx": 10, "rxbytes": 0, "rxerrs": 0,
            "rxcorriderrs": 0, "rxpartial": 0, "zbuf_grow": 0, "buf_grow": 0,
            "disconnects": 1, "rtt": rtt, "req": {}, "toppars": {}})
    }

    fn partition(p: i32, desired: bool) -> serde_json::Value {
        serde_json::json!({"partition": p, "broker": 1, "leader": 1, "desired": desired,
            "unknown": false, "msgq_cnt": 1, "msgq_bytes": 0, "xmit_msgq_cnt": 1,
            "xmit_msgq_bytes": 0, "fetchq_cnt": 4, "fetchq_size": 0, "fetch_state": "active",
            "query_offset": 0, "next_offset": 0, "app_offset": 7, "stored_offset": 0,
            "commited_offset": 0, "committed_offset": 0, "eof_offset": 0, "lo_offset": 0,
            "hi_offset": 10, "ls_offset": 10, "consumer_lag": 3, "consumer_lag_stored": 3,
            "txmsgs": 0, "txbytes": 0, "rxmsgs": 0, "rxbytes": 0, "msgs": 0,
            "rx_ver_drops": 0, "msgs_inflight": 0, "next_ack_seq": 0, "next_err_seq": 0,
            "acked_msgid": 0})
    }

    #[test]
    fn the_latest_report_of_each_client_renders_as_broker_queue_and_partition_metrics() {
        let m = Metrics::new();
        assert!(
            !m.render().contains("librdkafka_"),
            "nothing before a report"
        );
        m.record_statistics(report("producer", "rdkafka#producer-1"), None);
        m.record_statistics(report("consumer", "rdkafka#consumer-2"), Some("inventory"));
        let text = m.render();
        for line in [
            r#"librdkafka_broker_up{client="rdkafka#producer-1",client_type="producer",broker="127.0.0.1:9092/1"} 1"#,
            r#"librdkafka_broker_rtt_avg_seconds{client="rdkafka#producer-1",client_type="producer",broker="127.0.0.1:9092/1"} 0.0015"#,
            r#"librdkafka_broker_rtt_p99_seconds{client="rdkafka#consumer-2",client_type="consumer",messaging_consumer_group_name="inventory",broker="127.0.0.1:9092/1"} 0.004"#,
            r#"librdkafka_broker_outbuf_requests{client="rdkafka#producer-1",client_type="producer",broker="127.0.0.1:9092/1"} 2"#,
            r#"librdkafka_broker_outbuf_messages{client="rdkafka#producer-1",client_type="producer",broker="127.0.0.1:9092/1"} 5"#,
            r#"librdkafka_broker_disconnects_total{client="rdkafka#producer-1",client_type="producer",broker="127.0.0.1:9092/1"} 1"#,
            r#"librdkafka_client_queue_messages{client="rdkafka#producer-1",client_type="producer"} 3"#,
            r#"librdkafka_partition_queue_messages{client="rdkafka#producer-1",client_type="producer",messaging_destination_name="orders",messaging_destination_partition_id="0"} 2"#,
            r#"librdkafka_partition_consumer_lag{client="rdkafka#consumer-2",client_type="consumer",messaging_consumer_group_name="inventory",messaging_destination_name="orders",messaging_destination_partition_id="0"} 3"#,
            r#"librdkafka_partition_fetch_state{client="rdkafka#consumer-2",client_type="consumer",messaging_consumer_group_name="inventory",messaging_destination_name="orders",messaging_destination_partition_id="0",state="active"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert_eq!(text.matches("# TYPE librdkafka_broker_up gauge").count(), 1);
        // The internal broker, the unknown partition and partitions not assigned to the
        // consumer are left out; a consumer has no producer queue.
        assert!(!text.contains("internal"), "{text}");
        assert!(!text.contains(r#"partition_id="-1""#), "{text}");
        assert!(
            !text.contains(r#"librdkafka_partition_consumer_lag{client="rdkafka#consumer-2",client_type="consumer",messaging_consumer_group_name="inventory",messaging_destination_name="orders",messaging_destination_partition_id="1""#),
            "{text}"
        );
        assert!(
            !text.contains(r#"librdkafka_client_queue_messages{client="rdkafka#consumer-2""#),
            "{text}"
        );
    }

    #[test]
    fn a_newer_report_replaces_the_clients_earlier_one() {
        let m = Metrics::new();
        let mut first = report("producer", "rdkafka#producer-1");
        first.msg_cnt = 40;
        m.record_statistics(first, None);
        m.record_statistics(report("producer", "rdkafka#producer-1"), None);
        let text = m.render();
        assert!(
            text.contains(
                r#"librdkafka_client_queue_messages{client="rdkafka#producer-1",client_type="producer"} 3"#
            ),
            "{text}"
        );
        assert!(!text.contains("} 40\n"), "{text}");
    }
}
