//! Signals: the stop signals the parent catches to clean up, the death
//! signal a buyer asks for, and the `--pause` stop with its kernel timer.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// The signals that stop `booking`: Ctrl-C, `kill`, the terminal closing.
pub const STOP_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// The first stop signal that arrived (0: none yet).
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop(sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    let _ = STOP.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// Catches [`STOP_SIGNALS`] with a handler that records the signal, and
/// **without `SA_RESTART`**: a blocking call (`read` at a prompt, `poll`,
/// `waitpid`) returns `EINTR`, so the code around it sees the stop at once
/// instead of blocking on.
///
/// # Errors
/// Any error of `sigaction`.
pub fn catch_stop_signals() -> io::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_stop),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in STOP_SIGNALS {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; no thread is started.
        unsafe { sigaction(sig, &action) }?;
    }
    Ok(())
}

/// The stop signal that arrived, if any.
pub fn stop_signal() -> Option<Signal> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// In a freshly forked child: restores the default action of the
/// [`STOP_SIGNALS`] (the parent catches them to clean up; a child should
/// simply die).
///
/// # Errors
/// Any error of `sigaction`.
pub fn default_stop_signals() -> io::Result<()> {
    for sig in STOP_SIGNALS {
        // SAFETY: installing SIG_DFL runs no handler code of ours, so no
        // async-signal-safety question arises.
        unsafe { nix::sys::signal::signal(sig, SigHandler::SigDfl) }?;
    }
    Ok(())
}

/// Asks the kernel to `SIGKILL` this process when its parent dies
/// (`PR_SET_PDEATHSIG`), so that it does not outlive a parent killed with
/// `SIGKILL`. The parent that counts is the one it has *now*: a buyer
/// forked by a spawner calls this only once adopted by `booking`, or the
/// spawner's normal exit would kill it.
///
/// # Errors
/// Any error of `prctl`.
pub fn die_with_parent() -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    Ok(())
}

/// Stops process `pid` (`SIGSTOP`, which it cannot catch or ignore): the
/// stepped scheduler's preemption of a buyer that spins. It runs nothing
/// until [`resume`]; a blocking call it was in goes on waiting when it
/// resumes.
///
/// # Errors
/// Any error of `kill` (the process is gone).
pub fn stop(pid: nix::unistd::Pid) -> io::Result<()> {
    nix::sys::signal::kill(pid, Signal::SIGSTOP)?;
    Ok(())
}

/// Continues process `pid` stopped by [`stop`] (`SIGCONT`).
///
/// # Errors
/// Any error of `kill` (the process is gone).
pub fn resume(pid: nix::unistd::Pid) -> io::Result<()> {
    nix::sys::signal::kill(pid, Signal::SIGCONT)?;
    Ok(())
}

/// Stops this process with `SIGSTOP` for about `pause` (`--pause`): the
/// pause of a garbage collector, a swapped-out page, a migrated virtual
/// machine. A stopped process runs nothing — no timer of its own, no
/// lease renewal — so it cannot wake itself: a POSIX timer
/// (`timer_create`) armed before the stop has the **kernel** send
/// `SIGCONT` when it expires, and a `SIGCONT` continues a stopped process
/// when it is sent, whatever its mask. The timer repeats every
/// millisecond after the first expiry: were the first `SIGCONT` sent
/// before the `SIGSTOP` took effect (this process preempted for all of
/// `pause` between the two calls), the next one still ends the stop.
/// `SIGCONT`'s default action on a running process is to do nothing, so
/// the repeats are harmless until the timer is deleted (dropped).
///
/// The parent sees nothing of it: it waits for its children without
/// `WUNTRACED`, and the watchdog allows for the pause.
///
/// # Errors
/// Any error of `timer_create`, `timer_settime` or `raise`.
pub fn stop_for(pause: std::time::Duration) -> io::Result<()> {
    use nix::sys::signal::{SigEvent, SigevNotify};
    use nix::sys::time::TimeSpec;
    use nix::sys::timer::{Expiration, Timer, TimerSetTimeFlags};
    let wake = SigEvent::new(SigevNotify::SigevSignal {
        signal: Signal::SIGCONT,
        si_value: 0,
    });
    let mut timer = Timer::new(nix::time::ClockId::CLOCK_MONOTONIC, wake)?;
    let first = TimeSpec::from_duration(pause.max(std::time::Duration::from_micros(1)));
    let again = TimeSpec::from_duration(std::time::Duration::from_millis(1));
    timer.set(
        Expiration::IntervalDelayed(first, again),
        TimerSetTimeFlags::empty(),
    )?;
    nix::sys::signal::raise(Signal::SIGSTOP)?;
    drop(timer);
    Ok(())
}
