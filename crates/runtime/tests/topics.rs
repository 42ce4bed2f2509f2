//! `topics::create_missing` on a real broker (Tansu): it creates what is missing and leaves an
//! existing topic as it is, even when asked for other settings.

use std::time::Duration;

use contracts_runtime::topics;
use contracts_testkit::{shared_broker, unique_name};
use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

const TIMEOUT: Duration = Duration::from_secs(30);

fn partitions(admin: &AdminClient<DefaultClientContext>, topic: &str) -> usize {
    let md = admin
        .inner()
        .fetch_metadata(Some(topic), TIMEOUT)
        .expect("metadata");
    md.topics()[0].partitions().len()
}

#[tokio::test]
async fn an_existing_topic_counts_as_created_and_keeps_its_own_settings() {
    let broker = shared_broker();
    let admin: AdminClient<DefaultClientContext> = broker.client_config().create().unwrap();
    let (a, b) = (unique_name("topics-a"), unique_name("topics-b"));

    let first = [NewTopic::new(&a, 2, TopicReplication::Fixed(1))];
    let created = topics::create_missing(&admin, &first, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(created, vec![a.clone()]);

    // Asked again with other settings, beside a topic that is missing: only that one is created.
    let again = [
        NewTopic::new(&a, 4, TopicReplication::Fixed(1)).set("cleanup.policy", "compact"),
        NewTopic::new(&b, 1, TopicReplication::Fixed(1)),
    ];
    let created = topics::create_missing(&admin, &again, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(created, vec![b.clone()]);
    assert_eq!(
        partitions(&admin, &a),
        2,
        "the existing topic is left as it was"
    );

    assert!(
        topics::create_missing(&admin, &[], TIMEOUT)
            .await
            .unwrap()
            .is_empty()
    );
}
