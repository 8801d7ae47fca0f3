//! The HTTP adapters' clients: shared by config-built accounts of one kind (one pool, seen
//! as one connection at the upstream), warmed up before the first request, and supplied
//! by the application (its proxy sees every call; the adapter's timeouts still hold).

mod support;

use std::time::Duration;

use routewise::provider::HttpTimeouts;
use routewise::{
    Anthropic, ChatRequest, ErrorKind, Gemini, LogicalModel, OpenAi, Policy, Provider,
    ProviderAccount, ProviderError, Purpose, Router, StepType, Target,
};
use support::proxy::{CountingRelay, ForwardProxy};
use support::requests::say_hi;
use support::wire_server::{RecordingServer, Reply, fixture, refused_url};

fn openai_reply() -> Reply {
    Reply::json(200, fixture("openai/chat_text.json"))
}

fn anthropic_reply() -> Reply {
    Reply::json(200, fixture("anthropic/message_text.json"))
}

fn gemini_reply() -> Reply {
    Reply::json(200, fixture("gemini/text.json"))
}

/// What the upstream answers a warm-up `HEAD` with; its status does not matter.
fn head_reply() -> Reply {
    Reply::raw(404, "text/plain", "").unchecked()
}

#[cfg(feature = "toml")]
#[tokio::test]
async fn config_built_accounts_of_one_kind_share_one_connection_pool() {
    use routewise::config::{Format, RouterConfig};

    let server = RecordingServer::start([openai_reply(), openai_reply()]).await;
    let relay = CountingRelay::start(server.url()).await;
    let base = format!("{}/v1", relay.url());
    let config = RouterConfig::from_str_format(
        &format!(
            r#"
            [[accounts]]
            name = "first"
            provider = {{ kind = "openai" }}
            base_url = "{base}"

            [[accounts]]
            name = "second"
            provider = {{ kind = "openai" }}
            base_url = "{base}"

            [[models]]
            name = "on-first"
            targets = [{{ account = "first", model = "gpt-4o" }}]

            [[models]]
            name = "on-second"
            targets = [{{ account = "second", model = "gpt-4o" }}]

            [[policies]]
            name = "chat"
            match = {{ purposes = ["chat"] }}
            route = ["on-first"]

            [[policies]]
            name = "summaries"
            match = {{ purposes = ["summarization"] }}
            route = ["on-second"]
            "#
        ),
        Format::Toml,
    )
    .unwrap();
    let router = Router::from_config(&config).unwrap();

    for purpose in [Purpose::Chat, Purpose::Summarization] {
        router
            .complete(StepType::Inference, purpose, ChatRequest::user("hi"))
            .await
            .unwrap();
    }
    assert_eq!(server.requests().len(), 2);
    assert_eq!(
        relay.connections(),
        1,
        "the second account's call reuses the first one's connection"
    );
}

#[tokio::test]
async fn warm_up_opens_every_adapters_connection_before_the_first_request() {
    let openai = RecordingServer::start([head_reply(), openai_reply()]).await;
    let anthropic = RecordingServer::start([head_reply(), anthropic_reply()]).await;
    let gemini = RecordingServer::start([head_reply(), gemini_reply()]).await;
    let relays = [
        CountingRelay::start(openai.url()).await,
        CountingRelay::start(anthropic.url()).await,
        CountingRelay::start(gemini.url()).await,
    ];
    // Timeouts of their own, so no other test's pooled connection is reused here.
    let timeouts = HttpTimeouts::default().connect(Duration::from_millis(9_101));
    let router = Router::builder()
        .account(
            ProviderAccount::new("openai", OpenAi::new().timeouts(timeouts))
                .api_key("sk-warm-up-secret-key")
                .base_url(format!("{}/v1", relays[0].url())),
        )
        .account(
            ProviderAccount::new("anthropic", Anthropic::new().timeouts(timeouts))
                .api_key("sk-ant-warm-up-secret-key")
                .base_url(relays[1].url()),
        )
        .account(
            ProviderAccount::new("gemini", Gemini::with_timeouts(timeouts))
                .api_key("AIza-warm-up-secret-key")
                .base_url(relays[2].url()),
        )
        .model(
            LogicalModel::new("m")
                .target(Target::new("openai", "gpt-4o"))
                .target(Target::new("anthropic", "claude-sonnet-4-6"))
                .target(Target::new("gemini", "gemini-2.5-flash")),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();

    router.warm_up().await.unwrap();
    for (server, relay) in [&openai, &anthropic, &gemini].into_iter().zip(&relays) {
        assert_eq!(relay.connections(), 1);
        let head = server.single_request();
        assert_eq!(head.method, "HEAD");
        assert!(
            head.headers.get("authorization").is_none()
                && head.headers.get("x-api-key").is_none()
                && head.headers.get("x-goog-api-key").is_none(),
            "a warm-up carries no credentials: {:?}",
            head.headers
        );
    }

    router
        .complete(StepType::Inference, Purpose::Chat, ChatRequest::user("hi"))
        .await
        .unwrap();
    assert_eq!(openai.requests().len(), 2);
    assert_eq!(
        relays[0].connections(),
        1,
        "the first request went over the warmed-up connection"
    );
}

#[tokio::test]
async fn warm_up_names_each_account_it_cannot_reach() {
    let down = refused_url().await;
    let up = RecordingServer::start([head_reply()]).await;
    let router = Router::builder()
        .account(ProviderAccount::new("down", OpenAi::new()).base_url(format!("{down}/v1")))
        .account(ProviderAccount::new("up", OpenAi::new()).base_url(up.base("/v1")))
        .model(
            LogicalModel::new("m")
                .target(Target::new("down", "gpt-4o"))
                .target(Target::new("up", "gpt-4o")),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap();

    let error = router.warm_up().await.unwrap_err();
    assert_eq!(error.failures.len(), 1);
    let (account, cause) = &error.failures[0];
    assert_eq!(&**account, "down");
    assert_eq!(cause.kind(), ErrorKind::Connection);
    assert!(
        error
            .to_string()
            .starts_with("warm-up failed for account `down`: ")
    );
    assert_eq!(up.single_request().method, "HEAD");
}

#[tokio::test]
async fn a_supplied_client_sends_every_adapter_through_its_proxy() {
    let proxy = ForwardProxy::start().await;
    let client = support::proxy::client_builder()
        .proxy(reqwest::Proxy::http(proxy.url()).unwrap())
        .build()
        .unwrap();
    let openai_server = RecordingServer::start([openai_reply()]).await;
    let anthropic_server = RecordingServer::start([anthropic_reply()]).await;
    let gemini_server = RecordingServer::start([gemini_reply()]).await;
    let calls: [(Box<dyn Provider>, &RecordingServer, String, &str); 3] = [
        (
            Box::new(OpenAi::new().http_client(client.clone())),
            &openai_server,
            openai_server.base("/v1"),
            "gpt-4o",
        ),
        (
            Box::new(Anthropic::new().http_client(client.clone())),
            &anthropic_server,
            anthropic_server.url().to_owned(),
            "claude-sonnet-4-6",
        ),
        (
            Box::new(Gemini::new().http_client(client)),
            &gemini_server,
            gemini_server.url().to_owned(),
            "gemini-2.5-flash",
        ),
    ];
    for (provider, server, base, model) in &calls {
        let account = ProviderAccount::new("proxied", OpenAi::new())
            .api_key("sk-proxied-secret-key")
            .base_url(base.as_str());
        say_hi(provider.as_ref(), account.info(), model)
            .await
            .unwrap();
        let request = server.single_request();
        let through_proxy = format!("POST {}{}", server.url(), request.path_and_query());
        assert!(
            proxy.seen().contains(&through_proxy),
            "{through_proxy} not in {:?}",
            proxy.seen()
        );
    }
    assert_eq!(proxy.seen().len(), 3);
}

/// Completes through `openai` against a server that never answers, within a minute of
/// (paused) time.
async fn call_that_never_answers(openai: OpenAi) -> ProviderError {
    let server = RecordingServer::start([Reply::hang()]).await;
    let account = ProviderAccount::new("slow", OpenAi::new()).base_url(server.base("/v1"));
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        say_hi(&openai, account.info(), "gpt-4o"),
    )
    .await
    .expect("the adapter's own timeout ends the call");
    outcome.unwrap_err()
}

#[tokio::test(start_paused = true)]
async fn a_supplied_client_keeps_the_adapters_read_timeout() {
    let timeouts = HttpTimeouts::default()
        .read(Duration::from_secs(2))
        .without_total();
    let openai = OpenAi::new()
        .timeouts(timeouts)
        .http_client(support::proxy::client_builder().build().unwrap());
    let error = call_that_never_answers(openai).await;
    assert_eq!(error.kind(), ErrorKind::Timeout);
}

#[tokio::test(start_paused = true)]
async fn a_supplied_client_keeps_the_adapters_total_timeout() {
    let timeouts = HttpTimeouts::default()
        .without_read()
        .total(Duration::from_secs(3));
    let openai = OpenAi::new()
        .http_client(support::proxy::client_builder().build().unwrap())
        .timeouts(timeouts);
    let error = call_that_never_answers(openai).await;
    assert_eq!(error.kind(), ErrorKind::Timeout);
}

/// Each adapter kind against `server`: the provider, its base URL there, and a model.
fn every_adapter(server: &RecordingServer) -> [(Box<dyn Provider>, String, &'static str); 3] {
    [
        (Box::new(OpenAi::new()), server.base("/v1"), "gpt-4o"),
        (
            Box::new(Anthropic::new()),
            server.url().to_owned(),
            "claude-sonnet-4-6",
        ),
        (
            Box::new(Gemini::new()),
            server.url().to_owned(),
            "gemini-2.5-flash",
        ),
    ]
}

#[tokio::test]
async fn a_redirect_is_reported_with_its_location_and_never_followed() {
    let moved = RecordingServer::start([openai_reply(), anthropic_reply(), gemini_reply()]).await;
    let location = format!("{}/elsewhere", moved.url());
    let redirect = || Reply::raw(307, "text/plain", "").header("location", location.clone());
    let server = RecordingServer::start([redirect(), redirect(), redirect()]).await;
    for (provider, base, model) in every_adapter(&server) {
        let account = ProviderAccount::new("moved", OpenAi::new())
            .api_key("sk-redirected-secret-key")
            .base_url(base.as_str());
        let error = say_hi(provider.as_ref(), account.info(), model)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{error}");
        assert!(
            error.to_string().contains("307") && error.to_string().contains(&location),
            "the error names the redirect and where it pointed: {error}"
        );
    }
    assert_eq!(server.requests().len(), 3, "one call per adapter");
    assert!(
        moved.requests().is_empty(),
        "no request (and no credential) went to the redirect's location"
    );
}

#[tokio::test]
async fn routewise_clients_send_one_request_with_the_headers_reqwest_sent() {
    let server = RecordingServer::start([openai_reply(), anthropic_reply(), gemini_reply()]).await;
    let host = server.url().trim_start_matches("http://").to_owned();
    for (provider, base, model) in every_adapter(&server) {
        let account = ProviderAccount::new("plain", OpenAi::new())
            .api_key("sk-plain-secret-key")
            .base_url(base.as_str());
        say_hi(provider.as_ref(), account.info(), model)
            .await
            .unwrap();
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "each call reached the upstream once");
    for request in requests {
        assert_eq!(request.header("accept"), Some("*/*"), "{}", request.path);
        assert_eq!(
            request.header("host"),
            Some(host.as_str()),
            "{}",
            request.path
        );
        assert_eq!(
            request.header("content-length").map(str::parse::<usize>),
            Some(Ok(request.raw_body.len())),
            "{}",
            request.path
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_tls_handshake_that_never_completes_times_out_at_the_connect_timeout() {
    // Takes the TCP connection and never answers the TLS handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    // No read or total timeout: only the connect timeout can end the call.
    let timeouts = HttpTimeouts::default()
        .connect(Duration::from_millis(7_005))
        .without_read()
        .without_total();
    let openai = OpenAi::new().timeouts(timeouts);
    let account = ProviderAccount::new("handshake", OpenAi::new())
        .api_key("sk-handshake-secret-key")
        .base_url(format!("https://{address}/v1"));
    let started = tokio::time::Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(3_600),
        say_hi(&openai, account.info(), "gpt-4o"),
    )
    .await
    .expect("the connect timeout ends the call");
    let error = outcome.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "ended at the connect timeout, after {:?}",
        started.elapsed()
    );
    silent.abort();
}
