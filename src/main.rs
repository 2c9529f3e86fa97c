use clap::Parser;

fn main() {
    // First, before any strategy code can fork: an orphaned descendant of
    // booking is adopted by it, not by init, so none escapes a run's sweep.
    let _ = booking::sys::become_subreaper();
    // A run `check` or `grade` started takes its report socket before
    // anything else can see it (see `sys::judged`).
    booking::sys::judged::adopt();
    let code = match booking::cli::Cli::try_parse() {
        Ok(cli) => booking::commands::main(cli),
        Err(e) => booking::commands::usage_error(&e),
    };
    std::process::exit(code);
}
