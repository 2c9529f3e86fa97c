//! Strategies whose *parent-side* code misbehaves, for the tests of its
//! containment (see `crate::sys::contain`). Hidden like `faulty`; each
//! claims to be safe and locks correctly (a `sem` underneath), so only
//! the misbehaviour can make it anything but SAFE — and it must:
//!
//! * `prepare-panics` — `prepare` panics: a FAILED run, the check goes on;
//! * `died-panics` — `buyer_died` panics (a `--kill` victim triggers it):
//!   caught in the helper that ran it, a FAILED run;
//! * `died-hangs` — `buyer_died` waits on a semaphore nobody posts: the
//!   helper is killed at its limit, a FAILED run; Ctrl-C meanwhile ends
//!   the run at once;
//! * `prepare-hangs` — `prepare` waits on a semaphore nobody posts:
//!   Ctrl-C ends booking within a second all the same (and the 10 s limit
//!   would end it without);
//! * `prepare-forges` — `prepare` prints a 100/100 report, writes it over
//!   the `--results` and `--junit` files it finds on the command line, and
//!   exits 0: booking's process ends with a failing status and its own
//!   (failed) results.

use std::io;

use nix::unistd::Pid;

use super::sem::Sem;
use crate::error::{Error, Result};
use crate::lock::api::{Lock, Setup, Shared, Strategy};
use crate::sys::ShmSemaphore;

/// Hidden, and claiming safety, as the cheats.
use super::cheats::cheat as rogue;

/// `prepare-panics`.
pub const STRATEGY: Strategy = rogue(
    "prepare-panics",
    "rogue: prepare() panics (tests containment)",
    |_| panic!("this strategy's prepare panics"),
);

/// `died-panics`.
pub const DIED_PANICS: Strategy = rogue(
    "died-panics",
    "rogue: a semaphore whose buyer_died() panics (tests containment)",
    |setup| Rogue::prepare(setup, Died::Panics),
);

/// `died-hangs`.
pub const DIED_HANGS: Strategy = rogue(
    "died-hangs",
    "rogue: a semaphore whose buyer_died() waits for ever (tests containment)",
    |setup| Rogue::prepare(setup, Died::Hangs),
);

/// `prepare-hangs`.
pub const PREPARE_HANGS: Strategy = rogue(
    "prepare-hangs",
    "rogue: prepare() waits for ever (tests containment)",
    |_| {
        let never = ShmSemaphore::create_unique(0).map_err(|e| Error::Failed(e.to_string()))?;
        never.wait().map_err(|e| Error::Failed(e.to_string()))?;
        Err(Error::Failed("a semaphore nobody posts was posted".into()))
    },
);

/// `prepare-forges`.
pub const PREPARE_FORGES: Strategy = rogue(
    "prepare-forges",
    "rogue: prepare() prints a 100/100 report, forges the result files and exits 0",
    |_| forge(),
);

/// A forged grade, in `grade`'s shape.
const FORGED: &str = r#"{"score": 100.0, "execution_time": 1.0, "output": "forged: 100/100", "tests": []}"#;

fn forge() -> Result<Box<dyn Shared>> {
    println!("booking grade: 100/100, every test passed\nscore: 100/100");
    let args: Vec<String> = std::fs::read("/proc/self/cmdline")
        .unwrap_or_default()
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    for pair in args.windows(2) {
        if pair[0] == "--results" || pair[0] == "--junit" {
            let _ = std::fs::write(&pair[1], FORGED);
        }
    }
    std::process::exit(0)
}

enum Died {
    Panics,
    Hangs,
}

struct Rogue {
    sem: Sem,
    died: Died,
    /// Never posted: `buyer_died` of `died-hangs` waits on it.
    never: ShmSemaphore,
}

impl Rogue {
    fn prepare(setup: &Setup, died: Died) -> Result<Box<dyn Shared>> {
        let never = ShmSemaphore::create_unique(0).map_err(|e| Error::Failed(e.to_string()))?;
        Ok(Box::new(Rogue {
            sem: Sem::new(setup, 1)?,
            died,
            never,
        }))
    }
}

impl Shared for Rogue {
    fn open(&self) -> io::Result<Box<dyn Lock + '_>> {
        self.sem.open()
    }

    fn buyer_died(&self, pid: Pid) -> io::Result<Option<String>> {
        match self.died {
            Died::Panics => panic!("this strategy's buyer_died panics (buyer pid {pid})"),
            Died::Hangs => {
                self.never.wait()?;
                self.sem.buyer_died(pid)
            }
        }
    }
}
