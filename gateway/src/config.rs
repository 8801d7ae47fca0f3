//! The gateway's configuration: the library's router configuration and a `[gateway]`
//! table in the same TOML file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use routewise::config::RouterConfig;
use serde::Deserialize;

/// The embedded default configuration: simulated providers, the demo key
/// `sk-routewise-demo`. [`GatewayConfig::embedded_default`] reads it.
pub const DEFAULT_CONFIG: &str = include_str!("../default.toml");

/// A whole gateway config file: the router (accounts, models, policies, ... exactly as
/// [`RouterConfig`] reads them) and the gateway's own `[gateway]` table.
///
/// ```
/// use routewise_gateway::GatewayConfig;
///
/// let config = GatewayConfig::from_toml(r#"
///     [gateway]
///     listen = "127.0.0.1:4000"
///     keys = [{ name = "team-a", sha256 = "5ba410922bf083e881de97461dcc718c09138648ccd502eeb4f23257b6283497", models = ["m"], rpm = 60 }]
///
///     [[accounts]]
///     name = "sim"
///     provider = { kind = "sim" }
///
///     [[models]]
///     name = "m"
///     targets = [{ account = "sim", model = "x" }]
///
///     [[policies]]
///     name = "default"
///     route = ["m"]
/// "#)?;
/// assert_eq!(config.gateway.keys[0].rpm, Some(60));
/// # Ok::<(), routewise_gateway::ConfigFileError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// The router's configuration.
    pub router: RouterConfig,
    /// The gateway's own settings.
    pub gateway: GatewaySettings,
}

/// The `[gateway]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GatewaySettings {
    /// Where the binary listens (default `127.0.0.1:4000`); `--listen` overrides it.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The largest request body accepted, in bytes (default 4 MiB); larger ones get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// The step type of requests that name none (header `x-routewise-step` or metadata
    /// `routewise_step`); default `inference`.
    #[serde(default = "default_step")]
    pub default_step: String,
    /// The purpose of requests that name none (header `x-routewise-purpose` or metadata
    /// `routewise_purpose`); default `chat`.
    #[serde(default = "default_purpose")]
    pub default_purpose: String,
    /// The keys clients authenticate with. With none, every model request is refused.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// The SHA-256 of the admin key (`routewise-gateway hash-key KEY` prints it). When
    /// set, `/stats`, `/accounts`, `/metrics`, `/explain` and the dashboard need it
    /// (`Authorization: Bearer KEY`, `x-api-key: KEY`, or HTTP Basic with the key as the
    /// password, which a browser asks for), and `/health` shows its status alone to
    /// callers without it. Unset, those endpoints are open.
    #[serde(default)]
    pub admin_sha256: Option<String>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            max_body_bytes: default_max_body(),
            default_step: default_step(),
            default_purpose: default_purpose(),
            keys: Vec::new(),
            admin_sha256: None,
        }
    }
}

impl GatewaySettings {
    /// Default settings with these keys.
    pub fn with_keys(keys: impl IntoIterator<Item = KeyConfig>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Requires the admin key whose secret is `key` (hashed here) on the operational
    /// endpoints and the dashboard.
    #[must_use]
    pub fn admin_key(mut self, key: &str) -> Self {
        self.admin_sha256 = Some(crate::keys::hash_key(key));
        self
    }

    /// Sets the largest request body accepted, in bytes.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

/// One gateway key: a client's credential, never a provider's.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KeyConfig {
    /// A name for the key, shown in logs and stats (never the key itself).
    pub name: String,
    /// The key's SHA-256, lowercase hex (`routewise-gateway hash-key KEY` prints it): the
    /// key itself is never stored.
    pub sha256: String,
    /// The logical models (or requested model names) the key may use; empty: any.
    #[serde(default)]
    pub models: Vec<String>,
    /// Requests per minute the key may make: across every gateway instance when the
    /// router shares state through Redis (`[shared_state]`), else on each instance.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// US dollars the key may spend per UTC calendar month, across instances as `rpm`.
    #[serde(default)]
    pub monthly_usd: Option<f64>,
}

impl KeyConfig {
    /// A key named `name` whose secret is `key` (hashed here; the secret is not kept).
    pub fn new(name: impl Into<String>, key: &str) -> Self {
        Self {
            name: name.into(),
            sha256: crate::keys::hash_key(key),
            models: Vec::new(),
            rpm: None,
            monthly_usd: None,
        }
    }

    /// Limits the key to these logical models.
    #[must_use]
    pub fn models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.models = models.into_iter().map(Into::into).collect();
        self
    }

    /// Limits the key's requests per minute.
    #[must_use]
    pub fn rpm(mut self, rpm: u32) -> Self {
        self.rpm = Some(rpm);
        self
    }

    /// Limits the key's spend per UTC calendar month, in US dollars.
    #[must_use]
    pub fn monthly_usd(mut self, dollars: f64) -> Self {
        self.monthly_usd = Some(dollars);
        self
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4000))
}

fn default_max_body() -> usize {
    4 * 1024 * 1024
}

fn default_step() -> String {
    "inference".into()
}

fn default_purpose() -> String {
    "chat".into()
}

/// Why a gateway config could not be loaded or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("cannot read gateway config `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("gateway config is not valid TOML")]
    Syntax(#[source] toml::de::Error),
    /// The `[gateway]` table has an unknown key or a wrong type.
    #[error("invalid [gateway] table")]
    Gateway(#[source] toml::de::Error),
    /// The router part of the file has an unknown key or a wrong type.
    #[error("invalid router configuration")]
    RouterShape(#[source] toml::de::Error),
    /// The router part of the file is well-formed but describes an invalid router (every
    /// problem listed, each with its path).
    #[error(transparent)]
    Router(routewise::ConfigError),
    /// A gateway key is invalid.
    #[error("gateway key `{name}`: {problem}")]
    Key {
        /// The key's name.
        name: String,
        /// What is wrong, and what to do.
        problem: String,
    },
    /// `[gateway] admin_sha256` is not a SHA-256.
    #[error("[gateway] admin_sha256 {problem}")]
    AdminKey {
        /// What is wrong, and what to do.
        problem: String,
    },
    /// A default step type or purpose is empty.
    #[error("[gateway] {field} must not be empty")]
    EmptyDefault {
        /// `default_step` or `default_purpose`.
        field: &'static str,
    },
}

impl GatewayConfig {
    /// Reads a TOML config file.
    ///
    /// # Errors
    ///
    /// [`ConfigFileError`]: the file cannot be read, is not TOML, or a table has an
    /// unknown key or a wrong type.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Reads a config from TOML text.
    ///
    /// # Errors
    ///
    /// As [`from_path`](Self::from_path), without the reading.
    pub fn from_toml(text: &str) -> Result<Self, ConfigFileError> {
        let mut document: toml::Table = text.parse().map_err(ConfigFileError::Syntax)?;
        let gateway = match document.remove("gateway") {
            Some(table) => table.try_into().map_err(ConfigFileError::Gateway)?,
            None => GatewaySettings::default(),
        };
        let router = toml::Value::Table(document)
            .try_into()
            .map_err(ConfigFileError::RouterShape)?;
        Ok(Self { router, gateway })
    }

    /// The embedded default ([`DEFAULT_CONFIG`]): offline, on simulated providers.
    pub fn embedded_default() -> Self {
        Self::from_toml(DEFAULT_CONFIG).expect("the embedded default config is valid")
    }
}
