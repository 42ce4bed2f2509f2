//! `contracts topics plan|apply`: the manifest's topics on a Kafka cluster, with the
//! dead-letter, retry and registry topics they imply.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use contracts_model::manifest::TopicOptions;
use contracts_runtime::client_config::Scope;
use contracts_runtime::topics::{self, ClusterTopic, Plan};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use serde_json::json;

/// Exit code of `plan --exit-code` when changes are planned (as `check`'s findings).
const CHANGES_PLANNED: u8 = 100;

const TOPICS_HELP: &str = "\
Each [topics.<name>] of the manifest becomes a topic with its partitions, replication_factor,
min_insync_replicas, cleanup_policy and retention_ms; a topic with consumers also gets
<topic>.DLT and its retry_topics (<topic>.retry-<n>); the registry's topic (_schemas) gets one
partition, compacted. Topics are only ever created or grown: fewer partitions than a topic has,
or another replication factor, is an error, and nothing is deleted.

Exit codes: 0 nothing to do (or done), 100 changes planned (plan --exit-code), 1 errors.";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TopicsCommand,
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Print what `apply` would change on the cluster: topics to create, partitions to add,
    /// settings to set
    #[command(after_help = TOPICS_HELP)]
    Plan(PlanArgs),
    /// Make the cluster's topics as the manifest declares them; running it again changes
    /// nothing
    #[command(after_help = TOPICS_HELP)]
    Apply(ClusterArgs),
}

#[derive(Debug, clap::Args)]
struct PlanArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Exit with 100 when changes are planned (0 when the cluster is as declared)
    #[arg(long, env = "CONTRACTS_PLAN_EXIT_CODE")]
    exit_code: bool,
    /// How the plan is printed
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "CONTRACTS_PLAN_OUTPUT"
    )]
    output: Output,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct ClusterArgs {
    #[command(flatten)]
    manifest: crate::ManifestArg,
    /// Put before every topic name but the registry's, as the services' --topic-prefix does
    /// (`staging.` manages `staging.orders`)
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// The schema registry's topic, as `contracts registry serve --topic` names it
    #[arg(long, env = "REGISTRY_TOPIC", default_value = "_schemas")]
    registry_topic: String,
    /// Leave the registry's topic out (a registry that keeps its state elsewhere)
    #[arg(long, env = "CONTRACTS_NO_REGISTRY_TOPIC")]
    no_registry_topic: bool,
    /// How long each request to the cluster may take
    #[arg(
        long,
        env = "CONTRACTS_TOPICS_TIMEOUT_SECS",
        default_value_t = 30,
        value_name = "SECS"
    )]
    timeout_secs: u64,
    /// The bootstrap servers and the Kafka client's settings (properties files, -X, secrets from
    /// the environment), as `consume`, `produce` and every binary here take them.
    #[command(flatten)]
    kafka: crate::kafka::KafkaArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        TopicsCommand::Plan(args) => crate::remote::block_on(plan(args))?,
        TopicsCommand::Apply(args) => crate::remote::block_on(apply(args))?,
    }
}

/// Whether the broker lacks the request altogether (rather than refusing this change).
fn unsupported(e: &contracts_runtime::Error) -> bool {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode as C};
    matches!(
        e,
        contracts_runtime::Error::Kafka {
            source: KafkaError::AdminOp(C::UnsupportedFeature | C::UnsupportedVersion),
            ..
        }
    )
}

/// The manifest's topics, the cluster's, and the plan between them.
struct Planned {
    bootstrap: String,
    reasons: BTreeMap<String, String>,
    cluster: BTreeMap<String, ClusterTopic>,
    plan: Plan,
    admin: AdminClient<DefaultClientContext>,
}

/// `Err` is the exit code after the problems were printed.
async fn make_plan(args: &ClusterArgs) -> anyhow::Result<Result<Planned, ExitCode>> {
    let manifest = match args.manifest.load() {
        Ok(m) => m,
        Err(code) => return Ok(Err(code)),
    };
    let specs = manifest.topic_specs(&TopicOptions {
        prefix: args.topic_prefix.clone(),
        registry_topic: (!args.no_registry_topic).then(|| args.registry_topic.clone()),
    });
    // A refused login or an untrusted certificate says so, instead of timing out later.
    let kafka = args.kafka.connect().await?;
    let bootstrap = kafka.bootstrap.clone();
    let config = kafka.config(Scope::All);
    let admin: AdminClient<DefaultClientContext> =
        config.create().context("creating the Kafka admin client")?;
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    // Display, not the error chain: the runtime's Kafka errors already end with their cause.
    let cluster = topics::describe(&admin, &names, timeout)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan = match topics::plan(&specs, &cluster) {
        Ok(plan) => plan,
        Err(refusals) => {
            for r in &refusals {
                eprintln!("error: {r}");
            }
            eprintln!(
                "error: nothing was changed: the cluster's topics differ from {} in ways that \
                 creating topics, adding partitions and setting settings cannot fix",
                args.manifest.path.display()
            );
            return Ok(Err(ExitCode::from(1)));
        }
    };
    Ok(Ok(Planned {
        bootstrap,
        reasons: specs.into_iter().map(|s| (s.name, s.reason)).collect(),
        cluster,
        plan,
        admin,
    }))
}

async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let planned = match make_plan(&args.cluster).await? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let Planned {
        plan,
        reasons,
        bootstrap,
        ..
    } = &planned;
    match args.output {
        Output::Text => {
            println!(
                "{}: {} topics on {bootstrap}",
                args.cluster.manifest.path.display(),
                reasons.len()
            );
            for change in &plan.changes {
                println!("  {change}");
                println!("      for {}", reasons[change.topic()]);
            }
            if plan.is_empty() {
                println!("Nothing to change: every topic is as declared.");
            } else {
                println!(
                    "{} changes planned, {} topics as declared; `contracts topics apply` makes them.",
                    plan.changes.len(),
                    plan.unchanged.len()
                );
            }
        }
        Output::Json => {
            let changes: Vec<_> = plan
                .changes
                .iter()
                .map(|c| {
                    json!({
                        "topic": c.topic(),
                        "change": c.kind(),
                        "description": c.to_string(),
                        "reason": reasons[c.topic()],
                    })
                })
                .collect();
            let out = json!({ "changes": changes, "unchanged": plan.unchanged });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(if args.exit_code && !plan.is_empty() {
        ExitCode::from(CHANGES_PLANNED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn apply(args: ClusterArgs) -> anyhow::Result<ExitCode> {
    let planned = match make_plan(&args).await? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    if planned.plan.is_empty() {
        println!(
            "Nothing to change: all {} topics of {} are as declared on {}.",
            planned.reasons.len(),
            args.manifest.path.display(),
            planned.bootstrap
        );
        return Ok(ExitCode::SUCCESS);
    }
    let total = planned.plan.changes.len();
    // One step at a time, so each one done is printed before a later one fails.
    for (i, change) in planned.plan.changes.iter().enumerate() {
        let step = Plan {
            changes: vec![change.clone()],
            unchanged: Vec::new(),
        };
        if let Err(e) = topics::apply(&planned.admin, &step, &planned.cluster, timeout).await {
            eprintln!("error: {e}");
            if unsupported(&e) {
                eprintln!(
                    "help: this broker does not support the request (Tansu 0.6 has neither \
                     CreatePartitions nor AlterConfigs); make the change with the broker's own \
                     tools, or on a broker that supports it"
                );
            }
            eprintln!("error: {i} of {total} changes were made; the others were not tried");
            return Ok(ExitCode::from(1));
        }
        println!("  done: {change}");
    }
    println!("{total} changes made on {}.", planned.bootstrap);
    Ok(ExitCode::SUCCESS)
}
