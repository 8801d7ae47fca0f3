//! `routewise-replay`: replays a traffic file through the current and a candidate
//! configuration and prints the comparison.
//!
//! ```text
//! cargo run --features replay,toml --bin routewise-replay -- \
//!     traffic.jsonl current.toml candidate.toml [--json report.json] [--png chart.png] \
//!     [--outage ACCOUNT@MINUTE+MINUTES]... [--rotated]
//! ```
//!
//! The providers of both configurations are replaced by simulated ones driven by the
//! behaviour models fitted to the traffic, so the configurations' secrets are not needed:
//! an environment variable a configuration reads and the environment lacks stands in as a
//! placeholder. `--outage primary@120+30` takes account `primary` down from minute 120 of
//! the traffic for 30 minutes, in both runs. `--rotated` reads the rotated files
//! (`traffic.jsonl.1`, ...) as well. The text table goes to standard output; `--json`
//! writes the comparison as JSON, `--png` as a chart (feature `chart`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use routewise::RouterBuilder;
use routewise::config::RouterConfig;
use routewise::replay::{Behaviours, Comparison, Replay, Traffic};

const USAGE: &str = "usage: routewise-replay TRAFFIC CURRENT CANDIDATE [--json FILE] [--png FILE] [--outage ACCOUNT@MINUTE+MINUTES]... [--rotated]";

/// What the command line asks for.
struct Args {
    traffic: PathBuf,
    current: PathBuf,
    candidate: PathBuf,
    json: Option<PathBuf>,
    png: Option<PathBuf>,
    outages: Vec<(String, Duration, Duration)>,
    rotated: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut files = Vec::new();
    let (mut json, mut png, mut outages, mut rotated) = (None, None, Vec::new(), false);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--json" => json = Some(PathBuf::from(value("--json")?)),
            "--png" => png = Some(PathBuf::from(value("--png")?)),
            "--outage" => outages.push(outage(&value("--outage")?)?),
            "--rotated" => rotated = true,
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option `{flag}`")),
            _ => files.push(PathBuf::from(arg)),
        }
    }
    let [traffic, current, candidate]: [PathBuf; 3] = files
        .try_into()
        .map_err(|files: Vec<_>| format!("expected 3 files, got {}", files.len()))?;
    Ok(Args {
        traffic,
        current,
        candidate,
        json,
        png,
        outages,
        rotated,
    })
}

/// `ACCOUNT@MINUTE+MINUTES`.
fn outage(spec: &str) -> Result<(String, Duration, Duration), String> {
    let bad =
        || format!("`--outage {spec}`: expected ACCOUNT@MINUTE+MINUTES, such as primary@120+30");
    let (account, window) = spec.split_once('@').ok_or_else(bad)?;
    let (start, length) = window.split_once('+').ok_or_else(bad)?;
    let minutes = |text: &str| {
        text.trim()
            .parse::<u64>()
            .map(|m| Duration::from_secs(m * 60))
            .map_err(|_| bad())
    };
    Ok((account.to_owned(), minutes(start)?, minutes(length)?))
}

/// A configuration file as a builder; secrets the environment lacks become placeholders.
fn config(path: &Path) -> Result<RouterBuilder, String> {
    let config = RouterConfig::from_path(path).map_err(|e| e.to_string())?;
    let env =
        |name: &str| Some(std::env::var(name).unwrap_or_else(|_| "replay-placeholder".into()));
    config
        .to_builder_with_env(&env)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn run(args: &Args) -> Result<Comparison, String> {
    let traffic = if args.rotated {
        Traffic::read_rotated(&args.traffic)
    } else {
        Traffic::read(&args.traffic)
    }
    .map_err(|e| e.to_string())?;
    let mut behaviours = Behaviours::fit(&traffic);
    for (account, start, length) in &args.outages {
        behaviours.outage_after(account.clone(), *start, *length);
    }
    let replay = Replay::new(traffic, behaviours);
    let current = replay
        .run(config(&args.current)?)
        .map_err(|e| format!("{}: {e}", args.current.display()))?;
    let candidate = replay
        .run(config(&args.candidate)?)
        .map_err(|e| format!("{}: {e}", args.candidate.display()))?;
    Ok(Comparison::new(&current, &candidate))
}

fn write_outputs(args: &Args, comparison: &Comparison) -> Result<(), String> {
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(comparison).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.png {
        chart(comparison, path)?;
    }
    Ok(())
}

#[cfg(feature = "chart")]
fn chart(comparison: &Comparison, path: &Path) -> Result<(), String> {
    comparison
        .write_png(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(not(feature = "chart"))]
fn chart(_: &Comparison, _: &Path) -> Result<(), String> {
    Err(
        "--png needs the `chart` feature: cargo run --features toml,chart --bin routewise-replay"
            .into(),
    )
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("routewise-replay: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args).and_then(|comparison| {
        write_outputs(&args, &comparison)?;
        Ok(comparison)
    }) {
        Ok(comparison) => {
            println!("{comparison}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("routewise-replay: {problem}");
            ExitCode::FAILURE
        }
    }
}
