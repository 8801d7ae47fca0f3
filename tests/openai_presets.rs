//! OpenAI-compatible presets: each host's base URL, auth header and telemetry name, the
//! parameters it refuses left out (and recorded) before the call, its usage quirks, and
//! the same presets named in config files, all against a loopback server standing in for
//! the host (its base URL overridden, as a self-hosted deployment would).

mod support;

use routewise::provider::openai::Preset;
use routewise::provider::profile::{AdaptAction, ProfileTable};
use routewise::{
    ChatRequest, OpenAi, Provider, ProviderAccount, Purpose, SamplingParams, StepType,
};

use support::profiles::router;
use support::wire_server::{RecordingServer, Reply, fixture};

/// A request carrying every parameter some preset refuses, plus ones every host takes.
fn loaded_request() -> ChatRequest {
    ChatRequest::user("hi").params(
        SamplingParams::new()
            .temperature(0.3)
            .seed(7)
            .extra("logprobs", true)
            .extra("top_logprobs", 2)
            .extra("logit_bias", serde_json::json!({"50256": -100}))
            .extra("user", "u-42"),
    )
}

fn chat_reply() -> Reply {
    Reply::json(200, fixture("openai/chat_text.json"))
}

#[tokio::test]
async fn every_preset_sends_bearer_auth_to_its_path_and_leaves_out_what_its_host_refuses() {
    for preset in Preset::ALL {
        let server = RecordingServer::start([chat_reply()]).await;
        let account = ProviderAccount::new(preset.name(), OpenAi::preset(preset))
            .api_key("sk-preset-test-key")
            .base_url(server.base("/api/v1"));
        let router = router(vec![(account, "some-model")], SamplingParams::default());
        let response = router
            .complete(StepType::Inference, Purpose::Chat, loaded_request())
            .await
            .unwrap_or_else(|e| panic!("{preset}: {e}"));

        let sent = server.single_request();
        assert_eq!(sent.path, "/api/v1/chat/completions", "{preset}");
        assert_eq!(
            sent.header("authorization"),
            Some("Bearer sk-preset-test-key")
        );
        let body = sent.body.as_object().unwrap();
        let refused = preset.refused_parameters();
        for parameter in ["seed", "logprobs", "top_logprobs", "logit_bias", "user"] {
            assert_eq!(
                body.contains_key(parameter),
                !refused.contains(&parameter),
                "{preset}: `{parameter}` in {body:?}"
            );
        }
        assert_eq!(body["temperature"], 0.3, "{preset}");
        let dropped: Vec<&str> = response.attempts[0]
            .adaptations
            .iter()
            .filter(|a| a.action == AdaptAction::Dropped)
            .map(|a| a.parameter.as_str())
            .collect();
        for parameter in refused.iter().filter(|p| **p != "reasoning") {
            assert!(dropped.contains(parameter), "{preset}: {dropped:?}");
        }
        assert_eq!(&*response.served_by.account, preset.name());
    }
}

#[tokio::test]
async fn local_presets_send_no_auth_header_without_a_key() {
    for preset in [Preset::Ollama, Preset::Vllm, Preset::LmStudio] {
        let server = RecordingServer::start([chat_reply()]).await;
        let account = ProviderAccount::new(preset.name(), OpenAi::preset(preset))
            .base_url(server.base("/v1"));
        let router = router(vec![(account, "llama3.2")], SamplingParams::default());
        router
            .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
            .await
            .unwrap();
        assert_eq!(
            server.single_request().header("authorization"),
            None,
            "{preset}"
        );
    }
}

#[tokio::test]
async fn mistral_streams_do_not_ask_for_stream_options_and_groq_streams_report_usage_from_x_groq() {
    let groq_stream = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"llama-3.3-70b-versatile\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"llama-3.3-70b-versatile\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"id\":\"req_01\",\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}}\n\n",
        "data: [DONE]\n\n",
    );
    let mistral_stream = concat!(
        "data: {\"id\":\"m1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"m1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"total_tokens\":7,\"completion_tokens\":2}}\n\n",
        "data: [DONE]\n\n",
    );
    for (preset, stream, usage) in [
        (Preset::Groq, groq_stream, (9, 3)),
        (Preset::Mistral, mistral_stream, (5, 2)),
    ] {
        let server = RecordingServer::start([Reply::sse(stream)]).await;
        let account = ProviderAccount::new(preset.name(), OpenAi::preset(preset))
            .api_key("sk-preset-test-key")
            .base_url(server.base("/v1"));
        let chat = ChatRequest::user("hi");
        let defaults = SamplingParams::default();
        let opened = OpenAi::preset(preset)
            .stream(routewise::ProviderRequest::new(
                "m",
                account.info(),
                &chat,
                &defaults,
            ))
            .await;
        let (events, error) = support::wire::collect_events(opened).await;
        assert!(error.is_none(), "{preset}: {error:?}");
        let Some(routewise::ProviderEvent::Finished { usage: got, .. }) = events.last() else {
            panic!("{preset}: {events:?}");
        };
        assert_eq!((got.input_tokens, got.output_tokens), usage, "{preset}");
        let body = server.single_request().body;
        assert_eq!(
            body.get("stream_options").is_some(),
            preset.takes_stream_options(),
            "{preset}: {body}"
        );
    }
}

#[test]
fn presets_name_themselves_in_telemetry_and_default_to_their_hosts() {
    for (preset, name, base) in [
        (Preset::Mistral, "mistral_ai", "https://api.mistral.ai/v1"),
        (Preset::Groq, "groq", "https://api.groq.com/openai/v1"),
        (Preset::DeepSeek, "deepseek", "https://api.deepseek.com"),
        (Preset::Together, "together", "https://api.together.xyz/v1"),
        (
            Preset::Fireworks,
            "fireworks",
            "https://api.fireworks.ai/inference/v1",
        ),
        (
            Preset::OpenRouter,
            "openrouter",
            "https://openrouter.ai/api/v1",
        ),
        (Preset::XAi, "x_ai", "https://api.x.ai/v1"),
        (Preset::Ollama, "ollama", "http://localhost:11434/v1"),
        (Preset::Vllm, "vllm", "http://localhost:8000/v1"),
        (Preset::LmStudio, "lm_studio", "http://localhost:1234/v1"),
    ] {
        let adapter = OpenAi::preset(preset);
        assert_eq!(adapter.provider_name(), name);
        assert_eq!(adapter.default_base_url(), Some(base));
        assert_eq!(adapter.refused_parameters(), preset.refused_parameters());
    }
    assert!(OpenAi::new().refused_parameters().is_empty());
}

#[test]
fn model_rules_cover_the_hosts_reasoning_models_and_vertex_version_suffixes() {
    let table = ProfileTable::builtin();
    let reasoner = table.lookup("deepseek-reasoner").unwrap();
    for parameter in ["temperature", "logprobs", "top_logprobs"] {
        assert!(reasoner.refuses(parameter), "{parameter}");
    }
    let grok = table.lookup("grok-4-0709").unwrap();
    assert!(grok.refuses("stop") && grok.refuses("presence_penalty") && grok.refuses("reasoning"));
    let fast = table.lookup("grok-4-fast-non-reasoning").unwrap();
    assert!(!fast.refuses("stop"));
    let claude_on_vertex = table.lookup("claude-sonnet-4-5@20250929").unwrap();
    assert_eq!(
        claude_on_vertex.exclusive,
        [["temperature".to_owned(), "top_p".to_owned()]]
    );
}

#[cfg(feature = "toml")]
#[tokio::test]
async fn config_files_name_presets_and_can_still_move_their_base_url() {
    use routewise::Router;
    use routewise::config::{Format, RouterConfig};

    let server = RecordingServer::start([chat_reply()]).await;
    let text = format!(
        r#"
        [[accounts]]
        name = "groq"
        provider = {{ kind = "openai", preset = "groq" }}
        api_key = "${{GROQ_API_KEY}}"
        base_url = "{}"

        [[models]]
        name = "m"
        targets = [{{ account = "groq", model = "llama-3.3-70b-versatile" }}]

        [[policies]]
        name = "default"
        route = ["m"]
        "#,
        server.base("/openai/v1")
    );
    let env = |name: &str| (name == "GROQ_API_KEY").then(|| "gsk-config-key".to_owned());
    let config = RouterConfig::from_str_format(&text, Format::Toml).unwrap();
    let router = Router::from_config_with_env(&config, &env).unwrap();
    router
        .complete(StepType::Inference, Purpose::Chat, loaded_request())
        .await
        .unwrap();
    let sent = server.single_request();
    assert_eq!(sent.path, "/openai/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer gsk-config-key"));
    assert!(sent.body.get("logit_bias").is_none() && sent.body.get("seed").is_some());

    let unknown = text.replace("preset = \"groq\"", "preset = \"grok\"");
    let error = RouterConfig::from_str_format(&unknown, Format::Toml).unwrap_err();
    assert!(error.to_string().contains("grok"), "{error}");
    let clash = text.replace(
        "preset = \"groq\"",
        "preset = \"groq\", azure_api_version = \"2024-10-21\"",
    );
    let config = RouterConfig::from_str_format(&clash, Format::Toml).unwrap();
    let error = Router::from_config_with_env(&config, &env).unwrap_err();
    assert!(
        error.to_string().contains("accounts[0].provider.preset"),
        "{error}"
    );
}

#[test]
fn unknown_preset_names_list_the_known_ones() {
    let error = "together-ai".parse::<Preset>().unwrap_err();
    let text = error.to_string();
    for preset in Preset::ALL {
        assert!(text.contains(&format!("`{}`", preset.name())), "{text}");
    }
}
