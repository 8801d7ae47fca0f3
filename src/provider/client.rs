//! The HTTP client an adapter sends through: one built by routewise and shared by every
//! adapter of the same kind and connect timeout, or one the application supplies. A client
//! routewise built sends what it can on the direct path ([`super::direct`]) and the rest
//! through reqwest; a supplied client sends everything through itself.
//!
//! Building a `reqwest::Client` loads the TLS roots, which takes tens to hundreds of
//! milliseconds. It happens when the adapter is made (so when a config-built router is
//! built), never on a request, and once per adapter kind and connect timeout among the adapters
//! alive at the time: accounts that share those also share one connection pool. When the
//! last adapter holding a client is dropped, so are the client and its connections.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, TryLockError, Weak};
use std::time::Duration;

use super::ProviderError;
use super::direct::DirectClient;
use super::http;
use super::timeouts::{CallTimer, HttpTimeouts};
use super::tls;
use crate::account::AccountInfo;

/// The clients routewise built, by adapter kind and connect timeout, held weakly: the
/// adapters own them, so dropping a router closes its connections.
static SHARED: LazyLock<Mutex<HashMap<ClientKey, Weak<Clients>>>> = LazyLock::new(Mutex::default);

/// What a shared client is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ClientKey {
    kind: &'static str,
    /// The only timeout in the client: the read and total ones are kept per call
    /// ([`CallTimer`]), so adapters that differ in those alone share a pool.
    connect: Duration,
}

/// An adapter's HTTP client, and whether routewise built it.
#[derive(Clone, Debug)]
pub(crate) struct AdapterClient {
    clients: Arc<Clients>,
    /// The application supplied the client (so the adapter's connect timeout is not in
    /// it).
    supplied: bool,
}

/// The reqwest client requests are built with, and the direct path routewise's own
/// clients send on where it applies (none for a supplied client).
#[derive(Debug)]
struct Clients {
    reqwest: reqwest::Client,
    direct: Option<DirectClient>,
}

impl AdapterClient {
    /// The client routewise keeps for adapters of `kind` (`openai`, `anthropic`, ...)
    /// with `timeouts`' connect timeout, built now if this is the first such adapter.
    pub(crate) fn shared(kind: &'static str, timeouts: &HttpTimeouts) -> Self {
        let key = ClientKey {
            kind,
            connect: timeouts.connect,
        };
        // A client alive for these settings is taken at once; waiting for the lock (while
        // another thread builds) and building happen off the async worker threads.
        let cached = match SHARED.try_lock() {
            Ok(clients) => clients.get(&key).and_then(Weak::upgrade),
            Err(TryLockError::Poisoned(poisoned)) => {
                poisoned.into_inner().get(&key).and_then(Weak::upgrade)
            }
            Err(TryLockError::WouldBlock) => None,
        };
        let clients = cached.unwrap_or_else(|| off_async_threads(|| shared_or_built(key)));
        Self {
            clients,
            supplied: false,
        }
    }

    /// A client the application built (for its proxy, CA, mTLS or middleware).
    pub(crate) fn supplied(client: reqwest::Client) -> Self {
        Self {
            clients: Arc::new(Clients {
                reqwest: client,
                direct: None,
            }),
            supplied: true,
        }
    }

    /// Whether the application supplied this client.
    pub(crate) fn is_supplied(&self) -> bool {
        self.supplied
    }

    /// The client requests are built with.
    pub(crate) fn get(&self) -> &reqwest::Client {
        &self.clients.reqwest
    }

    /// Sends `request` (built with [`AdapterClient::get`]) and returns the answer's head,
    /// whatever its status, with the body still to read; a request that cannot be built
    /// or sent is a transport error with `account`'s secrets removed.
    pub(crate) async fn execute(
        &self,
        request: reqwest::RequestBuilder,
        account: &AccountInfo,
    ) -> Result<reqwest::Response, ProviderError> {
        let request = request
            .build()
            .map_err(|e| http::transport_error(&e, account))?;
        match &self.clients.direct {
            Some(direct) if direct.takes(request.url()) => direct
                .send(request)
                .await
                .map_err(|e| http::redact_error(e, account)),
            _ => self
                .clients
                .reqwest
                .execute(request)
                .await
                .map_err(|e| http::transport_error(&e, account)),
        }
    }

    /// Opens a connection to `url`'s host, so the first call finds one in the pool: a
    /// `HEAD` request without the account's credentials, whose status does not matter.
    /// Only a transport failure (no connection, a TLS error, a timeout) is an error.
    pub(crate) async fn open_connection(
        &self,
        url: reqwest::Url,
        timeouts: &HttpTimeouts,
        account: &AccountInfo,
    ) -> Result<(), ProviderError> {
        let request = self.clients.reqwest.head(url);
        let sent = async {
            let response = self.execute(request, account).await?;
            // Reading the (empty) body hands the connection back to the pool.
            let _ = response.bytes().await;
            Ok(())
        };
        CallTimer::call(timeouts).limit(sent).await
    }

    /// Whether a shared client for `kind` and `timeouts` is alive (for tests of when
    /// clients are built and dropped).
    #[cfg(test)]
    pub(crate) fn is_built(kind: &'static str, timeouts: &HttpTimeouts) -> bool {
        let key = ClientKey {
            kind,
            connect: timeouts.connect,
        };
        SHARED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .is_some_and(|client| client.strong_count() > 0)
    }
}

/// The clients alive for `key`, else ones built now and remembered.
fn shared_or_built(key: ClientKey) -> Arc<Clients> {
    let mut clients = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(client) = clients.get(&key).and_then(Weak::upgrade) {
        return client;
    }
    clients.retain(|_, client| client.strong_count() > 0);
    let tls = tls::Settings::load();
    let built = Arc::new(Clients {
        reqwest: build(key.connect, &tls),
        direct: DirectClient::unless_proxied(key.connect, &tls),
    });
    clients.insert(key, Arc::downgrade(&built));
    built
}

/// A client of its own for something other than an adapter (a webhook), with the TLS
/// the features choose, `timeouts`' connect timeout and reqwest's read timeout.
pub(crate) fn standalone(timeouts: &HttpTimeouts) -> reqwest::Client {
    off_async_threads(|| {
        let builder = configured(timeouts.connect, &tls::Settings::load());
        match timeouts.read {
            Some(read) => builder.read_timeout(read),
            None => builder,
        }
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// An adapter's client: the TLS the features choose and the `connect` timeout, and no
/// other timer (the adapter keeps its read and total timeouts on one [`CallTimer`] per
/// call). It follows no redirect, as the direct path does not (see [`http::send`]).
fn build(connect: Duration, tls: &tls::Settings) -> reqwest::Client {
    configured(connect, tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// A builder with the TLS the features choose and the `connect` timeout. Proxies come
/// from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) and, with
/// the `system-proxy` feature, from the macOS and Windows system settings.
fn configured(connect: Duration, tls: &tls::Settings) -> reqwest::ClientBuilder {
    tls.configure(reqwest::Client::builder())
        .connect_timeout(connect)
}

/// Runs `work`, which blocks on file reads, without stalling the other tasks of a
/// multi-thread Tokio runtime when called from one of its workers; a current-thread
/// runtime (or none) runs it in place.
fn off_async_threads<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn one_client_per_kind_and_timeouts() {
        let timeouts = HttpTimeouts::default().connect(Duration::from_millis(7_001));
        assert!(!AdapterClient::is_built("openai", &timeouts));
        let first = AdapterClient::shared("openai", &timeouts);
        let second = AdapterClient::shared("openai", &timeouts);
        assert!(Arc::ptr_eq(&first.clients, &second.clients));
        assert!(!AdapterClient::is_built("anthropic", &timeouts));
        let other = timeouts.connect(Duration::from_millis(7_002));
        assert!(!AdapterClient::is_built("openai", &other));
        drop((first, second));
        assert!(
            !AdapterClient::is_built("openai", &timeouts),
            "the last adapter took its client with it"
        );
    }

    #[test]
    fn a_config_built_router_builds_its_clients_when_it_is_built() {
        let config: crate::RouterConfig = serde_json::from_value(serde_json::json!({
            "accounts": [
                { "name": "a", "provider": { "kind": "anthropic", "timeouts": { "connect": "7004ms" } } },
                { "name": "b", "provider": { "kind": "anthropic", "timeouts": { "connect": "7004ms" } } },
            ],
            "models": [{ "name": "m", "targets": [{ "account": "a", "model": "x" }, { "account": "b", "model": "x" }] }],
            "policies": [{ "name": "default", "route": ["m"] }],
        }))
        .unwrap();
        let timeouts = HttpTimeouts::default().connect(Duration::from_millis(7_004));
        assert!(!AdapterClient::is_built("anthropic", &timeouts));
        let router = crate::Router::from_config(&config).unwrap();
        assert!(AdapterClient::is_built("anthropic", &timeouts));
        drop(router);
        assert!(!AdapterClient::is_built("anthropic", &timeouts));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn building_on_a_worker_thread_does_not_panic() {
        let timeouts = HttpTimeouts::default().connect(Duration::from_millis(7_003));
        let client = AdapterClient::shared("gemini", &timeouts);
        assert!(!client.is_supplied());
    }
}
