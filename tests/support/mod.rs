//! Helpers shared by the integration tests.
#![allow(dead_code, unused_imports)]

pub mod anthropic;
#[cfg(feature = "bedrock")]
pub mod bedrock;
pub mod conformance;
pub mod gemini;
pub mod openai_cases;
pub mod profiles;
pub mod proxy;
pub mod recording;
#[cfg(feature = "redis")]
pub mod redis;
pub mod requests;
pub mod telemetry;
pub mod traffic;
pub mod upstream;
pub mod venv;
#[cfg(feature = "vertex")]
pub mod vertex;
pub mod wire;
pub mod wire_server;

use routewise::sim::SimProvider;
use routewise::{Capabilities, LogicalModel, Policy, ProviderAccount, RouterBuilder, Target};
use tokio::net::TcpListener;

/// A builder with one logical model `m` whose targets are the given accounts, in order,
/// each served by its sim, and one catch-all policy `default` routing to `m`.
pub fn one_model(accounts: &[(&str, &SimProvider)]) -> RouterBuilder {
    let mut model = LogicalModel::new("m").capabilities(Capabilities::ALL);
    let mut builder = RouterBuilder::new();
    for (name, sim) in accounts {
        builder = builder.account(ProviderAccount::new(*name, (*sim).clone()));
        model = model.target(Target::new(*name, format!("{name}-model")));
    }
    builder
        .model(model)
        .policy(Policy::new("default").route(["m"]))
}

/// Serves `app` on a free loopback port for as long as the test's runtime lives;
/// returns its `http://127.0.0.1:<port>`.
pub async fn serve_loopback(app: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
