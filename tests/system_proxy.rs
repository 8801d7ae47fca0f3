//! routewise's own HTTP clients follow the proxy environment variables (`HTTP_PROXY` and
//! friends). A test binary of its own: the variables are process-wide.

mod support;

use routewise::{OpenAi, ProviderAccount};
use support::proxy::ForwardProxy;
use support::requests::say_hi;
use support::wire_server::{RecordingServer, Reply, fixture};

#[tokio::test]
async fn the_adapters_own_client_follows_http_proxy() {
    let proxy = ForwardProxy::start().await;
    // SAFETY: the only test in this binary, on a current-thread runtime: no other thread
    // reads the environment while it changes.
    unsafe {
        std::env::set_var("HTTP_PROXY", proxy.url());
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    let server = RecordingServer::start([Reply::json(200, fixture("openai/chat_text.json"))]).await;
    let openai = OpenAi::new();
    let account = ProviderAccount::new("proxied", OpenAi::new()).base_url(server.base("/v1"));
    say_hi(&openai, account.info(), "gpt-4o").await.unwrap();

    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        proxy.seen(),
        [format!("POST {}/v1/chat/completions", server.url())]
    );
}
