//! The [`Gateway`]: a router behind HTTP, its routes, reloads and graceful shutdown.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use routewise::{ChatResponse, ChatStream, Router, StreamEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{ConfigFileError, GatewayConfig, GatewaySettings};
use crate::error::{ApiError, Class, Wire};
use crate::keys::{AdminKey, KeyTable};
use crate::routing::{self, Catalog, Live, Routed};

/// How many recent failures the dashboard shows.
const RECENT_FAILURES: usize = 20;

/// routewise's router behind an OpenAI- and Anthropic-compatible HTTP API.
///
/// A cheap handle (an `Arc` inside): clones serve the same router, keys and stats.
///
/// ```no_run
/// use routewise_gateway::{Gateway, GatewayConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let gateway = Gateway::from_config(&GatewayConfig::embedded_default())?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
/// gateway.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

struct Shared {
    router: Router,
    live: ArcSwap<Live>,
    /// The last failures, newest last (a lock on the failure path only).
    failures: Mutex<VecDeque<Failure>>,
    ids: AtomicU64,
}

/// One failed request, for the dashboard and `/stats`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Failure {
    /// Seconds since the Unix epoch.
    pub(crate) at: u64,
    pub(crate) status: u16,
    pub(crate) policy: Option<String>,
    pub(crate) message: String,
}

impl Gateway {
    /// A gateway in front of `router`, with `settings` (keys, body limit, defaults).
    ///
    /// # Errors
    ///
    /// [`ConfigFileError::Key`] for a malformed key, [`ConfigFileError::EmptyDefault`]
    /// for an empty default step type or purpose.
    pub fn new(router: Router, settings: GatewaySettings) -> Result<Self, ConfigFileError> {
        crate::admin::install_metrics();
        let live = live(&router, settings, None)?;
        Ok(Self {
            shared: Arc::new(Shared {
                router,
                live: ArcSwap::from_pointee(live),
                failures: Mutex::new(VecDeque::new()),
                ids: AtomicU64::new(0),
            }),
        })
    }

    /// A gateway built from a config file's contents.
    ///
    /// # Errors
    ///
    /// [`ConfigFileError::Router`] with every problem of the router's configuration, or
    /// as [`new`](Self::new).
    pub fn from_config(config: &GatewayConfig) -> Result<Self, ConfigFileError> {
        let router = Router::from_config(&config.router).map_err(ConfigFileError::Router)?;
        Self::new(router, config.gateway.clone())
    }

    /// The router this gateway serves.
    pub fn router(&self) -> &Router {
        &self.shared.router
    }

    /// Applies a new configuration: the router reloads (requests in flight finish on the
    /// old one), keys and settings are swapped, and keys whose limits did not change keep
    /// their rate windows and spend. On an error nothing changes. The listen address is
    /// taken at start-up only.
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config).
    pub fn reload(&self, config: &GatewayConfig) -> Result<(), ConfigFileError> {
        let previous = self.shared.live.load();
        // Checked before the router changes, so a bad key leaves everything as it was.
        KeyTable::build(&config.gateway.keys, Some(&previous.keys))?;
        check_defaults(&config.gateway)?;
        admin_key(&config.gateway)?;
        self.shared
            .router
            .reload_config(&config.router)
            .map_err(ConfigFileError::Router)?;
        let next = live(
            &self.shared.router,
            config.gateway.clone(),
            Some(&previous.keys),
        )?;
        self.shared.live.store(Arc::new(next));
        Ok(())
    }

    /// The HTTP routes, for serving with axum or nesting in an application of your own.
    pub fn app(&self) -> axum::Router {
        let limit = self.shared.live.load().settings.max_body_bytes;
        // Behind the admin key, when one is set.
        let operations = axum::Router::new()
            .route("/stats", get(crate::admin::stats))
            .route("/accounts", get(crate::admin::accounts))
            .route("/metrics", get(crate::admin::metrics))
            .route("/", get(crate::dashboard::page))
            .route("/dashboard/body", get(crate::dashboard::body))
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                crate::guard::admin,
            ));
        axum::Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/messages", post(messages))
            .route("/v1/models", get(crate::admin::models))
            .route("/health", get(crate::admin::health))
            .route("/explain", post(crate::admin::explain))
            .merge(operations)
            .layer(DefaultBodyLimit::max(limit))
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting connections
    /// and waits for requests and streams in flight to finish; their reservations
    /// settle as they do. Budget spend is then written to the state store, if any.
    ///
    /// # Errors
    ///
    /// The listener's I/O error.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.shared.router.clone();
        axum::serve(listener, self.app())
            .with_graceful_shutdown(shutdown)
            .await?;
        if let Err(error) = router.sync_state().await {
            tracing::warn!(%error, "could not write budget spend to the state store at shutdown");
        }
        Ok(())
    }

    pub(crate) fn live(&self) -> arc_swap::Guard<Arc<Live>> {
        self.shared.live.load()
    }

    pub(crate) fn recent_failures(&self) -> Vec<Failure> {
        self.shared
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// The response for a failed request, remembered for the dashboard.
    pub(crate) fn fail(&self, error: ApiError, wire: Wire, endpoint: &'static str) -> Response {
        crate::admin::count_request(endpoint, error.status().as_u16());
        if error.status().is_server_error() || error.status() == StatusCode::TOO_MANY_REQUESTS {
            let mut failures = self
                .shared
                .failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if failures.len() == RECENT_FAILURES {
                failures.pop_front();
            }
            failures.push_back(Failure {
                at: unix_now(),
                status: error.status().as_u16(),
                policy: error.policy.clone(),
                message: error.message.clone(),
            });
        }
        error.into_wire(wire)
    }

    /// A fresh response id, prefixed as the wire format's ids are.
    fn next_id(&self, wire: Wire) -> String {
        let prefix = match wire {
            Wire::OpenAi => "chatcmpl-",
            Wire::Anthropic => "msg_",
        };
        let n = self.shared.ids.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}{:x}{n:06x}", unix_now())
    }

    /// Authenticates, reads the body, resolves step, purpose and model.
    pub(crate) async fn admit<T: DeserializeOwned>(
        &self,
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
        read: impl FnOnce(T) -> Result<(String, routewise::ChatRequest), ApiError>,
    ) -> Result<Routed, ApiError> {
        let live = self.live();
        let key = routing::authenticate(&live, headers)?;
        let wire: T = read_json(body, live.settings.max_body_bytes)?;
        let (model, request) = read(wire)?;
        routing::prepare(&live, key, headers, &model, request).await
    }

    /// Runs a non-streaming request; the answer goes out in the client's format.
    pub(crate) async fn complete(
        &self,
        routed: Routed,
        wire: Wire,
        endpoint: &'static str,
        render: impl FnOnce(&str, u64, &ChatResponse) -> serde_json::Value,
    ) -> Response {
        let Routed {
            step,
            purpose,
            request,
            key,
        } = routed;
        match self.shared.router.complete(step, purpose, request).await {
            Ok(response) => {
                key.settle(response.usage.total_tokens(), response.cost_usd);
                let id = self.next_id(wire);
                let body = render(&id, unix_now(), &response);
                let mut out = axum::Json(body).into_response();
                routing::served_headers(
                    out.headers_mut(),
                    &response.policy,
                    &response.served_by,
                    response.attempts.len(),
                );
                crate::admin::count_request(endpoint, 200);
                out
            }
            Err(error) => {
                tracing::debug!(key = key.name(), %error, "request failed");
                self.fail(ApiError::from(&error), wire, endpoint)
            }
        }
    }

    /// Opens a stream; errors before its first event get their own status, later ones
    /// end the stream with an error event.
    pub(crate) async fn stream(
        &self,
        routed: Routed,
        wire: Wire,
        endpoint: &'static str,
        frames: impl FnOnce(String, u64) -> Box<dyn Frames>,
    ) -> Response {
        let Routed {
            step,
            purpose,
            request,
            key,
        } = routed;
        let mut stream = match self.shared.router.stream(step, purpose, request).await {
            Ok(stream) => stream,
            Err(error) => return self.fail(ApiError::from(&error), wire, endpoint),
        };
        // The first event decides the status: until content flows, a failure is still an
        // error response.
        let first = match stream.next().await {
            Some(Err(error)) => return self.fail(ApiError::from(&error), wire, endpoint),
            first => first,
        };
        let id = self.next_id(wire);
        let mut headers = HeaderMap::new();
        routing::served_headers(
            &mut headers,
            stream.policy(),
            stream.target(),
            stream.calls(),
        );
        let body = Body::from_stream(events(stream, first, frames(id, unix_now()), key));
        crate::admin::count_request(endpoint, 200);
        let mut out = (headers, body).into_response();
        out.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        out.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        out
    }
}

/// A wire format's stream framing.
pub(crate) trait Frames: Send {
    /// What goes out before the first event.
    fn opening(&mut self) -> String;
    /// The frames of one event.
    fn event(&mut self, event: &StreamEvent) -> String;
    /// The frame that ends a stream broken after it opened.
    fn error(&mut self, error: &ApiError) -> String;
}

/// The body of a streamed answer: the opening, every event's frames, then the end (the
/// key's charge settles on `Done`; dropping the body, as a client disconnect does, drops
/// the routed stream and with it every reservation).
fn events(
    stream: ChatStream,
    first: Option<Result<StreamEvent, routewise::Error>>,
    mut frames: Box<dyn Frames>,
    key: routing::KeyCharge,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    let opening = frames.opening();
    struct State {
        stream: ChatStream,
        pending: Option<Option<Result<StreamEvent, routewise::Error>>>,
        frames: Box<dyn Frames>,
        key: Option<routing::KeyCharge>,
    }
    let state = State {
        stream,
        pending: Some(first),
        frames,
        key: Some(key),
    };
    let rest = futures::stream::unfold(state, |mut state| async move {
        let item = match state.pending.take() {
            Some(item) => item,
            None => state.stream.next().await,
        };
        let text = match item? {
            Ok(event) => {
                if let (StreamEvent::Done(response), Some(key)) = (&event, state.key.take()) {
                    key.settle(response.usage.total_tokens(), response.cost_usd);
                }
                state.frames.event(&event)
            }
            Err(error) => state.frames.error(&ApiError::from(&error)),
        };
        Some((Ok(Bytes::from(text)), state))
    });
    futures::stream::once(async move { Ok(Bytes::from(opening)) }).chain(rest)
}

/// Reads a JSON body, mapping an oversized or malformed one to the client's error.
fn read_json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                Class::TooLarge,
                format!("the request body is larger than this gateway's limit of {limit} bytes ([gateway] max_body_bytes)"),
            )
        } else {
            ApiError::invalid(format!("could not read the request body: {rejection}"))
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|error| ApiError::invalid(format!("invalid JSON body: {error}")))
}

fn live(
    router: &Router,
    settings: GatewaySettings,
    previous: Option<&KeyTable>,
) -> Result<Live, ConfigFileError> {
    check_defaults(&settings)?;
    let keys = KeyTable::build(&settings.keys, previous)?;
    #[cfg(feature = "redis")]
    let keys = keys.shared_through(router.shared_state().as_ref());
    Ok(Live {
        admin: admin_key(&settings)?,
        keys,
        catalog: Catalog::of(router),
        settings,
    })
}

fn admin_key(settings: &GatewaySettings) -> Result<Option<AdminKey>, ConfigFileError> {
    settings
        .admin_sha256
        .as_deref()
        .map(AdminKey::parse)
        .transpose()
}

fn check_defaults(settings: &GatewaySettings) -> Result<(), ConfigFileError> {
    if settings.default_step.trim().is_empty() {
        return Err(ConfigFileError::EmptyDefault {
            field: "default_step",
        });
    }
    if settings.default_purpose.trim().is_empty() {
        return Err(ConfigFileError::EmptyDefault {
            field: "default_purpose",
        });
    }
    Ok(())
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

async fn chat_completions(
    axum::extract::State(gateway): axum::extract::State<Gateway>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    crate::openai::handle(gateway, headers, body).await
}

async fn messages(
    axum::extract::State(gateway): axum::extract::State<Gateway>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    crate::anthropic::handle(gateway, headers, body).await
}
