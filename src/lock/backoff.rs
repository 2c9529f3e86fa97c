//! Waiting for a lock that nothing wakes you for: exponential backoff
//! with full jitter, whose longest pause grows when the machine is
//! crowded. For strategies that poll (`excl`; your own spinlock, should it
//! sleep between tries) — a lock the kernel queues its waiters on (`flock`,
//! a semaphore) needs none of this.
//!
//! Why each part is there, as measured (2 cores, delay 0):
//!
//! * **Doubling** from 20 µs: a lock that is free again at once is taken
//!   again at once, and a waiter that has waited long tries seldom.
//! * **Full jitter**: each pause is drawn at random below its bound, so
//!   waiters released by one barrier do not wake in step. (Buyers are
//!   forked from one parent, so the draw mixes the pid and the clock: a
//!   generator seeded before the fork would give every buyer the same
//!   "random" pauses.)
//! * **A cap that grows when the machine is crowded.** With the longest
//!   pause fixed at 10 ms, 2,000 waiters woke some 200,000 times a second
//!   between them: the processors went to the waiters, the holder waited
//!   for one, and a run took 25 s with 960 wake-ups a buyer (`file`: 1.4
//!   s). A waiter cannot count the others, but it can see them: when its
//!   sleep ends more than 1 ms (and more than the pause itself) late, the
//!   run queue is long, and it doubles its cap, up to 1 s. On an idle
//!   machine the cap stays at 10 ms, so a release is seen within 10 ms.

use std::time::Duration;

use super::hooks::now_ns;

/// The first pause's bound.
pub const FIRST: Duration = Duration::from_micros(20);

/// The longest pause on a machine that is not crowded.
pub const CAP: Duration = Duration::from_millis(10);

/// The longest pause on a crowded one.
pub const CROWDED_CAP: Duration = Duration::from_secs(1);

/// How late a sleep must end (and later than its own length) for the
/// waiter to count the machine as crowded: more than a scheduler's time
/// slice, so that timer slack (50 µs) and one other runnable process do
/// not count.
pub const LATE: Duration = Duration::from_millis(1);

/// One waiter's backoff: make one per `lock` call.
#[derive(Debug, Clone)]
pub struct Backoff {
    bound: Duration,
    cap: Duration,
    tries: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    /// A fresh backoff: bound [`FIRST`], cap [`CAP`].
    pub fn new() -> Self {
        Backoff {
            bound: FIRST,
            cap: CAP,
            tries: 0,
        }
    }

    /// Sleeps a pause drawn below the bound, then doubles the bound (up to
    /// the cap), and doubles the cap (up to [`CROWDED_CAP`]) if the sleep
    /// ended late. Returns the pause asked for.
    pub fn pause(&mut self) -> Duration {
        self.tries += 1;
        let asked = self.bound.mul_f64(jitter(self.tries));
        let start = now_ns();
        std::thread::sleep(asked);
        let slept = Duration::from_nanos(now_ns().saturating_sub(start));
        self.after(asked, slept);
        asked
    }

    /// Another contender won the round this one lost (an optimistic write
    /// that found the row changed), and the round took `round`, from the
    /// read to the failed write. The crowd is real, whatever the clock
    /// says: the bound of the next pause is at least the round's length
    /// (the pause itself is drawn below it), and the cap doubles, up to
    /// `patience` — the longest pause a watchdog still takes for a live
    /// buyer (at least [`CROWDED_CAP`]).
    ///
    /// Measured (10 hosts × 300 buyers of `pg-optimistic` through a pooler
    /// with 60 server connections, 2 cores): with the cap of a lock's
    /// waiter, 10 ms, the losers kept some 2,800 requests queued in front
    /// of the server; each round then lasted a trip through the queue
    /// (about 0.4 s), one write in each round won, and hosts went 10 s
    /// without a sale.
    pub fn lost(&mut self, round: Duration, patience: Duration) {
        self.cap = (self.cap * 2).max(round).min(patience.max(CROWDED_CAP));
        self.bound = self.bound.max(round).min(self.cap);
    }

    /// What a pause of `asked` that took `slept` teaches: the next bound
    /// and cap.
    fn after(&mut self, asked: Duration, slept: Duration) {
        if slept > asked + asked.max(LATE) {
            // Never below a cap that lost rounds raised further.
            self.cap = (self.cap * 2).min(CROWDED_CAP).max(self.cap);
        }
        self.bound = (self.bound * 2).min(self.cap);
    }
}

/// A number in [0, 1) that differs between processes and between calls
/// with different `salt`s: buyers forked from one parent must not share a
/// generator's state, or they would wake in step.
pub fn jitter(salt: u64) -> f64 {
    let mut x = u64::from(std::process::id()) << 32 ^ salt ^ now_ns();
    // SplitMix64's finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_doubles_to_the_cap_when_sleeps_are_on_time() {
        let mut b = Backoff::new();
        for _ in 0..20 {
            let asked = b.bound / 2;
            b.after(asked, asked + Duration::from_micros(60));
        }
        assert_eq!(b.bound, CAP);
    }

    #[test]
    fn late_sleeps_raise_the_cap_to_the_crowded_one_and_no_further() {
        let mut b = Backoff::new();
        let mut bounds = Vec::new();
        for _ in 0..30 {
            let asked = b.bound / 2;
            b.after(asked, asked * 3 + LATE * 2);
            bounds.push(b.bound);
        }
        assert!(bounds.windows(2).all(|w| w[0] <= w[1]), "{bounds:?}");
        assert!(bounds.iter().any(|&x| x > CAP), "{bounds:?}");
        assert_eq!(b.bound, CROWDED_CAP);
    }

    #[test]
    fn lost_rounds_raise_the_bound_to_the_round_up_to_the_patience() {
        let patience = Duration::from_secs(5);
        let mut b = Backoff::new();
        b.lost(Duration::from_millis(300), patience);
        assert_eq!(b.bound, Duration::from_millis(300));
        for _ in 0..30 {
            b.lost(Duration::from_millis(1), patience);
            b.bound = (b.bound * 2).min(b.cap);
        }
        assert_eq!(b.bound, patience);
        // A watchdog of a second or two: the crowded cap.
        let mut b = Backoff::new();
        for _ in 0..30 {
            b.lost(Duration::from_millis(1), Duration::from_millis(500));
            b.bound = (b.bound * 2).min(b.cap);
        }
        assert_eq!(b.bound, CROWDED_CAP);
    }

    #[test]
    fn a_tiny_pause_ending_a_little_late_is_not_crowding() {
        let mut b = Backoff::new();
        // 20 µs asked, 120 µs slept: timer slack, not a long run queue.
        for _ in 0..20 {
            b.after(Duration::from_micros(20), Duration::from_micros(120));
        }
        assert_eq!(b.bound, CAP);
    }

    #[test]
    fn jitter_is_in_the_unit_interval_and_varies() {
        let draws: Vec<f64> = (0..1000).map(jitter).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = draws.iter().sum::<f64>() / 1000.0;
        assert!((0.4..0.6).contains(&mean), "{mean}");
    }
}
