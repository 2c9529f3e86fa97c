//! What each flag accepts: the value parsers behind the arguments, with
//! the one-line reasons clap prints when a value is refused. Strategy
//! names, comparison formats, quiz questions and kill points come from
//! their registries, so a new one is accepted (and listed in `--help`) by
//! itself.

use std::str::FromStr;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::engine::KillPoint;
use crate::engine::delay;
use crate::engine::seed::MAX_SEED;
use crate::lock;
use crate::report::quiz::Question;

/// The default `--delay`: wide enough that 150 buyers without a lock
/// practically always oversell on a 2-core machine, short enough that a safe
/// strategy sells 100 tickets one after the other in well under a second.
pub const DEFAULT_DELAY: &str = "1ms..5ms";

/// `--store`: a PostgreSQL URL (`postgres://` or `postgresql://`).
pub(super) fn parse_server(s: &str) -> Result<String, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        crate::model::secret::reveal(s, "PGPASSWORD")
    } else {
        Err("a PostgreSQL URL: postgres://USER@HOST:PORT/DATABASE (the sql-* strategies need none: SQLite is built in)".into())
    }
}

/// `--lock-server`: a Redis URL.
pub(super) fn parse_lock_server(s: &str) -> Result<String, String> {
    if s.starts_with("redis://") {
        crate::model::secret::reveal(s, "REDISCLI_AUTH")
    } else {
        Err("a Redis URL: redis://HOST:PORT".into())
    }
}

/// `--lease`: at least a millisecond.
pub(super) fn parse_lease(s: &str) -> Result<Duration, String> {
    let d = delay::parse_one(s, "ms")?;
    if d < Duration::from_millis(1) {
        return Err("a lease of at least 1ms (Redis counts in milliseconds)".into());
    }
    Ok(d)
}

/// `--run`: a name for a run several hosts share (a SQL identifier part).
pub(super) fn parse_run_name(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(s.to_string())
    } else {
        Err("1 to 40 characters from a-z, 0-9 and _".into())
    }
}

/// `--lock` values: every strategy of the registry (hidden ones accepted
/// but not listed), and those this build left out for want of a feature,
/// listed with the feature that builds them: a student of a lean build
/// sees they exist, and asking for one is the one line that says how to
/// build it ([`lock::named`]), not "invalid value", which reads as a typo.
pub(super) fn lock_parser() -> PossibleValuesParser {
    let not_built = lock::not_built().map(|g| {
        PossibleValue::new(g.name).help(format!(
            "[not built: needs the {} feature] {}",
            g.feature, g.about
        ))
    });
    PossibleValuesParser::new(
        lock::all()
            .iter()
            .map(|s| PossibleValue::new(s.name).help(s.about).hide(s.hidden))
            .chain(not_built),
    )
}

/// `--quiz` values: the questions.
pub(super) fn quiz_parser() -> impl TypedValueParser<Value = Question> {
    named(&Question::ALL, Question::name, Question::about)
}

/// `--format` values: the comparison's exporters.
pub(super) fn format_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(
        crate::report::EXPORTERS
            .iter()
            .map(|e| PossibleValue::new(e.name).help(e.about)),
    )
}

/// `--kill-at` and `--pause-at` values: the points of a purchase.
pub(super) fn kill_point_parser() -> impl TypedValueParser<Value = KillPoint> {
    named(&KillPoint::ALL, KillPoint::name, KillPoint::about)
}

/// The values of `all`, each under its name with its help, parsed back
/// by their `FromStr`.
fn named<T>(
    all: &[T],
    name: fn(T) -> &'static str,
    about: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T>
where
    T: Copy + FromStr<Err = String> + Send + Sync + 'static,
{
    PossibleValuesParser::new(
        all.iter()
            .map(|&v| PossibleValue::new(name(v)).help(about(v))),
    )
    .try_map(|s| s.parse::<T>())
}

/// Seeds up to 2^53 - 1, the largest integer JSON readers (jq,
/// JavaScript) keep exact.
pub(super) fn seed_parser() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(0..=MAX_SEED)
}

/// `--pause-for`: above 0, at most 10 minutes.
pub(super) fn parse_pause(s: &str) -> Result<Duration, String> {
    let d = delay::parse_one(s, "ms")?;
    if d.is_zero() || d > Duration::from_secs(600) {
        return Err("a pause above 0 and at most 10min".into());
    }
    Ok(d)
}

/// `--timeout`: the watchdog, above 0.
pub(super) fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = delay::parse_one(s, "s")?;
    if d.is_zero() {
        return Err("the watchdog needs a timeout above 0".into());
    }
    Ok(d)
}
