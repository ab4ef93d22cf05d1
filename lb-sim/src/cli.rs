//! The command line (`lb-sim/README.md`):
//! `lb-sim [FILE.toml ...] [--json] [--strategies a,b,...] [--plot DIR]`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{balancer, plot, report, run_all_with, scenario, suite, Scenario};

const USAGE: &str = "\
usage: lb-sim [FILE.toml ...] [--json] [--strategies a,b,...] [--plot DIR]

Replays each scenario file against lb's strategies and prints a table per
scenario, the best strategy marked `*`. With no file, replays the bundled
suite (scenarios/).

options:
  --json             print one JSON document instead of the tables
  --strategies LIST  run these strategies, a,b,..., not the scenario's list
  --plot DIR         also write DIR/<file stem>.svg per scenario
  -h, --help         print this help
  -V, --version      print the version (that of lb)

A strategy may take lb options: \"round_robin slow_start_window_ms=0\".
The scenario format, the output columns, the JSON fields and the pictures
are documented in lb-sim/README.md.";

/// Exit status for a bad command line or scenario.
pub const EXIT_BAD_INPUT: i32 = 2;

#[derive(Debug, PartialEq)]
pub struct Args {
    pub files: Vec<String>,
    pub json: bool,
    pub strategies: Option<Vec<String>>,
    /// `--plot DIR`: where to write one SVG per scenario.
    pub plot: Option<PathBuf>,
    pub help: bool,
    pub version: bool,
}

/// Parse the arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut out = Args {
        files: Vec::new(),
        json: false,
        strategies: None,
        plot: None,
        help: false,
        version: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let list = if a == "--json" {
            out.json = true;
            continue;
        } else if a == "-h" || a == "--help" {
            out.help = true;
            continue;
        } else if a == "-V" || a == "--version" {
            out.version = true;
            continue;
        } else if a == "--plot" {
            match it.next() {
                Some(d) => out.plot = Some(PathBuf::from(d)),
                None => return Err("--plot needs a folder, e.g. --plot plots/".into()),
            }
            continue;
        } else if let Some(d) = a.strip_prefix("--plot=") {
            out.plot = Some(PathBuf::from(d));
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
    if args.version {
        // lb-sim's version is kept equal to lb's (a test checks it).
        println!("lb-sim {}", env!("CARGO_PKG_VERSION"));
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
    if let Some(dir) = &args.plot {
        if let Err(e) = check_plot_names(dir, &scenarios) {
            eprintln!("lb-sim: --plot: {e}");
            return EXIT_BAD_INPUT;
        }
    }
    let results = run_all_with(
        &scenarios,
        args.strategies.as_deref(),
        threads,
        args.plot.is_some(),
    );
    if let Some(dir) = &args.plot {
        if let Err(e) = write_plots(dir, &scenarios, &results) {
            eprintln!("lb-sim: --plot: {e}");
            return 1;
        }
    }
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

/// Two scenarios with one file stem would write one picture: refused before
/// anything runs.
fn check_plot_names(dir: &Path, scenarios: &[Scenario]) -> Result<(), String> {
    let mut seen: Vec<(PathBuf, &str)> = Vec::new();
    for sc in scenarios {
        let p = plot::svg_path(dir, &sc.file);
        if let Some((_, other)) = seen.iter().find(|(q, _)| *q == p) {
            return Err(format!(
                "{} and {} would both be drawn to {}",
                other,
                sc.file,
                p.display()
            ));
        }
        seen.push((p, &sc.file));
    }
    Ok(())
}

fn write_plots(
    dir: &Path,
    scenarios: &[Scenario],
    results: &[report::ScenarioResult],
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (sc, res) in scenarios.iter().zip(results) {
        let path = plot::svg_path(dir, &sc.file);
        let svg = plot::svg(sc, res).map_err(|e| format!("{}: {e}", sc.file))?;
        std::fs::write(&path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        // On stderr, so that stdout stays the tables or the JSON document.
        eprintln!("lb-sim: wrote {}", path.display());
    }
    Ok(())
}
