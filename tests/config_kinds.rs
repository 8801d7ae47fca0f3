//! Provider kinds registered in code and named in config files: accounts of the kind are
//! built from their settings, the settings are checked like a built-in kind's, and the
//! router keeps the kinds for `reload_config` and `watch_config`, and the accounts, models
//! and policies code added beside the file's.
#![cfg(feature = "toml")]

mod support;

use std::time::Duration;

use routewise::config::{Format, ProviderKinds, ReloadEvent, RouterConfig};
use routewise::{ChatRequest, OpenAi, Policy, ProviderAccount, Purpose, Router, StepType};
use support::wire_server::{RecordingServer, Reply, fixture};

/// Settings of the `gateway` kind: an OpenAI-compatible in-house gateway that reports
/// itself under a label of its own.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewaySettings {
    label: String,
}

fn kinds() -> ProviderKinds {
    ProviderKinds::new().register("gateway", |settings: GatewaySettings| {
        if settings.label.trim().is_empty() {
            return Err(
                "`label` must not be empty; name the gateway as traces should show it".into(),
            );
        }
        Ok(OpenAi::new().with_provider_name(settings.label))
    })
}

/// A config with one `gateway` account per base URL, all targets of one model.
fn config_text(bases: &[&str]) -> String {
    let mut text = String::new();
    let mut targets = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        text.push_str(&format!(
            "[[accounts]]\nname = \"gw{i}\"\nprovider = {{ kind = \"gateway\", label = \"in-house\" }}\nbase_url = \"{base}\"\n\n"
        ));
        targets.push(format!(
            "{{ account = \"gw{i}\", model = \"house-large\" }}"
        ));
    }
    text.push_str(&format!(
        "[[models]]\nname = \"m\"\ntargets = [{}]\n\n[[policies]]\nname = \"default\"\nroute = [\"m\"]\n",
        targets.join(", ")
    ));
    text
}

fn openai_reply() -> Reply {
    Reply::json(200, fixture("openai/chat_text.json"))
}

async fn ask(router: &Router) -> String {
    router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap()
        .served_by
        .account
        .to_string()
}

#[tokio::test]
async fn a_registered_kind_serves_the_accounts_a_file_declares() {
    let server = RecordingServer::start([openai_reply()]).await;
    let config = RouterConfig::from_str_format(&config_text(&[&server.base("/v1")]), Format::Toml)
        .unwrap()
        .with_provider_kinds(kinds());
    let router = Router::from_config(&config).unwrap();

    assert_eq!(ask(&router).await, "gw0");
    let request = server.single_request();
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.body["model"], "house-large");
}

#[test]
fn a_registered_kinds_settings_are_checked_like_a_built_in_kinds() {
    let problems = |text: &str| -> Vec<String> {
        let config = RouterConfig::from_str_format(text, Format::Toml)
            .unwrap()
            .with_provider_kinds(kinds());
        let error = Router::from_config(&config).unwrap_err();
        error.problems().iter().map(ToString::to_string).collect()
    };
    let text = config_text(&["http://127.0.0.1:9/v1"]);

    let misspelled = problems(&text.replace("label =", "lable ="));
    assert_eq!(
        misspelled,
        [
            "accounts[0].provider: unknown field `lable`, expected `label`; did you mean `label`? (line 3, column 12)"
        ]
    );
    let refused = problems(&text.replace("\"in-house\"", "\" \""));
    assert_eq!(
        refused,
        [
            "accounts[0].provider: `label` must not be empty; name the gateway as traces should show it (line 3, column 12)"
        ]
    );
    let unknown = problems(&text.replace("\"gateway\"", "\"gatewya\""));
    assert_eq!(
        unknown,
        [
            "accounts[0].provider.kind: unknown provider kind `gatewya`; did you mean `gateway`? (line 3, column 21)"
        ]
    );
}

#[tokio::test]
async fn reloads_and_watched_files_keep_the_registered_kinds() {
    let servers = [
        RecordingServer::start([openai_reply()]).await,
        RecordingServer::start([openai_reply()]).await,
        RecordingServer::start([openai_reply()]).await,
    ];
    let bases: Vec<String> = servers.iter().map(|s| s.base("/v1")).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    std::fs::write(&path, config_text(&[&bases[0]])).unwrap();
    let config = RouterConfig::from_path(&path)
        .unwrap()
        .with_provider_kinds(kinds());
    let router = Router::from_config(&config).unwrap();
    assert_eq!(ask(&router).await, "gw0");

    // A config read without the kinds: the router's own are used.
    let second = RouterConfig::from_str_format(&config_text(&[&bases[1]]), Format::Toml).unwrap();
    router.reload_config(&second).unwrap();
    assert_eq!(ask(&router).await, "gw0");
    assert_eq!(
        servers[1].requests().len(),
        1,
        "the reloaded account served"
    );

    let mut watcher = router
        .watch_config_every(&path, Duration::from_millis(20))
        .unwrap();
    std::fs::write(&path, config_text(&[&bases[2]])).unwrap();
    let event = tokio::time::timeout(Duration::from_secs(30), watcher.changed())
        .await
        .unwrap();
    assert!(matches!(event, Some(ReloadEvent::Applied)), "{event:?}");
    assert_eq!(ask(&router).await, "gw0");
    assert_eq!(
        servers[2].requests().len(),
        1,
        "the watched file's account served"
    );
    assert_eq!(servers[0].requests().len(), 1);
}

/// `purpose`'s request, answered: the account that served it.
async fn ask_for(router: &Router, purpose: Purpose) -> String {
    let response = router
        .complete(StepType::Inference, purpose, ChatRequest::user("hi"))
        .await
        .unwrap();
    response.served_by.account.to_string()
}

#[tokio::test]
async fn accounts_models_and_policies_added_in_code_survive_reloads_of_the_file() {
    let file_servers = [
        RecordingServer::start([openai_reply()]).await,
        RecordingServer::start([openai_reply()]).await,
        RecordingServer::start([openai_reply()]).await,
    ];
    let own = RecordingServer::start([openai_reply(), openai_reply(), openai_reply()]).await;
    // The file routes summaries to a model of the account the code adds.
    let text = |base: &str| {
        config_text(&[base])
            + "\n[[models]]\nname = \"own-m\"\ntargets = [{ account = \"own\", model = \"own-large\" }]\n\n\
               [[policies]]\nname = \"summaries\"\npriority = 1\nmatch = { purposes = [\"summarization\"] }\nroute = [\"own-m\"]\n"
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    std::fs::write(&path, text(&file_servers[0].base("/v1"))).unwrap();
    let config = RouterConfig::from_path(&path)
        .unwrap()
        .with_provider_kinds(kinds());
    let router = config
        .to_builder()
        .unwrap()
        .account(ProviderAccount::new("own", OpenAi::new()).base_url(own.base("/v1")))
        .policy(
            Policy::new("classify")
                .priority(1)
                .purposes([Purpose::Classification])
                .route(["own-m"]),
        )
        .build()
        .unwrap();
    assert_eq!(ask_for(&router, Purpose::Summarization).await, "own");

    let second =
        RouterConfig::from_str_format(&text(&file_servers[1].base("/v1")), Format::Toml).unwrap();
    router.reload_config(&second).unwrap();
    assert_eq!(ask(&router).await, "gw0");
    assert_eq!(
        file_servers[1].requests().len(),
        1,
        "the reloaded file served"
    );
    assert_eq!(ask_for(&router, Purpose::Classification).await, "own");

    let mut watcher = router
        .watch_config_every(&path, Duration::from_millis(20))
        .unwrap();
    std::fs::write(&path, text(&file_servers[2].base("/v1"))).unwrap();
    let event = tokio::time::timeout(Duration::from_secs(30), watcher.changed())
        .await
        .unwrap();
    assert!(matches!(event, Some(ReloadEvent::Applied)), "{event:?}");
    assert_eq!(ask_for(&router, Purpose::Summarization).await, "own");
    assert_eq!(
        own.requests().len(),
        3,
        "the code-added account served each time"
    );
    assert_eq!(file_servers[2].requests().len(), 0);
}

#[test]
fn a_file_that_declares_a_code_added_name_replaces_it() {
    let config =
        RouterConfig::from_str_format(&config_text(&["http://127.0.0.1:9/v1"]), Format::Toml)
            .unwrap()
            .with_provider_kinds(kinds());
    let router = config
        .to_builder()
        .unwrap()
        .account(ProviderAccount::new("extra", OpenAi::new()))
        .build()
        .unwrap();
    let names = |router: &Router| -> Vec<String> {
        router.accounts().iter().map(|a| a.name.clone()).collect()
    };
    assert_eq!(names(&router), ["gw0", "extra"]);

    let mut with_extra = config_text(&["http://127.0.0.1:9/v1"]);
    with_extra.push_str("\n[[accounts]]\nname = \"extra\"\nprovider = { kind = \"sim\" }\n");
    let declared = RouterConfig::from_str_format(&with_extra, Format::Toml).unwrap();
    router.reload_config(&declared).unwrap();
    assert_eq!(names(&router), ["gw0", "extra"]);
    // From now on "extra" is the file's: a file without it drops it.
    let without =
        RouterConfig::from_str_format(&config_text(&["http://127.0.0.1:9/v1"]), Format::Toml)
            .unwrap();
    router.reload_config(&without).unwrap();
    assert_eq!(names(&router), ["gw0"]);
}
