use serde_json::json;

use super::*;
use crate::account::AccountInfo;
use crate::provider::ProviderRequest;
use crate::types::{ChatRequest, ResponseFormat, SamplingParams, Tool, ToolChoice};

fn profile(model: &str) -> std::sync::Arc<ModelProfile> {
    ProfileTable::builtin()
        .lookup(model)
        .unwrap_or_else(|| panic!("no profile for {model}"))
}

fn adapted(model: &str, request: &ChatRequest, defaults: &SamplingParams) -> Option<Adapted> {
    let account = AccountInfo::new("a");
    let call = ProviderRequest::new(model, &account, request, defaults);
    adapt(&profile(model), &call)
}

fn changed(adapted: &Option<Adapted>) -> Vec<(String, AdaptAction)> {
    adapted
        .iter()
        .flat_map(|a| a.changes())
        .map(|c| (c.parameter.clone(), c.action))
        .collect()
}

#[test]
fn the_shipped_files_parse() {
    let data = litellm::parse(include_str!("models.json")).unwrap();
    assert!(data.len() > 100, "{}", data.len());
    let rules: serde_json::Value = serde_json::from_str(include_str!("rules.json")).unwrap();
    let families: Vec<rules::FamilyRules> =
        serde_json::from_value(rules["families"].clone()).unwrap();
    assert!(!families.is_empty());
}

/// Every model the hand-kept window and price tables knew before the profile table,
/// and the current families: each still has a window and a price.
#[test]
fn every_model_of_the_earlier_tables_and_current_families_has_a_window_and_price() {
    let earlier = [
        "gpt-5",
        "gpt-5.1",
        "gpt-5-mini",
        "gpt-5-nano",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "gpt-4o",
        "gpt-4o-mini",
        "o1",
        "o1-mini",
        "o3",
        "o3-mini",
        "o4-mini",
        "gpt-4-turbo",
        "gpt-4",
        "gpt-3.5-turbo",
        "claude-opus-4-5",
        "claude-opus-4-1",
        "claude-opus-4-0",
        "claude-opus-4",
        "claude-sonnet-4-5",
        "claude-sonnet-4-0",
        "claude-sonnet-4",
        "claude-3-7-sonnet",
        "claude-3-5-sonnet",
        "claude-haiku-4-5",
        "claude-3-5-haiku",
        "claude-3-haiku",
        "claude-3-opus",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
        "gemini-2.0-flash",
        "gemini-2.0-flash-lite",
        "gemini-1.5-pro",
        "gemini-1.5-flash",
    ];
    let current = [
        "gpt-5.5",
        "gpt-6-sol",
        "claude-opus-4-7",
        "claude-sonnet-5-5",
        "claude-haiku-5-5",
        "gemini-3.1-pro-preview",
        "gemini-3.5-flash",
    ];
    for model in earlier.into_iter().chain(current) {
        let profile = profile(model);
        assert!(profile.window.is_some(), "{model}: no window");
        assert!(profile.price.is_some(), "{model}: no price");
        assert!(profile.provider.is_some(), "{model}: no provider");
    }
}

#[test]
fn dated_snapshots_aliases_and_paths_find_their_model() {
    assert_eq!(profile("claude-sonnet-4-5-20250929").exclusive.len(), 1);
    assert_eq!(
        profile("claude-3-7-sonnet-latest")
            .window
            .map(|w| w.context),
        Some(200_000)
    );
    assert_eq!(
        profile("models/gemini-2.5-flash").reasoning,
        ReasoningStyle::BudgetTokens
    );
    // Not in the data, but in a family: the family's rules, no window.
    let future = profile("o3-pro-2099-01-01");
    assert!(future.refuses("temperature"));
    assert_eq!(future.window, None);
    // Behind a gateway: the data, not the rules.
    let routed = profile("openai/o3");
    assert!(routed.window.is_some());
    assert!(!routed.refuses("temperature"));
    assert!(ProfileTable::builtin().lookup("llama-3.3-70b").is_none());
}

#[test]
fn bedrock_model_ids_and_inference_profiles_find_the_vendors_model() {
    for id in [
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ] {
        let bedrock = profile(id);
        assert_eq!(bedrock.provider, Some(ProviderFamily::Anthropic), "{id}");
        assert_eq!(bedrock.exclusive.len(), 1, "{id}");
        assert_eq!(bedrock.reasoning, ReasoningStyle::BudgetTokens, "{id}");
        assert_eq!(
            bedrock.window,
            profile("claude-sonnet-4-5-20250929").window,
            "{id}"
        );
    }
    // Neither a geography nor a vendor: not taken apart.
    assert!(
        ProfileTable::builtin()
            .lookup("eu.claude-sonnet-4-5")
            .is_none()
    );
    assert!(
        ProfileTable::builtin()
            .lookup("meta.llama3-3-70b-instruct-v1:0")
            .is_none()
    );
}

#[test]
fn the_longest_family_pattern_decides() {
    assert!(profile("claude-sonnet-4").exclusive.is_empty());
    assert!(!profile("claude-sonnet-4-5").exclusive.is_empty());
    assert!(!profile("gemini-2.0-flash").json_with_tools);
    assert!(profile("gemini-3-flash-preview").json_with_tools);
    assert_eq!(profile("gpt-4o").reasoning, ReasoningStyle::None);
    assert_eq!(profile("gpt-5-chat-latest").reasoning, ReasoningStyle::None);
    assert_eq!(profile("gpt-5.1").reasoning, ReasoningStyle::Effort);
}

#[test]
fn added_rules_and_litellm_data_replace_the_shipped_ones() {
    let table = ProfileTable::builtin()
        .clone()
        .with_rules("gpt-4o", ModelRules::new().unsupported(["seed"]))
        .with_litellm_json(
            r#"{"gpt-4o": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 1000,
                          "max_output_tokens": 100, "input_cost_per_token": 1e-06,
                          "output_cost_per_token": 2e-06},
                "my-embedder": {"litellm_provider": "openai", "mode": "embedding"},
                "sample_spec": {"mode": "one of: chat, embedding"}}"#,
        )
        .unwrap();
    let gpt = table.lookup("gpt-4o").unwrap();
    assert_eq!(gpt.window, Some(crate::ContextWindow::new(1_000, 100)));
    assert!(gpt.refuses("seed"));
    // A dated snapshot keeps its own data, and takes its family's new rules.
    let dated = table.lookup("gpt-4o-2024-08-06").unwrap();
    assert_eq!(
        dated.window,
        Some(crate::ContextWindow::new(128_000, 16_384))
    );
    assert!(dated.refuses("seed"));
    assert_eq!(
        gpt.price.map(|p| p.input),
        Some(crate::budget::Usd::from_cents(100))
    );
    assert!(table.lookup("my-embedder").is_none());
}

#[test]
fn a_malformed_litellm_entry_is_an_error_naming_the_model() {
    let err = ProfileTable::builtin()
        .clone()
        .with_litellm_json(r#"{"bad": {"mode": "chat", "max_input_tokens": "lots"}}"#)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "model data for `bad` is malformed (fix or remove the entry)"
    );
    assert!(matches!(
        ProfileTable::builtin().clone().with_litellm_json("[]"),
        Err(LiteLlmError::NotAnObject(_))
    ));
    let missing = ProfileTable::builtin()
        .clone()
        .with_litellm_file("/nonexistent/prices.json")
        .unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/prices.json"),
        "{missing}"
    );
}

#[test]
fn a_request_a_model_takes_as_it_is_needs_no_adaptation() {
    let request = ChatRequest::user("hi").temperature(0.2);
    assert!(adapted("gpt-4o", &request, &SamplingParams::default()).is_none());
    assert!(adapted("claude-sonnet-4-5", &request, &SamplingParams::default()).is_none());
}

#[test]
fn reasoning_models_lose_sampling_parameters_and_say_so() {
    let defaults = SamplingParams::new()
        .temperature(0.2)
        .top_p(0.9)
        .stop(["END"])
        .max_tokens(100)
        .extra("presence_penalty", 0.5);
    let result = adapted("o3-mini", &ChatRequest::user("hi"), &defaults);
    assert_eq!(
        changed(&result),
        [
            ("temperature".to_owned(), AdaptAction::Dropped),
            ("top_p".to_owned(), AdaptAction::Dropped),
            ("stop".to_owned(), AdaptAction::Dropped),
            ("presence_penalty".to_owned(), AdaptAction::Dropped),
        ]
    );
    let params = &result.as_ref().unwrap().params;
    assert_eq!(params.max_tokens, Some(100));
    assert_eq!(params.temperature, None);
    assert_eq!(
        result.unwrap().changes()[0].to_string(),
        "dropped `temperature`: `o3-mini` does not accept it"
    );
}

#[test]
fn of_two_exclusive_parameters_the_requests_own_is_kept() {
    let defaults = SamplingParams::new().top_p(0.9).temperature(0.3);
    let own_temperature = ChatRequest::user("hi").temperature(0.5);
    let result = adapted("claude-sonnet-4-5", &own_temperature, &defaults).unwrap();
    assert_eq!(result.params.temperature, Some(0.5));
    assert_eq!(result.params.top_p, None);
    let own_top_p = ChatRequest::user("hi").params(SamplingParams::new().top_p(0.8));
    let result = adapted("claude-sonnet-4-5", &own_top_p, &defaults).unwrap();
    assert_eq!(
        (result.params.temperature, result.params.top_p),
        (None, Some(0.8))
    );
    assert_eq!(result.changes()[0].parameter, "temperature");
    // Neither is the request's own: the second goes.
    let result = adapted("claude-sonnet-4-5", &ChatRequest::user("hi"), &defaults).unwrap();
    assert_eq!(
        (result.params.temperature, result.params.top_p),
        (Some(0.3), None)
    );
}

#[test]
fn reasoning_controls_take_each_models_form() {
    let none = SamplingParams::default();
    let budget = ChatRequest::user("hi").params(SamplingParams::new().reasoning_budget(20_000));
    let effort = ChatRequest::user("hi")
        .params(SamplingParams::new().reasoning_effort(crate::ReasoningEffort::Low));
    let to_effort = adapted("o3-mini", &budget, &none).unwrap();
    assert_eq!(
        to_effort.params.reasoning,
        Some(crate::Reasoning::effort(crate::ReasoningEffort::High))
    );
    assert_eq!(
        changed(&Some(to_effort)),
        [("reasoning".to_owned(), AdaptAction::Converted)]
    );
    let to_budget = adapted("gemini-2.5-flash", &effort, &none).unwrap();
    assert_eq!(
        to_budget.params.reasoning,
        Some(crate::Reasoning::budget(2_048))
    );
    assert!(
        adapted("o3-mini", &effort, &none).is_none(),
        "already its form"
    );
    let dropped = adapted("gpt-4o", &effort, &none);
    assert_eq!(
        changed(&dropped),
        [("reasoning".to_owned(), AdaptAction::Dropped)]
    );
    let floor = ChatRequest::user("hi").params(SamplingParams::new().reasoning_budget(100));
    let raised = adapted("claude-sonnet-4-5", &floor, &none).unwrap();
    assert_eq!(
        raised.params.reasoning,
        Some(crate::Reasoning::budget(1_024))
    );
}

#[test]
fn extended_thinking_unforces_tool_choices_and_drops_sampling() {
    let request = ChatRequest::user("hi")
        .tool(Tool::new("f", json!({"type": "object"})))
        .tool_choice(ToolChoice::Function("f".into()))
        .params(
            SamplingParams::new()
                .temperature(0.2)
                .max_tokens(1_000)
                .extra(
                    "thinking",
                    json!({"type": "enabled", "budget_tokens": 2048}),
                ),
        );
    let result = adapted("claude-sonnet-4-5", &request, &SamplingParams::default()).unwrap();
    assert_eq!(result.tool_choice, Some(ToolChoice::Auto));
    assert!(!result.may_force_tools);
    assert_eq!(result.params.temperature, None);
    assert_eq!(result.params.max_tokens, Some(3_048));
    assert_eq!(
        changed(&Some(result)),
        [
            ("temperature".to_owned(), AdaptAction::Dropped),
            ("tool_choice".to_owned(), AdaptAction::Converted),
            ("max_tokens".to_owned(), AdaptAction::Converted),
        ]
    );
}

#[test]
fn json_mode_with_tools_goes_through_a_function_where_the_model_cannot_combine_them() {
    let request = ChatRequest::user("hi")
        .tool(Tool::new("f", json!({"type": "object"})))
        .response_format(ResponseFormat::JsonObject);
    let result = adapted("gemini-2.5-flash", &request, &SamplingParams::default()).unwrap();
    assert!(result.json_through_tool);
    assert!(
        adapted(
            "gemini-3-flash-preview",
            &request,
            &SamplingParams::default()
        )
        .is_none()
    );
    let no_tools = ChatRequest::user("hi").response_format(ResponseFormat::JsonObject);
    assert!(adapted("gemini-2.5-flash", &no_tools, &SamplingParams::default()).is_none());
}
