//! Set-ups shared by the recorder tests: a recorder on a temporary file and a two-target
//! router that records into it.

use routewise::replay::{Recorder, RecorderBuilder, Traffic, TrafficRecord};
use routewise::sim::SimProvider;
use routewise::{
    Capabilities, ChatRequest, LogicalModel, Policy, Price, ProviderAccount, Router, Target, Usd,
};
use tempfile::TempDir;

/// A recorder writing `t.jsonl` in a new temporary folder, set up by `settings`; keep the
/// folder alive as long as the recorder.
pub fn temp_recorder(
    settings: impl FnOnce(RecorderBuilder) -> RecorderBuilder,
) -> (TempDir, Recorder) {
    let dir = tempfile::tempdir().unwrap();
    let recorder = settings(Recorder::builder(dir.path().join("t.jsonl")))
        .start()
        .unwrap();
    (dir, recorder)
}

/// Logical model `main` with `capabilities`: `primary`'s `big-v1` (unpriced), then
/// `backup`'s `big-v2` at $1/$2 per million tokens; one catch-all policy `default`.
pub fn two_targets(
    recorder: &Recorder,
    capabilities: Capabilities,
    primary: SimProvider,
    backup: SimProvider,
) -> Router {
    let price = Price::per_million(Usd::from_cents(100), Usd::from_cents(200));
    Router::builder()
        .account(ProviderAccount::new("primary", primary))
        .account(ProviderAccount::new("backup", backup))
        .model(
            LogicalModel::new("main")
                .capabilities(capabilities)
                .target(Target::new("primary", "big-v1"))
                .target(Target::new("backup", "big-v2").price(price)),
        )
        .policy(Policy::new("default").route(["main"]))
        .recorder(recorder.clone())
        .build()
        .unwrap()
}

/// A request for `main` with a secret in its prompt, a tag and `max_tokens`.
pub fn secret_request() -> ChatRequest {
    ChatRequest::user("the secret launch code is 1234")
        .model("main")
        .tag("tenant-a")
        .max_tokens(50)
}

/// Flushes the recorder and reads its file back, checking no prompt text was written.
pub fn written(recorder: &Recorder) -> Vec<TrafficRecord> {
    recorder.flush().unwrap();
    let text = std::fs::read_to_string(recorder.path()).unwrap();
    assert!(!text.contains("secret"), "no prompt text: {text}");
    Traffic::read(recorder.path()).unwrap().records().to_vec()
}
