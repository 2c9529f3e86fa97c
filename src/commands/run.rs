//! `booking` / `booking run`: one booking run, its summary or JSON, its
//! timeline, its quiz.

use std::os::fd::AsFd;

use crate::cli::{RunArgs, rerun};
use crate::engine::run;
use crate::error::{Error, Result};
use crate::judge::verdict::Status;
use crate::report::RunReport;
use crate::report::quiz::{self, Question};

use super::output::{self, OutFile};

/// Where `--timeline` goes, checked before the run.
enum TimelineOut {
    Terminal,
    Text(OutFile),
    Svg(OutFile),
}

fn timeline_out(args: &RunArgs) -> Result<Option<TimelineOut>> {
    let Some(path) = &args.timeline else {
        return Ok(None);
    };
    if path.as_os_str() == "-" {
        if args.json {
            return Err(Error::Input(
                "--timeline - and --json both write to standard output; give --timeline a file (.svg or .txt)".into(),
            ));
        }
        return Ok(Some(TimelineOut::Terminal));
    }
    let svg = match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => true,
        Some("txt") => false,
        _ => {
            return Err(Error::file(
                "--timeline",
                path,
                "needs a .svg or .txt name, or - for the terminal",
            ));
        }
    };
    // Refuse an unwritable file before the run, without touching it.
    let out = OutFile::check("--timeline", path)?;
    Ok(Some(if svg {
        TimelineOut::Svg(out)
    } else {
        TimelineOut::Text(out)
    }))
}

/// Runs one booking and prints it. Exit code: 3 for an unsafe verdict
/// with `--strict`; else 1 when a buyer failed or hung or a record was
/// rejected; else 0.
///
/// # Errors
/// Bad input, a failed run, or an interrupt.
pub fn command(args: &RunArgs) -> Result<i32> {
    let cfg = args.config()?;
    let timeline = timeline_out(args)?;
    let quizzing = args.quiz.is_some() || args.predict.is_some();
    let question = args.quiz.unwrap_or_default();
    if let Some(p) = &args.predict
        && !question.accepts(p.trim())
    {
        return Err(Error::Input(format!("--predict {p}: {}", question.hint())));
    }
    if quizzing {
        // A stepped run has no delays: the schedule is its timing.
        let timing = match &cfg.stepping {
            Some(_) => "stepped (no delays)".to_string(),
            None => format!("delay {}", cfg.delay),
        };
        output::print(&format!(
            "Quiz: {} buyer processes, lock {}, {timing}. Running...\n",
            cfg.buyers, cfg.strategy.name
        ))?;
    }
    let out = run(&cfg);
    super::apart::report_to_judge(&out);
    let out = out?;
    let report = RunReport::new(&cfg, out, rerun);
    if quizzing {
        let guess = match &args.predict {
            Some(g) => g.trim().to_string(),
            None => ask_prediction(&report, question)?,
        };
        output::print(&format!(
            "\n{}{}\n",
            report.human(),
            quiz::reveal(&report, question, &guess)
        ))?;
    } else if args.json {
        output::print_json(&report)?;
    } else {
        output::print(&output::paint_verdict(&report.human()))?;
    }
    match timeline {
        None => {}
        Some(TimelineOut::Terminal) => {
            let text = crate::report::timeline::text(
                &report,
                72,
                Some(crate::report::timeline::MAX_TEXT_LANES),
            );
            output::print(&format!("\n{text}"))?;
        }
        Some(TimelineOut::Text(f)) => {
            f.write(&crate::report::timeline::text(&report, 100, None))?;
            output::warn(&format!(
                "booking: timeline written to {}",
                f.shown.display()
            ));
        }
        Some(TimelineOut::Svg(f)) => {
            f.write(&crate::report::timeline::svg(&report))?;
            output::warn(&format!(
                "booking: timeline written to {}",
                f.shown.display()
            ));
        }
    }
    super::stopped("after the run; its report is above")?;
    let v = &report.verdict;
    if v.status == Status::Unsafe && args.strict {
        return Ok(3);
    }
    if v.failed + v.hung + v.rejected > 0 {
        output::warn(&format!(
            "booking: the run did not complete: {}",
            report.summary
        ));
        return Ok(1);
    }
    Ok(0)
}

/// Asks on the terminal (or reads from standard input) how many buyers
/// were told they got a ticket. A stop signal ends the wait at once, also
/// one that arrived before the wait began: standard input is `poll`ed in
/// short slices with the stop flag checked between them, and read with a
/// raw `read(2)` (std's `read_line` would restart after `EINTR`).
fn ask_prediction(report: &RunReport, q: Question) -> Result<String> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let stdin = std::io::stdin();
    let mut line = Vec::new();
    loop {
        output::print(&format!("{} ", quiz::question(report, q)))?;
        line.clear();
        loop {
            super::stopped("at the quiz prompt")?;
            let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(100u8)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(Error::failed("waiting for your prediction", e)),
            }
            let mut byte = [0u8; 1];
            match nix::unistd::read(stdin.as_fd(), &mut byte) {
                Ok(0) if line.is_empty() => {
                    return Err(Error::Input(
                        "--quiz: no prediction given (standard input ended); try --predict N"
                            .into(),
                    ));
                }
                Ok(0) => break,
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) => line.push(byte[0]),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Error::failed("reading your prediction", e)),
            }
        }
        let guess = String::from_utf8_lossy(&line).trim().to_string();
        if q.accepts(&guess) {
            return Ok(guess);
        }
        output::print(&format!("  {}\n", q.hint()))?;
    }
}
