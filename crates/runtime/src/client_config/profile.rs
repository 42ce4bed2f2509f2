//! Named groups of librdkafka settings: [`Profile`].

use std::fmt;

use super::Scope;

/// A named group of librdkafka settings that tunes a process's clients for latency or for
/// throughput (`--kafka-profile`). A profile is the lowest layer of
/// [`ClientSettings`](super::ClientSettings): anything given in a properties file, `-X`,
/// `--producer-config` or `--consumer-config` wins over it.
///
/// | setting (clients) | `Latency` | `Throughput` | librdkafka's default | what it trades |
/// |---|---|---|---|---|
/// | `fetch.wait.max.ms` (consumers) | 5 | 500 | 500 | how long the broker may hold a fetch waiting for data: low answers sooner, for many more fetch requests (broker CPU, also when idle) |
/// | `fetch.min.bytes` (consumers) | 1 | 65536 | 1 | how much data the broker waits for before it answers: high gives fewer, fuller fetches, each hop waiting up to `fetch.wait.max.ms` when traffic is low |
/// | `fetch.queue.backoff.ms` (consumers) | 10 | — | 1000 | how long a consumer whose local queue is full waits before fetching again: low catches up sooner after a backlog |
/// | `linger.ms` (producers) | 0 | 50 | 5 | how long a record waits for others to fill its batch: 0 sends at once; more gives bigger batches (fewer requests, better compression) |
/// | `batch.size` (producers) | — | 1000000 | 1000000 | the largest batch in bytes, which caps what lingering gathers |
/// | `compression.type` (producers) | none | lz4 | none | producer and consumer CPU for fewer bytes on the network and on disk; lz4 is the cheapest codec (Tansu 0.6 drops the connection of a consumer fetching snappy) |
///
/// `—`: left to librdkafka. On Tansu 0.6, which answers a fetch only when `fetch.wait.max.ms`
/// has passed, `fetch.wait.max.ms` sets each hop's latency (benches/README.md, "Kafka
/// runtime"); Apache Kafka answers a fetch as soon as `fetch.min.bytes` is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Profile {
    /// librdkafka's own defaults: consumers wait up to 500 ms for data, producers linger 5 ms.
    #[default]
    Default,
    /// Each record as soon as possible: short fetch waits, no lingering, no compression. Costs
    /// many more fetch requests (broker CPU, also when idle).
    Latency,
    /// Fewer, bigger requests: lingering producers, lz4 batches, fuller fetches. Each hop may
    /// wait up to 500 ms when traffic is low.
    Throughput,
}

/// One setting of a [`Profile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileSetting {
    /// Which clients it is for; consumer settings never reach a producer.
    pub scope: Scope,
    pub key: &'static str,
    pub value: &'static str,
}

const fn consumer(key: &'static str, value: &'static str) -> ProfileSetting {
    ProfileSetting {
        scope: Scope::Consumer,
        key,
        value,
    }
}

const fn producer(key: &'static str, value: &'static str) -> ProfileSetting {
    ProfileSetting {
        scope: Scope::Producer,
        key,
        value,
    }
}

const LATENCY: &[ProfileSetting] = &[
    consumer("fetch.wait.max.ms", "5"),
    consumer("fetch.min.bytes", "1"),
    consumer("fetch.queue.backoff.ms", "10"),
    producer("linger.ms", "0"),
    producer("compression.type", "none"),
];

const THROUGHPUT: &[ProfileSetting] = &[
    consumer("fetch.wait.max.ms", "500"),
    consumer("fetch.min.bytes", "65536"),
    producer("linger.ms", "50"),
    producer("batch.size", "1000000"),
    producer("compression.type", "lz4"),
];

impl Profile {
    /// Every profile, in the order `--help` lists them.
    pub const ALL: [Profile; 3] = [Profile::Default, Profile::Latency, Profile::Throughput];

    /// The name the flag takes (`--kafka-profile latency`).
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Latency => "latency",
            Profile::Throughput => "throughput",
        }
    }

    /// The settings the profile sets, each for its clients.
    pub fn settings(self) -> &'static [ProfileSetting] {
        match self {
            Profile::Default => &[],
            Profile::Latency => LATENCY,
            Profile::Throughput => THROUGHPUT,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}
