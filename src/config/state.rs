//! [`StateStoreConfig`]: where budgets keep their spend, as written in a config file.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::duration;
use super::problems::Problems;
use crate::router::Snapshot;
use crate::state::{FileStore, MemoryStore, StateStore};

/// How often a file store is written when `flush_every` is left out.
const DEFAULT_FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Where budget spend is kept (see
/// [`RouterBuilder::state_store`](crate::RouterBuilder::state_store)): `"memory"` (shared
/// by every budget of the router, lost on exit), or a JSON file that survives restarts,
/// written atomically every `flush_every` (default 5 s) from a background task.
///
/// ```toml
/// state_store = "memory"
/// state_store = { file = "/var/lib/routewise/state.json", flush_every = "5s" }
/// ```
///
/// A relative `file` is relative to the process's working directory. Call
/// [`Router::sync_state`](crate::Router::sync_state) once at start-up to restore earlier
/// spend. A reload that leaves `state_store` as it was keeps the running store.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateStoreConfig {
    /// A [`MemoryStore`].
    Memory,
    /// A [`FileStore`].
    File {
        /// The file.
        file: PathBuf,
        /// How often spend is written to it.
        flush_every: Duration,
    },
}

impl StateStoreConfig {
    /// The store: the running one when `previous` was built from the same settings, else
    /// a new one. `None` after reporting why it cannot be opened.
    pub(crate) fn open(
        &self,
        previous: Option<&Snapshot>,
        problems: &mut Problems,
    ) -> Option<Arc<dyn StateStore>> {
        let source = self.to_string();
        if let Some(previous) = previous
            && previous.state_source.as_deref() == Some(source.as_str())
            && let Some(store) = &previous.state_store
        {
            return Some(store.clone());
        }
        match self {
            StateStoreConfig::Memory => Some(Arc::new(MemoryStore::new())),
            StateStoreConfig::File { file, flush_every } => {
                if flush_every.is_zero() {
                    problems.push("state_store.flush_every", "must be greater than zero");
                    return None;
                }
                if tokio::runtime::Handle::try_current().is_err() {
                    problems.push(
                        "state_store",
                        "a file store flushes from a background task, which needs a Tokio runtime: build the router inside one",
                    );
                    return None;
                }
                match FileStore::open_blocking(file) {
                    Ok(store) => {
                        // The task ends by itself once the store is dropped.
                        drop(store.spawn_periodic_flush(*flush_every));
                        Some(Arc::new(store))
                    }
                    Err(error) => {
                        problems.push("state_store.file", error.to_string());
                        None
                    }
                }
            }
        }
    }
}

impl fmt::Display for StateStoreConfig {
    /// A description that differs whenever the settings do.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateStoreConfig::Memory => f.write_str("memory"),
            StateStoreConfig::File { file, flush_every } => {
                write!(f, "file {} every {flush_every:?}", file.display())
            }
        }
    }
}

impl<'de> Deserialize<'de> for StateStoreConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StoreVisitor)
    }
}

impl Serialize for StateStoreConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            StateStoreConfig::Memory => serializer.serialize_str("memory"),
            StateStoreConfig::File { file, flush_every } => FileSettings {
                file: file.clone(),
                flush_every: Some(*flush_every),
            }
            .serialize(serializer),
        }
    }
}

struct StoreVisitor;

/// A file store as written.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    file: PathBuf,
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    flush_every: Option<Duration>,
}

impl<'de> Visitor<'de> for StoreVisitor {
    type Value = StateStoreConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"memory\" or a table { file = \"state.json\", flush_every = \"5s\" }")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        match value {
            "memory" => Ok(StateStoreConfig::Memory),
            other => Err(E::custom(format!(
                "unknown state store `{other}`; write \"memory\" or {{ file = \"state.json\" }}"
            ))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let settings = FileSettings::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(StateStoreConfig::File {
            file: settings.file,
            flush_every: settings.flush_every.unwrap_or(DEFAULT_FLUSH_EVERY),
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for StateStoreConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StateStoreConfig".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Where budget spend is kept: \"memory\", or a JSON file written every `flush_every` (default 5s).",
            "anyOf": [
                { "const": "memory" },
                {
                    "type": "object",
                    "properties": {
                        "file": { "type": "string", "description": "The file (relative to the working directory)." },
                        "flush_every": duration::schema(generator)
                    },
                    "required": ["file"],
                    "additionalProperties": false
                }
            ]
        })
    }
}
