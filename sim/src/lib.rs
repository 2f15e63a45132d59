//! hetsched-sim: a deterministic discrete-event simulator of task runtimes on modelled
//! P/E chips.
//!
//! Workers, per-lane queues, injectors, stealing, parking, waking and CPU lending are
//! simulated on cores of unequal speed under a model of the OS scheduler ([`os`]); every
//! scheduling decision of the `hetsched` policy is made by calling
//! `hetsched::runtime::policy`, the functions the real workers call ([`policies`]).
//! Costs ([`engine::Costs`]) and the OS model have stated defaults; a run is a pure
//! function of its inputs and seed.
//!
//! ```
//! use hetsched_sim::{chip::Chip, engine, policies, workload::Workload};
//!
//! let chip = Chip::by_name("m1").unwrap().with_efficiency_speed(0.25);
//! let cfg = engine::Config::default();
//! let hetsched = engine::simulate(&chip, &policies::Hetsched::shipped(), Workload::FewLong(1), &cfg)?;
//! let blind = engine::simulate(&chip, &policies::Blind::default(), Workload::FewLong(1), &cfg)?;
//! assert!(hetsched.makespan_us <= blind.makespan_us);
//! # Ok::<(), engine::Stuck>(())
//! ```

pub mod calibrate;
pub mod chip;
pub mod engine;
pub mod os;
pub mod policies;
pub mod report;
pub mod svg;
pub mod workload;

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
