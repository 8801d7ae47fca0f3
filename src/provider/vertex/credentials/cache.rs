//! The access token in use: read without a lock on every call, refreshed by one caller at
//! a time before it expires.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use reqwest::header::HeaderValue;
use tokio::time::Instant;

use super::fetch::Fetched;
use crate::provider::http;
use crate::provider::{ErrorKind, ProviderError};

/// How long before its expiry a token is refreshed, at most (Google's own libraries
/// refresh 3 min 45 s early); a token that lives shorter is refreshed halfway.
pub(super) const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A token and when to replace it.
struct Token {
    /// `Bearer <token>`, marked sensitive.
    bearer: HeaderValue,
    /// From here on, one caller refreshes while the others keep using this token.
    refresh_at: Instant,
    /// From here on, nobody uses it.
    expires_at: Instant,
}

/// The current token, and the lock that makes refreshes single-flight.
#[derive(Default)]
pub(super) struct TokenCache {
    current: ArcSwapOption<Token>,
    refreshing: tokio::sync::Mutex<()>,
}

impl TokenCache {
    /// The `Authorization` value to send: the cached token while it is fresh, else one
    /// `fetch` gets. Only one caller fetches at a time; while a token is still valid but
    /// due for refresh, the others keep using it instead of waiting.
    pub(super) async fn bearer<F, Fut>(&self, fetch: F) -> Result<HeaderValue, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, ProviderError>>,
    {
        if let Some(token) = &*self.current.load() {
            let now = Instant::now();
            if now < token.refresh_at {
                return Ok(token.bearer.clone());
            }
            if now < token.expires_at {
                return match self.refreshing.try_lock() {
                    Ok(_refreshing) => self.refresh(fetch).await,
                    Err(_) => Ok(token.bearer.clone()),
                };
            }
        }
        let _refreshing = self.refreshing.lock().await;
        // Another caller may have refreshed while this one waited.
        if let Some(token) = &*self.current.load()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.bearer.clone());
        }
        self.refresh(fetch).await
    }

    /// Fetches and stores a new token; the caller holds the refresh lock.
    async fn refresh<F, Fut>(&self, fetch: F) -> Result<HeaderValue, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, ProviderError>>,
    {
        let fetched = fetch().await?;
        let bearer = http::sensitive_value(&format!("Bearer {}", fetched.access_token))
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::MalformedResponse,
                    "the token endpoint issued a token that is not a valid header value",
                )
            })?;
        let now = Instant::now();
        let margin = REFRESH_MARGIN.min(fetched.expires_in / 2);
        self.current.store(Some(Arc::new(Token {
            bearer: bearer.clone(),
            refresh_at: now + (fetched.expires_in - margin),
            expires_at: now + fetched.expires_in,
        })));
        Ok(bearer)
    }

    /// Drops `bearer` if it is still the current token (the API refused it), so the next
    /// call fetches a new one.
    pub(super) fn forget(&self, bearer: &HeaderValue) {
        self.current.rcu(|current| match current {
            Some(token) if token.bearer == bearer => None,
            other => other.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn issue(count: &AtomicUsize, lifetime: Duration) -> Result<Fetched, ProviderError> {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Fetched {
            access_token: format!("tok-{n}"),
            expires_in: lifetime,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_reused_until_its_refresh_margin_then_replaced() {
        let cache = TokenCache::default();
        let count = AtomicUsize::new(0);
        let hour = Duration::from_secs(3600);
        let first = cache
            .bearer(|| async { issue(&count, hour) })
            .await
            .unwrap();
        assert_eq!(first, "Bearer tok-1");
        assert!(first.is_sensitive());
        tokio::time::advance(hour - REFRESH_MARGIN - Duration::from_secs(1)).await;
        let again = cache
            .bearer(|| async { issue(&count, hour) })
            .await
            .unwrap();
        assert_eq!(again, "Bearer tok-1");
        tokio::time::advance(Duration::from_secs(2)).await;
        let next = cache
            .bearer(|| async { issue(&count, hour) })
            .await
            .unwrap();
        assert_eq!(next, "Bearer tok-2");
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_is_the_callers_error_and_the_next_call_tries_again() {
        let cache = TokenCache::default();
        let refused = cache
            .bearer(|| async { Err(ProviderError::new(ErrorKind::Auth, "invalid_grant")) })
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Auth);
        let count = AtomicUsize::new(0);
        let token = cache
            .bearer(|| async { issue(&count, Duration::from_secs(60)) })
            .await
            .unwrap();
        assert_eq!(token, "Bearer tok-1");
    }

    #[tokio::test(start_paused = true)]
    async fn a_forgotten_token_is_fetched_again_but_a_newer_one_is_kept() {
        let cache = TokenCache::default();
        let count = AtomicUsize::new(0);
        let hour = Duration::from_secs(3600);
        let first = cache
            .bearer(|| async { issue(&count, hour) })
            .await
            .unwrap();
        cache.forget(&first);
        let second = cache
            .bearer(|| async { issue(&count, hour) })
            .await
            .unwrap();
        assert_eq!(second, "Bearer tok-2");
        cache.forget(&first);
        let still = cache
            .bearer(|| async { issue(&count, hour) })
            .await
            .unwrap();
        assert_eq!(still, "Bearer tok-2");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_without_a_token_share_one_fetch() {
        let cache = Arc::new(TokenCache::default());
        let count = Arc::new(AtomicUsize::new(0));
        let callers = (0..8).map(|_| {
            let (cache, count) = (cache.clone(), count.clone());
            tokio::spawn(async move {
                cache
                    .bearer(|| async {
                        tokio::task::yield_now().await;
                        issue(&count, Duration::from_secs(3600))
                    })
                    .await
                    .unwrap()
            })
        });
        for caller in futures::future::join_all(callers).await {
            assert_eq!(caller.unwrap(), "Bearer tok-1");
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }
}
