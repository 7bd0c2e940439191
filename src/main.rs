//! The `autodidact` command line: thin; each verb lives in `cli/`.

mod cli;

use clap::Parser;

fn main() {
    autodidact::alloc::keep_freed_memory();
    let args = cli::Cli::parse();
    if let Err(err) = cli::run(args) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
