//! Reading a [`RouterConfig`] from a file or a string, and [`LoadError`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::document::{Origin, RouterConfig};
use super::format::Format;
use crate::error::ConfigError;

/// Why a config file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read config file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The file name does not say which format the file is in.
    #[error(
        "cannot tell the format of config file `{}`: name it *.toml, *.yaml, *.yml or *.json",
        path.display()
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },

    /// The format is known but this build of routewise does not read it.
    #[error("reading {format} config needs routewise's `{}` feature", format.feature())]
    FormatDisabled {
        /// The format.
        format: Format,
    },

    /// The document has problems (syntax, shape, or, from
    /// [`Router::watch_config`](crate::Router::watch_config), anything
    /// [`Router::from_config`](crate::Router::from_config) reports).
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

impl RouterConfig {
    /// Reads a config file, in the format its extension names (`.toml`, `.yaml`, `.yml`,
    /// `.json`).
    ///
    /// This checks the document's syntax and shape (unknown keys, wrong types); what the
    /// parts say about each other (an unknown account, a missing environment variable) is
    /// checked by [`Router::from_config`](crate::Router::from_config).
    ///
    /// ```no_run
    /// use routewise::config::RouterConfig;
    /// use routewise::Router;
    ///
    /// let config = RouterConfig::from_path("routewise.toml")?;
    /// let router = Router::from_config(&config)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`LoadError`]: the file cannot be read, its format is unknown or not enabled, or
    /// the document is invalid (with the path, line and column of the problem).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let format = Format::from_path(path).ok_or_else(|| LoadError::UnknownFormat {
            path: path.to_owned(),
        })?;
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(text, format, Some(path.display().to_string().into()))
    }

    /// Reads a config from text in `format`.
    ///
    /// # Errors
    ///
    /// [`LoadError::FormatDisabled`] or [`LoadError::Invalid`], as for
    /// [`from_path`](Self::from_path).
    pub fn from_str_format(text: &str, format: Format) -> Result<Self, LoadError> {
        Self::parse(text.to_owned(), format, None)
    }

    pub(crate) fn parse(
        text: String,
        format: Format,
        file: Option<Arc<str>>,
    ) -> Result<Self, LoadError> {
        if !format.is_enabled() {
            return Err(LoadError::FormatDisabled { format });
        }
        match format.read::<RouterConfig>(&text) {
            Ok(mut config) => {
                config.origin = Some(Arc::new(Origin {
                    file,
                    #[cfg(feature = "toml")]
                    toml: (format == Format::Toml).then_some(text),
                }));
                Ok(config)
            }
            Err(problem) => {
                let error = ConfigError::new(vec![problem]);
                Err(LoadError::Invalid(match file {
                    Some(file) => error.in_file(file),
                    None => error,
                }))
            }
        }
    }
}
