//! What every model endpoint does around the router: authenticate the key, read the step
//! type, purpose and tags, resolve the requested model, apply the key's own limits, and
//! say in response headers who served.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use routewise::budget::BudgetReservation;
use routewise::limits::LimitReservation;
use routewise::{ChatRequest, ModelInfo, Purpose, Router, StepType, TargetRef, Usd};
use serde_json::{Map, Value};

use crate::config::GatewaySettings;
use crate::error::{ApiError, Class};
use crate::keys::{AdminKey, KeyEntry, KeyTable};

/// The policy that matched.
pub const POLICY_HEADER: HeaderName = HeaderName::from_static("x-routewise-policy");
/// The account of the target that served.
pub const ACCOUNT_HEADER: HeaderName = HeaderName::from_static("x-routewise-account");
/// The target that served, `logical-model/account/provider-model`.
pub const TARGET_HEADER: HeaderName = HeaderName::from_static("x-routewise-target");
/// Provider calls the request took (1 without fallbacks or retries).
pub const ATTEMPTS_HEADER: HeaderName = HeaderName::from_static("x-routewise-attempts");
/// Request header: the step type (default from `[gateway] default_step`).
pub const STEP_HEADER: &str = "x-routewise-step";
/// Request header: the purpose (default from `[gateway] default_purpose`).
pub const PURPOSE_HEADER: &str = "x-routewise-purpose";
/// Request header: comma-separated tags policies may match on.
pub const TAGS_HEADER: &str = "x-routewise-tags";

/// The router's models and the names policies match on, refreshed at every reload.
pub(crate) struct Catalog {
    pub(crate) models: Vec<ModelInfo>,
    /// Model names some policy matches requests on.
    requested: HashSet<String>,
}

impl Catalog {
    pub(crate) fn of(router: &Router) -> Self {
        Self {
            models: router.models(),
            requested: router
                .policies()
                .into_iter()
                .flat_map(|p| p.matcher.models)
                .collect(),
        }
    }

    /// Applies the model a request names: a name some policy matches on routes by that
    /// policy; a logical model no policy names is pinned; anything else is unknown.
    fn apply(&self, model: &str, request: &mut ChatRequest) -> Result<(), ApiError> {
        request.model = Some(model.to_owned());
        if self.requested.contains(model) {
            return Ok(());
        }
        if self.models.iter().any(|m| &*m.name == model) {
            request.options = std::mem::take(&mut request.options).pin_model(model);
            return Ok(());
        }
        let known: Vec<&str> = self.models.iter().map(|m| &*m.name).collect();
        Err(ApiError::new(
            Class::NotFound,
            format!(
                "the model `{model}` does not exist on this gateway; use one of: {}",
                known.join(", ")
            ),
        )
        .code("model_not_found"))
    }
}

/// What the gateway holds between reloads: settings, keys and the router's catalog.
pub(crate) struct Live {
    pub(crate) settings: GatewaySettings,
    pub(crate) keys: KeyTable,
    /// The admin key, when `[gateway] admin_sha256` is set.
    pub(crate) admin: Option<AdminKey>,
    pub(crate) catalog: Catalog,
}

/// A request ready for the router.
pub(crate) struct Routed {
    pub(crate) step: StepType,
    pub(crate) purpose: Purpose,
    pub(crate) request: ChatRequest,
    pub(crate) key: KeyCharge,
}

/// Authenticates the caller from `authorization: Bearer KEY` or `x-api-key: KEY`.
pub(crate) fn authenticate(live: &Live, headers: &HeaderMap) -> Result<Arc<KeyEntry>, ApiError> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let presented = bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(presented) = presented else {
        return Err(ApiError::new(
            Class::Authentication,
            "missing gateway key: send `Authorization: Bearer KEY` or `x-api-key: KEY` with a key from this gateway's [gateway.keys] (never a provider key)",
        )
        .code("missing_api_key"));
    };
    if live.keys.is_empty() {
        return Err(ApiError::new(
            Class::Authentication,
            "this gateway has no keys configured: add [[gateway.keys]] to its config file",
        )
        .code("invalid_api_key"));
    }
    live.keys.authenticate(presented).ok_or_else(|| {
        ApiError::new(
            Class::Authentication,
            "invalid gateway key: it matches none of this gateway's [gateway.keys]",
        )
        .code("invalid_api_key")
    })
}

/// Step type, purpose and tags from headers, then from `metadata.routewise_step` /
/// `routewise_purpose` / `routewise_tags`, then the configured defaults; the model
/// resolved. No key is checked or charged (what `/explain` needs).
pub(crate) fn shape(
    live: &Live,
    headers: &HeaderMap,
    model: &str,
    mut request: ChatRequest,
) -> Result<(StepType, Purpose, ChatRequest), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let meta = |name: &str| request.metadata.get(name).and_then(Value::as_str);
    let step = header(STEP_HEADER)
        .or_else(|| meta("routewise_step"))
        .unwrap_or(&live.settings.default_step);
    let step = StepType::from(step);
    let purpose = header(PURPOSE_HEADER)
        .or_else(|| meta("routewise_purpose"))
        .unwrap_or(&live.settings.default_purpose);
    let purpose = Purpose::from(purpose);
    let tags = header(TAGS_HEADER)
        .or_else(|| meta("routewise_tags"))
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    request.tags.extend(tags);
    live.catalog.apply(model, &mut request)?;
    Ok((step, purpose, request))
}

/// [`shape`], after checking that the key may use the model, and with the key's rate
/// and budget charged.
pub(crate) async fn prepare(
    live: &Live,
    key: Arc<KeyEntry>,
    headers: &HeaderMap,
    model: &str,
    request: ChatRequest,
) -> Result<Routed, ApiError> {
    if !key.allows(model) {
        return Err(ApiError::new(
            Class::Permission,
            format!(
                "gateway key `{}` may not use the model `{model}`; it may use: {}",
                key.name,
                key.models.join(", ")
            ),
        )
        .code("model_not_allowed"));
    }
    let (step, purpose, request) = shape(live, headers, model, request)?;
    let key = KeyCharge::admit(key).await?;
    Ok(Routed {
        step,
        purpose,
        request,
        key,
    })
}

/// The key's share of a request: a slot in its rate window and its budget, released if
/// the request is dropped and settled to the actual cost when it finishes.
pub(crate) struct KeyCharge {
    key: Arc<KeyEntry>,
    held: Held,
}

/// Where the key's share is held.
enum Held {
    /// On this instance, by the key's own limiter and ledger.
    Here {
        slot: Option<LimitReservation>,
        spend: Option<BudgetReservation>,
    },
    /// In the router's Redis state, for every instance.
    #[cfg(feature = "redis")]
    Shared(routewise::shared::QuotaGrant),
}

fn over_rate(key: &KeyEntry, wait: Option<std::time::Duration>) -> ApiError {
    ApiError::new(
        Class::RateLimited,
        format!("gateway key `{}` is over its requests per minute", key.name),
    )
    .retry_after(wait)
}

fn over_budget(key: &KeyEntry) -> ApiError {
    ApiError::new(
        Class::RateLimited,
        format!("gateway key `{}` has spent its monthly budget", key.name),
    )
    .code("insufficient_quota")
}

impl KeyCharge {
    async fn admit(key: Arc<KeyEntry>) -> Result<Self, ApiError> {
        #[cfg(feature = "redis")]
        if let Some(quota) = &key.quota {
            use routewise::shared::QuotaRefusal;
            let grant = quota.admit().await.map_err(|refusal| match refusal {
                QuotaRefusal::RateLimited { retry_after, .. } => over_rate(&key, retry_after),
                QuotaRefusal::OverBudget { .. } => over_budget(&key),
                other => ApiError::new(
                    Class::Unavailable,
                    format!(
                        "gateway key `{}`: {}",
                        key.name,
                        routewise::error_chain(&other)
                    ),
                ),
            })?;
            return Ok(Self {
                key,
                held: Held::Shared(grant),
            });
        }
        let now = tokio::time::Instant::now();
        let slot = match &key.limiter {
            Some(limiter) => Some(limiter.try_reserve("", 0, now).map_err(|limited| {
                over_rate(
                    &key,
                    limited
                        .retry_at()
                        .map(|at| at.saturating_duration_since(now)),
                )
            })?),
            None => None,
        };
        let spend = match &key.ledger {
            Some(ledger) => {
                let wall = SystemTime::now();
                // Refused once nothing is left; the call's real cost is settled after.
                ledger
                    .check(Usd::from_nanos(1), wall)
                    .map_err(|_| over_budget(&key))?;
                Some(
                    ledger
                        .reserve(Usd::ZERO, wall)
                        .map_err(|_| over_budget(&key))?,
                )
            }
            None => None,
        };
        Ok(Self {
            key,
            held: Held::Here { slot, spend },
        })
    }

    /// The key's name, for logs.
    pub(crate) fn name(&self) -> &str {
        &self.key.name
    }

    /// Settles the key's slot and budget to what the request used.
    pub(crate) fn settle(self, tokens: u64, cost_usd: Option<f64>) {
        let cost = cost_usd.and_then(Usd::from_dollars).unwrap_or(Usd::ZERO);
        match self.held {
            Held::Here { slot, spend } => {
                if let Some(slot) = slot {
                    slot.settle(tokens);
                }
                if let Some(spend) = spend {
                    spend.settle(cost, SystemTime::now());
                }
            }
            #[cfg(feature = "redis")]
            Held::Shared(grant) => grant.settle(tokens, cost),
        }
    }
}

/// The routing headers of an answer.
pub(crate) fn served_headers(
    headers: &mut HeaderMap,
    policy: &str,
    target: &TargetRef,
    attempts: usize,
) {
    let mut set = |name: HeaderName, value: String| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    };
    set(POLICY_HEADER, policy.to_owned());
    set(ACCOUNT_HEADER, target.account.to_string());
    set(TARGET_HEADER, target.to_string());
    set(ATTEMPTS_HEADER, attempts.to_string());
}

/// A string-valued JSON map from metadata, keeping only strings (what both APIs send).
pub(crate) fn metadata(value: Option<Map<String, Value>>) -> Map<String, Value> {
    value
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| v.is_string())
        .collect()
}
