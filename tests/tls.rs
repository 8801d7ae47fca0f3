//! HTTPS to a provider: the certificate is verified against the trusted roots before any
//! request goes out, on whichever path the adapter's own client sends (the direct path
//! with rustls, reqwest with `native-tls`). A test binary of its own: the test trusts its
//! CA through `SSL_CERT_FILE`, which is process-wide.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use routewise::{ErrorKind, OpenAi, ProviderAccount};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::requests::say_hi;
use support::wire_server::fixture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

fn tls_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// An HTTPS server on loopback presenting `certificate`, answering every request with
/// `answer` and counting the requests it read.
struct HttpsServer {
    url: String,
    requests: Arc<AtomicUsize>,
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
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, counted, answer) =
                    (acceptor.clone(), counted.clone(), answer.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if read_request(&mut tls).await {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                            answer.len()
                        );
                        let _ = tls.write_all(reply.as_bytes()).await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one HTTP/1.1 request, head and `content-length` body; whether a whole one came.
async fn read_request(stream: &mut (impl AsyncReadExt + Unpin)) -> bool {
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        if let Some(head_end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if received.len() >= head_end + 4 + length {
                return head.starts_with("post /v1/chat/completions http/1.1");
            }
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return false,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
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
    assert_eq!(trusted.requests(), 1);

    let misnamed = HttpsServer::start("other", answer).await;
    let error = complete(format!("{}/v1", misnamed.url)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "the error says the certificate was refused: {error}"
    );
    assert_eq!(
        misnamed.requests(),
        0,
        "nothing was sent over an unverified connection"
    );
}
