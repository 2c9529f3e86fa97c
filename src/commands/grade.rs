//! `booking grade`: one strategy's grade, for a teacher — and for an
//! autograder (Gradescope's `results.json`, JUnit XML).
//!
//! Graded items, 100 points:
//! * **the lab's workload** (45): `--lab` rounds of the lab scenarios (the
//!   README's 150 buyers, 1,000 buyers, over 1,000 queued at once,
//!   holders stopped for 1.2 s, arrivals spread, in bursts), none unsafe, failed,
//!   hung or short. Weighed so that a lock wrong only at the lab's scale
//!   scores at most 55, whatever else it passes;
//! * **safety, free-running** (15): `--cases` scenarios of `check`'s kind
//!   (arrivals spread, delays), the same demands;
//! * **safety, stepped** (15): as many stepped scenarios (uniform and PCT
//!   schedules), the same demands;
//! * **a holder killed at hold, read, write, commit** (5 each): three
//!   buyers kill themselves there; the run must finish (nobody hung),
//!   stay safe, and leave a valid stock file;
//! * **liveness** (5): 40 buyers, 10 tickets, 0–1 ms delays: every buyer
//!   finishes under the watchdog, every ticket is sold.
//!
//! Safety is demanded whatever the strategy claims: a strategy marked
//! `safe: false` is graded as if it claimed safety.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::apart::run_apart;
use super::output::{self, OutFile};
use super::scenario::{SPACE, Scenario};
use crate::cli::{GradeArgs, Servers, rerun};
use crate::engine::seed::random_seed;
use crate::engine::{KillPoint, RunConfig, RunOutput};
use crate::error::{Error, Result};
use crate::judge::verdict::{Status, count};
use crate::lock::{self, Strategy};
use crate::sys::contain::LastWords;

/// One graded item, in Gradescope's shape.
#[derive(Debug, Clone, Serialize)]
pub struct GradedTest {
    /// What was tested.
    pub name: String,
    /// Points earned.
    pub score: f64,
    /// Points possible.
    pub max_score: f64,
    /// `passed` or `failed`.
    pub status: &'static str,
    /// Why, and the command that shows it.
    pub output: String,
    /// Gradescope visibility: always `visible`.
    pub visibility: &'static str,
}

/// The whole grade: Gradescope's `results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Grade {
    /// Points earned, of 100.
    pub score: f64,
    /// Seconds the grading took.
    pub execution_time: f64,
    /// One paragraph: the strategy, the seed, the verdict.
    pub output: String,
    /// Every graded item.
    pub tests: Vec<GradedTest>,
}

/// Points of each item.
const LAB_POINTS: f64 = 45.0;
const FREE: f64 = 15.0;
const STEPPED: f64 = 15.0;
const KILL: f64 = 5.0;
const LIVENESS: f64 = 5.0;

/// What is wrong with a run the grade demands be safe, complete and
/// selling `want` tickets, if anything.
fn fault(out: &RunOutput, want: u64) -> Option<String> {
    let v = &out.verdict;
    if v.status != Status::Safe {
        return Some(v.summary());
    }
    if v.sold != want {
        return Some(format!(
            "sold {} of the {want} it should have",
            count(v.sold, "ticket", "tickets")
        ));
    }
    None
}

fn item(name: String, max: f64, problem: Option<String>, ok: String) -> GradedTest {
    let passed = problem.is_none();
    GradedTest {
        name,
        score: if passed { max } else { 0.0 },
        max_score: max,
        status: if passed { "passed" } else { "failed" },
        output: problem.unwrap_or(ok),
        visibility: "visible",
    }
}

/// Runs `cfg` and says what `check` finds wrong with it, if anything, with
/// the command that re-runs it (a stepped run's by the schedule it
/// followed). A run that cannot be made is a problem too.
///
/// # Errors
/// Only when interrupted.
fn judged(
    cfg: &RunConfig,
    budget: Duration,
    check: impl FnOnce(&RunOutput) -> Option<String>,
) -> Result<Option<String>> {
    match run_apart(cfg, budget) {
        Ok(out) => Ok(check(&out).map(|p| {
            let replay = cfg.replaying(out.schedule.as_ref().map(|x| &x.steps[..]));
            format!("{p}\nre-run: {}", rerun(&replay))
        })),
        Err(e @ Error::Interrupted(..)) => Err(e),
        Err(e) => Ok(Some(format!(
            "the run could not be made: {e}\nre-run: {}",
            rerun(cfg)
        ))),
    }
}

/// Runs `scenarios` against `strategy`: the first problem (with its re-run
/// line), if any. A scenario this machine cannot fork is skipped, and
/// `skipped` says why.
fn scenarios(
    strategy: &'static Strategy,
    all: &[Scenario],
    timeout: Duration,
    skipped: &mut Vec<String>,
) -> Result<Option<String>> {
    for s in all {
        if let Some(why) = s.cannot_run() {
            skipped.push(format!("{}: {why}", s.lab.unwrap_or("scenario")));
            continue;
        }
        let cfg = s.config(strategy, timeout, &Servers::NONE);
        let want = s.tickets.min(u64::from(s.buyers));
        let problem = judged(&cfg, s.budget(timeout), |out| fault(out, want))?;
        if problem.is_some() {
            return Ok(problem);
        }
    }
    Ok(None)
}

/// Every run of a grade: check's free and stepped scenarios (not its
/// paused ones: a grade's faults are the kills), the lab's workload, a
/// holder killed at each point, liveness.
struct Plan {
    free: Vec<Scenario>,
    stepped: Vec<Scenario>,
    lab: Vec<Scenario>,
    kills: Vec<(KillPoint, Scenario)>,
    liveness: Scenario,
}

impl Plan {
    fn new(cases: usize, lab: usize, seed: u64) -> Self {
        let mut free = Scenario::generate_both(seed, cases, SPACE);
        let stepped = free[cases..2 * cases].to_vec();
        free.truncate(cases);
        Plan {
            free,
            stepped,
            lab: Scenario::lab(seed, lab),
            kills: KillPoint::ALL
                .into_iter()
                .map(|at| (at, Scenario::fixed(15, 20, 1_000, seed)))
                .collect(),
            liveness: Scenario::fixed(10, 40, 1_000, seed),
        }
    }

    /// The time a grade may take: each run's own time on two cores plus
    /// its watchdog (a hung run is stopped that long after its last
    /// progress), summed.
    fn budget(&self, timeout: Duration) -> Duration {
        let kills = self.kills.iter().map(|(_, s)| s);
        self.free
            .iter()
            .chain(&self.stepped)
            .chain(&self.lab)
            .chain(kills)
            .chain([&self.liveness])
            .map(|s| s.budget(timeout))
            .sum()
    }
}

/// The time budget of `booking grade` with these arguments (stated in its
/// first line, and in docs/grading.md for the defaults).
pub fn budget(cases: usize, lab: usize, seed: u64, timeout: Duration) -> Duration {
    Plan::new(cases, lab, seed).budget(timeout)
}

/// Grades `strategy` with `cases` scenarios of each kind and `lab` rounds
/// of the lab's workload, drawn from `seed`.
///
/// # Errors
/// Only when interrupted.
pub fn grade(
    strategy: &'static Strategy,
    cases: usize,
    lab: usize,
    seed: u64,
    timeout: Duration,
) -> Result<Grade> {
    let started = Instant::now();
    let plan = Plan::new(cases, lab, seed);
    let budget = plan.budget(timeout);
    let mut skipped = Vec::new();
    let lab_problem = if lab == 0 {
        Some("not run (--lab 0): full marks need the lab's workload".into())
    } else {
        scenarios(strategy, &plan.lab, timeout, &mut skipped)?
    };
    let lab_ok = match skipped.len() {
        0 => "every scenario was safe, complete, and sold every ticket it could".to_string(),
        _ => format!(
            "every scenario run was safe, complete, and sold every ticket it could; {}",
            skipped.join("; ")
        ),
    };
    let mut tests = vec![
        item(
            format!(
                "the lab's workload: {} (150 buyers for 100 tickets; 1,000 buyers; over 1,000 queued at once; holders stopped 1.2 s; arrivals spread; arrivals in bursts)",
                count(plan.lab.len() as u64, "scenario", "scenarios")
            ),
            LAB_POINTS,
            lab_problem,
            lab_ok,
        ),
        item(
            format!(
                "safety: {}",
                count(
                    cases as u64,
                    "free-running scenario",
                    "free-running scenarios"
                )
            ),
            FREE,
            scenarios(strategy, &plan.free, timeout, &mut skipped)?,
            "every scenario was safe, complete, and sold every ticket it could".into(),
        ),
        item(
            format!(
                "safety: {}",
                count(cases as u64, "stepped scenario", "stepped scenarios")
            ),
            STEPPED,
            scenarios(strategy, &plan.stepped, timeout, &mut skipped)?,
            "every interleaving tried was safe, complete, and sold every ticket it could".into(),
        ),
    ];
    for (at, scenario) in &plan.kills {
        let (at, mut cfg) = (*at, scenario.config(strategy, timeout, &Servers::NONE));
        cfg.faults.kill = 3;
        cfg.faults.kill_at = at;
        let problem = judged(&cfg, scenario.budget(timeout), |out| {
            (out.verdict.status != Status::Safe).then(|| out.verdict.summary())
        })?;
        tests.push(item(
            format!("a holder killed at {at}: the others finish, the stock stays right"),
            KILL,
            problem,
            "three buyers died there; the rest finished and the verdict is safe".into(),
        ));
    }
    let cfg = plan.liveness.config(strategy, timeout, &Servers::NONE);
    let problem = judged(&cfg, plan.liveness.budget(timeout), |out| fault(out, 10))?;
    tests.push(item(
        "liveness: 40 buyers, 10 tickets, every buyer finishes".into(),
        LIVENESS,
        problem,
        "every buyer finished and all 10 tickets were sold".into(),
    ));
    let score: f64 = tests.iter().map(|t| t.score).sum();
    let passed = tests.iter().filter(|t| t.status == "passed").count();
    Ok(Grade {
        score,
        execution_time: started.elapsed().as_secs_f64(),
        output: format!(
            "booking grade --lock {} --seed {seed}: {score:.0}/100, {passed} of {} tests passed in {:.0} s of a {:.0} s budget{}",
            strategy.name,
            tests.len(),
            started.elapsed().as_secs_f64(),
            budget.as_secs_f64(),
            if strategy.safe {
                ""
            } else {
                " (the strategy claims to be unsafe; it is graded for safety all the same)"
            }
        ),
        tests,
    })
}

impl Grade {
    /// The per-test table.
    pub fn human(&self) -> String {
        use crate::report::wrap::{WIDTH, command, words};
        let mut out = words("", &self.output, WIDTH, "  ") + "\n";
        const INDENT: &str = "         ";
        for t in &self.tests {
            let head = format!("  {:>4}/{:<3} {:<6} ", t.score, t.max_score, t.status);
            out += &words(&head, &t.name, WIDTH, INDENT);
            out += "\n";
            for line in t.output.lines() {
                out += &match line.strip_prefix("re-run: ") {
                    Some(cmd) => command(&format!("{INDENT}re-run: "), cmd, WIDTH, "             "),
                    None => words(INDENT, line, WIDTH, INDENT),
                };
                out += "\n";
            }
        }
        out += &format!("score: {:.0}/100\n", self.score);
        out
    }

    /// JUnit XML: one test case per graded item.
    pub fn junit(&self, strategy: &str) -> String {
        let failures = self.tests.iter().filter(|t| t.status != "passed").count();
        let mut x = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"booking grade {}\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">\n",
            xml(strategy),
            self.tests.len(),
            self.execution_time
        );
        for t in &self.tests {
            x += &format!(
                "    <testcase classname=\"booking.grade.{}\" name=\"{}\">\n",
                xml(strategy),
                xml(&t.name)
            );
            if t.status != "passed" {
                let first = t.output.lines().next().unwrap_or("");
                x += &format!(
                    "      <failure message=\"{}\">{}</failure>\n",
                    xml(first),
                    xml(&t.output)
                );
            }
            x += "    </testcase>\n";
        }
        x += "  </testsuite>\n</testsuites>\n";
        x
    }
}

/// Why an unfinished grade failed, when booking's process was ended before
/// it could say more.
const UNFINISHED: &str = "the grade did not finish: booking was ended while the strategy's code ran in its process (its prepare or clean-up hung past its limit, or it ended the process; see standard error), or booking was killed";

impl Grade {
    /// A failed grade of one failed test, saying `why`: what the files say
    /// until the grade is judged, and what they say if it never is.
    pub fn unfinished(strategy: &Strategy, seed: u64, why: String) -> Grade {
        Grade {
            score: 0.0,
            execution_time: 0.0,
            output: format!(
                "booking grade --lock {} --seed {seed}: 0/100, {why}",
                strategy.name
            ),
            tests: vec![item(
                "the grade finished".into(),
                100.0,
                Some(why),
                String::new(),
            )],
        }
    }

    /// Gradescope's `results.json`.
    pub fn results_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a grade always serialises") + "\n"
    }
}

/// Writes `g` to the `results` and `junit` files (each whole, renamed over
/// anything there, a strategy's writing included); returns its JSON.
fn write_grade(
    g: &Grade,
    strategy: &Strategy,
    results: Option<&OutFile>,
    junit: Option<&OutFile>,
) -> Result<String> {
    let json = g.results_json();
    if let Some(f) = results {
        f.write(&json)?;
    }
    if let Some(f) = junit {
        f.write(&g.junit(strategy.name))?;
    }
    Ok(json)
}

/// `s` with XML's five special characters escaped.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// `booking grade`: exit 0 for a full score, 3 otherwise; with
/// `--exit-zero`, 0 for any grade that finished and was written.
///
/// # Errors
/// An unwritable `--results` or `--junit` (before anything runs), or an
/// interrupt.
pub fn command(args: &GradeArgs) -> Result<i32> {
    let strategy = match (&args.lock, &args.file) {
        (Some(name), _) => lock::named(name)?,
        (None, Some(stem)) => match lock::in_file(stem).as_slice() {
            [one] => one,
            [] => {
                if let Some(g) = lock::not_built().find(|g| g.file == stem.as_str()) {
                    return Err(crate::features::missing(
                        &format!("--file {stem}"),
                        g.feature,
                    ));
                }
                return Err(Error::Input(format!(
                    "--file {stem}: src/lock/strategies/{stem}.rs defines no strategy in this build"
                )));
            }
            many => {
                let names: Vec<&str> = many.iter().map(|s| s.name).collect();
                return Err(Error::Input(format!(
                    "--file {stem}: it defines {} strategies ({}); grade one with --lock",
                    many.len(),
                    names.join(", ")
                )));
            }
        },
        (None, None) => unreachable!("clap requires --lock or --file"),
    };
    let results = args
        .results
        .as_deref()
        .map(|p| OutFile::check("--results", p))
        .transpose()?;
    let junit = args
        .junit
        .as_deref()
        .map(|p| OutFile::check("--junit", p))
        .transpose()?;
    let seed = args.seed.unwrap_or_else(random_seed);
    // The files say a failed grade from the start, and are put back so
    // should the strategy's code end this process (see `Grade::unfinished`).
    crate::sys::contain::set_failure_status(3);
    let unfinished = Grade::unfinished(strategy, seed, UNFINISHED.into());
    let files: Vec<(&OutFile, String)> = results
        .iter()
        .map(|f| (f, unfinished.results_json()))
        .chain(junit.iter().map(|f| (f, unfinished.junit(strategy.name))))
        .collect();
    let mut ready = Vec::new();
    for (f, text) in &files {
        f.write(text)?;
        ready.push(f.stage(text)?);
    }
    let pairs: Vec<(&Path, &Path)> = ready.iter().map(output::Staged::paths).collect();
    let last_words = LastWords::register(&pairs)
        .map_err(|e| Error::failed("registering the unfinished grade", e))?;
    let g = match grade(
        strategy,
        args.cases as usize,
        args.lab as usize,
        seed,
        args.timeout,
    ) {
        Ok(g) => g,
        Err(e) => {
            let why = format!("the grade did not finish: {e}");
            let g = Grade::unfinished(strategy, seed, why);
            write_grade(&g, strategy, results.as_ref(), junit.as_ref())?;
            return Err(e);
        }
    };
    drop(last_words);
    drop(ready);
    let json = write_grade(&g, strategy, results.as_ref(), junit.as_ref())?;
    output::print(&if args.json { json } else { g.human() })?;
    Ok(if g.score >= 100.0 || args.exit_zero {
        0
    } else {
        3
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_the_five() {
        assert_eq!(
            xml(r#"<a & "b" 'c'>"#),
            "&lt;a &amp; &quot;b&quot; &apos;c&apos;&gt;"
        );
    }
}
