//! The [`Router`]: policy matching, planning, the attempt loop and explanations.

mod accounting;
mod adaptation;
mod balance;
mod builder;
mod catalog;
mod code_added;
mod compile;
mod complete;
mod cool_down;
mod counting;
mod credentials;
mod execution;
mod explain;
mod gate;
mod hedge;
#[cfg(feature = "redis")]
mod lease;
mod matching;
#[cfg(feature = "metrics")]
mod metric_keys;
mod plan;
mod probes;
mod recovery;
mod server;
#[cfg(feature = "redis")]
mod shared;
mod skip;
mod snapshot;
mod stream;
mod telemetry;
mod warm_up;

use std::borrow::Borrow;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tracing::Instrument;

pub use builder::RouterBuilder;
pub use catalog::{ModelInfo, PolicyInfo};
pub(crate) use code_added::FromFile;
pub(crate) use compile::PathStyle;
pub(crate) use execution::Sizing;
pub use explain::{AdaptedTarget, Explanation, PassedOver, TargetHeadroom};
pub use recovery::CONTINUE_PROMPT;
pub use skip::{SkipReason, SkippedTarget};
pub use stream::ChatStream;
pub(crate) use telemetry::outcome as error_code;
pub use warm_up::WarmUpError;

use crate::error::{ConfigError, Error};
use crate::policy::{Purpose, StepType};
use crate::replay::{Recorder, RequestView};
use crate::stats::{AccountStatus, RouterStats};
use crate::types::{ChatRequest, ChatResponse};
use probes::Probes;
pub(crate) use snapshot::Snapshot;

/// Routes chat requests to provider targets by policy, with fallbacks.
///
/// A `Router` is a cheap handle: clone it freely and share it across tasks; every clone
/// routes through the same configuration and counts into the same stats. Routing reads an
/// immutable snapshot of the configuration without taking a lock, and
/// [`reload`](Self::reload) swaps a new one in without disturbing requests in flight.
///
/// ```
/// use routewise::{ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router, StepType, Target};
/// use routewise::sim::SimProvider;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let router = Router::builder()
///     .account(ProviderAccount::new("down", SimProvider::new().always_fail()))
///     .account(ProviderAccount::new("up", SimProvider::new().reply("hello!")))
///     .model(
///         LogicalModel::new("primary-llm")
///             .target(Target::new("down", "big"))
///             .target(Target::new("up", "big")),
///     )
///     .policy(Policy::new("default").route(["primary-llm"]))
///     .build()?;
///
/// let response = router
///     .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
///     .await?;
/// assert_eq!(response.content, "hello!");
/// assert_eq!(&*response.served_by.account, "up");
/// assert_eq!(response.fallbacks(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    snapshot: ArcSwap<Snapshot>,
    /// Where completed requests are recorded, if anywhere. It belongs to the router, not
    /// to its configuration: a reload keeps it.
    recorder: Option<Recorder>,
    /// The running health probes. Also serializes reloads, so each one carries over the
    /// state of the one before.
    probes: Mutex<Probes>,
}

impl Router {
    /// Starts building a router.
    pub fn builder() -> RouterBuilder {
        RouterBuilder::new()
    }

    pub(crate) fn from_snapshot(
        snapshot: Snapshot,
        recorder: Option<Recorder>,
    ) -> Result<Self, ConfigError> {
        let probes = Probes::start(&snapshot)?;
        Ok(Self {
            inner: Arc::new(Inner {
                snapshot: ArcSwap::from_pointee(snapshot),
                recorder,
                probes: Mutex::new(probes),
            }),
        })
    }

    /// Routes one request and waits for the answer.
    ///
    /// The first policy (by priority) that matches `step_type`, `purpose`, the requested
    /// model and tags decides the route. Targets that cannot do what the request needs are
    /// skipped; the rest are tried in order, moving on after failures the policy falls back
    /// on. The response says which target served and lists every attempt.
    ///
    /// # Errors
    ///
    /// See [`Error`]: an invalid request, no matching policy, a missing capability, no
    /// available target, every target failing, or a target refusing in a way the policy
    /// does not fall back on.
    ///
    /// # Cancellation
    ///
    /// Dropping the future cancels the provider call in flight; the request is counted as
    /// cancelled in its policy's stats.
    ///
    /// # Passing step type and purpose
    ///
    /// Both are taken by value or by reference (anything that
    /// [`Borrow`]s them): built-in values such as `StepType::Inference` cost nothing to
    /// make, and a user-defined one built once is passed as `&step` in a loop, never
    /// cloned. An application with one default policy can skip them with
    /// [`complete_default`](Self::complete_default).
    ///
    /// ```
    /// use routewise::{ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router, StepType, Target};
    /// use routewise::sim::SimProvider;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let router = Router::builder()
    ///     .account(ProviderAccount::new("sim", SimProvider::new()))
    ///     .model(LogicalModel::new("m").target(Target::new("sim", "x")))
    ///     .policy(Policy::new("default").route(["m"]))
    ///     .build()?;
    /// let rerank = StepType::custom("rerank");
    /// let triage = Purpose::custom("triage");
    /// for text in ["a", "b", "c"] {
    ///     router.complete(&rerank, &triage, ChatRequest::user(text)).await?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn complete(
        &self,
        step_type: impl Borrow<StepType>,
        purpose: impl Borrow<Purpose>,
        request: ChatRequest,
    ) -> Result<ChatResponse, Error> {
        let (step_type, purpose) = (step_type.borrow(), purpose.borrow());
        let span = telemetry::request_span(step_type, purpose, &request);
        let snapshot = self.inner.snapshot.load_full();
        let received = tokio::time::Instant::now();
        let mut trace = complete::Trace::default();
        let routed =
            complete::complete(snapshot, received, step_type, purpose, &request, &mut trace)
                .instrument(span);
        let result = routed.await;
        let Some(recorder) = &self.inner.recorder else {
            return result;
        };
        let sizing = trace.sizing.unwrap_or_else(|| Sizing::of(&request));
        let ended = trace.answered.unwrap_or_else(tokio::time::Instant::now);
        recorder.record_result(
            (received, ended),
            step_type,
            purpose,
            &request,
            sizing,
            &result,
        );
        result
    }

    /// Routes one request as an [`Inference`](StepType::Inference) step for
    /// [`Chat`](Purpose::Chat), the defaults for an application that needs no taxonomy:
    /// `router.complete_default(request)` is `router.complete(StepType::Inference,
    /// Purpose::Chat, request)`. A catch-all policy (no step type or purpose criteria)
    /// serves it.
    ///
    /// ```
    /// use routewise::{ChatRequest, LogicalModel, Policy, ProviderAccount, Router, Target};
    /// use routewise::sim::SimProvider;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let router = Router::builder()
    ///     .account(ProviderAccount::new("sim", SimProvider::new().reply("hello!")))
    ///     .model(LogicalModel::new("m").target(Target::new("sim", "x")))
    ///     .policy(Policy::new("default").route(["m"]))
    ///     .build()?;
    /// let response = router.complete_default(ChatRequest::user("hi")).await?;
    /// assert_eq!(response.content, "hello!");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`complete`](Self::complete).
    pub async fn complete_default(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        self.complete(StepType::Inference, Purpose::Chat, request)
            .await
    }

    /// Routes one request and streams the answer.
    ///
    /// Candidates are tried as for [`complete`](Self::complete), and the request needs a
    /// streaming-capable model. Until the first content event reaches the caller, a failing
    /// target (at connect time or mid-stream) is replaced silently by the next candidate;
    /// after that, a failure ends the stream with [`Error::StreamInterrupted`], unless the
    /// policy recovers streams ([`Policy::stream_recovery`](crate::Policy::stream_recovery)):
    /// then the next candidate continues the partial answer.
    ///
    /// # Errors
    ///
    /// Errors found before a stream could be opened are returned here; later ones arrive
    /// as the stream's last item.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use routewise::{Capabilities, ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router, StepType, StreamEvent, Target};
    /// use routewise::sim::SimProvider;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let router = Router::builder()
    ///     .account(ProviderAccount::new("sim", SimProvider::new().reply("one two three")))
    ///     .model(
    ///         LogicalModel::new("m")
    ///             .capabilities(Capabilities::STREAMING)
    ///             .target(Target::new("sim", "x")),
    ///     )
    ///     .policy(Policy::new("default").route(["m"]))
    ///     .build()?;
    ///
    /// let mut stream = router.stream(StepType::Inference, Purpose::Chat, ChatRequest::user("count")).await?;
    /// let mut text = String::new();
    /// while let Some(event) = stream.next().await {
    ///     match event? {
    ///         StreamEvent::TextDelta { text: delta } => text.push_str(&delta),
    ///         StreamEvent::Done(response) => assert_eq!(response.content, text),
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(text, "one two three");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn stream(
        &self,
        step_type: impl Borrow<StepType>,
        purpose: impl Borrow<Purpose>,
        request: ChatRequest,
    ) -> Result<ChatStream, Error> {
        let (step_type, purpose) = (step_type.borrow(), purpose.borrow());
        let span = telemetry::request_span(step_type, purpose, &request);
        let snapshot = self.inner.snapshot.load_full();
        let received = tokio::time::Instant::now();
        let Some(recorder) = &self.inner.recorder else {
            return stream::stream(snapshot, received, step_type, purpose, request, None)
                .instrument(span)
                .await;
        };
        let sizing = Sizing::of(&request);
        let held = recorder.hold(&RequestView::of(step_type, purpose, &request, sizing).streamed());
        let recording = stream::Recording::new(recorder.clone(), received, held);
        stream::stream(
            snapshot,
            received,
            step_type,
            purpose,
            request,
            Some(recording),
        )
        .instrument(span)
        .await
    }

    /// Streams one request with the defaults of
    /// [`complete_default`](Self::complete_default): an
    /// [`Inference`](StepType::Inference) step for [`Chat`](Purpose::Chat).
    ///
    /// # Errors
    ///
    /// As for [`stream`](Self::stream).
    pub async fn stream_default(&self, request: ChatRequest) -> Result<ChatStream, Error> {
        self.stream(StepType::Inference, Purpose::Chat, request)
            .await
    }

    /// Explains what [`complete`](Self::complete) would do with `request` (step type and
    /// purpose passed as to `complete`), without calling any provider: the policies passed over and why, the policy that matches,
    /// the candidates in order, and every target skipped with its reason.
    ///
    /// ```
    /// use routewise::{ChatRequest, LogicalModel, Policy, ProviderAccount, Purpose, Router, StepType, Target};
    /// use routewise::sim::SimProvider;
    ///
    /// let router = Router::builder()
    ///     .account(ProviderAccount::new("sim", SimProvider::new()))
    ///     .model(LogicalModel::new("m").target(Target::new("sim", "x")))
    ///     .policy(Policy::new("summaries").priority(5).purposes([Purpose::Summarization]).route(["m"]))
    ///     .policy(Policy::new("default").route(["m"]))
    ///     .build()
    ///     .unwrap();
    ///
    /// let explanation = router.explain(StepType::Inference, Purpose::Chat, &ChatRequest::user("hi"));
    /// assert_eq!(explanation.policy.as_deref(), Some("default"));
    /// assert_eq!(explanation.passed_over[0].policy.as_ref(), "summaries");
    /// println!("{explanation}");
    /// ```
    pub fn explain(
        &self,
        step_type: impl Borrow<StepType>,
        purpose: impl Borrow<Purpose>,
        request: &ChatRequest,
    ) -> Explanation {
        let snapshot = self.inner.snapshot.load();
        explain::explain(&snapshot, step_type.borrow(), purpose.borrow(), request)
    }

    /// A snapshot of every policy's and target's counters and every breaker's state.
    pub fn stats(&self) -> RouterStats {
        self.inner.snapshot.load().stats()
    }

    /// Every provider account as it stands: health figures, current RPM/TPM use, spend
    /// this window, remaining budget and thresholds crossed.
    ///
    /// ```
    /// use routewise::{Budget, LogicalModel, Policy, Price, ProviderAccount, Router, Target, Usd};
    /// use routewise::sim::SimProvider;
    ///
    /// let router = Router::builder()
    ///     .account(ProviderAccount::new("sim", SimProvider::new()).budget(Budget::monthly_usd(100.0)))
    ///     .model(LogicalModel::new("m").target(Target::new("sim", "x").price(Price::per_million(Usd::from_cents(100), Usd::from_cents(200)))))
    ///     .policy(Policy::new("default").route(["m"]))
    ///     .build()
    ///     .unwrap();
    /// let accounts = router.accounts();
    /// assert_eq!(accounts[0].budget.as_ref().unwrap().limit.dollars(), 100.0);
    /// ```
    pub fn accounts(&self) -> Vec<AccountStatus> {
        self.inner.snapshot.load().accounts()
    }

    /// Every provider account's use of its shared limits and budget, summed over every
    /// router instance sharing its [`RedisState`](crate::shared::RedisState): requests
    /// and tokens in the current rate window, spend in the account's current budget
    /// window, dollars reserved by calls in flight and any 429 cool-down. One entry per
    /// account, in declaration order; none without a shared state. One round trip per
    /// account, made concurrently.
    ///
    /// Where [`accounts`](Self::accounts) shows this instance alone, this is what the
    /// fleet's admissions see.
    ///
    /// # Errors
    ///
    /// [`StateError::Unavailable`](crate::state::StateError::Unavailable) when Redis
    /// does not answer (or is marked down after an earlier failure).
    ///
    /// ```no_run
    /// # async fn report(router: routewise::Router) -> Result<(), routewise::state::StateError> {
    /// for usage in router.fleet_accounts().await? {
    ///     println!(
    ///         "{}: {} requests, {} tokens this minute; {} in flight",
    ///         usage.account, usage.requests, usage.tokens, usage.reserved
    ///     );
    /// }
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub async fn fleet_accounts(
        &self,
    ) -> Result<Vec<crate::shared::FleetUsage>, crate::state::StateError> {
        let snapshot = self.inner.snapshot.load_full();
        let now = std::time::SystemTime::now();
        let reads = snapshot.accounts.iter().filter_map(|account| {
            let shared = account.shared.as_ref()?;
            let budget_window = account
                .budget
                .as_ref()
                .map(|(_, ledger)| ledger.window_label(now));
            Some(async move {
                shared
                    .state
                    .fleet_usage(account.info.name(), budget_window.as_deref())
                    .await
            })
        });
        futures::future::try_join_all(reads).await
    }

    /// The [`RedisState`](crate::shared::RedisState) this router shares limits, spend
    /// and breakers through, if it has one (from
    /// [`RouterBuilder::shared_state`](crate::RouterBuilder::shared_state) or a config
    /// file's `[shared_state]`): for quotas of your own callers beside the accounts'
    /// ([`SharedQuota`](crate::shared::SharedQuota)). A reload may replace it.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared_state(&self) -> Option<crate::shared::RedisState> {
        let snapshot = self.inner.snapshot.load();
        snapshot
            .accounts
            .iter()
            .find_map(|account| account.shared.as_ref().map(|s| s.state.clone()))
    }

    /// Syncs every budget with the state store ([`RouterBuilder::state_store`]): writes
    /// spend not yet stored and learns spend recorded by other routers or earlier runs.
    /// Call it once at start-up, before serving, to restore spend after a restart, and
    /// before shutting down. Without a state store it does nothing.
    ///
    /// # Errors
    ///
    /// The store's error; nothing is lost, and the next sync retries.
    pub async fn sync_state(&self) -> Result<(), crate::state::StateError> {
        let snapshot = self.inner.snapshot.load_full();
        let Some(store) = &snapshot.state_store else {
            return Ok(());
        };
        for account in &snapshot.accounts {
            if let Some((_, ledger)) = &account.budget {
                ledger
                    .sync(store.as_ref(), std::time::SystemTime::now())
                    .await?;
            }
        }
        Ok(())
    }

    /// Replaces the whole configuration atomically.
    ///
    /// Requests already in flight finish on the configuration they started with; new ones
    /// use the new one. Counters of policies and targets whose names survive are kept.
    ///
    /// # Errors
    ///
    /// The same [`ConfigError`] [`RouterBuilder::build`] would give; the running
    /// configuration is then left untouched.
    pub fn reload(&self, config: RouterBuilder) -> Result<(), ConfigError> {
        self.swap(|previous| config.compile(Some(previous)))
    }

    /// Swaps in the snapshot `compile` makes from the running one, unless it fails.
    pub(crate) fn swap(
        &self,
        compile: impl FnOnce(&Snapshot) -> Result<Snapshot, ConfigError>,
    ) -> Result<(), ConfigError> {
        let mut probes = self
            .inner
            .probes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let previous = self.inner.snapshot.load();
        let next = compile(&previous)?;
        let next_probes = Probes::start(&next)?;
        self.inner.snapshot.store(Arc::new(next));
        // Dropping the old probes stops them; the new ones watch the same trackers.
        *probes = next_probes;
        Ok(())
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.inner.snapshot.load();
        f.debug_struct("Router")
            .field("policies", &snapshot.policies.len())
            .field("models", &snapshot.models.len())
            .field("accounts", &snapshot.accounts.len())
            .finish()
    }
}
