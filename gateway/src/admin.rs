//! The operational endpoints: `/v1/models`, `/stats`, `/accounts`, `/health`,
//! `/metrics` and `/explain`.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use routewise::{AccountStatus, Capability, RouterStats};
use serde::Serialize;
use serde_json::json;

use crate::error::{ApiError, Class, Wire};
use crate::server::{Failure, Gateway, unix_now};

/// The Prometheus recorder, installed once per process as the `metrics` facade's global
/// recorder; `None` when another recorder was installed first.
static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

pub(crate) fn install_metrics() {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        match metrics::set_global_recorder(recorder) {
            Ok(()) => {
                routewise::metrics::describe();
                metrics::describe_counter!(
                    "routewise_gateway_requests",
                    "Requests to the gateway's model endpoints, by endpoint and status."
                );
                Some(handle)
            }
            Err(_) => {
                tracing::warn!("another metrics recorder is installed: /metrics is not served");
                None
            }
        }
    });
}

pub(crate) fn count_request(endpoint: &'static str, status: u16) {
    metrics::counter!("routewise_gateway_requests", "endpoint" => endpoint, "status" => status.to_string())
        .increment(1);
}

/// `GET /v1/models`: the logical models the caller's key may use, with capabilities.
pub(crate) async fn models(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    let live = gateway.live();
    let key = match crate::routing::authenticate(&live, &headers) {
        Ok(key) => key,
        Err(error) => return gateway.fail(error, Wire::OpenAi, "models"),
    };
    let data: Vec<_> = live
        .catalog
        .models
        .iter()
        .filter(|m| key.allows(&m.name))
        .map(|m| {
            let capabilities: Vec<&str> = m
                .capabilities
                .iter()
                .map(|c| match c {
                    Capability::Streaming => "streaming",
                    Capability::Tools => "tools",
                    Capability::Vision => "vision",
                    _ => "json_mode",
                })
                .collect();
            json!({
                "id": m.name,
                "object": "model",
                "created": 0,
                "owned_by": "routewise",
                "capabilities": capabilities,
                "targets": m.targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// What `/stats` serves: the router's counters and the gateway's recent failures.
#[derive(Serialize)]
struct Stats {
    #[serde(flatten)]
    router: RouterStats,
    recent_failures: Vec<Failure>,
    uptime_s: u64,
}

static STARTED: OnceLock<u64> = OnceLock::new();

/// `GET /stats`.
pub(crate) async fn stats(State(gateway): State<Gateway>) -> Response {
    let started = *STARTED.get_or_init(unix_now);
    axum::Json(Stats {
        router: gateway.router().stats(),
        recent_failures: gateway.recent_failures(),
        uptime_s: unix_now().saturating_sub(started),
    })
    .into_response()
}

/// One account for `/accounts`: its status, and when its budget runs out at the pace
/// of the window so far.
#[derive(Serialize)]
struct Account {
    #[serde(flatten)]
    status: AccountStatus,
    /// Unix seconds at which spend at this window's average rate reaches the budget,
    /// when that is before the window ends; `null` otherwise.
    budget_exhausted_at: Option<u64>,
}

/// `GET /accounts`.
pub(crate) async fn accounts(State(gateway): State<Gateway>) -> Response {
    let now = SystemTime::now();
    let accounts: Vec<Account> = gateway
        .router()
        .accounts()
        .into_iter()
        .map(|status| Account {
            budget_exhausted_at: status.budget.as_ref().and_then(|b| {
                projected_exhaustion(
                    b.window_start,
                    b.window_end,
                    b.spent.dollars(),
                    b.limit.dollars(),
                    now,
                )
            }),
            status,
        })
        .collect();
    axum::Json(accounts).into_response()
}

/// When spending at the average rate since `start` reaches `limit`, if before `end`.
fn projected_exhaustion(
    start: SystemTime,
    end: SystemTime,
    spent: f64,
    limit: f64,
    now: SystemTime,
) -> Option<u64> {
    let elapsed = now.duration_since(start).ok()?.as_secs_f64();
    if spent <= 0.0 || elapsed <= 0.0 {
        return None;
    }
    let at = start + Duration::from_secs_f64(limit / (spent / elapsed));
    (at < end).then(|| {
        at.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// `GET /health`: 200 while any account is healthy, 503 when none is. Open to load
/// balancers' probes; with an admin key set, only a caller with it sees the counts.
pub(crate) async fn health(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    let detailed = {
        let live = gateway.live();
        live.admin.is_none() || crate::guard::is_admin(&live, &headers)
    };
    let accounts = gateway.router().accounts();
    let healthy = accounts.iter().filter(|a| a.health.healthy).count();
    let status = if healthy > 0 || accounts.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let label = if status == StatusCode::OK {
        "ok"
    } else {
        "unavailable"
    };
    let body = if detailed {
        json!({"status": label, "accounts": accounts.len(), "healthy_accounts": healthy})
    } else {
        json!({"status": label})
    };
    (status, axum::Json(body)).into_response()
}

/// `GET /metrics`: the Prometheus text format.
pub(crate) async fn metrics() -> Response {
    match PROMETHEUS.get().and_then(Option::as_ref) {
        Some(handle) => {
            let mut response = handle.render().into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder was installed before the gateway's",
        )
            .into_response(),
    }
}

/// `POST /explain`: what the router would do with a chat-completions body (step type,
/// purpose and tags from the same headers), without calling a provider. Needs a gateway
/// key or the admin key, since it shows the routing.
pub(crate) async fn explain(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let live = gateway.live();
    let explained = (|| {
        if !crate::guard::is_admin(&live, &headers) {
            crate::routing::authenticate(&live, &headers)?;
        }
        let wire: crate::openai::CompletionRequest = serde_json::from_slice(
            &body.map_err(|r| ApiError::new(Class::InvalidRequest, r.body_text()))?,
        )
        .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
        let model = wire.model.clone();
        crate::routing::shape(&live, &headers, &model, wire.into_chat()?)
    })();
    match explained {
        Ok((step, purpose, request)) => {
            let explanation = gateway.router().explain(step, purpose, &request);
            axum::Json(json!({"report": explanation.to_string(), "explanation": explanation}))
                .into_response()
        }
        Err(error) => error.into_wire(Wire::OpenAi),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_exhaustion_is_projected_at_the_average_pace() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        let end = start + Duration::from_secs(1_000);
        // A quarter spent after a tenth of the window: gone after 40% of it.
        let now = start + Duration::from_secs(100);
        assert_eq!(
            projected_exhaustion(start, end, 25.0, 100.0, now),
            Some(1_400)
        );
        // A slow pace runs past the window's end: no exhaustion.
        assert_eq!(projected_exhaustion(start, end, 1.0, 100.0, now), None);
        assert_eq!(projected_exhaustion(start, end, 0.0, 100.0, now), None);
    }
}
