//! SigV4 request signing, done by AWS's own `aws-sigv4` crate: this module only hands it
//! the request and the credentials and takes back the headers to add.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::credentials::AwsCredentials;
use crate::provider::{ErrorKind, ProviderError};

/// The service name Bedrock's runtime API is signed for (`signingName` in its service
/// model); the host is `bedrock-runtime.{region}.amazonaws.com`.
pub(super) const SERVICE: &str = "bedrock";

/// One header the signature adds: `authorization`, `x-amz-date`, and
/// `x-amz-security-token` for temporary credentials.
#[derive(Debug)]
pub(super) struct SignedHeader {
    pub(super) name: &'static str,
    pub(super) value: String,
    /// Whether the value is a secret (the session token), to be kept out of logs.
    pub(super) sensitive: bool,
}

/// What to sign: the request as it will be sent.
pub(super) struct Unsigned<'a> {
    pub(super) method: &'a str,
    /// The URL exactly as sent, already percent-encoded.
    pub(super) url: &'a str,
    /// Headers to sign besides `host` (taken from the URL).
    pub(super) headers: &'a [(&'a str, &'a str)],
    pub(super) body: &'a [u8],
}

/// The headers that sign `request` for `service` in `region` at `time`.
///
/// # Errors
///
/// [`ErrorKind::InvalidRequest`] when the URL has no host or cannot be signed.
pub(super) fn sign_request(
    request: &Unsigned<'_>,
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<SignedHeader>, ProviderError> {
    // The signer takes the host from the URL and would panic without one.
    let has_host = reqwest::Url::parse(request.url)
        .ok()
        .is_some_and(|url| url.host_str().is_some_and(|h| !h.is_empty()));
    if !has_host {
        return Err(invalid("the endpoint URL has no host to sign"));
    }
    let identity: Identity = Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        credentials.token().map(str::to_owned),
        None,
        "routewise",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| invalid(format!("cannot sign the request: {e}")))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| invalid(format!("cannot sign the request: {e}")))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| invalid(format!("cannot sign the request: {e}")))?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|header| SignedHeader {
            name: header.name(),
            value: header.value().to_owned(),
            sensitive: header.sensitive() || header.name() == "authorization",
        })
        .collect())
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::InvalidRequest, message)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct Suite {
        access_key_id: String,
        secret_access_key: String,
        region: String,
        service: String,
        unix_time: u64,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: String,
        session_token: Option<String>,
        authorization: String,
    }

    /// AWS's published SigV4 test suite (vendored cases, see the fixture's `_about`).
    #[test]
    fn signatures_match_the_aws_sigv4_test_suite() {
        let suite: Suite = serde_json::from_str(include_str!(
            "../../../tests/fixtures/bedrock/sigv4_test_suite.json"
        ))
        .unwrap();
        assert!(suite.cases.len() >= 10);
        let time = UNIX_EPOCH + Duration::from_secs(suite.unix_time);
        for case in &suite.cases {
            let mut keys = AwsCredentials::new(
                suite.access_key_id.as_str(),
                suite.secret_access_key.as_str(),
            );
            if let Some(token) = &case.session_token {
                keys = keys.session_token(token.as_str());
            }
            let headers: Vec<(&str, &str)> = case
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let request = Unsigned {
                method: &case.method,
                url: &case.url,
                headers: &headers,
                body: case.body.as_bytes(),
            };
            let signed = sign_request(&request, &keys, &suite.region, &suite.service, time)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let authorization = signed
                .iter()
                .find(|h| h.name == "authorization")
                .unwrap_or_else(|| panic!("{}: no authorization", case.name));
            assert_eq!(authorization.value, case.authorization, "{}", case.name);
            assert!(authorization.sensitive);
            let date = signed.iter().find(|h| h.name == "x-amz-date").unwrap();
            assert_eq!(date.value, "20150830T123600Z", "{}", case.name);
            let token = signed.iter().find(|h| h.name == "x-amz-security-token");
            assert_eq!(
                token.map(|t| t.value.as_str()),
                case.session_token.as_deref(),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn a_url_without_a_host_is_an_invalid_request_not_a_panic() {
        let request = Unsigned {
            method: "POST",
            url: "file:///model/x/converse",
            headers: &[],
            body: b"{}",
        };
        let keys = AwsCredentials::new("K", "S");
        let error = sign_request(&request, &keys, "us-east-1", SERVICE, UNIX_EPOCH).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    }
}
