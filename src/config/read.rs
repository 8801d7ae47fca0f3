//! Reading text in each enabled format into typed values, with the document path (and
//! the line and column, which every format's parser keeps) of the first problem.

use serde::de::DeserializeOwned;

use super::path;
use crate::error::ConfigProblem;
use crate::suggest::teach;

/// Where a problem that is not about any one value is reported: the text does not parse.
const SYNTAX: &str = "(syntax)";

#[cfg(feature = "toml")]
pub(crate) fn toml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigProblem> {
    let located = |error: &toml::de::Error| {
        error
            .span()
            .map(|span| super::locate::line_column(text, span.start))
    };
    let document = toml::Deserializer::parse(text).map_err(|error| ConfigProblem {
        path: SYNTAX.to_owned(),
        message: error.message().trim_end().to_owned(),
        location: located(&error),
    })?;
    serde_path_to_error::deserialize(document).map_err(|error| ConfigProblem {
        path: from_serde(error.path()),
        message: teach(error.inner().message().trim_end()),
        location: located(error.inner()),
    })
}

#[cfg(feature = "yaml")]
pub(crate) fn yaml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigProblem> {
    let document = yaml_serde::Deserializer::from_str(text);
    serde_path_to_error::deserialize(document).map_err(|error| {
        let inner = error.inner();
        let location = inner.location().map(|at| crate::error::Location {
            line: at.line(),
            column: at.column(),
        });
        // The crate's message carries its own path and position; keep only the words.
        let mut message = inner.to_string();
        if let Some(at) = location {
            message =
                message.replacen(&format!(" at line {} column {}", at.line, at.column), "", 1);
        }
        // The crate names the enclosing value itself (`policies[0]: ...`); drop that.
        let serde_path = error.path().to_string();
        if let Some((own, rest)) = message.split_once(": ")
            && (own == "." || serde_path.starts_with(own))
        {
            message = rest.to_owned();
        }
        let path = if error.path().iter().next().is_none() && location.is_some() {
            SYNTAX.to_owned()
        } else {
            from_serde(error.path())
        };
        ConfigProblem {
            path,
            message: teach(&message),
            location,
        }
    })
}

#[cfg(feature = "json")]
pub(crate) fn json<T: DeserializeOwned>(text: &str) -> Result<T, ConfigProblem> {
    let problem = |path: String, error: &serde_json::Error| {
        let mut message = error.to_string();
        strip_suffix(
            &mut message,
            &format!(" at line {} column {}", error.line(), error.column()),
        );
        ConfigProblem {
            path,
            message: teach(&message),
            location: (error.line() > 0).then_some(crate::error::Location {
                line: error.line(),
                column: error.column().max(1),
            }),
        }
    };
    let mut document = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut document).map_err(|error| {
        let path = if error.inner().is_data() {
            from_serde(error.path())
        } else {
            SYNTAX.to_owned()
        };
        problem(path, error.inner())
    })?;
    document
        .end()
        .map_err(|error| problem(SYNTAX.to_owned(), &error))?;
    Ok(value)
}

#[cfg(feature = "json")]
fn strip_suffix(message: &mut String, suffix: &str) {
    if message.ends_with(suffix) {
        message.truncate(message.len() - suffix.len());
    }
}

/// The path where deserialization stopped, up to the first step serde could not name.
fn from_serde(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment as Serde;
    let mut text = String::new();
    for segment in path.iter() {
        match segment {
            Serde::Seq { index } => text.push_str(&format!("[{index}]")),
            Serde::Map { key } => path::push_key(&mut text, key),
            Serde::Enum { variant } => path::push_key(&mut text, variant),
            Serde::Unknown => break,
        }
    }
    if text.is_empty() {
        path::TOP_LEVEL.to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_error_names_the_kind_of_value_but_never_quotes_it() {
        assert_eq!(
            teach(r#"invalid type: string "sk-live-123", expected u32"#),
            "invalid type: a string, expected u32"
        );
        assert_eq!(
            teach(r#"invalid value: string "a, expected b", expected a duration"#),
            "invalid value: a string, expected a duration"
        );
        assert_eq!(
            teach("invalid type: character `x`, expected u32"),
            "invalid type: a character, expected u32"
        );
        assert_eq!(
            teach("invalid type: integer `5`, expected a string"),
            "invalid type: integer `5`, expected a string"
        );
    }

    #[test]
    fn unknown_names_get_the_closest_known_one() {
        assert_eq!(
            teach("unknown field `rout`, expected one of `name`, `route`, `requires`"),
            "unknown field `rout`, expected one of `name`, `route`, `requires`; did you mean `route`?"
        );
        assert_eq!(
            teach("unknown variant `simm`, expected `sim`"),
            "unknown variant `simm`, expected `sim`; did you mean `sim`?"
        );
        assert_eq!(
            teach("unknown field `zzz`, expected `name`"),
            "unknown field `zzz`, expected `name`"
        );
        assert_eq!(teach("missing field `name`"), "missing field `name`");
    }
}
