//! The closed loop: a fixed number of calls, a fixed number in flight, each timed.

use std::sync::Arc;
use std::time::Duration;

use futures::future::Either;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;

use crate::Runtime;
use crate::clients::Client;

/// One call's outcome.
pub struct Outcome {
    pub ok: bool,
    pub latency: Duration,
    pub first_text: Option<Duration>,
    pub error: Option<String>,
}

/// Makes `count` calls with `concurrency` in flight; every outcome and the wall time. On
/// [`Runtime::Multi`] each call is a task of its own, as a server spawns one per request.
pub async fn run(
    client: Arc<Client>,
    runtime: Runtime,
    stream: bool,
    concurrency: usize,
    count: usize,
) -> (Vec<Outcome>, Duration) {
    let call = move || {
        let client = client.clone();
        let call = async move { timed_call(&client, stream).await };
        match runtime {
            Runtime::Current => Either::Left(call),
            Runtime::Multi => Either::Right(
                tokio::spawn(call)
                    .map(|done| done.unwrap_or_else(|e| Outcome::failed(e.to_string()))),
            ),
        }
    };
    let started = Instant::now();
    let mut outcomes = Vec::with_capacity(count);
    let mut in_flight = FuturesUnordered::new();
    let mut issued = 0;
    while issued < count.min(concurrency) {
        in_flight.push(call());
        issued += 1;
    }
    while let Some(outcome) = in_flight.next().await {
        outcomes.push(outcome);
        if issued < count {
            in_flight.push(call());
            issued += 1;
        }
    }
    (outcomes, started.elapsed())
}

impl Outcome {
    fn failed(error: String) -> Self {
        Outcome {
            ok: false,
            latency: Duration::ZERO,
            first_text: None,
            error: Some(error),
        }
    }
}

/// One call, timed.
async fn timed_call(client: &Client, stream: bool) -> Outcome {
    {
        let started = Instant::now();
        let result = if stream {
            client.stream(started).await.map(Some)
        } else {
            client.complete().await.map(|()| None)
        };
        let latency = started.elapsed();
        match result {
            Ok(first_text) => Outcome {
                ok: true,
                latency,
                first_text,
                error: None,
            },
            Err(error) => Outcome {
                ok: false,
                latency,
                first_text: None,
                error: Some(error),
            },
        }
    }
}

/// The 50th and 99th percentiles.
pub struct Percentiles {
    pub p50: Duration,
    pub p99: Duration,
}

pub fn percentiles(samples: impl Iterator<Item = Duration>) -> Percentiles {
    let mut samples: Vec<Duration> = samples.collect();
    samples.sort_unstable();
    let at = |q: f64| {
        if samples.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len());
        samples[rank - 1]
    };
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// CPU time this process's threads have used (`/proc/self/task/*/schedstat`, in
/// nanoseconds). The driver's threads (one, or the workers) live as long as the process.
pub fn process_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let total_ns: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(total_ns)
}
