//! Stream recovery: a stream that breaks after content was sent is continued by the next
//! candidate, and the caller sees one answer.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use routewise::sim::{SimProvider, SimStep};
use routewise::{
    AttemptOutcome, Budget, CONTINUE_PROMPT, Capabilities, ChatRequest, ChatResponse, Error,
    ErrorKind, LogicalModel, Message, Policy, Price, Provider, ProviderAccount, ProviderError,
    ProviderRequest, ProviderResponse, Purpose, RouteOptions, Router, StepType, StreamEvent,
    StreamRecovery, Target, Usage, Usd,
};

const ANSWER: &str = "The quick brown fox jumps over the lazy dog";
/// What the primary sends before it breaks: its first three words.
const SENT: &str = "The quick brown";

/// Streams the first three words of [`ANSWER`], then fails with a server error.
fn breaking() -> SimProvider {
    SimProvider::new()
        .reply(ANSWER)
        .script([SimStep::FailMidStream {
            after_chunks: 3,
            kind: ErrorKind::ServerError,
        }])
}

fn price() -> Price {
    Price::per_million(Usd::from_cents(100), Usd::from_cents(200))
}

/// Model `m` with one priced target per account, in order, each account budgeted; a
/// policy that recovers streams.
fn router(accounts: Vec<ProviderAccount>) -> Router {
    let mut model = LogicalModel::new("m").capabilities(Capabilities::STREAMING);
    let mut builder = Router::builder();
    for account in accounts {
        model = model.target(Target::new(account.name(), "x").price(price()));
        builder = builder.account(account.budget(Budget::monthly_usd(100.0)));
    }
    builder
        .model(model)
        .policy(
            Policy::new("default")
                .route(["m"])
                .stream_recovery(StreamRecovery::Continue),
        )
        .build()
        .unwrap()
}

fn sims(accounts: &[(&str, &SimProvider)]) -> Router {
    router(
        accounts
            .iter()
            .map(|(name, sim)| ProviderAccount::new(*name, (*sim).clone()))
            .collect(),
    )
}

/// The text a routed stream delivered, and how it ended.
async fn run(router: &Router, request: ChatRequest) -> (String, Result<ChatResponse, Error>) {
    let mut stream = router
        .stream(StepType::Inference, Purpose::Chat, request)
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::TextDelta { text: delta }) => text.push_str(&delta),
            Ok(StreamEvent::Done(response)) => return (text, Ok(*response)),
            Ok(other) => panic!("unexpected event {other:?}"),
            Err(error) => return (text, Err(error)),
        }
    }
    panic!("the stream ended without its last event")
}

fn spent(router: &Router, account: &str) -> Usd {
    let accounts = router.accounts();
    let status = accounts.iter().find(|a| a.name == account).unwrap();
    status.budget.as_ref().unwrap().spent
}

#[tokio::test]
async fn a_broken_stream_continues_on_the_next_candidate_as_one_answer_with_summed_usage() {
    let primary = breaking();
    let backup = SimProvider::new()
        .reply(" fox jumps over the lazy dog")
        .usage(Usage::new(30, 7));
    let router = sims(&[("primary", &primary), ("backup", &backup)]);

    let (text, done) = run(&router, ChatRequest::user("A pangram, please.")).await;
    let done = done.unwrap();

    assert_eq!(text, ANSWER);
    assert_eq!(done.content, ANSWER);
    assert_eq!(&*done.served_by.account, "backup");
    let [recovered] = done.recoveries.as_slice() else {
        panic!("one recovery: {:?}", done.recoveries);
    };
    assert_eq!(&*recovered.interrupted.account, "primary");
    assert_eq!(&*recovered.resumed_on.account, "backup");
    assert_eq!(recovered.chars_sent, SENT.len());
    assert_eq!(recovered.repeat_dropped, 0);
    let estimated = recovered.interrupted_usage;
    assert_eq!(
        estimated.output_tokens, 4,
        "15 bytes at about four per token"
    );
    assert!(estimated.input_tokens > 0);
    let mut total = estimated;
    total.add(&Usage::new(30, 7));
    assert_eq!(done.usage, total);

    // Each attempt is settled against its own account; the response's cost is their sum.
    let (primary_cost, backup_cost) = (price().cost(&estimated), price().cost(&Usage::new(30, 7)));
    assert_eq!(spent(&router, "primary"), primary_cost);
    assert_eq!(spent(&router, "backup"), backup_cost);
    let cost = done.cost_usd.unwrap();
    assert!((cost - (primary_cost.dollars() + backup_cost.dollars())).abs() < 1e-12);

    assert!(matches!(
        &done.attempts[0].outcome,
        AttemptOutcome::Failed { error } if error.kind() == ErrorKind::ServerError
    ));
    assert!(matches!(done.attempts[1].outcome, AttemptOutcome::Success));
    let stats = router.stats();
    assert_eq!(stats.target("m", "primary").unwrap().failed, 1);
    assert_eq!(stats.target("m", "backup").unwrap().succeeded, 1);
    let policy = stats.policy("default").unwrap();
    assert_eq!((policy.succeeded, policy.fallbacks), (1, 1));
}

#[tokio::test]
async fn a_continuation_that_repeats_what_was_sent_is_cut_to_what_is_new() {
    for (continuation, dropped) in [
        (ANSWER, SENT.len()),
        (" brown fox jumps over the lazy dog", 6),
    ] {
        let backup = SimProvider::new().reply(continuation);
        let router = sims(&[("primary", &breaking()), ("backup", &backup)]);

        let (text, done) = run(&router, ChatRequest::user("A pangram, please.")).await;
        let done = done.unwrap();

        assert_eq!(text, ANSWER, "continuation {continuation:?}");
        assert_eq!(done.content, ANSWER);
        assert_eq!(done.recoveries[0].repeat_dropped, dropped);
    }
}

#[tokio::test]
async fn no_recovery_when_the_request_disables_fallbacks() {
    let backup = SimProvider::new().reply(" fox jumps over the lazy dog");
    let router = sims(&[("primary", &breaking()), ("backup", &backup)]);
    let request =
        ChatRequest::user("A pangram, please.").options(RouteOptions::new().no_fallback());

    let (text, end) = run(&router, request).await;

    assert_eq!(text, SENT);
    match end.unwrap_err() {
        Error::StreamInterrupted {
            target, attempts, ..
        } => {
            assert_eq!(&*target.account, "primary");
            assert_eq!(attempts.len(), 1);
        }
        other => panic!("expected StreamInterrupted, got {other:?}"),
    }
    assert_eq!(backup.calls(), 0);
}

#[tokio::test]
async fn a_continuation_target_that_fails_before_sending_anything_is_passed_over_silently() {
    let refusing = SimProvider::new().script([SimStep::Fail(ErrorKind::Overloaded)]);
    let third = SimProvider::new().reply(" fox jumps over the lazy dog");
    let router = sims(&[
        ("primary", &breaking()),
        ("refusing", &refusing),
        ("third", &third),
    ]);

    let (text, done) = run(&router, ChatRequest::user("A pangram, please.")).await;
    let done = done.unwrap();

    assert_eq!(text, ANSWER);
    assert_eq!(done.attempts.len(), 3);
    assert_eq!(&*done.recoveries[0].resumed_on.account, "third");
    assert_eq!(done.recoveries.len(), 1);
}

#[tokio::test]
async fn a_stream_no_candidate_can_continue_ends_interrupted_by_the_target_that_broke() {
    let refusing = SimProvider::new().always_fail();
    let router = sims(&[("primary", &breaking()), ("refusing", &refusing)]);

    let (text, end) = run(&router, ChatRequest::user("A pangram, please.")).await;

    assert_eq!(text, SENT);
    match end.unwrap_err() {
        Error::StreamInterrupted {
            target,
            error,
            attempts,
            ..
        } => {
            assert_eq!(&*target.account, "primary");
            assert_eq!(error.kind(), ErrorKind::ServerError);
            assert_eq!(attempts.len(), 2);
        }
        other => panic!("expected StreamInterrupted, got {other:?}"),
    }
    assert_eq!(router.stats().policy("default").unwrap().failed, 1);
}

/// A provider that records the conversations it is asked to continue and answers with a
/// fixed text.
#[derive(Clone)]
struct Recorder {
    prefill: bool,
    seen: Arc<Mutex<Vec<Vec<Message>>>>,
}

#[async_trait]
impl Provider for Recorder {
    fn provider_name(&self) -> &str {
        "recorder"
    }

    fn supports_assistant_prefill(&self) -> bool {
        self.prefill
    }

    async fn complete(
        &self,
        request: ProviderRequest<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        self.seen.lock().unwrap().push(request.messages().to_vec());
        Ok(ProviderResponse::text(
            " fox jumps over the lazy dog",
            Usage::new(1, 1),
        ))
    }
}

#[tokio::test]
async fn the_continuation_prefills_the_partial_answer_or_asks_to_continue_it() {
    for prefill in [false, true] {
        let recorder = Recorder {
            prefill,
            seen: Arc::default(),
        };
        let router = router(vec![
            ProviderAccount::new("primary", breaking()),
            ProviderAccount::new("recorder", recorder.clone()),
        ]);

        let (text, _) = run(&router, ChatRequest::user("A pangram, please.")).await;

        assert_eq!(text, ANSWER);
        let seen = recorder.seen.lock().unwrap();
        let texts: Vec<String> = seen[0].iter().map(Message::text).collect();
        if prefill {
            assert_eq!(texts, ["A pangram, please.", SENT]);
        } else {
            assert_eq!(texts, ["A pangram, please.", SENT, CONTINUE_PROMPT]);
        }
        assert!(matches!(seen[0][1], Message::Assistant { .. }));
    }
}
