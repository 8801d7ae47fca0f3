//! [`Replay`]: sends traffic through a candidate configuration's real router, with every
//! account's provider replaced by one the behaviour models drive, on a paused tokio clock.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use futures::StreamExt;

use super::behaviour::Behaviours;
use super::capture::{Ending, OUTCOME_ABANDONED};
use super::provider::{HINT_KEY, ModelledProvider, ReplayClock};
use super::record::TrafficRecord;
use super::summary::Summary;
use super::traffic::Traffic;
use crate::error::{ConfigError, Error};
use crate::model::{Capabilities, Capability};
use crate::provider::Provider;
use crate::router::{ChatStream, Router, RouterBuilder};
use crate::types::{
    Attempt, ChatRequest, ChatResponse, ContentPart, Message, ResponseFormat, StreamEvent, Tool,
};

/// Replays [`Traffic`] through candidate configurations.
///
/// [`run`](Self::run) builds the real [`Router`] from the configuration, so matching,
/// planning, limits, budgets, breakers, retries, hedging and fallbacks run the code
/// they run in production; only each account's provider is replaced by a simulated one
/// that behaves as the [`Behaviours`] say. Requests are sent at their recorded times on a
/// paused tokio clock: waiting costs nothing, so a day of traffic replays in seconds.
/// Recorded streams (their `needs` include streaming) go through
/// [`Router::stream`], so they need a streaming model and fall back as streams do; one
/// whose caller dropped it (outcome `cancelled`) is dropped again as long after arrival.
///
/// The replay never reaches outside the process: the configuration's state store,
/// shared (Redis) state, alert sinks and recorder are left out.
///
/// ```
/// use routewise::{LogicalModel, Policy, ProviderAccount, Router, Target};
/// use routewise::replay::{Behaviours, Replay, Traffic, TrafficRecord};
/// use routewise::sim::SimProvider;
///
/// let line = r#"{"unix_ms":0,"step":"inference","purpose":"chat","input_tokens":50,"outcome":"ok","latency_us":1}"#;
/// let traffic = Traffic::from_records([serde_json::from_str::<TrafficRecord>(line)?]);
/// let replay = Replay::new(traffic.clone(), Behaviours::fit(&traffic));
/// let config = Router::builder()
///     .account(ProviderAccount::new("main", SimProvider::new()))
///     .model(LogicalModel::new("m").target(Target::new("main", "x")))
///     .policy(Policy::new("default").route(["m"]));
/// let run = replay.run(config)?;
/// assert_eq!(run.summary().answered, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Replay {
    traffic: Arc<Traffic>,
    behaviours: Arc<Behaviours>,
}

/// The outcome of one replay: a record per request (the recorder's format) and the
/// router that served them.
pub struct ReplayRun {
    records: Vec<TrafficRecord>,
    router: Router,
    budgets: Vec<(String, f64)>,
    wall_time: Duration,
}

/// A replay that could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The candidate configuration is invalid.
    #[error("the candidate configuration is invalid")]
    Config(#[from] ConfigError),
    /// The replay's runtime or thread could not start.
    #[error("cannot start the replay runtime")]
    Runtime(#[source] std::io::Error),
    /// The replay thread stopped before it finished (a provider or sink panicked).
    #[error("the replay stopped before it finished; a panic in it was reported on stderr")]
    Aborted,
}

impl Replay {
    /// A replay of `traffic`, with providers behaving as `behaviours` say.
    pub fn new(traffic: Traffic, behaviours: Behaviours) -> Self {
        Self {
            traffic: Arc::new(traffic),
            behaviours: Arc::new(behaviours),
        }
    }

    /// The traffic replayed.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    /// Replays the traffic through `config` and returns what happened.
    ///
    /// Runs on a thread and runtime of its own, with the clock paused, and blocks the
    /// caller until done: in async code, call it from `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`ReplayError::Config`] when `config` does not build.
    pub fn run(&self, config: RouterBuilder) -> Result<ReplayRun, ReplayError> {
        let traffic = self.traffic.clone();
        let behaviours = self.behaviours.clone();
        let thread = std::thread::Builder::new()
            .name("routewise-replay".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .start_paused(true)
                    .build()
                    .map_err(ReplayError::Runtime)?;
                let wall = std::time::Instant::now();
                let mut run = runtime.block_on(drive(config, &traffic, behaviours))?;
                run.wall_time = wall.elapsed();
                Ok(run)
            })
            .map_err(ReplayError::Runtime)?;
        thread.join().map_err(|_| ReplayError::Aborted)?
    }
}

async fn drive(
    config: RouterBuilder,
    traffic: &Traffic,
    behaviours: Arc<Behaviours>,
) -> Result<ReplayRun, ReplayError> {
    let clock = ReplayClock {
        started: Instant::now(),
        start_unix_ms: traffic.start_unix_ms(),
    };
    let router = config
        .for_replay(|account| {
            Arc::new(ModelledProvider::new(
                account.into(),
                behaviours.clone(),
                clock,
            )) as Arc<dyn Provider>
        })
        .build()?;
    let mut running = Vec::with_capacity(traffic.len());
    for record in traffic.records() {
        let offset = record.unix_ms.saturating_sub(clock.start_unix_ms);
        tokio::time::sleep_until(clock.started + Duration::from_millis(offset)).await;
        running.push(tokio::spawn(replay_one(router.clone(), record)));
    }
    let mut records = Vec::with_capacity(running.len());
    for (task, original) in running.into_iter().zip(traffic.records()) {
        let (latency, replayed) = task.await.map_err(|_| ReplayError::Aborted)?;
        let ending = match &replayed {
            Replayed::Done(Ok(response)) => Ending::Answered(response),
            Replayed::Done(Err(error)) => Ending::Failed(error),
            Replayed::Abandoned { policy, attempts } => Ending::Abandoned { policy, attempts },
        };
        records.push(original.replayed(latency, &ending));
    }
    let budgets = router
        .accounts()
        .into_iter()
        .filter_map(|a| Some((a.name, a.budget?.limit.dollars())))
        .collect();
    Ok(ReplayRun {
        records,
        router,
        budgets,
        wall_time: Duration::ZERO,
    })
}

/// How a replayed request ended.
enum Replayed {
    Done(Result<ChatResponse, Error>),
    /// A stream dropped at the time its recorded caller dropped it.
    Abandoned {
        policy: Arc<str>,
        attempts: Vec<Attempt>,
    },
}

/// Routes one recorded request as it was routed: a streamed one (it needed streaming)
/// through [`Router::stream`], read to its end, or dropped when its recorded caller
/// dropped it (outcome `cancelled`, that long after arrival); any other through
/// [`Router::complete`]. Returns its latency and how it ended.
fn replay_one(
    router: Router,
    record: &TrafficRecord,
) -> impl Future<Output = (Duration, Replayed)> + Send + 'static {
    let request = replay_request(record);
    let (step, purpose) = (record.step.clone(), record.purpose.clone());
    let streamed = record.needs.contains(Capability::Streaming);
    let give_up_after = (record.outcome == OUTCOME_ABANDONED).then(|| record.latency());
    async move {
        let arrived = Instant::now();
        let replayed = if streamed {
            let give_up = give_up_after.map(|after| arrived + after);
            read_stream(router.stream(step, purpose, request).await, give_up).await
        } else {
            Replayed::Done(router.complete(step, purpose, request).await)
        };
        (arrived.elapsed(), replayed)
    }
}

/// Reads an opened stream to its end, or until `give_up`, when it is dropped.
async fn read_stream(opened: Result<ChatStream, Error>, give_up: Option<Instant>) -> Replayed {
    let mut stream = match opened {
        Ok(stream) => stream,
        Err(error) => return Replayed::Done(Err(error)),
    };
    let read = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(StreamEvent::Done(response)) => return Some(Ok(*response)),
                Err(error) => return Some(Err(error)),
                Ok(_) => {}
            }
        }
        None
    };
    let ended = match give_up {
        Some(at) => tokio::time::timeout_at(at, read).await.ok().flatten(),
        None => read.await,
    };
    match ended {
        Some(result) => Replayed::Done(result),
        None => Replayed::Abandoned {
            policy: Arc::from(stream.policy()),
            attempts: stream.calls_so_far(),
        },
    }
}

/// The request a record stands for: its own messages when the recording kept them, else
/// a filler prompt of the recorded size, with what it needed (tools, an image, JSON
/// mode), its model, tags, `max_tokens` and overrides, and its recorded token counts for
/// the simulated provider.
pub(crate) fn replay_request(record: &TrafficRecord) -> ChatRequest {
    let mut request = ChatRequest::new();
    let mut extra_chars = 0;
    if record.needs.contains(crate::model::Capability::Tools) {
        let tool = Tool::new("replayed_tool", json!({"type": "object"}));
        extra_chars += tool.name.len() + tool.parameters.to_string().len();
        request = request.tool(tool);
    }
    if record.needs.covers(Capabilities::JSON_MODE) {
        request = request.response_format(ResponseFormat::JsonObject);
    }
    let vision = record.needs.covers(Capabilities::VISION);
    if vision {
        extra_chars += 1000;
    }
    request.messages = match &record.messages {
        Some(messages) => messages.clone(),
        None => {
            // One message costs 16 characters of framing; four characters make a token.
            let chars = (record.input_tokens as usize * 4).saturating_sub(16 + extra_chars);
            let filler: String = "the ".repeat(chars.div_ceil(4))[..chars].to_owned();
            let mut parts = vec![ContentPart::text(filler)];
            if vision {
                parts.push(ContentPart::image_url("https://replay.invalid/image.png"));
            }
            vec![Message::user_parts(parts)]
        }
    };
    request.model.clone_from(&record.model);
    request.tags.clone_from(&record.tags);
    request.options = record.options.clone();
    request.params.max_tokens = record.max_output_tokens;
    let served = record.served_by().and_then(|a| a.usage);
    let mut hint = serde_json::Map::new();
    hint.insert(
        "input_tokens".into(),
        served
            .map_or(record.input_tokens, |u| u.input_tokens)
            .into(),
    );
    if let Some(usage) = served {
        hint.insert("output_tokens".into(), usage.output_tokens.into());
    }
    request.metadata(HINT_KEY, hint)
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("requests", &self.traffic.len())
            .field("targets", &self.behaviours.targets().count())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ReplayRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayRun")
            .field("requests", &self.records.len())
            .field("router", &self.router)
            .field("wall_time", &self.wall_time)
            .finish_non_exhaustive()
    }
}

impl ReplayRun {
    /// One record per request, in the order of the traffic.
    pub fn records(&self) -> &[TrafficRecord] {
        &self.records
    }

    /// The router built from the candidate configuration, as the replay left it (its
    /// stats, breakers, spend); use it to [`explain`](Router::explain) a request.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The figures of the run: per policy, per target, budgets.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.records).with_budgets(&self.records, &self.budgets)
    }

    /// How long the replay took in real time.
    pub fn wall_time(&self) -> Duration {
        self.wall_time
    }
}
