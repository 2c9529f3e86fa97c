//! What the commands show: a run's summary for people and its JSON for
//! machines ([`run`]), its timeline ([`timeline`]), the quiz asked about it
//! ([`quiz`]), and the comparison ([`comparison`]) in every registered
//! format.
//!
//! **A comparison format is one file plus one word**: a module with a
//! `render` function and an `EXPORTER` entry, and its name in the
//! `exporters!` line below, which declares the module and lists it in
//! [`EXPORTERS`]. `compare --format` and the `--out` extension guess come
//! from the registry (hyperfine's exporter shape).

pub mod comparison;
pub mod quiz;
pub mod run;
pub mod table;
mod ticks;
pub mod timeline;
pub mod wrap;

#[cfg(test)]
mod golden;

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use comparison::Comparison;

pub use run::{RunReport, TicketCount, most_sold_ticket, wakeups_per_buyer};

/// One output format of `compare`.
pub struct Exporter {
    /// The `--format` value.
    pub name: &'static str,
    /// `--out` extensions that choose it (`""`: a file without one).
    pub extensions: &'static [&'static str],
    /// One line for `--help`.
    pub about: &'static str,
    /// The whole output.
    pub render: fn(&Comparison) -> String,
}

/// Declares each format's module and lists its `EXPORTER` in
/// [`EXPORTERS`], in the order given.
macro_rules! exporters {
    ($($format:ident),* $(,)?) => {
        $(pub mod $format;)*
        /// Every format; the first is the default.
        pub const EXPORTERS: &[Exporter] = &[$($format::EXPORTER),*];
    };
}

exporters!(text, json, csv, markdown, chart);

/// The exporter called `name`.
pub fn exporter(name: &str) -> Option<&'static Exporter> {
    EXPORTERS.iter().find(|e| e.name == name)
}

/// Microseconds, shown in the unit that reads best.
pub fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else if us >= 1_000 {
        format!("{:.2} ms", us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal and not
/// `quiet`. It draws from the calling thread (no ticker thread), so the
/// process stays single-threaded and may fork.
pub fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} runs · {msg} · {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}
