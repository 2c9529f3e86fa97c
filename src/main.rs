use clap::Parser;

fn main() {
    let code = match booking::cli::Cli::try_parse() {
        Ok(cli) => booking::app::main(cli),
        Err(e) => booking::app::usage_error(&e),
    };
    std::process::exit(code);
}
