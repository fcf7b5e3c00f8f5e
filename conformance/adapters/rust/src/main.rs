//! `refasync-rust-adapter [--wait window|issued]`: runs one conformance case against the
//! Rust channels of this crate (conformance/PROTOCOL.md). A first line `{"stepwise": true,
//! ...}` starts the stepwise protocol (the runner times the steps; `--wait` is unused);
//! otherwise stdin holds the whole case and one JSON report is printed on stdout. Exit
//! status: 0 once the case ran; 2, with one line on stderr, for a command line or an input
//! that is not a case.

mod adapter;
mod graph_ops;
mod json;
mod ops;
mod specs;
mod task_ops;
mod thread_ops;

use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

use adapter::Waiting;

const USAGE: &str = "usage: refasync-rust-adapter [--wait window|issued] < case.json";

fn refuse(why: &str) -> ExitCode {
    eprintln!("refasync-rust-adapter: {why}");
    ExitCode::from(2)
}

fn waiting(args: &[String]) -> Result<Waiting, String> {
    match args {
        [] => Ok(Waiting::Window),
        [flag, mode] if flag == "--wait" && mode == "window" => Ok(Waiting::Window),
        [flag, mode] if flag == "--wait" && mode == "issued" => Ok(Waiting::Issued),
        _ => Err(USAGE.to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let waiting = match waiting(&args) {
        Ok(waiting) => waiting,
        Err(why) => return refuse(&why),
    };
    let mut stdin = std::io::stdin().lock();
    let mut input = String::new();
    if let Err(error) = stdin.read_line(&mut input) {
        return refuse(&format!("cannot read the case from stdin: {error}"));
    }
    if let Ok(header) = json::parse(&input) {
        if header.get("stepwise") == Some(&json::Value::Bool(true)) {
            if let Err(why) = adapter::run_stepwise(&header, stdin.lines()) {
                return refuse(&why);
            }
            // Operations still blocked keep their threads; leave without waiting for them.
            std::process::exit(0)
        }
    }
    if let Err(error) = stdin.read_to_string(&mut input) {
        return refuse(&format!("cannot read the case from stdin: {error}"));
    }
    let case = match json::parse(&input) {
        Ok(case) => case,
        Err(why) => return refuse(&format!("the input is not JSON: {why}")),
    };
    if !matches!(case.get("script"), Some(json::Value::Array(_))) {
        return refuse("the input is not a case: it needs a \"script\" list");
    }
    let report = adapter::run_case(&case, waiting);
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{report}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return refuse("cannot write the report");
    }
    // Operations still blocked keep their threads; leave without waiting for them.
    std::process::exit(0)
}
