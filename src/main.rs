//! The `autodidact` binary: the command line lives in `autodidact-cli`.

fn main() {
    autodidact_cli::main();
}
