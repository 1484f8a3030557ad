//! `sesscb`: the operator's command for the session store.
//!
//! ```text
//! sesscb keygen PATH                          a new keyring with one fresh key (0600)
//! sesscb keygen --rotate [--retire-after D] PATH
//!                                             add a key and make it current
//! sesscb stats [--dir D] [--domain N] [--uid U] [--json]
//!                                             the embedded tier's occupancy and
//!                                             every process's store counters
//! ```
//!
//! Exit status: 0 done, 1 failed (one line on stderr), 2 bad usage.

use std::process::ExitCode;

use sesscb::store::cli;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::run(&args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(cli::Failure::Usage(why)) => {
            eprintln!("sesscb: {why}\n{}", cli::USAGE);
            ExitCode::from(2)
        }
        Err(cli::Failure::Failed(why)) => {
            eprintln!("sesscb: {why}");
            ExitCode::from(1)
        }
    }
}
