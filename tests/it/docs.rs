//! The figures the docs quote come from the program. Every quoted
//! `$ booking ...` command of the README, docs/lab.md and docs/answers.md
//! is run:
//!
//! - one whose result is the same on every machine (a stepped run with its
//!   `--schedule`, `check --exhaustive`): every line the docs quote must be
//!   a line of the program's output (a line `...` stands for lines left out;
//!   a JSON line's fields must have the values quoted);
//! - one whose output varies (times, a race's counts, wakeups): the quoted
//!   output's *shape* must be the program's, and its numbers in the ranges
//!   the docs make true (see [`shape`] and [`ranges`]). The slow ones (a
//!   `check` of every scenario kind, a `compare` of every strategy or of
//!   5,000 buyers) are ignored by a plain `cargo test`: `make slow-tests`
//!   and CI run them.

use crate::support::Work;

/// One quoted command and the lines quoted under it (`...` among them).
struct Quote {
    file: &'static str,
    command: Vec<String>,
    lines: Vec<String>,
    /// Its output does not depend on the machine.
    fixed: bool,
}

/// The quoted `$ booking ...` commands of `file`, with their output lines.
fn quotes(file: &'static str) -> Vec<Quote> {
    let text = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut out = Vec::new();
    let mut current: Option<Quote> = None;
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("$ booking ") {
            out.extend(current.take());
            let cmd = cmd.split('#').next().unwrap().trim();
            let fixed = cmd.contains("--schedule ") || cmd.contains("--exhaustive");
            current = Some(Quote {
                file,
                command: cmd.split_whitespace().map(String::from).collect(),
                lines: Vec::new(),
                fixed,
            });
            continue;
        }
        if line.starts_with("```") || line.starts_with("$ ") {
            out.extend(current.take());
            continue;
        }
        if let Some(q) = current.as_mut()
            && !line.trim().is_empty()
        {
            // A quoted line that goes on under itself (` \`) is compared
            // whole; `...` stands for lines left out.
            if let Some(last) = q.lines.last_mut()
                && last.ends_with(" \\")
            {
                last.truncate(last.len() - 2);
                last.push(' ');
                last.push_str(line.trim());
            } else {
                q.lines.push(line.to_string());
            }
        }
    }
    out.extend(current);
    out
}

#[test]
fn quoted_outputs_are_what_the_program_prints() {
    let work = Work::new();
    let mut checked = 0;
    for file in ["README.md", "docs/lab.md", "docs/answers.md"] {
        for q in quotes(file).into_iter().filter(|q| q.fixed) {
            let mut args: Vec<&str> = q.command.iter().map(String::as_str).collect();
            // `check --exhaustive` over the strategies its quote shows (a
            // row starts with a strategy's name), not every one.
            let rows: Vec<String> = q
                .lines
                .iter()
                .filter(|l| l.ends_with("as it says") || l.ends_with("proved safe"))
                .filter_map(|l| l.split_whitespace().next().map(String::from))
                .collect();
            let lock = rows.join(",");
            if args.contains(&"--exhaustive") && !rows.is_empty() {
                args.extend(["--lock", &lock]);
            }
            let run = work.booking(&args);
            let printed = joined(&run.stdout());
            let json = args.contains(&"--json").then(|| run.json());
            for line in q.lines.iter().filter(|l| l.trim() != "...") {
                let quoted = line.trim();
                if let Some(json) = &json {
                    // `{"status": "unsafe", "sold": 3, ...}`: each field.
                    for pair in quoted.trim_matches(|c| c == '{' || c == '}').split(", ") {
                        let Some((k, v)) = pair.split_once(": ") else {
                            continue;
                        };
                        let key = k.trim_matches('"');
                        let want: serde_json::Value = serde_json::from_str(v)
                            .unwrap_or_else(|_| panic!("{}: {pair}", q.file));
                        assert_eq!(
                            json[key],
                            want,
                            "{}: {} {key}{}",
                            q.file,
                            q.command.join(" "),
                            run.context()
                        );
                    }
                    continue;
                }
                assert!(
                    printed
                        .iter()
                        .any(|p| p == quoted || p.replace(" \\", "") == quoted),
                    "{}: `booking {}` quotes a line it does not print: {quoted:?}{}",
                    q.file,
                    q.command.join(" "),
                    run.context()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} quoted commands found");
    work.assert_clean();
}

/// Output lines, trimmed, with a line that goes on under itself (` \`)
/// joined to the next.
fn joined(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut going_on = false;
    for line in text.lines() {
        let line = line.trim();
        if going_on {
            let last = out.last_mut().expect("a line went on");
            last.push(' ');
            last.push_str(line);
        } else {
            out.push(line.to_string());
        }
        going_on = line.ends_with(" \\");
        if going_on {
            let last = out.last_mut().expect("just pushed");
            last.truncate(last.len() - 2);
        }
    }
    out
}

/// A quoted command whose output varies and that takes long: a `check` of
/// every kind of scenario, a `compare` of every strategy or of thousands of
/// buyers (tens of seconds to minutes on two cores, in a debug build).
fn slow(q: &Quote) -> bool {
    let buyers = arg(q, "--buyers").unwrap_or(0);
    match q.command[0].as_str() {
        "check" => true,
        "compare" => !q.command.iter().any(|a| a == "--lock") || buyers >= 1000,
        _ => false,
    }
}

/// The varying quotes that [`slow`] says are quick: each is run and
/// checked, one after the other, but for those that wait out a watchdog
/// (`--no-repair`), which run beside them: they sleep, and the others
/// fork 150 buyers each, which a busy machine should not get all at once.
#[test]
fn quoted_varying_outputs_have_the_programs_shape_and_ranges() {
    let varying: Vec<Quote> = ["README.md", "docs/lab.md", "docs/answers.md"]
        .into_iter()
        .flat_map(quotes)
        .filter(|q| !q.fixed && !slow(q))
        .collect();
    assert!(
        varying.len() >= 15,
        "only {} quick varying quotes found",
        varying.len()
    );
    check_all(&varying);
}

/// The slow varying quotes, one after the other (they measure).
#[test]
#[ignore = "slow: runs every slow quoted command, a check of every strategy and compares of every strategy and of 5,000 buyers (minutes on two cores): `make slow-tests` runs it, and CI (cargo test -- --include-ignored)"]
// The quoted `check` names the pg-* and redis-* strategies it leaves out
// for want of a server; a build without their features words it otherwise.
#[cfg_attr(not(all(feature = "postgres", feature = "redis")), allow(unused))]
fn quoted_slow_outputs_have_the_programs_shape_and_ranges() {
    let slow: Vec<Quote> = ["README.md", "docs/lab.md", "docs/answers.md"]
        .into_iter()
        .flat_map(quotes)
        .filter(|q| !q.fixed && slow(q))
        .collect();
    assert!(slow.len() >= 4, "only {} slow quotes found", slow.len());
    let work = Work::new();
    for q in &slow {
        if cfg!(not(all(feature = "postgres", feature = "redis")))
            && q.lines.iter().any(|l| l.starts_with("booking: left out"))
        {
            continue;
        }
        check_one(&work, q);
    }
    work.assert_clean();
}

/// Runs and checks every quote in `quotes`: those that wait out a
/// watchdog in a thread beside the others.
fn check_all(quotes: &[Quote]) {
    let work = Work::new();
    let (waiting, busy): (Vec<&Quote>, Vec<&Quote>) = quotes
        .iter()
        .partition(|q| q.command.iter().any(|a| a == "--no-repair"));
    std::thread::scope(|s| {
        let waited = s.spawn(|| {
            waiting
                .iter()
                .map(|q| run_quote(&work, q))
                .collect::<Vec<_>>()
        });
        for q in busy {
            check_one(&work, q);
        }
        for (q, run) in waiting.iter().zip(waited.join().expect("the commands ran")) {
            check_quote(q, &run);
        }
    });
    work.assert_clean();
}

fn check_one(work: &Work, q: &Quote) {
    check_quote(q, &run_quote(work, q));
}

fn run_quote(work: &Work, q: &Quote) -> crate::support::Run {
    let args: Vec<&str> = q.command.iter().map(String::as_str).collect();
    work.booking(&args)
}

/// The value of a numeric flag of the quoted command.
fn arg(q: &Quote, flag: &str) -> Option<u64> {
    let at = q.command.iter().position(|a| a == flag)?;
    q.command.get(at + 1)?.parse().ok()
}

/// Checks one varying quote against the program's run of its command.
fn check_quote(q: &Quote, run: &crate::support::Run) {
    let what = format!("{}: `booking {}`", q.file, q.command.join(" "));
    if q.command.iter().any(|a| a == "--json") {
        json::check(q, &what, &run.report(), run);
        return;
    }
    let printed = format!("{}\n{}", run.stderr(), run.stdout());
    shape::check(q, &what, &printed, run);
    match q.command[0].as_str() {
        "compare" => ranges::compare(q, &what, &run.stdout(), run),
        "check" => ranges::check(&what, &run.stdout(), run),
        _ => ranges::report(q, &what, &printed, run),
    }
}

/// Whether the strategy a single run's `--lock` names claims to be safe
/// (`Some(false)`: the run's outcome is a race's); `None` for `check` and
/// `compare`.
fn claims_safe(q: &Quote) -> Option<bool> {
    if matches!(q.command[0].as_str(), "check" | "compare") {
        return None;
    }
    let at = q.command.iter().position(|a| a == "--lock")?;
    let name = q.command.get(at + 1)?;
    Some(
        booking::lock::find(name)
            .unwrap_or_else(|| panic!("{name}: no such strategy"))
            .safe,
    )
}

/// A quoted output's shape. Both texts become tokens: numbers (digits with
/// inner `.` or `,`), and the runs of other characters between them and
/// the spaces; spacing and wrapping do not count. The quoted tokens must be
/// the program's, in order and contiguous, but:
///
/// - a number stands for any number (the ranges are [`ranges`]'s), a unit
///   of time after it for any unit, and a word after it may gain or lose a
///   plural `s` (`1 ticket`, `4 tickets`);
/// - a quoted `...` line stands for any lines;
/// - a line whose words depend on the run (an event `! ...`, a scenario's
///   `UNSAFE:`/`FAILED:` and `re-run:` lines under a `check` row, a race's
///   `verdict:`, a run's `wall` line of measurements, where a figure with
///   nothing to measure is a `-`: no buyer waited before a victim died
///   holding the lock, say) keeps its first words and stands for whatever
///   the program printed there, its wrapped lines included;
/// - a race's lines that only an anomaly prints (`overlapping`, `worst:`)
///   may be missing: a race may come out right.
mod shape {
    use super::Quote;

    #[derive(Clone, Debug, PartialEq)]
    enum Tok {
        Num(String),
        Word(String),
    }

    /// The tokens of `text`.
    fn tokens(text: &str) -> Vec<Tok> {
        let mut out = Vec::new();
        for word in text.split_whitespace() {
            let c: Vec<char> = word.chars().collect();
            let mut i = 0;
            while i < c.len() {
                let start = i;
                let digit = c[i].is_ascii_digit();
                while i < c.len()
                    && (c[i].is_ascii_digit() == digit
                        || digit
                            && matches!(c[i], '.' | ',')
                            && c.get(i + 1).is_some_and(char::is_ascii_digit))
                {
                    i += 1;
                }
                let t: String = c[start..i].iter().collect();
                out.push(if digit { Tok::Num(t) } else { Tok::Word(t) });
            }
        }
        out
    }

    const UNITS: [&str; 4] = ["ns", "µs", "ms", "s"];

    /// Whether quoted token `q` stands for printed token `p`.
    fn same(q: &Tok, p: &Tok, after_number: bool) -> bool {
        match (q, p) {
            (Tok::Num(_), Tok::Num(_)) => true,
            (Tok::Word(a), Tok::Word(b)) => {
                a == b
                    || after_number
                        && (UNITS.contains(&a.as_str()) && UNITS.contains(&b.as_str())
                            || a.strip_suffix('s') == Some(b)
                            || b.strip_suffix('s') == Some(a))
            }
            _ => false,
        }
    }

    /// Whether quoted text `q` has the shape of printed text `p`, token for
    /// token (an event of a JSON report).
    pub fn same_shape(q: &str, p: &str) -> bool {
        let (q, p) = (tokens(q), tokens(p));
        q.len() == p.len()
            && q.iter()
                .zip(&p)
                .enumerate()
                .all(|(k, (a, b))| same(a, b, k > 0 && matches!(q[k - 1], Tok::Num(_))))
    }

    /// Whether the quoted tokens `q` are the printed ones from `at` on.
    fn fits_at(q: &[Tok], p: &[Printed], at: usize) -> bool {
        at + q.len() <= p.len()
            && q.iter()
                .enumerate()
                .all(|(k, t)| same(t, &p[at + k].tok, k > 0 && matches!(q[k - 1], Tok::Num(_))))
    }

    /// A printed token, with its line and that line's indentation.
    struct Printed {
        tok: Tok,
        line: usize,
        indent: usize,
    }

    /// What a quoted line asks of the output.
    #[derive(Debug)]
    enum Item {
        Exact(Vec<Tok>),
        Optional(Vec<Tok>),
        /// These first tokens, then the rest of the printed line and the
        /// lines indented beneath it.
        Loose(Vec<Tok>),
        Gap,
    }

    fn indent(line: &str) -> usize {
        line.len() - line.trim_start().len()
    }

    /// The items of a quote.
    fn items(q: &Quote) -> Vec<(Item, String)> {
        let race = super::claims_safe(q) == Some(false);
        let mut out = Vec::new();
        // The indentation of the loose line whose wrapped lines follow.
        let mut loose: Option<usize> = None;
        for line in &q.lines {
            let t = line.trim();
            if loose.is_some_and(|i| indent(line) > i) {
                continue;
            }
            loose = None;
            let toks = tokens(t);
            let head = |n: usize| toks.iter().take(n).cloned().collect::<Vec<_>>();
            let item = if t == "..." {
                Item::Gap
            } else if t.starts_with('!') {
                Item::Loose(head(2))
            } else if indent(line) > 0
                && ["UNSAFE:", "FAILED:", "re-run:"]
                    .iter()
                    .any(|w| t.starts_with(w))
                || race && t.starts_with("verdict:")
                || t.starts_with("wall ")
            {
                Item::Loose(head(1))
            } else if race && (t.starts_with("overlapping") || t.starts_with("worst:")) {
                Item::Optional(toks)
            } else {
                Item::Exact(toks)
            };
            if matches!(item, Item::Loose(_)) {
                loose = Some(indent(line));
            }
            out.push((item, line.clone()));
        }
        out
    }

    /// The printed tokens of `text` (lines going on under themselves
    /// with ` \` joined).
    fn printed(text: &str) -> Vec<Printed> {
        let mut out = Vec::new();
        let mut line_no = 0;
        let mut going_on = false;
        for line in text.lines() {
            if !going_on {
                line_no += 1;
            }
            let (body, on) = match line.trim_end().strip_suffix(" \\") {
                Some(body) => (body, true),
                None => (line, false),
            };
            let ind = out
                .last()
                .filter(|_| going_on)
                .map_or(indent(line), |p: &Printed| p.indent);
            out.extend(tokens(body).into_iter().map(|tok| Printed {
                tok,
                line: line_no,
                indent: ind,
            }));
            going_on = on;
        }
        out
    }

    /// Whether items `i..` fit the printed tokens from `at` on; `reached`
    /// keeps the furthest item fitted, for the failure message.
    fn fits(
        items: &[(Item, String)],
        i: usize,
        p: &[Printed],
        at: usize,
        reached: &mut usize,
    ) -> bool {
        *reached = (*reached).max(i);
        let Some((item, _)) = items.get(i) else {
            return true;
        };
        match item {
            Item::Exact(q) => fits_at(q, p, at) && fits(items, i + 1, p, at + q.len(), reached),
            Item::Optional(q) => {
                fits_at(q, p, at) && fits(items, i + 1, p, at + q.len(), reached)
                    || fits(items, i + 1, p, at, reached)
            }
            Item::Loose(q) => {
                if !fits_at(q, p, at) {
                    return false;
                }
                let (line, ind) = (p[at].line, p[at].indent);
                let end = (at..p.len())
                    .find(|&k| p[k].line != line && p[k].indent <= ind)
                    .unwrap_or(p.len());
                fits(items, i + 1, p, end, reached)
            }
            Item::Gap => (at..=p.len()).any(|k| fits(items, i + 1, p, k, reached)),
        }
    }

    /// Fails unless the quote's shape is that of `text`, the program's
    /// output (standard error, then standard output).
    pub fn check(q: &Quote, what: &str, text: &str, run: &crate::support::Run) {
        let items = items(q);
        let p = printed(text);
        let mut reached = 0;
        let found = (0..=p.len()).any(|at| fits(&items, 0, &p, at, &mut reached));
        assert!(
            found,
            "{what}: the quoted output is not the program's shape; from this quoted line on, \
             it does not fit: {:?}{}",
            items.get(reached).map_or("", |(_, l)| l.as_str()),
            run.context()
        );
    }
}

/// The ranges the docs make true, checked on what the program printed.
mod ranges {
    use std::collections::BTreeMap;

    use super::{Quote, arg, claims_safe};
    use crate::support::Run;

    /// A run's counts as its report prints them (`  sold  150  buyers ...`),
    /// by label; a count the report leaves out (`failed`, `hung`, ... when
    /// none) is 0.
    pub fn counts<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeMap<String, u64> {
        const LABELS: [&str; 10] = [
            "sold",
            "turned away",
            "remaining",
            "oversold",
            "double-booked",
            "lost updates",
            "overlapping",
            "failed",
            "hung",
            "indeterminate",
        ];
        let mut out: BTreeMap<String, u64> = LABELS.iter().map(|l| (l.to_string(), 0)).collect();
        for line in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(n) = words.iter().position(|w| w.parse::<u64>().is_ok()) else {
                continue;
            };
            let label = words[..n].join(" ");
            if LABELS.contains(&label.as_str()) {
                out.insert(label, words[n].parse().unwrap());
            }
        }
        out
    }

    /// The verdict's status word (`SAFE`, `UNSAFE`, `FAILED`).
    fn status<'a>(mut lines: impl Iterator<Item = &'a str>) -> Option<String> {
        let line = lines.find_map(|l| l.trim().strip_prefix("verdict: "))?;
        Some(line.split(':').next().unwrap().trim().to_string())
    }

    /// The definitions of the README's *What a run looks like*, for a run
    /// of `buyers` buyers and `tickets` tickets: every buyer is counted
    /// once, the file holds between none and all the tickets, an oversell
    /// is what was sold beyond the stock, a lost update a sale the file
    /// forgot, and a ticket number is one the stock had.
    pub fn definitions(c: &BTreeMap<String, u64>, buyers: u64, tickets: u64, what: &str) {
        let n = |l: &str| c[l];
        assert_eq!(
            n("sold") + n("turned away") + n("failed") + n("hung") + n("indeterminate"),
            buyers,
            "{what}: every buyer counted once: {c:?}"
        );
        assert!(n("remaining") <= tickets, "{what}: {c:?}");
        assert_eq!(
            n("oversold"),
            n("sold").saturating_sub(tickets),
            "{what}: {c:?}"
        );
        assert_eq!(
            n("lost updates"),
            n("sold").saturating_sub(tickets - n("remaining")),
            "{what}: {c:?}"
        );
        assert!(n("double-booked") <= tickets, "{what}: {c:?}");
        assert!(n("overlapping") <= buyers, "{what}: {c:?}");
    }

    /// What a quoted run report makes true of the program's: the
    /// definitions; a strategy that claims to be safe has the quoted
    /// verdict, and where that is SAFE, exactly the quoted counts (the docs
    /// say so: a safe run's counts are the same on every machine); a race
    /// is SAFE or UNSAFE, never FAILED.
    pub fn report(q: &Quote, what: &str, printed: &str, run: &Run) {
        let buyers = arg(q, "--buyers").expect("--buyers");
        let tickets = arg(q, "--tickets").unwrap_or(100);
        let got = counts(printed.lines());
        definitions(&got, buyers, tickets, &format!("{what}{}", run.context()));
        let printed_status = status(printed.lines());
        let quoted_status = status(q.lines.iter().map(String::as_str));
        match claims_safe(q) {
            Some(true) => {
                assert_eq!(printed_status, quoted_status, "{what}{}", run.context());
                if quoted_status.as_deref() == Some("SAFE") {
                    assert_eq!(
                        got,
                        counts(q.lines.iter().map(String::as_str)),
                        "{what}: a safe run's counts{}",
                        run.context()
                    );
                }
            }
            _ => assert!(
                matches!(printed_status.as_deref(), Some("SAFE" | "UNSAFE")),
                "{what}: a race is SAFE or UNSAFE{}",
                run.context()
            ),
        }
    }

    /// The rows of the printed table whose header starts `strategy` and
    /// holds `column`: each row's words, its name (with its pool) first.
    fn table<'a>(stdout: &'a str, column: &str) -> Vec<Vec<&'a str>> {
        let mut lines = stdout.lines();
        assert!(
            lines
                .by_ref()
                .any(|l| l.starts_with("strategy ") && l.contains(column)),
            "no table with a `{column}` column"
        );
        lines
            .take_while(|l| !l.trim().is_empty() && !l.starts_with(' '))
            .map(|l| {
                let mut words: Vec<&str> = l.split_whitespace().collect();
                if words.get(1) == Some(&"(pool") {
                    words.drain(1..3);
                }
                words
            })
            .collect()
    }

    /// `compare`: every row's runs are `--repeat`'s, each strategy that
    /// claims to be safe was safe in all of them with nothing oversold,
    /// double-booked or lost, a mean is at most its maximum, an oversell or
    /// lost updates at most the buyers, double-booked numbers at most the
    /// tickets; the timing table has a row for each.
    pub fn compare(q: &Quote, what: &str, stdout: &str, run: &Run) {
        let ctx = || format!("{what}{}", run.context());
        let buyers = arg(q, "--buyers").expect("--buyers");
        let tickets = arg(q, "--tickets").unwrap_or(100);
        let repeat = arg(q, "--repeat").unwrap_or(5);
        let safety = table(stdout, "safe runs");
        let timing = table(stdout, "wall time");
        assert!(!safety.is_empty(), "{}", ctx());
        assert_eq!(
            safety.iter().map(|r| r[0]).collect::<Vec<_>>(),
            timing.iter().map(|r| r[0]).collect::<Vec<_>>(),
            "{}",
            ctx()
        );
        for row in &safety {
            let strategy = booking::lock::find(row[0]).expect("a strategy");
            let (k, n) = row[1].split_once('/').expect("safe runs k/n");
            let (k, n): (u64, u64) = (k.parse().unwrap(), n.parse().unwrap());
            assert_eq!(n, repeat, "{}: {}", row[0], ctx());
            assert!(k <= n, "{}: {}", row[0], ctx());
            // `(2 failed)` after the runs, then mean / max three times.
            let rest: Vec<f64> = row[2..]
                .iter()
                .skip_while(|w| w.starts_with('(') || w.ends_with(')'))
                .filter(|w| **w != "/")
                .map(|w| w.parse().unwrap_or_else(|_| panic!("{w}: {}", ctx())))
                .collect();
            assert_eq!(rest.len(), 6, "{row:?}: {}", ctx());
            for (pair, most) in rest.chunks(2).zip([buyers, tickets, buyers]) {
                assert!(
                    pair[0] <= pair[1] && pair[1] <= most as f64,
                    "{row:?}: {}",
                    ctx()
                );
            }
            if strategy.safe {
                assert_eq!(k, n, "{}: {}", row[0], ctx());
                assert!(rest.iter().all(|v| *v == 0.0), "{row:?}: {}", ctx());
            }
        }
    }

    /// `check`: a row per strategy; one that claims to be safe kept its
    /// claim (nothing unsafe, failed, hung or oversold), one that does not
    /// was caught (the README: the zoo is caught on every machine), with
    /// at most as many unsafe scenarios as it ran.
    pub fn check(what: &str, stdout: &str, run: &Run) {
        let ctx = || format!("{what}{}", run.context());
        let rows = table(stdout, "claims");
        assert!(!rows.is_empty(), "{}", ctx());
        for row in rows {
            let strategy = booking::lock::find(row[0]).expect("a strategy");
            let n: Vec<u64> = row[2..7].iter().map(|w| w.parse().unwrap()).collect();
            let verdict = row[7..].join(" ");
            assert_eq!(
                row[1],
                if strategy.safe { "safe" } else { "unsafe" },
                "{}",
                ctx()
            );
            assert!(n[1] + n[2] + n[3] <= n[0], "{row:?}: {}", ctx());
            if strategy.safe {
                assert_eq!(&n[1..], [0, 0, 0, 0], "{row:?}: {}", ctx());
                assert_eq!(verdict, "kept its claim", "{}", ctx());
            } else {
                assert!(verdict.starts_with("caught"), "{row:?}: {}", ctx());
                assert!(n[1] + n[2] > 0, "{row:?}: {}", ctx());
            }
        }
    }
}

/// A quoted `--json` report: every quoted field is the program's, of the
/// quoted type; an event quoted has the shape of one printed; the counts
/// keep the definitions; a strategy that claims to be safe has the quoted
/// verdict and, where that is safe, exactly the quoted counts; a race is
/// safe or unsafe, never failed.
mod json {
    use serde_json::Value;

    use super::{Quote, claims_safe, ranges, shape};
    use crate::support::Run;

    const COUNTS: [(&str, &str); 10] = [
        ("sold", "sold"),
        ("turned_away", "turned away"),
        ("remaining", "remaining"),
        ("oversold", "oversold"),
        ("double_booked", "double-booked"),
        ("lost_updates", "lost updates"),
        ("overlapping", "overlapping"),
        ("failed", "failed"),
        ("hung", "hung"),
        ("indeterminate", "indeterminate"),
    ];

    /// The quoted object: its lines joined, the `...` left out.
    fn quoted(q: &Quote, what: &str) -> serde_json::Map<String, Value> {
        let text = q
            .lines
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" ")
            .replace(", ...", "")
            .replace("..., ", "");
        match serde_json::from_str(&text) {
            Ok(Value::Object(o)) => o,
            _ => panic!("{what}: the quoted JSON is not an object: {text}"),
        }
    }

    pub fn check(q: &Quote, what: &str, r: &Value, run: &Run) {
        let ctx = || format!("{what}{}", run.context());
        let want = quoted(q, what);
        for (key, v) in &want {
            let got = &r[key];
            let same_type = match (v, got) {
                (Value::Number(_), Value::Number(_))
                | (Value::Bool(_), Value::Bool(_))
                | (Value::String(_), Value::String(_)) => true,
                (Value::Array(a), Value::Array(b)) => a.iter().all(|e| {
                    b.iter().any(|p| {
                        shape::same_shape(e.as_str().unwrap_or(""), p.as_str().unwrap_or(""))
                    })
                }),
                _ => false,
            };
            assert!(
                same_type,
                "{what}: field {key}: quoted {v}, printed {got}{}",
                run.context()
            );
        }
        let c = COUNTS
            .iter()
            .map(|(k, l)| {
                (
                    l.to_string(),
                    r[k].as_u64().unwrap_or_else(|| panic!("{k}")),
                )
            })
            .collect();
        let buyers = super::arg(q, "--buyers").expect("--buyers");
        let tickets = super::arg(q, "--tickets").unwrap_or(100);
        ranges::definitions(&c, buyers, tickets, &ctx());
        if claims_safe(q) == Some(true) {
            for key in ["safe", "status"] {
                if let Some(v) = want.get(key) {
                    assert_eq!(&r[key], v, "{}", ctx());
                }
            }
            if want.get("safe") == Some(&Value::Bool(true)) {
                for (key, _) in COUNTS {
                    if let Some(v) = want.get(key) {
                        assert_eq!(&r[key], v, "{what}: {key} of a safe run{}", ctx());
                    }
                }
            }
        } else {
            assert_ne!(r["status"], "failed", "{}", ctx());
        }
    }
}
