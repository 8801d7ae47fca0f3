//! The `routewise-replay` command: a traffic file and two configuration files in, the
//! comparison out (text, JSON and, with the `chart` feature, PNG).
#![cfg(all(feature = "replay", feature = "toml"))]

use std::path::Path;
use std::process::{Command, Output};

const CONFIG: &str = r#"
[[accounts]]
name = "primary"
api_key = "${ROUTEWISE_REPLAY_TEST_KEY}"
provider = { kind = "sim" }

[[models]]
name = "large"
targets = [{ account = "primary", model = "large-v1", price = { input = 2.50, output = 10.00 } }]

[[models]]
name = "small"
targets = [{ account = "primary", model = "small-v1", price = { input = 0.15, output = 0.60 } }]

[[policies]]
name = "classify"
priority = 10
match = { purposes = ["classification"] }
route = ["CLASSIFY"]

[[policies]]
name = "chat"
route = ["large"]
"#;

/// Forty recorded requests a minute apart, every other one a classification, each
/// answered by `large-v1` in 200 ms with 100 output tokens.
fn traffic() -> String {
    (0..40)
        .map(|i| {
            let purpose = if i % 2 == 0 { "classification" } else { "chat" };
            format!(
                r#"{{"unix_ms":{},"step":"inference","purpose":"{purpose}","input_tokens":500,"outcome":"ok","latency_us":200000,"attempts":[{{"model":"large","account":"primary","provider_model":"large-v1","outcome":"success","latency_us":200000,"usage":{{"input_tokens":500,"output_tokens":100}}}}]}}"#,
                1_767_225_600_000_u64 + i * 60_000
            ) + "\n"
        })
        .collect()
}

fn write_inputs(dir: &Path) {
    std::fs::write(dir.join("traffic.jsonl"), traffic()).unwrap();
    std::fs::write(
        dir.join("current.toml"),
        CONFIG.replace("CLASSIFY", "large"),
    )
    .unwrap();
    std::fs::write(
        dir.join("candidate.toml"),
        CONFIG.replace("CLASSIFY", "small"),
    )
    .unwrap();
}

fn run(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_routewise-replay"))
        .current_dir(dir)
        .args(["traffic.jsonl", "current.toml", "candidate.toml"])
        .args(extra)
        .env_remove("ROUTEWISE_REPLAY_TEST_KEY")
        .output()
        .unwrap()
}

#[test]
fn the_command_prints_the_comparison_and_writes_it_as_json() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let output = run(dir.path(), &["--json", "report.json"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("success rate"), "{stdout}");
    assert!(stdout.contains("policy `classify`"), "{stdout}");
    assert!(stdout.contains("target small/primary/small-v1"), "{stdout}");

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let cost = |side: &str| json[side]["cost_usd"].as_f64().unwrap();
    assert!(cost("candidate") < cost("current"), "{json}");
    assert_eq!(json["current"]["requests"], 40);
    assert_eq!(json["candidate"]["policies"]["classify"]["matches"], 20);
}

#[test]
fn an_outage_given_on_the_command_line_shows_in_both_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let output = run(
        dir.path(),
        &["--outage", "primary@10+10", "--json", "r.json"],
    );
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    for side in ["current", "candidate"] {
        let rate = json[side]["success_rate"].as_f64().unwrap();
        assert!(rate < 1.0, "{side}: the only account was down: {rate}");
    }
}

#[test]
fn bad_arguments_print_the_usage_and_fail() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let output = run(dir.path(), &["--outage", "primary"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ACCOUNT@MINUTE+MINUTES"), "{stderr}");
    assert!(stderr.contains("usage: routewise-replay"), "{stderr}");

    let missing = Command::new(env!("CARGO_BIN_EXE_routewise-replay"))
        .current_dir(dir.path())
        .args(["nowhere.jsonl", "current.toml", "candidate.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nowhere.jsonl"));
}

#[cfg(feature = "chart")]
#[test]
fn the_command_draws_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let output = run(dir.path(), &["--png", "chart.png"]);
    assert!(output.status.success(), "{output:?}");
    let bytes = std::fs::read(dir.path().join("chart.png")).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
}
