//! `contracts acls`: the Kafka ACLs each service of the manifest and the registry need, derived
//! from the manifest (what each service publishes and consumes) and the runtime's topic naming
//! (dead-letter, retry and admin topics), as a table, `kafka-acls` commands or Strimzi
//! `KafkaUser` resources.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::ManifestArg;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    manifest: ManifestArg,
    /// Output: a Markdown table, `kafka-acls` commands, or Strimzi KafkaUser resources
    #[arg(long, default_value = "table", value_parser = ["table", "kafka-acls", "strimzi"])]
    format: String,
    /// The services' topic prefix (their --topic-prefix)
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// How many retry topics the services' consumers use (`<topic>.retry-N`)
    #[arg(long, default_value_t = 0)]
    retry_topics: usize,
    /// The principal of a service, SERVICE=PRINCIPAL (repeatable); default User:<service>
    #[arg(long = "principal", value_name = "SERVICE=PRINCIPAL", value_parser = parse_principal)]
    principals: Vec<(String, String)>,
    /// The registry's principal
    #[arg(long, default_value = "User:contracts-registry")]
    registry_principal: String,
    /// The principal that creates and configures the topics (`contracts topics apply` in the
    /// deployments' init step)
    #[arg(long, default_value = "User:contracts-init")]
    provisioner_principal: String,
    /// The registry's topic (its --topic)
    #[arg(long, env = "REGISTRY_TOPIC", default_value = "_schemas")]
    registry_topic: String,
    /// The Strimzi Kafka cluster the KafkaUser resources belong to (`strimzi.io/cluster`)
    #[arg(long, default_value = "my-cluster")]
    strimzi_cluster: String,
}

fn parse_principal(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((service, principal)) if !service.is_empty() && principal.contains(':') => {
            Ok((service.to_owned(), principal.to_owned()))
        }
        _ => Err(format!(
            "{s:?}: expected SERVICE=PRINCIPAL, such as order=User:order-service"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Resource {
    Topic,
    Group,
    Cluster,
}

/// One permission: `principal` may do `operation` on the resource, for `why`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Acl {
    principal: String,
    resource: Resource,
    name: String,
    operation: &'static str,
    why: &'static str,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let manifest = match args.manifest.load() {
        Ok(manifest) => manifest,
        Err(code) => return Ok(code),
    };
    let acls = derive(&manifest, &args);
    let out = match args.format.as_str() {
        "kafka-acls" => kafka_acls(&acls),
        "strimzi" => strimzi(&acls, &args.strimzi_cluster),
        _ => table(&acls),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

// The admin API's marks topic (`contracts_admin::kafka::DROPPED_SUFFIX`, which the CLI does not
// link: it needs the admin client only).
const DROPPED_SUFFIX: &str = ".dropped";

fn derive(manifest: &contracts_model::manifest::Manifest, args: &Args) -> Vec<Acl> {
    let prefixed = |topic: &str| format!("{}{topic}", args.topic_prefix);
    let mut acls = Vec::new();
    for service in &manifest.services {
        let principal = args
            .principals
            .iter()
            .find(|(name, _)| *name == service.name)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| format!("User:{}", service.name));
        let mut allow = |resource, name: String, operation, why| {
            acls.push(Acl {
                principal: principal.clone(),
                resource,
                name,
                operation,
                why,
            })
        };
        let topics_of = |names: &[String]| {
            let mut topics: Vec<&str> = manifest
                .events
                .iter()
                .filter(|e| names.contains(&e.name))
                .map(|e| e.topic.as_str())
                .collect();
            topics.sort_unstable();
            topics.dedup();
            topics
        };
        let produces = topics_of(&service.produces);
        for topic in &produces {
            allow(Resource::Topic, prefixed(topic), "Write", "publish");
            allow(Resource::Topic, prefixed(topic), "Describe", "publish");
        }
        if !produces.is_empty() {
            allow(
                Resource::Cluster,
                "kafka-cluster".into(),
                "IdempotentWrite",
                "idempotent producer (only brokers before Kafka 3.0 ask for it)",
            );
        }
        let consumes = topics_of(&service.consumes);
        if !consumes.is_empty() {
            let group = service.consumer_group.as_deref().unwrap_or(&service.name);
            allow(
                Resource::Group,
                group.into(),
                "Read",
                "consumer group, commits, lag",
            );
        }
        for topic in consumes {
            let topic = prefixed(topic);
            allow(Resource::Topic, topic.clone(), "Read", "consume");
            allow(Resource::Topic, topic.clone(), "Describe", "lag");
            allow(
                Resource::Topic,
                topic.clone(),
                "Write",
                "admin: replay dead letters",
            );
            let dead_letters = contracts_runtime::dead_letter_topic_name(&topic);
            for operation in ["Create", "Write", "Describe"] {
                allow(
                    Resource::Topic,
                    dead_letters.clone(),
                    operation,
                    "dead letters",
                );
            }
            allow(
                Resource::Topic,
                dead_letters.clone(),
                "Read",
                "admin: list dead letters",
            );
            let dropped = format!("{dead_letters}{DROPPED_SUFFIX}");
            for operation in ["Create", "Write", "Read", "Describe"] {
                allow(
                    Resource::Topic,
                    dropped.clone(),
                    operation,
                    "admin: drop dead letters",
                );
            }
            for n in 1..=args.retry_topics {
                let retry = contracts_runtime::retry_topic_name(&topic, n);
                for operation in ["Create", "Write", "Read", "Describe"] {
                    allow(Resource::Topic, retry.clone(), operation, "retry topics");
                }
            }
        }
    }
    // `contracts topics plan|apply`: every topic the manifest implies, the registry's included.
    let specs = manifest.topic_specs(&contracts_model::manifest::TopicOptions {
        prefix: args.topic_prefix.clone(),
        registry_topic: Some(args.registry_topic.clone()),
    });
    for spec in specs {
        for (operation, why) in [
            ("Create", "topics apply: creates it"),
            ("Describe", "topics plan: reads its partitions"),
            ("DescribeConfigs", "topics plan: reads its settings"),
            ("Alter", "topics apply: adds partitions"),
            ("AlterConfigs", "topics apply: changes settings"),
        ] {
            acls.push(Acl {
                principal: args.provisioner_principal.clone(),
                resource: Resource::Topic,
                name: spec.name.clone(),
                operation,
                why,
            });
        }
    }
    let registry = &args.registry_principal;
    for (operation, why) in [
        ("Create", "creates its topic when missing"),
        ("DescribeConfigs", "checks its topic is compacted"),
        ("Describe", "reads and writes schemas"),
        ("Read", "reads and writes schemas"),
        ("Write", "reads and writes schemas"),
    ] {
        acls.push(Acl {
            principal: registry.clone(),
            resource: Resource::Topic,
            name: args.registry_topic.clone(),
            operation,
            why,
        });
    }
    acls.push(Acl {
        principal: registry.clone(),
        resource: Resource::Cluster,
        name: "kafka-cluster".into(),
        operation: "IdempotentWrite",
        why: "idempotent producer (only brokers before Kafka 3.0 ask for it)",
    });
    acls.sort();
    acls.dedup_by(|a, b| {
        a.principal == b.principal
            && a.resource == b.resource
            && a.name == b.name
            && a.operation == b.operation
    });
    acls
}

fn table(acls: &[Acl]) -> String {
    let mut out = String::from(
        "| Principal | Resource | Name (literal) | Operations | Why |\n|---|---|---|---|---|\n",
    );
    for ((principal, resource, name), operations) in grouped(acls) {
        let mut why: Vec<&str> = acls
            .iter()
            .filter(|a| a.principal == principal && a.resource == resource && a.name == name)
            .map(|a| a.why)
            .collect();
        why.sort_unstable();
        why.dedup();
        let _ = writeln!(
            out,
            "| {principal} | {resource:?} | `{name}` | {} | {} |",
            operations.join(", "),
            why.join("; ")
        );
    }
    out
}

/// The ACLs of one principal on one resource, operations together.
fn grouped(acls: &[Acl]) -> BTreeMap<(&str, Resource, &str), Vec<&'static str>> {
    let mut out: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for acl in acls {
        out.entry((acl.principal.as_str(), acl.resource, acl.name.as_str()))
            .or_default()
            .push(acl.operation);
    }
    out
}

fn kafka_acls(acls: &[Acl]) -> String {
    let mut out = String::from(
        "#!/bin/sh\n# Kafka ACLs of the shop's services and the schema registry.\n\
         # BOOTSTRAP: the cluster; ADMIN_CONFIG: an admin's client properties file.\nset -e\n",
    );
    for ((principal, resource, name), operations) in grouped(acls) {
        let resource = match resource {
            Resource::Topic => format!("--topic '{name}'"),
            Resource::Group => format!("--group '{name}'"),
            Resource::Cluster => "--cluster".to_owned(),
        };
        let operations: String = operations
            .iter()
            .map(|o| format!(" --operation {o}"))
            .collect();
        let _ = writeln!(
            out,
            "kafka-acls.sh --bootstrap-server \"$BOOTSTRAP\" --command-config \"$ADMIN_CONFIG\" \
             --add --allow-principal '{principal}' {resource}{operations}"
        );
    }
    out
}

fn strimzi(acls: &[Acl], cluster: &str) -> String {
    let mut users: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((principal, resource, name), operations) in grouped(acls) {
        let resource = match resource {
            Resource::Topic => format!("{{ type: topic, name: \"{name}\", patternType: literal }}"),
            Resource::Group => format!("{{ type: group, name: \"{name}\", patternType: literal }}"),
            Resource::Cluster => "{ type: cluster }".to_owned(),
        };
        users.entry(principal).or_default().push(format!(
            "      - resource: {resource}\n        operations: [{}]\n",
            operations.join(", ")
        ));
    }
    let mut out = String::from(
        "# Kafka users of the shop's services and the schema registry, for a Strimzi-managed\n\
         # cluster (generated by `contracts acls --format strimzi`). Each user gets a SCRAM-SHA-512\n\
         # password in a Secret of its name, for the service's KAFKA_SASL_PASSWORD_FILE.\n",
    );
    for (principal, acls) in users {
        let name = principal.strip_prefix("User:").unwrap_or(principal);
        let _ = write!(
            out,
            "---\napiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaUser\nmetadata:\n  name: {name}\n  \
             labels:\n    strimzi.io/cluster: {cluster}\nspec:\n  authentication:\n    type: scram-sha-512\n  \
             authorization:\n    type: simple\n    acls:\n{}",
            acls.concat()
        );
    }
    out
}
