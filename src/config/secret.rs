//! [`SecretValue`]: a config value that names environment variables instead of holding
//! secrets, resolved when the config is turned into a router.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::{Serialize, Serializer};

use super::problems::Problems;
use crate::account::SecretString;

/// A config value that may carry a secret, such as an API key or a header value.
///
/// In a file it is written as a string in which every `${NAME}` is replaced by the
/// environment variable `NAME` when the config is loaded (`"${OPENAI_API_KEY}"`,
/// `"Bearer ${TOKEN}"`; `$$` is a literal `$`), or as a table naming one variable
/// (`{ env = "OPENAI_API_KEY" }`). A variable that is not set, or set to nothing, is a
/// problem reported with the variable and the place it is used. An API key must come
/// from the environment: a key written into the file is rejected.
///
/// `Debug` shows the variable names, never the text around them or their values.
///
/// Serialized, it is the string a file would hold: each variable as `${NAME}` and the
/// text around them as it is (`$` doubled). A `SecretValue` never holds a variable's
/// value, so nothing read from the environment is ever written out; keep secrets out of
/// the literal text for the same reason you keep them out of files. An account's
/// `api_key` without a variable is refused when serialized, as it is when read.
///
/// ```
/// use routewise::config::SecretValue;
///
/// let key = SecretValue::env("OPENAI_API_KEY");
/// assert_eq!(key.variables().collect::<Vec<_>>(), ["OPENAI_API_KEY"]);
/// assert_eq!(format!("{key:?}"), "SecretValue(\"${OPENAI_API_KEY}\")");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue {
    parts: Vec<Part>,
}

#[derive(Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(String),
}

impl SecretValue {
    /// The value of environment variable `name`.
    pub fn env(name: impl Into<String>) -> Self {
        Self {
            parts: vec![Part::Var(name.into())],
        }
    }

    /// Text taken as it is, with no variable in it.
    pub fn literal(text: impl Into<String>) -> Self {
        Self {
            parts: vec![Part::Text(text.into())],
        }
    }

    /// Parses `${NAME}` references out of `template`.
    ///
    /// # Errors
    ///
    /// A description of the first malformed reference (the template itself is not quoted:
    /// it may hold a secret).
    pub fn template(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(at) = rest.find('$') {
            text.push_str(&rest[..at]);
            rest = &rest[at..];
            if let Some(after) = rest.strip_prefix("$$") {
                text.push('$');
                rest = after;
            } else if let Some(after) = rest.strip_prefix("${") {
                let end = after
                    .find('}')
                    .ok_or("`${` is not closed by `}`; write `$$` for a literal `$`")?;
                let name = &after[..end];
                check_variable_name(name)?;
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Var(name.to_owned()));
                rest = &after[end + 1..];
            } else {
                text.push('$');
                rest = &rest[1..];
            }
        }
        text.push_str(rest);
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self { parts })
    }

    /// The environment variables the value reads, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Var(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The text a file would hold: `${NAME}` for each variable, `$` doubled elsewhere.
    fn to_template(&self) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.replace('$', "$$"),
                Part::Var(name) => format!("${{{name}}}"),
            })
            .collect()
    }

    /// Reads the variables through `env`, reporting each missing one under `path`.
    pub(crate) fn resolve(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        path: &str,
        problems: &mut Problems,
    ) -> Option<SecretString> {
        let mut value = String::new();
        let mut complete = true;
        for part in &self.parts {
            match part {
                Part::Text(text) => value.push_str(text),
                Part::Var(name) => match env(name) {
                    Some(found) if !found.is_empty() => value.push_str(&found),
                    Some(_) => {
                        problems.push(path, format!("environment variable `{name}` is empty"));
                        complete = false;
                    }
                    None => {
                        problems.push(path, format!("environment variable `{name}` is not set"));
                        complete = false;
                    }
                },
            }
        }
        complete.then(|| SecretString::from(value))
    }
}

fn check_variable_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else if name.is_empty() {
        Err("`${}` names no environment variable".to_owned())
    } else {
        Err(format!(
            "`{name}` is not an environment variable name (letters, digits and `_`, not starting with a digit)"
        ))
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Text(_) => "***".to_owned(),
                Part::Var(name) => format!("${{{name}}}"),
            })
            .collect();
        f.debug_tuple("SecretValue").field(&shown).finish()
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

impl Serialize for SecretValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_template())
    }
}

/// `serialize_with` for an account's `api_key`: refused without a variable, as a file
/// that holds one is (the error does not quote the key).
pub(crate) fn write_api_key<S: Serializer>(
    key: &Option<SecretValue>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match key {
        Some(key) if key.variables().next().is_none() => Err(serde::ser::Error::custom(
            "an API key is written as an environment variable reference such as \
             `SecretValue::env(\"OPENAI_API_KEY\")`, never as the key itself",
        )),
        Some(key) => serializer.serialize_some(key),
        None => serializer.serialize_none(),
    }
}

struct SecretVisitor;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvReference {
    env: String,
}

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = SecretValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string such as \"${API_KEY}\" or a table such as { env = \"API_KEY\" }")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<SecretValue, E> {
        SecretValue::template(value).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SecretValue, A::Error> {
        let reference = EnvReference::deserialize(de::value::MapAccessDeserializer::new(map))?;
        check_variable_name(&reference.env).map_err(de::Error::custom)?;
        Ok(SecretValue::env(reference.env))
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for SecretValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretValue".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A value read from the environment at load: a string in which every `${NAME}` is replaced by environment variable NAME (`$$` is a literal `$`), or { env = \"NAME\" }.",
            "anyOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": { "env": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" } },
                    "required": ["env"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(value: &SecretValue, vars: &[(&str, &str)]) -> (Option<String>, Vec<String>) {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let mut problems = Problems::default();
        let resolved = value.resolve(&env, "accounts[0].api_key", &mut problems);
        let messages = problems.into_vec().into_iter().map(|p| p.to_string());
        (resolved.map(|s| s.expose().to_owned()), messages.collect())
    }

    #[test]
    fn references_are_replaced_and_dollars_escaped() {
        let value = SecretValue::template("Bearer ${TOKEN}, $$5 and ${A_2}$").unwrap();
        assert_eq!(value.variables().collect::<Vec<_>>(), ["TOKEN", "A_2"]);
        let (resolved, problems) = resolve(&value, &[("TOKEN", "t0k"), ("A_2", "x")]);
        assert_eq!(resolved.as_deref(), Some("Bearer t0k, $5 and x$"));
        assert!(problems.is_empty());
    }

    #[test]
    fn every_missing_or_empty_variable_is_reported_with_its_place() {
        let value = SecretValue::template("${MISSING}-${EMPTY}").unwrap();
        let (resolved, problems) = resolve(&value, &[("EMPTY", "")]);
        assert_eq!(resolved, None);
        assert_eq!(
            problems,
            [
                "accounts[0].api_key: environment variable `MISSING` is not set",
                "accounts[0].api_key: environment variable `EMPTY` is empty",
            ]
        );
    }

    #[test]
    fn malformed_references_are_rejected_without_quoting_the_value() {
        let unclosed = SecretValue::template("sk-secret-${KEY").unwrap_err();
        assert!(unclosed.contains("not closed"), "{unclosed}");
        assert!(!unclosed.contains("sk-secret"));
        assert!(SecretValue::template("${}").is_err());
        assert!(SecretValue::template("${1ABC}").is_err());
        assert!(SecretValue::template("${A-B}").is_err());
    }

    #[test]
    fn debug_shows_variable_names_only() {
        let value = SecretValue::template("Bearer sk-live-123 ${TOKEN}").unwrap();
        let shown = format!("{value:?}");
        assert_eq!(shown, "SecretValue(\"***${TOKEN}\")");
    }

    #[test]
    fn serialized_as_the_template_it_was_read_from() {
        let value = SecretValue::template("Bearer ${TOKEN}, $$5").unwrap();
        let written = serde_json::to_string(&value).unwrap();
        assert_eq!(written, r#""Bearer ${TOKEN}, $$5""#);
        assert_eq!(
            serde_json::from_str::<SecretValue>(&written).unwrap(),
            value
        );
    }

    #[test]
    fn a_table_names_one_variable() {
        let value: SecretValue = serde_json::from_str(r#"{ "env": "OPENAI_API_KEY" }"#).unwrap();
        assert_eq!(value, SecretValue::env("OPENAI_API_KEY"));
        let err = serde_json::from_str::<SecretValue>(r#"{ "env": "X", "default": "y" }"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `default`"), "{err}");
    }
}
