//! The signed assertion (RFC 7523 JWT) a service account trades for an access token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::json;

/// The OAuth scope Vertex AI needs.
pub(super) const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// How long an assertion is valid: Google accepts at most an hour.
const LIFETIME_SECS: u64 = 3600;

/// What an assertion says, apart from its key.
pub(super) struct Claims<'a> {
    /// The service account's email (`iss`).
    pub(super) issuer: &'a str,
    /// The token endpoint (`aud`).
    pub(super) audience: &'a str,
    /// The signing key's id (`kid`), if the key file names one.
    pub(super) key_id: Option<&'a str>,
    /// Seconds since the Unix epoch when it is issued (`iat`).
    pub(super) issued_at: u64,
}

/// `header.claims.signature`, signed RS256 with `key`; `None` when ring refuses to sign
/// (which it does only for keys it could not have loaded).
pub(super) fn assertion(claims: &Claims<'_>, key: &RsaKeyPair) -> Option<String> {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(id) = claims.key_id {
        header["kid"] = id.into();
    }
    let payload = json!({
        "iss": claims.issuer,
        "scope": CLOUD_PLATFORM_SCOPE,
        "aud": claims.audience,
        "iat": claims.issued_at,
        "exp": claims.issued_at + LIFETIME_SECS,
    });
    let mut signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .ok()?;
    signed.push('.');
    signed.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Some(signed)
}
