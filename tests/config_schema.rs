//! The committed `routewise.schema.json` is the schema the config types generate.
//!
//! Regenerate it after changing a config type:
//!
//! ```text
//! ROUTEWISE_UPDATE_SCHEMA=1 cargo test --all-features --test config_schema
//! ```
#![cfg(feature = "schema")]

use std::path::Path;

use routewise::RouterConfig;

#[test]
fn the_committed_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("routewise.schema.json");
    let generated = serde_json::to_string_pretty(&RouterConfig::json_schema()).unwrap() + "\n";
    if std::env::var_os("ROUTEWISE_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "routewise.schema.json is out of date; regenerate it with\n  \
         ROUTEWISE_UPDATE_SCHEMA=1 cargo test --all-features --test config_schema"
    );
}

#[cfg(all(feature = "toml", feature = "yaml"))]
#[test]
fn the_schema_describes_what_the_loader_accepts() {
    let schema = RouterConfig::json_schema();
    let defs = &schema["$defs"];
    assert_eq!(schema["additionalProperties"], false);
    let account = &defs["AccountConfig"];
    assert_eq!(account["additionalProperties"], false);
    assert_eq!(account["required"], serde_json::json!(["name", "provider"]));
    let provider = serde_json::to_string(&defs["ProviderConfig"]).unwrap();
    assert!(provider.contains(r#""const":"sim""#), "{provider}");
    let policy = &defs["PolicyConfig"]["properties"];
    assert!(policy["match"].is_object() && policy["route"].is_object());
    let timeouts = &defs["HttpTimeoutSettings"]["properties"];
    let accepts_off = |field: &str| {
        serde_json::to_string(&timeouts[field])
            .unwrap()
            .contains(r#""const":"off""#)
    };
    assert!(accepts_off("read") && accepts_off("total"), "{timeouts}");
    assert!(!accepts_off("connect"), "{timeouts}");
}

/// Settings of a kind registered in code, described for editors.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "read by the kind's build function only")]
struct GatewaySettings {
    /// The name traces show.
    label: String,
    /// Requests per second the gateway allows.
    #[serde(default)]
    rate: Option<u32>,
}

#[test]
fn the_schema_describes_the_kinds_registered_in_code() {
    use routewise::config::ProviderKinds;
    use routewise::sim::SimProvider;

    let kinds = ProviderKinds::new()
        .register_with_schema("gateway", |_: GatewaySettings| Ok(SimProvider::new()))
        .register("opaque", |_: serde_json::Value| Ok(SimProvider::new()));
    let schema = RouterConfig::json_schema_with_kinds(&kinds);
    let variants = schema["$defs"]["ProviderConfig"]["oneOf"]
        .as_array()
        .unwrap();
    let kind = |name: &str| {
        variants
            .iter()
            .find(|v| v["properties"]["kind"]["const"] == name)
            .unwrap_or_else(|| panic!("no `{name}` in {variants:?}"))
    };
    // The built-in kinds are all still there.
    for builtin in ["openai", "anthropic", "gemini", "vertex", "sim"] {
        kind(builtin);
    }
    let gateway = kind("gateway");
    assert_eq!(gateway["additionalProperties"], false);
    assert_eq!(gateway["required"], serde_json::json!(["kind", "label"]));
    assert_eq!(gateway["properties"]["label"]["type"], "string");
    assert_eq!(
        gateway["properties"]["label"]["description"],
        "The name traces show."
    );
    assert!(gateway["properties"]["rate"].is_object(), "{gateway}");
    let opaque = kind("opaque");
    assert_eq!(opaque["type"], "object");
    assert_eq!(opaque["required"], serde_json::json!(["kind"]));
    assert!(opaque.get("additionalProperties").is_none(), "{opaque}");

    // Without kinds it is the committed schema.
    assert_eq!(
        RouterConfig::json_schema_with_kinds(&ProviderKinds::new()),
        RouterConfig::json_schema()
    );
}
