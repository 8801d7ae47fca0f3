//! The operational endpoints, hot reload and graceful shutdown.

mod support;

use std::time::Duration;

use routewise::sim::SimProvider;
use routewise::{Capabilities, LogicalModel, Policy, ProviderAccount, Router, Target};
use routewise_gateway::{Gateway, GatewayConfig, Reloaded};
use serde_json::{Value, json};
use support::{KEY, Running, client, json_of, settings};

fn router(provider: SimProvider) -> Router {
    Router::builder()
        .account(ProviderAccount::new("sim", provider))
        .model(
            LogicalModel::new("m")
                .capabilities(Capabilities::STREAMING)
                .target(Target::new("sim", "x")),
        )
        .policy(Policy::new("default").route(["m"]))
        .build()
        .unwrap()
}

fn chat() -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn stats_accounts_and_health_report_what_the_router_counts() {
    let gateway = Running::start(router(SimProvider::new()), settings()).await;
    for _ in 0..3 {
        assert_eq!(
            gateway.post("/v1/chat/completions", &chat()).await.status(),
            200
        );
    }

    let stats = gateway.get_json("/stats").await;
    assert_eq!(stats["policies"][0]["name"], "default");
    assert_eq!(stats["policies"][0]["matched"], 3);
    assert_eq!(stats["policies"][0]["succeeded"], 3);
    assert_eq!(stats["recent_failures"], json!([]));

    let accounts = gateway.get_json("/accounts").await;
    assert_eq!(accounts[0]["name"], "sim");
    assert_eq!(accounts[0]["health"]["calls"], 3);

    let health = gateway.get_json("/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["healthy_accounts"], 1);
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_the_routers_and_the_gateways_counters() {
    let gateway = Running::start(router(SimProvider::new()), settings()).await;
    assert_eq!(
        gateway.post("/v1/chat/completions", &chat()).await.status(),
        200
    );

    let response = client()
        .get(format!("{}/metrics", gateway.url))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("routewise_gateway_requests{endpoint=\"chat_completions\",status=\"200\"}"),
        "{text}"
    );
    assert!(text.contains("routewise_requests"), "{text}");
}

#[tokio::test]
async fn explain_shows_the_plan_without_calling_a_provider() {
    let provider = SimProvider::new();
    let gateway = Running::start(router(provider.clone()), settings()).await;

    let explained = json_of(gateway.post("/explain", &chat()).await).await;

    assert_eq!(explained["explanation"]["policy"], "default");
    assert!(explained["report"].as_str().unwrap().contains("m/sim/x"));
    assert_eq!(provider.calls(), 0);
}

const CONFIG: &str = r#"
[gateway]
keys = [{ name = "test", sha256 = "SHA" }]

[[accounts]]
name = "sim"
provider = { kind = "sim" }

[[models]]
name = "m"
targets = [{ account = "sim", model = "x" }]

[[policies]]
name = "default"
route = ["m"]
"#;

fn config_text(extra: &str) -> String {
    format!(
        "{}{extra}",
        CONFIG.replace("SHA", &routewise_gateway::hash_key(KEY))
    )
}

#[tokio::test]
async fn a_changed_config_file_is_applied_and_a_broken_one_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    std::fs::write(&path, config_text("")).unwrap();
    let gateway = Gateway::from_config(&GatewayConfig::from_path(&path).unwrap()).unwrap();
    let mut watcher = gateway.watch(&path, Duration::from_millis(20)).unwrap();
    let running = Running::serve(gateway).await;

    std::fs::write(
        &path,
        config_text(
            "\n[[models]]\nname = \"added\"\ntargets = [{ account = \"sim\", model = \"y\" }]\n",
        ),
    )
    .unwrap();
    assert!(matches!(watcher.changed().await, Some(Reloaded::Applied)));
    let models = running.get_json("/v1/models").await;
    assert_eq!(models["data"][1]["id"], "added");

    std::fs::write(
        &path,
        config_text("\n[[policies]]\nname = \"broken\"\nroute = [\"nope\"]\n"),
    )
    .unwrap();
    let Some(Reloaded::Rejected(error)) = watcher.changed().await else {
        panic!("a broken file must be rejected");
    };
    assert!(format!("{:?}", error).contains("nope"), "{error:?}");
    let models = running.get_json("/v1/models").await;
    assert_eq!(
        models["data"].as_array().unwrap().len(),
        2,
        "the running config stays"
    );
}

#[tokio::test]
async fn the_embedded_default_config_serves_the_demo_key_offline() {
    let gateway = Gateway::from_config(&GatewayConfig::embedded_default()).unwrap();
    let running = Running::serve(gateway).await;

    let response = running
        .post_with(
            "/v1/chat/completions",
            &json!({"model": "echo-llm", "messages": [{"role": "user", "content": "ping"}]}),
            &[("authorization", "Bearer sk-routewise-demo")],
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        json_of(response).await["choices"][0]["message"]["content"],
        "ping"
    );
}

#[tokio::test]
async fn a_shutdown_lets_a_stream_in_flight_finish_and_settle() {
    let provider = SimProvider::new()
        .reply("a b c d e")
        .chunk_delay(Duration::from_millis(50));
    let router = router(provider);
    let mut running = Running::start(router.clone(), settings()).await;
    let mut body = chat();
    body["stream"] = json!(true);
    let response = running.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);

    let server = running.shut_down();
    let text = response.text().await.unwrap();

    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "the stream finished: {text}"
    );
    server.await.unwrap().unwrap();
    let stats = router.stats();
    assert_eq!(stats.policy("default").unwrap().succeeded, 1);
    assert_eq!(router.accounts()[0].health.calls, 1);
}

/// `GET path` with these headers: status, `www-authenticate` and body.
async fn get_with(gateway: &Running, path: &str, headers: &[(&str, &str)]) -> (u16, bool, String) {
    let mut request = client().get(format!("{}{path}", gateway.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response.headers().contains_key("www-authenticate");
    (status, challenge, response.text().await.unwrap())
}

const ADMIN: &str = "sk-admin-test";

#[tokio::test]
async fn with_an_admin_key_the_operational_endpoints_and_dashboard_need_it() {
    let gateway = Running::start(router(SimProvider::new()), settings().admin_key(ADMIN)).await;
    let bearer = format!("Bearer {ADMIN}");
    // A browser's Basic credentials: any user name, the key as the password.
    let basic = "Basic b3BzOnNrLWFkbWluLXRlc3Q="; // base64("ops:sk-admin-test")
    let client_key = format!("Bearer {KEY}");
    for path in ["/stats", "/accounts", "/metrics", "/", "/dashboard/body"] {
        let (status, challenge, body) = get_with(&gateway, path, &[]).await;
        assert_eq!((status, challenge), (401, true), "{path}: {body}");
        assert!(body.contains("admin key"), "{path}: {body}");
        let wrong = get_with(&gateway, path, &[("authorization", "Bearer sk-wrong")]).await;
        assert_eq!(wrong.0, 401, "{path}");
        let client = get_with(&gateway, path, &[("authorization", &client_key)]).await;
        assert_eq!(
            client.0, 401,
            "{path}: a client's gateway key is not the admin key"
        );
        for header in [
            ("authorization", bearer.as_str()),
            ("authorization", basic),
            ("x-api-key", ADMIN),
        ] {
            let (status, _, body) = get_with(&gateway, path, &[header]).await;
            assert_eq!(status, 200, "{path} with {}: {body}", header.0);
        }
    }

    // Load balancers probe /health without credentials: the status, no counts.
    let (status, _, body) = get_with(&gateway, "/health", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"status": "ok"})
    );
    let (_, _, body) = get_with(&gateway, "/health", &[("authorization", &bearer)]).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["healthy_accounts"],
        1
    );

    // /explain takes a client's key or the admin key; model endpoints only a client's.
    let explain = |auth: String| {
        let url = format!("{}/explain", gateway.url);
        async move {
            client()
                .post(url)
                .header("authorization", auth)
                .header("content-type", "application/json")
                .body(chat().to_string())
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(explain(bearer.clone()).await, 200);
    assert_eq!(explain(client_key.clone()).await, 200);
    assert_eq!(explain("Bearer sk-wrong".into()).await, 401);
    let as_admin = gateway
        .post_with(
            "/v1/chat/completions",
            &chat(),
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(as_admin.status(), 401);
}

#[test]
fn an_admin_key_that_is_not_a_sha256_is_refused_with_what_to_do() {
    let config = GatewayConfig::from_toml(
        "[gateway]\nadmin_sha256 = \"sk-admin-test\"\n[[accounts]]\nname = \"sim\"\nprovider = { kind = \"sim\" }\n[[models]]\nname = \"m\"\ntargets = [{ account = \"sim\", model = \"x\" }]\n[[policies]]\nname = \"default\"\nroute = [\"m\"]\n",
    )
    .unwrap();
    let error = Gateway::from_config(&config).err().expect("refused");
    let message = error.to_string();
    assert!(
        message.contains("admin_sha256") && message.contains("hash-key"),
        "{message}"
    );
}
