use clap::Parser;

fn main() {
    // First, before any strategy code can fork: an orphaned descendant of
    // booking is adopted by it, not by init, so none escapes a run's sweep.
    let _ = booking::sys::become_subreaper();
    let code = match booking::cli::Cli::try_parse() {
        Ok(cli) => booking::commands::main(cli),
        Err(e) => booking::commands::usage_error(&e),
    };
    std::process::exit(code);
}
