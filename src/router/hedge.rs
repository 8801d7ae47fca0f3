//! Hedged requests: when the first candidate has not answered within the policy's hedge
//! delay, the next candidate is called in parallel; the first success wins and the other
//! call is cancelled (its reservations released, its attempt recorded as cancelled).

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use futures::future::{Either, select};
use tokio::time::Instant;

use super::complete::call;
use super::execution::{Admission, CallTime, Execution};
use super::plan::Candidate;
use crate::error::Error;
use crate::provider::{ProviderError, ProviderResponse};
use crate::types::{ChatRequest, ChatResponse};

/// Runs the first candidate, hedged by the next one after `delay`.
///
/// `Ok(Some(_))`: a call succeeded. `Ok(None)`: every call of the race failed in a way
/// the policy falls back on; routing continues with the next candidates. `Err(_)`: the
/// request's final error.
pub(crate) async fn race(
    execution: &mut Execution,
    first: Candidate,
    first_admission: Admission,
    delay: Duration,
    request: &ChatRequest,
) -> Result<Option<ChatResponse>, Error> {
    let snapshot = execution.snapshot().clone();
    let deadline = *execution.deadline();
    let started = Instant::now();
    let first_adapted = execution.adaptation(first);
    let first_call = call(
        &snapshot,
        &deadline,
        first,
        request,
        first_adapted.as_deref(),
    );
    let mut first_call = pin!(first_call);
    // `select` polls the call before the timer: a call that finished as the delay ran
    // out is taken rather than hedged.
    let sleep = pin!(tokio::time::sleep(delay));
    if let Either::Left(((result, time), _)) = select(first_call.as_mut(), sleep).await {
        return finish_alone(execution, first, first_admission, result, time);
    }
    let second = match execution.next_candidate(request) {
        Some(candidate) => execution
            .admit_next(candidate)
            .await
            .map(|a| (candidate, a)),
        None => None,
    };
    let Some((second, mut second_admission)) = second else {
        let (result, time) = first_call.await;
        return finish_alone(execution, first, first_admission, result, time);
    };
    second_admission.mark_sent();
    let hedged_at = Instant::now();
    let second_adapted = execution.adaptation(second);
    let second_call = call(
        &snapshot,
        &deadline,
        second,
        request,
        second_adapted.as_deref(),
    );
    let mut second_call = pin!(second_call);

    let mut runners = [
        Some((first, first_admission, started)),
        Some((second, second_admission, hedged_at)),
    ];
    loop {
        let running = [runners[0].is_some(), runners[1].is_some()];
        let (index, (result, time)) =
            first_finished(running, first_call.as_mut(), second_call.as_mut()).await;
        let (candidate, admission, _) = runners[index]
            .take()
            .expect("only running calls are polled");
        match result {
            Ok(response) => {
                cancel_other(execution, &mut runners);
                let answer = response.into();
                return Ok(Some(execution.succeed(candidate, admission, answer, time)));
            }
            Err(error) => {
                let latency = time.latency;
                execution.observe_failure(candidate, admission, &error, time);
                if runners.iter().all(Option::is_none) {
                    execution.fail_attempt(candidate, error, latency)?;
                    return Ok(None);
                }
                if execution.falls_back_on(&error) {
                    execution.record_failure(candidate, &error, latency);
                } else {
                    cancel_other(execution, &mut runners);
                    execution.fail_attempt(candidate, error, latency)?;
                    return Ok(None);
                }
            }
        }
    }
}

/// Which of the running calls finishes first, and its outcome. The first call is polled
/// first, so it wins a tie. Only calls still `running` are polled (a finished future must
/// not be polled again); at least one is running whenever the race awaits this.
async fn first_finished<T>(
    running: [bool; 2],
    mut first: Pin<&mut impl Future<Output = T>>,
    mut second: Pin<&mut impl Future<Output = T>>,
) -> (usize, T) {
    poll_fn(|cx| {
        if running[0] {
            if let Poll::Ready(outcome) = first.as_mut().poll(cx) {
                return Poll::Ready((0, outcome));
            }
        }
        if running[1] {
            if let Poll::Ready(outcome) = second.as_mut().poll(cx) {
                return Poll::Ready((1, outcome));
            }
        }
        Poll::Pending
    })
    .await
}

/// Records the call still running as cancelled; dropping its admission (here) and its
/// future (when the race returns) releases everything it held.
fn cancel_other(
    execution: &mut Execution,
    runners: &mut [Option<(Candidate, Admission, Instant)>; 2],
) {
    for (candidate, admission, started) in runners.iter_mut().filter_map(Option::take) {
        drop(admission);
        execution.cancel_attempt(candidate, started.elapsed());
    }
}

/// The first call finished before the hedge started: settle it as an ordinary attempt
/// (without retries on the same target).
fn finish_alone(
    execution: &mut Execution,
    candidate: Candidate,
    admission: Admission,
    result: Result<ProviderResponse, ProviderError>,
    time: CallTime,
) -> Result<Option<ChatResponse>, Error> {
    match result {
        Ok(response) => Ok(Some(execution.succeed(
            candidate,
            admission,
            response.into(),
            time,
        ))),
        Err(error) => {
            execution.observe_failure(candidate, admission, &error, time);
            execution.fail_attempt(candidate, error, time.latency)?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::{pending, ready};

    use super::*;

    #[tokio::test]
    async fn both_calls_finished_at_once_the_first_wins() {
        let mut first = pin!(ready("first"));
        let mut second = pin!(ready("second"));
        let winner = first_finished([true, true], first.as_mut(), second.as_mut()).await;
        assert_eq!(winner, (0, "first"));
    }

    #[tokio::test]
    async fn the_call_that_finishes_wins_and_a_finished_call_is_not_polled_again() {
        let mut first = pin!(pending::<&str>());
        let mut second = pin!(ready("second"));
        let winner = first_finished([true, true], first.as_mut(), second.as_mut()).await;
        assert_eq!(winner, (1, "second"));

        // The first call is pending on its first poll, so an unguarded race would poll the
        // second, and `Ready` panics when polled after it finished.
        let mut first = pin!(async {
            tokio::task::yield_now().await;
            "first"
        });
        let winner = first_finished([true, false], first.as_mut(), second.as_mut()).await;
        assert_eq!(winner, (0, "first"));
    }
}
