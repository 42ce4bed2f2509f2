//! Fuzzing on the stable toolchain.
//!
//! Every decoder and parser that reads bytes or text someone else wrote is a [`Target`]: the
//! Avro binary reader and resolver, the generated events' decoders behind the Confluent framing,
//! the framing itself, the JSON, Avro-schema and Protobuf-schema parsers and the contracts
//! manifest. The driver ([`run`]) feeds a target generated inputs, reproducible from one seed:
//! mutations of its seed corpus (`fuzz/corpus/<target>/`) and structure-aware inputs (random
//! valid schemas with random data written for them, random JSON, `.proto` files and manifests),
//! themselves mutated half of the time. For every input it checks that
//!
//! - the target does not panic (caught; the input is saved and the run goes on),
//! - it finishes within the time budget, counted in CPU time of the thread that runs it so that a
//!   busy machine does not fail it (a slower input is a failure, saved; one that runs past the
//!   hang limit in wall time is saved by a watchdog thread, which then aborts the process),
//! - its allocations stay under the memory cap (counted by the global allocator in [`alloc`];
//!   an allocation past the cap saves the input and aborts).
//!
//! `cargo run -p contracts-fuzz --release -- --target all --inputs 10000000` is the long run;
//! `cargo test -p contracts-fuzz` runs a short pass of every target. `benches/README.md` has
//! the figures of the last long run.

pub mod alloc;
pub mod generate;
pub mod mutate;
pub mod targets;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// The random source of every generator: fast, and the same sequence for the same seed.
pub type Rng = SmallRng;

/// One decoder or parser under test.
pub trait Target: Sync {
    /// The name given to `--target`; also the corpus directory's name.
    fn name(&self) -> &'static str;
    /// The most one input may take in a release build.
    fn budget(&self) -> Duration;
    /// Seeds built in code (encoded events, the repository's schemas), besides the corpus files.
    fn builtin_seeds(&self) -> Vec<Vec<u8>>;
    /// Writes the next input into `out` (cleared by the caller).
    fn generate(&self, rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>);
    /// Feeds `input` to the code under test. Errors are expected; panics are failures.
    fn run(&self, input: &[u8]);
}

/// How one run goes.
#[derive(Debug, Clone)]
pub struct Config {
    pub inputs: u64,
    pub seed: u64,
    /// The CPU-time budget per input; `None` takes the target's own.
    pub budget: Option<Duration>,
    /// The most bytes one input may have live at once, beyond what was live before it.
    pub memory_cap: usize,
    /// An input still running after this long is taken for a hang: saved, then the process aborts.
    pub hang_limit: Duration,
    /// Where failing inputs are written.
    pub crash_dir: PathBuf,
    /// The run stops after this many failures.
    pub max_failures: usize,
    /// The run stops after this long, whatever `inputs` says.
    pub time_limit: Option<Duration>,
    /// Writes every input to `<crash_dir>/current-<target>` before running it: slow, but it
    /// leaves behind the input that killed the process in a way nothing can catch (a stack
    /// overflow).
    pub trace: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            inputs: 100_000,
            seed: 0,
            budget: None,
            memory_cap: 64 << 20,
            hang_limit: Duration::from_secs(30),
            crash_dir: PathBuf::from("fuzz/crashes"),
            max_failures: 10,
            trace: false,
            time_limit: None,
        }
    }
}

/// What went wrong with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    Panic(String),
    OverBudget(Duration),
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub input_number: u64,
    pub kind: FailureKind,
    /// The input, as saved; replay it with `--replay`.
    pub saved_to: PathBuf,
}

/// The figures of one run of one target.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: &'static str,
    pub seed: u64,
    pub inputs: u64,
    pub corpus_files: usize,
    pub wall: Duration,
    /// The budget of one input, in CPU time of the thread that runs it.
    pub budget: Duration,
    /// The most CPU time one input took.
    pub slowest: Duration,
    /// The length of the slowest input.
    pub slowest_len: usize,
    /// The most wall-clock time one input took (scheduling included).
    pub slowest_wall: Duration,
    /// The most bytes any one input had live at once (beyond what was live before it).
    pub peak_bytes: usize,
    pub longest_input: usize,
    pub failures: Vec<Failure>,
    /// Inputs over the budget once whose immediate re-run was within it: the first run was
    /// charged for something else (the kernel reclaiming memory for another process, say).
    pub not_reproduced: u64,
}

impl Report {
    /// One line for people.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} inputs in {:.1} s ({:.0}/s), seed {}, slowest {:.3} ms of CPU ({} bytes, budget {} ms), \
             slowest {:.3} ms of wall time, peak {} KiB per input, longest input {} bytes, {} failure(s), \
             {} over budget once but not on a re-run",
            self.target,
            self.inputs,
            self.wall.as_secs_f64(),
            self.inputs as f64 / self.wall.as_secs_f64().max(1e-9),
            self.seed,
            self.slowest.as_secs_f64() * 1e3,
            self.slowest_len,
            self.budget.as_millis(),
            self.slowest_wall.as_secs_f64() * 1e3,
            self.peak_bytes.div_ceil(1024),
            self.longest_input,
            self.failures.len(),
            self.not_reproduced,
        )
    }
}

// What the allocator cap and the watchdog need to save the input that killed the process.
static CURRENT_INPUT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static CRASH_FILE: Mutex<Option<PathBuf>> = Mutex::new(None);
static CLOCK: OnceLock<Instant> = OnceLock::new();
/// Nanoseconds since [`CLOCK`] at which the current input started, 0 while none runs.
static STARTED: AtomicU64 = AtomicU64::new(0);
static HANG_LIMIT_NS: AtomicU64 = AtomicU64::new(u64::MAX);
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn now_ns() -> u64 {
    CLOCK.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// Saves the current input to the crash file, says why, and aborts. Called by the allocator
/// cap and the watchdog, where unwinding is not possible.
pub(crate) fn report_fatal(why: &str) -> ! {
    let input = CURRENT_INPUT.lock().map(|i| i.clone()).unwrap_or_default();
    let path = CRASH_FILE.lock().ok().and_then(|p| p.clone());
    match path {
        Some(path) => match std::fs::write(&path, &input) {
            Ok(()) => eprintln!(
                "FATAL: {why}; the input ({} bytes) is saved in {}",
                input.len(),
                path.display()
            ),
            Err(e) => eprintln!(
                "FATAL: {why}; the input ({} bytes) could not be saved in {}: {e}: {input:?}",
                input.len(),
                path.display()
            ),
        },
        None => eprintln!("FATAL: {why}; input: {input:?}"),
    }
    std::process::abort();
}

fn start_watchdog() {
    static WATCHDOG: Once = Once::new();
    WATCHDOG.call_once(|| {
        std::thread::Builder::new()
            .name("fuzz-watchdog".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    let started = STARTED.load(Ordering::SeqCst);
                    let limit = HANG_LIMIT_NS.load(Ordering::SeqCst);
                    if started != 0 && now_ns().saturating_sub(started) > limit {
                        alloc::disarm();
                        report_fatal(&format!(
                            "an input has run for more than {:?} (the hang limit)",
                            Duration::from_nanos(limit)
                        ));
                    }
                }
            })
            .expect("the watchdog thread starts");
    });
}

/// Panics inside a target are caught and recorded, not printed: the hook keeps the message.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if STARTED.load(Ordering::SeqCst) != 0 {
                if let Ok(mut last) = LAST_PANIC.lock() {
                    *last = Some(info.to_string());
                }
            } else {
                default(info);
            }
        }));
    });
}

/// The seed corpus of `target`: every file in `fuzz/corpus/<target>/`, then its built-in seeds.
pub fn corpus(target: &dyn Target) -> Vec<Vec<u8>> {
    let dir = corpus_dir().join(target.name());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut seeds: Vec<Vec<u8>> = files
        .iter()
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::read(p).ok())
        .collect();
    seeds.extend(target.builtin_seeds());
    if seeds.is_empty() {
        seeds.push(Vec::new());
    }
    seeds
}

/// `fuzz/corpus` in the source tree.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// CPU time of the calling thread: what an input cost, whatever else the machine was doing.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// What one input cost and whether it panicked.
struct Outcome {
    wall: Duration,
    cpu: Duration,
    peak: usize,
    panicked: Option<String>,
}

/// Feeds one input to `target` under the budgets.
fn run_one(target: &dyn Target, input: &[u8], cap: usize) -> Outcome {
    if let Ok(mut current) = CURRENT_INPUT.lock() {
        current.clear();
        current.extend_from_slice(input);
    }
    let baseline = alloc::reset_peak();
    alloc::arm(baseline.saturating_add(cap));
    let start = Instant::now();
    let cpu_start = thread_cpu_time();
    STARTED.store(now_ns(), Ordering::SeqCst);
    let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(input)));
    STARTED.store(0, Ordering::SeqCst);
    let cpu = thread_cpu_time().saturating_sub(cpu_start);
    let wall = start.elapsed();
    alloc::disarm();
    let peak = alloc::peak().saturating_sub(baseline);
    let panicked = result.err().map(|payload| {
        LAST_PANIC
            .lock()
            .ok()
            .and_then(|mut p| p.take())
            .unwrap_or_else(|| {
                payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into())
            })
    });
    Outcome {
        wall,
        cpu,
        peak,
        panicked,
    }
}

fn save(dir: &Path, name: String, input: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Err(e) = std::fs::write(&path, input) {
        eprintln!("cannot save a failing input in {}: {e}", path.display());
    }
    path
}

/// Runs `config.inputs` generated inputs through `target`.
pub fn run(target: &dyn Target, config: &Config) -> Report {
    // The counters, the crash file and the watchdog are the process's: one run at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _running = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let budget = config.budget.unwrap_or_else(|| target.budget());
    let _ = std::fs::create_dir_all(&config.crash_dir);
    if let Ok(mut f) = CRASH_FILE.lock() {
        *f = Some(
            config
                .crash_dir
                .join(format!("fatal-{}-seed{}", target.name(), config.seed)),
        );
    }
    HANG_LIMIT_NS.store(config.hang_limit.as_nanos() as u64, Ordering::SeqCst);
    install_panic_hook();
    start_watchdog();

    let corpus = corpus(target);
    let mut rng = Rng::seed_from_u64(config.seed);
    let mut input = Vec::new();
    let mut report = Report {
        target: target.name(),
        seed: config.seed,
        inputs: 0,
        corpus_files: corpus.len(),
        wall: Duration::ZERO,
        budget,
        slowest: Duration::ZERO,
        slowest_len: 0,
        slowest_wall: Duration::ZERO,
        peak_bytes: 0,
        longest_input: 0,
        failures: Vec::new(),
        not_reproduced: 0,
    };
    let started = Instant::now();
    for n in 0..config.inputs {
        if n % 1024 == 0
            && config
                .time_limit
                .is_some_and(|limit| started.elapsed() > limit)
        {
            break;
        }
        input.clear();
        // The corpus itself first, unchanged, then generated inputs.
        match corpus.get(n as usize) {
            Some(seed) => input.extend_from_slice(seed),
            None => target.generate(&mut rng, &corpus, &mut input),
        }
        if config.trace {
            let _ = std::fs::write(
                config.crash_dir.join(format!("current-{}", target.name())),
                &input,
            );
        }
        let mut outcome = run_one(target, &input, config.memory_cap);
        // Inputs are deterministic: a slow one is slow again.
        if outcome.panicked.is_none() && outcome.cpu > budget {
            let again = run_one(target, &input, config.memory_cap);
            if again.cpu <= budget && again.panicked.is_none() {
                report.not_reproduced += 1;
                outcome.cpu = again.cpu;
            }
        }
        report.inputs += 1;
        report.longest_input = report.longest_input.max(input.len());
        report.peak_bytes = report.peak_bytes.max(outcome.peak);
        report.slowest_wall = report.slowest_wall.max(outcome.wall);
        if outcome.cpu > report.slowest {
            report.slowest = outcome.cpu;
            report.slowest_len = input.len();
        }
        let kind = match outcome.panicked {
            Some(message) => Some(FailureKind::Panic(message)),
            None if outcome.cpu > budget => Some(FailureKind::OverBudget(outcome.cpu)),
            None => None,
        };
        if let Some(kind) = kind {
            let what = match &kind {
                FailureKind::Panic(_) => "panic",
                FailureKind::OverBudget(_) => "slow",
            };
            let saved_to = save(
                &config.crash_dir,
                format!("{what}-{}-seed{}-input{n}", target.name(), config.seed),
                &input,
            );
            eprintln!(
                "{}: input {n} failed ({kind:?}); saved in {}",
                target.name(),
                saved_to.display()
            );
            report.failures.push(Failure {
                input_number: n,
                kind,
                saved_to,
            });
            if report.failures.len() >= config.max_failures {
                break;
            }
        }
    }
    report.wall = started.elapsed();
    report
}

/// Runs one saved input once, with the panic reported as usual: for reproducing a failure.
/// Returns the CPU time it took.
pub fn replay(target: &dyn Target, input: &[u8]) -> Duration {
    let start = thread_cpu_time();
    target.run(input);
    thread_cpu_time().saturating_sub(start)
}
