//! The admin key's guard over the operational endpoints and the dashboard, when
//! `[gateway] admin_sha256` is set.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;

use crate::error::{ApiError, Class, Wire};
use crate::routing::Live;
use crate::server::Gateway;

/// Lets a request through when no admin key is set or it carries the admin key;
/// otherwise 401, with the `www-authenticate` challenge that makes a browser ask for it.
pub(crate) async fn admin(
    State(gateway): State<Gateway>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = {
        let live = gateway.live();
        live.admin.is_none() || is_admin(&live, request.headers())
    };
    if allowed {
        return next.run(request).await;
    }
    let mut refused = ApiError::new(
        Class::Authentication,
        "this endpoint needs the gateway's admin key ([gateway] admin_sha256): send `Authorization: Bearer KEY`, `x-api-key: KEY`, or HTTP Basic credentials with the key as the password",
    )
    .code("invalid_api_key")
    .into_wire(Wire::OpenAi);
    refused.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Basic realm="routewise-gateway admin", charset="UTF-8""#),
    );
    refused
}

/// Whether an admin key is set and the request carries it.
pub(crate) fn is_admin(live: &Live, headers: &HeaderMap) -> bool {
    match (&live.admin, presented(headers)) {
        (Some(admin), Some(key)) => admin.matches(&key),
        _ => false,
    }
}

/// The key a request presents: a bearer token, `x-api-key`, or the password of HTTP
/// Basic credentials.
fn presented(headers: &HeaderMap) -> Option<String> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if let Some(value) = authorization {
        let (scheme, credentials) = value.split_once(' ')?;
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(credentials.to_owned());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials)
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let password = text.split_once(':').map_or(text.as_str(), |(_, p)| p);
            return Some(password.to_owned());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| k.trim().to_owned())
}
