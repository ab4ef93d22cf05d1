//! The command line (`scenarios/FORMAT.md`):
//! `lb-sim [FILE.toml ...] [--json] [--strategies a,b,...]`.

use std::io::Write;

use crate::{balancer, report, run_all, scenario, suite, Scenario};

const USAGE: &str = "\
usage: lb-sim [FILE.toml ...] [--json] [--strategies a,b,...]

With no file, replays the bundled scenario suite (scenarios/). Prints a
table per scenario with the best strategy marked `*`, or with --json one
JSON document. --strategies replaces the scenario's own list; an entry may
set options of lb after its name, e.g. \"round_robin slow_start_window_ms=0\".";

/// Exit status for a bad command line or scenario.
pub const EXIT_BAD_INPUT: i32 = 2;

#[derive(Debug, PartialEq)]
pub struct Args {
    pub files: Vec<String>,
    pub json: bool,
    pub strategies: Option<Vec<String>>,
    pub help: bool,
}

/// Parse the arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut out = Args {
        files: Vec::new(),
        json: false,
        strategies: None,
        help: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let list = if a == "--json" {
            out.json = true;
            continue;
        } else if a == "-h" || a == "--help" {
            out.help = true;
            continue;
        } else if a == "--strategies" {
            match it.next() {
                Some(v) => v.clone(),
                None => {
                    return Err(
                        "--strategies needs a list, e.g. --strategies round_robin,adaptive".into(),
                    )
                }
            }
        } else if let Some(v) = a.strip_prefix("--strategies=") {
            v.to_string()
        } else if a.starts_with('-') && a != "-" {
            return Err(format!("unknown option `{a}`"));
        } else {
            out.files.push(a.clone());
            continue;
        };
        let mut names: Vec<String> = Vec::new();
        for n in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if let Err(e) = balancer::parse_run(n) {
                return Err(format!("--strategies: {e}"));
            }
            if !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
        }
        if names.is_empty() {
            return Err("--strategies: the list is empty".into());
        }
        out.strategies = Some(names);
    }
    Ok(out)
}

/// Run the command; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lb-sim: {e}\n\n{USAGE}");
            return EXIT_BAD_INPUT;
        }
    };
    if args.help {
        println!("{USAGE}");
        return 0;
    }
    let scenarios: Result<Vec<Scenario>, _> = if args.files.is_empty() {
        suite()
    } else {
        args.files.iter().map(|f| scenario::load(f)).collect()
    };
    let scenarios = match scenarios {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lb-sim: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let results = run_all(&scenarios, args.strategies.as_deref(), threads);
    let text = if args.json {
        report::to_json(&results)
    } else {
        results
            .iter()
            .map(report::table)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        return 1;
    }
    0
}
