//! The simulated network delay between reading the stock and writing it back.
//!
//! Written as one duration (`2ms`) or a range (`0..3ms`, `1ms..5ms`); a bare
//! number on the left of a range takes the unit on the right. Each buyer
//! draws its delay uniformly from the range with an RNG seeded by the run's
//! seed and its own id, so a run with the same `--seed` repeats its delays.
//!
//! A range may end in `/K` (`0..200ms/5`): **bursts**. Each buyer then draws
//! one of K instants evenly spaced over the range (0, 50, 100, 150 and
//! 200 ms), so the buyers come in K clumps with the lock idle between them
//! — arrivals as a class's autograder or a flash sale makes them, rather
//! than spread evenly.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::seed;

/// A delay window `[min, max]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delay {
    /// Shortest delay.
    pub min: Duration,
    /// Longest delay (equal to `min` for a fixed delay).
    pub max: Duration,
    /// Bursts: with 2 or more, a draw is one of that many instants evenly
    /// spaced from `min` to `max`; with 0 or 1, any instant between.
    pub bursts: u32,
}

/// The longest delay accepted, so that a typo cannot hang a lab for hours.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

impl Delay {
    /// A fixed delay.
    pub fn fixed(d: Duration) -> Self {
        Delay::between(d, d)
    }

    /// Any instant from `min` to `max`, uniformly.
    pub fn between(min: Duration, max: Duration) -> Self {
        Delay {
            min,
            max,
            bursts: 0,
        }
    }

    /// No delay at all.
    pub const ZERO: Delay = Delay {
        min: Duration::ZERO,
        max: Duration::ZERO,
        bursts: 0,
    };

    /// Buyer `id`'s draw from this window in a run seeded with `seed`, in
    /// the stream `stream` (see [`seed::stream`]).
    pub fn draw(&self, seed: u64, stream: u64, id: u32) -> Duration {
        if self.min == self.max {
            return self.min;
        }
        let mut rng = seed::rng(seed, stream.wrapping_add(u64::from(id)));
        let (min, max) = (self.min.as_nanos() as u64, self.max.as_nanos() as u64);
        if self.bursts >= 2 {
            let k = seed::between(&mut rng, 0, u64::from(self.bursts) - 1);
            let gap = (max - min) / (u64::from(self.bursts) - 1);
            return Duration::from_nanos(min + k * gap);
        }
        Duration::from_nanos(seed::between(&mut rng, min, max))
    }

    /// Buyer `id`'s delay in a run seeded with `seed`.
    pub fn for_buyer(&self, seed: u64, id: u32) -> Duration {
        self.draw(seed, seed::stream::DELAY, id)
    }

    /// Whether the window is `0`.
    pub fn is_zero(&self) -> bool {
        self.max.is_zero()
    }
}

fn split_unit(s: &str) -> (&str, &str) {
    let at = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (&s[..at], &s[at..])
}

/// Parses one duration such as `2ms`, `500us`, `1.5s` (a bare `0` needs no
/// unit; other bare numbers take `default_unit`).
///
/// # Errors
/// A one-line reason.
pub fn parse_one(s: &str, default_unit: &str) -> Result<Duration, String> {
    let (num, unit) = split_unit(s.trim());
    let unit = if unit.is_empty() { default_unit } else { unit };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 2ms, 500us, 0..3ms)"))?;
    let scale = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "" if value == 0.0 => 1.0,
        "" => return Err(format!("'{s}' needs a unit: ns, us, ms or s")),
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{s}' (use ns, us, ms or s)"
            ));
        }
    };
    let d = Duration::try_from_secs_f64(value * scale).map_err(|e| format!("'{s}': {e}"))?;
    if d > MAX_DELAY {
        return Err(format!(
            "'{s}' is longer than the limit of {}s",
            MAX_DELAY.as_secs()
        ));
    }
    Ok(d)
}

impl FromStr for Delay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (range, bursts) = match s.split_once('/') {
            None => (s, 0),
            Some((range, k)) => {
                let k: u32 = k
                    .trim()
                    .parse()
                    .ok()
                    .filter(|k| (2..=10_000).contains(k))
                    .ok_or_else(|| {
                        format!("'{s}': the number of bursts after / must be 2 to 10000")
                    })?;
                if !range.contains("..") {
                    return Err(format!("'{s}': bursts need a range (0..200ms/5)"));
                }
                (range, k)
            }
        };
        match range.split_once("..") {
            None => parse_one(range, "").map(Delay::fixed),
            Some((lo, hi)) => {
                let (_, hi_unit) = split_unit(hi.trim());
                let max = parse_one(hi, "")?;
                let min = parse_one(lo, hi_unit)?;
                if min > max {
                    return Err(format!("'{s}': the range runs backwards"));
                }
                Ok(Delay { min, max, bursts })
            }
        }
    }
}

/// A duration as `--delay` and `--timeout` write it (`2ms`, `1s`, `500us`).
pub fn fmt_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        "0".into()
    } else if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            f.write_str(&fmt_duration(self.min))
        } else {
            write!(f, "{}..{}", fmt_duration(self.min), fmt_duration(self.max))?;
            if self.bursts >= 2 {
                write!(f, "/{}", self.bursts)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_fixed_and_ranges() {
        assert_eq!("2ms".parse(), Ok(Delay::fixed(ms(2))));
        assert_eq!("0".parse(), Ok(Delay::fixed(ms(0))));
        assert_eq!("0..3ms".parse(), Ok(Delay::between(ms(0), ms(3))));
        assert_eq!("1..3ms".parse(), Ok(Delay::between(ms(1), ms(3))));
        assert_eq!(
            "500us..1ms".parse(),
            Ok(Delay::between(Duration::from_micros(500), ms(1)))
        );
        let bursts: Delay = "0..200ms/5".parse().unwrap();
        assert_eq!(bursts.bursts, 5);
        assert_eq!(bursts.to_string(), "0..200ms/5");
    }

    #[test]
    fn bursts_fall_on_evenly_spaced_instants() {
        let bursts: Delay = "0..200ms/5".parse().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for id in 0..200 {
            let d = bursts.draw(7, 0, id);
            assert_eq!(d.as_millis() % 50, 0, "{d:?}");
            assert!(d <= ms(200));
            seen.insert(d);
        }
        assert_eq!(seen.len(), 5, "every burst gets buyers: {seen:?}");
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "fast",
            "3",
            "2 parsecs",
            "5ms..1ms",
            "1..",
            "9999s",
            "-1ms",
            "2ms/3",
            "0..1ms/1",
            "0..1ms/x",
        ] {
            assert!(bad.parse::<Delay>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["2ms", "0", "0..3ms", "500us..1ms", "1s"] {
            let d: Delay = s.parse().unwrap();
            assert_eq!(d.to_string().parse::<Delay>(), Ok(d), "{s}");
        }
    }

    #[test]
    fn draws_are_seeded_and_in_range() {
        let d: Delay = "1ms..5ms".parse().unwrap();
        let a: Vec<_> = (0..50).map(|id| d.for_buyer(7, id)).collect();
        let b: Vec<_> = (0..50).map(|id| d.for_buyer(7, id)).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|x| (ms(1)..=ms(5)).contains(x)));
        let c: Vec<_> = (0..50).map(|id| d.for_buyer(8, id)).collect();
        assert_ne!(a, c);
    }
}
