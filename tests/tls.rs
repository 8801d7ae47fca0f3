//! HTTPS to a provider: the certificate is verified against the trusted roots before any
//! request goes out, on whichever path the adapter's own client sends (the direct path
//! with rustls, reqwest with `native-tls`), and HTTP/2 is negotiated through ALPN where
//! both ends offer it (the `http2` feature with rustls). A test binary of its own: the test trusts its
//! CA through `SSL_CERT_FILE`, which is process-wide.

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, Version};
use hyper_util::rt::TokioIo;
use routewise::{ErrorKind, OpenAi, ProviderAccount};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::requests::say_hi;
use support::wire_server::fixture;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

fn tls_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// An HTTPS server on loopback presenting `certificate`, offering HTTP/2 (with the `http2`
/// feature) and HTTP/1.1 through ALPN, answering every request with `answer` and recording
/// the HTTP version of each request it read.
struct HttpsServer {
    url: String,
    versions: Arc<Mutex<Vec<Version>>>,
}

impl HttpsServer {
    async fn start(certificate: &str, answer: String) -> Self {
        let certificates =
            CertificateDer::pem_file_iter(tls_fixture(&format!("{certificate}.pem")))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_file(tls_fixture(&format!("{certificate}.key"))).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .unwrap();
        config.alpn_protocols = if cfg!(feature = "http2") {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let versions = Arc::new(Mutex::new(Vec::new()));
        let seen = versions.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, seen, answer) = (acceptor.clone(), seen.clone(), answer.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    serve(TokioIo::new(tls), h2, seen, answer).await;
                });
            }
        });
        Self { url, versions }
    }

    fn versions(&self) -> Vec<Version> {
        self.versions.lock().unwrap().clone()
    }
}

/// Serves one connection: each chat completion read whole is recorded and answered.
async fn serve<Io>(io: Io, h2: bool, seen: Arc<Mutex<Vec<Version>>>, answer: String)
where
    Io: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let (seen, answer) = (seen.clone(), answer.clone());
        async move {
            let version = request.version();
            let is_chat =
                request.method() == Method::POST && request.uri().path() == "/v1/chat/completions";
            let read_whole = request.into_body().collect().await.is_ok();
            if is_chat && read_whole {
                seen.lock().unwrap().push(version);
            }
            Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(answer)))
        }
    });
    if h2 {
        #[cfg(feature = "http2")]
        let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(io, service)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await;
    }
}

async fn complete(base_url: String) -> Result<String, routewise::ProviderError> {
    let account = ProviderAccount::new("tls", OpenAi::new())
        .api_key("sk-tls-secret-key")
        .base_url(base_url);
    say_hi(&OpenAi::new(), account.info(), "gpt-4o")
        .await
        .map(|response| response.content)
}

#[tokio::test]
async fn https_is_answered_when_a_trusted_root_signed_the_certificate_for_that_host_only() {
    // SAFETY: the only test in this binary, on a current-thread runtime, before any client
    // is built: no other thread reads the environment while it changes.
    unsafe {
        std::env::set_var("SSL_CERT_FILE", tls_fixture("ca.pem"));
    }
    let answer = fixture("openai/chat_text.json");
    let expected: serde_json::Value = serde_json::from_str(&answer).unwrap();

    let trusted = HttpsServer::start("loopback", answer.clone()).await;
    let content = complete(format!("{}/v1", trusted.url)).await.unwrap();
    assert_eq!(content, expected["choices"][0]["message"]["content"]);
    let versions = trusted.versions();
    assert_eq!(versions.len(), 1, "one request reached the server");
    // Without `http2` only HTTP/1.1 is offered; with it, the direct path (rustls) must
    // take HTTP/2, which the server offers first. With `native-tls`, reqwest's TLS
    // decides (ALPN depends on reqwest's own features).
    if !cfg!(feature = "http2") {
        assert_eq!(versions[0], Version::HTTP_11);
    } else if cfg!(not(feature = "native-tls")) {
        assert_eq!(versions[0], Version::HTTP_2, "ALPN chose HTTP/2");
    }

    let misnamed = HttpsServer::start("other", answer).await;
    let error = complete(format!("{}/v1", misnamed.url)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "the error says the certificate was refused: {error}"
    );
    assert!(
        misnamed.versions().is_empty(),
        "nothing was sent over an unverified connection"
    );
}
