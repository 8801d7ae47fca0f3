//! The JSON Schema of a config file (feature `schema`): [`RouterConfig::json_schema`], and
//! the schemas of the core types whose serde form is written by hand.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::document::RouterConfig;
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
        schemars::schema_for!(RouterConfig).to_value()
    }
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
