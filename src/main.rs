use clap::Parser;

fn main() {
    let cli = booking::cli::Cli::parse();
    std::process::exit(booking::app::main(cli));
}
