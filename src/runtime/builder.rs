//! `Builder`: configuration (code and environment) → a running [`Runtime`].

use super::blocking::BlockingPool;
use super::cpu_watch::{CpuWatch, DEFAULT_CPU_CHECK_INTERVAL};
use super::lend::Lender;
use super::monitor;
use super::policy::{self, LANES};
use super::shared::{Shared, WorkerSlot};
use super::stuck::{LongPoll, LongPollHook, WatchdogConfig, DEFAULT_LONG_POLL_THRESHOLD};
use super::worker::worker_main;
use super::Runtime;
use crate::loom::deque::Worker;
use crate::loom::sync::Arc;
use crate::sys::{self, HintOutcome, ThreadQos};
use crate::topology::{env_text, CoreClass, Topology, TopologyError};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;
use std::time::Duration;

/// Environment variable: worker threads for performance cores (a count).
pub const ENV_P_WORKERS: &str = "HETSCHED_P_WORKERS";
/// Environment variable: worker threads for efficiency cores (a count).
pub const ENV_E_WORKERS: &str = "HETSCHED_E_WORKERS";
/// Environment variable: worker placement, `class` | `core` | `off`.
pub const ENV_PIN: &str = "HETSCHED_PIN";
/// Environment variable: per-class OS QoS hints, `on` | `off`.
pub const ENV_QOS_HINTS: &str = "HETSCHED_QOS_HINTS";
/// [`Builder::long_poll_threshold`] in milliseconds (`1`..=`3600000`), or `off`.
pub const ENV_LONG_POLL_MS: &str = "HETSCHED_LONG_POLL_MS";
/// [`Builder::cpu_check_interval`] in milliseconds (`1`..=`3600000`), or `off`.
pub const ENV_CPU_CHECK_MS: &str = "HETSCHED_CPU_CHECK_MS";
/// [`Builder::idle_spin`] in whole microseconds (`0`..=`1000000`; `0` or `off`: no spin).
pub const ENV_IDLE_SPIN_US: &str = "HETSCHED_IDLE_SPIN_US";
/// The default [`Builder::idle_spin`] while the process may use more than one CPU (none on
/// one CPU): 10 µs, longer than one round trip of a task handed between a thread outside
/// the runtime and a worker on the VM this was measured on (3.8–7.5 µs; BENCHMARKS.md,
/// "Spawn and await from outside").
pub const DEFAULT_IDLE_SPIN: Duration = Duration::from_micros(10);
/// The longest [`Builder::idle_spin`] (a longer one is cut to this).
pub const MAX_IDLE_SPIN: Duration = Duration::from_secs(1);
/// Environment variable: [`Builder::critical_workers`] (a count, default 0).
pub const ENV_CRITICAL_WORKERS: &str = "HETSCHED_CRITICAL_WORKERS";
/// Environment variable: [`Builder::qos_escalation`], `on` | `off` (default on).
pub const ENV_QOS_ESCALATION: &str = "HETSCHED_QOS_ESCALATION";
/// Environment variable: [`Builder::drive_io`], `on` | `off` (default on; no effect
/// without the `async-io` feature).
pub const ENV_DRIVE_IO: &str = "HETSCHED_DRIVE_IO";

/// Most workers of one class a runtime will start: far above any real core count, low
/// enough that a typo (`HETSCHED_P_WORKERS=80000`) is an error, not 80,000 threads.
pub const MAX_WORKERS_PER_CLASS: usize = 1024;

/// Where worker threads are placed.
///
/// Pinning is best-effort: where the OS refuses (macOS has no affinity API; a CPU went
/// offline) the worker runs unpinned and the outcome is in
/// [`WorkerMetrics::hints`](crate::WorkerMetrics::hints).
///
/// ```
/// use hetsched::Pin;
/// assert_eq!("core".parse::<Pin>().unwrap(), Pin::Core);
/// assert_eq!(Pin::from(false), Pin::Off);
/// assert_eq!(Pin::default(), Pin::Spill);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Pin {
    /// The default. Performance workers may run on any P CPU; efficiency workers may run
    /// on every CPU of the runtime at the lowest OS priority (`SCHED_IDLE` on Linux), and
    /// by default there is one E worker per CPU of either class. Efficiency work soaks up
    /// every CPU the P workers leave idle, the kernel moves it off a slow core onto an idle
    /// fast one, and a P worker that wakes preempts it at once. An idle P worker also
    /// *lends* the P CPUs to an E worker that has been in one poll for 1 ms or more (moves
    /// that thread onto them until it wakes or the poll ends; counted in
    /// [`WorkerMetrics::cpu_loans`](crate::WorkerMetrics::cpu_loans)), for kernels that do
    /// not know the cores are unequal. The right choice when finishing sooner matters more
    /// than keeping E work off P cores. On a machine with one core kind it is the same as
    /// `Class`.
    #[default]
    Spill,
    /// Each worker may run on any CPU of its class: the OS still balances within the
    /// class, a P worker never drifts onto an E core and E work never touches a P core
    /// (energy first; a long job that lands on an E core finishes there).
    Class,
    /// Worker `i` of a class is pinned to the `i`-th CPU of that class (wrapping around
    /// when there are more workers than CPUs).
    Core,
    /// No pinning: only QoS hints steer the OS.
    Off,
}

impl Pin {
    /// The name used by `HETSCHED_PIN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pin::Spill => "spill",
            Pin::Class => "class",
            Pin::Core => "core",
            Pin::Off => "off",
        }
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<bool> for Pin {
    /// `true` = [`Pin::Spill`] (the default placement), `false` = [`Pin::Off`].
    fn from(pin: bool) -> Pin {
        if pin {
            Pin::Spill
        } else {
            Pin::Off
        }
    }
}

impl FromStr for Pin {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Pin, ConfigError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "spill" => Ok(Pin::Spill),
            "class" => Ok(Pin::Class),
            "core" => Ok(Pin::Core),
            "off" => Ok(Pin::Off),
            _ => Err(ConfigError::invalid(
                "pin",
                text,
                "one of spill, class, core, off",
            )),
        }
    }
}

/// A configuration value was rejected: names the input (environment variable or builder
/// setting), the value, and what was expected.
///
/// ```
/// let err = hetsched::Builder::from_env_with(|name| {
///     (name == "HETSCHED_PIN").then(|| "sometimes".into())
/// })
/// .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "HETSCHED_PIN=\"sometimes\": expected one of spill, class, core, off"
/// );
/// ```
pub struct ConfigError {
    kind: ConfigErrorKind,
}

impl fmt::Debug for ConfigError {
    /// The same sentence as `Display`, so `fn main() -> Result<(), Box<dyn Error>>`
    /// prints something an operator can act on.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigError({:?})", self.to_string())
    }
}

#[derive(Debug)]
enum ConfigErrorKind {
    Invalid {
        input: String,
        value: String,
        expected: String,
    },
    Topology(TopologyError),
}

impl ConfigError {
    pub(crate) fn invalid(input: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError {
            kind: ConfigErrorKind::Invalid {
                input: input.to_string(),
                value: value.to_string(),
                expected: expected.to_string(),
            },
        }
    }

    fn renamed(self, input: &str) -> ConfigError {
        match self.kind {
            ConfigErrorKind::Invalid {
                value, expected, ..
            } => ConfigError::invalid(input, &value, &expected),
            other => ConfigError { kind: other },
        }
    }

    /// The environment variable or setting that was rejected.
    pub fn input(&self) -> Option<&str> {
        match &self.kind {
            ConfigErrorKind::Invalid { input, .. } => Some(input),
            ConfigErrorKind::Topology(_) => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ConfigErrorKind::Invalid {
                input,
                value,
                expected,
            } => write!(f, "{input}={value:?}: expected {expected}"),
            ConfigErrorKind::Topology(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ConfigErrorKind::Topology(err) => Some(err),
            ConfigErrorKind::Invalid { .. } => None,
        }
    }
}

impl From<TopologyError> for ConfigError {
    fn from(err: TopologyError) -> Self {
        ConfigError {
            kind: ConfigErrorKind::Topology(err),
        }
    }
}

impl From<ConfigError> for io::Error {
    fn from(err: ConfigError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, err)
    }
}

type Hook = std::sync::Arc<dyn Fn() + Send + Sync + 'static>;

/// Configures and starts a [`Runtime`].
///
/// Defaults: the detected topology, one worker per CPU of each class, workers pinned to
/// their class's CPUs, per-class QoS hints on. [`Builder::from_env`] starts from the
/// operator's environment instead (`HETSCHED_*`), and code can still override it.
///
/// ```
/// use hetsched::{Builder, CoreClass, Qos, Topology};
///
/// // Declare a two-class machine (P = CPU 0, E = CPU 1), as tests on any box can.
/// let topology = Topology::with_classes("0".parse().unwrap(), "1".parse().unwrap()).unwrap();
/// let rt = Builder::new()
///     .topology(topology)
///     .workers(CoreClass::Performance, 1)
///     .workers(CoreClass::Efficiency, 1)
///     .thread_name("myapp")
///     .build()
///     .unwrap();
/// let class = rt.block_on(rt.spawn_with(Qos::Interactive, async { hetsched::current_class() }));
/// assert_eq!(class.unwrap(), Some(CoreClass::Performance));
/// ```
#[derive(Clone)]
pub struct Builder {
    topology: Option<Topology>,
    workers: [Option<usize>; 2],
    /// The variable a worker count came from, if the environment set it (for errors).
    workers_from_env: [Option<&'static str>; 2],
    critical_workers: usize,
    qos_escalation: bool,
    drive_io: bool,
    #[cfg(feature = "tokio")]
    tokio_context: bool,
    pin: Pin,
    qos_hints: bool,
    thread_name: String,
    on_thread_start: Option<Hook>,
    on_thread_stop: Option<Hook>,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
    latency_sampling: bool,
    long_poll_threshold: Duration,
    on_long_poll: Option<LongPollHook>,
    cpu_check_interval: Duration,
    /// `None`: the default, which depends on the CPUs available (`policy::idle_spin`).
    idle_spin: Option<Duration>,
}

/// Default cap on blocking-pool threads (as tokio: blocking calls are mostly waiting).
pub const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// Default time an idle blocking-pool thread waits for work before it exits.
pub const DEFAULT_BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("topology", &self.topology)
            .field("workers", &self.workers)
            .field("critical_workers", &self.critical_workers)
            .field("qos_escalation", &self.qos_escalation)
            .field("drive_io", &self.drive_io)
            .field("pin", &self.pin)
            .field("qos_hints", &self.qos_hints)
            .field("thread_name", &self.thread_name)
            .field("idle_spin", &self.idle_spin)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Defaults, ignoring the environment.
    pub fn new() -> Builder {
        Builder {
            topology: None,
            workers: [None, None],
            workers_from_env: [None, None],
            critical_workers: 0,
            qos_escalation: true,
            drive_io: true,
            #[cfg(feature = "tokio")]
            tokio_context: false,
            pin: Pin::Spill,
            qos_hints: true,
            thread_name: "hetsched".to_string(),
            on_thread_start: None,
            on_thread_stop: None,
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
            blocking_keep_alive: DEFAULT_BLOCKING_KEEP_ALIVE,
            latency_sampling: true,
            long_poll_threshold: DEFAULT_LONG_POLL_THRESHOLD,
            on_long_poll: None,
            cpu_check_interval: DEFAULT_CPU_CHECK_INTERVAL,
            idle_spin: None,
        }
    }

    /// Defaults overridden by the operator's environment:
    /// `HETSCHED_P_CPUS`, `HETSCHED_E_CPUS`, `HETSCHED_SYSFS_ROOT` (the topology, see
    /// [`Topology::from_env`]), `HETSCHED_P_WORKERS`, `HETSCHED_E_WORKERS`,
    /// `HETSCHED_CRITICAL_WORKERS` (counts; see [`Builder::critical_workers`]),
    /// `HETSCHED_PIN` (`spill` | `class` | `core` | `off`), `HETSCHED_QOS_HINTS` and
    /// `HETSCHED_QOS_ESCALATION` and `HETSCHED_DRIVE_IO` (`on` | `off`; see
    /// [`Builder::qos_escalation`], [`Builder::drive_io`]),
    /// `HETSCHED_E_SPEED` (see [`Topology::speed`]), `HETSCHED_LONG_POLL_MS` (see
    /// [`Builder::long_poll_threshold`]), `HETSCHED_CPU_CHECK_MS` (see
    /// [`Builder::cpu_check_interval`]), `HETSCHED_IDLE_SPIN_US` (see [`Builder::idle_spin`]).
    /// Unset or empty variables keep the default; a malformed value is an error naming
    /// the variable, the value and what was expected.
    pub fn from_env() -> Result<Builder, ConfigError> {
        Builder::from_env_with(|name| std::env::var_os(name))
    }

    /// [`Builder::from_env`] with a custom variable lookup (for tests and embedders that
    /// keep configuration elsewhere).
    pub fn from_env_with(
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Builder, ConfigError> {
        let var = |name: &str| -> Result<Option<String>, ConfigError> {
            env_text(&lookup, name)
                .map_err(|value| ConfigError::invalid(name, &value, "valid UTF-8 text"))
        };
        let mut builder = Builder::new();
        for (name, class) in [
            (ENV_P_WORKERS, CoreClass::Performance),
            (ENV_E_WORKERS, CoreClass::Efficiency),
        ] {
            if let Some(text) = var(name)? {
                builder.workers[class.index()] = Some(parse_worker_count(name, &text)?);
                builder.workers_from_env[class.index()] = Some(name);
            }
        }
        if let Some(text) = var(ENV_PIN)? {
            builder.pin = text.parse::<Pin>().map_err(|e| e.renamed(ENV_PIN))?;
        }
        if let Some(text) = var(ENV_CRITICAL_WORKERS)? {
            builder.critical_workers = parse_worker_count(ENV_CRITICAL_WORKERS, &text)?;
        }
        if let Some(text) = var(ENV_QOS_HINTS)? {
            builder.qos_hints = parse_on_off(ENV_QOS_HINTS, &text)?;
        }
        if let Some(text) = var(ENV_QOS_ESCALATION)? {
            builder.qos_escalation = parse_on_off(ENV_QOS_ESCALATION, &text)?;
        }
        if let Some(text) = var(ENV_DRIVE_IO)? {
            builder.drive_io = parse_on_off(ENV_DRIVE_IO, &text)?;
        }
        if let Some(text) = var(ENV_LONG_POLL_MS)? {
            builder.long_poll_threshold = parse_ms_or_off(ENV_LONG_POLL_MS, &text)?;
        }
        if let Some(text) = var(ENV_CPU_CHECK_MS)? {
            builder.cpu_check_interval = parse_ms_or_off(ENV_CPU_CHECK_MS, &text)?;
        }
        if let Some(text) = var(ENV_IDLE_SPIN_US)? {
            builder.idle_spin = Some(parse_idle_spin(&text)?);
        }
        builder.topology = Some(Topology::from_env_with(&lookup)?);
        Ok(builder)
    }

    /// Use this topology instead of detecting one.
    pub fn topology(mut self, topology: Topology) -> Builder {
        self.topology = Some(topology);
        self
    }

    /// Run `n` workers for `class` (default: one per CPU of that class, except E workers
    /// under [`Pin::Spill`]: one per CPU of either class on a machine with E cores). Zero efficiency
    /// workers is fine (background work then runs on performance workers, below every
    /// other lane); zero performance workers is refused by [`Builder::build`], because
    /// latency-critical tasks run only on performance workers.
    pub fn workers(mut self, class: CoreClass, n: usize) -> Builder {
        self.workers[class.index()] = Some(n);
        self.workers_from_env[class.index()] = None;
        self
    }

    /// Run `n` *critical workers* (default 0): extra threads that take only the Critical
    /// lane ([`Qos::Interactive`](crate::Qos::Interactive) and
    /// [`Qos::UserInitiated`](crate::Qos::UserInitiated) tasks) at a raised OS priority, so
    /// that the kernel preempts a batch chunk for latency-critical work instead of letting
    /// it wait for the chunk to end (on a cooperative runtime with every worker busy, a
    /// Critical task otherwise waits for some running poll to return).
    ///
    /// - They never take another lane, never steal one, and sleep on their own idle list:
    ///   Default, Utility or Background work never wakes them, so idle they cost nothing.
    ///   Critical work wakes a sleeping critical worker first, then a P worker as before.
    /// - They run on every P CPU (the kernel picks whichever is free; [`Pin::Off`]: anywhere)
    ///   and ask for a raised priority: on Linux nice −10 (needs `CAP_SYS_NICE` or an
    ///   `RLIMIT_NICE` of at least 30), on macOS `QOS_CLASS_USER_INTERACTIVE`. A refusal
    ///   leaves them at the normal priority; the outcome is in
    ///   [`WorkerMetrics::hints`](crate::WorkerMetrics::hints) (`priority`).
    /// - A task that hogs one: a Critical poll on a critical worker that uses more CPU time than
    ///   [`CRITICAL_POLL_LIMIT`](crate::runtime::CRITICAL_POLL_LIMIT) (1 ms) demotes its task
    ///   to the Default lane for the rest of its life, counted in
    ///   [`WorkerMetrics::demotions`](crate::WorkerMetrics::demotions).
    ///
    /// They are named `{prefix}-c-N`, report [`CoreClass::Performance`] as their class and
    /// [`WorkerRole::Critical`](crate::WorkerRole::Critical) as their role.
    /// `HETSCHED_CRITICAL_WORKERS` sets the count from the environment. Why 0 by default:
    /// with a P worker idle, a Critical task already starts within microseconds; critical
    /// workers pay off when every worker may be busy with long polls (see README, "Lanes").
    ///
    /// ```
    /// use hetsched::{Qos, WorkerRole};
    ///
    /// let rt = hetsched::Builder::new().critical_workers(1).build()?;
    /// let worker = rt.block_on(rt.spawn_with(Qos::Interactive, async {
    ///     std::thread::current().name().map(str::to_owned)
    /// }))?;
    /// println!("polled on {worker:?}"); // a critical worker, `hetsched-c-0`, if it was idle
    /// let metrics = rt.metrics();
    /// let critical: Vec<_> = metrics.workers_with_role(WorkerRole::Critical).collect();
    /// assert_eq!(critical.len(), 1);
    /// // Only Critical work ever runs there.
    /// assert_eq!(critical[0].polls(), critical[0].polls_by_lane[hetsched::Lane::Critical.index()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn critical_workers(mut self, n: usize) -> Builder {
        self.critical_workers = n;
        self
    }

    /// Qos escalation across `JoinHandle` waits (default on): a task that awaits the
    /// [`JoinHandle`](crate::JoinHandle) of a task with a lower Qos raises that task to its
    /// own Qos, never lowers it, from the awaited task's next scheduling on; one queued in a
    /// lower lane is moved to the new lane at once. [`JoinHandle::qos`](crate::JoinHandle::qos)
    /// reports the effective Qos, [`WorkerMetrics::escalations`](crate::WorkerMetrics::escalations)
    /// counts raises. Off exists to measure what it buys (`HETSCHED_QOS_ESCALATION=off`).
    ///
    /// Not covered: waits with no owner to raise (a channel, a mutex, an event), a
    /// `JoinHandle` awaited from outside a task (`block_on`, another executor), and tasks
    /// spawned by the raised task (they keep the Qos they were spawned with).
    pub fn qos_escalation(mut self, on: bool) -> Builder {
        self.qos_escalation = on;
        self
    }

    /// With the `async-io` feature (on with `hyper`): idle workers drive async-io's I/O
    /// reactor while they sleep (default on). A socket that becomes ready then wakes its
    /// task on a sleeping worker, which often runs it itself, instead of on async-io's own
    /// thread, which would have to wake a worker: one thread hop less per I/O event.
    /// Workers at the idle OS priority (E workers under [`Pin::Spill`]) never drive it
    /// ([`policy::drives_reactor`](crate::runtime::policy::drives_reactor)); tasks it wakes
    /// are scheduled in their own lanes as always. Without the feature this setting does
    /// nothing (`HETSCHED_DRIVE_IO=off` turns it off from the environment).
    ///
    /// ```
    /// let rt = hetsched::Builder::new().drive_io(false).build()?;
    /// # drop(rt);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn drive_io(mut self, on: bool) -> Builder {
        self.drive_io = on;
        self
    }

    /// With the `tokio` feature: give the runtime's threads a tokio context (default off),
    /// for libraries that need tokio's reactor or timer (reqwest, tower's timeout,
    /// `tokio::net`, `tokio::time`); every worker and every `block_on` caller enters it.
    /// With [`drive_io`](Self::drive_io) on (the default), the workers drive tokio's I/O and
    /// timers themselves (a sleeping worker waits in tokio's reactor, a busy one runs it
    /// once every [`FAIR_INTERVAL`](crate::runtime::FAIR_INTERVAL) polls), so a ready
    /// tokio socket wakes its task on a worker; with it off, a one-thread tokio runtime,
    /// `{prefix}-tokio`, drives them and each event hops through that thread. Tasks
    /// `tokio::spawn` starts run where the drivers run, outside hetsched's lanes: spawn
    /// with hetsched.
    ///
    /// ```
    /// let rt = hetsched::Builder::new().tokio_context(true).build()?;
    /// rt.block_on(rt.spawn(async {
    ///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    /// }))
    /// .unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "tokio")]
    pub fn tokio_context(mut self, on: bool) -> Builder {
        self.tokio_context = on;
        self
    }

    /// Worker placement: a [`Pin`], or `true` / `false` for [`Pin::Spill`] / [`Pin::Off`].
    pub fn pin(mut self, pin: impl Into<Pin>) -> Builder {
        self.pin = pin.into();
        self
    }

    /// Per-class OS QoS hints (default on): performance workers ask for
    /// `QOS_CLASS_USER_INTERACTIVE` on macOS and a high uclamp minimum on Linux;
    /// efficiency workers `QOS_CLASS_UTILITY` and a low uclamp maximum.
    pub fn qos_hints(mut self, on: bool) -> Builder {
        self.qos_hints = on;
        self
    }

    /// Prefix of worker thread names: workers are named `{prefix}-p-N`, `{prefix}-e-N` and
    /// `{prefix}-c-N` (critical workers) (default prefix `hetsched`).
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.thread_name = prefix.into();
        self
    }

    /// Cap the blocking pool ([`spawn_blocking`](crate::spawn_blocking)) at `n` threads
    /// (default [`DEFAULT_MAX_BLOCKING_THREADS`]; 0 is taken as 1). Jobs beyond the cap
    /// wait in a queue.
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// How long an idle blocking-pool thread waits for work before exiting (default
    /// [`DEFAULT_BLOCKING_KEEP_ALIVE`]).
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.blocking_keep_alive = keep_alive;
        self
    }

    /// Sample wake-to-poll latency into the per-lane histograms of
    /// [`Runtime::metrics`](crate::Runtime::metrics) (default on: every latency-critical
    /// scheduling and one in [`LATENCY_SAMPLE_EVERY`](crate::runtime::LATENCY_SAMPLE_EVERY) of
    /// the others are timed). Off exists to measure its cost; see BENCHMARKS.md.
    pub fn latency_sampling(mut self, on: bool) -> Builder {
        self.latency_sampling = on;
        self
    }

    /// Count a poll that runs longer than `threshold` as stuck (per lane, in
    /// [`LaneMetrics`](super::LaneMetrics)) and report it through
    /// [`Builder::on_long_poll`]; a watchdog on the runtime's monitor thread samples the
    /// workers every `threshold / 4` (no clock is read on the poll path). Default
    /// [`DEFAULT_LONG_POLL_THRESHOLD`] (10 ms); `Duration::ZERO` turns it off. `HETSCHED_LONG_POLL_MS` sets it from the environment.
    pub fn long_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.long_poll_threshold = threshold;
        self
    }

    /// How often the runtime checks which CPUs the process may use (a cgroup cpuset that
    /// shrinks or grows under it, a CPU taken offline): default
    /// [`DEFAULT_CPU_CHECK_INTERVAL`](crate::runtime::DEFAULT_CPU_CHECK_INTERVAL) (100 ms),
    /// one `sched_getaffinity` call per check on the runtime's monitor thread;
    /// `Duration::ZERO` turns it off. After a change every pinned worker re-places itself
    /// on what is allowed: its own CPUs that are left, else its class's, else any allowed
    /// CPU (reported as displaced); when the CPUs come back, so does its placement. The
    /// kernel keeps every thread running on allowed CPUs either way; the check keeps the
    /// P/E placement and reports it ([`RuntimeMetrics::allowed_cpus`],
    /// [`RuntimeMetrics::cpu_set_changes`], [`WorkerMetrics::cpus_now`]). Linux only: on
    /// other systems there is nothing to check and no thread runs for it.
    /// `HETSCHED_CPU_CHECK_MS` sets it from the environment.
    ///
    /// [`RuntimeMetrics::allowed_cpus`]: crate::RuntimeMetrics::allowed_cpus
    /// [`RuntimeMetrics::cpu_set_changes`]: crate::RuntimeMetrics::cpu_set_changes
    /// [`WorkerMetrics::cpus_now`]: crate::WorkerMetrics::cpus_now
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = hetsched::Builder::new()
    ///     .cpu_check_interval(Duration::from_millis(20))
    ///     .build()?;
    /// let metrics = rt.metrics();
    /// assert_eq!(metrics.cpu_set_changes, 0);
    /// for worker in &metrics.workers {
    ///     assert!(!worker.displaced);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn cpu_check_interval(mut self, interval: Duration) -> Builder {
        self.cpu_check_interval = interval;
        self
    }

    /// How long a worker that has run out of work keeps looking for more before it goes
    /// to sleep. `Duration::ZERO`: it sleeps at once; longer than [`MAX_IDLE_SPIN`] is cut
    /// to that. `HETSCHED_IDLE_SPIN_US` sets it from the environment. Unset, it is
    /// [`DEFAULT_IDLE_SPIN`] (10 µs) while the process may use more than one CPU, and zero
    /// on one CPU (an affinity mask or a cgroup CPU quota of one; counted from the process's
    /// own placement, whichever of its threads builds the runtime, and kept at the default
    /// where the OS does not say), following changes that the CPU watch
    /// ([`Builder::cpu_check_interval`]) sees; a spin that was set is used as is. [`RuntimeMetrics::idle_spin`](crate::RuntimeMetrics::idle_spin) says which.
    ///
    /// Waking a sleeping thread takes a system call and, when its CPU is idle, the time
    /// that CPU needs to wake up (several microseconds on a VM). A task handed back and
    /// forth between a thread outside the runtime and a worker (`block_on` spawning and
    /// awaiting one task after another) pays that twice per task, unless the worker is
    /// still looking when the next task arrives. The looking worker counts as a searcher,
    /// so a spawn meanwhile wakes nobody else; a worker starts looking only if no other of
    /// its role searches. It watches the injectors (where work from outside arrives), and
    /// its peers' queues only after 50 µs. Critical workers and workers at the idle OS
    /// priority never look (they sleep at once).
    ///
    /// The cost: up to this much CPU each time a worker runs out of work (and again after
    /// each task it finds and loses to a peer). Where a runtime's workers share one CPU
    /// with the threads that feed them, the looking worker holds the CPU those threads
    /// need: hence no default spin on one CPU (on a one-CPU mask, spawning and awaiting
    /// one task after another from `block_on` ran at 0.83x tokio with the spin and 1.05x
    /// without; BENCHMARKS.md, "One CPU"). A worker looking does not drive the I/O reactor or tokio's
    /// drivers meanwhile (sleeping workers do), so a spin much longer than the default
    /// delays their events on a runtime whose every worker looks.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // A deployment that counts every microsecond of CPU: sleep as soon as idle.
    /// let rt = hetsched::Builder::new().idle_spin(Duration::ZERO).build().unwrap();
    /// assert_eq!(rt.block_on(rt.spawn(async { 1 + 1 })).unwrap(), 2);
    /// assert_eq!(rt.metrics().idle_spin, Duration::ZERO);
    /// ```
    pub fn idle_spin(mut self, spin: Duration) -> Builder {
        self.idle_spin = Some(spin.min(MAX_IDLE_SPIN));
        self
    }

    /// Call `hook` on the runtime's monitor thread when a poll has run longer than the
    /// [`long_poll_threshold`](Builder::long_poll_threshold), while it is still running,
    /// once per task: log the culprit. The hook should be quick (it delays the next
    /// sample); a panic in it is caught.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    ///
    /// let reports = Arc::new(Mutex::new(Vec::new()));
    /// let seen = reports.clone();
    /// let rt = hetsched::Builder::new()
    ///     .long_poll_threshold(Duration::from_millis(20))
    ///     .on_long_poll(move |stuck| seen.lock().unwrap().push(stuck.lane))
    ///     .build()?;
    /// // A task that blocks its worker for 100 ms (never do this: use spawn_blocking).
    /// rt.block_on(rt.spawn(async { std::thread::sleep(Duration::from_millis(100)) }))?;
    /// assert_eq!(*reports.lock().unwrap(), [hetsched::Lane::Default]);
    /// assert_eq!(rt.metrics().lane(hetsched::Lane::Default).long_polls, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_long_poll(mut self, hook: impl Fn(&LongPoll) + Send + Sync + 'static) -> Builder {
        self.on_long_poll = Some(std::sync::Arc::new(hook));
        self
    }

    /// Run `hook` on every worker thread when it starts, after placement and QoS hints.
    pub fn on_thread_start(mut self, hook: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_thread_start = Some(std::sync::Arc::new(hook));
        self
    }

    /// Run `hook` on every worker thread just before it exits.
    pub fn on_thread_stop(mut self, hook: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_thread_stop = Some(std::sync::Arc::new(hook));
        self
    }

    /// Start the worker threads.
    ///
    /// Errors (`InvalidInput`): zero performance workers, or more than
    /// [`MAX_WORKERS_PER_CLASS`] of one class or of critical workers. An OS error from spawning a thread is
    /// returned as is (the workers already started are shut down first).
    pub fn build(self) -> io::Result<Runtime> {
        // Before any worker places itself: the timer and blocking threads start with the
        // placement this (non-worker) thread has, never a worker's (see `sys::plain_thread`).
        sys::capture_baseline();
        let topology = self.topology.clone().unwrap_or_else(Topology::detect);
        let (p_cpus, e_cpus) = (
            topology.count(CoreClass::Performance),
            topology.count(CoreClass::Efficiency),
        );
        let counts = CoreClass::ALL.map(|class| {
            self.workers[class.index()]
                .unwrap_or_else(|| policy::default_workers(class, self.pin, p_cpus, e_cpus))
        });
        let [p_workers, e_workers] = counts;
        if p_workers == 0 {
            // Name what the operator or programmer actually set.
            let input = self.workers_from_env[0].unwrap_or("workers(Performance)");
            return Err(ConfigError::invalid(
                input,
                "0",
                "at least 1 (latency-critical tasks run only on performance workers)",
            )
            .into());
        }
        for (class, n) in CoreClass::ALL.into_iter().zip(counts) {
            if n > MAX_WORKERS_PER_CLASS {
                return Err(ConfigError::invalid(
                    &format!("workers({class:?})"),
                    &n.to_string(),
                    &format!("at most {MAX_WORKERS_PER_CLASS}"),
                )
                .into());
            }
        }
        if self.critical_workers > MAX_WORKERS_PER_CLASS {
            return Err(ConfigError::invalid(
                "critical_workers",
                &self.critical_workers.to_string(),
                &format!("at most {MAX_WORKERS_PER_CLASS}"),
            )
            .into());
        }
        let has_efficiency = e_workers > 0;

        let mut slots = Vec::new();
        let mut locals = Vec::new();
        let class_cpus =
            CoreClass::ALL.map(|class| topology.cpus(class).iter().collect::<Vec<usize>>());
        // CPU lending (`runtime/lend.rs`): P workers lend, E workers borrow.
        let lending = policy::lends_cpus(self.pin, CoreClass::Performance, has_efficiency);
        for (class, n) in CoreClass::ALL.into_iter().zip(counts) {
            for i in 0..n {
                let placement =
                    policy::thread_placement(self.pin, class, i, &class_cpus[0], &class_cpus[1]);
                let queues: [Option<Worker<_>>; LANES] = std::array::from_fn(|lane| {
                    policy::may_run(class, has_efficiency, policy::Lane::ALL[lane])
                        .then(Worker::new_fifo)
                });
                let tag = match class {
                    CoreClass::Performance => 'p',
                    CoreClass::Efficiency => 'e',
                };
                // Lending needs CPU ids to move a thread to and from, and a borrower needs
                // CPUs beyond the P set (else a loan moves nothing: E workers asked for on
                // a machine without E CPUs).
                let placed = lending && !placement.cpus.is_empty();
                let lends = placed && class == CoreClass::Performance;
                let borrows = placed
                    && class == CoreClass::Efficiency
                    && placement.cpus.iter().any(|c| !class_cpus[0].contains(c));
                slots.push(WorkerSlot {
                    name: format!("{}-{tag}-{i}", self.thread_name),
                    class,
                    role: class.into(),
                    cpus: placement.cpus,
                    idle_priority: placement.idle_priority,
                    raised_priority: placement.raised_priority,
                    stealers: std::array::from_fn(|lane| {
                        queues[lane].as_ref().map(Worker::stealer)
                    }),
                    parker: Default::default(),
                    counters: Default::default(),
                    lender: lends.then(|| Lender::new(e_cpus)),
                    loan: borrows.then(Default::default),
                    polls: Default::default(),
                    placed: Default::default(),
                });
                locals.push(queues);
            }
        }
        for i in 0..self.critical_workers {
            let placement = policy::critical_placement(self.pin, &class_cpus[0]);
            let role = policy::WorkerRole::Critical;
            let queues: [Option<Worker<_>>; LANES] = std::array::from_fn(|lane| {
                policy::may_run(role, has_efficiency, policy::Lane::ALL[lane])
                    .then(Worker::new_fifo)
            });
            slots.push(WorkerSlot {
                name: format!("{}-c-{i}", self.thread_name),
                class: CoreClass::Performance,
                role,
                cpus: placement.cpus,
                idle_priority: placement.idle_priority,
                raised_priority: placement.raised_priority,
                stealers: std::array::from_fn(|lane| queues[lane].as_ref().map(Worker::stealer)),
                parker: Default::default(),
                counters: Default::default(),
                // Critical workers neither lend (their CPUs are the P workers') nor borrow.
                lender: None,
                loan: None,
                polls: Default::default(),
                placed: Default::default(),
            });
            locals.push(queues);
        }
        let blocking = BlockingPool::new(
            self.max_blocking_threads,
            self.blocking_keep_alive,
            self.thread_name.clone(),
        );
        let slots_limit = policy::efficiency_slots(self.pin, e_workers, e_cpus);
        // Some worker may drive a reactor (`policy::drives_reactor`): else nobody would
        // drive a tokio context that only workers drive.
        #[cfg(feature = "tokio")]
        let workers_may_drive = !cfg!(any(loom, miri))
            && slots
                .iter()
                .any(|s| policy::drives_reactor(s.idle_priority));
        let mut shared = Shared::new(slots, has_efficiency, slots_limit, blocking);
        shared.sample_latency = self.latency_sampling;
        shared.qos_escalation = self.qos_escalation;
        shared.drive_io = self.drive_io;
        // The process's own placement (captured above), capped by its CPU quota: the same
        // count the CPU watch takes from the allowed set when it changes.
        let process_cpus = sys::baseline_cpus();
        shared.set_idle_spin(self.idle_spin, sys::cpus_available(process_cpus.as_deref()));
        #[cfg(feature = "tokio")]
        if self.tokio_context {
            shared.tokio = Some(super::tokio_context::TokioContext::start(
                &self.thread_name,
                self.drive_io && workers_may_drive,
            )?);
        }
        shared.efficiency_speed = topology.efficiency_speed();
        // Not under loom: its sampling loop would be a model thread that never settles
        // (the record protocol has its own model, `loom-tests/tests/stuck.rs`).
        if !self.long_poll_threshold.is_zero() && !cfg!(loom) {
            shared.watchdog = Some(WatchdogConfig {
                threshold: self.long_poll_threshold,
                hook: self.on_long_poll.clone(),
            });
        }
        // Linux only (other systems do not say which CPUs a thread may use), and not
        // under loom, like the watchdog (its protocol has its own model).
        let watch_cpus = cfg!(any(target_os = "linux", target_os = "android")) && !cfg!(loom);
        if !self.cpu_check_interval.is_zero() && watch_cpus {
            shared.cpu_watch = Some(CpuWatch::new(self.cpu_check_interval));
        }
        shared.class_cpus = class_cpus.clone();
        let shared = Arc::new(shared);
        let mut threads = Vec::new();
        for (index, queues) in locals.into_iter().enumerate() {
            let slot = &shared.workers[index];
            let pin = self.pin;
            let qos_hints = self.qos_hints;
            let start = self.on_thread_start.clone();
            let stop = self.on_thread_stop.clone();
            let worker_shared = shared.clone();
            let spawned = crate::loom::thread::Builder::new()
                .name(slot.name.clone())
                .spawn(move || {
                    let slot = &worker_shared.workers[index];
                    let hints = super::metrics::Hints {
                        pin: place_thread(pin, &slot.cpus),
                        qos: qos_hint(qos_hints, slot.class),
                        // After the QoS hint: on Linux that one is a sched_setattr keeping
                        // the policy, so it cannot undo SCHED_IDLE, and the reverse order
                        // would not matter either; this keeps the outcome readable.
                        // Not under loom (its model threads share one OS thread) nor
                        // Miri (which runs no FFI call).
                        priority: if cfg!(any(loom, miri)) {
                            HintOutcome::Disabled
                        } else if slot.idle_priority {
                            sys::set_current_thread_idle_priority()
                        } else if slot.raised_priority {
                            sys::raise_current_thread_priority()
                        } else {
                            HintOutcome::Disabled
                        },
                    };
                    *slot.counters.hints.lock() = Some(hints);
                    // Not under loom: its model threads are not OS threads to move.
                    if let (Some(loan), false) = (&slot.loan, cfg!(loom)) {
                        if let Some(thread) = sys::current_os_thread() {
                            loan.set_thread(thread);
                        }
                    }
                    // A panicking hook must not kill the worker before it has checked in
                    // (shutdown would wait for it forever): the panic is reported by the
                    // panic hook as usual, and the worker runs on.
                    if let Some(hook) = &start {
                        let _ = catch_unwind(AssertUnwindSafe(|| hook()));
                    }
                    #[cfg(feature = "tokio")]
                    let _tokio = worker_shared.tokio.as_ref().and_then(|t| t.enter());
                    worker_main(worker_shared.clone(), index, queues);
                    if let Some(hook) = &stop {
                        let _ = catch_unwind(AssertUnwindSafe(|| hook()));
                    }
                });
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(err) => {
                    // Workers never started cannot exit: account for them, then stop the rest.
                    for _ in index..shared.workers.len() {
                        shared.worker_exited();
                    }
                    shared.begin_shutdown();
                    for thread in threads {
                        let _ = thread.join();
                    }
                    return Err(err);
                }
            }
        }
        if monitor::needed(&shared) {
            let watched = shared.clone();
            let started =
                sys::spawn_plain_thread(format!("{}-monitor", self.thread_name), move || {
                    monitor::run(watched)
                });
            if let Err(err) = started {
                // Shuts the workers down again (the runtime's drop).
                drop(Runtime::from_parts(shared, threads));
                return Err(err);
            }
        }
        Ok(Runtime::from_parts(shared, threads))
    }
}

/// `HETSCHED_LONG_POLL_MS`, `HETSCHED_CPU_CHECK_MS`: whole milliseconds from 1 to an
/// hour, or `off` (zero).
fn parse_ms_or_off(name: &str, text: &str) -> Result<Duration, ConfigError> {
    parse_whole_or_off(
        name,
        text,
        1..=3_600_000,
        "milliseconds",
        Duration::from_millis,
    )
}

/// `HETSCHED_IDLE_SPIN_US`: whole microseconds up to [`MAX_IDLE_SPIN`], or `off` (zero).
fn parse_idle_spin(text: &str) -> Result<Duration, ConfigError> {
    let max_us = MAX_IDLE_SPIN.as_micros() as u64;
    parse_whole_or_off(
        ENV_IDLE_SPIN_US,
        text,
        0..=max_us,
        "microseconds",
        Duration::from_micros,
    )
}

/// A whole number of `unit`s in `range` (made a duration by `of`), or `off` (zero), any
/// case, spaces around ignored; anything else an error naming the variable, the value and
/// what was expected.
fn parse_whole_or_off(
    name: &str,
    text: &str,
    range: std::ops::RangeInclusive<u64>,
    unit: &str,
    of: fn(u64) -> Duration,
) -> Result<Duration, ConfigError> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("off") {
        return Ok(Duration::ZERO);
    }
    match trimmed.parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(of(n)),
        _ => Err(ConfigError::invalid(
            name,
            text,
            &format!(
                "whole {unit} from {} to {}, or off",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// `on` or `off`, any case.
fn parse_on_off(name: &str, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(ConfigError::invalid(name, text, "on or off")),
    }
}

fn parse_worker_count(name: &str, text: &str) -> Result<usize, ConfigError> {
    let expected = format!("a whole number of worker threads from 0 to {MAX_WORKERS_PER_CLASS}");
    match text.trim().parse::<usize>() {
        Ok(n) if n <= MAX_WORKERS_PER_CLASS => Ok(n),
        _ => Err(ConfigError::invalid(name, text, &expected)),
    }
}

/// Apply the placement for a worker; best-effort, the outcome is reported.
fn place_thread(pin: Pin, cpus: &[usize]) -> HintOutcome {
    match pin {
        Pin::Off => HintOutcome::Disabled,
        // No CPU ids for this class (efficiency workers on a machine without efficiency
        // cores, or a macOS topology where ids are unknown): nothing to pin to.
        _ if cpus.is_empty() => HintOutcome::Unsupported,
        _ => sys::pin_current_thread(cpus),
    }
}

fn qos_hint(on: bool, class: CoreClass) -> HintOutcome {
    if !on {
        return HintOutcome::Disabled;
    }
    sys::apply_thread_qos(match class {
        CoreClass::Performance => ThreadQos::Performance,
        CoreClass::Efficiency => ThreadQos::Efficiency,
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    /// Both millisecond variables: whole milliseconds or `off`, anything else an error that
    /// names the variable, the value and the range.
    #[test]
    fn millisecond_settings_come_from_their_variables() {
        let long_poll = |b: &Builder| b.long_poll_threshold;
        let cpu_check = |b: &Builder| b.cpu_check_interval;
        for (name, get, default) in [
            (
                ENV_LONG_POLL_MS,
                &long_poll as &dyn Fn(&Builder) -> Duration,
                DEFAULT_LONG_POLL_THRESHOLD,
            ),
            (ENV_CPU_CHECK_MS, &cpu_check, DEFAULT_CPU_CHECK_INTERVAL),
        ] {
            let with =
                |value: &'static str| move |n: &str| (n == name).then(|| OsString::from(value));
            let b = Builder::from_env_with(with(" 250 ")).unwrap();
            assert_eq!(get(&b), Duration::from_millis(250), "{name}");
            let b = Builder::from_env_with(with("OFF")).unwrap();
            assert_eq!(get(&b), Duration::ZERO, "{name}");
            let b = Builder::from_env_with(env(&[])).unwrap();
            assert_eq!(get(&b), default, "{name}");
            // (Empty means unset, as for every variable.)
            for bad in ["0", "-5", "ten", "3600001", "1.5"] {
                let err = Builder::from_env_with(with(bad)).unwrap_err().to_string();
                assert!(
                    err.starts_with(&format!("{name}=\"{bad}\""))
                        && err.contains("whole milliseconds from 1 to 3600000, or off"),
                    "{err}"
                );
            }
        }
    }

    /// `HETSCHED_IDLE_SPIN_US`: whole microseconds up to a second, or `off`; anything else
    /// an error naming the variable, the value and the range. The method cuts a longer
    /// spin to the most.
    #[test]
    fn the_idle_spin_comes_from_its_variable() {
        let with = |value: &'static str| {
            move |n: &str| (n == ENV_IDLE_SPIN_US).then(|| OsString::from(value))
        };
        let spin = |value| Builder::from_env_with(with(value)).map(|b| b.idle_spin);
        assert_eq!(spin(" 25 ").unwrap(), Some(Duration::from_micros(25)));
        assert_eq!(spin("0").unwrap(), Some(Duration::ZERO));
        assert_eq!(spin("Off").unwrap(), Some(Duration::ZERO));
        assert_eq!(spin("1000000").unwrap(), Some(MAX_IDLE_SPIN));
        // Unset: the default, chosen at `build` from the CPUs available.
        assert_eq!(Builder::from_env_with(env(&[])).unwrap().idle_spin, None);
        for bad in ["-1", "ten", "1000001", "2.5", "10us"] {
            let err = spin(bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{ENV_IDLE_SPIN_US}=\"{bad}\""))
                    && err.contains("whole microseconds from 0 to 1000000, or off"),
                "{err}"
            );
        }
        assert_eq!(
            Builder::new().idle_spin(Duration::from_secs(60)).idle_spin,
            Some(MAX_IDLE_SPIN)
        );
    }

    #[test]
    fn env_values_are_parsed() {
        // The CPU lists name CPUs this process may use, whatever mask the tests run under
        // (`taskset -c 1 cargo test`): P = the first allowed CPU, E = the second. With one
        // allowed CPU, E is left unset and takes its documented default, allowed - P
        // (empty); HETSCHED_E_CPUS is then checked by the refusal below.
        let allowed = Topology::detect().allowed().clone();
        let p = allowed.first().expect("an allowed CPU").to_string();
        let e = allowed.iter().nth(1).map(|cpu| cpu.to_string());
        let vars = [
            ("HETSCHED_P_WORKERS", Some("3".to_string())),
            ("HETSCHED_E_WORKERS", Some(" 2 ".to_string())),
            ("HETSCHED_PIN", Some("off".to_string())),
            ("HETSCHED_QOS_HINTS", Some("OFF".to_string())),
            ("HETSCHED_CRITICAL_WORKERS", Some("2".to_string())),
            ("HETSCHED_QOS_ESCALATION", Some(" off".to_string())),
            ("HETSCHED_P_CPUS", Some(p.clone())),
            ("HETSCHED_E_CPUS", e.clone()),
        ];
        let b = Builder::from_env_with(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.as_ref().map(OsString::from))
        })
        .unwrap();
        assert_eq!(b.workers, [Some(3), Some(2)]);
        assert_eq!(b.pin, Pin::Off);
        assert!(!b.qos_hints);
        assert_eq!(b.critical_workers, 2);
        assert!(!b.qos_escalation);
        let topo = b.topology.unwrap();
        assert_eq!(topo.cpus(CoreClass::Performance).to_string(), p);
        let want_e = e.unwrap_or_else(|| allowed.difference(&p.parse().unwrap()).to_string());
        assert_eq!(topo.cpus(CoreClass::Efficiency).to_string(), want_e);
        // HETSCHED_E_CPUS reaches the topology on any mask: all allowed CPUs as E leave
        // no performance CPU, and the error names the variable.
        let all = allowed.to_string();
        let err = Builder::from_env_with(|name| {
            (name == "HETSCHED_E_CPUS").then(|| OsString::from(&all))
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("HETSCHED_E_CPUS") && msg.contains("leaves no performance CPUs"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_env_values_name_variable_value_and_expectation() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("HETSCHED_P_WORKERS", "four")],
                "HETSCHED_P_WORKERS=\"four\": expected a whole number",
            ),
            (
                &[("HETSCHED_E_WORKERS", "-1")],
                "HETSCHED_E_WORKERS=\"-1\": expected a whole number",
            ),
            (
                &[("HETSCHED_P_WORKERS", "99999")],
                "HETSCHED_P_WORKERS=\"99999\"",
            ),
            (
                &[("HETSCHED_PIN", "yes")],
                "HETSCHED_PIN=\"yes\": expected one of spill, class, core, off",
            ),
            (
                &[("HETSCHED_QOS_HINTS", "1")],
                "HETSCHED_QOS_HINTS=\"1\": expected on or off",
            ),
            (
                &[("HETSCHED_CRITICAL_WORKERS", "two")],
                "HETSCHED_CRITICAL_WORKERS=\"two\": expected a whole number",
            ),
            (
                &[("HETSCHED_DRIVE_IO", "1")],
                "HETSCHED_DRIVE_IO=\"1\": expected on or off",
            ),
            (
                &[("HETSCHED_QOS_ESCALATION", "maybe")],
                "HETSCHED_QOS_ESCALATION=\"maybe\": expected on or off",
            ),
        ];
        for (pairs, want) in cases {
            let lookup = |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            };
            let err = Builder::from_env_with(lookup).unwrap_err();
            assert!(
                err.to_string().starts_with(want),
                "{err} does not start with {want}"
            );
        }
        let err = Builder::from_env_with(env(&[("HETSCHED_P_CPUS", "0-")])).unwrap_err();
        assert!(err.to_string().contains("HETSCHED_P_CPUS"), "{err}");
    }

    #[test]
    fn zero_performance_workers_from_the_environment_names_the_variable() {
        let err = Builder::from_env_with(env(&[("HETSCHED_P_WORKERS", "0")]))
            .unwrap()
            .topology(Topology::uniform(2))
            .build()
            .unwrap_err();
        assert!(
            err.to_string().starts_with("HETSCHED_P_WORKERS=\"0\""),
            "{err}"
        );
    }

    #[test]
    fn zero_performance_workers_is_refused() {
        let err = Builder::new()
            .topology(Topology::uniform(2))
            .workers(CoreClass::Performance, 0)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("workers(Performance)"), "{err}");
    }
}
