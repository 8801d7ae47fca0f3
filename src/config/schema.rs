//! The JSON Schema of a config file (feature `schema`): [`RouterConfig::json_schema`], and
//! the schemas of the core types whose serde form is written by hand.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::document::RouterConfig;
use super::kinds::{Describe, ProviderKinds};
use crate::model::{Capabilities, Capability};
use crate::policy::{Purpose, StepType};
use crate::provider::{ErrorKind, ErrorKindSet};

impl RouterConfig {
    /// The JSON Schema of a config file, for editors and CI checks. The crate ships it as
    /// `routewise.schema.json`.
    ///
    /// ```
    /// let schema = routewise::RouterConfig::json_schema();
    /// assert_eq!(schema["title"], "RouterConfig");
    /// assert!(schema["properties"]["policies"].is_object());
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "schema")))]
    pub fn json_schema() -> serde_json::Value {
        Self::json_schema_with_kinds(&ProviderKinds::new())
    }

    /// [`json_schema`](Self::json_schema), with the provider kinds your code registers
    /// as variants of `provider` beside the built-in ones: each with the schema of its
    /// settings when registered with
    /// [`ProviderKinds::register_with_schema`], else as a table whose keys are not
    /// described. Write it for the editors of your config files.
    #[cfg_attr(docsrs, doc(cfg(feature = "schema")))]
    pub fn json_schema_with_kinds(kinds: &ProviderKinds) -> serde_json::Value {
        let mut generator = SchemaGenerator::default();
        let variants: Vec<Schema> = kinds
            .described()
            .map(|(name, describe)| kind_schema(&mut generator, name, describe))
            .collect();
        let mut schema = generator.into_root_schema_for::<RouterConfig>().to_value();
        if let Some(serde_json::Value::Array(kinds)) =
            schema.pointer_mut("/$defs/ProviderConfig/oneOf")
        {
            kinds.extend(variants.into_iter().map(Schema::to_value));
        }
        schema
    }
}

/// The schema of registered kind `name`'s provider table: its settings' schema (or any
/// table) with `kind` set to `name`.
fn kind_schema(generator: &mut SchemaGenerator, name: &str, describe: Option<Describe>) -> Schema {
    let mut schema = match describe {
        Some(describe) => describe(generator),
        None => json_schema!({ "type": "object" }),
    };
    let object = schema.ensure_object();
    object
        .entry("description")
        .or_insert_with(|| format!("The provider kind `{name}`, registered in code.").into());
    let properties = object
        .entry("properties")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    if let Some(properties) = properties.as_object_mut() {
        properties.insert(
            "kind".into(),
            serde_json::json!({ "type": "string", "const": name }),
        );
    }
    let required = object
        .entry("required")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let Some(required) = required.as_array_mut() {
        required.insert(0, "kind".into());
    }
    schema
}

impl JsonSchema for Capabilities {
    fn schema_name() -> Cow<'static, str> {
        "Capabilities".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A set of capabilities.",
            "type": "array",
            "items": generator.subschema_for::<Capability>(),
            "uniqueItems": true
        })
    }
}

impl JsonSchema for ErrorKindSet {
    fn schema_name() -> Cow<'static, str> {
        "ErrorKindSet".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A set of failure kinds.",
            "type": "array",
            "items": generator.subschema_for::<ErrorKind>(),
            "uniqueItems": true
        })
    }
}

/// An open enumeration: one of the built-in names, or any other string.
fn open_enum(description: &str, builtin: &[&str]) -> Schema {
    json_schema!({
        "description": description,
        "anyOf": [
            { "enum": builtin },
            { "type": "string" }
        ]
    })
}

impl JsonSchema for StepType {
    fn schema_name() -> Cow<'static, str> {
        "StepType".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let builtin = [
            StepType::Inference,
            StepType::ToolCall,
            StepType::Extraction,
        ];
        open_enum(
            "A step type: a built-in one or a name of your own.",
            &builtin.iter().map(StepType::as_str).collect::<Vec<_>>(),
        )
    }
}

impl JsonSchema for Purpose {
    fn schema_name() -> Cow<'static, str> {
        "Purpose".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let builtin = [
            Purpose::Chat,
            Purpose::Summarization,
            Purpose::Classification,
        ];
        open_enum(
            "A purpose: a built-in one or a name of your own.",
            &builtin.iter().map(Purpose::as_str).collect::<Vec<_>>(),
        )
    }
}
