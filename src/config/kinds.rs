//! [`ProviderKinds`]: provider kinds registered in code, so a config file can name them
//! (`provider = { kind = "my-kind", ... }`) like the built-in ones.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::problems::Problems;
use crate::provider::Provider;

/// The built-in kinds, which a registered kind may not replace.
pub(crate) const BUILT_IN: [&str; 5] = ["openai", "anthropic", "gemini", "vertex", "sim"];

/// Builds one registered kind's provider from its settings table (without `kind`),
/// reporting problems under the path it is given.
type Build =
    dyn Fn(&Map<String, Value>, &str, &mut Problems) -> Option<Arc<dyn Provider>> + Send + Sync;

/// Provider kinds your code registers, so config files can use them.
///
/// Each kind has a settings type of its own (any `serde` type: mark it
/// `#[serde(deny_unknown_fields)]` to have misspelled keys reported, as the built-in
/// kinds do) and a function that makes the provider from the settings, or says what is
/// wrong with them. Problems are reported with every other problem of the file, under
/// the account's path (`accounts[2].provider: ...`).
///
/// Attach the kinds to a config with
/// [`RouterConfig::with_provider_kinds`](crate::RouterConfig::with_provider_kinds); a router
/// built from it keeps them, so [`Router::reload_config`](crate::Router::reload_config)
/// and [`Router::watch_config`](crate::Router::watch_config) accept them in later
/// versions of the file too.
///
/// ```
/// # #[cfg(feature = "toml")] {
/// use routewise::config::{Format, ProviderKinds, RouterConfig};
/// use routewise::sim::SimProvider;
/// use routewise::Router;
///
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct EchoSettings {
///     greeting: String,
/// }
///
/// let kinds = ProviderKinds::new().register("echo", |settings: EchoSettings| {
///     if settings.greeting.is_empty() {
///         return Err("`greeting` must not be empty".to_owned());
///     }
///     Ok(SimProvider::new().reply(settings.greeting))
/// });
/// let config = RouterConfig::from_str_format(r#"
///     [[accounts]]
///     name = "local"
///     provider = { kind = "echo", greeting = "hello" }
///
///     [[models]]
///     name = "m"
///     targets = [{ account = "local", model = "echo-1" }]
///
///     [[policies]]
///     name = "default"
///     route = ["m"]
/// "#, Format::Toml)?
/// .with_provider_kinds(kinds);
/// let router = Router::from_config(&config)?;
/// # let _ = router;
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct ProviderKinds {
    kinds: BTreeMap<String, Arc<Build>>,
    /// The schemas of the settings of kinds registered with one.
    #[cfg(feature = "schema")]
    schemas: BTreeMap<String, Describe>,
}

/// Writes the schema of one kind's settings (see [`ProviderKinds::register_with_schema`]).
#[cfg(feature = "schema")]
pub(crate) type Describe = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

impl ProviderKinds {
    /// No registered kinds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `kind`: an account's provider table `{ kind = "<kind>", ... }` is read as
    /// `S` (without `kind`) and made into a provider by `build`, whose `Err` names what is
    /// wrong. Registering a kind again replaces it; the built-in kinds (`openai`,
    /// `anthropic`, `gemini`, `vertex`, `sim`) cannot be replaced, and a config that names one gets
    /// the built-in.
    pub fn register<S, P, F>(mut self, kind: impl Into<String>, build: F) -> Self
    where
        S: DeserializeOwned,
        P: Provider,
        F: Fn(S) -> Result<P, String> + Send + Sync + 'static,
    {
        let build = move |table: &Map<String, Value>, path: &str, problems: &mut Problems| {
            let settings = match S::deserialize(Value::Object(table.clone())) {
                Ok(settings) => settings,
                Err(error) => {
                    problems.push(path, crate::suggest::teach(&error.to_string()));
                    return None;
                }
            };
            match build(settings) {
                Ok(provider) => Some(Arc::new(provider) as Arc<dyn Provider>),
                Err(message) => {
                    problems.push(path, message);
                    None
                }
            }
        };
        let kind = kind.into();
        #[cfg(feature = "schema")]
        self.schemas.remove(&kind);
        self.kinds.insert(kind, Arc::new(build));
        self
    }

    /// [`register`](Self::register), with the schema of `S` in
    /// [`RouterConfig::json_schema_with_kinds`](crate::RouterConfig::json_schema_with_kinds),
    /// so editors check and complete the kind's settings like a built-in kind's.
    ///
    /// ```
    /// use routewise::config::ProviderKinds;
    /// use routewise::sim::SimProvider;
    /// use routewise::RouterConfig;
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// #[serde(deny_unknown_fields)]
    /// struct EchoSettings {
    ///     /// What every answer says.
    ///     greeting: String,
    /// }
    ///
    /// let kinds = ProviderKinds::new().register_with_schema("echo", |s: EchoSettings| {
    ///     Ok(SimProvider::new().reply(s.greeting))
    /// });
    /// let schema = RouterConfig::json_schema_with_kinds(&kinds);
    /// let echo = schema["$defs"]["ProviderConfig"]["oneOf"]
    ///     .as_array()
    ///     .unwrap()
    ///     .iter()
    ///     .find(|kind| kind["properties"]["kind"]["const"] == "echo")
    ///     .unwrap();
    /// assert_eq!(echo["properties"]["greeting"]["type"], "string");
    /// assert_eq!(echo["additionalProperties"], false);
    /// ```
    #[cfg(feature = "schema")]
    #[cfg_attr(docsrs, doc(cfg(feature = "schema")))]
    pub fn register_with_schema<S, P, F>(self, kind: impl Into<String>, build: F) -> Self
    where
        S: DeserializeOwned + schemars::JsonSchema,
        P: Provider,
        F: Fn(S) -> Result<P, String> + Send + Sync + 'static,
    {
        let kind = kind.into();
        let mut kinds = self.register(kind.clone(), build);
        kinds.schemas.insert(kind, S::json_schema);
        kinds
    }

    /// The registered kinds, each with the schema of its settings if it was registered
    /// with one.
    #[cfg(feature = "schema")]
    pub(crate) fn described(&self) -> impl Iterator<Item = (&str, Option<Describe>)> {
        self.names()
            .map(|name| (name, self.schemas.get(name).copied()))
    }

    /// The registered kinds' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }

    /// Whether no kind is registered.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The provider of registered `kind` from `settings`, with problems reported under
    /// `path` (an unknown kind under `{path}.kind`).
    pub(crate) fn build(
        &self,
        kind: &str,
        settings: &Map<String, Value>,
        path: &str,
        problems: &mut Problems,
    ) -> Option<Arc<dyn Provider>> {
        match self.kinds.get(kind) {
            Some(build) => build(settings, path, problems),
            None if kind == "bedrock" && !cfg!(feature = "bedrock") => {
                problems.push(
                    format!("{path}.kind"),
                    "the `bedrock` kind needs routewise's `bedrock` feature \
                     (`routewise = { features = [\"bedrock\"] }` in Cargo.toml)",
                );
                None
            }
            None => {
                let known = || BUILT_IN.into_iter().chain(self.names());
                let message = match crate::suggest::closest(kind, known()) {
                    Some(close) => {
                        format!("unknown provider kind `{kind}`; did you mean `{close}`?")
                    }
                    None => format!(
                        "unknown provider kind `{kind}`; the kinds are {}, and kinds of your own \
                         are registered with `RouterConfig::with_provider_kinds`",
                        known()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                problems.push(format!("{path}.kind"), message);
                None
            }
        }
    }
}

impl fmt::Debug for ProviderKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}
