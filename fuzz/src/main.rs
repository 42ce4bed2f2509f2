//! The fuzz driver: `cargo run -p contracts-fuzz --release -- --target all --inputs 10000000`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use contracts_fuzz::{Config, Target, targets};

/// Feeds generated inputs to the project's decoders and parsers and checks that none panics,
/// takes longer than its time budget or allocates past the memory cap.
///
/// Failing inputs are saved in the crash directory; replay one with `--replay FILE`.
#[derive(Debug, Parser)]
#[command(name = "contracts-fuzz")]
struct Args {
    /// The target: all, wire, avro, events, json, avro-schema, protobuf-schema or manifest.
    #[arg(long, default_value = "all")]
    target: String,
    /// Inputs per target (the target's corpus first, then generated ones).
    #[arg(long, default_value_t = 100_000)]
    inputs: u64,
    /// The random seed: the same seed generates the same inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The CPU-time budget per input in milliseconds (default: the target's own, 10-100 ms).
    #[arg(long)]
    budget_ms: Option<u64>,
    /// The most memory one input may allocate, in MiB.
    #[arg(long, default_value_t = 64)]
    memory_cap_mib: usize,
    /// An input still running after this many seconds is saved and the process aborts.
    #[arg(long, default_value_t = 30)]
    hang_secs: u64,
    /// Where failing inputs are saved.
    #[arg(long, default_value = "fuzz/crashes")]
    crash_dir: PathBuf,
    /// Runs one saved input through `--target` instead of fuzzing, panics and all.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Writes every input to `<crash-dir>/current-<target>` before running it (slow), to keep
    /// the input that killed the process where nothing can catch it (a stack overflow).
    #[arg(long)]
    trace: bool,
    /// The stack of the thread inputs run on, in KiB: 2048 is what tokio gives the services'
    /// worker threads, where the decoders run.
    #[arg(long, default_value_t = 2048)]
    stack_kib: usize,
    /// Stops each target after this many seconds, whatever `--inputs` says.
    #[arg(long)]
    max_secs: Option<u64>,
    /// Lists the targets and exits.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let stack = args.stack_kib << 10;
    std::thread::Builder::new()
        .name("fuzz".into())
        .stack_size(stack)
        .spawn(move || fuzz(args))
        .expect("the fuzzing thread starts")
        .join()
        .unwrap_or(ExitCode::FAILURE)
}

fn fuzz(args: Args) -> ExitCode {
    if args.list {
        for t in targets::all() {
            println!("{}", t.name());
        }
        return ExitCode::SUCCESS;
    }
    let chosen: Vec<&'static dyn Target> = if args.target == "all" {
        targets::all()
    } else {
        match targets::by_name(&args.target) {
            Some(t) => vec![t],
            None => {
                let names: Vec<_> = targets::all().iter().map(|t| t.name()).collect();
                eprintln!(
                    "error: unknown target \"{}\"; the targets are all, {}",
                    args.target,
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        }
    };
    if let Some(path) = &args.replay {
        let input = match std::fs::read(path) {
            Ok(input) => input,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        for t in chosen {
            let took = contracts_fuzz::replay(t, &input);
            println!(
                "{}: ran in {took:?} of CPU time without panicking",
                t.name()
            );
        }
        return ExitCode::SUCCESS;
    }
    let config = Config {
        inputs: args.inputs,
        seed: args.seed,
        budget: args.budget_ms.map(Duration::from_millis),
        memory_cap: args.memory_cap_mib << 20,
        hang_limit: Duration::from_secs(args.hang_secs),
        crash_dir: args.crash_dir,
        trace: args.trace,
        time_limit: args.max_secs.map(Duration::from_secs),
        ..Config::default()
    };
    let mut failed = false;
    for t in chosen {
        let load_before = load_average();
        let report = contracts_fuzz::run(t, &config);
        println!(
            "{} (load average {load_before} before, {} after)",
            report.summary(),
            load_average()
        );
        failed |= !report.failures.is_empty();
    }
    if failed {
        eprintln!("failing inputs are in {}", config.crash_dir.display());
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The 1-, 5- and 15-minute load averages, which the figures of a run on a shared machine
/// must be read against.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
