use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// What can go wrong setting up or running a producer or consumer (sending has its own
/// [`crate::SendError`], which hands the event back).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// librdkafka rejected a setting (a misspelt key, a bad value).
    #[error("invalid Kafka client setting: {0}")]
    Config(#[source] KafkaError),
    /// A Kafka operation failed; `what` says which.
    #[error("{what}: {source}")]
    Kafka {
        what: String,
        #[source]
        source: KafkaError,
    },
    /// The consumer's task panicked or was cancelled.
    #[error("the consumer task ended abnormally: {0}")]
    Task(String),
}

impl Error {
    /// Whether doing the same again may succeed ([`Retry::of`] of the Kafka error inside).
    pub fn retry(&self) -> Retry {
        match self {
            Error::Config(_) | Error::Task(_) => Retry::Permanent,
            Error::Kafka { source, .. } => Retry::of(source),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a failed Kafka operation is worth repeating: the one classification of librdkafka's
/// errors that every retry loop of the project uses (dead-letter and retry-topic writes,
/// the services' outbox relay, the registry's writes).
///
/// | Class | Errors | What the caller does |
/// |---|---|---|
/// | [`Retry::Transient`] | a full local queue (`QueueFull`); timeouts (`MessageTimedOut`, `RequestTimedOut`, `OperationTimedOut`, `TimedOutQueue`); the cluster moving (`BrokerTransportFailure`, `AllBrokersDown`, `BrokerNotAvailable`, `NetworkException`, `Resolve`, `LeaderNotAvailable`, `NotLeaderForPartition`, `FencedLeaderEpoch`, `UnknownLeaderEpoch`, `PreferredLeaderNotAvailable`, `ReplicaNotAvailable`, `NotController`, `NotCoordinator`, `CoordinatorNotAvailable`, `CoordinatorLoadInProgress`, `RebalanceInProgress`); too few replicas for now (`NotEnoughReplicas`, `NotEnoughReplicasAfterAppend`, `KafkaStorageError`); back-pressure (`ThrottlingQuotaExceeded`, `Retry`, `InProgress`); a request cancelled by shutdown | waits (exponential backoff) and repeats, in order |
/// | [`Retry::Permanent`] | the record itself (`MessageSizeTooLarge`, `InvalidMessageSize`, `MessageBatchTooLarge` (RecordListTooLarge), `InvalidRecord`, `InvalidMessage`, `CorruptMessage`, `UnsupportedForMessageFormat`, `UnsupportedCompressionType`, `InvalidTimestamp`, `BadMessage`, `KeySerialization`, `ValueSerialization`); where it goes (`InvalidTopic`, `UnknownTopic`, `UnknownTopicOrPartition`, `UnknownPartition`, `TopicDeletionDisabled`, `PolicyViolation`); who sends it (`TopicAuthorizationFailed`, `ClusterAuthorizationFailed`, `TransactionalIdAuthorizationFailed`, `SaslAuthenticationFailed`, `Authentication`, `SSL`, `UnsupportedSASLMechanism`, `IllegalSASLState`); settings (`InvalidRequiredAcks`, `InvalidConfig`, `InvalidArgument`, `UnsupportedVersion`, `UnsupportedFeature`); a client that librdkafka declared fatal (`Fatal`, `ProducerFenced`, `OutOfOrderSequenceNumber`, `InvalidProducerEpoch`, ...); and every error not listed as transient | stops repeating: the record is set aside (outbox), the partition stops (dead letter), the request fails (registry) |
///
/// An error that carries librdkafka's own verdict (`KafkaError::Transaction`, an
/// `rd_kafka_error_t`) is classified by it: `is_fatal()` is permanent, `is_retriable()` is
/// transient. A topic that does not exist is permanent on purpose: the project creates its
/// topics before use (brokers such as Tansu never create them on demand), so a missing one is a
/// deployment mistake that waiting will not fix, and it must be seen rather than retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// May go away by itself: repeat after a pause.
    Transient,
    /// Will fail the same way every time: do not repeat.
    Permanent,
}

impl Retry {
    pub fn of(error: &KafkaError) -> Self {
        use RDKafkaErrorCode as C;
        if let KafkaError::Transaction(e) = error {
            return if !e.is_fatal() && e.is_retriable() {
                Self::Transient
            } else {
                Self::Permanent
            };
        }
        if let KafkaError::MessageConsumptionFatal(_) = error {
            return Self::Permanent;
        }
        let transient = match error.rdkafka_error_code() {
            Some(code) => matches!(
                code,
                C::QueueFull
                    | C::MessageTimedOut
                    | C::RequestTimedOut
                    | C::OperationTimedOut
                    | C::TimedOutQueue
                    | C::NetworkException
                    | C::BrokerTransportFailure
                    | C::AllBrokersDown
                    | C::BrokerNotAvailable
                    | C::Resolve
                    | C::LeaderNotAvailable
                    | C::NotLeaderForPartition
                    | C::FencedLeaderEpoch
                    | C::UnknownLeaderEpoch
                    | C::PreferredLeaderNotAvailable
                    | C::ReplicaNotAvailable
                    | C::NotController
                    | C::NotEnoughReplicas
                    | C::NotEnoughReplicasAfterAppend
                    | C::NotCoordinator
                    | C::CoordinatorNotAvailable
                    | C::CoordinatorLoadInProgress
                    | C::RebalanceInProgress
                    | C::KafkaStorageError
                    | C::ThrottlingQuotaExceeded
                    | C::Retry
                    | C::InProgress
            ),
            None => matches!(error, KafkaError::Canceled),
        };
        if transient {
            Self::Transient
        } else {
            Self::Permanent
        }
    }

    pub fn is_transient(self) -> bool {
        self == Retry::Transient
    }
}

/// Whether a Kafka error may go away by itself (a broker restarting, a full local queue, a
/// timeout), as opposed to one that will repeat (a message too large, a missing topic, denied
/// authorization): `Retry::of(error).is_transient()`, see [`Retry`] for the table.
pub fn is_retriable(error: &KafkaError) -> bool {
    Retry::of(error).is_transient()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_broker_outages_are_retriable_and_size_or_auth_errors_are_not() {
        let production = |c| KafkaError::MessageProduction(c);
        for transient in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::RequestTimedOut,
            RDKafkaErrorCode::NotEnoughReplicas,
        ] {
            assert_eq!(
                Retry::of(&production(transient)),
                Retry::Transient,
                "{transient:?}"
            );
        }
        for permanent in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::MessageBatchTooLarge,
            RDKafkaErrorCode::InvalidRecord,
            RDKafkaErrorCode::InvalidTopic,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::ClusterAuthorizationFailed,
            RDKafkaErrorCode::SaslAuthenticationFailed,
            RDKafkaErrorCode::UnsupportedForMessageFormat,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::Fatal,
        ] {
            assert_eq!(
                Retry::of(&production(permanent)),
                Retry::Permanent,
                "{permanent:?}"
            );
            assert!(!is_retriable(&production(permanent)));
        }
        assert!(is_retriable(&KafkaError::Canceled));
        assert!(!is_retriable(&KafkaError::MessageConsumptionFatal(
            RDKafkaErrorCode::MessageTimedOut
        )));
    }
}
