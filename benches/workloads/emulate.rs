//! An emulated asymmetric machine on any Linux box: make some CPUs really slower, or make
//! the benchmark's own work cost more on them.
//!
//! **Duty-cycle emulation** ([`Emulation`]): on each slow CPU a pinned `SCHED_FIFO` thread
//! spins a `1 - speed` share of every [`PERIOD`] and sleeps the rest. Real-time threads
//! preempt every normal thread, so any thread of any runtime on that CPU gets only the
//! `speed` share: throughput per CPU is what a slower core gives, and the kernel sees it
//! too (its CPU capacity excludes real-time time, `scale_rt_capacity`, so capacity-aware
//! load balancing treats the CPU as a smaller one, as it treats a little core with a lower
//! `cpu_capacity`). What it does not model: the slow CPU runs at full speed in bursts of
//! `speed × PERIOD`, so latency on it is burstier than on a real E core, and cache and
//! memory behaviour are the fast core's.
//!
//! **Work inflation** ([`Inflation`]): the benchmark's own CPU work asks `sched_getcpu()`
//! every block of iterations and does `1 / speed` times the block on a slow CPU. Identical
//! for every runtime, continuous and deterministic, but invisible to the kernel: it sees
//! two equal CPUs, so it never moves a thread off the "slow" one for capacity reasons.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cpu_chunk;

/// One duty cycle of a slowing thread.
pub const PERIOD: Duration = Duration::from_millis(1);
/// Speeds the emulator accepts: below 0.1 the spinning thread would hit the kernel's
/// real-time throttling (95 % by default) and stop slowing the CPU.
pub const MIN_SPEED: f64 = 0.1;
/// `SCHED_FIFO` priority of the slowing threads: above every normal thread, below the
/// kernel's own real-time threads (50 and up for threaded IRQs).
const FIFO_PRIORITY: i32 = 10;

/// Parse `--emulate`'s SPEED: a share of full speed in `[MIN_SPEED, 1)`.
pub fn parse_speed(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if (MIN_SPEED..1.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "--emulate {text:?}: expected a speed from {MIN_SPEED} up to (not including) 1, \
             the slow CPUs' share of full speed, e.g. 0.3"
        )),
    }
}

fn pin_to(cpu: usize) -> Result<(), String> {
    match hetsched::sys::pin_current_thread(&[cpu]) {
        hetsched::sys::HintOutcome::Applied => Ok(()),
        other => Err(format!("cannot pin a thread to CPU {cpu}: {other}")),
    }
}

fn set_fifo() -> Result<(), std::io::Error> {
    let param = libc::sched_param {
        sched_priority: FIFO_PRIORITY,
    };
    // SAFETY: `param` is a valid sched_param the kernel only reads; pid 0 = this thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The slowing threads. Dropping it stops and joins them (every exit path of the harness
/// drops it; a process that exits takes them along anyway).
pub struct Emulation {
    /// The requested speed.
    pub target: f64,
    /// The slowed CPUs.
    pub slow: Vec<usize>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Emulation {
    /// Start one slowing thread per CPU of `slow`. Errors (one line, for the operator) if a
    /// thread cannot be pinned or `SCHED_FIFO` is refused (not root, no `CAP_SYS_NICE`, no
    /// real-time budget for this cgroup); threads already started are stopped.
    pub fn start(target: f64, slow: &[usize]) -> Result<Emulation, String> {
        let mut emulation = Emulation {
            target,
            slow: slow.to_vec(),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };
        let busy = PERIOD.mul_f64(1.0 - target);
        for &cpu in slow {
            let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
            let stop = emulation.stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("emulate-cpu{cpu}"))
                .spawn(move || {
                    let setup = pin_to(cpu).and_then(|()| {
                        set_fifo().map_err(|e| {
                            format!(
                                "SCHED_FIFO refused on CPU {cpu} ({e}): the emulator needs root \
                                 or CAP_SYS_NICE and a real-time budget \
                                 (/proc/sys/kernel/sched_rt_runtime_us)"
                            )
                        })
                    });
                    let ok = setup.is_ok();
                    let _ = ready_tx.send(setup);
                    if ok {
                        duty_cycle(&stop, busy);
                    }
                })
                .map_err(|e| format!("cannot start the emulator thread for CPU {cpu}: {e}"))?;
            emulation.threads.push(thread);
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(message)) => return Err(message),
                Err(_) => return Err(format!("the emulator thread for CPU {cpu} died")),
            }
        }
        Ok(emulation)
    }
}

fn duty_cycle(stop: &AtomicBool, busy: Duration) {
    let mut period_start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        while period_start.elapsed() < busy {
            std::hint::spin_loop();
        }
        let next = period_start + PERIOD;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        // Stay in phase; after an overrun of more than a period start afresh rather than
        // spinning several busy shares back to back.
        let now = Instant::now();
        period_start = if now > next + PERIOD { now } else { next };
    }
}

impl Drop for Emulation {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Time for a fixed loop on a thread pinned to `cpu` (median of `reps`).
/// `reps` timings of a fixed loop of `iters` on `cpu`, fastest first.
fn loop_times(cpu: usize, iters: u32, reps: usize) -> Result<Vec<Duration>, String> {
    std::thread::spawn(move || {
        pin_to(cpu)?;
        let mut times: Vec<Duration> = (0..reps.max(1))
            .map(|_| {
                let start = Instant::now();
                cpu_chunk(iters);
                start.elapsed()
            })
            .collect();
        times.sort();
        Ok(times)
    })
    .join()
    .map_err(|_| "the speed probe thread panicked".to_string())?
}

/// The median of [`loop_times`].
fn loop_time(cpu: usize, iters: u32, reps: usize) -> Result<Duration, String> {
    let times = loop_times(cpu, iters, reps)?;
    Ok(times[times.len() / 2])
}

/// Iterations of [`cpu_chunk`] per millisecond on `cpu` (a fast one), measured: the
/// fastest of 25 loops of about 4 ms spread over about 100 ms. The fastest, not the
/// median: the fluid bound built on it must stay a lower bound even if the host steals
/// time from the guest while it calibrates (a median once came out 20 % low that way, and
/// every runtime then beat the "bound").
pub fn iterations_per_ms(cpu: usize) -> Result<f64, String> {
    let iters = 2_000_000;
    let t = loop_times(cpu, iters, 25)?[0];
    Ok(iters as f64 / (t.as_secs_f64() * 1e3).max(1e-9))
}

/// Achieved speed: a fixed loop spanning many periods on `fast`, then on `slow`; the ratio.
pub fn measure_speed(fast: usize, slow: usize, iters_per_ms: f64) -> Result<f64, String> {
    let iters = (iters_per_ms * 30.0) as u32; // 30 ms on a fast CPU: 30 duty cycles
    let fast_t = loop_time(fast, iters, 5)?;
    let slow_t = loop_time(slow, iters, 5)?;
    Ok(fast_t.as_secs_f64() / slow_t.as_secs_f64().max(1e-12))
}

/// Work inflation: which CPUs are slow and how slow. Set once per run of the harness.
pub struct Inflation {
    /// Bit `c` set: CPU `c` is slow (CPUs past 63 are never slow).
    slow_mask: AtomicU64,
    /// Speed of the slow CPUs, in millionths (1,000,000 = off).
    speed_ppm: AtomicU64,
}

fn inflation() -> &'static Inflation {
    static INFLATION: OnceLock<Inflation> = OnceLock::new();
    INFLATION.get_or_init(|| Inflation {
        slow_mask: AtomicU64::new(0),
        speed_ppm: AtomicU64::new(1_000_000),
    })
}

/// Turn work inflation on (`Some`) for `slow` CPUs at `speed`, or off (`None`).
pub fn set_inflation(setting: Option<(&[usize], f64)>) {
    let inflation = inflation();
    match setting {
        Some((slow, speed)) => {
            let mask = slow
                .iter()
                .filter(|&&c| c < 64)
                .fold(0u64, |m, &c| m | 1 << c);
            inflation.slow_mask.store(mask, Ordering::Relaxed);
            inflation
                .speed_ppm
                .store((speed * 1e6) as u64, Ordering::Relaxed);
        }
        None => {
            inflation.slow_mask.store(0, Ordering::Relaxed);
            inflation.speed_ppm.store(1_000_000, Ordering::Relaxed);
        }
    }
}

/// Iterations per inflation check (a few µs of work: `sched_getcpu` is a vDSO call).
const BLOCK: u32 = 4_096;

/// Do `iters` iterations of benchmark work, inflated on slow CPUs when inflation is on:
/// each block done on a slow CPU counts as only `speed` of a block.
#[inline(never)]
pub fn work(iters: u64) {
    let inflation = inflation();
    let mask = inflation.slow_mask.load(Ordering::Relaxed);
    if mask == 0 {
        let mut left = iters;
        while left > 0 {
            let n = left.min(u64::from(u32::MAX)) as u32;
            cpu_chunk(n);
            left -= u64::from(n);
        }
        return;
    }
    let speed_ppm = inflation.speed_ppm.load(Ordering::Relaxed);
    let block_ppm = u64::from(BLOCK) * 1_000_000;
    let mut credit_ppm = iters * 1_000_000;
    while credit_ppm > 0 {
        cpu_chunk(BLOCK);
        let slow = hetsched::sys::current_cpu().is_some_and(|c| c < 64 && mask & (1 << c) != 0);
        let done = if slow {
            u64::from(BLOCK) * speed_ppm
        } else {
            block_ppm
        };
        credit_ppm = credit_ppm.saturating_sub(done);
    }
}
