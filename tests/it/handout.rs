//! Every command of the lab handout runs as written.
//!
//! The commands are the lines of the handout's `sh` blocks that start with
//! `booking`; each runs in a fresh directory (files it writes, like
//! `race.svg`, land there), with `100` on standard input for `--quiz`. A
//! trailing `# exits with code N` gives the expected exit code, else 0.
//! `text` blocks (installing, editing source) are not run.

use crate::util::Work;

fn commands(handout: &str) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in handout.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = !in_sh && t == "```sh";
            continue;
        }
        if in_sh && t.starts_with("booking ") {
            let (cmd, comment) = t.split_once(" # ").unwrap_or((t, ""));
            let code = comment
                .strip_prefix("exits with code ")
                .map_or(0, |c| c.trim().parse().expect("an exit code"));
            out.push((cmd.trim().to_string(), code));
        }
    }
    out
}

#[test]
fn every_handout_command_runs_as_written() {
    let handout =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/lab.md")).unwrap();
    let cmds = commands(&handout);
    assert!(cmds.len() >= 12, "found only {} commands", cmds.len());
    let work = Work::new();
    for (cmd, code) in cmds {
        let args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
        let run = work.booking_with_input(&args, b"100\n");
        run.expect_code(code);
        if args.contains(&"--json") {
            run.json();
        }
    }
    for svg in ["race.svg", "lock.svg"] {
        assert!(work.dir.path().join(svg).exists(), "{svg} was not drawn");
    }
    work.assert_clean();
}
