use clap::Parser;

fn main() {
    let code = match booking::cli::Cli::try_parse() {
        Ok(cli) => booking::commands::main(cli),
        Err(e) => booking::commands::usage_error(&e),
    };
    std::process::exit(code);
}
