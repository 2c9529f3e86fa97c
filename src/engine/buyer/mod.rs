//! A buyer's whole life, in its own process, from the fork to `_exit`.
//!
//! 1. [`life`] runs in the child [`crate::sys::Children::spawn`] made: it
//!    restores the default action of the stop signals, asks to die with
//!    the parent, and prepares (opens its lock, creates the temporary file
//!    of its save, runs the parse and format code once so its pages are
//!    faulted in while the parent forks the others).
//! 2. It blocks at the start barrier: a read of one byte from a pipe only
//!    the parent writes. A byte means go; end-of-file means the parent died
//!    (then it leaves without buying).
//! 3. It waits its arrival time (think time, from the seed), then buys:
//!    acquire; read the stock; if `count > 0`, take ticket number `count`,
//!    wait the delay, write `count - 1`; release. A strategy that protects
//!    only the write takes the lock after the read and the delay.
//! 4. It sends one outcome record on the shared outcome channel and returns
//!    its exit status; the fork boundary `_exit`s with it.
//!
//! Every failure becomes the outcome's `error`: an error of the strategy
//! or of the stock file, and a panic (caught here, with its message). The
//! parent fills in the fate of a buyer that could not report at all.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use nix::unistd::{Pid, getppid};

use super::config::KillPoint;
use crate::lock::{self, Lock, Protects, Shared};
use crate::model::outcome::{Outcome, monotonic_ns};
use crate::model::stock::{self, Stock, TempFile};
use crate::sys::channel::Sender;
use crate::sys::last_panic;
use crate::sys::{self, SharedCells, Turns, TurnsView};

mod stage;
pub use stage::{Point, Stage};

/// One buyer's instructions, fixed by the parent before the fork.
#[derive(Clone, Copy)]
pub struct Plan<'a> {
    /// The buyer's number.
    pub id: u32,
    /// The stock file.
    pub stock: &'a Path,
    /// Permissions for the rewritten stock file (those it had).
    pub mode: u32,
    /// The simulated network delay between reading and writing.
    pub delay: Duration,
    /// Think time between the start and asking for the lock.
    pub arrival: Duration,
    /// What the strategy's lock is held around.
    pub protects: Protects,
    /// Where this buyer kills itself, if it is a `--kill` victim.
    pub kill_at: Option<KillPoint>,
    /// Where and for how long this buyer stops, if `--pause` chose it.
    pub pause: Option<(KillPoint, Duration)>,
    /// Every buyer's stage, in shared memory.
    pub stages: &'a SharedCells,
    /// Stepped mode: the turns this buyer waits for at each point.
    pub turns: Option<&'a Turns>,
}

/// A buyer's side of stepped mode, for the rest of its process's life: a
/// static, so that a strategy can pause at points of its own
/// ([`crate::lock::hooks::point`]) without a handle. `None` when running free.
static STEPPED: Mutex<Option<Stepper>> = Mutex::new(None);

struct Stepper {
    turns: TurnsView,
    id: usize,
    pauses: u32,
}

/// Pauses at `p` until the parent gives this buyer its turn (stepped mode
/// only; at once otherwise).
fn pause(p: Point) -> Result<(), String> {
    let mut stepped = STEPPED.lock().unwrap_or_else(|e| e.into_inner());
    let Some(s) = stepped.as_mut() else {
        return Ok(());
    };
    s.pauses += 1;
    s.turns
        .pause(s.id, (s.pauses << 8) | p as u32)
        .map_err(|e| format!("waiting for a turn: {e}"))
}

/// Which of the strategy's calls a stepped buyer is in, for the parent
/// (the slot's `section`): where the buyer's system calls are pause
/// points, only calls made inside one of these are.
#[derive(Clone, Copy)]
#[repr(u32)]
enum Section {
    Lock = 1,
    Unlock = 2,
    Transact = 3,
}

/// Runs `f` (a call into the strategy) inside `section`, which the
/// stepped parent reads (nothing when running free).
fn in_section<T>(section: Section, f: impl FnOnce() -> T) -> T {
    let view = STEPPED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|s| (s.turns, s.id));
    if let Some((turns, id)) = view {
        turns.set_section(id, section as u32);
    }
    let out = f();
    if let Some((turns, id)) = view {
        turns.set_section(id, 0);
    }
    out
}

/// In a stepped buyer whose run stops at system calls: installs the
/// seccomp filter and announces its listener for the parent (see
/// [`sys::seccomp`]). Closing this buyer's own copy is its first stopped
/// call, answered once the parent holds its copy. A buyer that cannot
/// install it says why, and is stepped at its points only.
fn stop_at_calls(turns: TurnsView, id: usize) {
    match sys::seccomp::install() {
        Ok(listener) => {
            use std::os::fd::AsRawFd;
            turns.set_listener(id, listener.as_raw_fd());
            drop(listener);
        }
        Err(e) => turns.set_listener(id, -e.raw_os_error().unwrap_or(nix::libc::EINVAL)),
    }
}

/// The hook of [`crate::lock::hooks::point`] in a stepped buyer: pauses
/// for a turn. An error can only be the turn's semaphore failing; the
/// strategy goes on, and the parent sees the buyer move without a turn.
fn strategy_point() {
    let _ = pause(Point::Inside);
}

impl Plan<'_> {
    fn stage(&self, stage: Stage) {
        self.stages.set(self.id as usize, stage as u8);
    }

    /// Stops here for the pause (`SIGSTOP`, resumed by a kernel timer: see
    /// [`sys::stop_for`]) if `--pause` chose this buyer and this point.
    /// Its stage shows [`Stage::Paused`] meanwhile.
    fn maybe_pause(&self, here: KillPoint) {
        let Some((at, pause)) = self.pause else {
            return;
        };
        if at == here {
            let was = self.stages.get(self.id as usize);
            self.stage(Stage::Paused);
            // Should the timer fail, the buyer goes on unpaused (a pause
            // only slows a buyer down) and says so in its record.
            if let Err(e) = sys::stop_for(pause) {
                crate::lock::hooks::note(&format!("--pause could not stop it: {e}"));
            }
            self.stages.set(self.id as usize, was);
        }
    }

    /// Dies here if this is the victim's point.
    fn maybe_die(&self, here: KillPoint) {
        if self.kill_at == Some(here) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// What a buyer inherits to talk to the parent: the read end of the start
/// barrier and its end of the outcome channel.
pub struct Pipes {
    /// The start barrier.
    pub barrier: OwnedFd,
    /// The outcome channel.
    pub outcomes: Sender,
}

/// The life of a buyer process, in the child: buyer `plan.id`, or with a
/// worker pool (`--pool`) each of `plans` in turn, one after the other.
/// Returns its exit status: 0 once every outcome is written, 1 if one
/// could not be (or the parent is gone).
///
/// `parent` is `booking`. A buyer may have been forked by a spawner (see
/// [`crate::sys::Children::spawn_all`]) and adopted by `booking`
/// only when the spawner exited, so it asks to die with its parent only
/// after the barrier, which `booking` opens once every spawner is gone.
/// Before that, a `booking` that died shows as end-of-file on the barrier.
pub fn life<'a>(
    parent: Pid,
    shared: &'a dyn Shared,
    pipes: Pipes,
    plans: impl IntoIterator<Item = Plan<'a>>,
) -> i32 {
    // Before any strategy code runs here: no stop handler of the parent's,
    // and no privilege to forge another buyer's credentials.
    if sys::default_stop_signals().is_err() || sys::privilege::drop_to_buyer().is_err() {
        return 1;
    }
    let pid = nix::unistd::getpid();
    let mut plans = plans.into_iter();
    let Some(first) = plans.next() else {
        return 0;
    };
    // Stepped: opened in turn (see `Point::Start`).
    if let Some(turns) = first.turns
        && turns
            .view()
            .pause(first.id as usize, Point::Start as u32)
            .is_err()
    {
        return 1;
    }
    let ready = guarded(first.id, pid, || Ready::prepare(shared, first, pid));
    first.stage(Stage::Ready);
    if !wait_at_barrier(pipes.barrier) {
        return 1;
    }
    // The barrier opened, so `booking` was alive and had adopted us; if
    // it died since, the parent is no longer `booking`.
    if sys::die_with_parent().is_err() || getppid() != parent {
        return 1;
    }
    if !buy_and_report(first.id, pid, ready, &pipes.outcomes) {
        return 1;
    }
    for plan in plans {
        let ready = guarded(plan.id, pid, || Ready::prepare(shared, plan, pid));
        plan.stage(Stage::Ready);
        if !buy_and_report(plan.id, pid, ready, &pipes.outcomes) {
            return 1;
        }
    }
    0
}

/// Buys (if `ready`) and sends the outcome record of buyer `id`, one
/// message, never interleaved with another's. False if it could not be
/// sent.
fn buy_and_report(id: u32, pid: Pid, ready: Result<Ready<'_>, Failed>, outcomes: &Sender) -> bool {
    let mut outcome = match ready {
        Ok(buyer) => guarded(id, pid, move || Ok(buyer.buy())).unwrap_or_else(|o| *o),
        Err(failed) => *failed,
    };
    outcome.note = crate::lock::hooks::take_note();
    outcomes.send(&outcome.to_line()).is_ok()
}

/// A buyer's failure before it could buy: its record, boxed (a record is
/// large next to the success it stands beside).
type Failed = Box<Outcome>;

/// Runs `f`, turning a panic into a failed outcome with its message.
fn guarded<T>(id: u32, pid: Pid, f: impl FnOnce() -> Result<T, Failed>) -> Result<T, Failed> {
    panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Box::new(Outcome::failed(id, pid, last_panic()))))
}

/// Blocks until the parent opens the barrier. False if the parent died.
fn wait_at_barrier(barrier: OwnedFd) -> bool {
    let mut barrier = File::from(barrier);
    let mut byte = [0u8; 1];
    loop {
        match barrier.read(&mut byte) {
            Ok(1) => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            _ => return false,
        }
    }
}

/// A buyer ready to buy.
struct Ready<'a> {
    plan: Plan<'a>,
    pid: Pid,
    lock: Box<dyn Lock + 'a>,
    /// The temporary file of its write (none for a strategy whose store
    /// does the purchase).
    tmp: Option<TempFile>,
}

impl<'a> Ready<'a> {
    /// Everything that can be done before the race starts.
    fn prepare(shared: &'a dyn Shared, plan: Plan<'a>, pid: Pid) -> Result<Self, Failed> {
        let fail = |what: &str, e: io::Error| {
            Box::new(Outcome::failed(plan.id, pid, format!("{what}: {e}")))
        };
        let lock = shared.open().map_err(|e| fail("opening the lock", e))?;
        let tmp = match plan.protects {
            Protects::Transaction => None,
            _ => Some(
                TempFile::create(plan.stock, plan.mode)
                    .map_err(|e| fail("creating the temporary file", e))?,
            ),
        };
        // Warm-up: fault in the code and heap pages the purchase will use.
        let warm = Stock::new(u64::from(plan.id)).to_text();
        let _ = Stock::parse(&warm).map(|s| s.count());
        let _ = Outcome::failed(plan.id, pid, warm).to_line();
        Ok(Ready {
            plan,
            pid,
            lock,
            tmp,
        })
    }

    /// Buys one ticket (see the module doc).
    ///
    /// `released_ns` is read just before the release and `acquired_ns` just
    /// after the acquire, so under a real lock the next holder's
    /// `acquired_ns` is never earlier: overlapping sections are real
    /// overlaps.
    fn buy(self) -> Outcome {
        let Ready {
            plan,
            pid,
            mut lock,
            tmp,
        } = self;
        let mut out = Outcome {
            delay_us: plan.delay.as_micros() as u64,
            ..Outcome::empty(plan.id, pid)
        };
        if !plan.arrival.is_zero() {
            plan.stage(Stage::Arriving);
            std::thread::sleep(plan.arrival);
        }
        if let Some(turns) = plan.turns {
            *STEPPED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Stepper {
                turns: turns.view(),
                id: plan.id as usize,
                pauses: 0,
            });
            crate::lock::hooks::install_point(strategy_point);
            if turns.calls() {
                stop_at_calls(turns.view(), plan.id as usize);
            }
        }
        if plan.protects == Protects::Transaction {
            return transact(&plan, &mut *lock, out);
        }
        let mut sale = Sale {
            plan: &plan,
            tmp,
            read: None,
        };
        if plan.protects == Protects::Write {
            plan.stage(Stage::Reading);
            if let Err(e) = sale.read_and_wait() {
                out.error = Some(e);
                return out;
            }
        }
        if let Err(e) = pause(Point::Lock) {
            out.error = Some(e);
            return out;
        }
        plan.stage(Stage::Waiting);
        let slept = voluntary_switches();
        let asked = monotonic_ns();
        let guard = match in_section(Section::Lock, || lock::acquire(&mut *lock)) {
            Ok(g) => g,
            Err(e) => {
                out.error = Some(format!("acquiring the lock: {e}"));
                return out;
            }
        };
        out.acquired_ns = monotonic_ns();
        out.wakeups = voluntary_switches().saturating_sub(slept);
        plan.stage(Stage::Holding);
        plan.maybe_pause(KillPoint::Hold);
        plan.maybe_die(KillPoint::Hold);
        let result = sale.finish();
        if matches!(result, Ok(Some(_))) {
            plan.maybe_pause(KillPoint::Commit);
            plan.maybe_die(KillPoint::Commit);
        }
        let result = match pause(Point::Unlock) {
            Ok(()) => result,
            Err(e) => Err(e),
        };
        out.released_ns = monotonic_ns();
        let release = in_section(Section::Unlock, || guard.release());
        plan.stage(Stage::Done);
        out.wait_us = (out.acquired_ns - asked) / 1000;
        out.hold_us = (out.released_ns - out.acquired_ns) / 1000;
        match (result, release) {
            (Ok(ticket), Ok(())) => {
                out.got_ticket = ticket.is_some();
                out.ticket = ticket;
            }
            (Err(e), _) => out.error = Some(e),
            (Ok(_), Err(e)) => out.error = Some(format!("releasing the lock: {e}")),
        }
        out
    }
}

/// A purchase that the strategy's store does itself ([`Lock::transact`]):
/// the section's times are the strategy's; the kill points are its
/// moments.
fn transact(plan: &Plan<'_>, lock: &mut dyn Lock, mut out: Outcome) -> Outcome {
    use crate::lock::{Moment, Order};
    plan.stage(Stage::Waiting);
    let slept = voluntary_switches();
    let asked = monotonic_ns();
    // A strategy that retries (a lease refused by the store) passes the
    // same moments again: the pause is one, at the first.
    let mut paused = false;
    let mut at = |m: Moment| {
        let here = match m {
            Moment::Holding => {
                plan.stage(Stage::Holding);
                KillPoint::Hold
            }
            Moment::Read => KillPoint::Read,
            Moment::Wrote => KillPoint::Write,
            Moment::Committed => KillPoint::Commit,
        };
        if !paused && plan.pause.is_some_and(|(p, _)| p == here) {
            paused = true;
            plan.maybe_pause(here);
        }
        plan.maybe_die(here);
    };
    let result = in_section(Section::Transact, || {
        lock.transact(&mut Order {
            buyer: plan.id,
            delay: plan.delay,
            at: &mut at,
        })
    });
    plan.stage(Stage::Done);
    out.wakeups = voluntary_switches().saturating_sub(slept);
    match result {
        Ok(sold) => {
            out.acquired_ns = sold.acquired_ns;
            out.released_ns = sold.released_ns.max(sold.acquired_ns);
            out.wait_us = sold.acquired_ns.saturating_sub(asked) / 1000;
            out.hold_us = (out.released_ns - out.acquired_ns) / 1000;
            out.got_ticket = sold.ticket.is_some();
            out.ticket = sold.ticket;
        }
        Err(e) => out.error = Some(format!("the transaction failed: {e}")),
    }
    out
}

/// This process's voluntary context switches so far (0 if `getrusage`
/// fails, which it cannot for `RUSAGE_SELF`).
fn voluntary_switches() -> u64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0, |u| u.voluntary_context_switches() as u64)
}

/// One purchase's steps, so that they can be split around the lock.
struct Sale<'p, 'a> {
    plan: &'p Plan<'a>,
    tmp: Option<TempFile>,
    /// The stock as read, if read already.
    read: Option<Stock>,
}

impl Sale<'_, '_> {
    /// Reads the stock; if there is a ticket, waits the delay.
    fn read_and_wait(&mut self) -> Result<(), String> {
        pause(Point::Read)?;
        let s = stock::load(self.plan.stock)
            .map_err(|e| format!("reading stock file {}: {e}", self.plan.stock.display()))?;
        self.plan.maybe_pause(KillPoint::Read);
        self.plan.maybe_die(KillPoint::Read);
        if s.count() > 0 && !self.plan.delay.is_zero() {
            // std's sleep resumes after EINTR for the remaining time.
            std::thread::sleep(self.plan.delay);
        }
        self.read = Some(s);
        Ok(())
    }

    /// The rest of the purchase: read (unless done), decide, write.
    /// Returns the ticket sold, if any. A buyer that sells nothing drops
    /// (removes) its temporary file.
    fn finish(&mut self) -> Result<Option<u64>, String> {
        if self.read.is_none() {
            self.read_and_wait()?;
        }
        let mut s = self.read.take().expect("read above");
        let count = s.count();
        if count == 0 {
            return Ok(None);
        }
        s.set_count(count - 1);
        pause(Point::Write)?;
        let mut tmp = self.tmp.take().expect("one temporary file per purchase");
        self.plan.maybe_pause(KillPoint::Write);
        if self.plan.kill_at == Some(KillPoint::Write) {
            let _ = tmp.write_torn(&s);
            self.plan.maybe_die(KillPoint::Write);
        }
        tmp.commit(&s)
            .map_err(|e| format!("writing stock file {}: {e}", self.plan.stock.display()))?;
        Ok(Some(count))
    }
}
