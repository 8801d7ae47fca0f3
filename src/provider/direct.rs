//! The direct path of routewise's own clients: requests built with reqwest's types, sent
//! through hyper-util's pooled client (the one reqwest itself sends through), and answered
//! as `reqwest::Response`s, so the adapters read every answer the same way.
//!
//! reqwest 0.13 passes every request through tower-http's redirect layer, which turns the
//! request's URI into a string and parses it as a URL on the way out and again for
//! `Response::url`: two full URL parses per call (~13.5 k instructions, 15% of a raw
//! reqwest request against a local upstream; BENCHMARKS.md), whatever the redirect policy.
//! The direct path skips that layer and the proxy matcher. It does what reqwest's client
//! does for a provider call otherwise: the same TLS configuration (rustls, HTTP/2 through
//! ALPN with the `http2` feature), connect timeout, TCP settings, pool idle timeout and
//! default `accept` header.
//!
//! It is used only where it changes nothing a user relies on: for clients routewise built
//! (never one the application supplied), when no proxy is configured in the environment
//! (and, with `system-proxy` on macOS and Windows, never: their system settings are
//! reqwest's to read), for `http` URLs, and for `https` ones with the `rustls` TLS backend.
//! Everything else goes through reqwest. Redirects are not followed on either path of a
//! routewise-built client: provider APIs answer where they are asked, and a redirect is
//! reported with its location (see [`super::http::send`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::header::{ACCEPT, HeaderValue};

use super::ErrorKind;
use super::ProviderError;
use super::tls::Settings;

/// Whether `https` URLs can take the direct path: with rustls, the connector reqwest
/// builds for it is built here too.
const HTTPS: bool = cfg!(all(feature = "rustls", not(feature = "native-tls")));

#[cfg(all(feature = "rustls", not(feature = "native-tls")))]
type Connector = Bounded<hyper_rustls::HttpsConnector<HttpConnector>>;
#[cfg(not(all(feature = "rustls", not(feature = "native-tls"))))]
type Connector = Bounded<HttpConnector>;

/// A pooled HTTP client of routewise's own, for the requests [`DirectClient::takes`].
#[derive(Clone, Debug)]
pub(crate) struct DirectClient {
    client: Client<Connector, reqwest::Body>,
}

impl DirectClient {
    /// A direct client with `connect` as its connect timeout, or `None` when a proxy may
    /// apply (so every request goes through reqwest, which follows it).
    pub(crate) fn unless_proxied(connect: Duration, tls: &Settings) -> Option<Self> {
        if proxy_configured() {
            return None;
        }
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            // reqwest's defaults.
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(usize::MAX);
        Some(Self {
            client: builder.build(connector(connect, tls)?),
        })
    }

    /// Whether `url` can be sent on the direct path.
    pub(crate) fn takes(&self, url: &reqwest::Url) -> bool {
        url.has_host() && (url.scheme() == "http" || (HTTPS && url.scheme() == "https"))
    }

    /// Sends `request` and returns the answer's head with its body still to read. The
    /// response's `url()` is reqwest's placeholder (routewise never reads it).
    pub(crate) async fn send(
        &self,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut request = hyper::Request::<reqwest::Body>::try_from(request)
            .map_err(|e| super::http::from_reqwest(&e))?;
        request
            .headers_mut()
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        // Kept for a failure's message: a reference count, where the `Url` is a string.
        let uri = request.uri().clone();
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| send_error(&e, &uri))?;
        // A failure while the body is read is an I/O error, as on reqwest's path, so it
        // is classified as the connection failing rather than a malformed answer.
        Ok(reqwest::Response::from(response.map(|body| {
            reqwest::Body::wrap(http_body_util::BodyExt::map_err(
                body,
                std::io::Error::other,
            ))
        })))
    }
}

/// The connector of a direct client: TCP as reqwest sets it up, with TLS on top where
/// the direct path takes `https`.
fn connector(connect: Duration, tls: &Settings) -> Option<Connector> {
    let mut http = HttpConnector::new();
    http.enforce_http(!HTTPS);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect));
    http.set_keepalive(Some(Duration::from_secs(15)));
    http.set_keepalive_interval(Some(Duration::from_secs(15)));
    http.set_keepalive_retries(Some(3));
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    http.set_tcp_user_timeout(Some(Duration::from_secs(30)));
    #[cfg(all(feature = "rustls", not(feature = "native-tls")))]
    {
        let mut config = tls.rustls()?.clone();
        // The connector offers the protocols it enables itself, and refuses a
        // configuration that already names some.
        config.alpn_protocols.clear();
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http();
        #[cfg(feature = "http2")]
        let builder = builder.enable_all_versions();
        #[cfg(not(feature = "http2"))]
        let builder = builder.enable_http1();
        Some(Bounded {
            inner: builder.wrap_connector(http),
            timeout: connect,
        })
    }
    #[cfg(not(all(feature = "rustls", not(feature = "native-tls"))))]
    {
        // Plain HTTP only: `https` goes through reqwest and its own TLS backend.
        let _ = tls;
        Some(Bounded {
            inner: http,
            timeout: connect,
        })
    }
}

/// A connector whose whole connection, TCP and for `https` the TLS handshake, must be
/// ready within `timeout`, as reqwest bounds its own (`HttpConnector`'s timeout covers the
/// TCP connect alone).
#[derive(Clone, Debug)]
pub(crate) struct Bounded<C> {
    inner: C,
    timeout: Duration,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<C> tower_service::Service<Uri> for Bounded<C>
where
    C: tower_service::Service<Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connection not ready within the {timeout:?} connect timeout"),
                )
                .into()),
            }
        })
    }
}

/// Whether a proxy may apply to routewise's clients: a proxy variable in the environment
/// (the ones reqwest reads), or the macOS and Windows system settings with `system-proxy`.
fn proxy_configured() -> bool {
    if cfg!(all(
        feature = "system-proxy",
        any(target_os = "macos", target_os = "windows")
    )) {
        return true;
    }
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .into_iter()
    .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// A failure to send on the direct path, worded as reqwest words its own: the URL, then
/// each cause. A connect timeout is a [`ErrorKind::Timeout`], anything else a
/// [`ErrorKind::Connection`].
fn send_error(error: &hyper_util::client::legacy::Error, uri: &hyper::Uri) -> ProviderError {
    let mut message = format!("error sending request for url ({uri})");
    let mut timed_out = false;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        message.push_str(": ");
        message.push_str(&error.to_string());
        timed_out |= error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut);
        cause = error.source();
    }
    let kind = if timed_out {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connection
    };
    ProviderError::new(kind, message)
}
