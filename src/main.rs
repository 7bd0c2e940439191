//! The `autodidact` command line: thin; each verb lives in `cli/`.

mod cli;

use clap::Parser;
use clap::error::ErrorKind;

fn main() {
    autodidact::alloc::keep_freed_memory();
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(err) => exit_on_bad_flags(err),
    };
    if let Err(err) = cli::run(args) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

/// A bad flag value gets the one line that names the flag and the accepted range (clap's own
/// rendering adds a blank line and a pointer to --help); help, version and usage errors print as
/// clap writes them.
fn exit_on_bad_flags(err: clap::Error) -> ! {
    match err.kind() {
        ErrorKind::ValueValidation | ErrorKind::InvalidValue | ErrorKind::UnknownArgument => {
            let text = err.to_string();
            eprintln!(
                "{}",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            std::process::exit(2);
        }
        _ => err.exit(),
    }
}
