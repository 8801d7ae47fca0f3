//! `routewise-gateway`: serves a routewise router over HTTP.
//!
//! ```text
//! routewise-gateway [--config routewise.toml] [--listen 127.0.0.1:4000]
//! routewise-gateway hash-key KEY
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use routewise::error_chain;
use routewise_gateway::{Gateway, GatewayConfig};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const USAGE: &str = "usage:
  routewise-gateway [--config FILE.toml] [--listen ADDR]   serve (without --config: the embedded demo on simulated providers)
  routewise-gateway hash-key KEY                          print the SHA-256 to store for a gateway key";

fn main() -> std::process::ExitCode {
    // Events only: the library's per-request spans are for trace exporters, and a log
    // layer that records them formats their fields on every request.
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                    meta.is_event() && *meta.level() <= tracing::Level::INFO
                })),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(std::env::args().skip(1).collect())) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("routewise-gateway: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Vec<String>) -> Result<(), String> {
    let mut config_path: Option<PathBuf> = None;
    let mut listen: Option<SocketAddr> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "hash-key" => {
                let key = args.next().ok_or(USAGE)?;
                println!("{}", routewise_gateway::hash_key(&key));
                return Ok(());
            }
            "--config" => config_path = Some(args.next().ok_or(USAGE)?.into()),
            "--listen" => {
                let addr = args.next().ok_or(USAGE)?;
                listen = Some(addr.parse().map_err(|e| format!("--listen {addr}: {e}"))?);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    let config = match &config_path {
        Some(path) => GatewayConfig::from_path(path).map_err(|e| error_chain(&e))?,
        None => {
            tracing::info!(
                "no --config: serving the embedded demo on simulated providers; gateway key `sk-routewise-demo`"
            );
            GatewayConfig::embedded_default()
        }
    };
    let gateway = Gateway::from_config(&config).map_err(|e| error_chain(&e))?;
    if let Err(error) = gateway.router().sync_state().await {
        tracing::warn!(%error, "could not restore budget spend from the state store");
    }
    let _watcher = config_path
        .as_ref()
        .map(|path| gateway.watch(path, Duration::from_secs(1)))
        .transpose()
        .map_err(|e| error_chain(&e))?;
    let addr = listen.unwrap_or(config.gateway.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!("routewise-gateway listening on http://{addr} (dashboard at /)");
    gateway
        .serve(listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("stopped: every request in flight finished");
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
