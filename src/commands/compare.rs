//! `booking compare`: the same workload against every strategy, repeated,
//! summarised as what each strategy trades: safety against speed.

use crate::cli::{CompareArgs, rerun};
use crate::engine::{RunConfig, RunOutput, StockSource, run};
use crate::error::{Error, Result};
use crate::lock::Strategy;
use crate::report::Exporter;
use crate::report::comparison::{Comparison, Row};

/// Runs `base` (its strategy replaced) for each of `strategies`: one warm-up
/// run, then `repeat` measured runs. `progress` is called after every run,
/// `sample` after every strategy with its run of median wall time (none
/// when every run failed), `done` after every strategy with the
/// comparison so far. A run that fails or hangs is counted in its row and
/// the comparison goes on.
///
/// # Errors
/// When interrupted, or when `done` fails; what `done` saw is kept.
pub fn compare(
    base: &RunConfig,
    strategies: &[&'static Strategy],
    pools: &[u32],
    repeat: usize,
    mut progress: impl FnMut(&str),
    mut sample: impl FnMut(&RunConfig, RunOutput),
    mut done: impl FnMut(&Comparison) -> Result<()>,
) -> Result<Comparison> {
    let mut cmp = Comparison {
        buyers: base.buyers,
        tickets: match &base.stock {
            StockSource::Fresh(t) => *t,
            StockSource::File(_) => 0,
        },
        delay: base.delay.to_string(),
        seed: base.seed,
        repeat,
        rows: Vec::new(),
    };
    // Each strategy with one process per buyer, then on each pool.
    let hostings: Vec<Option<u32>> = std::iter::once(None)
        .chain(pools.iter().map(|&k| Some(k)))
        .collect();
    for (&strategy, &pool) in strategies
        .iter()
        .flat_map(|s| hostings.iter().map(move |p| (s, p)))
    {
        let cfg = RunConfig {
            strategy,
            pool,
            ..base.clone()
        };
        let mut runs = Vec::with_capacity(repeat);
        let mut errors = Vec::new();
        for i in 0..=repeat {
            match run(&cfg) {
                // The first run warms up and is not counted.
                Ok(_) if i == 0 => {}
                Ok(out) => runs.push(out),
                Err(e @ Error::Interrupted(..)) => return Err(e),
                Err(e) if i > 0 => errors.push(e.to_string()),
                Err(_) => {}
            }
            progress(strategy.name);
        }
        let mut row = Row::of(strategy, &runs, &errors);
        if let Some(k) = pool {
            row.strategy = format!("{} (pool {k})", strategy.name);
        }
        cmp.rows.push(row);
        cmp.set_ratios();
        if !runs.is_empty() {
            runs.sort_by_key(|r| r.wall);
            sample(&cfg, runs.swap_remove(runs.len() / 2));
        }
        done(&cmp)?;
    }
    Ok(cmp)
}

/// `booking compare`: the table (or `--format`), and `--out FILE`
/// rewritten after each strategy.
///
/// # Errors
/// Bad input (an unwritable `--out`: nothing run), or an interrupt.
pub fn command(args: &CompareArgs) -> Result<i32> {
    let strategies = super::chosen_with_servers(&args.lock, &args.workload.servers)?;
    let base = args.workload.config(strategies[0], |_| {});
    let format = exporter_for(args)?;
    // Refuse an unwritable --out before any run, without touching it.
    let out = args
        .out
        .as_deref()
        .map(|p| super::output::OutFile::check("--out", p))
        .transpose()?;
    let timeline = args.timeline.as_deref().map(timeline_out).transpose()?;
    let mut samples = Vec::new();
    let repeat = args.repeat as usize;
    let rows = strategies.len() * (1 + args.pool.len());
    let bar = crate::report::progress_bar((rows * (repeat + 1)) as u64, args.quiet);
    let write_out = |c: &Comparison| -> Result<()> {
        match &out {
            Some(f) => f.write(&(format.render)(c)),
            None => Ok(()),
        }
    };
    let result = compare(
        &base,
        &strategies,
        &args.pool,
        repeat,
        |name| {
            bar.set_message(name.to_string());
            bar.inc(1);
        },
        |cfg, out| {
            if timeline.is_some() {
                samples.push(crate::report::RunReport::new(cfg, out, rerun));
            }
        },
        write_out,
    );
    bar.finish_and_clear();
    let cmp = result?;
    let shown = if out.is_some() {
        crate::report::exporter("text").expect("text is registered")
    } else {
        format
    };
    super::output::print(&(shown.render)(&cmp))?;
    if let Some(f) = &out {
        super::output::warn(&format!("booking: wrote {}", f.shown.display()));
    }
    if let Some(f) = &timeline {
        let runs: Vec<_> = samples.iter().collect();
        f.write(&crate::report::timeline::svg_on_one_scale(&runs))?;
        super::output::warn(&format!("booking: wrote {}", f.shown.display()));
    }
    Ok(0)
}

/// `--timeline`, checked before any run: an SVG file (one panel per
/// strategy, its run of median wall time, all on one time scale).
fn timeline_out(path: &std::path::Path) -> Result<super::output::OutFile> {
    if path.extension().and_then(|e| e.to_str()) != Some("svg") {
        return Err(Error::Input(format!(
            "--timeline {}: compare draws its timelines as a picture; give a file ending in .svg",
            path.display()
        )));
    }
    super::output::OutFile::check("--timeline", path)
}

/// The exporter `--format` names, else the one `--out`'s extension names,
/// else text.
fn exporter_for(args: &CompareArgs) -> Result<&'static Exporter> {
    if let Some(name) = &args.format {
        return Ok(crate::report::exporter(name).expect("clap only accepts registered formats"));
    }
    let ext = args
        .out
        .as_deref()
        .and_then(std::path::Path::extension)
        .and_then(|e| e.to_str())
        .unwrap_or("");
    Ok(crate::report::EXPORTERS
        .iter()
        .find(|x| x.extensions.contains(&ext))
        .unwrap_or(&crate::report::EXPORTERS[0]))
}
