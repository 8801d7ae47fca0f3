//! Model profiles in config files: an account's LiteLLM-format model data and rules, a
//! target's own rules, and the parameter policy router-wide and per model.
#![cfg(feature = "json")]

use routewise::config::{Format, RouterConfig};
use routewise::{ChatRequest, Purpose, Router, SkipReason, StepType};
use serde_json::json;

fn env(_: &str) -> Option<String> {
    None
}

/// A config with one sim account (`account` merged in) and one logical model `llm`
/// with a default temperature over `targets`.
fn config(account: serde_json::Value, model: serde_json::Value) -> RouterConfig {
    let mut account_config = json!({"name": "local", "provider": {"kind": "sim"}});
    account_config
        .as_object_mut()
        .unwrap()
        .extend(account.as_object().unwrap().clone());
    let mut model_config = json!({"name": "llm", "defaults": {"temperature": 0.2}});
    model_config
        .as_object_mut()
        .unwrap()
        .extend(model.as_object().unwrap().clone());
    let text = json!({
        "accounts": [account_config],
        "models": [model_config],
        "policies": [{"name": "default", "route": ["llm"]}],
    });
    RouterConfig::from_str_format(&text.to_string(), Format::Json).unwrap()
}

fn explain(router: &Router) -> routewise::Explanation {
    router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"))
}

#[test]
fn an_accounts_model_data_prices_a_budgeted_model_the_shipped_table_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("models.json");
    std::fs::write(
        &file,
        json!({"my-model": {"litellm_provider": "openai", "mode": "chat",
                            "max_input_tokens": 4000, "max_output_tokens": 500,
                            "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}})
        .to_string(),
    )
    .unwrap();
    let targets = json!({"targets": [{"account": "local", "model": "my-model"}]});
    let budget = json!({"budget": {"monthly_usd": 10.0}});
    let unknown = Router::from_config_with_env(&config(budget.clone(), targets.clone()), &env)
        .unwrap_err()
        .to_string();
    assert!(
        unknown.contains("no price known for model `my-model`"),
        "{unknown}"
    );

    let mut with_data = budget.clone();
    with_data["model_data"] = json!(file.to_str().unwrap());
    let router = Router::from_config_with_env(&config(with_data, targets.clone()), &env).unwrap();
    assert_eq!(explain(&router).candidates.len(), 1);
    let long = ChatRequest::user("word ".repeat(4_000));
    let plan = router.explain(StepType::Inference, Purpose::Chat, &long);
    let error = plan.error.unwrap_or_default();
    assert!(error.contains("window on the route holds 4000"), "{error}");

    let mut missing = budget;
    missing["model_data"] = json!("/nonexistent/models.json");
    let error = Router::from_config_with_env(&config(missing, targets), &env)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "accounts[0].model_data: could not read model data file `/nonexistent/models.json`"
        ),
        "{error}"
    );
}

#[test]
fn account_and_target_rules_adapt_and_a_strict_model_skips() {
    let rules = json!({"profiles": {"my-model": {"unsupported": ["temperature"]}}});
    let adapt = json!({"targets": [{"account": "local", "model": "my-model-v2"}]});
    let router = Router::from_config_with_env(&config(rules.clone(), adapt), &env).unwrap();
    let plan = explain(&router);
    assert_eq!(plan.adapted[0].changes[0].parameter, "temperature");
    assert!(
        plan.to_string().contains("adapted: dropped `temperature`"),
        "{plan}"
    );

    let strict = json!({"parameter_policy": "strict",
                        "targets": [{"account": "local", "model": "my-model"}]});
    let router = Router::from_config_with_env(&config(rules, strict), &env).unwrap();
    let plan = explain(&router);
    assert!(plan.candidates.is_empty());
    assert!(
        matches!(&plan.skipped[0].reason, SkipReason::ParameterUnsupported { parameter, .. } if parameter == "temperature"),
        "{plan}"
    );

    let own = json!({"targets": [{"account": "local", "model": "other",
                                  "profile": {"unsupported": ["temperature"]}}]});
    let router = Router::from_config_with_env(&config(json!({}), own), &env).unwrap();
    assert_eq!(
        explain(&router).adapted[0].changes[0].parameter,
        "temperature"
    );
}

#[test]
fn the_router_wide_parameter_policy_applies_to_models_that_do_not_choose() {
    let mut text: serde_json::Value = json!({
        "parameter_policy": "strict",
        "accounts": [{"name": "local", "provider": {"kind": "sim"}}],
        "models": [{"name": "llm", "defaults": {"temperature": 0.2},
                    "targets": [{"account": "local", "model": "o3-mini"}]}],
        "policies": [{"name": "default", "route": ["llm"]}],
    });
    let config = RouterConfig::from_str_format(&text.to_string(), Format::Json).unwrap();
    let router = Router::from_config_with_env(&config, &env).unwrap();
    assert!(explain(&router).candidates.is_empty());
    text["models"][0]["parameter_policy"] = json!("adapt");
    let config = RouterConfig::from_str_format(&text.to_string(), Format::Json).unwrap();
    let router = Router::from_config_with_env(&config, &env).unwrap();
    assert_eq!(explain(&router).candidates.len(), 1);
}
