//! The clock every record is timed with.

/// Nanoseconds of `CLOCK_MONOTONIC`: a clock every process on the machine
/// shares (so buyers' times can be put on one timeline), which no one can
/// set back.
pub fn monotonic_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available on Linux");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}
