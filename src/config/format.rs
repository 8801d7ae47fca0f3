//! [`Format`]: the file formats a config can be written in.

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::path;
use crate::error::ConfigProblem;

/// A config file format. Each needs its crate feature: `toml`, `yaml` or `json`.
///
/// ```
/// use std::path::Path;
/// use routewise::config::Format;
///
/// assert_eq!(Format::from_path(Path::new("routewise.yml")), Some(Format::Yaml));
/// assert_eq!(Format::Toml.feature(), "toml");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file name's extension stands for.
    pub fn from_path(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The crate feature that reads this format.
    pub const fn feature(self) -> &'static str {
        match self {
            Format::Toml => "toml",
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }

    /// Whether this build of routewise reads the format.
    pub const fn is_enabled(self) -> bool {
        match self {
            Format::Toml => cfg!(feature = "toml"),
            Format::Yaml => cfg!(feature = "yaml"),
            Format::Json => cfg!(feature = "json"),
        }
    }

    /// Reads `text` into a `T`, or says where and why it could not. The caller checks
    /// [`is_enabled`](Self::is_enabled) first; a disabled format reads nothing.
    pub(crate) fn read<T: DeserializeOwned>(self, text: &str) -> Result<T, ConfigProblem> {
        match self {
            #[cfg(feature = "toml")]
            Format::Toml => super::read::toml(text),
            #[cfg(feature = "yaml")]
            Format::Yaml => super::read::yaml(text),
            #[cfg(feature = "json")]
            Format::Json => super::read::json(text),
            #[allow(unreachable_patterns, reason = "reached when a format feature is off")]
            disabled => {
                let _ = text;
                Err(ConfigProblem {
                    path: path::TOP_LEVEL.to_owned(),
                    message: format!(
                        "reading {disabled} needs the `{}` feature",
                        disabled.feature()
                    ),
                    location: None,
                })
            }
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Toml => "TOML",
            Format::Yaml => "YAML",
            Format::Json => "JSON",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_name_formats() {
        assert_eq!(Format::from_path(Path::new("a/b.TOML")), Some(Format::Toml));
        assert_eq!(Format::from_path(Path::new("b.yaml")), Some(Format::Yaml));
        assert_eq!(Format::from_path(Path::new("b.json")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("b.ini")), None);
        assert_eq!(Format::from_path(Path::new("routewise")), None);
    }
}
