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

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a Kafka error may go away by itself (a broker restarting, a full local queue, a
/// timeout), as opposed to one that will repeat (a message too large, a missing topic, denied
/// authorization).
pub fn is_retriable(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    match error.rdkafka_error_code() {
        Some(code) => matches!(
            code,
            QueueFull
                | MessageTimedOut
                | RequestTimedOut
                | OperationTimedOut
                | NetworkException
                | BrokerTransportFailure
                | AllBrokersDown
                | BrokerNotAvailable
                | LeaderNotAvailable
                | NotLeaderForPartition
                | NotEnoughReplicas
                | NotEnoughReplicasAfterAppend
                | NotCoordinator
                | CoordinatorNotAvailable
                | CoordinatorLoadInProgress
                | PreferredLeaderNotAvailable
                | KafkaStorageError
                | Resolve
                | Retry
                | ThrottlingQuotaExceeded
        ),
        None => matches!(error, KafkaError::Canceled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_broker_outages_are_retriable_and_size_or_auth_errors_are_not() {
        let production = |c| KafkaError::MessageProduction(c);
        assert!(is_retriable(&production(RDKafkaErrorCode::MessageTimedOut)));
        assert!(is_retriable(&production(RDKafkaErrorCode::QueueFull)));
        assert!(is_retriable(&production(RDKafkaErrorCode::AllBrokersDown)));
        assert!(!is_retriable(&production(
            RDKafkaErrorCode::MessageSizeTooLarge
        )));
        assert!(!is_retriable(&production(
            RDKafkaErrorCode::TopicAuthorizationFailed
        )));
        assert!(!is_retriable(&production(
            RDKafkaErrorCode::UnknownTopicOrPartition
        )));
    }
}
