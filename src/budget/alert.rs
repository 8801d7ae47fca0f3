//! Budget alerts: what crossing a threshold reports, and where the report goes.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Serialize;

use super::Usd;
use super::window::{rfc3339, serialize_rfc3339, serialize_rfc3339_opt};
use crate::account::SecretString;
use crate::resilience::CredentialsAlert;

/// An account's spend crossed one of its budget's alert thresholds.
///
/// Each threshold fires at most once per budget window. Serializes to JSON with times in
/// RFC 3339 and amounts in dollars:
///
/// ```json
/// {"account":"openai-main","window":"2025-01","window_start":"2025-01-01T00:00:00Z",
///  "window_end":"2025-02-01T00:00:00Z","threshold_percent":80,"spend_usd":81.25,
///  "budget_usd":100.0,"projected_exhaustion":"2025-01-19T14:03:10Z"}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Alert {
    /// The account.
    pub account: Arc<str>,
    /// The budget window's label, such as `2025-01`.
    pub window: String,
    /// When the window started.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub window_start: SystemTime,
    /// When the window ends and spend starts again from zero.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub window_end: SystemTime,
    /// The threshold crossed, in percent of the budget.
    pub threshold_percent: u16,
    /// Spend in the window so far.
    #[serde(rename = "spend_usd")]
    pub spend: Usd,
    /// The budget of the window.
    #[serde(rename = "budget_usd")]
    pub budget: Usd,
    /// When the budget runs out if spending goes on at the window's average rate so far;
    /// `None` when nothing was spent yet. May lie beyond the window's end.
    #[serde(serialize_with = "serialize_rfc3339_opt")]
    pub projected_exhaustion: Option<SystemTime>,
}

impl Alert {
    /// `now` plus the time the rest of the budget lasts at the window's average burn rate
    /// (spend divided by time elapsed in the window); `now` when nothing is left.
    pub(crate) fn projected_exhaustion(
        spend: Usd,
        budget: Usd,
        window_start: SystemTime,
        now: SystemTime,
    ) -> Option<SystemTime> {
        if spend >= budget {
            return Some(now);
        }
        if spend == Usd::ZERO {
            return None;
        }
        // At least one second elapsed, so a first request cannot project a wild rate.
        let elapsed = now
            .duration_since(window_start)
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_secs(1));
        let remaining = u128::from(budget.saturating_sub(spend).nanos());
        let lasts_ns = remaining * elapsed.as_nanos() / u128::from(spend.nanos());
        let lasts = Duration::from_nanos(u64::try_from(lasts_ns).unwrap_or(u64::MAX));
        now.checked_add(lasts)
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "account `{}` has spent {} of its {} budget for {} ({}% threshold)",
            self.account, self.spend, self.budget, self.window, self.threshold_percent
        )?;
        if let Some(at) = self.projected_exhaustion {
            write!(f, "; at this rate it runs out at {}", rfc3339(at))?;
        }
        Ok(())
    }
}

/// Where budget [`Alert`]s go.
///
/// Object safe and async; implementations must be `Send + Sync` and should return
/// promptly (time out network calls). A failed delivery is reported, not retried: the
/// caller decides whether to log it or try again.
///
/// ```
/// use async_trait::async_trait;
/// use routewise::budget::{Alert, AlertError, AlertSink};
///
/// /// Counts alerts, for a dashboard.
/// struct Counter(std::sync::atomic::AtomicUsize);
///
/// #[async_trait]
/// impl AlertSink for Counter {
///     async fn send(&self, _alert: &Alert) -> Result<(), AlertError> {
///         self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// let _: Box<dyn AlertSink> = Box::new(Counter(Default::default()));
/// ```
#[async_trait]
pub trait AlertSink: Send + Sync + 'static {
    /// Delivers one alert.
    async fn send(&self, alert: &Alert) -> Result<(), AlertError>;

    /// Delivers a [`CredentialsAlert`]: an account's credentials were rejected and it left
    /// rotation (once per transition). The default ignores it; [`TracingSink`] and
    /// [`WebhookSink`] deliver it.
    async fn send_credentials_rejected(&self, alert: &CredentialsAlert) -> Result<(), AlertError> {
        let _ = alert;
        Ok(())
    }
}

/// An alert that could not be delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// The webhook could not be reached or timed out.
    #[error("alert webhook to {host} failed")]
    Transport {
        /// The webhook's host (the rest of the URL may hold a secret).
        host: String,
        /// What went wrong, without the URL.
        #[source]
        source: reqwest::Error,
    },
    /// The webhook answered with an error status.
    #[error("alert webhook to {host} answered HTTP {status}")]
    Status {
        /// The webhook's host.
        host: String,
        /// The HTTP status.
        status: u16,
    },
    /// The alert could not be encoded as JSON.
    #[error("alert could not be encoded as JSON")]
    Encode(#[source] serde_json::Error),
    /// The webhook URL is not an absolute http(s) URL.
    #[error("alert webhook URL is not a valid http(s) URL")]
    InvalidUrl,
}

/// Calls a function with each alert, in the caller's task.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use routewise::budget::CallbackSink;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let sink = CallbackSink::new(move |alert| log.lock().unwrap().push(alert.threshold_percent));
/// # let _ = sink;
/// ```
pub struct CallbackSink<F>(F);

impl<F: Fn(&Alert) + Send + Sync + 'static> CallbackSink<F> {
    /// A sink calling `callback`. It runs inline, so it must not block.
    pub fn new(callback: F) -> Self {
        Self(callback)
    }
}

#[async_trait]
impl<F: Fn(&Alert) + Send + Sync + 'static> AlertSink for CallbackSink<F> {
    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        (self.0)(alert);
        Ok(())
    }
}

impl<F> fmt::Debug for CallbackSink<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackSink")
    }
}

/// Emits each alert as a `tracing` event (target `routewise::budget`): a warning below
/// 100 % of the budget, an error at or above it, with the alert's fields as event fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingSink;

#[async_trait]
impl AlertSink for TracingSink {
    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        let projected = alert.projected_exhaustion.map(rfc3339);
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(
                    target: "routewise::budget",
                    $level,
                    account = &*alert.account,
                    window = %alert.window,
                    threshold_percent = alert.threshold_percent,
                    spend_usd = alert.spend.dollars(),
                    budget_usd = alert.budget.dollars(),
                    projected_exhaustion = projected.as_deref(),
                    "budget threshold crossed"
                )
            };
        }
        if alert.threshold_percent >= 100 {
            emit!(tracing::Level::ERROR);
        } else {
            emit!(tracing::Level::WARN);
        }
        Ok(())
    }

    /// An error event (target `routewise::credentials`).
    async fn send_credentials_rejected(&self, alert: &CredentialsAlert) -> Result<(), AlertError> {
        tracing::error!(
            target: "routewise::credentials",
            account = &*alert.account,
            status = alert.status,
            next_probe_in_ms = alert.next_probe_in_ms,
            "{alert}"
        );
        Ok(())
    }
}

/// Posts each alert as JSON (see [`Alert`]) to a webhook URL.
///
/// The URL and header values are treated as secrets (chat webhooks carry their token in
/// the URL): `Debug` and errors show only the host.
///
/// ```
/// use std::time::Duration;
/// use routewise::budget::WebhookSink;
///
/// let sink = WebhookSink::new("https://hooks.example.com/services/T000/B000/XXXX")?
///     .header("authorization", "Bearer secret")
///     .timeout(Duration::from_secs(5));
/// assert!(!format!("{sink:?}").contains("XXXX"));
/// # Ok::<(), routewise::budget::AlertError>(())
/// ```
pub struct WebhookSink {
    url: reqwest::Url,
    host: String,
    headers: Vec<(String, SecretString)>,
    timeout: Duration,
    client: reqwest::Client,
}

impl WebhookSink {
    /// A sink posting to `url` (http or https) with a 10-second timeout.
    pub fn new(url: &str) -> Result<Self, AlertError> {
        let url = reqwest::Url::parse(url).map_err(|_| AlertError::InvalidUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AlertError::InvalidUrl);
        }
        let host = url.host_str().ok_or(AlertError::InvalidUrl)?.to_owned();
        Ok(Self {
            url,
            host,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            client: crate::provider::client::standalone(&crate::provider::HttpTimeouts::default()),
        })
    }

    /// Adds a header sent with every post (its value is kept secret).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<SecretString>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets how long one post may take.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses `client` (for proxies or TLS settings) instead of a default one.
    #[must_use]
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }
}

#[async_trait]
impl AlertSink for WebhookSink {
    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        self.post(serde_json::to_vec(alert).map_err(AlertError::Encode)?)
            .await
    }

    /// Posts the alert as JSON, `"alert": "credentials_rejected"` telling it apart.
    async fn send_credentials_rejected(&self, alert: &CredentialsAlert) -> Result<(), AlertError> {
        self.post(serde_json::to_vec(alert).map_err(AlertError::Encode)?)
            .await
    }
}

impl WebhookSink {
    async fn post(&self, body: Vec<u8>) -> Result<(), AlertError> {
        let mut request = self
            .client
            .post(self.url.clone())
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose());
        }
        let transport = |source: reqwest::Error| AlertError::Transport {
            host: self.host.clone(),
            source: source.without_url(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(AlertError::Status {
                host: self.host.clone(),
                status: status.as_u16(),
            });
        }
        Ok(())
    }
}

impl fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSink")
            .field("host", &self.host)
            .field("headers", &self.headers)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn projection_needs_spend_and_is_now_once_the_budget_is_gone() {
        let start = UNIX_EPOCH;
        let now = start + Duration::from_secs(3_600);
        let budget = Usd::from_cents(100);
        assert_eq!(
            Alert::projected_exhaustion(Usd::ZERO, budget, start, now),
            None
        );
        assert_eq!(
            Alert::projected_exhaustion(budget, budget, start, now),
            Some(now)
        );
        // A quarter spent in one hour: three more hours.
        assert_eq!(
            Alert::projected_exhaustion(Usd::from_cents(25), budget, start, now),
            Some(now + Duration::from_secs(3 * 3_600))
        );
    }

    #[test]
    fn webhook_urls_must_be_http_with_a_host() {
        for bad in ["not a url", "ftp://host/x", "file:///tmp/x", "mailto:a@b.c"] {
            assert!(
                matches!(WebhookSink::new(bad), Err(AlertError::InvalidUrl)),
                "{bad}"
            );
        }
        let sink = WebhookSink::new("https://hooks.example.com/T/B/token").unwrap();
        let debug = format!("{sink:?}");
        assert!(
            debug.contains("hooks.example.com") && !debug.contains("token"),
            "{debug}"
        );
    }
}
