//! What the Vertex AI wire tests share: a Google token endpoint (and metadata server) on
//! loopback that verifies the adapter's signed assertions and counts the tokens it
//! issues, the test service-account key, and accounts that point at both servers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use routewise::ProviderAccount;
use routewise::provider::vertex::{GoogleCredentials, Vertex};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::wire_server::{RecordingServer, fixture};

pub const PROJECT: &str = "routewise-tests";
pub const LOCATION: &str = "us-east5";
pub const CLIENT_EMAIL: &str = "router@routewise-tests.iam.gserviceaccount.com";

/// The test service-account key file (a throwaway key, see the fixture's README).
pub fn key_file() -> String {
    fixture("vertex/service_account.json")
}

/// The key file's PEM private key, which must never show in errors or `Debug`.
pub fn private_key_pem() -> String {
    let file: Value = serde_json::from_str(&key_file()).unwrap();
    file["private_key"].as_str().unwrap().to_owned()
}

/// One request the token server received.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    /// The form fields of a POST.
    pub form: Vec<(String, String)>,
}

impl TokenRequest {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<TokenRequest>>,
    /// Scripted answers (status, JSON body) given before any token is issued again.
    scripted: Mutex<VecDeque<(u16, String)>>,
    issued: Mutex<usize>,
}

/// A token endpoint and metadata server: `POST /token` and
/// `GET /computeMetadata/v1/instance/service-accounts/default/token` issue `tok-1`,
/// `tok-2`, ... valid for an hour, unless an answer is scripted.
#[derive(Clone)]
pub struct TokenServer {
    url: String,
    shared: Arc<Shared>,
}

impl TokenServer {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, shared }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The token endpoint, `{url}/token`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }

    /// Answers the next token request with `status` and `body` instead of a token.
    pub fn script(&self, status: u16, body: Value) -> &Self {
        self.shared
            .scripted
            .lock()
            .unwrap()
            .push_back((status, body.to_string()));
        self
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many tokens it issued.
    pub fn issued(&self) -> usize {
        *self.shared.issued.lock().unwrap()
    }

    /// Credentials from the test key, with token requests sent here.
    pub fn service_account(&self) -> GoogleCredentials {
        GoogleCredentials::from_json(&key_file())
            .unwrap()
            .token_url(self.token_url())
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_urlencoded::parse(&body).into_owned().collect();
    shared.requests.lock().unwrap().push(TokenRequest {
        method,
        path: uri.path().to_owned(),
        headers,
        form,
    });
    if let Some((status, body)) = shared.scripted.lock().unwrap().pop_front() {
        return (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json")],
            body,
        )
            .into_response();
    }
    let mut issued = shared.issued.lock().unwrap();
    *issued += 1;
    let token = json!({"access_token": format!("tok-{issued}"), "expires_in": 3600, "token_type": "Bearer"});
    ([("content-type", "application/json")], token.to_string()).into_response()
}

/// Checks a service-account token request: the JWT-bearer grant, and an assertion signed
/// by the test key whose claims name its account, the token endpoint and the
/// `cloud-platform` scope.
pub fn assert_signed_grant(request: &TokenRequest, token_url: &str) {
    assert_eq!(request.method, Method::POST);
    assert_eq!(
        request.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        request.field("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    let assertion = request.field("assertion").expect("an assertion");
    let parts: Vec<&str> = assertion.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef0123456789abcdef01234567"})
    );
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], CLIENT_EMAIL);
    assert_eq!(claims["aud"], token_url);
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    let issued = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), issued + 3600);
    let pem = private_key_pem();
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).unwrap();
    let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public().as_ref());
    let signed = format!("{}.{}", parts[0], parts[1]);
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    public
        .verify(signed.as_bytes(), &signature)
        .expect("the assertion is signed by the service account's key");
}

/// A Vertex AI account on `api` whose tokens come from `tokens`' token endpoint.
pub fn account(api: &RecordingServer, tokens: &TokenServer, name: &str) -> ProviderAccount {
    account_with(api, tokens.service_account(), name)
}

/// A Vertex AI account on `api` with `credentials`.
pub fn account_with(
    api: &RecordingServer,
    credentials: GoogleCredentials,
    name: &str,
) -> ProviderAccount {
    ProviderAccount::new(name.to_owned(), Vertex::new(PROJECT, LOCATION, credentials))
        .base_url(api.url())
}

/// The path of `method` of a publisher model in the test project and location.
pub fn model_path(publisher: &str, model: &str, method: &str) -> String {
    format!(
        "/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/{publisher}/models/{model}:{method}"
    )
}
