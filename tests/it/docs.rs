//! The figures the docs quote come from the program: every quoted output
//! of a command whose result is the same on every machine (a stepped run
//! with its `--schedule`, `check --exhaustive`) is run, and every line
//! the docs quote must be a line of the program's output (a line `...`
//! stands for lines left out; a JSON line's fields must have the values
//! quoted).

use crate::support::Work;

/// One quoted command and the lines quoted under it.
struct Quote {
    file: &'static str,
    command: Vec<String>,
    lines: Vec<String>,
}

/// The quoted `$ booking ...` commands of `file`, with their output lines,
/// for commands whose output does not depend on the machine.
fn quotes(file: &'static str) -> Vec<Quote> {
    let text = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut out = Vec::new();
    let mut current: Option<Quote> = None;
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("$ booking ") {
            out.extend(current.take());
            let cmd = cmd.split('#').next().unwrap().trim();
            let fixed = cmd.contains("--schedule ") || cmd.contains("--exhaustive");
            current = fixed.then(|| Quote {
                file,
                command: cmd.split_whitespace().map(String::from).collect(),
                lines: Vec::new(),
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
            } else if line.trim() != "..." {
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
        for q in quotes(file) {
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
            for line in &q.lines {
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
