//! The gateway driven by the official `openai` and `anthropic` Python SDKs (pinned in the
//! repository's `conformance/requirements.txt`, installed from PyPI into the virtualenv
//! the library's conformance tests build), against loopback upstreams that count calls.
//!
//! Needs the `sdk-tests` feature (on with `--all-features`); without it these tests are
//! ignored, so a plain `cargo test` stays offline.

mod support;

#[path = "../../tests/support/venv.rs"]
mod venv;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use routewise::sim::SimProvider;
use routewise::{
    Capabilities, LogicalModel, Policy, ProviderAccount, RateLimits, Router, Target, ToolCall,
};
use serde_json::{Value, json};
use support::{KEY, Running, Upstream, settings};

/// The router both SDKs talk to: `primary-llm` falls back from a failing upstream to a
/// working one; `tools-llm` calls a tool; `json-llm` answers JSON; `slow-llm` streams
/// slowly (for the disconnect).
async fn fixture() -> (Upstream, Upstream, Router) {
    let down = Upstream::failing(500).await;
    let up = Upstream::answering("Hello from the backup").await;
    let tools = SimProvider::new().tool_call(ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments: r#"{"city":"Paris"}"#.into(),
    });
    let slow = SimProvider::new()
        .reply("a b c d e f g h i j k l m n o p")
        .chunk_delay(Duration::from_millis(200));
    let router = Router::builder()
        .account(down.account("down"))
        .account(up.account("up"))
        .account(ProviderAccount::new("sim-tools", tools))
        .account(ProviderAccount::new(
            "sim-json",
            SimProvider::new().reply(r#"{"ok": true}"#),
        ))
        .account(ProviderAccount::new("sim-slow", slow).limits(RateLimits::new().rpm(1000)))
        .model(
            LogicalModel::new("primary-llm")
                .capabilities(Capabilities::ALL)
                .target(Target::new("down", "gpt-4o"))
                .target(Target::new("up", "gpt-4o")),
        )
        .model(
            LogicalModel::new("tools-llm")
                .capabilities(Capabilities::ALL)
                .target(Target::new("sim-tools", "t")),
        )
        .model(
            LogicalModel::new("json-llm")
                .capabilities(Capabilities::ALL)
                .target(Target::new("sim-json", "j")),
        )
        .model(
            LogicalModel::new("slow-llm")
                .capabilities(Capabilities::ALL)
                .target(Target::new("sim-slow", "s")),
        )
        .policy(Policy::new("default").route(["primary-llm"]))
        .build()
        .unwrap();
    (down, up, router)
}

/// Runs one of `tests/sdk/*.py` against the gateway and returns what it printed.
async fn run_script(script: &str, gateway: &Running) -> Value {
    let python = venv::python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script);
    let url = gateway.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("GATEWAY_URL", url)
            .env("GATEWAY_KEY", KEY)
            .output()
            .expect("start python")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the SDK script failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

#[tokio::test]
#[cfg_attr(
    not(feature = "sdk-tests"),
    ignore = "needs the `sdk-tests` feature: the official SDKs from PyPI"
)]
async fn the_openai_sdk_streams_calls_tools_and_json_mode_through_a_fallback() {
    let (down, up, router) = fixture().await;
    let gateway = Running::start(router.clone(), settings().max_body_bytes(100_000)).await;

    let seen = run_script("openai_client.py", &gateway).await;

    assert_eq!(
        seen["plain"],
        json!({"content": "Hello from the backup", "finish_reason": "stop", "total_tokens": 13, "account": "up", "attempts": "2"})
    );
    assert_eq!(
        seen["stream"],
        json!({"content": "Hello from the backup", "finish_reason": "stop", "total_tokens": 13})
    );
    // Each of the two calls fell back: one failed call at `down`, one answer from `up`.
    assert_eq!((down.calls(), up.calls()), (2, 2));
    assert_eq!(
        seen["tools"],
        json!({"finish_reason": "tool_calls", "name": "get_weather", "arguments": {"city": "Paris"}})
    );
    assert_eq!(
        seen["tools_stream"],
        json!({"name": "get_weather", "arguments": {"city": "Paris"}})
    );
    assert_eq!(seen["json_mode"], json!({"ok": true}));
    assert_eq!(seen["wrong_key"]["status"], 401);
    assert_eq!(seen["wrong_key"]["class"], "AuthenticationError");
    assert_eq!(seen["unknown_model"]["status"], 404);
    assert_eq!(seen["unknown_model"]["class"], "NotFoundError");
    assert!(
        seen["unknown_model"]["message"]
            .as_str()
            .unwrap()
            .contains("gpt-9")
    );
    assert_eq!(seen["oversized"]["status"], 413);
    assert_eq!(
        seen["models"],
        json!(["primary-llm", "tools-llm", "json-llm", "slow-llm"])
    );
    assert_eq!(seen["disconnected"], true);

    // The stream the client walked away from is cancelled and leaves nothing reserved.
    let mut waited = 0;
    while router.stats().policy("default").unwrap().cancelled == 0 {
        assert!(waited < 500, "the abandoned stream was never cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    for account in router.accounts() {
        if let Some(limits) = &account.limits {
            assert_eq!(limits.in_flight, 0, "{} still holds a slot", account.name);
        }
    }
}

#[tokio::test]
#[cfg_attr(
    not(feature = "sdk-tests"),
    ignore = "needs the `sdk-tests` feature: the official SDKs from PyPI"
)]
async fn the_anthropic_sdk_streams_and_uses_tools_routed_to_an_openai_upstream() {
    let (down, up, router) = fixture().await;
    let gateway = Running::start(router, settings()).await;

    let seen = run_script("anthropic_client.py", &gateway).await;

    assert_eq!(
        seen["plain"],
        json!({"text": "Hello from the backup", "stop_reason": "end_turn", "output_tokens": 4, "attempts": "2"})
    );
    assert_eq!(
        seen["stream"],
        json!({"text": "Hello from the backup", "stop_reason": "end_turn"})
    );
    assert_eq!(
        seen["tools"],
        json!({"stop_reason": "tool_use", "name": "get_weather", "input": {"city": "Paris"}})
    );
    assert_eq!(
        seen["tools_stream"],
        json!({"name": "get_weather", "input": {"city": "Paris"}})
    );
    assert_eq!(seen["follow_up"], "Hello from the backup");
    assert_eq!((down.calls(), up.calls()), (3, 3));
    assert_eq!(seen["wrong_key"]["status"], 401);
    assert_eq!(seen["wrong_key"]["class"], "AuthenticationError");
    assert_eq!(seen["unknown_model"]["status"], 404);
    assert_eq!(seen["unknown_model"]["class"], "NotFoundError");
}
