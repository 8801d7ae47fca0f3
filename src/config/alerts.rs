//! [`AlertSinkConfig`]: where budget alerts go, as written in a config file.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use super::path;
use super::problems::Problems;
use super::secret::SecretValue;
use crate::budget::{AlertSink, TracingSink, WebhookSink};

/// One destination of budget alerts (see
/// [`RouterBuilder::alert_sink`](crate::RouterBuilder::alert_sink)); each alert reaches
/// every sink once.
///
/// ```toml
/// alerts = [
///   { kind = "tracing" },
///   { kind = "webhook", url = "${ALERT_WEBHOOK_URL}", headers = { authorization = "Bearer ${ALERT_TOKEN}" }, timeout = "5s" },
/// ]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub enum AlertSinkConfig {
    /// A `tracing` event per alert ([`TracingSink`]); it has no settings.
    // A struct variant, so that unknown keys next to `kind` are errors.
    Tracing {},
    /// A JSON `POST` per alert ([`WebhookSink`]).
    Webhook(WebhookSettings),
}

/// A webhook that receives budget alerts.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct WebhookSettings {
    /// The http(s) URL to post to. Webhook URLs often carry a token: read it from the
    /// environment (`"${ALERT_WEBHOOK_URL}"`). It is never shown in errors or logs.
    pub url: SecretValue,
    /// Headers sent with every post; values may read the environment.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretValue>,
    /// How long one post may take (default 10 s).
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schema", schemars(schema_with = "duration::schema"))]
    pub timeout: Option<Duration>,
}

impl AlertSinkConfig {
    /// The sink, with secrets read through `env`; `None` after reporting its problems
    /// under `at` (such as `alerts[1]`).
    pub(crate) fn build(
        &self,
        at: &str,
        env: &dyn Fn(&str) -> Option<String>,
        problems: &mut Problems,
    ) -> Option<Arc<dyn AlertSink>> {
        match self {
            AlertSinkConfig::Tracing {} => Some(Arc::new(TracingSink)),
            AlertSinkConfig::Webhook(webhook) => webhook
                .build(at, env, problems)
                .map(|sink| Arc::new(sink) as Arc<dyn AlertSink>),
        }
    }
}

impl WebhookSettings {
    /// Posts to `url`, with no extra headers and the default timeout.
    pub fn new(url: SecretValue) -> Self {
        Self {
            url,
            headers: BTreeMap::new(),
            timeout: None,
        }
    }
}

impl WebhookSettings {
    fn build(
        &self,
        at: &str,
        env: &dyn Fn(&str) -> Option<String>,
        problems: &mut Problems,
    ) -> Option<WebhookSink> {
        let url_path = format!("{at}.url");
        let url = self.url.resolve(env, &url_path, problems);
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let mut header_path = format!("{at}.headers");
            path::push_key(&mut header_path, name);
            headers.push((name, value.resolve(env, &header_path, problems)));
        }
        if self.timeout.is_some_and(|t| t.is_zero()) {
            problems.push(format!("{at}.timeout"), "must be greater than zero");
        }
        // The URL may hold a token: say what is wrong with it, never what it is.
        let Ok(mut sink) = WebhookSink::new(url?.expose()) else {
            problems.push(
                url_path,
                "is not an http(s) URL with a host, such as \"https://hooks.example.com/budget\"",
            );
            return None;
        };
        for (name, value) in headers {
            sink = sink.header(name.as_str(), value?);
        }
        if let Some(timeout) = self.timeout {
            sink = sink.timeout(timeout);
        }
        Some(sink)
    }
}
