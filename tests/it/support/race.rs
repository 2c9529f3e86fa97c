//! Certain races: the one both SQL stores teach with (two statements,
//! each atomic, the purchase not), and a stepped run's.

use super::{Work, assert_consistent, u};

/// A stepped run of `none` in which all four buyers read the count (2)
/// before anyone writes: the same race on every machine.
pub const RACE: [&str; 8] = [
    "--buyers",
    "4",
    "--tickets",
    "2",
    "--lock",
    "none",
    "--schedule",
    "0,1,2,3,0,1,2,3,0,1,2,3,0,1,2,3",
];

/// Whether `lock` (with `extra` arguments) oversells and loses updates in
/// one of three runs of 20 buyers, 5 tickets, 50 ms between each read and
/// its write (every report checked against its records).
pub fn loses_updates_in_a_certain_race(work: &Work, lock: &str, extra: &[&str]) -> bool {
    (0..3).any(|seed| {
        let seed = seed.to_string();
        let mut args = vec![
            "--buyers",
            "20",
            "--tickets",
            "5",
            "--lock",
            lock,
            "--delay",
            "50ms..60ms",
            "--seed",
            &seed,
            "--json",
        ];
        args.extend_from_slice(extra);
        let run = work.booking(&args);
        let r = run.json();
        assert_consistent(&r, u(&r, "remaining"), run.pid);
        u(&r, "oversold") > 0 && u(&r, "lost_updates") > 0 && r["safe"] == false
    })
}
