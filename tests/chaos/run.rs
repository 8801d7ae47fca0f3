//! One chaos run: three fault-injecting upstreams behind a router with limits, budgets,
//! breakers, retries, timeouts and health probes; many concurrent clients; a tally of
//! what every client saw.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use futures::StreamExt;
use routewise::provider::HttpTimeouts;
use routewise::provider::anthropic::Anthropic;
use routewise::{
    Attempt, AttemptOutcome, Balance, BreakerConfig, Budget, Capabilities, ChatRequest,
    ChatResponse, Error, ErrorKind, HealthConfig, LogicalModel, OpenAi, Policy, Price,
    ProviderAccount, Purpose, RateLimits, RetryPolicy, Router, SamplingParams, StepType,
    StreamEvent, Target, Timeouts, Usd,
};

use super::schedule::{Schedule, mix};
use super::upstream::{Dialect, Upstream};

/// The accounts, their wire formats and their prices per million tokens (cents).
pub const ACCOUNTS: [(&str, Dialect, u64, u64); 3] = [
    ("openai-a", Dialect::OpenAi, 250, 1_000),
    ("anthropic", Dialect::Anthropic, 300, 1_500),
    ("openai-b", Dialect::OpenAi, 15, 60),
];

/// The anthropic account's monthly budget: small enough that it runs out during a run.
const SMALL_BUDGET_USD: f64 = 0.15;
/// The openai-b account's requests per minute: low enough that it fills up during a run.
const SMALL_RPM: u32 = 1_500;
/// The attempt timeout; a hanging upstream costs a client this long.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// How the clients behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clients {
    /// Every client waits for its answer and reads every stream to the end.
    Patient,
    /// Clients give up after a random time and drop streams at random points.
    Impatient,
}

pub struct Chaos {
    pub router: Router,
    pub upstreams: Vec<Upstream>,
    pub prices: HashMap<&'static str, Price>,
    pub seed: u64,
}

pub fn price(input_cents: u64, output_cents: u64) -> Price {
    Price::per_million(Usd::from_cents(input_cents), Usd::from_cents(output_cents))
}

impl Chaos {
    pub async fn start(seed: u64) -> Self {
        let mut upstreams = Vec::new();
        let mut prices = HashMap::new();
        let mut builder = Router::builder()
            .queue_time(Duration::from_millis(20))
            .health(
                HealthConfig::default()
                    .probe_every(Duration::from_millis(200))
                    .probe_timeout(Duration::from_millis(500)),
            );
        let mut model = LogicalModel::new("chaos")
            .capabilities(Capabilities::STREAMING)
            .defaults(SamplingParams::new().max_tokens(64))
            .balance(Balance::RoundRobin);
        for (index, (name, dialect, input, output)) in ACCOUNTS.into_iter().enumerate() {
            let index = index as u64;
            // Each upstream has an outage of 500 request ids, at a different time.
            let outage = (1_000 + index * 2_500, 1_500 + index * 2_500);
            let upstream = Upstream::start(dialect, Schedule::new(seed, index, outage)).await;
            let mut account = match dialect {
                Dialect::OpenAi => ProviderAccount::new(name, OpenAi::new().timeouts(http()))
                    .base_url(upstream.base("/v1")),
                Dialect::Anthropic => ProviderAccount::new(name, Anthropic::new().timeouts(http()))
                    .base_url(upstream.base("")),
            }
            .api_key(format!("sk-chaos-{name}-key"))
            .limits(RateLimits::new().rpm(100_000).tpm(50_000_000));
            account = match name {
                "anthropic" => account.budget(Budget::monthly_usd(SMALL_BUDGET_USD)),
                "openai-b" => account
                    .limits(RateLimits::new().rpm(SMALL_RPM))
                    .budget(Budget::monthly_usd(1_000.0)),
                _ => account.budget(Budget::monthly_usd(1_000.0)),
            };
            let price = price(input, output);
            prices.insert(name, price);
            model = model.target(Target::new(name, "chaos-model").price(price));
            builder = builder.account(account);
            upstreams.push(upstream);
        }
        let policy = Policy::new("chaos")
            .route(["chaos"])
            .max_attempts(4)
            .retry(
                RetryPolicy::default()
                    .max_retries(1)
                    .backoff(Duration::from_millis(2), Duration::from_millis(20))
                    .max_retry_after(Duration::from_millis(50)),
            )
            .timeouts(
                Timeouts::new()
                    .attempt(ATTEMPT_TIMEOUT)
                    .request(Duration::from_secs(4)),
            )
            .breaker(
                BreakerConfig::default()
                    .failure_threshold(None)
                    .failure_rate(0.6, 20)
                    .window(Duration::from_secs(1))
                    .recovery(Duration::from_millis(150))
                    .half_open_trials(2),
            );
        let router = builder.model(model).policy(policy).build().unwrap();
        Self {
            router,
            upstreams,
            prices,
            seed,
        }
    }
}

fn http() -> HttpTimeouts {
    HttpTimeouts::default()
        .connect(Duration::from_secs(2))
        .read(ATTEMPT_TIMEOUT)
        .total(Duration::from_secs(4))
}

/// What the clients saw, added up.
#[derive(Debug, Default)]
pub struct Tally {
    pub answered: u64,
    pub streams: u64,
    pub failed: BTreeMap<&'static str, u64>,
    pub cancelled: u64,
    /// Attempts listed in answers and errors, by account.
    pub attempts: HashMap<String, u64>,
    /// Attempts listed in answers and errors, by account and request id.
    pub per_request: HashMap<(String, u64), Listed>,
    /// Answers served, by account.
    pub served: HashMap<String, u64>,
    /// The cost of the answers' usage at their target's price, by account.
    pub spend: HashMap<String, Usd>,
    /// Tokens the answers used, by account.
    pub tokens: HashMap<String, u64>,
    /// Broken promises: wrong content, events after the end, unexpected error variants.
    pub violations: Vec<String>,
}

impl Tally {
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    fn answer(&mut self, id: u64, response: &ChatResponse, prices: &HashMap<&str, Price>) {
        self.answered += 1;
        self.count_attempts(id, &response.attempts);
        if response.content != format!("answer {id}") {
            self.violations.push(format!(
                "request {id} answered {:?}, not its own answer",
                response.content
            ));
        }
        let account = response.served_by.account.to_string();
        let cost = prices[account.as_str()].cost(&response.usage);
        *self.served.entry(account.clone()).or_default() += 1;
        *self.tokens.entry(account.clone()).or_default() += response.usage.total_tokens();
        let spend = self.spend.entry(account).or_insert(Usd::ZERO);
        *spend = spend.saturating_add(cost);
        let successes = response
            .attempts
            .iter()
            .filter(|a| matches!(a.outcome, AttemptOutcome::Success))
            .count();
        if successes != 1 {
            self.violations.push(format!(
                "request {id} lists {successes} successful attempts"
            ));
        }
    }

    fn fail(&mut self, id: u64, error: &Error) {
        self.count_attempts(id, error.attempts());
        let kind = match error {
            Error::AllTargetsFailed { .. } => "AllTargetsFailed",
            Error::Rejected { .. } => "Rejected",
            Error::CircuitOpen { .. } => "CircuitOpen",
            Error::RateLimited { .. } => "RateLimited",
            Error::BudgetExhausted { .. } => "BudgetExhausted",
            Error::DeadlineExceeded { .. } => "DeadlineExceeded",
            Error::StreamInterrupted { .. } => "StreamInterrupted",
            Error::NoAvailableTarget { .. } => "NoAvailableTarget",
            other => {
                self.violations
                    .push(format!("request {id} failed unexpectedly: {other}"));
                "unexpected"
            }
        };
        *self.failed.entry(kind).or_default() += 1;
    }

    fn count_attempts(&mut self, id: u64, attempts: &[Attempt]) {
        for attempt in attempts {
            let account = attempt.target.account.to_string();
            *self.attempts.entry(account.clone()).or_default() += 1;
            let per_request = self.per_request.entry((account, id)).or_default();
            per_request.attempts += 1;
            if let AttemptOutcome::Failed { error } = &attempt.outcome
                && error.kind() == ErrorKind::Timeout
            {
                per_request.timeouts += 1;
            }
        }
    }
}

/// The attempts one request made on one account, as its answer or error lists them.
#[derive(Debug, Default)]
pub struct Listed {
    pub attempts: u64,
    /// Those that timed out: the only ones that may not have reached the upstream.
    pub timeouts: u64,
}

enum Outcome {
    Answered(ChatResponse),
    Failed(Error),
    Cancelled,
}

/// Panics anywhere in the process (a client, the router, reqwest's tasks, the upstream).
pub static PANICS: AtomicU64 = AtomicU64::new(0);

pub fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, SeqCst);
            default(info);
        }));
    });
}

/// Sends `requests` requests from `concurrency` clients; half of them stream.
pub async fn drive(chaos: &Chaos, requests: u64, concurrency: usize, clients: Clients) -> Tally {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let next = Arc::new(AtomicU64::new(0));
    let prices = Arc::new(chaos.prices.clone());
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (router, tally, next, prices) = (
                chaos.router.clone(),
                tally.clone(),
                next.clone(),
                prices.clone(),
            );
            let seed = chaos.seed;
            tokio::spawn(async move {
                loop {
                    let id = next.fetch_add(1, SeqCst);
                    if id >= requests {
                        break;
                    }
                    let bits = mix(seed ^ mix(id) ^ 0xc11e);
                    let streaming = bits % 2 == 0;
                    let outcome = one(&router, id, streaming, clients, bits).await;
                    let mut pause = Duration::ZERO;
                    {
                        let mut tally = tally.lock().unwrap();
                        tally.streams += u64::from(streaming);
                        match outcome {
                            Ok(Outcome::Answered(response)) => {
                                tally.answer(id, &response, &prices);
                            }
                            Ok(Outcome::Failed(error)) => {
                                tally.fail(id, &error);
                                pause = backoff(&error);
                            }
                            Ok(Outcome::Cancelled) => tally.cancelled += 1,
                            Err(violation) => tally.violations.push(violation),
                        }
                    }
                    tokio::time::sleep(pause).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a client task panicked");
    }
    Arc::try_unwrap(tally).unwrap().into_inner().unwrap()
}

/// How long a well-behaved client waits after a request failed fast (breakers open, rate
/// limited), as the error says, at most 100 ms; without it the clients would drain the
/// whole run in the first breaker's recovery time.
fn backoff(error: &Error) -> Duration {
    if !error.attempts().is_empty() {
        return Duration::ZERO;
    }
    error
        .retry_after()
        .unwrap_or(Duration::from_millis(10))
        .min(Duration::from_millis(100))
}

/// One request as a client makes it.
async fn one(
    router: &Router,
    id: u64,
    streaming: bool,
    clients: Clients,
    bits: u64,
) -> Result<Outcome, String> {
    let request = ChatRequest::user(format!("req-{id} tell me something"));
    let (patience, drop_after) = match clients {
        Clients::Patient => (None, None),
        // Give up anywhere from at once to past the attempt timeout; drop a quarter of
        // the streams after 0 to 3 events.
        Clients::Impatient => (
            Some(Duration::from_millis((bits >> 8) % 1_200)),
            ((bits >> 24) % 4 == 0).then_some(((bits >> 32) % 4) as usize),
        ),
    };
    let call = async {
        if streaming {
            read_stream(router, id, request, drop_after).await
        } else {
            Ok(
                match router
                    .complete(StepType::Inference, Purpose::Chat, request)
                    .await
                {
                    Ok(response) => Outcome::Answered(response),
                    Err(error) => Outcome::Failed(error),
                },
            )
        }
    };
    match patience {
        None => call.await,
        Some(limit) => tokio::time::timeout(limit, call)
            .await
            .unwrap_or(Ok(Outcome::Cancelled)),
    }
}

/// Reads a stream as a careful client would, checking its promises: deltas add up to the
/// answer, the last item is `Done` or an error, and nothing follows it.
async fn read_stream(
    router: &Router,
    id: u64,
    request: ChatRequest,
    drop_after: Option<usize>,
) -> Result<Outcome, String> {
    let mut stream = match router
        .stream(StepType::Inference, Purpose::Chat, request)
        .await
    {
        Ok(stream) => stream,
        Err(error) => return Ok(Outcome::Failed(error)),
    };
    let mut text = String::new();
    let mut seen = 0;
    loop {
        if drop_after == Some(seen) {
            return Ok(Outcome::Cancelled);
        }
        seen += 1;
        let outcome = match stream.next().await {
            Some(Ok(StreamEvent::TextDelta { text: delta })) => {
                text.push_str(&delta);
                continue;
            }
            Some(Ok(StreamEvent::Done(response))) => {
                if response.content != text {
                    return Err(format!(
                        "request {id}: deltas {text:?} but Done says {:?}",
                        response.content
                    ));
                }
                Outcome::Answered(*response)
            }
            Some(Ok(other)) => return Err(format!("request {id}: unexpected event {other:?}")),
            Some(Err(error)) => Outcome::Failed(error),
            None => return Err(format!("request {id}: stream ended without Done or error")),
        };
        if let Some(extra) = stream.next().await {
            return Err(format!("request {id}: item after the end: {extra:?}"));
        }
        return Ok(outcome);
    }
}
