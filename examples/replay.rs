//! Tune with evidence: record an hour of traffic, edit the configuration, and see what
//! the edit would have done to that hour before deploying it.
//!
//! 1. Records an hour of simulated traffic (a request every two seconds, a quarter of them
//!    classifications) through the current configuration, on a paused clock.
//! 2. Edits the configuration text: classification goes to a cheaper model.
//! 3. Fits behaviour models to the recording and replays it through both configurations,
//!    then once more through the candidate with the primary down for 15 minutes.
//! 4. Prints the comparisons, and writes the first one as JSON beside the traffic file.
//!
//! Offline and quick: the providers are simulated and the clock is paused.
//!
//! ```text
//! cargo run --example replay --features toml,replay
//! ```

use std::time::Duration;

use routewise::config::Format;
use routewise::replay::{Behaviours, Comparison, Recorder, Replay, Traffic};
use routewise::{ChatRequest, Purpose, RouterBuilder, RouterConfig, StepType};

const CURRENT: &str = r#"
[[accounts]]
name = "primary"
provider = { kind = "sim", latency = "900ms", failure_rate = 0.04, seed = 1, usage = { input_tokens = 600, output_tokens = 180 } }

[[accounts]]
name = "backup"
provider = { kind = "sim", latency = "1400ms", failure_rate = 0.02, seed = 2, usage = { input_tokens = 600, output_tokens = 180 } }

[[models]]
name = "large"
targets = [
  { account = "primary", model = "large-v1", price = { input = 2.50, output = 10.00 } },
  { account = "backup", model = "large-v1", price = { input = 3.00, output = 15.00 } },
]

[[models]]
name = "small"
targets = [
  { account = "primary", model = "small-v1", price = { input = 0.15, output = 0.60 } },
  { account = "backup", model = "large-v1", price = { input = 3.00, output = 15.00 } },
]

[[policies]]
name = "classify"
priority = 10
match = { purposes = ["classification"] }
route = ["large"]

[[policies]]
name = "chat"
route = ["large"]
"#;

fn builder(text: &str) -> Result<RouterBuilder, Box<dyn std::error::Error>> {
    Ok(RouterConfig::from_str_format(text, Format::Toml)?.to_builder()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("traffic.jsonl");

    // 1. Record an hour of traffic through the current configuration.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    runtime.block_on(async {
        let recorder = Recorder::builder(&path).start()?;
        let router = builder(CURRENT)?.recorder(recorder.clone()).build()?;
        let started = tokio::time::Instant::now();
        for i in 0..1_800_u64 {
            let purpose = if i % 4 == 0 {
                Purpose::Classification
            } else {
                Purpose::Chat
            };
            let request = ChatRequest::user("a question of a few hundred tokens").max_tokens(400);
            let _ = router.complete(StepType::Inference, purpose, request).await;
            tokio::time::sleep_until(started + Duration::from_secs(2 * (i + 1))).await;
        }
        recorder.flush()?;
        println!(
            "recorded {} requests to {} ({} dropped)\n",
            recorder.written(),
            path.display(),
            recorder.dropped()
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;

    // 2. The edit under review: classification moves to the small model.
    let candidate = CURRENT.replacen(
        "match = { purposes = [\"classification\"] }\nroute = [\"large\"]",
        "match = { purposes = [\"classification\"] }\nroute = [\"small\"]",
        1,
    );

    // 3. Replay the recording through both.
    let traffic = Traffic::read(&path)?;
    let behaviours = Behaviours::fit(&traffic);
    let replay = Replay::new(traffic.clone(), behaviours.clone());
    let current_run = replay.run(builder(CURRENT)?)?;
    let candidate_run = replay.run(builder(&candidate)?)?;
    let comparison = Comparison::new(&current_run, &candidate_run);
    println!(
        "classification on the small model (replayed in {:.2?}):\n",
        candidate_run.wall_time()
    );
    println!("{comparison}");

    let mut outage = behaviours;
    outage.outage_after(
        "primary",
        Duration::from_secs(20 * 60),
        Duration::from_secs(15 * 60),
    );
    let outage_run = Replay::new(traffic, outage).run(builder(&candidate)?)?;
    println!("the same, with the primary down from minute 20 to minute 35:\n");
    println!("{}", Comparison::new(&candidate_run, &outage_run));

    // 4. The machine-readable report.
    let json = dir.path().join("comparison.json");
    std::fs::write(&json, serde_json::to_string_pretty(&comparison)?)?;
    println!("JSON report: {} bytes", std::fs::metadata(&json)?.len());
    Ok(())
}
